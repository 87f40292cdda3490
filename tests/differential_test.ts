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
  async fn() {
    const cases = messages(SEED, N);
    const ours: string[] = [];
    const jsons: Record<string, unknown>[] = [];
    const requests: PeerRequest[] = [];
    const failures: string[] = [];
    for (const [i, message] of cases.entries()) {
      const json = toJson(EveryField, message);
      let bytes = "";
      try {
        bytes = hex(EveryField.encode(message));
      } catch (e) {
        failures.push(`case ${i}: our encode() threw ${e}\n  json: ${stableStringify(json)}`);
      }
      ours.push(bytes);
      jsons.push(json);
      requests.push({ type: TYPE, json, hex: bytes });
    }
    const replies = await runPythonPeer(requests);
    for (const [i, reply] of replies.entries()) {
      const where = `case ${i} (DIFFTEST_SEED=${SEED}, caseSeed ${caseSeed(SEED, i)})`;
      const expected = stableStringify(jsons[i]);
      if (reply.encode_error !== undefined || reply.hex === undefined) {
        failures.push(`${where}: Python could not serialize it: ${reply.encode_error}\n  json: ${expected}`);
        continue;
      }
      if (reply.hex !== ours[i]) {
        failures.push(
          `${where}: different bytes from byte ${firstDifference(ours[i]!, reply.hex) / 2}\n  ours:   ${ours[i]}\n` +
            `  Python: ${reply.hex}\n  json: ${expected}`,
        );
      }
      if (reply.decode_error !== undefined) {
        failures.push(`${where}: Python rejects our bytes: ${reply.decode_error}\n  ours: ${ours[i]}`);
      } else if (stableStringify(reply.json) !== expected) {
        failures.push(
          `${where}: Python decodes our bytes to other values\n  ours: ${ours[i]}\n  sent:    ${expected}\n` +
            `  decoded: ${stableStringify(reply.json)}`,
        );
      }
      try {
        const decoded = stableStringify(toJson(EveryField, EveryField.decode(unhex(reply.hex)) as never));
        if (decoded !== expected) {
          failures.push(
            `${where}: we decode Python's bytes to other values\n  Python: ${reply.hex}\n  sent:    ${expected}\n` +
              `  decoded: ${decoded}`,
          );
        }
      } catch (e) {
        failures.push(`${where}: our decode() rejects Python's bytes: ${e}\n  Python: ${reply.hex}`);
      }
    }
    assert(
      failures.length === 0,
      `${failures.length} mismatches in ${N} messages; the first ones:\n${failures.slice(0, 3).join("\n")}`,
    );
  },
});
