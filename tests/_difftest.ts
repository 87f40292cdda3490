/**
 * The machinery of the differential test against Python's protobuf: seeded
 * random messages of any message type (driven by its field table, edge values
 * favoured), the JSON form that `tests/peers/difftest.py` speaks, and that
 * peer as one subprocess for a whole batch.
 *
 * The JSON form of a message is an object keyed by the `.proto` field names.
 * Fields with presence (optional, message, oneof members) appear only when
 * set; the others always appear. Values: 32-bit integers and enums as numbers,
 * 64-bit integers as decimal strings, bytes as hex, floats and doubles as the
 * hex of their IEEE bits (big-endian) or `"nan"`, maps as objects keyed by the
 * key's decimal (or `"true"`/`"false"`) form.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { type FieldInfo, type MessageType, ScalarType, type ValueInfo } from "../src/runtime.ts";

/** The Python interpreter with Debian's `python3-protobuf`. */
export const PYTHON = "/usr/bin/python3";
/** Debian's protoc (3.21), which knows proto3 `optional`. */
export const PROTOC = "/usr/bin/protoc";
/** The `.proto` of the differential test. */
export const EVERY_FIELD_PROTO: string = fileURLToPath(new URL("./protos/every_field.proto", import.meta.url));

const PEER = fileURLToPath(new URL("./peers/difftest.py", import.meta.url));

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** Bytes as lowercase hex. */
export function hex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

/** Bytes from lowercase hex. */
export function unhex(text: string): Uint8Array {
  const out = new Uint8Array(text.length >> 1);
  const digit = (c: number) => c <= 0x39 ? c - 0x30 : c - 0x57;
  for (let i = 0; i < out.length; i++) {
    out[i] = (digit(text.charCodeAt(2 * i)) << 4) | digit(text.charCodeAt(2 * i + 1));
  }
  return out;
}

// ---------------------------------------------------------------------------
// A seeded PRNG

/** A small seeded PRNG (mulberry32): the same seed gives the same messages on every machine. */
export class Rng {
  #state: number;

