"""Python's protobuf as a filter, for the differential test of our codec.

Generates Python classes for the given .proto files with Debian's protoc
(/usr/bin/protoc 3.21, which knows proto3 `optional`) into a temporary
directory, then reads JSON lines from stdin and writes one JSON line per
request to stdout:

  {"type": "difftest.EveryField", "json": {...}, "hex": "..."}
    -> {"hex": "...", "json": {...}}

"json" is a message to build; "hex" in the reply is its
SerializeToString(deterministic=True). "hex" in the request is bytes to parse;
"json" in the reply is the parsed message. Either half may be left out; a
failure gives "encode_error" or "decode_error" instead.

The JSON form of a message is an object keyed by the .proto field names.
Fields with presence (optional, message, oneof members) appear only when set;
the others always appear. Values: 32-bit integers and enums as numbers,
64-bit integers as decimal strings, bytes as hex, floats and doubles as the
hex of their IEEE bits (big-endian) or "nan", maps as objects keyed by the
key's decimal (or "true"/"false") form.

Usage: difftest.py [-I DIR]... FILE.proto...
"""

import argparse
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile

from google.protobuf.descriptor import FieldDescriptor as FD

PROTOC = "/usr/bin/protoc"

INT64_TYPES = {FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_SINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64}


def load_modules(include_dirs, files, out_dir):
    include_dirs = [os.path.abspath(d) for d in include_dirs]
    files = [os.path.abspath(f) for f in files]
    args = [PROTOC, f"--python_out={out_dir}"]
    args += [f"-I{d}" for d in include_dirs]
    subprocess.run(args + files, check=True)
    sys.path.insert(0, out_dir)
    modules = []
    for name in files:
        rel = name
        for d in include_dirs:
            if name.startswith(d + os.sep):
                rel = os.path.relpath(name, d)
                break
        module = rel[: -len(".proto")].replace("/", ".").replace("-", "_") + "_pb2"
        modules.append(importlib.import_module(module))
    return modules


def message_classes(modules):
    classes = {}

    def walk(cls):
        classes[cls.DESCRIPTOR.full_name] = cls
        for nested in cls.DESCRIPTOR.nested_types:
            walk(getattr(cls, nested.name))

    for module in modules:
        for desc in module.DESCRIPTOR.message_types_by_name.values():
            walk(getattr(module, desc.name))
    return classes


# ---------------------------------------------------------------------------
# Values to and from the JSON form


def float_to_json(value, double):
    if value != value:
        return "nan"
    return struct.pack(">d" if double else ">f", value).hex()


def float_from_json(text, double):
    if text == "nan":
        return float("nan")
    return struct.unpack(">d" if double else ">f", bytes.fromhex(text))[0]


def scalar_to_json(field, value):
    t = field.type
    if t in INT64_TYPES:
        return str(value)
    if t == FD.TYPE_BYTES:
        return value.hex()
    if t == FD.TYPE_DOUBLE:
        return float_to_json(value, True)
    if t == FD.TYPE_FLOAT:
        return float_to_json(value, False)
    return value


def scalar_from_json(field, value):
    t = field.type
    if t in INT64_TYPES:
        return int(value)
    if t == FD.TYPE_BYTES:
        return bytes.fromhex(value)
    if t == FD.TYPE_DOUBLE:
        return float_from_json(value, True)
    if t == FD.TYPE_FLOAT:
        return float_from_json(value, False)
    return value


def key_to_json(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def key_from_json(field, text):
    if field.type == FD.TYPE_BOOL:
        return text == "true"
    if field.type == FD.TYPE_STRING:
        return text
    return int(text)


def is_map(field):
    return field.type == FD.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def has_presence(field):
    if field.label == FD.LABEL_REPEATED:
        return False
    return field.type == FD.TYPE_MESSAGE or field.containing_oneof is not None


def value_to_json(field, value):
    if field.type == FD.TYPE_MESSAGE:
        return message_to_json(value)
    return scalar_to_json(field, value)


def message_to_json(message):
    out = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {key_to_json(k): value_to_json(value_field, v) for k, v in value.items()}
        elif field.label == FD.LABEL_REPEATED:
            out[field.name] = [value_to_json(field, v) for v in value]
        elif has_presence(field):
            if message.HasField(field.name):
                out[field.name] = value_to_json(field, value)
        else:
            out[field.name] = scalar_to_json(field, value)
    return out


def message_from_json(message, data):
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in data.items():
        field = fields[name]
        if is_map(field):
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            target = getattr(message, name)
            for k, v in value.items():
                key = key_from_json(key_field, k)
                if value_field.type == FD.TYPE_MESSAGE:
                    message_from_json(target[key], v)
                else:
                    target[key] = scalar_from_json(value_field, v)
        elif field.label == FD.LABEL_REPEATED:
            target = getattr(message, name)
            for v in value:
                if field.type == FD.TYPE_MESSAGE:
                    message_from_json(target.add(), v)
                else:
                    target.append(scalar_from_json(field, v))
        elif field.type == FD.TYPE_MESSAGE:
            sub = getattr(message, name)
            sub.SetInParent()
            message_from_json(sub, value)
        else:
            setattr(message, name, scalar_from_json(field, value))
    return message


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-I", dest="include", action="append", default=[])
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    include = args.include or sorted({os.path.dirname(os.path.abspath(f)) for f in args.files})
    with tempfile.TemporaryDirectory(prefix="difftest-") as out_dir:
        classes = message_classes(load_modules(include, args.files, out_dir))
        out = sys.stdout
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            cls = classes[request["type"]]
            reply = {}
            if "json" in request:
                try:
                    message = message_from_json(cls(), request["json"])
                    reply["hex"] = message.SerializeToString(deterministic=True).hex()
                except Exception as e:  # noqa: BLE001 - reported to the test
                    reply["encode_error"] = f"{type(e).__name__}: {e}"
            if "hex" in request:
                try:
                    message = cls()
                    message.ParseFromString(bytes.fromhex(request["hex"]))
                    reply["json"] = message_to_json(message)
                except Exception as e:  # noqa: BLE001 - reported to the test
                    reply["decode_error"] = f"{type(e).__name__}: {e}"
            out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
