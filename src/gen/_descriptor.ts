/**
 * The `google.protobuf.FileDescriptorProto` of a resolved file, serialized
 * byte for byte as `protoc --descriptor_set_out` writes it (without source
 * info). `descriptor.proto` is proto2, so a small hand-written writer encodes
 * it instead of generated code. Standard options are interpreted here; custom
 * (parenthesized) options are parsed but left out.
 *
 * @module
 */
import { GenerateError } from "./_errors.ts";
import type { EnumNode, FieldNode, MessageNode, OptionNode, ServiceNode } from "./_parser.ts";
import { jsonName, type ProtoFile } from "./_resolve.ts";

/** `FieldDescriptorProto.Type` of each scalar. */
export const SCALAR_TYPE_NUMBERS: Readonly<Record<string, number>> = {
  double: 1,
  float: 2,
  int64: 3,
  uint64: 4,
  int32: 5,
  fixed64: 6,
  fixed32: 7,
  bool: 8,
  string: 9,
  bytes: 12,
  uint32: 13,
  sfixed32: 15,
  sfixed64: 16,
  sint32: 17,
  sint64: 18,
};
const TYPE_MESSAGE = 11;
const TYPE_ENUM = 14;
const LABEL_OPTIONAL = 1;
const LABEL_REPEATED = 3;

/** A minimal protobuf writer: varints, length-delimited fields, nested messages. */
class Writer {
  readonly #bytes: number[] = [];