  /** @param seed Any 32-bit integer. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniformly random unsigned 32-bit integer. */
  u32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in `[0, n)`. */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  /** One of the items. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A uniformly random 64-bit pattern, unsigned. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

/** The seed of case `index` of a run seeded with `seed`, so that one case can be replayed alone. */
export function caseSeed(seed: number, index: number): number {
  return new Rng((seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0).u32();
}

// ---------------------------------------------------------------------------
// Random values

const INT32_EDGES = [0, 1, -1, 127, 128, -128, 0x7fffffff, -0x80000000, 300, -300];
const UINT32_EDGES = [0, 1, 127, 128, 16383, 16384, 0x7fffffff, 0x80000000, 0xffffffff];
const INT64_EDGES = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 53n, -(2n ** 53n)];
const UINT64_EDGES = [0n, 1n, 127n, 128n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 53n + 1n];
const DOUBLE_EDGES = [
  0,
  -0,
  NaN,
  Infinity,
  -Infinity,
  Number.MIN_VALUE,
  -Number.MAX_VALUE,
  Number.MAX_VALUE,
  1.5,
  -2.25,
  0.1,
  2 ** 53,
];
const FLOAT_EDGES = [
  0,
  -0,
  NaN,
  Infinity,
  -Infinity,
  1.5,
  -2.25,
  Math.fround(0.1),
  Math.fround(3.4028234663852886e38),
  2 ** -149,
];
const STRING_EDGES = [
  "",
  "a",
  "zzz",
  "我是zzz",
  "😈",
  "a😈b",
  "\u0000",
  "\u007f\u0080",
  "\u07ff\u0800",
  "\ud7ff\ue000\uffff",
  "\u{10ffff}",
  "héllo wörld",
  "x".repeat(64),
  "é".repeat(64),
  "y".repeat(65),
  "長".repeat(50),
  "z".repeat(200),
];
/** Map keys whose UTF-16 order differs from their UTF-8 (code point) order, and a key that is a special property. */
const MAP_KEY_EDGES = ["", "\uffff", "😈", "\ue000", "__proto__", "a", "ab", "b"];

const floatView = new DataView(new ArrayBuffer(8));

function randomString(rng: Rng): string {
  if (rng.chance(0.5)) return rng.pick(STRING_EDGES);
  const length = rng.pick([1, 3, 10, 40, 70, 130]);
  let out = "";
  for (let i = 0; i < length; i++) {
    const range = rng.int(4);
    let cp = range === 0
      ? 0x20 + rng.int(0x5f)
      : range === 1
      ? rng.int(0x800)
      : range === 2
      ? rng.int(0x10000)
      : 0x10000 + rng.int(0x100000);
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41; // no lone surrogates: they have no UTF-8 encoding
    out += String.fromCodePoint(cp);
  }
  return out;
}

function randomBytes(rng: Rng): Uint8Array {
  const length = rng.pick([0, 0, 1, 2, 16, 127, 128, 300]);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.chance(0.2) ? rng.pick([0, 0xff, 0x80]) : rng.int(256);
  return out;
}

/** A random value of a scalar type, an edge value half the time. */
export function randomScalar(rng: Rng, type: ScalarType): unknown {
  const edge = rng.chance(0.5);
  switch (type) {
    case ScalarType.DOUBLE: {
      if (edge) return rng.pick(DOUBLE_EDGES);
      floatView.setUint32(0, rng.u32());
      floatView.setUint32(4, rng.u32());
      const value = floatView.getFloat64(0);
      // Keep NaNs canonical: Python writes back the NaN it was given, and JavaScript may not keep payloads.
      return Number.isNaN(value) ? NaN : value;
    }
    case ScalarType.FLOAT: {
      if (edge) return rng.pick(FLOAT_EDGES);
      floatView.setUint32(0, rng.u32());
      const value = floatView.getFloat32(0);
      return Number.isNaN(value) ? NaN : value;
    }
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return edge ? rng.pick(INT32_EDGES) : rng.u32() | 0;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return edge ? rng.pick(UINT32_EDGES) : rng.u32() >>> rng.int(32);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64: {
      const value = edge ? rng.pick(INT64_EDGES) : BigInt.asIntN(64, rng.u64() >> BigInt(rng.int(64)));
      // Sometimes a number: the codec takes safe integers for 64-bit fields too.
      return rng.chance(0.1) && value >= -(2n ** 53n) + 1n && value <= 2n ** 53n - 1n ? Number(value) : value;
    }
    case ScalarType.UINT64:
    case ScalarType.FIXED64: {
      const value = edge ? rng.pick(UINT64_EDGES) : rng.u64() >> BigInt(rng.int(64));
      return rng.chance(0.1) && value <= 2n ** 53n - 1n ? Number(value) : value;
    }
    case ScalarType.BOOL:
      return rng.chance(0.5);
    case ScalarType.STRING:
      return randomString(rng);
    case ScalarType.BYTES:
      return randomBytes(rng);
  }
}

/** Known values, unknown ones (proto3 enums are open), negative ones. */
const ENUM_EDGES = [0, 1, 2, -1, -0x80000000, 0x7fffffff, 7, -5, 1000];

function randomValue(rng: Rng, info: ValueInfo, depth: number): unknown {
  switch (info.kind) {
    case "scalar":
      return randomScalar(rng, info.T);
    case "enum":
      return rng.chance(0.8) ? rng.pick(ENUM_EDGES) : rng.u32() | 0;
    case "message":
      return rng.chance(0.3) ? {} : randomMessage(rng, info.T(), depth + 1);
  }
}

function randomMapKey(rng: Rng, type: ScalarType): string {
  if (type === ScalarType.STRING) return rng.chance(0.5) ? rng.pick(MAP_KEY_EDGES) : randomString(rng);
  if (type === ScalarType.BOOL) return rng.chance(0.5) ? "true" : "false";
  return String(BigInt(randomScalar(rng, type) as bigint | number));
}

/** Sets a property, even `__proto__`, as an own property. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Whether a message field should stop recursing at this depth. */
const tooDeep = (rng: Rng, depth: number) => depth >= 3 || rng.chance(0.3 * depth + 0.3);

/**
 * A random message to encode: each field absent, at its default or random,
 * nested messages down to a few levels.
 *
 * @param rng The PRNG.
 * @param type The message type, whose field table drives the choices.
 * @param depth How deep this message is nested (0 at the top).
 * @returns The message, in the form the codec's `encode()` takes.
 */
export function randomMessage(rng: Rng, type: MessageType<object>, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const oneofs = new Map<string, FieldInfo[]>();
  for (const info of type.fields) {
    if (info.oneof !== undefined) {
      oneofs.set(info.oneof, [...(oneofs.get(info.oneof) ?? []), info]);
      continue;
    }
    // Fewer fields deeper down, so that messages stay small.
    if (rng.chance(depth === 0 ? 0.35 : 0.7)) continue;
    if (info.kind === "map") {
      const map: Record<string, unknown> = {};
      const size = rng.pick([0, 1, 2, 3, 5]);
      const deep = info.V.kind === "message" && tooDeep(rng, depth);
      for (let i = 0; i < size && !deep; i++) {
        define(map, randomMapKey(rng, info.K), randomValue(rng, info.V, depth));
      }
      out[info.localName] = map;
    } else if (info.repeated) {
      const size = info.kind === "message" && tooDeep(rng, depth) ? 0 : rng.pick([0, 1, 2, 3, 6]);
      out[info.localName] = Array.from({ length: size }, () => randomValue(rng, info as ValueInfo, depth));
    } else if (info.kind === "message") {
      if (!tooDeep(rng, depth)) out[info.localName] = randomValue(rng, info, depth);
    } else if (rng.chance(0.2)) {
      // Set to the default: written only with presence.
      out[info.localName] = info.kind === "enum" ? 0 : defaultScalar(info.T as ScalarType);
    } else {
      out[info.localName] = randomValue(rng, info as ValueInfo, depth);
    }
  }
  for (const [name, members] of oneofs) {
    const roll = rng.int(6);
    if (roll === 0) continue;
    if (roll === 1) {
      out[name] = { case: undefined };
      continue;
    }
    const member = rng.pick(members);
    const value = member.kind === "message"
      ? (tooDeep(rng, depth) ? {} : randomValue(rng, member as ValueInfo, depth))
      : roll === 2
      ? (member.kind === "enum" ? 0 : defaultScalar((member as { T: ScalarType }).T))
      : randomValue(rng, member as ValueInfo, depth);
    out[name] = { case: member.localName, value };
  }
  return out;
}

function defaultScalar(type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return "";
    case ScalarType.BYTES:
      return new Uint8Array(0);
    case ScalarType.BOOL:
      return false;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 0n;
    default:
      return 0;
  }
}

