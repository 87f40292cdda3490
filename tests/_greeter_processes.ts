/**
 * `server.ts --verbose` as child processes that count, line by line, the
 * calls they answered: for the balancing tests, which stop one gracefully and
 * SIGKILL another mid-run.
 *
 * @module
 */
import { GRPC_ENV_VARS } from "../src/_cli.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** A Greeter server process and what its `--verbose` lines counted. */
export interface CountingServer {
  readonly port: number;
  readonly address: string;
  readonly child: Deno.ChildProcess;
  /** Calls it answered OK, UNAVAILABLE (refused while draining), and anything else. */
  readonly counts: { ok: number; unavailable: number; other: number };
  /** Sends a signal; ignores a process that has gone. */
  kill(signal: Deno.Signal): void;
  /** Resolves once the process has exited and its output is read. */
  readonly exited: Promise<Deno.CommandStatus>;
}

/**
 * Starts `server.ts --verbose` on 127.0.0.1 with the serve task's narrow
 * permissions and resolves once it prints its "listening on" line.
 *
 * @param port The port; 0 for any free one.
 */
export async function startCountingServer(port = 0): Promise<CountingServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      "--allow-net=127.0.0.1",
      `--allow-env=${GRPC_ENV_VARS.join(",")}`,
      `${ROOT}server.ts`,
      "--host=127.0.0.1",
      `--port=${port}`,
      "--verbose",
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const counts = { ok: 0, unavailable: 0, other: 0 };
  let listening!: (port: number) => void;
  const bound = new Promise<number>((resolve) => listening = resolve);
  const stderr = new Response(child.stderr).text();
  const read = (async () => {
    let rest = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + text).split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        const call = /^\/\S+ (\w+) /.exec(line);
        if (call) counts[call[1] === "OK" ? "ok" : call[1] === "UNAVAILABLE" ? "unavailable" : "other"]++;
        const match = /listening on \S+:(\d+)$/.exec(line);
        if (match) listening(Number(match[1]));
      }
    }
  })();
  const exited = Promise.all([child.status, read, stderr]).then(([status]) => status);
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const actual = await Promise.race([
      bound,
      exited.then(async () => {
        throw new Error(`server.ts exited before listening: ${await stderr}`);
      }),
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error("server.ts silent for 20 s")), 20_000)
      ),
    ]);
    return { port: actual, address: `127.0.0.1:${actual}`, child, counts, kill, exited };
  } catch (error) {
    kill("SIGKILL");
    await exited;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
