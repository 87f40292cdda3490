/**
 * `deno task soak --seconds N`: a bounded soak of the Greeter server.
 *
 * The server runs as a child process (`server.ts --port 0`) so that its RSS
 * and open file descriptors can be read from `/proc/<pid>`. Against it run,
 * for N seconds: unary workers on one shared connection, server streaming,
 * client streaming and bidi workers, and a churner that opens connection
 * after connection, makes a few calls on each and closes it with grpc-js's
 * `close()` (GOAWAY). RSS is sampled throughout.
 *
 * The server runs with `--inspect` on a free port, and the soak reads its JS
 * heap through the inspector (`_inspector.ts`). RSS alone cannot tell a leak
 * from garbage: V8 may let the heap grow by 200 MiB before its next full
 * collection, with 15 MB of it live. So RSS is split in two, and each part
 * has its own check:
 * - the JS heap: what is live after a forced full collection, once at the
 *   end of the warm-up and once at the end of the load, both under load,
 *   may grow by at most `--max-heap-growth-mib`;
 * - the rest of RSS (RSS minus the heap V8 has committed: native buffers,
 *   sockets, code), averaged over the last third of the samples, may grow by
 *   at most `--max-native-growth-mib` over its average in the first third.
 *
 * Pass when: no call failed; both parts held (warm-up: the first half of
 * the run, at most 30 s, and the first 10,000 calls); and once every client
 * is closed, the server's fd count is back to its idle baseline.
 *
 * @module
 */
import { createGreeterClient, type GreeterClient } from "../client.ts";
import { greet } from "../src/greeter.ts";
import { ServerProcess } from "./_server_process.ts";
import { freeInspectorPort, Inspector } from "./_inspector.ts";
import { exitWithError, parseFlags } from "../src/_cli.ts";

/** Options of {@linkcode runSoak}. */
export interface SoakOptions {
  /** How long the load runs, in seconds. */
  seconds: number;
  /** The largest growth of the live JS heap (after a forced full collection) allowed over the run, in MiB. Default 2. */
  maxHeapGrowthMiB?: number;
  /** The largest growth of RSS outside the JS heap allowed between the first and last third, in MiB. Default 16. */
  maxNativeGrowthMiB?: number;
  /** Unary workers on the shared connection. Default 8. */
  unaryWorkers?: number;
  /** Calls per churned connection before it is closed. Default 20. */
  callsPerConnection?: number;
  /** Where progress lines go. Default `console.log`. */
  log?: (line: string) => void;
  /**
   * On a slow or busy machine the warm-up can take most of the run: the load
   * then goes on until there are enough RSS samples after it, up to this many
   * seconds in all. Default `seconds` (no extension).
   */
  maxSeconds?: number;
}

/** What a soak measured. */
export interface SoakResult {
  /** Whether every check held. */
  pass: boolean;
  /** Why it failed, one line each. */
  failures: string[];
  /** Seconds of load. */
  seconds: number;
  /** Calls completed, by kind. */
  calls: { unary: number; serverStreaming: number; clientStreaming: number; bidi: number; churned: number };
  /** Connections opened and closed by the churner. */
  connections: number;
  /** Calls that failed, and the first few errors. */
  errors: number;
  firstErrors: string[];
  /** RSS samples in MiB (after warm-up). */
  rssMiB: number[];
  /** The JS heap V8 had committed at each sample, in MiB. */
  heapTotalMiB: number[];
  /** The live JS heap after a forced full collection at the end of the warm-up and at the end of the load, in MiB. */
  heapLiveStartMiB: number;
  heapLiveEndMiB: number;
  heapGrowthMiB: number;
  /** The bound the live heap's growth is held to, in MiB. */
  maxHeapGrowthMiB: number;
  /** Average RSS outside the JS heap in the first and last third, and the growth between them, in MiB. */
  nativeFirstThirdMiB: number;
  nativeLastThirdMiB: number;
  nativeGrowthMiB: number;
  /** The bound that growth is held to, in MiB. */
  maxNativeGrowthMiB: number;
  /** Open fds: idle before the load, peak during it, after every client closed. */
  fdBaseline: number;
  fdPeak: number;
  fdAfter: number;
}