/**
 * Messages that random ones hit only by luck: empty, every presence field set
 * to its default, each oneof member set to its default.
 *
 * @param type The message type.
 * @returns The messages.
 */
export function edgeMessages(type: MessageType<object>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [{}];
  const presence: Record<string, unknown> = {};
  const defaults: Record<string, unknown> = {};
  for (const info of type.fields) {
    if (info.kind === "map") {
      defaults[info.localName] = {};
    } else if (info.repeated) {
      defaults[info.localName] = [];
    } else if (info.oneof !== undefined) {
      const value = info.kind === "message" ? {} : info.kind === "enum" ? 0 : defaultScalar(info.T);
      out.push({ [info.oneof]: { case: info.localName, value } });
    } else if (info.kind === "message") {
      presence[info.localName] = {};
    } else {
      const value = info.kind === "enum" ? 0 : defaultScalar(info.T);
      (info.optional ? presence : defaults)[info.localName] = value;
    }
  }
  out.push(presence, defaults, { ...presence, ...defaults });
  return out;
}

// ---------------------------------------------------------------------------
// The JSON form

function floatToJson(value: number, double: boolean): string {
  if (Number.isNaN(value)) return "nan";
  if (double) floatView.setFloat64(0, value);
  else floatView.setFloat32(0, value);
  return hex(new Uint8Array(floatView.buffer, 0, double ? 8 : 4));
}

function scalarToJson(type: ScalarType, value: unknown): unknown {
  value ??= defaultScalar(type);
  switch (type) {
    case ScalarType.DOUBLE:
      return floatToJson(value as number, true);
    case ScalarType.FLOAT:
      return floatToJson(value as number, false);
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return String(BigInt(value as bigint | number));
    case ScalarType.BYTES:
      return hex(value as Uint8Array);
    default:
      return value;
  }
}

function valueToJson(info: ValueInfo, value: unknown): unknown {
  if (info.kind === "message") return toJson(info.T(), (value ?? {}) as Record<string, unknown>);
  return scalarToJson(info.kind === "enum" ? ScalarType.INT32 : info.T, value);
}

