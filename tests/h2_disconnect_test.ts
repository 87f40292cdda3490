/**
 * Regression test for https://github.com/denoland/deno/issues/36788: on Deno
 * 2.9.4 to 2.9.6 a fresh HTTP/2 server aborts the whole process when client
 * connections that carried calls send GOAWAY and close. `src/h2_workaround.ts`
 * guards against it; this test proves the guard on the running Deno.
 *
 * A crash kills the process, so the servers run as subprocesses of
 * `Deno.execPath()` (running this test under Deno 2.9.6 tests Deno 2.9.6),
 * several fresh ones per run, since the crash is likelier than not but not
 * certain on any one server.
 *
 * `GREETER_TEST_NO_H2_WORKAROUND=1` starts the servers without the guard,
 * to show that the test catches the crash (it then fails on an affected Deno).
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { createGreeterClient } from "../client.ts";
import { GRPC_ENV_VARS } from "../src/_cli.ts";

const SERVER = new URL("./peers/h2_server.ts", import.meta.url);
const CLIENT = new URL("./peers/h2_client.ts", import.meta.url);
const CHURN = new URL("./peers/h2_churn.ts", import.meta.url);
const CONFIG = new URL("../deno.json", import.meta.url);
const NO_WORKAROUND = Deno.env.get("GREETER_TEST_NO_H2_WORKAROUND") === "1";
const PERMISSIONS = ["--allow-net=127.0.0.1", `--allow-env=${GRPC_ENV_VARS.join(",")}`];

/** Fresh servers per step: without the guard, each dies in most runs. */
const SERVERS_PER_STEP = 3;
/** h2load runs against each server, one after the other. */
const H2LOAD_RUNS = [
  { connections: 1, requests: 1000 },
  { connections: 4, requests: 2000 },
];
/** grpc-js client processes against each server: clients at once, calls each. */
const CLIENT_RUNS = [
  { clients: 1, calls: 1000 },
  { clients: 4, calls: 250 },
];
/**
 * The churn pattern that still aborted 2.9.6 behind the old guard (1 run in
 * 13): a few connections of 300 sequential calls, then rounds of 30 parallel
 * connections of 20 calls, each closed with GOAWAY.
 */
const CHURN_RUN = { warm: 3, warmCalls: 300, rounds: 10, parallel: 30, calls: 20 };
/** The gRPC frame of HelloRequest{name: "zzz"}: flag 0, length 5, message. */
const SAY_HELLO_BODY = new Uint8Array([0, 0, 0, 0, 5, 0x0a, 0x03, 0x7a, 0x7a, 0x7a]);

