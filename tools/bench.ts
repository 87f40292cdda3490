/**
 * `deno task bench`: a ghz-like load generator on our client
 * ({@linkcode createGreeterClient}), for any of the four RPC kinds.
 *
 * Without `--address` it serves the Greeter in-process on 127.0.0.1:0 and
 * says so: client and server then share one process and its CPU.
 *
 * @module
 */
import { createGreeterClient, type GreeterClient } from "../client.ts";
import { createGreeterServer, type GreeterServer } from "../server.ts";
import { GrpcError, statusName } from "../src/errors.ts";
import { exitWithError, parseFlags, UsageError } from "../src/_cli.ts";

const HELP = `Load-test a Greeter server through our client (createGreeterClient), ghz-style.

Usage: deno task bench [options]

Options:
  --rpc <kind>          hello (SayHello, default), replies (LotsOfReplies),
                        greetings (LotsOfGreetings) or bidi (BidiHello)
  --address <host:port> the server to load; default: serve the Greeter
                        in-process on 127.0.0.1:0 (said on stderr)
  --concurrency <n>     calls in flight (default 50)
  --connections <n>     HTTP/2 connections, calls spread over them (default 1)
  --requests <n>        calls to make in all (default 200, unless --duration)
  --duration <time>     make calls for this long instead, e.g. 10s, 500ms, 1m
  --count <n>           messages per streaming call (default 10)
  --name <name>         the name to send (default zzz)
  --timeout <ms>        deadline of each call (default 20000)
  --json                print the report as JSON on stdout
  --help                show this help

Shows a progress line on stderr while running, then the report: total,
req/s, average/fastest/slowest, percentiles, a latency histogram and the
count per status code. Exit code 2 for bad flags, 1 when no call succeeded.`;

const RPC_KINDS = ["hello", "replies", "greetings", "bidi"] as const;
type RpcKind = typeof RPC_KINDS[number];

/** The settings of one bench run. */
export interface BenchOptions {
  /** Which RPC to call. */
  rpc: RpcKind;
  /** `host:port` of the server. */
  address: string;
  /** Calls in flight. */
  concurrency: number;
  /** HTTP/2 connections. */
  connections: number;
  /** Calls to make, when no duration is given. */
  requests?: number;
  /** How long to make calls, in ms. */
  durationMs?: number;
  /** Messages per streaming call. */
  count: number;
  /** The name sent. */
  name: string;
  /** Deadline of each call, in ms. */
  timeoutMs: number;
  /** Called about every 200 ms with the calls finished so far. */
  onProgress?: (done: number, elapsedMs: number) => void;
}

/** What a bench run measured. */
export interface BenchReport {
  /** The RPC. */
  rpc: RpcKind;
  /** The server's address. */
  address: string;
  /** Calls in flight. */
  concurrency: number;
  /** HTTP/2 connections. */
  connections: number;
  /** Calls made. */
  total: number;
  /** Wall time, ms. */
  totalMs: number;
  /** Calls per second. */
  rps: number;
  /** Messages per second (requests sent plus responses received). */
  messagesPerSecond: number;
  /** Latencies in ms. */
  averageMs: number;
  /** The fastest call, ms. */
  fastestMs: number;
  /** The slowest call, ms. */
  slowestMs: number;
  /** Latency percentiles, ms. */
  percentiles: {
    p10: number;
    p25: number;
    p50: number;
    p75: number;
    p90: number;
    p95: number;
    p99: number;
    p999: number;
  };
  /** Latency histogram: bucket upper bound (ms) and count. */
  histogram: { mark: number; count: number }[];
  /** Calls per final status name ("OK", "UNAVAILABLE", ...). */
  statusCounts: Record<string, number>;
  /** One example message per failing status. */
  errors: Record<string, string>;
}

function statusOf(error: unknown): string {
  if (error instanceof GrpcError) return statusName(error.code);
  return error instanceof Error ? error.name : "ERROR";
}

