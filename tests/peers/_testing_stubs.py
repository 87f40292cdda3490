"""The Python stubs of gRPC's interop service, grpc.testing.TestService,
generated at run time from Debian's grpc-proto package (never committed).

    from _testing_stubs import load_stubs
    empty_pb2, messages_pb2, test_pb2, test_pb2_grpc = load_stubs()

The stubs are generated once into a cache directory and reused:

  GRPC_PROTO_ROOT          where grpc/testing/*.proto live
                           (default /usr/share/grpc-proto)
  GRPC_TESTING_STUBS_DIR   the cache directory (default
                           $TMPDIR/grpc_testing_stubs_<hash of the .proto files>)

protoc names the modules after the .proto paths, so they form the package
`grpc.testing`, which lives under the installed `grpc` package's name: we
add the generated directory to `grpc`'s package path so that
`import grpc.testing.test_pb2` (and the imports inside the stubs) find it.
"""

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

DEFAULT_PROTO_ROOT = "/usr/share/grpc-proto"
PROTOS = ("grpc/testing/test.proto", "grpc/testing/messages.proto", "grpc/testing/empty.proto")
MODULES = ("empty_pb2", "messages_pb2", "test_pb2", "test_pb2_grpc")


def _digest(proto_root):
    """A short hash of the .proto files and the generator, naming the cache."""
    import grpc_tools

    digest = hashlib.sha256(getattr(grpc_tools, "__file__", "").encode())
    for name in PROTOS:
        with open(os.path.join(proto_root, name), "rb") as source:
            digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()[:16]


def _generate(proto_root, out):
    """Runs grpc_tools.protoc into `out`; raises with protoc's stderr on failure."""
    os.makedirs(out)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I" + proto_root,
        "--python_out=" + out,
        "--grpc_python_out=" + out,
    ] + list(PROTOS)
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("grpc_tools.protoc failed (%d): %s" % (result.returncode, result.stderr.strip()))


def stubs_dir(proto_root=None, cache_dir=None):
    """The directory holding grpc/testing/*_pb2*.py, generated if missing."""
    proto_root = proto_root or os.environ.get("GRPC_PROTO_ROOT") or DEFAULT_PROTO_ROOT
    cache_dir = cache_dir or os.environ.get("GRPC_TESTING_STUBS_DIR")
    if not cache_dir:
        cache_dir = os.path.join(tempfile.gettempdir(), "grpc_testing_stubs_" + _digest(proto_root))
    if os.path.isfile(os.path.join(cache_dir, "grpc", "testing", "test_pb2_grpc.py")):
        return cache_dir
    # Generate next to the cache, then rename into place: a peer started at the
    # same time either wins the rename or finds the other's complete directory.
    parent = os.path.dirname(os.path.abspath(cache_dir))
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".grpc_testing_stubs_", dir=parent)
    try:
        _generate(proto_root, os.path.join(scratch, "out"))
        try:
            os.rename(os.path.join(scratch, "out"), cache_dir)
        except OSError:
            if not os.path.isfile(os.path.join(cache_dir, "grpc", "testing", "test_pb2_grpc.py")):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return cache_dir


def load_stubs(proto_root=None, cache_dir=None):
    """Imports the stubs; returns (empty_pb2, messages_pb2, test_pb2, test_pb2_grpc)."""
    sys.dont_write_bytecode = True  # keep the cache to the generated sources
    out = stubs_dir(proto_root, cache_dir)
    import grpc

    # grpc.testing is a subpackage of the real grpc: graft our directory onto
    # grpc's package path (or onto grpc.testing's, if grpcio-testing is there).
    try:
        testing = importlib.import_module("grpc.testing")
        testing.__path__.append(os.path.join(out, "grpc", "testing"))
    except ImportError:
        grpc.__path__.append(os.path.join(out, "grpc"))
    return tuple(importlib.import_module("grpc.testing." + name) for name in MODULES)