const MiB = 1024 * 1024;
/** Calls before RSS samples count. */
export const WARM_UP_CALLS = 10_000;
/** RSS samples after warm-up needed for a verdict (one every 250 ms). */
const MIN_SAMPLES = 8;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const min = (values: number[]) => Math.min(...values).toFixed(1);
const max = (values: number[]) => Math.max(...values).toFixed(1);

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/**
 * Runs one soak and reports what it measured.
 *
 * @param options Duration, bound and load shape.
 * @returns The figures and the verdict.
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const seconds = options.seconds;
  if (!(seconds > 0) || seconds > 24 * 3600) throw new RangeError(`Seconds must be from 1 to 86400, got ${seconds}`);
  const maxHeapGrowthMiB = options.maxHeapGrowthMiB ?? 2;
  const maxNativeGrowthMiB = options.maxNativeGrowthMiB ?? 16;
  const unaryWorkers = options.unaryWorkers ?? 8;
  const callsPerConnection = options.callsPerConnection ?? 20;
  const log = options.log ?? console.log;
  const failures: string[] = [];
  const calls = { unary: 0, serverStreaming: 0, clientStreaming: 0, bidi: 0, churned: 0 };
  let connections = 0;
  let errors = 0;
  const firstErrors: string[] = [];
  const fail = (error: unknown) => {
    errors++;
    if (firstErrors.length < 5) firstErrors.push(String(error));
  };

  const inspectorPort = freeInspectorPort();
  const server = await ServerProcess.start(0, undefined, [], undefined, [], [`--inspect=127.0.0.1:${inspectorPort}`]);
  let inspector: Inspector | undefined;
  try {
    inspector = await Inspector.connect(inspectorPort);
    await sleep(300);
    const fdBaseline = await server.openFds();
    let fdPeak = fdBaseline;
    log(
      `soak: server pid ${server.pid} on ${server.address}, idle RSS ${
        ((await server.rssBytes()) / MiB).toFixed(1)
      } MiB, ` +
        `${fdBaseline} fds; ${seconds}s of load`,
    );

    const started = performance.now();
    const endAt = started + seconds * 1000;
    // V8 grows its heap to a steady size over the first several thousand calls;
    // only RSS after that counts: the first half of the run (at most 30 s),
    // and at least the first WARM_UP_CALLS calls.
    const warmUpUntil = started + Math.min(30_000, seconds * 1000 * 0.5);
    const totalCalls = () => Object.values(calls).reduce((a, b) => a + b, 0);
    const samples: { at: number; rss: number; heapTotal: number }[] = [];
    let heapLiveStart: number | undefined;
    let heapLiveEnd: number | undefined;
    const hardEndAt = started + Math.max(seconds, options.maxSeconds ?? seconds) * 1000;
    const running = () => {
      const now = performance.now();
      return now < endAt || (now < hardEndAt && samples.length < MIN_SAMPLES);
    };

    const shared = createGreeterClient(server.address);
    const check = (name: string, expected: string) => {
      if (name !== expected) {
        throw new Error(`Wrong reply ${JSON.stringify(name)}, expected ${JSON.stringify(expected)}`);
      }
    };

    const unaryWorker = async (id: number) => {
      for (let i = 0; running(); i++) {
        try {
          check((await shared.sayHello({ name: `u${id}-${i}` }, { timeout: 10_000 })).name, greet(`u${id}-${i}`));
          calls.unary++;
        } catch (error) {
          fail(error);
          await sleep(10);
        }
      }
    };

    const streamingWorker = async () => {
      for (let i = 0; running(); i++) {
        try {
          let n = 0;
          for await (const reply of shared.lotsOfReplies({ name: `r${i}`, count: 50 }, { timeout: 10_000 })) {
            check(reply.name, greet(`r${i}`));
            n++;
          }
          if (n !== 50) throw new Error(`LotsOfReplies gave ${n} replies, expected 50`);
          calls.serverStreaming++;
          const names = Array.from({ length: 20 }, (_, k) => ({ name: `g${k}` }));
          check(
            (await shared.lotsOfGreetings(names, { timeout: 10_000 })).name,
            greet(names.map((x) => x.name).join(", ")),
          );
          calls.clientStreaming++;
          let m = 0;
          for await (const reply of shared.bidiHello(names, { timeout: 10_000 })) {
            check(reply.name, greet(names[m++]!.name));
          }
          if (m !== 20) throw new Error(`BidiHello gave ${m} replies, expected 20`);
          calls.bidi++;
        } catch (error) {
          fail(error);
          await sleep(10);
        }
      }
    };

    const churner = async () => {
      while (running()) {
        let client: GreeterClient | undefined;
        try {
          client = createGreeterClient(server.address);
          connections++;
          for (let i = 0; i < callsPerConnection; i++) {
            if (i % 5 === 4) {
              let n = 0;
              for await (const _ of client.lotsOfReplies({ name: "c", count: 3 }, { timeout: 10_000 })) n++;
              if (n !== 3) throw new Error(`LotsOfReplies gave ${n} replies, expected 3`);
            } else {
              check((await client.sayHello({ name: `c${i}` }, { timeout: 10_000 })).name, greet(`c${i}`));
            }
            calls.churned++;
          }
        } catch (error) {
          fail(error);
          await sleep(10);
        } finally {
          client?.close();
        }
      }
    };

    const sampler = async () => {
      while (running()) {
        await sleep(250);
        const now = performance.now();
        try {
          const rss = await server.rssBytes();
          fdPeak = Math.max(fdPeak, await server.openFds());
          if (now >= warmUpUntil && totalCalls() >= WARM_UP_CALLS) {
            const heapTotal = (await inspector!.heap()).total;
            heapLiveStart ??= (await inspector!.heapAfterGc()).used;
            samples.push({ at: now, rss, heapTotal });
          }
        } catch (error) {
          fail(new Error(`Cannot sample the server (did it exit?): ${(error as Error).message}`));
          return;
        }
      }
      // The workers are finishing their last calls: still under load.
      if (heapLiveStart !== undefined) heapLiveEnd = (await inspector!.heapAfterGc()).used;
    };

    let lastReport = started;
    const reporter = async () => {
      while (running()) {
        await sleep(500);
        if (performance.now() - lastReport >= 5000) {
          lastReport = performance.now();
          const elapsed = (lastReport - started) / 1000;
          const total = Object.values(calls).reduce((a, b) => a + b, 0);
          log(
            `soak: ${elapsed.toFixed(0)}s ${total} calls, ${connections} connections, ${errors} errors, ` +
              `RSS ${((await server.rssBytes()) / MiB).toFixed(1)} MiB, ${(await server.openFds())} fds`,
          );
        }
      }
    };

    await Promise.all([
      ...Array.from({ length: unaryWorkers }, (_, id) => unaryWorker(id)),
      streamingWorker(),
      streamingWorker(),
      churner(),
      sampler(),
      reporter(),
    ]);
    shared.close();
    const elapsedSeconds = (performance.now() - started) / 1000;

    // Every client is closed: the server's connections should all go away.
    let fdAfter = await server.openFds();
    for (let waited = 0; fdAfter > fdBaseline && waited < 5000; waited += 100) {
      await sleep(100);
      fdAfter = await server.openFds();
    }

    const third = Math.max(1, Math.floor(samples.length / 3));
    const rssMiB = samples.map((s) => s.rss / MiB);
    const heapTotalMiB = samples.map((s) => s.heapTotal / MiB);
    const nativeMiB = samples.map((s) => (s.rss - s.heapTotal) / MiB);
    const nativeFirstThirdMiB = mean(nativeMiB.slice(0, third));
    const nativeLastThirdMiB = mean(nativeMiB.slice(nativeMiB.length - third));
    const nativeGrowthMiB = nativeLastThirdMiB - nativeFirstThirdMiB;
    const heapLiveStartMiB = (heapLiveStart ?? NaN) / MiB;
    const heapLiveEndMiB = (heapLiveEnd ?? NaN) / MiB;
    const heapGrowthMiB = heapLiveEndMiB - heapLiveStartMiB;

    if (errors > 0) failures.push(`${errors} calls failed, first: ${firstErrors[0]}`);
    if (samples.length < MIN_SAMPLES) {
      failures.push(`only ${samples.length} RSS samples after warm-up; run longer`);
    }
    if (!(heapGrowthMiB <= maxHeapGrowthMiB)) {
      failures.push(`the live JS heap grew ${heapGrowthMiB.toFixed(1)} MiB over the run (bound ${maxHeapGrowthMiB})`);
    }
    if (nativeGrowthMiB > maxNativeGrowthMiB) {
      failures.push(
        `RSS outside the JS heap grew ${nativeGrowthMiB.toFixed(1)} MiB between the first and last third ` +
          `(bound ${maxNativeGrowthMiB})`,
      );
    }
    if (fdAfter > fdBaseline) {
      failures.push(`${fdAfter - fdBaseline} fds leaked (${fdBaseline} idle, ${fdAfter} after)`);
    }
    if (calls.unary === 0 || calls.bidi === 0 || connections === 0) failures.push("some kind of load never ran");

    return {
      pass: failures.length === 0,
      failures,
      seconds: elapsedSeconds,
      calls,
      connections,
      errors,
      firstErrors,
      rssMiB,
      heapTotalMiB,
      heapLiveStartMiB,
      heapLiveEndMiB,
      heapGrowthMiB,
      maxHeapGrowthMiB,
      nativeFirstThirdMiB,
      nativeLastThirdMiB,
      nativeGrowthMiB,
      maxNativeGrowthMiB,
      fdBaseline,
      fdPeak,
      fdAfter,
    };
  } finally {
    // A Deno process waits for an open inspector session before it exits.
    await inspector?.close();
    const status = await server.stop();
    if (!status.success) failures.push(`server exited with code ${status.code} (signal ${status.signal})`);
  }
}

/**
 * Prints a soak's figures.
 *
 * @param result What {@linkcode runSoak} returned.
 * @returns The lines.
 */
