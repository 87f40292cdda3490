/**
 * The Greeter server (`server.ts`'s command line) as a child process, for
 * fault tests and the soak: it can be killed, restarted on the same port, and
 * its RSS and open file descriptors read from `/proc`.
 *
 * @module
 */
import { GRPC_ENV_VARS } from "../src/_cli.ts";

const ROOT = new URL("../", import.meta.url);

/**
 * This Deno's binary when we may run it, else `deno` from PATH (what a task's
 * `--allow-run=deno` grants: it does not cover the binary's resolved path).
 */
function denoBinary(): string {
  try {
    const path = Deno.execPath();
    if (Deno.permissions.querySync({ name: "run", command: path }).state === "granted") return path;
  } catch {
    // reading the path is not allowed
  }
  return "deno";
}

const LISTENING = /listening on (\S+):(\d+)\s*$/;

/** Runs a command and returns its stdout; throws when it fails. */
async function capture(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** A running server process. */
export class ServerProcess implements AsyncDisposable {
  /** The child process. */
  readonly child: Deno.ChildProcess;
  /** Its pid. */
  readonly pid: number;
  /** The port it listens on. */
  readonly port: number;
  /** `127.0.0.1:port`. */
  readonly address: string;
  /** Resolves with everything it printed once it has exited. */
  readonly output: Promise<string>;
  /** Resolves with its exit status. */
  readonly status: Promise<Deno.CommandStatus>;

  readonly #printed: () => string;
  readonly #printWaiters = new Set<() => void>();

  private constructor(
    child: Deno.ChildProcess,
    port: number,
    output: Promise<string>,
    printed: () => string,
    onPrint: (wake: () => void) => void,
  ) {
    this.#printed = printed;
    onPrint(() => {
      for (const wake of this.#printWaiters) wake();
    });
    this.child = child;
    this.pid = child.pid;
    this.port = port;
    this.address = `127.0.0.1:${port}`;
    this.output = output;
    this.status = child.status;
  }

  /**
   * Starts `deno run server.ts --port <port>` and resolves once it listens.
   *
   * @param port The port; 0 for any free one.
   * @param timeoutMs How long to wait for the "listening" line.
   * @param extraArgs More flags for `server.ts`, such as `--stall-timeout-ms=2000`.
   * @param deno The Deno binary; default this one (or `deno` from PATH).
   * @param prefix A command that execs the rest, such as `["prlimit", "--nofile=256:256"]`.
   * @param denoFlags More `deno run` flags, such as the serve task's `--allow-read=src,proto` for `--workers`.
   */
  static async start(
    port = 0,
    timeoutMs = 20_000,
    extraArgs: string[] = [],
    deno?: string,
    prefix: string[] = [],
    denoFlags: string[] = [],
  ): Promise<ServerProcess> {
    const binary = deno ?? denoBinary();
    const child = new Deno.Command(prefix[0] ?? binary, {
      args: [
        ...prefix.slice(1),
        ...(prefix.length > 0 ? [binary] : []),
        "run",
        "--quiet",
        `--config=${new URL("deno.json", ROOT).pathname}`,
        "--allow-net=127.0.0.1",
        `--allow-env=${GRPC_ENV_VARS.join(",")}`,
        ...denoFlags,
        new URL("server.ts", ROOT).pathname,
        "--host=127.0.0.1",
        `--port=${port}`,
        ...extraArgs,
      ],
      cwd: ROOT.pathname,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let printed = "";
    let onPrint = () => {};
    let resolveListening!: (port: number) => void;
    const listening = new Promise<number>((resolve) => resolveListening = resolve);
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        printed += text;
        onPrint();
        for (const line of printed.split("\n")) {
          const match = LISTENING.exec(line);
          if (match) resolveListening(Number(match[2]));
        }
      }
    };
    const output = Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => printed);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`server did not listen within ${timeoutMs}ms`)), timeoutMs);
      child.status.then((status) => reject(new Error(`server exited with code ${status.code} before listening`)));
    });
    try {
      const actualPort = await Promise.race([listening, failed]);
      return new ServerProcess(child, actualPort, output, () => printed, (wake) => onPrint = wake);
    } catch (error) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      const text = await output;
      throw new Error(`${(error as Error).message}; output: ${text}`, { cause: error });
    } finally {
      clearTimeout(timer);
      failed.catch(() => {});
    }
  }

  /**
   * Resolves once what it printed (stdout and stderr) matches `pattern`.
   *
   * @throws {Error} After `timeoutMs`, naming the pattern and what was printed.
   */
  async printed(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    if (pattern.test(this.#printed())) return;
    let wake!: () => void;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        wake = () => pattern.test(this.#printed()) && resolve();
        this.#printWaiters.add(wake);
        timer = setTimeout(
          () => reject(new Error(`the server printed no ${pattern} in ${timeoutMs}ms: ${this.#printed()}`)),
          timeoutMs,
        );
      });
    } finally {
      clearTimeout(timer);
      this.#printWaiters.delete(wake);
    }
  }

  /** Sends a signal; ignores a process that has already exited. */
  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
  }

  /**
   * Resident set size in bytes, from `/proc/<pid>/status` (VmRSS). Read with
   * `cat`: Deno allows reading another process's `/proc` entries only with
   * `--allow-all`, which we never grant; `--allow-run=cat` is far narrower.
   */
  async rssBytes(): Promise<number> {
    const status = await capture("cat", [`/proc/${this.pid}/status`]);
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!match) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(match[1]) * 1024;
  }

  /** The number of open file descriptors, listed from `/proc/<pid>/fd` with `ls`. */
  async openFds(): Promise<number> {
    const listing = await capture("ls", ["-1", `/proc/${this.pid}/fd`]);
    return listing.split("\n").filter((line) => line.trim() !== "").length;
  }

  /** Stops it with SIGTERM (SIGKILL after `timeoutMs`) and waits for it. */
  async stop(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), timeoutMs);
    try {
      const status = await this.status;
      await this.output;
      return status;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Same as {@linkcode ServerProcess.stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