async function hasCommand(command: string): Promise<boolean> {
  try {
    await new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

const HAS_H2LOAD = await hasCommand("h2load");

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  return text;
}

function describe(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}

/** A Greeter server in a subprocess; disposing of it kills it. */
class ServerProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #stdout: Promise<string>;
  readonly #forPort: ReadableStream<Uint8Array>;
  readonly #stderr: Promise<string>;
  #status: Deno.CommandStatus | undefined;
  readonly #exited: Promise<Deno.CommandStatus>;
  port = 0;
  startUpMs = 0;

  constructor() {
    const args = ["run", "--quiet", `--config=${CONFIG.pathname}`, ...PERMISSIONS, SERVER.pathname];
    if (NO_WORKAROUND) args.push("--no-workaround");
    this.#child = new Deno.Command(Deno.execPath(), { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .spawn();
    const [stdout, forPort] = this.#child.stdout.tee();
    this.#stdout = readAll(stdout);
    this.#forPort = forPort;
    this.#stderr = readAll(this.#child.stderr);
    this.#exited = this.#child.status.then((status) => this.#status = status);
  }

  /** Resolves once the server prints its port. */
  async listening(): Promise<void> {
    let text = "";
    for await (const chunk of this.#forPort.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const match = text.match(/^port (\d+) ([\d.]+)$/m);
      if (match) {
        this.port = Number(match[1]);
        this.startUpMs = Number(match[2]);
        break;
      }
    }
    if (!this.port) throw new Error(`The server did not start: ${await this.failure()}`);
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Why the server is gone, or undefined while it runs (after a short wait). */
  async failure(): Promise<string | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#exited, new Promise((resolve) => timer = setTimeout(resolve, 300))]);
    clearTimeout(timer);
    if (!this.#status) return undefined;
    const stderr = (await this.#stderr).trim().split("\n").slice(-3).join(" | ");
    return `${describe(this.#status)}: ${stderr || "(nothing on stderr)"}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#status) this.#child.kill("SIGKILL");
    await Promise.all([this.#exited, this.#stdout, this.#stderr]);
  }
}

async function h2load(address: string, bodyFile: string, connections: number, requests: number): Promise<string> {
  const { stdout } = await new Deno.Command("h2load", {
    args: [
      ...["-n", `${requests}`, "-c", `${connections}`, "-m", "1", "-d", bodyFile],
      ...["-H", "content-type: application/grpc", "-H", "te: trailers"],
      `http://${address}/Greeter/SayHello`,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const summary = new TextDecoder().decode(stdout).match(/^requests: .*$/m)?.[0];
  return summary ?? "h2load printed no summary";
}

async function grpcClients(address: string, clients: number, calls: number): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${CONFIG.pathname}`,
      ...PERMISSIONS,
      CLIENT.pathname,
      address,
      `${clients}`,
      `${calls}`,
    ],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(code === 0 ? stdout : stderr).trim();
  return `exit code ${code}: ${text.split("\n").at(-1)}`;
}

async function churn(address: string): Promise<string> {
  const { warm, warmCalls, rounds, parallel, calls } = CHURN_RUN;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${CONFIG.pathname}`,
      ...PERMISSIONS,
      CHURN.pathname,
      address,
      ...[warm, warmCalls, rounds, parallel, calls].map(String),
    ],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(code === 0 ? stdout : stderr).trim();
  return `exit code ${code}: ${text.split("\n").at(-1)}`;
}

async function assertStillAnswers(server: ServerProcess): Promise<void> {
  using client = createGreeterClient(server.address);
  const reply = await client.sayHello({ name: "zzz" }, { timeout: 5000 });
  assertEquals(reply.name, "我是zzz");
}

/**
 * Starts fresh servers one after the other, puts each through `load`, and
 * asserts that none died and each still answers SayHello.
 */
async function survivesOnFreshServers(load: (server: ServerProcess) => Promise<string[]>): Promise<void> {
  const deaths: string[] = [];
  for (let i = 1; i <= SERVERS_PER_STEP; i++) {
    await using server = new ServerProcess();
    await server.listening();
    const done = await load(server);
    const failure = await server.failure();
    if (failure) {
      deaths.push(`server ${i} died after [${done.join("; ")}]: ${failure}`);
      continue;
    }
    await assertStillAnswers(server);
    assert(!(await server.failure()), `server ${i} died after its last SayHello`);
  }
  assertEquals(deaths.length, 0, `${deaths.length}/${SERVERS_PER_STEP} fresh servers died:\n${deaths.join("\n")}`);
}

Deno.test("createGreeterServer() survives clients that close with GOAWAY", async (t) => {
  await t.step({
    name: `h2load connections of many calls each, on ${SERVERS_PER_STEP} fresh servers` +
      (HAS_H2LOAD ? "" : " (h2load is not installed: apt-get install nghttp2-client)"),
    ignore: !HAS_H2LOAD,
    fn: async () => {
      const bodyFile = await Deno.makeTempFile({ prefix: "greeter_h2load_", suffix: ".bin" });
      try {
        await Deno.writeFile(bodyFile, SAY_HELLO_BODY);
        await survivesOnFreshServers(async (server) => {
          const results: string[] = [];
          for (const { connections, requests } of H2LOAD_RUNS) {
            const summary = await h2load(server.address, bodyFile, connections, requests);
            results.push(`h2load -c ${connections} -n ${requests} -m 1: ${summary}`);
            if (await server.failure()) break;
            assert(summary.includes(`${requests} succeeded`), `h2load -c ${connections} -n ${requests}: ${summary}`);
          }
          return results;
        });
      } finally {
        await Deno.remove(bodyFile);
      }
    },
  });

  await t.step(`grpc-js clients of many calls each that close(), on ${SERVERS_PER_STEP} fresh servers`, async () => {
    await survivesOnFreshServers(async (server) => {
      const results: string[] = [];
      for (const { clients, calls } of CLIENT_RUNS) {
        const outcome = await grpcClients(server.address, clients, calls);
        results.push(`${clients} clients x ${calls} calls: ${outcome}`);
        if (await server.failure()) break;
        assert(outcome === `exit code 0: calls ${clients * calls}`, `${clients} clients x ${calls} calls: ${outcome}`);
      }
      return results;
    });
  });

  await t.step(
    `churn: ${CHURN_RUN.warm} connections of ${CHURN_RUN.warmCalls} calls, then ${CHURN_RUN.rounds} rounds of ` +
      `${CHURN_RUN.parallel} connections x ${CHURN_RUN.calls} calls, on ${SERVERS_PER_STEP} fresh servers`,
    async () => {
      const { warm, warmCalls, rounds, parallel, calls } = CHURN_RUN;
      const expected = warm * warmCalls + rounds * parallel * calls;
      await survivesOnFreshServers(async (server) => {
        const outcome = await churn(server.address);
        if (!(await server.failure())) assertEquals(outcome, `exit code 0: calls ${expected}`);
        return [`churn: ${outcome}`];
      });
    },
  );
});
