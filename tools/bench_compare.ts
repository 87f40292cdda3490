/**
 * `deno task bench:compare`: our server against its peers, side by side on
 * loopback, driven by h2load in interleaved rounds.
 *
 * Peers (each skipped, saying why, when it cannot start):
 * - `ours`: `server.ts` under this Deno, as `deno task serve` runs it;
 * - `ours-auto`: the same with `--workers auto` (one worker per core);
 * - `grpc-js/deno`: plain grpc-js + proto-loader (`tools/node_peer/server.mjs`) under this Deno;
 * - `grpc-js/node`: the same file under Node, deps installed into `tools/node_peer/node_modules`;
 * - `python`: the tutorial's grpcio server, `tests/peers/greeter_server.py` (10 threads);
 * - with `--ab`, `ours-no-<piece>`: ours with one piece switched off (`src/_bench_off.ts`).
 *
 * The TestService row runs `UnaryCall` with a 1 KiB payload each way against
 * `tools/test_service.ts` (ours), `tools/node_peer/test_service.mjs` (grpc-js
 * + proto-loader on Node) and `tests/peers/test_service_server.py` (Python).
 *
 * How a fair comparison is kept on a small, shared machine: every scenario
 * runs each peer back to back, in an order that rotates and reverses from
 * round to round (so no peer always follows the same one, or the same kind of
 * load); before each run, the tool waits until every peer process is idle
 * (what a previous run left, such as garbage collection or Python's threads,
 * lands on no one else's run); every peer is warmed up on every scenario
 * before the first round; and a ratio is the median of the per-round ratios of
 * two runs made seconds apart, printed with its spread (lowest to highest
 * round). The machine's load from other processes, measured while the peers
 * are idle, is printed too: when it is high, no figure is worth much.
 *
 * @module
 */
import { exitWithError, GRPC_ENV_VARS, parseFlags, UsageError } from "../src/_cli.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const NODE_PEER_DIR = `${ROOT}tools/node_peer`;
const PYTHON = "/usr/bin/python3";
const CLK_TCK = 100;
/** A SayHello response frame for name "zzz": 5-byte prefix + 0a 09 "我是zzz". */
const RESPONSE_FRAME_BYTES = 16;
/** A SimpleResponse frame with a 1024-byte body: prefix, payload tag + length, body tag + length, body. */
const TEST_RESPONSE_FRAME_BYTES = 5 + 3 + 3 + 1024;
const PIECES = ["coalesce", "strict", "drain", "h2cap", "adapters", "listener", "batch"] as const;

const HELP = `Compare our server with plain grpc-js (Deno and Node) and grpcio (Python).

Usage: deno task bench:compare [options]

Options:
  --rounds <n>        interleaved rounds; medians and spreads over them (default 3)
  --duration <s>      seconds of each unary h2load run (default 3)
  --warmup <s>        seconds of load per peer and scenario before round 1 (default 1)
  --count <n>         messages in each streaming run (default 100000)
  --peers <list>      comma-separated subset of ${
  ["ours", "ours-auto", "grpc-js/deno", "grpc-js/node", "python"].join(",")
}
                      and ours-no-{${PIECES.join(",")}}
  --scenarios <list>  comma-separated subset of seq,c128,c128x16,stream,client-stream,bidi,test1k
  --ab                ours against ours with each piece switched off (same as --peers ours,ours-no-...)
  --python-server <path>  the Python server script (default tests/peers/greeter_server.py)
  --json              print the results, every ratio with its spread, as JSON
  --help              show this help

Scenarios: seq = SayHello -c1 -m1; c128 = SayHello 128 in flight on 4 connections (-c4 -m32);
c128x16 = 128 in flight on 16 connections (-c16 -m8, so that the kernel spreads them over workers);
stream / client-stream / bidi = one LotsOfReplies / LotsOfGreetings / BidiHello call of --count messages;
test1k = TestService UnaryCall, 1 KiB payload each way, -c4 -m32.
Needs h2load (Debian: nghttp2-client). Listens on 127.0.0.1 only.`;

