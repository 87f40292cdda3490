#!/usr/bin/python3
"""A Python grpcio Greeter server: the tutorial's server, extended to the four
RPCs of proto/hello.proto with exactly the behaviour of server.ts
(defaultHandlers), for interop tests.

    /usr/bin/python3 tests/peers/greeter_server.py --port 0 [--host 127.0.0.1]
        [--workers 10] [--interop] [--proto proto/hello.proto]

Prints exactly one line, `listening on <port>`, once serving, then serves until
SIGTERM or SIGINT. With --interop, request metadata drives the interop-suite
behaviour (echo, response sizes, sleep, status; see _greeter_common.py).
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


class InteropPlan(object):
    """The interop-suite behaviour one call's metadata asks for."""

    def __init__(self, context):
        self.context = context
        metadata = {}
        for key, value in context.invocation_metadata():
            metadata.setdefault(key, value)
        sizes = metadata.get(common.RESPONSE_SIZES)
        self.sizes = [int(size) for size in sizes.split(",")] if sizes else None
        self.sleep_ms = int(metadata.get(common.SLEEP_MS, "0"))
        status = metadata.get(common.STATUS)
        self.status = common.status_code(grpc, int(status)) if status is not None else None
        message = metadata.get(common.STATUS_MESSAGE, b"")
        self.message = message.decode("utf-8") if isinstance(message, bytes) else message
        self.ended = _ended_event(context)
        if common.ECHO_INITIAL in metadata:
            context.send_initial_metadata(((common.ECHO_INITIAL, metadata[common.ECHO_INITIAL]),))
        if common.ECHO_TRAILING in metadata:
            context.set_trailing_metadata(((common.ECHO_TRAILING, metadata[common.ECHO_TRAILING]),))

    def before(self, index):
        """Sleeps, then fails with the status asked for; False when the call is over."""
        if self.sleep_ms > 0 and self.ended.wait(self.sleep_ms / 1000.0):
            return False
        if self.status is not None:
            self.context.abort(self.status, self.message)
        return True

    def shape(self, index, reply):
        if self.sizes is None:
            return reply
        return pb2.HelloResponse(name=common.payload(self.sizes[index % len(self.sizes)]))

    def end(self, count):
        if count == 0 and self.status is not None:
            self.context.abort(self.status, self.message)


class InteropGreeter(Greeter):
    """The default behaviour, reshaped by the request metadata."""

    def SayHello(self, request, context):
        plan = InteropPlan(context)
        reply = Greeter.SayHello(self, request, context)
        if not plan.before(0):
            return pb2.HelloResponse()
        return plan.shape(0, reply)

    def LotsOfReplies(self, request, context):
        plan = InteropPlan(context)
        return self._stream(plan, Greeter.LotsOfReplies(self, request, context))

    def LotsOfGreetings(self, request_iterator, context):
        plan = InteropPlan(context)
        reply = Greeter.LotsOfGreetings(self, request_iterator, context)
        if not plan.before(0):
            return pb2.HelloResponse()
        return plan.shape(0, reply)

    def BidiHello(self, request_iterator, context):
        plan = InteropPlan(context)
        return self._stream(plan, Greeter.BidiHello(self, request_iterator, context))

    @staticmethod
    def _stream(plan, replies):
        count = 0
        for reply in replies:
            if not plan.before(count):
                return
            yield plan.shape(count, reply)
            count += 1
        plan.end(count)


def serve(host, port, workers, interop):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    pb2_grpc.add_GreeterServicer_to_server(InteropGreeter() if interop else Greeter(), server)
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
    parser.add_argument("--interop", action="store_true", help="let request metadata drive the interop behaviour")
    parser.add_argument("--proto", default=common.DEFAULT_PROTO)
    args = parser.parse_args(argv)
    global pb2, pb2_grpc
    pb2, pb2_grpc = common.load_stubs(args.proto)
    common.use_utf8_stdio()
    serve(args.host, args.port, args.workers, args.interop)


if __name__ == "__main__":
    main()
