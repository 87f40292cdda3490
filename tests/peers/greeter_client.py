#!/usr/bin/python3
"""A Python grpcio Greeter client, for interop tests against our server.

    /usr/bin/python3 tests/peers/greeter_client.py [--address 127.0.0.1:8001]
        [--timeout SECONDS] [--ca CERT.pem] [--proto proto/hello.proto] COMMAND ...

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
  interop [--cases a,b,...]     runs interop-suite cases against an interop-mode
                                server; prints `PASS <case>` or
                                `FAIL <case>: <reason>` per case

A failed call prints `error: <CODE>: <details>` on stderr and exits 1.
"""

import sys

sys.dont_write_bytecode = True  # noqa: E402 - before importing our module

import argparse
import json
import os
import queue
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _greeter_common as common  # noqa: E402

pb2 = pb2_grpc = None


def open_channel(address, ca=None):
    """An insecure channel, or with `ca` (a PEM file) a TLS one that trusts it."""
    if ca is None:
        return grpc.insecure_channel(address)
    with open(ca, "rb") as pem:
        return grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=pem.read()))


def tutorial(address, ca=None):
    # The tutorial's client, as it is (only the address, and TLS with --ca, are ours).
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


# ---- The interop suite, client side (mirrors tools/interop.ts) ----

REQUEST_SIZES = [27182, 8, 1828, 45904]
RESPONSE_SIZES = [31415, 9, 2653, 58979]
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
ECHO_INITIAL_VALUE = "test_initial_metadata_value"
ECHO_TRAILING_VALUE = b"\xab\xab\xab"


class CaseFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CaseFailed(message)


def sizes_metadata(sizes):
    return ((common.RESPONSE_SIZES, ",".join(str(s) for s in sizes)),)


def expect_error(call, code, details=None):
    try:
        call()
    except grpc.RpcError as error:
        check(error.code() == code, "expected %s, got %s: %r" % (code.name, error.code().name, error.details()))
        if details is not None:
            check(error.details() == details, "expected details %r, got %r" % (details, error.details()))
        return error
    raise CaseFailed("expected %s, the call succeeded" % code.name)


def drain_queue(requests):
    """Yields what is put on `requests` until None: a request stream fed as replies arrive."""
    while True:
        item = requests.get()
        if item is None:
            return
        yield item


def case_empty_unary(stub, channel):
    request = pb2.HelloRequest()
    check(request.SerializeToString() == b"", "the empty request is not 0 bytes")
    reply = stub.SayHello(request, metadata=sizes_metadata([0]), timeout=10)
    check(reply.SerializeToString() == b"", "expected an empty response, got %d bytes" % reply.ByteSize())
    check(stub.SayHello(request, timeout=10).name == "我是", "an empty name is not greeted as 我是")


def case_large_unary(stub, channel):
    name = common.payload(271828)
    reply = stub.SayHello(pb2.HelloRequest(name=name), metadata=sizes_metadata([314159]), timeout=10)
    check(reply.name == common.payload(314159), "wrong %d-byte response" % len(reply.name.encode()))
    reply = stub.SayHello(pb2.HelloRequest(name=name), timeout=10)
    check(reply.name == common.greet(name), "the large greeting came back wrong")


def case_client_streaming(stub, channel):
    names = [common.payload(size) for size in REQUEST_SIZES]
    reply = stub.LotsOfGreetings(iter([pb2.HelloRequest(name=n) for n in names]), timeout=10)
    check(reply.name == common.greet(", ".join(names)), "wrong aggregate greeting (%d bytes)" % reply.ByteSize())


