/**
 * `deno task codec:compare`: our codec (`src/codec.ts`) beside protobuf-es
 * (`@bufbuild/protobuf` v2) on the same cases, to decide whether to grow our
 * codec or to build on protobuf-es with our strict checks on top:
 *
 * - strictness: which of the malformed inputs each one rejects;
 * - agreement: byte equality with Python's protobuf on seeded messages of
 *   `tests/protos/every_field.proto`, and decoding Python's bytes back;
 * - speed: encode and decode ops/s of a small and a rich message, in one
 *   process, rounds interleaved, the median of the rounds.
 *
 * protobuf-es's schemas are built at run time from the `FileDescriptorSet`
 * that Debian's protoc writes for `proto/hello.proto` and
 * `tests/protos/every_field.proto`.
 *
 * @module
 */
import { create, createFileRegistry, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { fileURLToPath } from "node:url";
import { HelloRequest, RepliesRequest } from "../proto/hello.ts";
import type { MessageType } from "../src/runtime.ts";
import { exitWithError, parseFlags } from "../src/_cli.ts";
import { EveryField, EveryField_Color } from "../tests/gen/every_field.ts";
import {
  caseSeed,
  EVERY_FIELD_PROTO,
  hex,
  PROTOC,
  pythonProtobufMissing,
  randomMessage,
  Rng,
  runPythonPeer,
  stableStringify,
  toJson,
  unhex,
} from "../tests/_difftest.ts";

const HELLO_PROTO = fileURLToPath(new URL("../proto/hello.proto", import.meta.url));

const HELP = `Compare our codec with protobuf-es (@bufbuild/protobuf v2): strictness, agreement with
Python's protobuf, and encode/decode speed.

Usage: deno task codec:compare [options]

Options:
  --rounds <n>     speed rounds, interleaved; the median is reported (default 7, at least 5)
  --time <ms>      how long each timed sample runs (default 150)
  --sample <n>     seeded every_field messages to compare with Python (default 300)
  --seed <n>       their seed (default 20240611, the differential test's)
  --json           print the results as JSON
  -h, --help       print this help`;

// ---------------------------------------------------------------------------
// protobuf-es's schemas

/** protobuf-es's message descriptors, from protoc's `FileDescriptorSet` of our two `.proto` files. */
export async function loadProtobufEs(): Promise<{ hello: DescMessage; replies: DescMessage; everyField: DescMessage }> {
  const dirs = [HELLO_PROTO, EVERY_FIELD_PROTO].map((file) => `-I${fileURLToPath(new URL(".", `file://${file}`))}`);
  const { success, stdout, stderr } = await new Deno.Command(PROTOC, {
    args: ["--descriptor_set_out=/dev/stdout", "--include_imports", ...dirs, HELLO_PROTO, EVERY_FIELD_PROTO],
    stdin: "null",
  }).output();
  if (!success) throw new Error(`${PROTOC} failed: ${new TextDecoder().decode(stderr)}`);
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, stdout));
  const get = (name: string) => {
    const desc = registry.getMessage(name);
    if (!desc) throw new Error(`No message ${name} in protoc's descriptors`);
    return desc;
  };
  return { hello: get("HelloRequest"), replies: get("RepliesRequest"), everyField: get("difftest.EveryField") };
}

// ---------------------------------------------------------------------------
// Strictness

/** One malformed input, and whether each codec rejects it. */
export interface StrictCase {
  /** What is wrong. */
  name: string;
  /** The input: bytes in hex, or the value encoded. */
  input: string;
  /** Whether our codec throws. */
  ours: boolean;
  /** Whether protobuf-es throws. */
  protobufEs: boolean;
  /** What protobuf-es made of it when it did not throw. */
  protobufEsGave?: string;
}

function throws(fn: () => unknown): { threw: boolean; gave?: string } {
  try {
    const value = fn();
    return { threw: false, gave: value instanceof Uint8Array ? hex(value) : describe(value) };
  } catch {
    return { threw: true };
  }
}

function describe(value: unknown): string {
  if (typeof value !== "object" || value === null) return String(value);
  const fields = Object.entries(value).filter(([k]) => k !== "$typeName" && k !== "$unknown");
  return `{ ${fields.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ")} }`;
}

