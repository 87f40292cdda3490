#!/usr/bin/python3
"""gRPC's interop server, grpc.testing.TestService, in Python grpcio: the
server features of grpc/grpc's doc/interop-test-descriptions.md, for interop
tests against our client.

    /usr/bin/python3 tests/peers/test_service_server.py --port 0 [--host 127.0.0.1]
        [--workers 32]

Prints exactly one line, `TestService listening on <host>:<port>`, once
serving, then serves until SIGTERM or SIGINT (exit 0).

Server features:
  EmptyCall             the empty message
  UnaryCall             a payload of response_size zeros (COMPRESSABLE, the only
                        response_type; any other is INVALID_ARGUMENT); gzip when
                        response_compressed is true
  CacheableUnaryCall    the current time in ns as the payload, cache-control
  StreamingOutputCall   one response per response_parameters, each after
                        sleeping its interval_us
  StreamingInputCall    aggregated_payload_size on half-close
  FullDuplexCall        each request's response_parameters answered in order
  HalfDuplexCall        the same, but only once the client half-closes
  UnimplementedCall     not implemented: UNIMPLEMENTED (the generated default)
Every call echoes x-grpc-test-echo-initial in its headers and
x-grpc-test-echo-trailing-bin in its trailers, and a request's response_status
(code other than 0) ends the call with that code and message.

Not implemented: expect_compressed (grpcio does not tell a server whether a
request message was compressed), fill_username/fill_oauth_scope (no auth on a
plaintext server: left empty), ORCA reports, server_id/hostname.
"""

import sys

sys.dont_write_bytecode = True  # noqa: E402 - before importing our module

import argparse
import os
import signal
import threading
import time
from concurrent import futures

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _testing_stubs import load_stubs  # noqa: E402

empty_pb2, messages_pb2, test_pb2, test_pb2_grpc = load_stubs()

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"


def status_code(number):
    """The grpc.StatusCode of a numeric code (UNKNOWN when there is none)."""
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def begin(context, initial=()):
    """Sends `initial` and the echoed test metadata as headers, sets the echoed
    trailer; returns an event set when the call ends (completed, cancelled or
    past its deadline), to cut sleeps short."""
    echo_initial = list(initial)
    echo_trailing = []
    for key, value in context.invocation_metadata():
        if key == ECHO_INITIAL:
            echo_initial.append((key, value))
        elif key == ECHO_TRAILING:
            echo_trailing.append((key, value))
    if echo_initial:
        context.send_initial_metadata(echo_initial)
    if echo_trailing:
        context.set_trailing_metadata(echo_trailing)
    ended = threading.Event()
    if not context.add_callback(ended.set):
        ended.set()
    return ended


def echo_status(request, context):
    """Ends the call with the request's response_status, when it has one."""
    if request.HasField("response_status") and request.response_status.code != 0:
        context.abort(status_code(request.response_status.code), request.response_status.message)


def payload(response_type, size, context):
    """A COMPRESSABLE payload of `size` zeros."""
    if response_type != messages_pb2.COMPRESSABLE:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported response_type %d" % response_type)
    if size < 0:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "negative size %d" % size)
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


def stream_responses(request, context, ended):
    """One response per response_parameters, each after its interval_us;
    stops early when the call has ended."""
    echo_status(request, context)
    for parameters in request.response_parameters:
        if parameters.interval_us > 0 and ended.wait(parameters.interval_us / 1e6):
            return
        if parameters.HasField("compressed") and not parameters.compressed.value:
            context.disable_next_message_compression()
        yield messages_pb2.StreamingOutputCallResponse(payload=payload(request.response_type, parameters.size, context))


class TestService(test_pb2_grpc.TestServiceServicer):
    """Everything but UnimplementedCall, which keeps the generated UNIMPLEMENTED."""

    def EmptyCall(self, request, context):
        begin(context)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        begin(context)
        echo_status(request, context)
        if request.response_compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        return messages_pb2.SimpleResponse(payload=payload(request.response_type, request.response_size, context))

    def CacheableUnaryCall(self, request, context):
        begin(context, initial=(("cache-control", "max-age=60"),))
        body = str(time.time_ns()).encode()
        return messages_pb2.SimpleResponse(payload=messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=body))

    def StreamingOutputCall(self, request, context):
        ended = begin(context)
        # Compress the stream when any response asks for it; the others opt out one by one.
        if any(p.compressed.value for p in request.response_parameters):
            context.set_compression(grpc.Compression.Gzip)
        return stream_responses(request, context, ended)

    def StreamingInputCall(self, request_iterator, context):
        begin(context)
        size = sum(len(request.payload.body) for request in request_iterator)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=size)

    def FullDuplexCall(self, request_iterator, context):
        ended = begin(context)
        for request in request_iterator:
            yield from stream_responses(request, context, ended)

    def HalfDuplexCall(self, request_iterator, context):
        ended = begin(context)
        requests = list(request_iterator)  # everything, until the client half-closes
        for request in requests:
            yield from stream_responses(request, context, ended)


def serve(host, port, workers):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    test_pb2_grpc.add_TestServiceServicer_to_server(TestService(), server)
    address = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise SystemExit("error: cannot listen on " + address)
    server.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    shown = "[%s]" % host if ":" in host else host
    print("TestService listening on %s:%d" % (shown, bound), flush=True)
    while not stop.wait(3600):
        pass
    server.stop(grace=1).wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description="grpc.testing.TestService in Python grpcio, for interop tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 for any free port")
    parser.add_argument("--workers", type=int, default=32, help="threads: one per call in progress")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
