/**
 * A child process for `client_bound_test.ts`: streams `LotsOfGreetings` with
 * `--count` names of 64 KiB from a generator to `--address`, then prints one
 * JSON line: how the call ended, how many requests the generator gave, and
 * this process's peak RSS (VmHWM) in bytes.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createGreeterClient } from "../client.ts";
import { GrpcError, Status } from "../src/errors.ts";
import type { GreeterClientOptions } from "../client.ts";

const { values } = parseArgs({
  options: {
    address: { type: "string" },
    count: { type: "string", default: "4000" },
    "stall-timeout-ms": { type: "string", default: "1000" },
    "timeout-ms": { type: "string", default: "15000" },
  },
});
const options: GreeterClientOptions = { retry: false, stallTimeoutMs: Number(values["stall-timeout-ms"]) };
using client = createGreeterClient(values.address!, options);
const count = Number(values.count);
const name = "x".repeat(64 * 1024);
let given = 0;
function* requests() {
  for (; given < count; given++) yield { name };
}
let code: Status = Status.OK;
let message = "";
try {
  await client.lotsOfGreetings(requests(), { timeout: Number(values["timeout-ms"]) });
} catch (error) {
  code = error instanceof GrpcError ? error.code : Status.UNKNOWN;
  message = error instanceof Error ? error.message : String(error);
}
const status = new TextDecoder().decode(
  (await new Deno.Command("cat", { args: [`/proc/${Deno.pid}/status`], stdout: "piped" }).output()).stdout,
);
const hwmKiB = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1]);
console.log(JSON.stringify({ code, message, given, peakRssBytes: hwmKiB * 1024 }));
Deno.exit(0);
