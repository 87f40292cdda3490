"""What the Python peers share: stubs generated at start from proto/hello.proto.

The stubs are generated with grpc_tools.protoc into a temporary directory,
imported, and the directory removed: no _pb2 file is ever written to the tree.
"""

import importlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO = os.path.normpath(os.path.join(HERE, "..", "..", "proto", "hello.proto"))

DEFAULT_REPLY_COUNT = 3
MAX_REPLY_COUNT = 1_000_000
MAX_REPLY_INTERVAL_MS = 60_000



def greet(name):
    """The tutorial's greeting."""
    return "我是" + name


def load_stubs(proto=DEFAULT_PROTO):
    """Generates and imports hello_pb2 and hello_pb2_grpc; returns both."""
    import grpc_tools
    from grpc_tools import protoc

    proto = os.path.abspath(proto)
    out = tempfile.mkdtemp(prefix="greeter_stubs_")
    try:
        args = [
            "grpc_tools.protoc",
            "-I" + os.path.dirname(proto),
            "-I" + os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"),
            "--python_out=" + out,
            "--grpc_python_out=" + out,
            os.path.basename(proto),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("grpc_tools.protoc failed on " + proto)
        stem = os.path.splitext(os.path.basename(proto))[0]
        sys.path.insert(0, out)
        try:
            pb2 = importlib.import_module(stem + "_pb2")
            pb2_grpc = importlib.import_module(stem + "_pb2_grpc")
        finally:
            sys.path.remove(out)
        return pb2, pb2_grpc
    finally:
        shutil.rmtree(out, ignore_errors=True)


def use_utf8_stdio():
    """Prints UTF-8 whatever the locale."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure:
            reconfigure(encoding="utf-8")
