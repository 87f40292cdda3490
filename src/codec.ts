/**
 * A strict proto3 codec for the flat messages of `proto/hello.proto`, driven
 * by the field tables that `deno task gen` writes into `proto/hello.ts`.
 *
 * Why not protobufjs at run time: grpc-js's usual path (proto-loader over
 * protobufjs) accepts truncated fields, over-long varints and invalid UTF-8,
 * and emits invalid UTF-8 for lone surrogates. This codec rejects all of
 * them, writes the same bytes as Python's `SerializeToString()` (fields in
 * number order, proto3 defaults omitted), and skips unknown fields so that
 * newer peers stay wire-compatible.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** The scalar field kinds the codec handles. */
export type FieldKind = "string" | "bytes" | "bool" | "int32" | "uint32";

/** One field of a message, as generated from the `.proto`. */
export interface FieldSpec {
  /** The field's name in TypeScript (lowerCamelCase). */
  readonly name: string;
  /** The field's name in the `.proto`. */
  readonly protoName: string;
  /** The field number. */
  readonly number: number;
  /** The scalar kind. */
  readonly kind: FieldKind;
}

/** Encodes and decodes one message type. */
export interface MessageCodec<T> {
  /** The message's name in the `.proto`. */
  readonly typeName: string;
  /** Protobuf bytes of `value`; absent fields take their proto3 defaults. */
  encode(value: Partial<T>): Buffer;
  /** The message in `bytes`; throws {@linkcode ProtobufDecodeError} when malformed. */
  decode(bytes: Uint8Array): T;
}

/** Thrown when bytes are not a valid encoding of the expected message. */
export class ProtobufDecodeError extends Error {
  /** Creates the error for message type `typeName`. */
  constructor(typeName: string, reason: string) {
    super(`Malformed ${typeName}: ${reason}`);
    this.name = "ProtobufDecodeError";
  }
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function wireTypeOf(kind: FieldKind): number {
  return kind === "string" || kind === "bytes" ? WIRE_LEN : WIRE_VARINT;
}

function defaultOf(kind: FieldKind): unknown {
  switch (kind) {
    case "string":
      return "";
    case "bytes":
      return new Uint8Array(0);
    case "bool":
      return false;
    default:
      return 0;
  }
}

/**
 * Strings up to this many UTF-16 units are encoded and decoded in plain
 * JavaScript: for the short strings of this service that beats a call into
 * the runtime's TextEncoder/TextDecoder. Longer ones take the native path.
 */
const SHORT_STRING = 64;

/** A short string, its UTF-8 length, or -1 when it has a lone surrogate. */
function shortUtf8Length(value: string): number {
  let size = value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      size += 1;
    } else if (c < 0xd800 || c > 0xdfff) {
      size += 2;
    } else {
      const next = c <= 0xdbff && i + 1 < value.length ? value.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return -1;
      i++;
      size += 2; // 4 bytes for 2 units
    }
  }
  return size;
}

/** Writes a well-formed short string as UTF-8; returns the position after it. */
function writeShortUtf8(out: Uint8Array, pos: number, value: string): number {
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      out[pos++] = c;
    } else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 0x3f);
      out[pos++] = 0x80 | (c & 0x3f);
    } else {
      c = 0x10000 + ((c - 0xd800) << 10) + (value.charCodeAt(++i) - 0xdc00);
      out[pos++] = 0xf0 | (c >> 18);
      out[pos++] = 0x80 | ((c >> 12) & 0x3f);
      out[pos++] = 0x80 | ((c >> 6) & 0x3f);
      out[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}

/** Strict UTF-8 decoding; an ASCII-only short run is decoded without the runtime's decoder. */
function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
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
  return textDecoder.decode(bytes.subarray(start, end));
}

/** A short string field's payload: the string and its UTF-8 length, written in place. */
class ShortString {
  constructor(readonly value: string, readonly length: number) {}
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Turns one field value into its payload: bytes for LEN fields, a number for varints. */
function fieldPayload(
  typeName: string,
  field: FieldSpec,
  value: unknown,
): Uint8Array | ShortString | number | undefined {
  const where = `${typeName}.${field.protoName}`;
  switch (field.kind) {
    case "string": {
      if (typeof value !== "string") {
        throw new TypeError(`Field '${where}' must be a string`);
      }
      if (value === "") return undefined;
      if (value.length <= SHORT_STRING) {
        const length = shortUtf8Length(value);
        if (length >= 0) return new ShortString(value, length);
      } else if (value.isWellFormed()) {
        return textEncoder.encode(value);
      }
      throw new TypeError(
        `Field '${where}' contains a lone surrogate, which has no UTF-8 encoding`,
      );
    }
    case "bytes": {
      if (!(value instanceof Uint8Array)) {
        throw new TypeError(`Field '${where}' must be a Uint8Array`);
      }
      return value.length === 0 ? undefined : value;
    }
    case "bool": {
      if (typeof value !== "boolean") {
        throw new TypeError(`Field '${where}' must be a boolean`);
      }
      return value ? 1 : undefined;
    }
    case "uint32": {
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff) {
        throw new RangeError(`Field '${where}' must be an integer from 0 to 4294967295, got ${String(value)}`);
      }
      return value === 0 ? undefined : (value as number);
    }
    case "int32": {
      if (!Number.isInteger(value) || (value as number) < -0x80000000 || (value as number) > 0x7fffffff) {
        throw new RangeError(
          `Field '${where}' must be an integer from -2147483648 to 2147483647, got ${String(value)}`,
        );
      }
      // Negative int32 values are sign-extended to 64 bits: ten bytes on the wire.
      return value === 0 ? undefined : (value as number) < 0 ? 2 ** 64 + (value as number) : (value as number);
    }
  }
}

