#!/usr/bin/python3
"""A grpcurl-like grpc.reflection client in Python grpcio, with stubs
generated from the official reflection.proto, for tests of our server.

    /usr/bin/python3 tests/peers/reflection_client.py ADDRESS v1|v1alpha SYMBOL...

On one ServerReflectionInfo stream, asks list_services, then
file_containing_symbol for each SYMBOL; prints one JSON line per answer:
{"services": [...]}, {"files": [...], "messages": [...]} (the file names
sent, the first file's messages with their nested ones as dotted names), or
{"error": [CODE, MESSAGE]}.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402

from _official_stubs import load  # noqa: E402


def message_names(prefix, messages):
    for message in messages:
        yield prefix + message.name
        yield from message_names(prefix + message.name + ".", message.nested_type)


def main(address, version, symbols):
    pb2, pb2_grpc = load("grpc/reflection/%s/reflection.proto" % version)
    requests = [pb2.ServerReflectionRequest(host="h", list_services="*")]
    requests += [pb2.ServerReflectionRequest(file_containing_symbol=s) for s in symbols]
    with grpc.insecure_channel(address) as channel:
        stub = pb2_grpc.ServerReflectionStub(channel)
        for response in stub.ServerReflectionInfo(iter(requests), timeout=10):
            kind = response.WhichOneof("message_response")
            if kind == "list_services_response":
                out = {"services": [s.name for s in response.list_services_response.service]}
            elif kind == "file_descriptor_response":
                files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                         for b in response.file_descriptor_response.file_descriptor_proto]
                out = {"files": [f.name for f in files], "messages": list(message_names("", files[0].message_type))}
            else:
                error = response.error_response
                out = {"error": [error.error_code, error.error_message]}
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
