/**
 * A strict proto3 binary codec driven by the field tables of generated code.
 *
 * It writes what Python's `SerializeToString()` writes for the same values
 * (fields in number order, packed repeated scalars, implicit-presence defaults
 * omitted, presence honoured, map entries sorted by key as `deterministic=True`
 * does) and refuses what a lenient decoder would accept: truncated fields,
 * over-long varints, invalid UTF-8 in `string` fields, a known field with the
 * wrong wire type, field number 0, group wire types, a length past the end,
 * and nesting deeper than 100. Unknown fields are skipped, so newer peers stay
 * wire-compatible. It reads nothing from disk and needs no permission.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { FieldInfo, Init, MessageType, ScalarType as ScalarTypeT, ValueInfo } from "./schema.ts";
import { ScalarType } from "./schema.ts";

/** Thrown when bytes are not a valid encoding of the expected message. */
export class ProtobufDecodeError extends Error {
  /**
   * Creates the error.
   *
   * @param typeName The message type being decoded.
   * @param reason What is wrong, and where.
   */
  constructor(typeName: string, reason: string) {
    super(`Malformed ${typeName}: ${reason}`);
    this.name = "ProtobufDecodeError";
  }
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** How deep messages may nest, as in the reference implementations. */
const MAX_DEPTH = 100;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strings up to this many UTF-16 units are encoded and decoded in plain JavaScript, which beats the native call. */
const SHORT_STRING = 64;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function wireTypeOfScalar(type: ScalarTypeT): number {
  switch (type) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WIRE_I64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WIRE_I32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WIRE_LEN;
    default:
      return WIRE_VARINT;
  }
}

function is64Bit(type: ScalarTypeT): boolean {
  return type === ScalarType.INT64 || type === ScalarType.UINT64 || type === ScalarType.SINT64 ||
    type === ScalarType.FIXED64 || type === ScalarType.SFIXED64;
}

function scalarDefault(type: ScalarTypeT): unknown {
  switch (type) {
    case ScalarType.STRING:
      return "";
    case ScalarType.BYTES:
      return new Uint8Array(0);
    case ScalarType.BOOL:
      return false;
    default:
      return is64Bit(type) ? 0n : 0;
  }
}

// ---------------------------------------------------------------------------
// Writing

/** A growable output buffer; one is shared by every encode (they never overlap). */
class Writer {
  buf: Uint8Array = new Uint8Array(1024);
  view: DataView = new DataView(this.buf.buffer);
  pos = 0;

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  varint32(value: number): void {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    value >>>= 0;
    while (value >= 0x80) {
      buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[pos++] = value;
    this.pos = pos;
  }

  /** A 64-bit varint from its low and high 32 bits (both unsigned). */
  varint64(lo: number, hi: number): void {
    if (hi === 0) return this.varint32(lo);
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < 4; i++) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // 28 bits written; the 5th byte takes 4 bits of lo and 3 of hi.
    let byte = (lo & 0x0f) | ((hi & 0x07) << 4);
    hi >>>= 3;
    if (hi === 0) {
      buf[pos++] = byte;
      this.pos = pos;
      return;
    }
    buf[pos++] = byte | 0x80;
    while (hi >= 0x80) {
      buf[pos++] = (hi & 0x7f) | 0x80;
      hi >>>= 7;
    }
    byte = hi;
    buf[pos++] = byte;
    this.pos = pos;
  }

  /** Reserves one byte for a length; returns where the payload starts. */
  beginLength(): number {
    this.ensure(1);
    return ++this.pos;
  }