const BASE_PEERS = ["ours", "ours-auto", "grpc-js/deno", "grpc-js/node", "python"] as const;
const AB_PEERS = PIECES.map((piece) => `ours-no-${piece}`);
const ALL_SCENARIOS = ["seq", "c128", "c128x16", "stream", "client-stream", "bidi", "test1k"] as const;
type ScenarioName = typeof ALL_SCENARIOS[number];
const DEFAULT_SCENARIOS: ScenarioName[] = ["seq", "c128", "c128x16", "stream", "client-stream", "bidi", "test1k"];

interface Launch {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

interface Peer {
  name: string;
  what: string;
  greeter?: Launch;
  testService?: Launch;
}

/** One measured run. */
interface Run {
  round: number;
  /** Requests (unary) or messages (streams) per second. */
  rate: number;
  p50Us?: number;
  p99Us?: number;
  /** Server CPU per request or message. */
  cpuUs: number;
  /** CPU seconds per worker thread (workers only), highest first. */
  workerCpu?: number[];
  /** Busy fraction of the machine, outside the peers, just before the run. */
  background: number;
  ok: boolean;
  note?: string;
}

/** A file under /proc: Deno grants those only with --allow-all, so `cat` reads it. */
function readProc(path: string): string {
  const { stdout, success } = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" }).outputSync();
  if (!success) throw new Error(`cannot read ${path}`);
  return new TextDecoder().decode(stdout);
}

function statTimes(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / CLK_TCK);
}

/** CPU time (µs) of a process and its threads so far. */
function cpuUs(pid: number): number {
  return statTimes(readProc(`/proc/${pid}/stat`));
}

/** CPU time (µs) of each Web Worker thread ("worker-N") of a process. */
function workerThreadsCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const listing = new Deno.Command("ls", { args: [`/proc/${pid}/task`], stdout: "piped", stderr: "null" }).outputSync();
  const tids = new TextDecoder().decode(listing.stdout).split(/\s+/).filter((tid) => /^\d+$/.test(tid));
  if (tids.length === 0) return out;
  // A thread may end between the two commands: cat then fails on it alone.
  const { stdout } = new Deno.Command("cat", {
    args: tids.map((tid) => `/proc/${pid}/task/${tid}/stat`),
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const name = /^\d+ \((worker-\d+)\)/.exec(line)?.[1];
    if (name) out.set(`${line.split(" ")[0]}`, statTimes(line));
  }
  return out;
}

/** Busy and total jiffies of the whole machine. */
function machineJiffies(): { busy: number; total: number } {
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const cpu = readProc("/proc/stat").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: (total - idle) * (1e6 / CLK_TCK), total: total * (1e6 / CLK_TCK) };
}

function rssMiB(pid: number): number {
  const status = readProc(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function commandWorks(command: string, args: string[], cwd?: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, { args, cwd, stdout: "null", stderr: "null" }).output();
    return success;
  } catch {
    return false;
  }
}

/** A running peer process: its pid and port. */
class Running {
  constructor(readonly child: Deno.ChildProcess, readonly port: number, readonly stderr: () => string) {}
  get pid(): number {
    return this.child.pid;
  }
  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await this.child.status;
    clearTimeout(timer);
  }
}

async function start(name: string, launch: Launch): Promise<Running> {
  const child = new Deno.Command(launch.command, {
    args: launch.args,
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1", ...launch.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream());
  let stderrText = "";
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderrText = (stderrText + chunk).slice(-4000);
    }
  })();
  const reader = lines.getReader();
  let buffered = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) {
        await child.status;
        throw new Error(`${name} exited before listening: ${stderrText.trim().split("\n").pop() ?? ""}`);
      }
      buffered += value;
      const match = /listening on (?:\S*:)?(\d+)\s*$/m.exec(buffered);
      if (match) {
        // Keep draining stdout so that the peer never blocks on a full pipe.
        (async () => {
          while (!(await reader.read()).done) { /* drain */ }
        })();
        return new Running(child, Number(match[1]), () => stderrText);
      }
    }
  } finally {
    clearTimeout(deadline);
  }
}

interface H2loadOutput {
  seconds: number;
  reqPerSec: number;
  succeeded: number;
  failed: number;
  dataBytes: number;
}

