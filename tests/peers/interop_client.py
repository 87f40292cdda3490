#!/usr/bin/python3
"""gRPC's interop client in Python grpcio: the cases of grpc/grpc's
doc/interop-test-descriptions.md that apply to a plaintext
grpc.testing.TestService server, for interop tests against our server.

    /usr/bin/python3 tests/peers/interop_client.py --host 127.0.0.1 --port P
        [--cases empty_unary,large_unary,...]

(--server_host, --server_port and --test_case are accepted too.) Prints
`PASS <case>` or `FAIL <case>: <reason>` per case, in order, then
`interop: N passed, M failed`; exits 1 when a case failed, 2 on bad flags.
Every call has a deadline, so a broken server cannot hang a case.

Not run: the auth, compression, ORCA and RPC-behavior cases. In particular
client_compressed_unary and server_compressed_unary need to see the
compressed flag of a message, which grpcio does not expose (nor grpc-encoding).
"""

import sys

sys.dont_write_bytecode = True  # noqa: E402 - before importing our module

import argparse
import os
import queue
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _testing_stubs import load_stubs  # noqa: E402

empty_pb2, messages_pb2, test_pb2, test_pb2_grpc = load_stubs()

TIMEOUT = 10  # seconds, for every call unless the case says otherwise
REQUEST_SIZES = [27182, 8, 1828, 45904]
RESPONSE_SIZES = [31415, 9, 2653, 58979]
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
ECHO_INITIAL = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
ECHO_TRAILING = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")


class CaseFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CaseFailed(message)


def zeros(size):
    return messages_pb2.Payload(body=bytes(size))


def check_payload(payload, size, what="response"):
    check(len(payload.body) == size, "%s payload is %d bytes, expected %d" % (what, len(payload.body), size))
    check(payload.body == bytes(size), "%s payload is not all zeros" % what)
    check(payload.type == messages_pb2.COMPRESSABLE, "%s payload type %d" % (what, payload.type))


def streaming_request(response_size=None, request_size=None, status=None):
    """A StreamingOutputCallRequest: one response of response_size, a payload of request_size zeros."""
    request = messages_pb2.StreamingOutputCallRequest()
    if response_size is not None:
        request.response_parameters.add(size=response_size)
    if request_size is not None:
        request.payload.CopyFrom(zeros(request_size))
    if status is not None:
        request.response_status.CopyFrom(status)
    return request


def expect_error(call, code, details=None):
    """Runs `call`; it must fail with `code` (and `details`)."""
    try:
        call()
    except grpc.RpcError as error:
        check(error.code() == code, "expected %s, got %s: %r" % (code.name, error.code().name, error.details()))
        if details is not None:
            check(error.details() == details, "expected details %r, got %r" % (details, error.details()))
        return error
    raise CaseFailed("expected %s, the call succeeded" % code.name)


class RequestFeed(object):
    """A request stream fed one message at a time; it half-closes on close().

    `asked` is set once grpcio first asks for a request, which it does after
    starting the call: the call's headers are on their way.
    """

    def __init__(self):
        self.queue = queue.Queue()
        self.asked = threading.Event()

    def __iter__(self):
        while True:
            self.asked.set()
            item = self.queue.get()
            if item is None:
                return
            yield item

    def send(self, request):
        self.queue.put(request)

    def close(self):
        self.queue.put(None)


# ---- The cases; each gets the TestService stub and the channel ----


def case_empty_unary(stub, channel):
    response = stub.EmptyCall(empty_pb2.Empty(), timeout=TIMEOUT)
    check(isinstance(response, empty_pb2.Empty), "response is a %s" % type(response).__name__)
    check(response.SerializeToString() == b"", "response is %d bytes, not 0" % response.ByteSize())


def large_unary_request():
    return messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE, response_size=314159, payload=zeros(271828)
    )


def case_large_unary(stub, channel):
    response = stub.UnaryCall(large_unary_request(), timeout=TIMEOUT)
    check_payload(response.payload, 314159)


def case_client_streaming(stub, channel):
    requests = [messages_pb2.StreamingInputCallRequest(payload=zeros(size)) for size in REQUEST_SIZES]
    response = stub.StreamingInputCall(iter(requests), timeout=TIMEOUT)
    check(response.aggregated_payload_size == 74922, "aggregated_payload_size %d" % response.aggregated_payload_size)


def case_server_streaming(stub, channel):
    request = messages_pb2.StreamingOutputCallRequest(response_type=messages_pb2.COMPRESSABLE)
    for size in RESPONSE_SIZES:
        request.response_parameters.add(size=size)
    call = stub.StreamingOutputCall(request, timeout=TIMEOUT)
    responses = list(call)
    got = [len(response.payload.body) for response in responses]
    check(got == RESPONSE_SIZES, "response sizes %r" % got)
    for response, size in zip(responses, RESPONSE_SIZES):
        check_payload(response.payload, size)
    check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())


def case_ping_pong(stub, channel):
    feed = RequestFeed()
    call = stub.FullDuplexCall(iter(feed), timeout=TIMEOUT)
    try:
        for request_size, response_size in zip(REQUEST_SIZES, RESPONSE_SIZES):
            feed.send(streaming_request(response_size, request_size))
            response = next(call, None)
            check(response is not None, "the stream ended before the reply to the %d-byte ping" % request_size)
            check_payload(response.payload, response_size, "the reply to the %d-byte ping" % request_size)
        feed.close()
        check(next(call, None) is None, "a response after the last ping")
        check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())
    finally:
        feed.close()
        call.cancel()