/** Runs the strictness list on both codecs. */
export function strictness(es: Awaited<ReturnType<typeof loadProtobufEs>>): StrictCase[] {
  const decodes: [string, MessageType<object>, DescMessage, string][] = [
    ["truncated field (varint cut off)", RepliesRequest, es.replies, "1080"],
    ["over-long varint (11 bytes)", RepliesRequest, es.replies, "10ffffffffffffffffffff01"],
    ["invalid UTF-8 in a string field", HelloRequest, es.hello, "0a02c328"],
    ["known field with wrong wire type", HelloRequest, es.hello, "0801"],
    ["field number 0", HelloRequest, es.hello, "0200"],
    ["group wire type (3, 4), unknown field", HelloRequest, es.hello, "1314"],
    ["lone end-group (4)", HelloRequest, es.hello, "14"],
    ["length past the end", HelloRequest, es.hello, "0a056162"],
  ];
  const out: StrictCase[] = decodes.map(([name, ours, desc, bytes]) => {
    const ourRun = throws(() => ours.decode(unhex(bytes)));
    const esRun = throws(() => fromBinary(desc, unhex(bytes)));
    return { name, input: bytes, ours: ourRun.threw, protobufEs: esRun.threw, protobufEsGave: esRun.gave };
  });
  const ourRun = throws(() => HelloRequest.encode({ name: "a\ud800" }));
  const esRun = throws(() => toBinary(es.hello, create(es.hello, { name: "a\ud800" })));
  out.push({
    name: "lone surrogate on encode",
    input: `{ name: "a\\ud800" }`,
    ours: ourRun.threw,
    protobufEs: esRun.threw,
    protobufEsGave: esRun.gave,
  });
  return out;
}

// ---------------------------------------------------------------------------
// Agreement with Python

/** How many of the sampled messages each codec writes byte for byte as Python does. */
export interface Agreement {
  /** Messages compared. */
  messages: number;
  /** Our bytes equal Python's. */
  oursSameBytes: number;
  /** protobuf-es's bytes equal Python's. */
  protobufEsSameBytes: number;
  /** protobuf-es decodes Python's bytes to the values Python was given. */
  protobufEsSameValues: number;
  /** protobuf-es's bytes differ, but are Python's once decoded and re-encoded by our codec (map entry order, say). */
  protobufEsMapOrderOnly: number;
  /** Messages with no map of two entries or more, anywhere: map order cannot differ. */
  withoutMultiEntryMaps: number;
  /** Of those, how many protobuf-es writes as Python does. */
  protobufEsSameBytesWithoutMultiEntryMaps: number;
  /** protobuf-es throws on the message (encode or decode). */
  protobufEsErrors: number;
  /** The first difference of protobuf-es, for the record. */
  firstDifference?: string;
}

/** Whether a message, or one nested in it, has a map field of two entries or more. */
function hasMultiEntryMap(type: MessageType<object>, message: unknown): boolean {
  if (typeof message !== "object" || message === null) return false;
  const record = message as Record<string, unknown>;
  return type.fields.some((info) => {
    let value = record[info.oneof ?? info.localName];
    if (info.oneof !== undefined) {
      const oneof = value as { case?: string; value?: unknown } | undefined;
      if (oneof?.case !== info.localName) return false;
      value = oneof.value;
    }
    if (value === undefined || value === null) return false;
    if (info.kind === "map") {
      const items = Object.values(value as object);
      const V = info.V;
      return items.length >= 2 || (V.kind === "message" && items.some((v) => hasMultiEntryMap(V.T(), v)));
    }
    if (info.kind !== "message") return false;
    const T = info.T();
    return info.repeated ? (value as unknown[]).some((v) => hasMultiEntryMap(T, v)) : hasMultiEntryMap(T, value);
  });
}