async function h2load(args: string[]): Promise<H2loadOutput> {
  const { stdout, stderr, success } = await new Deno.Command("h2load", { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(stdout);
  if (!success) throw new Error(`h2load failed: ${new TextDecoder().decode(stderr).trim() || text.trim()}`);
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(text);
  const requests = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
    text,
  );
  const traffic = /\((\d+)\) data/.exec(text);
  if (!finished || !requests || !traffic) throw new Error(`cannot read h2load output:\n${text}`);
  return {
    seconds: Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1),
    reqPerSec: Number(finished[3]),
    succeeded: Number(requests[1]),
    failed: Number(requests[2]) + Number(requests[3]),
    dataBytes: Number(traffic[1]),
  };
}

const GRPC_HEADERS = ["-H", "content-type: application/grpc", "-H", "te: trailers"];

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** One gRPC frame: flag, 4-byte length, message. */
function frame(message: number[]): Uint8Array {
  const n = message.length;
  return new Uint8Array([0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...message]);
}

const ZZZ = [0x0a, 3, 0x7a, 0x7a, 0x7a];

/** SimpleRequest { response_size: 1024, payload: { body: 1024 zero bytes } }. */
function simpleRequest1k(): number[] {
  const body = [0x12, ...varint(1024), ...new Array<number>(1024).fill(0)];
  return [0x10, ...varint(1024), 0x1a, ...varint(body.length), ...body];
}

interface Scenario {
  name: ScenarioName;
  service: "greeter" | "testService";
  /** Runs it once against a peer. */
  run(peer: Running, tmp: string, seconds: number): Promise<Omit<Run, "round" | "background">>;
}

/** Samples CPU of the server, and of its worker threads, around `work`. */
async function measured<T>(pid: number, work: () => Promise<T>): Promise<[T, number, number[] | undefined]> {
  const threadsBefore = workerThreadsCpu(pid);
  const before = cpuUs(pid);
  const result = await work();
  const cpu = cpuUs(pid) - before;
  let perWorker: number[] | undefined;
  if (threadsBefore.size > 0) {
    const after = workerThreadsCpu(pid);
    perWorker = [...after].map(([tid, us]) => (us - (threadsBefore.get(tid) ?? 0)) / 1e6).sort((a, b) => b - a);
  }
  return [result, cpu, perWorker];
}

function unary(
  name: ScenarioName,
  service: Scenario["service"],
  path: string,
  body: string,
  frameBytes: number,
  clients: number,
  streams: number,
): Scenario {
  return {
    name,
    service,
    async run(peer, tmp, seconds) {
      const log = `${tmp}/h2load-${peer.port}-${name}.log`;
      const [out, cpu, workerCpu] = await measured(peer.pid, () =>
        h2load([
          "-D",
          String(seconds),
          `-c${clients}`,
          `-m${streams}`,
          "-d",
          `${tmp}/${body}`,
          ...GRPC_HEADERS,
          `--log-file=${log}`,
          `http://127.0.0.1:${peer.port}${path}`,
        ]));
      const durations = (await Deno.readTextFile(log)).split("\n").filter((line) => line).map((line) =>
        Number(line.split("\t")[2])
      );
      await Deno.remove(log);
      const sorted = new Float64Array(durations).sort();
      const ok = out.failed === 0 && out.dataBytes >= out.succeeded * frameBytes * 0.99;
      return {
        rate: out.reqPerSec,
        p50Us: percentile(sorted, 0.5),
        p99Us: percentile(sorted, 0.99),
        cpuUs: cpu / Math.max(1, out.succeeded),
        workerCpu,
        ok,
        note: ok
          ? undefined
          : `${name}: ${out.failed} failed, ${out.dataBytes} data bytes for ${out.succeeded} responses`,
      };
    },
  };
}

/** One streaming call of `count` messages; `expectBytes` checks the response. */
function streaming(
  name: ScenarioName,
  path: string,
  body: string,
  count: number,
  expectBytes: (bytes: number) => boolean,
): Scenario {
  return {
    name,
    service: "greeter",
    async run(peer, tmp) {
      const [out, cpu] = await measured(
        peer.pid,
        () =>
          h2load([
            "-n1",
            "-c1",
            "-m1",
            "-d",
            `${tmp}/${body}`,
            ...GRPC_HEADERS,
            `http://127.0.0.1:${peer.port}${path}`,
          ]),
      );
      const ok = out.failed === 0 && out.succeeded === 1 && expectBytes(out.dataBytes);
      return {
        rate: count / out.seconds,
        cpuUs: cpu / count,
        ok,
        note: ok ? undefined : `${name}: ${out.dataBytes} response bytes (unimplemented or failed?)`,
      };
    },
  };
}