  /** Writes the length of what follows `start`, moving it when the length needs more than one byte. */
  endLength(start: number): void {
    const length = this.pos - start;
    if (length < 0x80) {
      this.buf[start - 1] = length;
      return;
    }
    const size = varintSize32(length);
    this.ensure(size - 1);
    this.buf.copyWithin(start + size - 1, start, this.pos);
    let pos = start - 1;
    let value = length;
    while (value >= 0x80) {
      this.buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buf[pos] = value;
    this.pos += size - 1;
  }

  bytes(value: Uint8Array): void {
    this.varint32(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }
}

function varintSize32(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

const writer = new Writer();

/** The low and high 32 bits of a 64-bit value, set by {@linkcode split64}. */
let splitLo = 0;
let splitHi = 0;

function split64(value: bigint): void {
  const u = BigInt.asUintN(64, value);
  splitLo = Number(u & 0xffffffffn);
  splitHi = Number(u >> 32n);
}

/** Writes a well-formed string as UTF-8, length first; false when it has a lone surrogate. */
function writeString(w: Writer, value: string): boolean {
  if (value.length > SHORT_STRING) {
    if (!value.isWellFormed()) return false;
    w.ensure(value.length * 3 + 5);
    const start = w.beginLength();
    const { written } = textEncoder.encodeInto(value, w.buf.subarray(start));
    w.pos = start + written;
    w.endLength(start);
    return true;
  }
  w.ensure(value.length * 3 + 1);
  const buf = w.buf;
  const start = ++w.pos;
  let pos = start;
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else {
      const next = c <= 0xdbff && i + 1 < value.length ? value.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return false;
      i++;
      c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
      buf[pos++] = 0xf0 | (c >> 18);
      buf[pos++] = 0x80 | ((c >> 12) & 0x3f);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    }
  }
  w.pos = pos;
  w.endLength(start);
  return true;
}

function describe(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (typeof value === "object") return Array.isArray(value) ? "an array" : "an object";
  return String(value);
}

/** Checks and converts a 64-bit value (bigint, or an integer number) to bigint. */
function toBigInt(where: string, type: ScalarTypeT, value: unknown): bigint {
  let big: bigint;
  if (typeof value === "bigint") {
    big = value;
  } else if (typeof value === "number" && Number.isSafeInteger(value)) {
    big = BigInt(value);
  } else {
    throw new TypeError(`Field '${where}' must be a bigint, got ${describe(value)}`);
  }
  const unsigned = type === ScalarType.UINT64 || type === ScalarType.FIXED64;
  if (unsigned ? big < 0n || big > UINT64_MAX : big < INT64_MIN || big > INT64_MAX) {
    const range = unsigned ? `0 to ${UINT64_MAX}` : `${INT64_MIN} to ${INT64_MAX}`;
    throw new RangeError(`Field '${where}' must be an integer from ${range}, got ${describe(value)}`);
  }
  return big;
}

function checkInt32(where: string, value: unknown, signed: boolean): number {
  const min = signed ? -0x80000000 : 0;
  const max = signed ? 0x7fffffff : 0xffffffff;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    if (typeof value !== "number") throw new TypeError(`Field '${where}' must be a number, got ${describe(value)}`);
    throw new RangeError(`Field '${where}' must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** Whether a scalar is its proto3 default, and so is not written without presence. */
function isDefault(type: ScalarTypeT, value: unknown): boolean {
  switch (type) {
    case ScalarType.STRING:
      return value === "";
    case ScalarType.BYTES:
      return value instanceof Uint8Array && value.length === 0;
    case ScalarType.BOOL:
      return value === false;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      // -0 has bits set, and is written, as protobuf's C and C++ runtimes do.
      return Object.is(value, 0);
    default:
      return value === 0 || value === 0n;
  }
}

/** Writes a scalar's payload (no tag); `where` names the field in errors. */
function writeScalar(w: Writer, where: string, type: ScalarTypeT, value: unknown): void {
  switch (type) {
    case ScalarType.STRING:
      if (typeof value !== "string") throw new TypeError(`Field '${where}' must be a string, got ${describe(value)}`);
      if (!writeString(w, value)) {
        throw new TypeError(`Field '${where}' contains a lone surrogate, which has no UTF-8 encoding`);
      }
      return;
    case ScalarType.BYTES:
      if (!(value instanceof Uint8Array)) {
        throw new TypeError(`Field '${where}' must be a Uint8Array, got ${describe(value)}`);
      }
      return w.bytes(value);
    case ScalarType.BOOL:
      if (typeof value !== "boolean") throw new TypeError(`Field '${where}' must be a boolean, got ${describe(value)}`);
      w.ensure(1);
      w.buf[w.pos++] = value ? 1 : 0;
      return;
    case ScalarType.INT32: {
      const v = checkInt32(where, value, true);
      // A negative int32 is sign-extended to 64 bits: ten bytes on the wire.
      return v < 0 ? w.varint64(v >>> 0, 0xffffffff) : w.varint32(v);
    }
    case ScalarType.UINT32:
      return w.varint32(checkInt32(where, value, false));
    case ScalarType.SINT32: {
      const v = checkInt32(where, value, true);
      return w.varint32(((v << 1) ^ (v >> 31)) >>> 0);
    }
    case ScalarType.FIXED32:
      w.ensure(4);
      w.view.setUint32(w.pos, checkInt32(where, value, false), true);
      w.pos += 4;
      return;
    case ScalarType.SFIXED32:
      w.ensure(4);
      w.view.setInt32(w.pos, checkInt32(where, value, true), true);
      w.pos += 4;
      return;
    case ScalarType.FLOAT:
    case ScalarType.DOUBLE: {
      if (typeof value !== "number") throw new TypeError(`Field '${where}' must be a number, got ${describe(value)}`);
      const size = type === ScalarType.FLOAT ? 4 : 8;
      w.ensure(size);
      if (size === 4) w.view.setFloat32(w.pos, value, true);
      else w.view.setFloat64(w.pos, value, true);
      w.pos += size;
      return;
    }
    case ScalarType.INT64:
    case ScalarType.UINT64:
      split64(toBigInt(where, type, value));
      return w.varint64(splitLo, splitHi);
    case ScalarType.SINT64: {
      const v = toBigInt(where, type, value);
      split64((v << 1n) ^ (v >> 63n));
      return w.varint64(splitLo, splitHi);
    }
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      split64(toBigInt(where, type, value));
      w.ensure(8);
      w.view.setUint32(w.pos, splitLo, true);
      w.view.setUint32(w.pos + 4, splitHi, true);
      w.pos += 8;
      return;
    default:
      throw new TypeError(`Field '${where}' has unknown scalar type ${type}`);
  }
}

// ---------------------------------------------------------------------------
// Reading

/** The state of one decode: the bytes and a cursor. */
class Reader {
  pos: number;
  /** The low and high 32 bits of the last varint read (unsigned). */
  lo = 0;
  hi = 0;

  constructor(readonly buf: Uint8Array, public typeName: string, pos: number, public end: number) {
    this.pos = pos;
  }

  fail(reason: string): never {
    throw new ProtobufDecodeError(this.typeName, reason);
  }

  /** Reads a varint into lo/hi. */
  varint(what: string): void {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (pos >= end) this.fail(`${what} is cut off at byte ${pos}`);
      const b = buf[pos++]!;
      if (shift < 28) {
        lo |= (b & 0x7f) << shift;
      } else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else {
        hi |= (b & 0x7f) << (shift - 32);
      }
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    this.fail(`${what} is longer than 10 bytes at byte ${pos}`);
  }

  /** A length-delimited payload's end, checked against the bytes left. */
  lengthEnd(label: string): number {
    this.varint(`the length of ${label}`);
    const remaining = this.end - this.pos;
    const length = this.hi === 0 ? this.lo : Infinity;
    if (length > remaining) {
      this.fail(`${label} declares ${this.hi === 0 ? length : "more than 2^32"} bytes but ${remaining} remain`);
    }
    return this.pos + length;
  }

  need(width: number, label: string): void {
    if (this.end - this.pos < width) this.fail(`${label} needs ${width} bytes but ${this.end - this.pos} remain`);
  }
}

function joinBig(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reads one scalar whose wire type has been checked. */
function readScalar(r: Reader, type: ScalarTypeT, label: string): unknown {
  switch (type) {
    case ScalarType.STRING: {
      const end = r.lengthEnd(label);
      const start = r.pos;
      r.pos = end;
      return decodeUtf8(r, start, end, label);
    }
    case ScalarType.BYTES: {
      const end = r.lengthEnd(label);
      // A copy, as a plain Uint8Array: the input may be a reused transport buffer.
      const value = new Uint8Array(r.buf.subarray(r.pos, end));
      r.pos = end;
      return value;
    }
    case ScalarType.BOOL:
      r.varint(`the value of ${label}`);
      return r.lo !== 0 || r.hi !== 0;
    case ScalarType.INT32:
      r.varint(`the value of ${label}`);
      return r.lo | 0;
    case ScalarType.UINT32:
      r.varint(`the value of ${label}`);
      return r.lo;
    case ScalarType.SINT32:
      r.varint(`the value of ${label}`);
      return (r.lo >>> 1) ^ -(r.lo & 1);
    case ScalarType.INT64:
      r.varint(`the value of ${label}`);
      return BigInt.asIntN(64, joinBig(r.lo, r.hi));
    case ScalarType.UINT64:
      r.varint(`the value of ${label}`);
      return joinBig(r.lo, r.hi);
    case ScalarType.SINT64: {
      r.varint(`the value of ${label}`);
      const u = joinBig(r.lo, r.hi);
      return (u >> 1n) ^ -(u & 1n);
    }
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT: {
      r.need(4, label);
      const view = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 4);
      r.pos += 4;
      return type === ScalarType.FIXED32
        ? view.getUint32(0, true)
        : type === ScalarType.SFIXED32
        ? view.getInt32(0, true)
        : view.getFloat32(0, true);
    }
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.DOUBLE: {
      r.need(8, label);
      const view = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 8);
      r.pos += 8;
      if (type === ScalarType.DOUBLE) return view.getFloat64(0, true);
      const value = joinBig(view.getUint32(0, true), view.getUint32(4, true));
      return type === ScalarType.SFIXED64 ? BigInt.asIntN(64, value) : value;
    }
    default:
      return r.fail(`${label} has unknown scalar type ${type}`);
  }
}

/** A string field's payload; ASCII-only short strings are decoded without the runtime's decoder. */
function decodeUtf8(r: Reader, start: number, end: number, label: string): string {
  const bytes = r.buf;
  if (end - start <= SHORT_STRING) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  try {
    return textDecoder.decode(bytes.subarray(start, end));
  } catch {
    return r.fail(`${label} is not valid UTF-8`);
  }
}

/** Skips the payload of an unknown field. */
function skipField(r: Reader, wireType: number, label: string): void {
  switch (wireType) {
    case WIRE_VARINT:
      r.varint(`the value of ${label}`);
      return;
    case WIRE_LEN:
      r.pos = r.lengthEnd(label);
      return;
    case WIRE_I64:
      r.need(8, label);
      r.pos += 8;
      return;
    case WIRE_I32:
      r.need(4, label);
      r.pos += 4;
      return;
    default:
      r.fail(`${label} has unsupported wire type ${wireType}`);
  }
}

// ---------------------------------------------------------------------------
// Message types

/** A field, prepared for the codec. */
interface Plan {
  readonly info: FieldInfo;
  /** `Type.field`, for encode errors. */
  readonly where: string;
  /** `field 'name' (1)`, for decode errors. */
  readonly label: string;
  /** The property that holds the value: the field's, or its oneof's. */
  readonly key: string;
  /** The wire type of one value (LEN for messages, maps and packed arrays). */
  readonly wireType: number;
  /** Whether a repeated field is written packed. */
  readonly packed: boolean;
  /** Whether a repeated field may arrive packed. */
  readonly packable: boolean;
  /** The tag of the field with {@linkcode Plan.wireType} (packed arrays: LEN). */
  readonly tag: number;
  /** Whether the field is written even when it holds the default. */
  readonly presence: boolean;
}

/** The encode/decode state of one message type, made on first use. */
interface Compiled {
  /** Fields in number order. */
  readonly plans: readonly Plan[];
  /** Field lookup by number (dense array for small numbers). */
  readonly byNumber: (Plan | undefined)[];
  readonly byNumberMap: Map<number, Plan>;
  /** Makes a message with every field at its default. */
  readonly blank: () => Record<string, unknown>;
}

function valueWireType(value: ValueInfo): number {
  return value.kind === "scalar" ? wireTypeOfScalar(value.T) : value.kind === "enum" ? WIRE_VARINT : WIRE_LEN;
}

function valueDefault(value: ValueInfo): unknown {
  return value.kind === "scalar" ? scalarDefault(value.T) : value.kind === "enum" ? 0 : undefined;
}

/** Property names that would change a plain object's prototype or shadow its methods. */
function safeSet(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

class MessageTypeImpl<T extends object> implements MessageType<T> {
  readonly typeName: string;
  readonly fields: readonly FieldInfo[];
  #compiled: Compiled | undefined;

  constructor(typeName: string, fields: readonly FieldInfo[]) {
    this.typeName = typeName;
    this.fields = fields;
    // Bound, so that `const { encode } = HelloRequest` and grpc-js's serializers work.
    this.encode = this.encode.bind(this);
    this.decode = this.decode.bind(this);
    this.create = this.create.bind(this);
  }

  get compiled(): Compiled {
    return this.#compiled ??= this.#compile();
  }

  #compile(): Compiled {
    const plans: Plan[] = [];
    const shortName = this.typeName;
    for (const info of this.fields) {
      const single: ValueInfo | undefined = info.kind === "map" ? undefined : info as ValueInfo;
      const packable = !!info.repeated && single !== undefined && single.kind !== "message" &&
        !(single.kind === "scalar" && (single.T === ScalarType.STRING || single.T === ScalarType.BYTES));
      const packed = packable && info.packed !== false;
      const wireType = info.kind === "map" ? WIRE_LEN : valueWireType(single!);
      plans.push({
        info,
        where: `${shortName}.${info.name}`,
        label: `field '${info.name}' (${info.no})`,
        key: info.oneof ?? info.localName,
        wireType,
        packed,
        packable,
        tag: info.no * 8 + (packed ? WIRE_LEN : wireType),
        presence: !!info.optional || info.oneof !== undefined || info.kind === "message",
      });
    }
    plans.sort((a, b) => a.info.no - b.info.no);
    const byNumber: (Plan | undefined)[] = [];
    const byNumberMap = new Map<number, Plan>();
    for (const plan of plans) {
      if (plan.info.no < 256) byNumber[plan.info.no] = plan;
      byNumberMap.set(plan.info.no, plan);
    }
    // The default message, in `.proto` field order (a oneof at its first member).
    const defaults: [string, () => unknown][] = [];
    const seen = new Set<string>();
    for (const info of this.fields) {
      if (info.oneof !== undefined) {
        if (!seen.has(info.oneof)) defaults.push([info.oneof, () => ({ case: undefined })]);
        seen.add(info.oneof);
      } else if (info.repeated) {
        defaults.push([info.localName, () => []]);
      } else if (info.kind === "map") {
        defaults.push([info.localName, () => ({})]);
      } else if (info.optional || info.kind === "message") {
        defaults.push([info.localName, () => undefined]);
      } else {
        const value = valueDefault(info as ValueInfo);
        defaults.push([info.localName, value instanceof Uint8Array ? () => new Uint8Array(0) : () => value]);
      }
    }
    const blank = () => {
      const out: Record<string, unknown> = {};
      for (const [key, make] of defaults) safeSet(out, key, make());
      return out;
    };
    return { plans, byNumber, byNumberMap, blank };
  }

  encode(message: Init<T>): Uint8Array {
    const w = writer;
    w.pos = 0;
    try {
      this.write(w, message, 0);
      const out = Buffer.allocUnsafe(w.pos);
      out.set(w.buf.subarray(0, w.pos));
      return out;
    } finally {
      if (w.buf.length > 1 << 20) {
        // Give back a buffer a large message grew.
        w.buf = new Uint8Array(1024);
        w.view = new DataView(w.buf.buffer);
      }
    }
  }

  /** Writes the message's fields (no tag or length of its own). */
  write(w: Writer, message: unknown, depth: number): void {
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      throw new TypeError(`A ${this.typeName} must be an object, got ${describe(message)}`);
    }
    if (depth > MAX_DEPTH) throw new RangeError(`A ${this.typeName} nests deeper than ${MAX_DEPTH} messages`);
    const record = message as Record<string, unknown>;
    for (const plan of this.compiled.plans) {
      const info = plan.info;
      let value = record[plan.key];
      if (value === undefined || value === null) continue;
      if (info.oneof !== undefined) {
        const oneof = value as { case?: unknown; value?: unknown };
        if (typeof oneof !== "object") {
          throw new TypeError(`Oneof '${this.typeName}.${info.oneof}' must be { case, value }, got ${describe(value)}`);
        }
        if (oneof.case !== info.localName) continue;
        value = oneof.value;
        if (value === undefined || value === null) {
          if (info.kind !== "message") {
            throw new TypeError(`Oneof '${this.typeName}.${info.oneof}' case '${info.localName}' has no value`);
          }
          value = {};
        }
      }
      if (info.kind === "map") {
        this.writeMap(w, plan, value, depth);
      } else if (info.repeated) {
        if (!Array.isArray(value)) {
          throw new TypeError(`Field '${plan.where}' must be an array, got ${describe(value)}`);
        }
        if (value.length === 0) continue;
        if (plan.packed) {
          w.varint32(plan.tag);
          const start = w.beginLength();
          const type = info.kind === "enum" ? ScalarType.INT32 : (info as { T: ScalarTypeT }).T;
          for (const item of value) writeScalar(w, plan.where, type, item);
          w.endLength(start);
        } else {
          for (const item of value) {
            w.varint32(plan.tag);
            writeValue(w, plan.where, info as ValueInfo, item, depth);
          }
        }
      } else {
        if (!plan.presence && info.kind !== "message") {
          const type = info.kind === "enum" ? ScalarType.INT32 : (info as { T: ScalarTypeT }).T;
          if (isDefault(type, value)) continue;
        }
        w.varint32(plan.tag);
        writeValue(w, plan.where, info as ValueInfo, value, depth);
      }
    }
  }

  writeMap(w: Writer, plan: Plan, value: unknown, depth: number): void {
    const info = plan.info as FieldInfo & { K: ScalarTypeT; V: ValueInfo };
    if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Map) {
      throw new TypeError(`Field '${plan.where}' must be a plain object, got ${describe(value)}`);
    }
    const keyTag = 1 * 8 + wireTypeOfScalar(info.K);
    const valueTag = 2 * 8 + valueWireType(info.V);
    for (const [key, item] of sortedEntries(info.K, value as Record<string, unknown>)) {
      w.varint32(plan.tag);
      const start = w.beginLength();
      w.varint32(keyTag);
      writeScalar(w, `${plan.where} key`, info.K, parseMapKey(plan.where, info.K, key));
      w.varint32(valueTag);
      writeValue(w, `${plan.where}[${JSON.stringify(key)}]`, info.V, item ?? valueDefault(info.V) ?? {}, depth);
      w.endLength(start);
    }
  }

  decode(bytes: Uint8Array): T {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`Bytes must be a Uint8Array, got ${describe(bytes)}`);
    const r = new Reader(bytes, this.typeName, 0, bytes.length);
    const out = this.compiled.blank();
    this.read(r, out, 0);
    return out as T;
  }

  /** Reads fields up to `r.end` into `out`, merging as protobuf does. */
  read(r: Reader, out: Record<string, unknown>, depth: number): void {
    if (depth > MAX_DEPTH) r.fail(`messages nest deeper than ${MAX_DEPTH}`);
    const { byNumber, byNumberMap } = this.compiled;
    const end = r.end;
    while (r.pos < end) {
      const tagAt = r.pos;
      r.varint("a field tag");
      if (r.hi !== 0 || r.lo >>> 3 === 0 || r.lo >>> 3 > 0x1fffffff) {
        r.fail(`invalid field number ${r.hi !== 0 ? "over 2^29" : r.lo >>> 3} at byte ${tagAt}`);
      }
      const number = r.lo >>> 3;
      const wireType = r.lo & 7;
      const plan = number < 256 ? byNumber[number] : byNumberMap.get(number);
      if (!plan) {
        skipField(r, wireType, `field ${number}`);
        continue;
      }
      const info = plan.info;
      if (wireType !== plan.wireType && !(plan.packable && wireType === WIRE_LEN)) {
        r.fail(`${plan.label} has wire type ${wireType}, expected ${plan.wireType}`);
      }
      if (info.kind === "map") {
        this.readMapEntry(r, plan, out[plan.key] as Record<string, unknown>, depth);
      } else if (info.repeated) {
        const list = out[plan.key] as unknown[];
        if (plan.packable && wireType === WIRE_LEN) {
          const listEnd = r.lengthEnd(plan.label);
          const type = info.kind === "enum" ? ScalarType.INT32 : (info as { T: ScalarTypeT }).T;
          const outerEnd = r.end;
          r.end = listEnd;
          while (r.pos < listEnd) list.push(readScalar(r, type, plan.label));
          r.end = outerEnd;
        } else {
          list.push(readValue(r, plan.label, info as ValueInfo, undefined, depth));
        }
      } else if (info.oneof !== undefined) {
        const current = out[plan.key] as { case: string | undefined; value?: unknown };
        const previous = current.case === info.localName ? current.value : undefined;
        safeSet(out, plan.key, {
          case: info.localName,
          value: readValue(r, plan.label, info as ValueInfo, previous, depth),
        });
      } else {
        safeSet(out, plan.key, readValue(r, plan.label, info as ValueInfo, out[plan.key], depth));
      }
    }
  }

  readMapEntry(r: Reader, plan: Plan, target: Record<string, unknown>, depth: number): void {
    const info = plan.info as FieldInfo & { K: ScalarTypeT; V: ValueInfo };
    const entryEnd = r.lengthEnd(plan.label);
    const outerEnd = r.end;
    r.end = entryEnd;
    let key: unknown = scalarDefault(info.K);
    let value: unknown = undefined;
    const keyWire = wireTypeOfScalar(info.K);
    const valueWire = valueWireType(info.V);
    while (r.pos < entryEnd) {
      const tagAt = r.pos;
      r.varint("a field tag");
      const number = r.hi !== 0 ? 0 : r.lo >>> 3;
      const wireType = r.lo & 7;
      if (number === 0) r.fail(`invalid field number 0 at byte ${tagAt}`);
      if (number === 1) {
        if (wireType !== keyWire) r.fail(`the key of ${plan.label} has wire type ${wireType}, expected ${keyWire}`);
        key = readScalar(r, info.K, `the key of ${plan.label}`);
      } else if (number === 2) {
        if (wireType !== valueWire) {
          r.fail(`a value of ${plan.label} has wire type ${wireType}, expected ${valueWire}`);
        }
        value = readValue(r, `a value of ${plan.label}`, info.V, value, depth);
      } else {
        skipField(r, wireType, `field ${number} of an entry of ${plan.label}`);
      }
    }
    r.end = outerEnd;
    if (value === undefined) {
      value = info.V.kind === "message"
        ? (info.V.T() as MessageTypeImpl<object>).compiled.blank()
        : valueDefault(info.V);
    }
    safeSet(target, String(key), value);
  }

  create(init?: Init<T>): T {
    const out = this.compiled.blank();
    if (init === undefined || init === null) return out as T;
    if (typeof init !== "object") throw new TypeError(`A ${this.typeName} must be an object, got ${describe(init)}`);
    const record = init as Record<string, unknown>;
    for (const info of this.fields) {
      const key = info.oneof ?? info.localName;
      const value = record[key];
      if (value === undefined || value === null) continue;
      if (info.oneof !== undefined) {
        const oneof = value as { case?: string; value?: unknown };
        if (oneof.case !== info.localName) continue;
        safeSet(out, key, { case: info.localName, value: createValue(info as ValueInfo, oneof.value) });
      } else if (info.kind === "map") {
        const map: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) safeSet(map, k, createValue(info.V, v));
        safeSet(out, key, map);
      } else if (info.repeated) {
        safeSet(out, key, (value as unknown[]).map((item) => createValue(info as ValueInfo, item)));
      } else {
        safeSet(out, key, createValue(info as ValueInfo, value));
      }
    }
    return out as T;
  }
}

function createValue(info: ValueInfo, value: unknown): unknown {
  if (info.kind === "message") return (info.T() as MessageTypeImpl<object>).create((value ?? {}) as object);
  if (info.kind === "scalar" && is64Bit(info.T) && typeof value === "number") return BigInt(value);
  return value;
}

function writeValue(w: Writer, where: string, info: ValueInfo, value: unknown, depth: number): void {
  if (info.kind === "message") {
    const start = w.beginLength();
    (info.T() as MessageTypeImpl<object>).write(w, value, depth + 1);
    w.endLength(start);
  } else {
    writeScalar(w, where, info.kind === "enum" ? ScalarType.INT32 : info.T, value);
  }
}

function readValue(r: Reader, label: string, info: ValueInfo, previous: unknown, depth: number): unknown {
  if (info.kind !== "message") return readScalar(r, info.kind === "enum" ? ScalarType.INT32 : info.T, label);
  const type = info.T() as MessageTypeImpl<object>;
  const end = r.lengthEnd(label);
  const outerEnd = r.end;
  const target = (previous as Record<string, unknown> | undefined) ?? type.compiled.blank();
  r.end = end;
  const typeName = r.typeName;
  // Errors name the innermost message type.
  r.typeName = type.typeName;
  type.read(r, target, depth + 1);
  r.typeName = typeName;
  r.end = outerEnd;
  return target;
}

/** A map key from its property name, as the key's type. */
function parseMapKey(where: string, type: ScalarTypeT, key: string): unknown {
  switch (type) {
    case ScalarType.STRING:
      return key;
    case ScalarType.BOOL:
      if (key === "true") return true;
      if (key === "false") return false;
      throw new TypeError(`Field '${where}' has key ${JSON.stringify(key)}, which is not "true" or "false"`);
    default: {
      if (!/^-?\d+$/.test(key)) throw new TypeError(`Field '${where}' has key ${JSON.stringify(key)}, not an integer`);
      return is64Bit(type) ? BigInt(key) : Number(key);
    }
  }
}

/** A map's entries in the order protobuf's deterministic serialization writes them. */
function sortedEntries(type: ScalarTypeT, map: Record<string, unknown>): [string, unknown][] {
  const entries = Object.entries(map);
  if (entries.length < 2) return entries;
  if (type === ScalarType.STRING) {
    // UTF-8 byte order, which is code point order (not UTF-16 unit order).
    return entries.sort(([a], [b]) => compareCodePoints(a, b));
  }
  if (type === ScalarType.BOOL) return entries.sort(([a], [b]) => (a === "true" ? 1 : 0) - (b === "true" ? 1 : 0));
  const numeric = (key: string) => {
    try {
      return BigInt(key);
    } catch {
      return 0n;
    }
  };
  return entries.sort(([a], [b]) => {
    const x = numeric(a);
    const y = numeric(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * The message type of generated code: its name, its fields, and a codec built
 * from them on first use.
 *
 * @example A message type by hand (generated code does this for you)
 * ```ts
 * import { messageType, ScalarType } from "./runtime.ts";
 *
 * interface HelloRequest {
 *   name: string;
 * }
 * const HelloRequest = messageType<HelloRequest>("HelloRequest", [
 *   { no: 1, name: "name", localName: "name", kind: "scalar", T: ScalarType.STRING },
 * ]);
 * HelloRequest.encode({ name: "bobby" }); // 0a 05 62 6f 62 62 79
 * ```
 *
 * @param typeName The message's fully qualified name.
 * @param fields Its fields, in `.proto` order.
 * @returns The message type.
 */
export function messageType<T extends object>(typeName: string, fields: readonly FieldInfo[]): MessageType<T> {
  return new MessageTypeImpl<T>(typeName, fields);
}
