"""Python stubs of one of gRPC's official .proto files (Debian's grpc-proto),
generated at run time into a temporary directory and imported from there.

    from _official_stubs import load
    health_pb2, health_pb2_grpc = load("grpc/health/v1/health.proto")

The file is compiled from its own folder, so the modules are top-level
(`health_pb2`) and do not collide with the installed `grpc` package; the
protobuf package in the descriptor stays the official one.
"""

import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

PROTO_ROOT = os.environ.get("GRPC_PROTO_ROOT") or "/usr/share/grpc-proto"


def load(path):
    """Generates and imports the stubs of `path` (under PROTO_ROOT): (pb2, pb2_grpc)."""
    sys.dont_write_bytecode = True
    out = tempfile.mkdtemp(prefix="official_stubs_")
    atexit.register(shutil.rmtree, out, True)
    folder, name = os.path.split(os.path.join(PROTO_ROOT, path))
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I" + folder, "--python_out=" + out,
               "--grpc_python_out=" + out, name]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("grpc_tools.protoc failed (%d): %s" % (result.returncode, result.stderr.strip()))
    sys.path.insert(0, out)
    module = name[: -len(".proto")]
    return importlib.import_module(module + "_pb2"), importlib.import_module(module + "_pb2_grpc")