/** Compares both codecs' bytes with Python's on seeded messages. */
export async function agreement(es: Awaited<ReturnType<typeof loadProtobufEs>>, seed: number, n: number) {
  const messages = Array.from({ length: n }, (_, i) => randomMessage(new Rng(caseSeed(seed, i)), EveryField));
  const replies = await runPythonPeer(
    messages.map((message) => ({ type: EveryField.typeName, json: toJson(EveryField, message) })),
  );
  const result: Agreement = {
    messages: n,
    oursSameBytes: 0,
    protobufEsSameBytes: 0,
    protobufEsSameValues: 0,
    protobufEsMapOrderOnly: 0,
    protobufEsErrors: 0,
    withoutMultiEntryMaps: 0,
    protobufEsSameBytesWithoutMultiEntryMaps: 0,
  };
  for (const [i, message] of messages.entries()) {
    const python = replies[i]!.hex ?? "";
    if (hex(EveryField.encode(message)) === python) result.oursSameBytes++;
    // Our create() gives every field its type (bigints for 64-bit fields given as numbers).
    const init = EveryField.create(message);
    try {
      const esBytes = hex(toBinary(es.everyField, create(es.everyField, init as never)));
      const mapsOfOne = !hasMultiEntryMap(EveryField, message);
      if (mapsOfOne) result.withoutMultiEntryMaps++;
      if (esBytes === python) {
        result.protobufEsSameBytes++;
        if (mapsOfOne) result.protobufEsSameBytesWithoutMultiEntryMaps++;
      } else {
        // Is it only what our encoder canonicalizes, such as the order of map entries?
        const decoded = EveryField.decode(unhex(esBytes));
        if (hex(EveryField.encode(decoded)) === python) result.protobufEsMapOrderOnly++;
        if (result.firstDifference === undefined) {
          let at = 0;
          while (at < esBytes.length && esBytes[at] === python[at]) at++;
          at -= at % 2;
          result.firstDifference = `case ${i}, from byte ${at / 2}: protobuf-es ${esBytes.slice(at, at + 48)}…, ` +
            `Python ${python.slice(at, at + 48)}…`;
        }
      }
      const back = fromBinary(es.everyField, unhex(python)) as unknown as Record<string, unknown>;
      if (stableStringify(toJson(EveryField, back)) === stableStringify(toJson(EveryField, message))) {
        result.protobufEsSameValues++;
      }
    } catch (e) {
      result.protobufEsErrors++;
      result.firstDifference ??= `case ${i}: protobuf-es throws ${e}`;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------
// Speed

/** A rich `EveryField`: every kind of field set, a few hundred bytes. */
export function richMessage(): Parameters<typeof EveryField.encode>[0] {
  return {
    fDouble: 3.14159,
    fFloat: 1.5,
    fInt64: -1234567890123n,
    fUint64: 18446744073709551615n,
    fInt32: -42,
    fFixed64: 1n << 40n,
    fFixed32: 0xdeadbeef,
    fBool: true,
    fString: "我是zzz, hello",
    fBytes: new Uint8Array([0, 1, 2, 3, 250, 251, 252, 253]),
    fUint32: 300,
    fSfixed32: -7,
    fSfixed64: -(1n << 50n),
    fSint32: -100000,
    fSint64: -(1n << 40n),
    fEnum: EveryField_Color.GREEN,
    fNested: { a: 1, b: "nested", child: { a: 2, b: "deeper" }, c: [1n, -2n, 3n], color: EveryField_Color.RED },
    recursive: { fString: "inner", fInt32: 7, rInt32: [1, 2, 3] },
    rDouble: [1.5, -2.5, 1e300],
    rFloat: [0.5, 0.25],
    rInt64: [1n, -1n, 1n << 62n],
    rUint64: [0n, 1n << 63n],
    rInt32: [1, -1, 1000000, -1000000],
    rFixed64: [5n, 6n],
    rFixed32: [7, 8],
    rBool: [true, false, true],
    rString: ["a", "bb", "😈"],
    rBytes: [new Uint8Array([1]), new Uint8Array([2, 3])],
    rUint32: [1, 2, 3, 4, 5, 6, 7, 8],
    rSfixed32: [-1, 1],
    rSfixed64: [-1n, 1n],
    rSint32: [-5, 5, -500],
    rSint64: [-5n, 5n],
    rEnum: [0, 1, 2, -1],
    rNested: [{ a: 1 }, { b: "two" }, { c: [3n] }],
    uDouble: [2.5],
    uInt32: [-3, 3],
    uSint64: [9n],
    uFixed32: [10, 11],
    uBool: [true],
    uEnum: [1, 2],
    uUint64: [12n],
    oDouble: 0,
    oInt32: 0,
    oString: "",
    oInt64: 99n,
    mStringString: { alpha: "a", beta: "b", gamma: "c" },
    mInt32Nested: { 1: { a: 1 }, 2: { b: "x" } },
    mInt64Enum: { "-1": 1, "5": 2 },
    mUint64Bytes: { "7": new Uint8Array([7]) },
    mSint32Double: { "-3": 0.5 },
    mBoolString: { true: "yes", false: "no" },
    mFixed32Sint64: { 4: -4n },
    mStringNested: { k: { a: 9 } },
    mSfixed64Float: { "-8": 8.5 },
    choice: { case: "cString", value: "chosen" },
    fWide: 12345,
    fHighest: "top",
  };
}

/** One speed measurement. */
export interface SpeedRow {
  /** The message. */
  message: string;
  /** Its encoded size. */
  bytes: number;
  /** `encode` or `decode`. */
  op: string;
  /** Our median ops/s. */
  ours: number;
  /** protobuf-es's median ops/s. */
  protobufEs: number;
  /** ours / protobuf-es. */
  ratio: number;
  /** The lowest and highest ops/s of the rounds, ours and protobuf-es. */
  oursRange: [number, number];
  /** The lowest and highest ops/s of the rounds, protobuf-es. */
  protobufEsRange: [number, number];
}

let sink = 0;

/** Ops/s of `fn` over about `ms` milliseconds, in batches sized by `batch`. */
function timed(fn: () => number, batch: number, ms: number): number {
  let ops = 0;
  const start = performance.now();
  let now = start;
  do {
    for (let i = 0; i < batch; i++) sink += fn();
    ops += batch;
    now = performance.now();
  } while (now - start < ms);
  return ops / ((now - start) / 1000);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Measures encode and decode of both messages with both codecs, rounds interleaved. */
export function speed(es: Awaited<ReturnType<typeof loadProtobufEs>>, rounds: number, ms: number): SpeedRow[] {
  const hello = { name: "zzz" };
  const rich = richMessage();
  const esHello = create(es.hello, hello);
  const esRich = create(es.everyField, EveryField.create(rich) as never);
  const helloBytes = HelloRequest.encode(hello);
  const richBytes = EveryField.encode(rich);
  if (hex(toBinary(es.hello, esHello)) !== hex(helloBytes)) throw new Error("protobuf-es writes another HelloRequest");
  const jobs: { message: string; bytes: number; op: string; ours: () => number; es: () => number }[] = [
    {
      message: 'HelloRequest {name:"zzz"}',
      bytes: helloBytes.length,
      op: "encode",
      ours: () => HelloRequest.encode(hello).length,
      es: () => toBinary(es.hello, esHello).length,
    },
    {
      message: 'HelloRequest {name:"zzz"}',
      bytes: helloBytes.length,
      op: "decode",
      ours: () => HelloRequest.decode(helloBytes).name.length,
      es: () => (fromBinary(es.hello, helloBytes) as unknown as { name: string }).name.length,
    },
    {
      message: "EveryField (rich)",
      bytes: richBytes.length,
      op: "encode",
      ours: () => EveryField.encode(rich).length,
      es: () => toBinary(es.everyField, esRich).length,
    },
    {
      message: "EveryField (rich)",
      bytes: richBytes.length,
      op: "decode",
      ours: () => EveryField.decode(richBytes).fInt32,
      es: () => (fromBinary(es.everyField, richBytes) as unknown as { fInt32: number }).fInt32,
    },
  ];
  const samples = jobs.map(() => ({ ours: [] as number[], es: [] as number[] }));
  // Warm-up: both codecs JIT-compiled before the first timed round.
  for (const job of jobs) {
    timed(job.ours, 100, Math.min(ms, 200));
    timed(job.es, 100, Math.min(ms, 200));
  }
  for (let round = 0; round < rounds; round++) {
    for (const [j, job] of jobs.entries()) {
      // Alternate which goes first, so that neither always runs on a warmer or cooler machine.
      const first = round % 2 === 0;
      if (first) samples[j]!.ours.push(timed(job.ours, 100, ms));
      samples[j]!.es.push(timed(job.es, 100, ms));
      if (!first) samples[j]!.ours.push(timed(job.ours, 100, ms));
    }
  }
  return jobs.map((job, j) => {
    const { ours, es } = samples[j]!;
    return {
      message: job.message,
      bytes: job.bytes,
      op: job.op,
      ours: median(ours),
      protobufEs: median(es),
      ratio: median(ours) / median(es),
      oursRange: [Math.min(...ours), Math.max(...ours)],
      protobufEsRange: [Math.min(...es), Math.max(...es)],
    };
  });
}

// ---------------------------------------------------------------------------

/** Everything one run found. */
export interface Comparison {
  /** When, ISO 8601. */
  date: string;
  /** Deno, V8 and protobuf-es versions. */
  versions: { deno: string; v8: string };
  strictness: StrictCase[];
  /** Undefined when Python's protobuf is missing. */
  agreement: Agreement | undefined;
  speed: SpeedRow[];
  rounds: number;
}

function formatOps(value: number): string {
  return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : `${(value / 1e3).toFixed(0)}k`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n");
}

function report(result: Comparison): string {
  const lines = [`codec comparison, ${result.date}, Deno ${result.versions.deno} (V8 ${result.versions.v8})`, ""];
  lines.push("Strictness: does it reject?");
  lines.push(table([
    ["case", "input", "ours", "protobuf-es", "protobuf-es gave"],
    ...result.strictness.map((c) => [
      c.name,
      c.input,
      c.ours ? "rejects" : "ACCEPTS",
      c.protobufEs ? "rejects" : "accepts",
      c.protobufEsGave ?? "",
    ]),
  ]));
  lines.push("");
  const a = result.agreement;
  if (a) {
    lines.push(
      `Agreement with Python's SerializeToString(deterministic=True), ${a.messages} seeded every_field messages:`,
    );
    lines.push(`  ours: same bytes ${a.oursSameBytes}/${a.messages}`);
    lines.push(
      `  protobuf-es: same bytes ${a.protobufEsSameBytes}/${a.messages}` +
        ` (${a.protobufEsMapOrderOnly} more are Python's once re-encoded by ours), ` +
        `decodes Python's bytes to the same values ${a.protobufEsSameValues}/${a.messages}, throws ${a.protobufEsErrors}`,
    );
    lines.push(
      `  protobuf-es on the ${a.withoutMultiEntryMaps} messages without a map of 2+ entries: ` +
        `same bytes ${a.protobufEsSameBytesWithoutMultiEntryMaps}/${a.withoutMultiEntryMaps}`,
    );
    if (a.firstDifference) lines.push(`  first difference: ${a.firstDifference}`);
  } else {
    lines.push("Agreement with Python: skipped (no python3-protobuf or protoc)");
  }
  lines.push("");
  lines.push(`Speed: ops/s, median of ${result.rounds} interleaved rounds (min–max)`);
  lines.push(table([
    ["message", "bytes", "op", "ours", "protobuf-es", "ours/protobuf-es"],
    ...result.speed.map((r) => [
      r.message,
      String(r.bytes),
      r.op,
      `${formatOps(r.ours)} (${formatOps(r.oursRange[0])}–${formatOps(r.oursRange[1])})`,
      `${formatOps(r.protobufEs)} (${formatOps(r.protobufEsRange[0])}–${formatOps(r.protobufEsRange[1])})`,
      `${r.ratio.toFixed(2)}x`,
    ]),
  ]));
  return lines.join("\n");
}

async function main(args: string[]): Promise<void> {
  const values = parseFlags(args, {
    rounds: { type: "string", default: "7" },
    time: { type: "string", default: "150" },
    sample: { type: "string", default: "300" },
    seed: { type: "string", default: "20240611" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const rounds = Math.max(5, Number(values.rounds));
  const es = await loadProtobufEs();
  const strict = strictness(es);
  const missing = await pythonProtobufMissing();
  const agreed = missing ? undefined : await agreement(es, Number(values.seed), Number(values.sample));
  const result: Comparison = {
    date: new Date().toISOString(),
    versions: { deno: Deno.version.deno, v8: Deno.version.v8 },
    strictness: strict,
    agreement: agreed,
    speed: speed(es, rounds, Number(values.time)),
    rounds,
  };
  console.log(values.json ? JSON.stringify(result, null, 2) : report(result));
  if (sink === 0.5) console.log(""); // keeps the timed work observable
}

if (import.meta.main) await main(Deno.args).catch(exitWithError);
