/**
 * The Python grpcio peers of `tests/peers/` as subprocesses: a Greeter server
 * to start and stop, and a client to run to completion. Always Debian's
 * `/usr/bin/python3`, the interpreter that has `grpc` and `grpc_tools`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The Python interpreter with grpcio and grpc-tools. */
export const PYTHON = "/usr/bin/python3";

/** The path of a script in `tests/peers/`. */
export function peerScript(name: string): string {
  return fileURLToPath(new URL(`../tests/peers/${name}`, import.meta.url));
}

// No bytecode next to the peers, UTF-8 on their stdio whatever the locale.
const PYTHON_ENV = { PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" };

let grpcCheck: Promise<boolean> | undefined;

/**
 * Whether {@linkcode PYTHON} can import `grpc` and `grpc_tools`.
 *
 * @returns False when it cannot, or cannot be run.
 */
export function pythonHasGrpc(): Promise<boolean> {
  return grpcCheck ??= (async () => {
    try {
      const { success } = await new Deno.Command(PYTHON, {
        args: ["-c", "import grpc, grpc_tools.protoc"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
        env: PYTHON_ENV,
      }).output();
      return success;
    } catch {
      return false;
    }
  })();
}

/** What a finished Python client run printed. */
export interface PythonRun {
  /** The exit code. */
  code: number;
  /** Its stdout. */
  stdout: string;
  /** Its stderr. */
  stderr: string;
}

/** Options of {@linkcode runPythonClient}. */
export interface RunPythonClientOptions {
  /** Text written to its stdin. */
  stdin?: string;
  /** Killed after this many ms. Default 60000. */
  timeoutMs?: number;
  /** The script in `tests/peers/` to run. Default `"greeter_client.py"`. */
  script?: string;
}

/**
 * Runs `tests/peers/greeter_client.py` (or `options.script`) with `args` to completion.
 *
 * @param args Its arguments, such as `["--address", addr, "hello"]`.
 * @param options Stdin and a time limit.
 * @returns The exit code and output.
 * @throws {Error} When it runs longer than the time limit.
 */
export function runPythonClient(args: string[], options: RunPythonClientOptions = {}): Promise<PythonRun> {
  return runPeer(options.script ?? "greeter_client.py", args, options);
}

/** Runs the peer script `name` with `args` to completion; kills it after the time limit. */
async function runPeer(name: string, args: string[], options: RunPythonClientOptions): Promise<PythonRun> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const child = new Deno.Command(PYTHON, {
    args: ["-B", peerScript(name), ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: PYTHON_ENV,
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill(child, "SIGKILL");
  }, timeoutMs);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const [stdout, stderr, status] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.status,
    ]);
    if (timedOut) throw new Error(`${name} ${args.join(" ")}: killed after ${timeoutMs}ms`);
    return { code: status.code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}

/** Options of {@linkcode startPythonServer}. */
export interface StartPythonServerOptions {
  /** Worker threads. Default the script's (10). */
  workers?: number;
  /** Startup time limit in ms. Default 20000. */
  timeoutMs?: number;
}

/** A running Python server peer. */
export interface PythonServer extends AsyncDisposable {
  /** The port it listens on. */
  readonly port: number;
  /** `<host>:<port>`, such as `127.0.0.1:<port>`. */
  readonly address: string;
  /** Stops it (SIGTERM, then SIGKILL after 3 s) and resolves with its stderr. Idempotent. */
  stop(): Promise<string>;
}

/**
 * Starts `tests/peers/greeter_server.py` on 127.0.0.1, port 0, and resolves
 * once it prints `listening on <port>`.
 *
 * @param options Workers and a time limit.
 * @returns The running server; stop it with `await using` or `stop()`.
 * @throws {Error} When it exits or stays silent before listening.
 */
export async function startPythonServer(options: StartPythonServerOptions = {}): Promise<PythonServer> {
  const args = ["--port", "0", "--host", "127.0.0.1"];
  if (options.workers !== undefined) args.push("--workers", String(options.workers));
  const { match, stop } = await startPeer("greeter_server.py", args, /^listening on (\d+)$/, options.timeoutMs);
  const port = Number(match[1]);
  return { port, address: `127.0.0.1:${port}`, stop, [Symbol.asyncDispose]: async () => void await stop() };
}

/**
 * Starts the peer script `name` and resolves once its first stdout line
 * matches `listening`; a silent, failing or mismatching start is an error.
 */
async function startPeer(
  name: string,
  args: string[],
  listening: RegExp,
  timeoutMs = 20_000,
): Promise<{ match: RegExpMatchArray; stop: () => Promise<string> }> {
  const child = new Deno.Command(PYTHON, {
    args: ["-B", peerScript(name), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: PYTHON_ENV,
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  const firstLine = (async () => {
    while (!stdout.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      stdout += value;
    }
    return stdout.slice(0, stdout.indexOf("\n"));
  })();

  let stopped: Promise<string> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      kill(child, "SIGTERM");
      const timer = setTimeout(() => kill(child, "SIGKILL"), 3000);
      try {
        await child.status;
      } finally {
        clearTimeout(timer);
      }
      await firstLine.catch(() => undefined);
      // Drain what is left of stdout, then release it.
      while (!(await reader.read()).done) { /* more output than the one line */ }
      return await stderr;
    })();

  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const line = await Promise.race([
      firstLine,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no 'listening' line after ${timeoutMs}ms`)), timeoutMs);
      }),
    ]);
    const match = line?.match(listening);
    if (!match) throw new Error(`expected a line matching ${listening}, got ${JSON.stringify(line ?? "")}`);
    return { match, stop };
  } catch (error) {
    const text = await stop();
    throw new Error(`${name} did not start: ${(error as Error).message}\n${text.trim()}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

// ---- gRPC's interop service, grpc.testing.TestService ----

/**
 * The cases `tests/peers/interop_client.py` runs by default, in its order:
 * gRPC's interop cases for a plaintext TestService server.
 */
export const TESTING_CASES: readonly string[] = [
  "empty_unary",
  "large_unary",
  "client_streaming",
  "server_streaming",
  "ping_pong",
  "empty_stream",
  "custom_metadata",
  "status_code_and_message",
  "special_status_message",
  "unimplemented_method",
  "unimplemented_service",
  "cancel_after_begin",
  "cancel_after_first_response",
  "timeout_on_sleeping_server",
];

/** Options of {@linkcode startTestServiceServer}. */
export interface StartTestServiceServerOptions {
  /** The host to listen on. Default 127.0.0.1. */
  host?: string;
  /** The port. Default 0, any free port. */
  port?: number;
  /** Worker threads, one per call in progress. Default the script's (32). */
  workers?: number;
  /** Startup time limit in ms. Default 20000. */
  timeoutMs?: number;
}

/**
 * Starts `tests/peers/test_service_server.py`, Python grpcio's
 * `grpc.testing.TestService`, and resolves once it prints
 * `TestService listening on <host>:<port>`.
 *
 * @param options Host, port, workers and a time limit.
 * @returns The running server; stop it with `await using` or `stop()`.
 * @throws {Error} When it exits or stays silent before listening.
 */
export async function startTestServiceServer(options: StartTestServiceServerOptions = {}): Promise<PythonServer> {
  const args = ["--host", options.host ?? "127.0.0.1", "--port", String(options.port ?? 0)];
  if (options.workers !== undefined) args.push("--workers", String(options.workers));
  const { match, stop } = await startPeer(
    "test_service_server.py",
    args,
    /^TestService listening on (.+):(\d+)$/,
    options.timeoutMs,
  );
  const port = Number(match[2]);
  return { port, address: `${match[1]}:${port}`, stop, [Symbol.asyncDispose]: async () => void await stop() };
}

/** One case's outcome in {@linkcode runInteropClient}. */
export interface InteropCaseResult {
  /** The case name. */
  name: string;
  /** Whether it passed. */
  ok: boolean;
  /** Why it failed. */
  reason?: string;
}

/** What {@linkcode runInteropClient} gives. */
export interface InteropClientRun extends PythonRun {
  /** One result per case asked for (in order), a case it did not report as failed. */
  results: InteropCaseResult[];
  /** The counts of its `interop: N passed, M failed` line, if it printed one. */
  summary?: { passed: number; failed: number };
}

/** Options of {@linkcode runInteropClient}. */
export interface RunInteropClientOptions {
  /** The cases to run. Default the client's own, {@linkcode TESTING_CASES}. */
  cases?: readonly string[];
  /** Killed after this many ms. Default 120000. */
  timeoutMs?: number;
}

/**
 * Runs `tests/peers/interop_client.py` against a `grpc.testing.TestService`
 * server and parses its `PASS <case>` / `FAIL <case>: <reason>` lines.
 *
 * @param address The server, `host:port` or `[v6]:port`.
 * @param options The cases and a time limit.
 * @returns The run, with one result per case.
 * @throws {Error} When the address has no port, or the client runs past the time limit.
 */
export async function runInteropClient(
  address: string,
  options: RunInteropClientOptions = {},
): Promise<InteropClientRun> {
  const split = address.match(/^\[?(.*?)\]?:(\d+)$/);
  if (!split) throw new Error(`expected host:port, got ${JSON.stringify(address)}`);
  const args = ["--host", split[1]!, "--port", split[2]!];
  if (options.cases) args.push("--cases", options.cases.join(","));
  const run = await runPeer("interop_client.py", args, { timeoutMs: options.timeoutMs ?? 120_000 });
  const cases = options.cases ?? TESTING_CASES;
  const seen = new Map<string, InteropCaseResult>();
  let summary: InteropClientRun["summary"];
  for (const line of run.stdout.split("\n")) {
    const result = line.match(/^(PASS|FAIL) (\w+)(?:: (.*))?$/);
    if (result) {
      const [, verdict, name, reason] = result as unknown as [string, string, string, string | undefined];
      seen.set(name, verdict === "PASS" ? { name, ok: true } : { name, ok: false, reason: reason ?? "" });
    }
    const counts = line.match(/^interop: (\d+) passed, (\d+) failed$/);
    if (counts) summary = { passed: Number(counts[1]), failed: Number(counts[2]) };
  }
  const stderr = run.stderr.replace(/\s+/g, " ").trim().slice(0, 300);
  const results = cases.map((name) =>
    seen.get(name) ?? { name, ok: false, reason: `no result (exit ${run.code}) ${stderr}`.trim() }
  );
  return { ...run, results, summary };
}