def case_empty_stream(stub, channel):
    call = stub.FullDuplexCall(iter([]), timeout=TIMEOUT)
    responses = list(call)
    check(responses == [], "%d responses to no requests" % len(responses))
    check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())


def case_custom_metadata(stub, channel):
    metadata = (ECHO_INITIAL, ECHO_TRAILING)

    def check_echo(call, kind):
        initial = [tuple(m) for m in call.initial_metadata()]
        trailing = [tuple(m) for m in call.trailing_metadata()]
        check(ECHO_INITIAL in initial, "%s: no %s=%r in the headers %r" % ((kind,) + ECHO_INITIAL + (initial,)))
        check(ECHO_TRAILING in trailing, "%s: no %s=%r in the trailers %r" % ((kind,) + ECHO_TRAILING + (trailing,)))

    response, call = stub.UnaryCall.with_call(large_unary_request(), metadata=metadata, timeout=TIMEOUT)
    check_payload(response.payload, 314159, "unary")
    check_echo(call, "unary")

    call = stub.FullDuplexCall(iter([streaming_request(314159, 271828)]), metadata=metadata, timeout=TIMEOUT)
    responses = list(call)
    check(len(responses) == 1, "full duplex: %d responses" % len(responses))
    check_payload(responses[0].payload, 314159, "full duplex")
    check_echo(call, "full duplex")


def echo_status(message):
    return messages_pb2.EchoStatus(code=2, message=message)


def case_status_code_and_message(stub, channel):
    status = echo_status("test status message")
    expect_error(
        lambda: stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status), timeout=TIMEOUT),
        grpc.StatusCode.UNKNOWN,
        "test status message",
    )
    expect_error(
        lambda: list(stub.FullDuplexCall(iter([streaming_request(status=status)]), timeout=TIMEOUT)),
        grpc.StatusCode.UNKNOWN,
        "test status message",
    )


def case_special_status_message(stub, channel):
    request = messages_pb2.SimpleRequest(response_status=echo_status(SPECIAL_MESSAGE))
    expect_error(lambda: stub.UnaryCall(request, timeout=TIMEOUT), grpc.StatusCode.UNKNOWN, SPECIAL_MESSAGE)


def case_unimplemented_method(stub, channel):
    expect_error(lambda: stub.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT), grpc.StatusCode.UNIMPLEMENTED)


def case_unimplemented_service(stub, channel):
    other = test_pb2_grpc.UnimplementedServiceStub(channel)
    expect_error(lambda: other.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT), grpc.StatusCode.UNIMPLEMENTED)


def case_cancel_after_begin(stub, channel):
    feed = RequestFeed()
    future = stub.StreamingInputCall.future(iter(feed), timeout=TIMEOUT)
    try:
        feed.asked.wait(TIMEOUT)  # the call has started; no request sent
        check(future.cancel(), "cancel() returned False")
        check(future.cancelled(), "not cancelled")
        check(future.code() == grpc.StatusCode.CANCELLED, "status %s" % future.code())
    finally:
        feed.close()


def case_cancel_after_first_response(stub, channel):
    feed = RequestFeed()
    call = stub.FullDuplexCall(iter(feed), timeout=TIMEOUT)
    try:
        feed.send(streaming_request(31415, 27182))
        response = next(call, None)
        check(response is not None, "the stream ended before the first response")
        check_payload(response.payload, 31415)
        call.cancel()
        expect_error(lambda: next(call), grpc.StatusCode.CANCELLED)
        check(call.code() == grpc.StatusCode.CANCELLED, "status %s" % call.code())
    finally:
        feed.close()


def case_timeout_on_sleeping_server(stub, channel):
    feed = RequestFeed()
    started = time.monotonic()
    try:
        feed.send(streaming_request(request_size=27182))  # no response asked for, no half-close
        call = stub.FullDuplexCall(iter(feed), timeout=0.001)
        expect_error(lambda: list(call), grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        feed.close()
    check(time.monotonic() - started < 5, "the 1 ms deadline took %.1f s" % (time.monotonic() - started))


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


def one_line(text):
    return " ".join(str(text).split())


def run_cases(address, names):
    """Runs the cases on one channel; prints a line each; returns the failure count."""
    failed = 0
    with grpc.insecure_channel(address) as channel:
        stub = test_pb2_grpc.TestServiceStub(channel)
        for name in names:
            try:
                CASES[name](stub, channel)
                print("PASS " + name, flush=True)
            except CaseFailed as error:
                failed += 1
                print("FAIL %s: %s" % (name, one_line(error)), flush=True)
            except grpc.RpcError as error:
                failed += 1
                print("FAIL %s: %s: %s" % (name, error.code().name, one_line(error.details())), flush=True)
            except Exception as error:  # a bug in the case or the stubs: still one line
                failed += 1
                print("FAIL %s: %s: %s" % (name, type(error).__name__, one_line(error)), flush=True)
    print("interop: %d passed, %d failed" % (len(names) - failed, failed), flush=True)
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description="gRPC's interop cases against a grpc.testing.TestService server")
    parser.add_argument("--host", "--server_host", default="127.0.0.1")
    parser.add_argument("--port", "--server_port", type=int, required=True)
    parser.add_argument("--cases", "--test_case", default=",".join(CASES), help="comma list (default all)")
    args = parser.parse_args(argv)
    names = [name for name in args.cases.split(",") if name]
    unknown = [name for name in names if name not in CASES]
    if unknown or not names:
        parser.error("--cases must be among %s, got %r" % (", ".join(CASES), args.cases))
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8")
    host = "[%s]" % args.host if ":" in args.host else args.host
    return 1 if run_cases("%s:%d" % (host, args.port), names) else 0


if __name__ == "__main__":
    sys.exit(main())