/**
 * Builds the codec of one message type from its field table.
 *
 * @param typeName The message's name in the `.proto`.
 * @param fields The fields, as generated from the `.proto`.
 * @returns The codec.
 */
export function createMessageCodec<T>(
  typeName: string,
  fields: readonly FieldSpec[],
): MessageCodec<T> {
  const sorted = [...fields].sort((a, b) => a.number - b.number);
  const byNumber = new Map(sorted.map((f) => [f.number, f]));
  const tags = sorted.map((f) => f.number * 8 + wireTypeOf(f.kind));

  function encode(value: Partial<T>): Buffer {
    if (typeof value !== "object" || value === null) {
      throw new TypeError(`A ${typeName} must be an object, got ${value === null ? "null" : typeof value}`);
    }
    const record = value as Record<string, unknown>;
    const payloads: (Uint8Array | ShortString | number | undefined)[] = new Array(sorted.length);
    let size = 0;
    for (let i = 0; i < sorted.length; i++) {
      const field = sorted[i]!;
      const raw = record[field.name];
      if (raw === undefined || raw === null) continue;
      const payload = fieldPayload(typeName, field, raw);
      if (payload === undefined) continue;
      payloads[i] = payload;
      size += varintSize(tags[i]!);
      size += typeof payload === "number" ? varintSize(payload) : varintSize(payload.length) + payload.length;
    }
    const out = Buffer.allocUnsafe(size);
    let pos = 0;
    for (let i = 0; i < sorted.length; i++) {
      const payload = payloads[i];
      if (payload === undefined) continue;
      pos = writeVarint(out, pos, tags[i]!);
      if (typeof payload === "number") {
        pos = writeVarint(out, pos, payload);
      } else if (payload instanceof ShortString) {
        pos = writeVarint(out, pos, payload.length);
        pos = writeShortUtf8(out, pos, payload.value);
      } else {
        pos = writeVarint(out, pos, payload.length);
        out.set(payload, pos);
        pos += payload.length;
      }
    }
    return out;
  }

  function decode(bytes: Uint8Array): T {
    const result: Record<string, unknown> = {};
    for (const field of sorted) result[field.name] = defaultOf(field.kind);
    const end = bytes.length;
    let pos = 0;
    // The value of the last varint read: exact below 2^53, and its low 32 bits.
    let value = 0;
    let low32 = 0;
    const fail = (reason: string): never => {
      throw new ProtobufDecodeError(typeName, reason);
    };
    const readVarint = (what: string): void => {
      value = 0;
      low32 = 0;
      let scale = 1;
      for (let i = 0; i < 10; i++) {
        if (pos >= end) fail(`${what} is cut off at byte ${pos}`);
        const b = bytes[pos++]!;
        value += (b & 0x7f) * scale;
        if (i < 5) low32 |= (b & 0x7f) << (7 * i);
        scale *= 128;
        if (b < 0x80) return;
      }
      fail(`${what} is longer than 10 bytes at byte ${pos}`);
    };
    while (pos < end) {
      const tagAt = pos;
      readVarint("a field tag");
      const number = Math.floor(value / 8);
      const wireType = value % 8;
      if (number < 1 || number > 0x1fffffff) fail(`invalid field number ${number} at byte ${tagAt}`);
      const field = byNumber.get(number);
      const label = field ? `field '${field.protoName}' (${number})` : `field ${number}`;
      if (field && wireType !== wireTypeOf(field.kind)) {
        fail(`${label} has wire type ${wireType}, expected ${wireTypeOf(field.kind)}`);
      }
      switch (wireType) {
        case WIRE_VARINT:
          readVarint(`the value of ${label}`);
          if (field) {
            result[field.name] = field.kind === "bool" ? value !== 0 : field.kind === "int32" ? low32 | 0 : low32 >>> 0;
          }
          break;
        case WIRE_LEN: {
          readVarint(`the length of ${label}`);
          const remaining = end - pos;
          if (value > remaining) {
            fail(`${label} declares ${value} bytes but ${remaining} remain`);
          }
          const start = pos;
          pos += value;
          if (field?.kind === "string") {
            try {
              result[field.name] = decodeUtf8(bytes, start, pos);
            } catch {
              fail(`${label} is not valid UTF-8`);
            }
          } else if (field) {
            result[field.name] = bytes.slice(start, pos);
          }
          break;
        }
        case WIRE_I64:
        case WIRE_I32: {
          const width = wireType === WIRE_I64 ? 8 : 4;
          if (end - pos < width) fail(`${label} needs ${width} bytes but ${end - pos} remain`);
          pos += width;
          break;
        }
        default:
          fail(`${label} has unsupported wire type ${wireType}`);
      }
    }
    return result as T;
  }

  return { typeName, encode, decode };
}