def case_server_streaming(stub, channel):
    replies = list(
        stub.LotsOfReplies(pb2.RepliesRequest(name="zzz", count=4), metadata=sizes_metadata(RESPONSE_SIZES), timeout=10)
    )
    got = [len(r.name.encode()) for r in replies]
    check(got == RESPONSE_SIZES, "response sizes %r" % got)
    check(all(r.name == common.payload(s) for r, s in zip(replies, RESPONSE_SIZES)), "wrong response content")
    plain = [r.name for r in stub.LotsOfReplies(pb2.RepliesRequest(name="zzz"), timeout=10)]
    check(plain == ["我是zzz"] * 3, "count 0 gave %r" % plain)


def case_ping_pong(stub, channel):
    requests = queue.Queue()


    call = stub.BidiHello(drain_queue(requests), metadata=sizes_metadata(RESPONSE_SIZES), timeout=10)
    try:
        for request_size, response_size in zip(REQUEST_SIZES, RESPONSE_SIZES):
            requests.put(pb2.HelloRequest(name=common.payload(request_size)))
            reply = next(call)
            check(reply.name == common.payload(response_size), "wrong reply to the %d-byte ping" % request_size)
        requests.put(None)
        check(next(call, None) is None, "a reply after the last ping")
        check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())
    finally:
        requests.put(None)
        call.cancel()


def case_empty_stream(stub, channel):
    call = stub.BidiHello(iter([]), timeout=10)
    check(list(call) == [], "replies to no requests")
    check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())


def case_custom_metadata(stub, channel):
    metadata = ((common.ECHO_INITIAL, ECHO_INITIAL_VALUE), (common.ECHO_TRAILING, ECHO_TRAILING_VALUE))

    def check_echo(call, kind):
        initial = dict(call.initial_metadata())
        trailing = dict(call.trailing_metadata())
        check(initial.get(common.ECHO_INITIAL) == ECHO_INITIAL_VALUE, "%s header: %r" % (kind, initial))
        check(trailing.get(common.ECHO_TRAILING) == ECHO_TRAILING_VALUE, "%s trailer: %r" % (kind, trailing))

    reply, call = stub.SayHello.with_call(pb2.HelloRequest(name="zzz"), metadata=metadata, timeout=10)
    check(reply.name == "我是zzz", "unary reply %r" % reply.name)
    check_echo(call, "unary")
    call = stub.BidiHello(iter([pb2.HelloRequest(name="zzz")]), metadata=metadata, timeout=10)
    check([r.name for r in call] == ["我是zzz"], "bidi replies")
    check_echo(call, "bidi")


def status_metadata(code, message):
    return ((common.STATUS, str(code)), (common.STATUS_MESSAGE, message.encode("utf-8")))


def case_status_code_and_message(stub, channel):
    metadata = status_metadata(2, "test status message")
    expect_error(
        lambda: stub.SayHello(pb2.HelloRequest(name="zzz"), metadata=metadata, timeout=10),
        grpc.StatusCode.UNKNOWN,
        "test status message",
    )
    expect_error(
        lambda: list(stub.BidiHello(iter([pb2.HelloRequest(name="zzz")]), metadata=metadata, timeout=10)),
        grpc.StatusCode.UNKNOWN,
        "test status message",
    )


def case_special_status_message(stub, channel):
    expect_error(
        lambda: stub.SayHello(pb2.HelloRequest(name="zzz"), metadata=status_metadata(2, SPECIAL_MESSAGE), timeout=10),
        grpc.StatusCode.UNKNOWN,
        SPECIAL_MESSAGE,
    )


def case_unimplemented_method(stub, channel):
    call = channel.unary_unary("/Greeter/UnimplementedCall")
    expect_error(lambda: call(b"", timeout=10), grpc.StatusCode.UNIMPLEMENTED)


def case_unimplemented_service(stub, channel):
    call = channel.unary_unary("/grpc.testing.UnimplementedService/UnimplementedCall")
    expect_error(lambda: call(b"", timeout=10), grpc.StatusCode.UNIMPLEMENTED)