/**
 * A message (as given to `encode()` or returned by `decode()`) in the JSON
 * form that `tests/peers/difftest.py` reads and writes.
 *
 * @param type The message type.
 * @param message The message.
 * @returns Its JSON form: absent implicit-presence fields at their defaults.
 */
export function toJson(type: MessageType<object>, message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const info of type.fields) {
    let value = message[info.oneof ?? info.localName];
    if (info.oneof !== undefined) {
      const oneof = value as { case?: string; value?: unknown } | undefined;
      if (oneof?.case !== info.localName) continue;
      value = oneof.value;
    }
    if (info.kind === "map") {
      const map: Record<string, unknown> = {};
      for (const [key, item] of Object.entries((value ?? {}) as Record<string, unknown>)) {
        define(map, key, valueToJson(info.V, item));
      }
      out[info.name] = map;
    } else if (info.repeated) {
      out[info.name] = ((value ?? []) as unknown[]).map((item) => valueToJson(info as ValueInfo, item));
    } else if (info.kind === "message" || info.optional || info.oneof !== undefined) {
      if (value !== undefined || info.oneof !== undefined) out[info.name] = valueToJson(info as ValueInfo, value);
    } else {
      out[info.name] = valueToJson(info as ValueInfo, value);
    }
  }
  return out;
}

/** JSON with object keys sorted, so that equal values give equal text. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------
// The Python peer

/** One request to the Python peer: a message to serialize, bytes to parse, or both. */
export interface PeerRequest {
  /** The message's full name, such as `"difftest.EveryField"`. */
  type: string;
  /** A message to serialize, in the JSON form. */
  json?: Record<string, unknown>;
  /** Bytes to parse, in hex. */
  hex?: string;
}

/** The peer's answer to one {@linkcode PeerRequest}. */
export interface PeerReply {
  /** `SerializeToString(deterministic=True)` of the request's message, in hex. */
  hex?: string;
  /** The request's bytes, parsed, in the JSON form. */
  json?: Record<string, unknown>;
  /** Why serializing failed. */
  encode_error?: string;
  /** Why parsing failed. */
  decode_error?: string;
}

const PYTHON_ENV = { PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" };

/**
 * Why the Python peer cannot run here, or undefined when it can.
 *
 * @returns The reason, naming the Debian packages that are missing.
 */
export async function pythonProtobufMissing(): Promise<string | undefined> {
  try {
    const protoc = await new Deno.Command(PROTOC, { args: ["--version"], stdout: "null", stderr: "null" }).output();
    if (!protoc.success) return `${PROTOC} fails (apt install protobuf-compiler)`;
  } catch {
    return `no ${PROTOC} (apt install protobuf-compiler)`;
  }
  try {
    const python = await new Deno.Command(PYTHON, {
      args: ["-c", "import google.protobuf"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: PYTHON_ENV,
    }).output();
    return python.success ? undefined : `${PYTHON} cannot import google.protobuf (apt install python3-protobuf)`;
  } catch {
    return `no ${PYTHON}`;
  }
}

/**
 * Runs a batch of requests through one Python process.
 *
 * @param requests The requests.
 * @param protos The `.proto` files that define their types.
 * @returns One reply per request, in order.
 * @throws {Error} When the peer fails or answers a different number of lines.
 */
export async function runPythonPeer(
  requests: readonly PeerRequest[],
  protos = [EVERY_FIELD_PROTO],
): Promise<PeerReply[]> {
  const child = new Deno.Command(PYTHON, {
    args: [PEER, ...protos],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: PYTHON_ENV,
  }).spawn();
  const input = new TextEncoder().encode(requests.map((r) => JSON.stringify(r) + "\n").join(""));
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    try {
      await writer.write(input);
    } finally {
      await writer.close().catch(() => {});
    }
  })();
  const [output] = await Promise.all([child.output(), writing.catch(() => {})]);
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`difftest.py exited with ${output.code}: ${stderr}`);
  const lines = new TextDecoder().decode(output.stdout).split("\n").filter((line) => line !== "");
  if (lines.length !== requests.length) {
    throw new Error(`difftest.py answered ${lines.length} of ${requests.length} requests: ${stderr}`);
  }
  return lines.map((line) => JSON.parse(line) as PeerReply);
}
