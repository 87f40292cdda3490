#!/usr/bin/python3
"""A Python grpcio Greeter client, for interop tests against our server.

    /usr/bin/python3 tests/peers/greeter_client.py [--address 127.0.0.1:8001]
        [--timeout SECONDS] [--ca CERT.pem] [--proto proto/hello.proto] [--compression gzip] COMMAND ...

Commands:
  tutorial                      the tutorial's client, unchanged: SayHello
                                name="zzz", print the reply's name
  hello [--name N]              SayHello; prints the reply's name
  replies [--name N] [--count C] [--interval MS]
                                LotsOfReplies; prints each reply's name
  greetings [--name N ...]      LotsOfGreetings; prints the reply's name
  bidi [--name N ...]           BidiHello; prints each reply's name
  codec                         reads a JSON list of {"type", "name"} or
                                {"type", "hex"} on stdin; prints a JSON list of
                                {"hex": SerializeToString()} or {"name": parsed}

A failed call prints `error: <CODE>: <details>` on stderr and exits 1.
"""

import sys

sys.dont_write_bytecode = True  # noqa: E402 - before importing our module

import argparse
import json
import os

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _greeter_common as common  # noqa: E402

pb2 = pb2_grpc = None
COMPRESSION = None  # --compression gzip: grpc.Compression.Gzip on the channel


def open_channel(address, ca=None):
    """An insecure channel, or with `ca` (a PEM file) a TLS one that trusts it; compressed as --compression says."""
    if ca is None:
        return grpc.insecure_channel(address, compression=COMPRESSION)
    with open(ca, "rb") as pem:
        credentials = grpc.ssl_channel_credentials(root_certificates=pem.read())
    return grpc.secure_channel(address, credentials, compression=COMPRESSION)


def tutorial(address, ca=None):
    # The tutorial's client, as it is (only the address, TLS with --ca and --compression are ours).
    with open_channel(address, ca) as channel:
        stub = pb2_grpc.GreeterStub(channel)
        response = stub.SayHello(pb2.HelloRequest(name="zzz"))
    print(response.name)


def run_call(args):
    with open_channel(args.address, args.ca) as channel:
        stub = pb2_grpc.GreeterStub(channel)
        timeout = args.timeout
        if args.command == "hello":
            print(stub.SayHello(pb2.HelloRequest(name=args.name[0] if args.name else "zzz"), timeout=timeout).name)
        elif args.command == "replies":
            request = pb2.RepliesRequest(
                name=args.name[0] if args.name else "zzz", count=args.count, interval_ms=args.interval
            )
            for reply in stub.LotsOfReplies(request, timeout=timeout):
                print(reply.name, flush=True)
        elif args.command == "greetings":
            names = args.name if args.name is not None else ["zzz"]
            print(stub.LotsOfGreetings(iter([pb2.HelloRequest(name=n) for n in names]), timeout=timeout).name)
        elif args.command == "bidi":
            names = args.name if args.name is not None else ["zzz"]
            for reply in stub.BidiHello(iter([pb2.HelloRequest(name=n) for n in names]), timeout=timeout):
                print(reply.name, flush=True)


def codec():
    results = []
    for item in json.load(sys.stdin):
        message_type = getattr(pb2, item["type"])
        if "hex" in item:
            message = message_type()
            message.ParseFromString(bytes.fromhex(item["hex"]))
            results.append({"name": message.name})
        else:
            results.append({"hex": message_type(name=item["name"]).SerializeToString().hex()})
    json.dump(results, sys.stdout, ensure_ascii=False)
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description="The Greeter client in Python grpcio, for interop tests")
    parser.add_argument("--address", default="127.0.0.1:8001")
    parser.add_argument("--timeout", type=float, default=None, help="deadline of the call, in seconds")
    parser.add_argument("--ca", default=None, help="call over TLS, trusting this PEM certificate")
    parser.add_argument("--proto", default=common.DEFAULT_PROTO)
    parser.add_argument("--compression", choices=("gzip", "identity"), default=None, help="channel compression")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tutorial")
    for name in ("hello", "greetings", "bidi"):
        commands.add_parser(name).add_argument("--name", action="append")
    replies = commands.add_parser("replies")
    replies.add_argument("--name", action="append")
    replies.add_argument("--count", type=int, default=0)
    replies.add_argument("--interval", type=int, default=0)
    commands.add_parser("codec")
    args = parser.parse_args(argv)

    global pb2, pb2_grpc, COMPRESSION
    pb2, pb2_grpc = common.load_stubs(args.proto)
    if args.compression == "gzip":
        COMPRESSION = grpc.Compression.Gzip
    common.use_utf8_stdio()
    if args.command == "codec":
        codec()
        return 0
    try:
        if args.command == "tutorial":
            tutorial(args.address, args.ca)
        else:
            run_call(args)
    except grpc.RpcError as error:
        print("error: %s: %s" % (error.code().name, error.details()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
