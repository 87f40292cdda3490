/**
 * `deno task bench:compare`: our Greeter server against its peers, side by
 * side on loopback, driven by h2load in interleaved rounds.
 *
 * Peers (each skipped, saying why, when it cannot start):
 * - `ours`: `server.ts` under this Deno, as `deno task serve` runs it;
 * - `grpc-js/deno`: plain grpc-js + proto-loader (`tools/node_peer/server.mjs`) under this Deno;
 * - `grpc-js/node`: the same file under Node, deps installed into `tools/node_peer/node_modules`;
 * - `python`: the tutorial's grpcio server, `tests/peers/greeter_server.py` (10 threads).
 *
 * Each round runs, for every peer in turn: SayHello sequentially (`-c1 -m1`),
 * SayHello with 128 in flight (`-c4 -m32`), and one long LotsOfReplies stream.
 * The table shows medians over the rounds. CPU per request comes from the
 * server process's `/proc/<pid>/stat` utime+stime; RSS from `/proc/<pid>/status`
 * at the end.
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

const HELP = `Compare our Greeter server with plain grpc-js (Deno and Node) and grpcio (Python).

Usage: deno task bench:compare [options]

Options:
  --rounds <n>        interleaved rounds, medians reported (default 3)
  --duration <s>      seconds of each unary h2load run (default 3)
  --warmup <s>        seconds of unwarmed load per peer before round 1 (default 2)
  --count <n>         replies in the long LotsOfReplies stream (default 100000)
  --peers <list>      comma-separated subset of ours,grpc-js/deno,grpc-js/node,python
  --python-server <path>  the Python server script (default tests/peers/greeter_server.py)
  --json              print the results as JSON instead of the table
  --help              show this help

Needs h2load (Debian: nghttp2-client). Listens on 127.0.0.1 only.`;

const ALL_PEERS = ["ours", "grpc-js/deno", "grpc-js/node", "python"] as const;
type PeerName = typeof ALL_PEERS[number];

interface Peer {
  name: PeerName;
  what: string;
  command: string;
  args: string[];
}

interface RunResult {
  reqPerSec: number;
  p50Us: number;
  p99Us: number;
  cpuUsPerReq: number;
  ok: boolean;
  note?: string;
}

interface StreamResult {
  msgsPerSec: number;
  cpuUsPerMsg: number;
  ok: boolean;
  note?: string;
}

interface PeerResults {
  name: PeerName;
  what: string;
  sequential: RunResult[];
  concurrent: RunResult[];
  stream: StreamResult[];
  rssMiB?: number;
  requestsServed: number;
}

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

/** A file under /proc: Deno grants those only with --allow-all, so `cat` reads it. */
function readProc(path: string): string {
  const { stdout, success } = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" }).outputSync();
  if (!success) throw new Error(`cannot read ${path}`);
  return new TextDecoder().decode(stdout);
}

/** CPU time (µs) of a process and its threads so far. */
function cpuUs(pid: number): number {
  const stat = readProc(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / CLK_TCK);
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

/** A running peer: its pid and port. */
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
    }, 3000);
    await this.child.status;
    clearTimeout(timer);
  }
}