export function formatSoak(result: SoakResult): string[] {
  const total = Object.values(result.calls).reduce((a, b) => a + b, 0);
  const c = result.calls;
  return [
    `calls: ${total} in ${result.seconds.toFixed(1)}s (${(total / result.seconds).toFixed(0)}/s): ` +
    `${c.unary} unary, ${c.serverStreaming} server-streaming (50 replies), ${c.clientStreaming} client-streaming ` +
    `(20 requests), ${c.bidi} bidi (20+20), ${c.churned} on ${result.connections} short-lived connections`,
    `errors: ${result.errors}${result.firstErrors.length ? ` (${result.firstErrors.join("; ")})` : ""}`,
    `live JS heap after a full collection: ${result.heapLiveStartMiB.toFixed(1)} MiB after warm-up, ` +
    `${result.heapLiveEndMiB.toFixed(1)} MiB at the end, growth ${result.heapGrowthMiB.toFixed(1)} MiB ` +
    `(bound ${result.maxHeapGrowthMiB} MiB)`,
    `RSS outside the JS heap: first third ${result.nativeFirstThirdMiB.toFixed(1)} MiB, last third ${
      result.nativeLastThirdMiB.toFixed(1)
    } MiB, growth ${result.nativeGrowthMiB.toFixed(1)} MiB (bound ${result.maxNativeGrowthMiB} MiB)`,
    `RSS: min ${min(result.rssMiB)}, max ${max(result.rssMiB)} MiB; committed JS heap: min ${
      min(result.heapTotalMiB)
    }, max ${max(result.heapTotalMiB)} MiB; ${result.rssMiB.length} samples`,
    `fds: ${result.fdBaseline} idle, ${result.fdPeak} peak, ${result.fdAfter} after every client closed`,
    result.pass ? "soak: PASS" : `soak: FAIL: ${result.failures.join("; ")}`,
  ];
}