def case_cancel_after_begin(stub, channel):
    release = threading.Event()

    def never():
        release.wait(10)
        return
        yield

    future = stub.LotsOfGreetings.future(never(), timeout=10)
    try:
        time.sleep(0.05)
        check(future.cancel(), "cancel() returned False")
        check(future.cancelled(), "not cancelled")
        check(future.code() == grpc.StatusCode.CANCELLED, "status %s" % future.code())
    finally:
        release.set()


def case_cancel_after_first_response(stub, channel):
    requests = queue.Queue()


    call = stub.BidiHello(drain_queue(requests), timeout=10)
    try:
        requests.put(pb2.HelloRequest(name=common.payload(REQUEST_SIZES[0])))
        reply = next(call)
        check(reply.name == common.greet(common.payload(REQUEST_SIZES[0])), "wrong first reply")
        call.cancel()
        expect_error(lambda: next(call), grpc.StatusCode.CANCELLED)
    finally:
        requests.put(None)


def case_timeout_on_sleeping_server(stub, channel):
    metadata = ((common.SLEEP_MS, "10000"),)
    started = time.monotonic()
    expect_error(
        lambda: list(stub.BidiHello(iter([pb2.HelloRequest(name=common.payload(27182))]), metadata=metadata, timeout=0.2)),
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )
    expect_error(
        lambda: stub.SayHello(pb2.HelloRequest(name="zzz"), metadata=metadata, timeout=0.2),
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )
    check(time.monotonic() - started < 5, "the deadline was not honoured")


CASES = {
    "empty_unary": case_empty_unary,
    "large_unary": case_large_unary,
    "client_streaming": case_client_streaming,
    "server_streaming": case_server_streaming,
    "ping_pong": case_ping_pong,
    "empty_stream": case_empty_stream,
    "custom_metadata": case_custom_metadata,
    "status_code_and_message": case_status_code_and_message,
    "special_status_message": case_special_status_message,
    "unimplemented_method": case_unimplemented_method,
    "unimplemented_service": case_unimplemented_service,
    "cancel_after_begin": case_cancel_after_begin,
    "cancel_after_first_response": case_cancel_after_first_response,
    "timeout_on_sleeping_server": case_timeout_on_sleeping_server,
}


def interop(address, cases):
    names = list(CASES) if cases in (None, "", "all") else cases.split(",")
    failed = 0
    with grpc.insecure_channel(address) as channel:
        stub = pb2_grpc.GreeterStub(channel)
        for name in names:
            case = CASES.get(name)
            try:
                if case is None:
                    raise CaseFailed("no such case")
                case(stub, channel)
                print("PASS %s" % name, flush=True)
            except Exception as error:  # one line per case, whatever went wrong
                failed += 1
                reason = str(error) if isinstance(error, CaseFailed) else "%s: %s" % (type(error).__name__, error)
                print("FAIL %s: %s" % (name, " ".join(reason.split())), flush=True)
    return 1 if failed else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="The Greeter client in Python grpcio, for interop tests")
    parser.add_argument("--address", default="127.0.0.1:8001")
    parser.add_argument("--timeout", type=float, default=None, help="deadline of the call, in seconds")
    parser.add_argument("--ca", default=None, help="call over TLS, trusting this PEM certificate")
    parser.add_argument("--proto", default=common.DEFAULT_PROTO)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tutorial")
    for name in ("hello", "greetings", "bidi"):
        commands.add_parser(name).add_argument("--name", action="append")
    replies = commands.add_parser("replies")
    replies.add_argument("--name", action="append")
    replies.add_argument("--count", type=int, default=0)
    replies.add_argument("--interval", type=int, default=0)
    commands.add_parser("codec")
    commands.add_parser("interop").add_argument("--cases", default="all")
    args = parser.parse_args(argv)

    global pb2, pb2_grpc
    pb2, pb2_grpc = common.load_stubs(args.proto)
    common.use_utf8_stdio()
    if args.command == "codec":
        codec()
        return 0
    if args.command == "interop":
        return interop(args.address, args.cases)
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
