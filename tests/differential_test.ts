/**
 * Our codec against Python's protobuf (Debian's python3-protobuf, C++ backend)
 * on seeded random messages of `tests/protos/every_field.proto`: the same
 * bytes, and the same values when each decodes what the other wrote.
 *
 * `DIFFTEST_N` sets the number of messages (default 2000) and
 * `DIFFTEST_SEED` the seed; a failure names the seed and the case index.
 */
import { assert } from "@std/assert";
import { EveryField } from "./_every_field.ts";
import {
  caseSeed,
  edgeMessages,
  hex,
  type PeerRequest,
  pythonProtobufMissing,
  randomMessage,
  Rng,
  runPythonPeer,
  stableStringify,
  toJson,
  unhex,
} from "./_difftest.ts";

const N = Number(Deno.env.get("DIFFTEST_N") ?? 2000);
const SEED = Number(Deno.env.get("DIFFTEST_SEED") ?? 20240611);
const TYPE = EveryField.typeName;

const missing = await pythonProtobufMissing();
if (missing) console.warn(`differential_test.ts: ignored: ${missing}`);

/** The messages of a run: the edge cases first, then seeded random ones. */
function messages(seed: number, n: number): Record<string, unknown>[] {
  const edges = edgeMessages(EveryField);
  return Array.from({ length: n }, (_, i) => edges[i] ?? randomMessage(new Rng(caseSeed(seed, i)), EveryField));
}

/** Where two hex strings first differ, in hex digits. */
function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i - (i % 2);
}

Deno.test({
  name: `our codec and Python's protobuf agree on ${N} seeded messages (seed ${SEED})${
    missing ? ` (ignored: ${missing})` : ""
  }`,
  ignore: !!missing,
  async fn(t) {
    const cases = messages(SEED, N);
    const jsons = cases.map((message) => toJson(EveryField, message));
    const encodeErrors: string[] = [];
    const ours = cases.map((message, i) => {
      try {
        return hex(EveryField.encode(message));
      } catch (e) {
        encodeErrors.push(`${where(i)}: our encode() throws ${e}\n  json: ${stableStringify(jsons[i])}`);
        return "";
      }
    });
    // Each message to serialize with our bytes to parse, then pairs of our messages back to back, which
    // protobuf parses as one message merged from both.
    const pairs = Math.floor(N / 2);
    const requests: PeerRequest[] = [
      ...jsons.map((json, i) => ({ type: TYPE, json, hex: ours[i] })),
      ...Array.from({ length: pairs }, (_, k) => ({ type: TYPE, hex: ours[2 * k]! + ours[2 * k + 1]! })),
    ];
    const replies = await runPythonPeer(requests);

    await t.step(`our encode() takes all ${N}`, () => check(encodeErrors));

    await t.step(`our bytes are Python's SerializeToString(deterministic=True)`, () => {
      check(
        replies.slice(0, N).flatMap((reply, i) => {
          if (reply.hex === undefined) return [`${where(i)}: Python cannot serialize it: ${reply.encode_error}`];
          if (reply.hex === ours[i]) return [];
          return [
            `${where(i)}: different bytes from byte ${firstDifference(ours[i]!, reply.hex) / 2}\n  ours:   ${
              ours[i]
            }\n` +
            `  Python: ${reply.hex}\n  json: ${stableStringify(jsons[i])}`,
          ];
        }),
      );
    });

    await t.step("Python decodes our bytes to the same values", () => {
      check(
        replies.slice(0, N).flatMap((reply, i) => {
          if (reply.json === undefined) return [`${where(i)}: Python rejects our bytes: ${reply.decode_error}`];
          const [sent, decoded] = [stableStringify(jsons[i]), stableStringify(reply.json)];
          return sent === decoded ? [] : [
            `${where(i)}: Python decodes our bytes to other values\n  ours: ${ours[i]}\n  sent:    ${sent}\n` +
            `  decoded: ${decoded}`,
          ];
        }),
      );
    });

    await t.step("we decode Python's bytes to the same values", () => {
      check(
        replies.slice(0, N).flatMap((reply, i) => {
          if (reply.hex === undefined) return [];
          const sent = stableStringify(jsons[i]);
          let decoded: string;
          try {
            decoded = stableStringify(toJson(EveryField, EveryField.decode(unhex(reply.hex)) as never));
          } catch (e) {
            return [`${where(i)}: our decode() rejects Python's bytes: ${e}\n  Python: ${reply.hex}`];
          }
          return sent === decoded ? [] : [
            `${where(i)}: we decode Python's bytes to other values\n  Python: ${reply.hex}\n  sent:    ${sent}\n` +
            `  decoded: ${decoded}`,
          ];
        }),
      );
    });

    await t.step(`${pairs} pairs of messages back to back merge as in Python`, () => {
      check(
        replies.slice(N).flatMap((reply, k) => {
          const bytes = ours[2 * k]! + ours[2 * k + 1]!;
          const pair = `${where(2 * k)} and ${2 * k + 1}`;
          if (reply.json === undefined) return [`${pair}: Python rejects the pair: ${reply.decode_error}`];
          let decoded: string;
          try {
            decoded = stableStringify(toJson(EveryField, EveryField.decode(unhex(bytes)) as never));
          } catch (e) {
            return [`${pair}: our decode() rejects the pair: ${e}\n  bytes: ${bytes}`];
          }
          const python = stableStringify(reply.json);
          return python === decoded ? [] : [
            `${pair}: we merge differently\n  bytes: ${bytes}\n  Python: ${python}\n  ours:   ${decoded}`,
          ];
        }),
      );
    });
  },
});

/** Names a case so that it can be replayed. */
function where(i: number): string {
  return `case ${i} (DIFFTEST_SEED=${SEED})`;
}

/** Fails with the first few failures. */
function check(failures: string[]): void {
  assert(failures.length === 0, `${failures.length} failures; the first ones:\n${failures.slice(0, 3).join("\n")}`);
}
