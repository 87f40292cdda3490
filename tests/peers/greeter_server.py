#!/usr/bin/python3
"""A Python grpcio Greeter server: the tutorial's server, extended to the four
RPCs of proto/hello.proto with exactly the behaviour of server.ts
(greeterHandlers), for interop tests.

    /usr/bin/python3 tests/peers/greeter_server.py --port 0 [--host 127.0.0.1]
        [--workers 10] [--proto proto/hello.proto]

Prints exactly one line, `listening on <port>`, once serving, then serves until
SIGTERM or SIGINT. gRPC's interop cases run against test_service_server.py.
"""

import sys

sys.dont_write_bytecode = True  # noqa: E402 - before importing our module

import argparse
import os
import signal
import threading
from concurrent import futures

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _greeter_common as common  # noqa: E402

pb2 = pb2_grpc = None


class Greeter(object):
    """The default behaviour, as defaultHandlers in server.ts."""

    def SayHello(self, request, context):
        return pb2.HelloResponse(name=common.greet(request.name))

    def LotsOfReplies(self, request, context):
        count = request.count or common.DEFAULT_REPLY_COUNT
        if count > common.MAX_REPLY_COUNT:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "count must be at most %d, got %d" % (common.MAX_REPLY_COUNT, count),
            )
        if request.interval_ms > common.MAX_REPLY_INTERVAL_MS:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "interval_ms must be at most %d, got %d" % (common.MAX_REPLY_INTERVAL_MS, request.interval_ms),
            )
        ended = _ended_event(context)
        reply = pb2.HelloResponse(name=common.greet(request.name))
        for i in range(count):
            if i > 0 and request.interval_ms > 0:
                if ended.wait(request.interval_ms / 1000.0):
                    return
            yield reply

    def LotsOfGreetings(self, request_iterator, context):
        names = [request.name for request in request_iterator]
        return pb2.HelloResponse(name=common.greet(", ".join(names)))

    def BidiHello(self, request_iterator, context):
        for request in request_iterator:
            yield pb2.HelloResponse(name=common.greet(request.name))


def _ended_event(context):
    """An event set when the call ends (finished, cancelled or timed out)."""
    event = threading.Event()
    if not context.add_callback(event.set):
        event.set()
    return event


def serve(host, port, workers):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    address = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise SystemExit("error: cannot listen on " + address)
    server.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print("listening on %d" % bound, flush=True)
    while not stop.wait(3600):
        pass
    server.stop(grace=1).wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description="The Greeter server in Python grpcio, for interop tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--proto", default=common.DEFAULT_PROTO)
    args = parser.parse_args(argv)
    global pb2, pb2_grpc
    pb2, pb2_grpc = common.load_stubs(args.proto)
    common.use_utf8_stdio()
    serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
