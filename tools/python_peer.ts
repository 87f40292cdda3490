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
export async function runPythonClient(args: string[], options: RunPythonClientOptions = {}): Promise<PythonRun> {
  const child = new Deno.Command(PYTHON, {
    args: ["-B", peerScript(options.script ?? "greeter_client.py"), ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: PYTHON_ENV,
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill(child, "SIGKILL");
  }, options.timeoutMs ?? 60_000);
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
    if (timedOut) {
      throw new Error(
        `${options.script ?? "greeter_client.py"} ${args.join(" ")}: killed after ${options.timeoutMs ?? 60_000}ms`,
      );
    }
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
  /** Let request metadata drive the interop-suite behaviour. */
  interop?: boolean;
  /** Worker threads. Default the script's (10). */
  workers?: number;
  /** Startup time limit in ms. Default 20000. */
  timeoutMs?: number;
}

/** A running `tests/peers/greeter_server.py`. */
export interface PythonServer extends AsyncDisposable {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  /** Stops it (SIGTERM, then SIGKILL after 3 s) and resolves with its stderr. Idempotent. */
  stop(): Promise<string>;
}

/**
 * Starts `tests/peers/greeter_server.py` on 127.0.0.1, port 0, and resolves
 * once it prints `listening on <port>`.
 *
 * @param options Interop mode, workers and a time limit.
 * @returns The running server; stop it with `await using` or `stop()`.
 * @throws {Error} When it exits or stays silent before listening.
 */
export async function startPythonServer(options: StartPythonServerOptions = {}): Promise<PythonServer> {
  const args = ["-B", peerScript("greeter_server.py"), "--port", "0", "--host", "127.0.0.1"];
  if (options.interop) args.push("--interop");
  if (options.workers !== undefined) args.push("--workers", String(options.workers));
  const child = new Deno.Command(PYTHON, {
    args,
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
        timer = setTimeout(
          () => reject(new Error(`no 'listening on' line after ${options.timeoutMs ?? 20_000}ms`)),
          options.timeoutMs ?? 20_000,
        );
      }),
    ]);
    const match = line?.match(/^listening on (\d+)$/);
    if (!match) throw new Error(`expected 'listening on <port>', got ${JSON.stringify(line ?? "")}`);
    const port = Number(match[1]);
    return { port, address: `127.0.0.1:${port}`, stop, [Symbol.asyncDispose]: async () => void await stop() };
  } catch (error) {
    const text = await stop();
    throw new Error(`greeter_server.py did not start: ${(error as Error).message}\n${text.trim()}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