function scenarios(count: number): Record<ScenarioName, Scenario> {
  return {
    seq: unary("seq", "greeter", "/Greeter/SayHello", "hello.bin", RESPONSE_FRAME_BYTES, 1, 1),
    c128: unary("c128", "greeter", "/Greeter/SayHello", "hello.bin", RESPONSE_FRAME_BYTES, 4, 32),
    c128x16: unary("c128x16", "greeter", "/Greeter/SayHello", "hello.bin", RESPONSE_FRAME_BYTES, 16, 8),
    stream: streaming(
      "stream",
      "/Greeter/LotsOfReplies",
      "replies.bin",
      count,
      (bytes) => bytes === count * RESPONSE_FRAME_BYTES,
    ),
    "client-stream": streaming("client-stream", "/Greeter/LotsOfGreetings", "greetings.bin", count, (b) => b > 5),
    bidi: streaming("bidi", "/Greeter/BidiHello", "greetings.bin", count, (b) => b === count * RESPONSE_FRAME_BYTES),
    test1k: unary(
      "test1k",
      "testService",
      "/grpc.testing.TestService/UnaryCall",
      "simple1k.bin",
      TEST_RESPONSE_FRAME_BYTES,
      4,
      32,
    ),
  };
}

/**
 * Waits until every peer process is idle (under 3% of a core over 200 ms, at
 * most 3 s), and returns the busy fraction of the whole machine (all cores)
 * outside the peers during the last window.
 */
async function settle(pids: number[]): Promise<number> {
  const deadline = performance.now() + 3000;
  let background = NaN;
  while (true) {
    const peersBefore = pids.reduce((sum, pid) => sum + cpuUs(pid), 0);
    const machineBefore = machineJiffies();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const elapsedUs = (performance.now() - t0) * 1000;
    const peers = pids.reduce((sum, pid) => sum + cpuUs(pid), 0) - peersBefore;
    const machineAfter = machineJiffies();
    const total = machineAfter.total - machineBefore.total;
    background = total > 0 ? Math.max(0, machineAfter.busy - machineBefore.busy - peers) / total : NaN;
    if (peers / elapsedUs < 0.03 || performance.now() > deadline) return background;
  }
}

function fmt(value: number | undefined, digits = 0): string {
  return value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) =>
    row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ")
  )
    .join("\n");
}

/** A ratio: the median of the per-round ratios, and their lowest and highest. */
interface Ratio {
  median: number;
  low: number;
  high: number;
  rounds: number[];
}

function ratioOf(a: Run[], b: Run[], metric: (run: Run) => number | undefined): Ratio | undefined {
  const rounds: number[] = [];
  for (const x of a) {
    const y = b.find((run) => run.round === x.round);
    if (!x.ok || !y?.ok) continue;
    const vx = metric(x), vy = metric(y);
    if (vx === undefined || vy === undefined || !Number.isFinite(vx) || !Number.isFinite(vy) || vy === 0) continue;
    rounds.push(vx / vy);
  }
  if (rounds.length === 0) return undefined;
  return { median: median(rounds), low: Math.min(...rounds), high: Math.max(...rounds), rounds };
}

function fmtRatio(r: Ratio | undefined): string {
  if (!r) return "-";
  return r.rounds.length > 1
    ? `${r.median.toFixed(2)}x (${r.low.toFixed(2)}-${r.high.toFixed(2)})`
    : `${r.median.toFixed(2)}x`;
}