  #varint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.#bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#bytes.push(Number(v));
  }

  #tag(no: number, wireType: number): void {
    this.#varint(BigInt((no << 3) | wireType));
  }

  int(no: number, value: number): this {
    this.#tag(no, 0);
    this.#varint(BigInt(value));
    return this;
  }

  bool(no: number, value: boolean): this {
    return this.int(no, value ? 1 : 0);
  }

  bytes(no: number, value: Uint8Array | readonly number[]): this {
    this.#tag(no, 2);
    this.#varint(BigInt(value.length));
    for (const b of value) this.#bytes.push(b);
    return this;
  }

  string(no: number, value: string): this {
    return this.bytes(no, new TextEncoder().encode(value));
  }

  message(no: number, value: Writer): this {
    return this.bytes(no, value.#bytes);
  }

  get empty(): boolean {
    return this.#bytes.length === 0;
  }

  finish(): Uint8Array {
    return new Uint8Array(this.#bytes);
  }
}

type OptionType = "bool" | "string" | "int" | Readonly<Record<string, number>>;

const FILE_OPTIONS: Readonly<Record<string, readonly [number, OptionType]>> = {
  java_package: [1, "string"],
  java_outer_classname: [8, "string"],
  optimize_for: [9, { SPEED: 1, CODE_SIZE: 2, LITE_RUNTIME: 3 }],
  java_multiple_files: [10, "bool"],
  go_package: [11, "string"],
  cc_generic_services: [16, "bool"],
  java_generic_services: [17, "bool"],
  py_generic_services: [18, "bool"],
  java_generate_equals_and_hash: [20, "bool"],
  deprecated: [23, "bool"],
  java_string_check_utf8: [27, "bool"],
  cc_enable_arenas: [31, "bool"],
  objc_class_prefix: [36, "string"],
  csharp_namespace: [37, "string"],
  swift_prefix: [39, "string"],
  php_class_prefix: [40, "string"],
  php_namespace: [41, "string"],
  php_generic_services: [42, "bool"],
  php_metadata_namespace: [44, "string"],
  ruby_package: [45, "string"],
};
const MESSAGE_OPTIONS: Readonly<Record<string, readonly [number, OptionType]>> = {
  message_set_wire_format: [1, "bool"],
  no_standard_descriptor_accessor: [2, "bool"],
  deprecated: [3, "bool"],
};
const FIELD_OPTIONS: Readonly<Record<string, readonly [number, OptionType]>> = {
  ctype: [1, { STRING: 0, CORD: 1, STRING_PIECE: 2 }],
  packed: [2, "bool"],
  deprecated: [3, "bool"],
  lazy: [5, "bool"],
  jstype: [6, { JS_NORMAL: 0, JS_STRING: 1, JS_NUMBER: 2 }],
  unverified_lazy: [15, "bool"],
};
const ONEOF_OPTIONS: Readonly<Record<string, readonly [number, OptionType]>> = {};
const ENUM_OPTIONS: Readonly<Record<string, readonly [number, OptionType]>> = {
  allow_alias: [2, "bool"],
  deprecated: [3, "bool"],
};
const ENUM_VALUE_OPTIONS: Readonly<Record<string, readonly [number, OptionType]>> = {
  deprecated: [1, "bool"],
};
const SERVICE_OPTIONS: Readonly<Record<string, readonly [number, OptionType]>> = {
  deprecated: [33, "bool"],
};
const METHOD_OPTIONS: Readonly<Record<string, readonly [number, OptionType]>> = {
  deprecated: [33, "bool"],
  idempotency_level: [34, { IDEMPOTENCY_UNKNOWN: 0, NO_SIDE_EFFECTS: 1, IDEMPOTENT: 2 }],
};

/**
 * Checks the standard options and encodes them as an `XxxOptions` message, in
 * field number order as protoc writes them. Custom options are skipped.
 */
function encodeOptions(
  file: ProtoFile,
  options: readonly OptionNode[],
  known: Readonly<Record<string, readonly [number, OptionType]>>,
  extra: readonly (readonly [number, (w: Writer) => void])[] = [],
  skip: readonly string[] = [],
  force = false,
): Writer | undefined {
  const entries: (readonly [number, (w: Writer) => void])[] = [...extra];
  const seen = new Set<string>();
  for (const o of options) {
    if (o.custom || skip.includes(o.name)) continue;
    const err = (message: string): never => {
      throw new GenerateError(file.path, o.pos.line, o.pos.col, message);
    };
    const spec = known[o.name];
    if (!spec) err(`option '${o.name}' is not known (custom options need parentheses)`);
    if (seen.has(o.name)) err(`option '${o.name}' is set more than once`);
    seen.add(o.name);
    const [no, type] = spec!;
    const v = o.value;
    if (type === "bool") {
      if (v.kind !== "ident" || (v.value !== "true" && v.value !== "false")) {
        err(`option '${o.name}' expects true or false`);
      }
      const b = v.kind === "ident" && v.value === "true";
      entries.push([no, (w) => w.bool(no, b)]);
    } else if (type === "string") {
      if (v.kind !== "string") err(`option '${o.name}' expects a string`);
      const s = v.kind === "string" ? v.value : "";
      entries.push([no, (w) => w.string(no, s)]);
    } else if (type === "int") {
      if (v.kind !== "int") err(`option '${o.name}' expects an integer`);
      const n = v.kind === "int" ? Number(v.value) : 0;
      entries.push([no, (w) => w.int(no, n)]);
    } else {
      const n = v.kind === "ident" ? type[v.value] : undefined;
      if (n === undefined) err(`option '${o.name}' expects one of ${Object.keys(type).join(", ")}`);
      entries.push([no, (w) => w.int(no, n!)]);
    }
  }
  // protoc keeps an (empty) options message once any option, custom ones too, is set.
  if (!force && entries.length === 0 && !options.some((o) => !skip.includes(o.name))) return undefined;
  entries.sort((a, b) => a[0] - b[0]);
  const w = new Writer();
  for (const [, write] of entries) write(w);
  return w;
}

/** Checks every standard option of a file, so errors surface before anything is written. */
export function checkOptions(file: ProtoFile): void {
  fileDescriptorProto(file);
}

/**
 * The serialized `FileDescriptorProto` of a resolved file.
 *
 * @throws {GenerateError} When a standard option is unknown or has a wrong value.
 */
export function fileDescriptorProto(file: ProtoFile): Uint8Array {
  const ast = file.ast;
  const w = new Writer();
  w.string(1, file.name);
  if (ast.package) w.string(2, ast.package);
  for (const imp of ast.imports) w.string(3, imp.path);
  const scope = ast.package ? "." + ast.package : "";
  for (const m of ast.messages) w.message(4, message(file, m));
  for (const e of ast.enums) w.message(5, enumType(file, e));
  for (const s of ast.services) w.message(6, service(file, s, scope));
  const options = encodeOptions(file, ast.options, FILE_OPTIONS);
  if (options) w.message(8, options);
  ast.imports.forEach((imp, i) => {
    if (imp.kind === "public") w.int(10, i);
  });
  ast.imports.forEach((imp, i) => {
    if (imp.kind === "weak") w.int(11, i);
  });
  w.string(12, "proto3");
  return w.finish();
}

function message(file: ProtoFile, m: MessageNode): Writer {
  const w = new Writer();
  w.string(1, m.name);
  for (const f of m.fields) w.message(2, field(file, f));
  for (const n of m.messages) w.message(3, message(file, n));
  for (const e of m.enums) w.message(4, enumType(file, e));
  const extra: [number, (w: Writer) => void][] = m.mapEntry ? [[7, (o) => o.bool(7, true)]] : [];
  const options = encodeOptions(file, m.options, MESSAGE_OPTIONS, extra);
  if (options) w.message(7, options);
  for (const o of m.oneofs) {
    encodeOptions(file, o.options, ONEOF_OPTIONS);
    w.message(8, new Writer().string(1, o.name));
  }
  for (const r of m.reserved.ranges) w.message(9, new Writer().int(1, r.start).int(2, r.end + 1));
  for (const r of m.reserved.names) w.string(10, r.name);
  return w;
}

function field(file: ProtoFile, f: FieldNode): Writer {
  const w = new Writer();
  w.string(1, f.name);
  w.int(3, f.number);
  w.int(4, f.label === "repeated" ? LABEL_REPEATED : LABEL_OPTIONAL);
  const sym = file.fieldTypes.get(f);
  if (sym) {
    w.int(5, sym.kind === "enum" ? TYPE_ENUM : TYPE_MESSAGE);
    w.string(6, "." + sym.fullName);
  } else {
    w.int(5, SCALAR_TYPE_NUMBERS[f.type]!);
  }
  let json = jsonName(f.name);
  for (const o of f.options) {
    if (o.name !== "json_name") continue;
    if (o.value.kind !== "string") {
      throw new GenerateError(file.path, o.pos.line, o.pos.col, "option 'json_name' expects a string");
    }
    json = o.value.value;
  }
  const options = encodeOptions(file, f.options, FIELD_OPTIONS, [], ["json_name"]);
  if (options) w.message(8, options);
  if (f.oneofIndex !== undefined) w.int(9, f.oneofIndex);
  w.string(10, json);
  if (f.label === "optional") w.bool(17, true);
  return w;
}

function enumType(file: ProtoFile, e: EnumNode): Writer {
  const w = new Writer();
  w.string(1, e.name);
  for (const v of e.values) {
    const value = new Writer().string(1, v.name).int(2, v.number);
    const options = encodeOptions(file, v.options, ENUM_VALUE_OPTIONS);
    if (options) value.message(3, options);
    w.message(2, value);
  }
  const options = encodeOptions(file, e.options, ENUM_OPTIONS);
  if (options) w.message(3, options);
  for (const r of e.reserved.ranges) w.message(4, new Writer().int(1, r.start).int(2, r.end));
  for (const r of e.reserved.names) w.string(5, r.name);
  return w;
}

function service(file: ProtoFile, s: ServiceNode, _scope: string): Writer {
  const w = new Writer();
  w.string(1, s.name);
  for (const m of s.methods) {
    const [input, output] = file.methodTypes.get(m)!;
    const method = new Writer().string(1, m.name).string(2, "." + input.fullName).string(3, "." + output.fullName);
    const options = encodeOptions(file, m.options, METHOD_OPTIONS, [], [], m.hasBody);
    if (options) method.message(4, options);
    if (m.clientStreaming) method.bool(5, true);
    if (m.serverStreaming) method.bool(6, true);
    w.message(2, method);
  }
  const options = encodeOptions(file, s.options, SERVICE_OPTIONS);
  if (options) w.message(3, options);
  return w;
}

/** Base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