const HELP = `Soak the Greeter server: mixed load against a server child process.

Usage: deno task soak [options]

Options:
  --seconds <n>                how long the load runs (default 60)
  --max-heap-growth-mib <n>    growth allowed of the live JS heap (after a
                               forced full collection) over the run (default 2)
  --max-native-growth-mib <n>  growth allowed of RSS outside the JS heap
                               between the first and last third (default 16)
  --help                       show this help

Exits 0 when it passes, 1 when it fails, 2 when the flags are wrong.`;

/**
 * The `deno task soak` command line.
 *
 * @param args The command-line arguments.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  const values = parseFlags(args, {
    seconds: { type: "string", default: "60" },
    "max-heap-growth-mib": { type: "string", default: "2" },
    "max-native-growth-mib": { type: "string", default: "16" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 86_400) {
    console.error(`--seconds must be a number from 1 to 86400, got '${values.seconds}'`);
    return 2;
  }
  const bounds: number[] = [];
  for (const flag of ["max-heap-growth-mib", "max-native-growth-mib"] as const) {
    const bound = Number(values[flag]);
    if (!Number.isFinite(bound) || bound <= 0) {
      console.error(`--${flag} must be a positive number, got '${values[flag]}'`);
      return 2;
    }
    bounds.push(bound);
  }
  const result = await runSoak({
    seconds,
    maxHeapGrowthMiB: bounds[0],
    maxNativeGrowthMiB: bounds[1],
  });
  for (const line of formatSoak(result)) console.log(line);
  return result.pass ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    exitWithError(error);
  }
}