/** The ratio columns: a label, a scenario and a metric. */
const RATIO_COLUMNS: { key: string; scenario: ScenarioName; metric: (run: Run) => number | undefined }[] = [
  { key: "seq req/s", scenario: "seq", metric: (r) => r.rate },
  { key: "seq p50", scenario: "seq", metric: (r) => r.p50Us },
  { key: "seq p99", scenario: "seq", metric: (r) => r.p99Us },
  { key: "128 req/s", scenario: "c128", metric: (r) => r.rate },
  { key: "128 CPU/req", scenario: "c128", metric: (r) => r.cpuUs },
  { key: "128x16 req/s", scenario: "c128x16", metric: (r) => r.rate },
  { key: "stream msg/s", scenario: "stream", metric: (r) => r.rate },
  { key: "stream CPU/msg", scenario: "stream", metric: (r) => r.cpuUs },
  { key: "client-stream msg/s", scenario: "client-stream", metric: (r) => r.rate },
  { key: "client-stream CPU/msg", scenario: "client-stream", metric: (r) => r.cpuUs },
  { key: "bidi msg/s", scenario: "bidi", metric: (r) => r.rate },
  { key: "bidi CPU/msg", scenario: "bidi", metric: (r) => r.cpuUs },
  { key: "test1k req/s", scenario: "test1k", metric: (r) => r.rate },
  { key: "test1k CPU/req", scenario: "test1k", metric: (r) => r.cpuUs },
];

function positiveInt(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`${flag} must be a positive integer, got '${value}'`);
  }
  return Number(value);
}

function list<T extends string>(value: string, allowed: readonly string[], flag: string): T[] {
  const names = value.split(",").map((p) => p.trim()).filter((p) => p);
  for (const name of names) {
    if (!allowed.includes(name)) throw new UsageError(`${flag} takes ${allowed.join(", ")}, got '${name}'`);
  }
  return names as T[];
}

