#!/usr/bin/python3
"""A grpc.health.v1 client in Python grpcio, with stubs generated from the
official health.proto, for tests of our health service.

    /usr/bin/python3 tests/peers/health_client.py ADDRESS WATCHED [CHECKED...]

Prints `check <name> <STATUS or CODE>` for each CHECKED service name ("-" is
""), then watches WATCHED: `watch <STATUS>` for each message, one line each,
flushed at once so the test can react, and `end <CODE>` when the stream ends.
"""

import os
import sys

sys.dont_write_bytecode = True  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

from _official_stubs import load  # noqa: E402

pb2, pb2_grpc = load("grpc/health/v1/health.proto")
STATUS = pb2.HealthCheckResponse.ServingStatus.Name


def main(address, watched, checked):
    with grpc.insecure_channel(address) as channel:
        stub = pb2_grpc.HealthStub(channel)
        for name in checked:
            service = "" if name == "-" else name
            try:
                response = stub.Check(pb2.HealthCheckRequest(service=service), timeout=10)
                print("check", name, STATUS(response.status), flush=True)
            except grpc.RpcError as error:
                print("check", name, error.code().name, flush=True)
        code = "OK"
        try:
            for response in stub.Watch(pb2.HealthCheckRequest(service=watched)):
                print("watch", STATUS(response.status), flush=True)
        except grpc.RpcError as error:
            code = error.code().name
        print("end", code, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