async function start(peer: Peer): Promise<Running> {
  const child = new Deno.Command(peer.command, {
    args: peer.args,
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoderStream();
  const lines = child.stdout.pipeThrough(decoder);
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
        throw new Error(`${peer.name} exited before listening: ${stderrText.trim().split("\n").pop() ?? ""}`);
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

async function unaryRun(
  running: Running,
  tmp: string,
  clients: number,
  streams: number,
  seconds: number,
): Promise<RunResult> {
  const log = `${tmp}/h2load-${running.port}-${clients}x${streams}.log`;
  const before = cpuUs(running.pid);
  const out = await h2load([
    "-D",
    String(seconds),
    `-c${clients}`,
    `-m${streams}`,
    "-d",
    `${tmp}/hello.bin`,
    ...GRPC_HEADERS,
    `--log-file=${log}`,
    `http://127.0.0.1:${running.port}/Greeter/SayHello`,
  ]);
  const cpu = cpuUs(running.pid) - before;
  const durations = (await Deno.readTextFile(log)).split("\n").filter((line) => line).map((line) =>
    Number(line.split("\t")[2])
  );
  await Deno.remove(log);
  const sorted = new Float64Array(durations).sort();
  const ok = out.failed === 0 && out.dataBytes >= out.succeeded * RESPONSE_FRAME_BYTES * 0.99;
  return {
    reqPerSec: out.reqPerSec,
    p50Us: percentile(sorted, 0.5),
    p99Us: percentile(sorted, 0.99),
    cpuUsPerReq: cpu / Math.max(1, out.succeeded),
    ok,
    note: ok ? undefined : `${out.failed} failed, ${out.dataBytes} data bytes for ${out.succeeded} responses`,
  };
}

async function streamRun(running: Running, tmp: string, count: number): Promise<StreamResult> {
  const before = cpuUs(running.pid);
  const out = await h2load([
    "-n1",
    "-c1",
    "-m1",
    "-d",
    `${tmp}/replies.bin`,
    ...GRPC_HEADERS,
    `http://127.0.0.1:${running.port}/Greeter/LotsOfReplies`,
  ]);
  const cpu = cpuUs(running.pid) - before;
  const messages = out.dataBytes / RESPONSE_FRAME_BYTES;
  const ok = messages === count;
  return {
    msgsPerSec: messages / out.seconds,
    cpuUsPerMsg: cpu / Math.max(1, messages),
    ok,
    note: ok ? undefined : `got ${messages} of ${count} replies (unimplemented?)`,
  };
}

function fmt(value: number | undefined, digits = 0): string {
  return value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0
    ? "-"
    : `${(a / b).toFixed(2)}x`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) =>
    row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ")
  )
    .join("\n");
}

interface Summary {
  name: PeerName;
  what: string;
  seqReqPerSec: number;
  seqP50Us: number;
  seqP99Us: number;
  seqCpuUs: number;
  concReqPerSec: number;
  concP50Us: number;
  concP99Us: number;
  concCpuUs: number;
  streamMsgsPerSec: number;
  streamCpuUs: number;
  rssMiB: number | undefined;
  requestsServed: number;
  notes: string[];
}

function summarize(results: PeerResults): Summary {
  const notes = [
    ...new Set([...results.sequential, ...results.concurrent, ...results.stream].flatMap((r) => r.note ?? [])),
  ];
  const okOnly = <T extends { ok: boolean }>(runs: T[]) => runs.filter((r) => r.ok);
  const seq = okOnly(results.sequential);
  const conc = okOnly(results.concurrent);
  const stream = okOnly(results.stream);
  return {
    name: results.name,
    what: results.what,
    seqReqPerSec: median(seq.map((r) => r.reqPerSec)),
    seqP50Us: median(seq.map((r) => r.p50Us)),
    seqP99Us: median(seq.map((r) => r.p99Us)),
    seqCpuUs: median(seq.map((r) => r.cpuUsPerReq)),
    concReqPerSec: median(conc.map((r) => r.reqPerSec)),
    concP50Us: median(conc.map((r) => r.p50Us)),
    concP99Us: median(conc.map((r) => r.p99Us)),
    concCpuUs: median(conc.map((r) => r.cpuUsPerReq)),
    streamMsgsPerSec: median(stream.map((r) => r.msgsPerSec)),
    streamCpuUs: median(stream.map((r) => r.cpuUsPerMsg)),
    rssMiB: results.rssMiB,
    requestsServed: results.requestsServed,
    notes,
  };
}

function report(summaries: Summary[], header: string): string {
  const rows: string[][] = [[
    "peer",
    "seq req/s",
    "seq p50 µs",
    "seq p99 µs",
    "128 req/s",
    "128 p50 µs",
    "128 p99 µs",
    "CPU µs/req",
    "stream msg/s",
    "CPU µs/msg",
    "RSS MiB",
  ]];
  for (const s of summaries) {
    rows.push([
      s.name,
      fmt(s.seqReqPerSec),
      fmt(s.seqP50Us),
      fmt(s.seqP99Us),
      fmt(s.concReqPerSec),
      fmt(s.concP50Us),
      fmt(s.concP99Us),
      fmt(s.concCpuUs, 1),
      fmt(s.streamMsgsPerSec),
      fmt(s.streamCpuUs, 2),
      fmt(s.rssMiB, 1),
    ]);
  }
  const ours = summaries.find((s) => s.name === "ours");
  const lines = [header, "", table(rows), ""];
  if (ours) {
    const ratioRows: string[][] = [["ours vs", "seq req/s", "128 req/s", "CPU/req", "stream msg/s", "RSS"]];
    for (const s of summaries) {
      if (s === ours) continue;
      ratioRows.push([
        s.name,
        ratio(ours.seqReqPerSec, s.seqReqPerSec),
        ratio(ours.concReqPerSec, s.concReqPerSec),
        ratio(ours.concCpuUs, s.concCpuUs),
        ratio(ours.streamMsgsPerSec, s.streamMsgsPerSec),
        ratio(ours.rssMiB, s.rssMiB),
      ]);
    }
    lines.push(table(ratioRows), "");
  }
  for (const s of summaries) {
    lines.push(
      `${s.name}: ${s.what}; ${s.requestsServed} requests served${s.notes.length ? "; " + s.notes.join("; ") : ""}`,
    );
  }
  return lines.join("\n");
}

function positiveInt(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`${flag} must be a positive integer, got '${value}'`);
  }
  return Number(value);
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
    warmup: { type: "string", default: "2" },
    count: { type: "string", default: "100000" },
    peers: { type: "string", default: ALL_PEERS.join(",") },
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
  const warmup = Number(values.warmup);
  if (!/^\d+$/.test(values.warmup)) {
    throw new UsageError(`--warmup must be a whole number of seconds, got '${values.warmup}'`);
  }
  const count = positiveInt(values.count, "--count");
  if (count > 1_000_000) throw new UsageError(`--count must be at most 1000000, got '${values.count}'`);
  const wanted = values.peers.split(",").map((p) => p.trim()).filter((p) => p);
  for (const name of wanted) {
    if (!(ALL_PEERS as readonly string[]).includes(name)) {
      throw new UsageError(`--peers takes ${ALL_PEERS.join(", ")}, got '${name}'`);
    }
  }
  if (!await commandWorks("h2load", ["--version"])) {
    throw new Error("h2load not found: install it (Debian: apt-get install nghttp2-client)");
  }
  const log = (line: string) => console.error(line);

  // By name, as the tasks run it: the --allow-run list cannot name Deno.execPath().
  const deno = "deno";
  const envFlag = `--allow-env=${GRPC_ENV_VARS.join(",")}`;
  const peers: Peer[] = [];
  for (const name of wanted as PeerName[]) {
    switch (name) {
      case "ours":
        peers.push({
          name,
          what: `server.ts under Deno ${Deno.version.deno}`,
          command: deno,
          args: ["run", "--allow-net=127.0.0.1", envFlag, "server.ts", "--port", "0"],
        });
        break;
      case "grpc-js/deno":
        peers.push({
          name,
          what: `plain grpc-js + proto-loader under Deno ${Deno.version.deno}`,
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
        });
        break;
      case "grpc-js/node": {
        const version = await nodeVersion();
        if (!version) {
          log("skipping grpc-js/node: node is not installed");
          break;
        }
        if (!await exists(`${NODE_PEER_DIR}/node_modules/@grpc/grpc-js/package.json`)) {
          log("installing tools/node_peer dependencies (npm ci)...");
          if (!await commandWorks("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], NODE_PEER_DIR)) {
            log("skipping grpc-js/node: `npm ci` in tools/node_peer failed");
            break;
          }
        }
        peers.push({
          name,
          what: `the same plain grpc-js server under Node ${version}`,
          command: "node",
          args: ["tools/node_peer/server.mjs", "--port", "0"],
        });
        break;
      }
      case "python": {
        const script = values["python-server"];
        if (!await exists(`${ROOT}${script}`) && !await exists(script)) {
          log(`skipping python: ${script} not found`);
          break;
        }
        if (!await commandWorks(PYTHON, ["-c", "import grpc"])) {
          log(`skipping python: ${PYTHON} cannot import grpc (Debian: apt-get install python3-grpcio)`);
          break;
        }
        peers.push({
          name,
          what: `the tutorial's grpcio server (${script}, 10 threads)`,
          command: PYTHON,
          args: [script, "--port", "0", "--workers", "10"],
        });
        break;
      }
    }
  }
  if (peers.length === 0) throw new Error("no peer can run");

  const tmp = await Deno.makeTempDir({ dir: "/tmp", prefix: "greeter-bench-" });
  await Deno.writeFile(`${tmp}/hello.bin`, frame(ZZZ));
  await Deno.writeFile(`${tmp}/replies.bin`, frame([...ZZZ, 0x10, ...varint(count)]));

  const running = new Map<PeerName, Running>();
  const results = new Map<PeerName, PeerResults>();
  try {
    for (const peer of peers) {
      try {
        running.set(peer.name, await start(peer));
        results.set(peer.name, {
          name: peer.name,
          what: peer.what,
          sequential: [],
          concurrent: [],
          stream: [],
          requestsServed: 0,
        });
      } catch (error) {
        log(`skipping ${peer.name}: ${(error as Error).message}`);
      }
    }
    const started = peers.filter((p) => running.has(p.name));
    log(`peers: ${started.map((p) => `${p.name} (pid ${running.get(p.name)!.pid})`).join(", ")}`);
    if (warmup > 0) {
      for (const peer of started) {
        log(`warming up ${peer.name} for ${warmup}s`);
        const r = await unaryRun(running.get(peer.name)!, tmp, 4, 32, warmup);
        results.get(peer.name)!.requestsServed += Math.round(r.reqPerSec * warmup);
      }
    }
    for (let round = 1; round <= rounds; round++) {
      for (const peer of started) {
        const run = running.get(peer.name)!;
        const res = results.get(peer.name)!;
        log(`round ${round}/${rounds}: ${peer.name}`);
        let seq, conc, stream;
        try {
          seq = await unaryRun(run, tmp, 1, 1, duration);
          conc = await unaryRun(run, tmp, 4, 32, duration);
          stream = await streamRun(run, tmp, count);
        } catch (error) {
          throw new Error(`${peer.name}: ${(error as Error).message}; its stderr ends: ${run.stderr().slice(-1500)}`);
        }
        res.sequential.push(seq);
        res.concurrent.push(conc);
        res.stream.push(stream);
        res.requestsServed += Math.round((seq.reqPerSec + conc.reqPerSec) * duration);
        log(
          `  seq ${fmt(seq.reqPerSec)} req/s, 128 in flight ${fmt(conc.reqPerSec)} req/s ` +
            `(${fmt(conc.cpuUsPerReq, 1)} µs CPU/req), stream ${fmt(stream.msgsPerSec)} msg/s`,
        );
      }
    }
    for (const peer of started) results.get(peer.name)!.rssMiB = rssMiB(running.get(peer.name)!.pid);
  } finally {
    await Promise.all([...running.values()].map((r) => r.stop()));
    await Deno.remove(tmp, { recursive: true });
  }

  const summaries = [...results.values()].map(summarize);
  const cpuModel = /model name\s*:\s*(.*)/.exec((() => {
    try {
      return readProc("/proc/cpuinfo");
    } catch {
      return "";
    }
  })())?.[1] ??
    "unknown CPU";
  const header = `bench:compare ${new Date().toISOString()} on ${cpuModel} (${navigator.hardwareConcurrency} cores), ` +
    `${rounds} rounds, ${duration}s unary runs, ${count}-reply stream, medians; ` +
    `seq = -c1 -m1, 128 = -c4 -m32, CPU µs/req at 128`;
  if (values.json) {
    console.log(
      JSON.stringify(
        {
          header,
          date: new Date().toISOString(),
          cpu: cpuModel,
          rounds,
          duration,
          count,
          peers: summaries,
          raw: [...results.values()],
        },
        null,
        2,
      ),
    );
  } else {
    console.log(report(summaries, header));
  }
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

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