async function nodeVersion(): Promise<string | undefined> {
  try {
    const { stdout, success } = await new Deno.Command("node", { args: ["--version"], stdout: "piped", stderr: "null" })
      .output();
    return success ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The peers by name, each with the servers it can run; the reason when it cannot. */
async function definePeers(names: string[], pythonServer: string, log: (line: string) => void): Promise<Peer[]> {
  // By name, as the tasks run it: the --allow-run list cannot name Deno.execPath().
  const deno = "deno";
  const envFlag = `--allow-env=${GRPC_ENV_VARS.join(",")},GREETER_BENCH_OFF`;
  const denoOurs = (script: string, extra: string[] = [], env?: Record<string, string>): Launch => ({
    command: deno,
    args: ["run", "--allow-net=127.0.0.1", envFlag, script, "--port", "0", ...extra],
    env,
  });
  const peers: Peer[] = [];
  const nodeOk = async (name: string) => {
    const version = await nodeVersion();
    if (!version) {
      log(`skipping ${name}: node is not installed`);
      return undefined;
    }
    if (!await exists(`${NODE_PEER_DIR}/node_modules/@grpc/grpc-js/package.json`)) {
      log("installing tools/node_peer dependencies (npm ci)...");
      if (!await commandWorks("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], NODE_PEER_DIR)) {
        log(`skipping ${name}: \`npm ci\` in tools/node_peer failed`);
        return undefined;
      }
    }
    return version;
  };
  for (const name of names) {
    if (name === "ours") {
      peers.push({
        name,
        what: `server.ts under Deno ${Deno.version.deno}`,
        greeter: denoOurs("server.ts"),
        testService: await exists(`${ROOT}tests/gen/grpc/testing/test.ts`)
          ? denoOurs("tools/test_service.ts")
          : undefined,
      });
    } else if (name === "ours-auto") {
      peers.push({
        name,
        what: `server.ts --workers auto (${navigator.hardwareConcurrency} workers)`,
        greeter: {
          ...denoOurs("server.ts", ["--workers", "auto"]),
          // The workers load their modules at run time, as `deno task serve` lets them.
          args: ["run", "--allow-net=127.0.0.1", "--allow-read=src,proto", envFlag, "server.ts", "--port", "0"]
            .concat(["--workers", "auto"]),
        },
      });
    } else if (name.startsWith("ours-no-")) {
      const piece = name.slice("ours-no-".length);
      peers.push({
        name,
        what: piece === "h2cap" ? "ours without the cap on concurrent streams" : `ours with ${piece} switched off`,
        greeter: denoOurs("server.ts", [], { GREETER_BENCH_OFF: piece }),
      });
    } else if (name === "grpc-js/deno") {
      peers.push({
        name,
        what: `plain grpc-js + proto-loader under Deno ${Deno.version.deno}`,
        greeter: {
          command: deno,
          args: [
            "run",
            "--allow-net=127.0.0.1",
            envFlag,
            "--allow-read=proto/hello.proto",
            "tools/node_peer/server.mjs",
            "--port",
            "0",
          ],
        },
      });
    } else if (name === "grpc-js/node") {
      const version = await nodeOk(name);
      if (!version) continue;
      peers.push({
        name,
        what: `the same plain grpc-js server under Node ${version}, one process`,
        greeter: { command: "node", args: ["tools/node_peer/server.mjs", "--port", "0"] },
        testService: { command: "node", args: ["tools/node_peer/test_service.mjs", "--port", "0"] },
      });
    } else if (name === "python") {
      if (!await exists(`${ROOT}${pythonServer}`) && !await exists(pythonServer)) {
        log(`skipping python: ${pythonServer} not found`);
        continue;
      }
      if (!await commandWorks(PYTHON, ["-c", "import grpc"])) {
        log(`skipping python: ${PYTHON} cannot import grpc (Debian: apt-get install python3-grpcio)`);
        continue;
      }
      peers.push({
        name,
        what: `the tutorial's grpcio server (${pythonServer}, 10 threads)`,
        greeter: { command: PYTHON, args: [pythonServer, "--port", "0", "--workers", "10"] },
        testService: {
          command: PYTHON,
          args: ["tests/peers/test_service_server.py", "--port", "0", "--workers", "10"],
        },
      });
    }
  }
  return peers;
}

/** Rotates, and every other round reverses, the order of the peers. */
function orderFor<T>(items: T[], round: number): T[] {
  const shift = (round - 1) % items.length;
  const rotated = [...items.slice(shift), ...items.slice(0, shift)];
  return round % 2 === 0 ? rotated.reverse() : rotated;
}

/**
 * The `deno task bench:compare` command line.
 *
 * @param args The command-line arguments.
 */
export async function main(args: string[]): Promise<void> {
  const values = parseFlags(args, {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "3" },
    warmup: { type: "string", default: "1" },
    count: { type: "string", default: "100000" },
    peers: { type: "string" },
    scenarios: { type: "string", default: DEFAULT_SCENARIOS.join(",") },
    ab: { type: "boolean", default: false },
    "python-server": { type: "string", default: "tests/peers/greeter_server.py" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const rounds = positiveInt(values.rounds, "--rounds");
  const duration = positiveInt(values.duration, "--duration");
  if (!/^\d+$/.test(values.warmup)) {
    throw new UsageError(`--warmup must be a whole number of seconds, got '${values.warmup}'`);
  }
  const warmup = Number(values.warmup);
  const count = positiveInt(values.count, "--count");
  if (count > 1_000_000) throw new UsageError(`--count must be at most 1000000, got '${values.count}'`);
  const peerNames = list<string>(
    values.peers ?? (values.ab ? ["ours", ...AB_PEERS].join(",") : BASE_PEERS.join(",")),
    [...BASE_PEERS, ...AB_PEERS],
    "--peers",
  );
  const scenarioNames = list<ScenarioName>(values.scenarios, ALL_SCENARIOS, "--scenarios");
  if (!await commandWorks("h2load", ["--version"])) {
    throw new Error("h2load not found: install it (Debian: apt-get install nghttp2-client)");
  }
  const log = (line: string) => console.error(line);
  const peers = await definePeers(peerNames, values["python-server"], log);
  if (peers.length === 0) throw new Error("no peer can run");

  const tmp = await Deno.makeTempDir({ dir: "/tmp", prefix: "greeter-bench-" });
  await Deno.writeFile(`${tmp}/hello.bin`, frame(ZZZ));
  await Deno.writeFile(`${tmp}/replies.bin`, frame([...ZZZ, 0x10, ...varint(count)]));
  const one = frame(ZZZ);
  const greetings = new Uint8Array(one.length * count);
  for (let i = 0; i < count; i++) greetings.set(one, i * one.length);
  await Deno.writeFile(`${tmp}/greetings.bin`, greetings);
  await Deno.writeFile(`${tmp}/simple1k.bin`, frame(simpleRequest1k()));

  const all = scenarios(count);
  const wanted = scenarioNames.map((name) => all[name]);
  const runs = new Map<string, Map<ScenarioName, Run[]>>(peers.map((p) => [p.name, new Map()]));
  const rss = new Map<string, number>();
  const notes: string[] = [];
  const backgrounds: number[] = [];

  try {
    for (const service of ["greeter", "testService"] as const) {
      const mine = wanted.filter((s) => s.service === service);
      if (mine.length === 0) continue;
      const running = new Map<string, Running>();
      // Interrupted, the peers go too.
      const onSignal = () => {
        Promise.all([...running.values()].map((r) => r.stop())).finally(() => Deno.exit(130));
      };
      for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);
      try {
        for (const peer of peers) {
          const launch = peer[service];
          if (!launch) continue;
          try {
            running.set(peer.name, await start(peer.name, launch));
          } catch (error) {
            log(`skipping ${peer.name} (${service}): ${(error as Error).message}`);
          }
        }
        const started = peers.filter((p) => running.has(p.name));
        if (started.length === 0) continue;
        const pids = [...running.values()].map((r) => r.pid);
        log(`${service}: ${started.map((p) => `${p.name} (pid ${running.get(p.name)!.pid})`).join(", ")}`);
        if (warmup > 0) {
          for (const scenario of mine) {
            for (const peer of started) {
              log(`warming up ${peer.name} on ${scenario.name}`);
              await scenario.run(running.get(peer.name)!, tmp, warmup);
            }
          }
        }
        for (let round = 1; round <= rounds; round++) {
          for (const scenario of mine) {
            for (const peer of orderFor(started, round)) {
              const run = running.get(peer.name)!;
              const background = await settle(pids);
              backgrounds.push(background);
              let result;
              try {
                result = await scenario.run(run, tmp, duration);
              } catch (error) {
                throw new Error(
                  `${peer.name}: ${(error as Error).message}; its stderr ends: ${run.stderr().slice(-1500)}`,
                );
              }
              if (result.note) notes.push(`${peer.name}: ${result.note}`);
              const byScenario = runs.get(peer.name)!;
              if (!byScenario.has(scenario.name)) byScenario.set(scenario.name, []);
              byScenario.get(scenario.name)!.push({ ...result, round, background });
              const workers = result.workerCpu
                ? `, CPU s per worker ${result.workerCpu.map((s) => s.toFixed(2)).join("/")}`
                : "";
              log(
                `round ${round}/${rounds} ${scenario.name} ${peer.name}: ${fmt(result.rate)}/s, ` +
                  `${fmt(result.cpuUs, 1)} µs CPU each${workers} (background ${(background * 100).toFixed(0)}%)`,
              );
            }
          }
        }
        if (service === "greeter") {
          for (const peer of started) rss.set(peer.name, rssMiB(running.get(peer.name)!.pid));
        }
      } finally {
        await Promise.all([...running.values()].map((r) => r.stop()));
        for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(signal, onSignal);
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }

  const cpuModel = /model name\s*:\s*(.*)/.exec((() => {
    try {
      return readProc("/proc/cpuinfo");
    } catch {
      return "";
    }
  })())?.[1] ?? "unknown CPU";
  const date = new Date().toISOString();
  const header = `bench:compare ${date} on ${cpuModel} (${navigator.hardwareConcurrency} cores), Deno ` +
    `${Deno.version.deno}; ${rounds} rounds, ${duration}s unary runs, ${count}-message streams; medians; ` +
    `machine busy outside the peers between runs: median ${(median(backgrounds) * 100).toFixed(0)}%, ` +
    `highest ${(Math.max(...backgrounds) * 100).toFixed(0)}%`;

  const summary = (name: string, scenario: ScenarioName, metric: (run: Run) => number | undefined) =>
    median((runs.get(name)?.get(scenario) ?? []).filter((r) => r.ok).map((r) => metric(r) ?? NaN));
  const workerSpread = (name: string, scenario: ScenarioName): string | undefined => {
    const list = (runs.get(name)?.get(scenario) ?? []).filter((r) => r.workerCpu && r.workerCpu.length > 0);
    if (list.length === 0) return undefined;
    return list.map((r) => r.workerCpu!.map((s) => s.toFixed(2)).join("/")).join(", ");
  };

  // Reference rows: ours against each other peer; ours-auto against the others; ours against each A/B variant.
  const names = peers.map((p) => p.name).filter((name) => runs.get(name)!.size > 0);
  const pairs: [string, string][] = [];
  const others = names.filter((n) => !n.startsWith("ours"));
  if (names.includes("ours")) {
    for (const n of names) if (n !== "ours") pairs.push(["ours", n]);
  }
  if (names.includes("ours-auto")) { for (const n of others) pairs.push(["ours-auto", n]); }
  const ratios: Record<string, Record<string, Ratio>> = {};
  for (const [a, b] of pairs) {
    const entry: Record<string, Ratio> = {};
    for (const column of RATIO_COLUMNS) {
      const r = ratioOf(
        runs.get(a)!.get(column.scenario) ?? [],
        runs.get(b)!.get(column.scenario) ?? [],
        column.metric,
      );
      if (r) entry[column.key] = r;
    }
    ratios[`${a} / ${b}`] = entry;
  }

  if (values.json) {
    const peersOut = names.map((name) => ({
      name,
      what: peers.find((p) => p.name === name)!.what,
      rssMiB: rss.get(name),
      medians: Object.fromEntries(
        [...runs.get(name)!].map(([scenario, list]) => [scenario, {
          rate: median(list.filter((r) => r.ok).map((r) => r.rate)),
          p50Us: median(list.filter((r) => r.ok).map((r) => r.p50Us ?? NaN)),
          p99Us: median(list.filter((r) => r.ok).map((r) => r.p99Us ?? NaN)),
          cpuUs: median(list.filter((r) => r.ok).map((r) => r.cpuUs)),
        }]),
      ),
      runs: Object.fromEntries(runs.get(name)!),
    }));
    console.log(JSON.stringify(
      { header, date, cpu: cpuModel, rounds, duration, count, backgrounds, peers: peersOut, ratios, notes },
      null,
      2,
    ));
    return;
  }

  const rows: string[][] = [[
    "peer",
    "seq req/s",
    "seq p50 µs",
    "seq p99 µs",
    "128 req/s",
    "128 p99 µs",
    "CPU µs/req",
    "128x16 req/s",
    "stream msg/s",
    "µs/msg",
    "cstream msg/s",
    "bidi msg/s",
    "1k req/s",
    "1k µs/req",
    "RSS MiB",
  ]];
  for (const name of names) {
    rows.push([
      name,
      fmt(summary(name, "seq", (r) => r.rate)),
      fmt(summary(name, "seq", (r) => r.p50Us)),
      fmt(summary(name, "seq", (r) => r.p99Us)),
      fmt(summary(name, "c128", (r) => r.rate)),
      fmt(summary(name, "c128", (r) => r.p99Us)),
      fmt(summary(name, "c128", (r) => r.cpuUs), 1),
      fmt(summary(name, "c128x16", (r) => r.rate)),
      fmt(summary(name, "stream", (r) => r.rate)),
      fmt(summary(name, "stream", (r) => r.cpuUs), 2),
      fmt(summary(name, "client-stream", (r) => r.rate)),
      fmt(summary(name, "bidi", (r) => r.rate)),
      fmt(summary(name, "test1k", (r) => r.rate)),
      fmt(summary(name, "test1k", (r) => r.cpuUs), 1),
      fmt(rss.get(name), 1),
    ]);
  }
  const lines = [header, "", table(rows), ""];
  const usedColumns = RATIO_COLUMNS.filter((c) => Object.values(ratios).some((entry) => entry[c.key]));
  if (pairs.length > 0 && usedColumns.length > 0) {
    lines.push("ratios: median of the per-round ratios (lowest-highest round); CPU and latency: lower is better");
    const ratioRows: string[][] = [["", ...usedColumns.map((c) => c.key)]];
    for (const [key, entry] of Object.entries(ratios)) {
      ratioRows.push([key, ...usedColumns.map((c) => fmtRatio(entry[c.key]))]);
    }
    lines.push(table(ratioRows), "");
  }
  for (const name of names) {
    const spread = workerSpread(name, "c128x16");
    lines.push(
      `${name}: ${peers.find((p) => p.name === name)!.what}` +
        (spread ? `; CPU seconds per worker in each c128x16 run: ${spread}` : ""),
    );
  }
  if (notes.length > 0) lines.push("", "failed runs (left out):", ...new Set(notes));
  console.log(lines.join("\n"));
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
