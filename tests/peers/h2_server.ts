/**
 * A Greeter server for subprocess tests: listens on 127.0.0.1:0, prints
 * `port <n> <start-up ms>` once listening, and serves until killed.
 *
 * `--no-workaround` turns off the guard of `src/h2_workaround.ts`, to show
 * what it prevents.
 *
 * @module
 */
import { createGreeterServer } from "../../server.ts";
import { h2Workaround } from "../../src/_h2_workaround.ts";

if (Deno.args.includes("--no-workaround")) h2Workaround.active = false;
const started = performance.now();
const server = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });
console.log(`port ${server.port} ${(performance.now() - started).toFixed(1)}`);
await server.finished;
