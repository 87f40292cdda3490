#!/usr/bin/python3
"""The tutorial's Python client over TLS, for tests against our TLS server.

    /usr/bin/python3 tests/peers/tls_client.py --address localhost:PORT --ca ca.pem
        [--cert client.pem --key client.key] [--server-name NAME]

Calls SayHello with name="zzz" on a channel made with
grpc.ssl_channel_credentials and prints the reply's name. A failed call prints
`error: <CODE>: <details>` on stderr and exits 1.
"""

import sys

sys.dont_write_bytecode = True  # noqa: E402 - before importing our module

import argparse
import os

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _greeter_common as common  # noqa: E402


def read(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--server-name")
    args = parser.parse_args()
    pb2, pb2_grpc = common.load_stubs()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca), private_key=read(args.key), certificate_chain=read(args.cert)
    )
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    try:
        with grpc.secure_channel(args.address, credentials, options=options) as channel:
            stub = pb2_grpc.GreeterStub(channel)
            print(stub.SayHello(pb2.HelloRequest(name="zzz"), timeout=10).name)
    except grpc.RpcError as error:
        print("error: %s: %s" % (error.code().name, error.details()), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