/**
 * Runs the load and measures it.
 *
 * @param options What to call, how hard and for how long.
 * @returns The report.
 */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const clients: GreeterClient[] = [];
  for (let i = 0; i < options.connections; i++) {
    // A local subchannel pool per client: otherwise grpc-js shares one connection.
    clients.push(createGreeterClient(options.address, { channelOptions: { "grpc.use_local_subchannel_pool": 1 } }));
  }
  const { rpc, count, name, timeoutMs } = options;
  const names = Array.from({ length: count }, () => ({ name }));
  const call = async (client: GreeterClient): Promise<number> => {
    const callOptions = { timeout: timeoutMs };
    switch (rpc) {
      case "hello":
        await client.sayHello({ name }, callOptions);
        return 2;
      case "replies": {
        let n = 0;
        for await (const _ of client.lotsOfReplies({ name, count }, callOptions)) n++;
        return n + 1;
      }
      case "greetings":
        await client.lotsOfGreetings(names, callOptions);
        return count + 1;
      case "bidi": {
        let n = 0;
        for await (const _ of client.bidiHello(names, callOptions)) n++;
        return n + count;
      }
    }
  };

  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const errors: Record<string, string> = {};
  let messages = 0;
  let started = 0;
  const start = performance.now();
  const stopAt = options.durationMs === undefined ? Infinity : start + options.durationMs;
  const budget = options.durationMs === undefined ? options.requests ?? 200 : Infinity;
  const progress = setInterval(() => options.onProgress?.(latencies.length, performance.now() - start), 200);

  async function worker(index: number): Promise<void> {
    const client = clients[index % clients.length]!;
    while (started < budget && performance.now() < stopAt) {
      started++;
      const t0 = performance.now();
      let status = "OK";
      try {
        // Not `messages += await ...`: that would read `messages` before the await.
        const sent = await call(client);
        messages += sent;
      } catch (error) {
        status = statusOf(error);
        errors[status] ??= error instanceof Error ? error.message : String(error);
      }
      latencies.push(performance.now() - t0);
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
    }
  }

  try {
    await Promise.all(Array.from({ length: options.concurrency }, (_, i) => worker(i)));
  } finally {
    clearInterval(progress);
    for (const client of clients) client.close();
  }
  const totalMs = performance.now() - start;
  options.onProgress?.(latencies.length, totalMs);

  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : NaN;
  const fastestMs = sorted.length ? sorted[0]! : NaN;
  const slowestMs = sorted.length ? sorted[sorted.length - 1]! : NaN;
  const buckets = 10;
  const step = (slowestMs - fastestMs) / buckets;
  const histogram = Array.from({ length: buckets + 1 }, (_, i) => ({ mark: fastestMs + step * i, count: 0 }));
  for (const latency of sorted) {
    const i = step > 0 ? Math.min(buckets, Math.ceil((latency - fastestMs) / step)) : 0;
    histogram[i]!.count++;
  }
  return {
    rpc,
    address: options.address,
    concurrency: options.concurrency,
    connections: options.connections,
    total: sorted.length,
    totalMs,
    rps: sorted.length / (totalMs / 1000),
    messagesPerSecond: messages / (totalMs / 1000),
    averageMs: sorted.length ? latencies.reduce((a, b) => a + b, 0) / sorted.length : NaN,
    fastestMs,
    slowestMs,
    percentiles: {
      p10: at(0.1),
      p25: at(0.25),
      p50: at(0.5),
      p75: at(0.75),
      p90: at(0.9),
      p95: at(0.95),
      p99: at(0.99),
      p999: at(0.999),
    },
    histogram: step > 0 ? histogram : histogram.slice(0, 1),
    statusCounts,
    errors,
  };
}

function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}

/**
 * The report as ghz prints it.
 *
 * @param report A bench report.
 * @returns Lines of text.
 */
export function formatReport(report: BenchReport): string {
  const lines = [
    "Summary:",
    `  RPC:          ${report.rpc}`,
    `  Address:      ${report.address}`,
    `  Concurrency:  ${report.concurrency} in flight over ${report.connections} connection(s)`,
    `  Count:        ${report.total}`,
    `  Total:        ${ms(report.totalMs)}`,
    `  Slowest:      ${ms(report.slowestMs)}`,
    `  Fastest:      ${ms(report.fastestMs)}`,
    `  Average:      ${ms(report.averageMs)}`,
    `  Requests/sec: ${report.rps.toFixed(2)}`,
  ];
  if (report.rpc !== "hello") lines.push(`  Messages/sec: ${report.messagesPerSecond.toFixed(2)}`);
  lines.push("", "Response time histogram:");
  const most = Math.max(1, ...report.histogram.map((b) => b.count));
  const marks = report.histogram.map((b) => b.mark.toFixed(3));
  const counts = report.histogram.map((b) => `[${b.count}]`);
  const markWidth = Math.max(...marks.map((m) => m.length));
  const countWidth = Math.max(...counts.map((c) => c.length));
  report.histogram.forEach((bucket, i) => {
    const bar = "∎".repeat(Math.round((bucket.count / most) * 40));
    lines.push(`  ${marks[i]!.padStart(markWidth)} [ms] ${counts[i]!.padEnd(countWidth)} |${bar}`);
  });
  const p = report.percentiles;
  lines.push(
    "",
    "Latency distribution:",
    ...([["10", p.p10], ["25", p.p25], ["50", p.p50], ["75", p.p75], ["90", p.p90], ["95", p.p95], [
      "99",
      p.p99,
    ], ["99.9", p.p999]] as const).map(([name, value]) => `  ${name.padStart(4)} % in ${ms(value)}`),
    "",
    "Status code distribution:",
    ...Object.entries(report.statusCounts).sort((a, b) => b[1] - a[1]).map(([status, n]) =>
      `  [${status}]   ${n} responses`
    ),
  );
  const errorLines = Object.entries(report.errors);
  if (errorLines.length) {
    lines.push("", "Error distribution:", ...errorLines.map(([status, message]) => `  [${status}]   ${message}`));
  }
  return lines.join("\n");
}

function positiveInt(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1e9) {
    throw new UsageError(`${flag} must be a positive integer, got '${value}'`);
  }
  return Number(value);
}

/**
 * A duration such as `10s`, `500ms`, `1m` or plain seconds, in ms.
 *
 * @throws {UsageError} When it is not one.
 */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  const n = match ? Number(match[1]) * ({ ms: 1, s: 1000, m: 60_000 }[match[2] ?? "s"] ?? 1000) : NaN;
  if (!match || !(n > 0)) throw new UsageError(`--duration must be a time such as 10s, 500ms or 1m, got '${value}'`);
  return n;
}

/**
 * The `deno task bench` command line.
 *
 * @param args The command-line arguments.
 * @returns The exit code: 0, or 1 when no call succeeded.
 */
export async function main(args: string[]): Promise<number> {
  const values = parseFlags(args, {
    rpc: { type: "string", default: "hello" },
    address: { type: "string" },
    concurrency: { type: "string", default: "50" },
    connections: { type: "string", default: "1" },
    requests: { type: "string" },
    duration: { type: "string" },
    count: { type: "string", default: "10" },
    name: { type: "string", default: "zzz" },
    timeout: { type: "string", default: "20000" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const rpc = values.rpc as RpcKind;
  if (!RPC_KINDS.includes(rpc)) {
    throw new UsageError(`--rpc must be one of ${RPC_KINDS.join(", ")}, got '${values.rpc}'`);
  }
  if (values.requests !== undefined && values.duration !== undefined) {
    throw new UsageError("--requests and --duration exclude each other");
  }
  const concurrency = positiveInt(values.concurrency, "--concurrency");
  const connections = positiveInt(values.connections, "--connections");
  const requests = values.requests === undefined ? undefined : positiveInt(values.requests, "--requests");
  const durationMs = values.duration === undefined ? undefined : parseDuration(values.duration);
  const count = positiveInt(values.count, "--count");
  const timeoutMs = positiveInt(values.timeout, "--timeout");
  if (values.address !== undefined && !/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(values.address)) {
    throw new UsageError(`--address must be host:port, got '${values.address}'`);
  }

  let server: GreeterServer | undefined;
  let address = values.address;
  if (address === undefined) {
    server = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });
    address = server.address;
    console.error(
      `no --address given: serving the Greeter in-process on ${address} (client and server share this process)`,
    );
  }
  const total = requests ?? (durationMs === undefined ? 200 : undefined);
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  let lastLine = 0;
  const onProgress = (done: number, elapsedMs: number) => {
    const target = total === undefined
      ? `${(elapsedMs / 1000).toFixed(1)}s of ${(durationMs! / 1000).toFixed(1)}s`
      : `${done}/${total}`;
    const line = `${target} calls done: ${done}, ${(done / (elapsedMs / 1000) || 0).toFixed(0)} req/s`;
    if (tty) {
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
    } else if (elapsedMs - lastLine >= 1000) {
      lastLine = elapsedMs;
      Deno.stderr.writeSync(encoder.encode(`${line}\n`));
    }
  };
  let report: BenchReport;
  try {
    report = await runBench({
      rpc,
      address,
      concurrency,
      connections,
      requests: total,
      durationMs,
      count,
      name: values.name,
      timeoutMs,
      onProgress,
    });
  } finally {
    if (tty) Deno.stderr.writeSync(encoder.encode("\n"));
    await server?.shutdown();
  }
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return (report.statusCounts.OK ?? 0) > 0 ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    exitWithError(error);
  }
}
