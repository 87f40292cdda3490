import { assert, assertEquals, assertGreaterOrEqual } from "@std/assert";
import { createGreeterClient, GrpcError } from "../mod.ts";
import { statusName } from "../src/errors.ts";
import { greet } from "../src/greeter.ts";
import { DOC_NGINX_CONFIG, findNginx, nginxConfig, startNginx } from "../tools/nginx.ts";
import { pythonHasGrpc, runPythonClient } from "../tools/python_peer.ts";
import { type CountingServer, startCountingServer } from "./_greeter_processes.ts";

const NGINX = await findNginx();
const PYTHON = await pythonHasGrpc();

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A self-signed X.509 v3 certificate for 127.0.0.1 and localhost, as `cert.pem` and `key.pem` in `dir`. */
async function selfSignedCert(dir: string): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args: [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      ...["-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`openssl failed: ${new TextDecoder().decode(stderr)}`);
}

/** Makes `calls` SayHello calls, `concurrency` at a time; `onDone` sees each count of finished calls. */
async function load(
  client: ReturnType<typeof createGreeterClient>,
  calls: number,
  concurrency: number,
  onDone: (done: number) => void,
): Promise<string[]> {
  let next = 0;
  let done = 0;
  const failed: string[] = [];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < calls) {
      const name = `n${next++}`;
      try {
        const reply = await client.sayHello({ name }, { timeout: 10_000 });
        if (reply.name !== greet(name)) failed.push(`${name}: wrong reply`);
      } catch (error) {
        failed.push(error instanceof GrpcError ? `${statusName(error.code)}: ${error.details}` : String(error));
      }
      onDone(++done);
    }
  }));
  return failed;
}

Deno.test("docs/deploy/nginx.conf is the config the nginx test runs", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/deploy/nginx.conf", import.meta.url));
  assertEquals(
    doc,
    nginxConfig(DOC_NGINX_CONFIG),
    "regenerate it with: deno run tools/nginx.ts > docs/deploy/nginx.conf",
  );
});

Deno.test({
  name: "nginx balances three servers, Python and our client call through it, plaintext and TLS",
  ignore: !NGINX,
  async fn(t) {
    const prefix = await Deno.makeTempDir({ prefix: "greeter-nginx-" });
    const servers: CountingServer[] = [];
    const channelOptions = { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 100 };
    try {
      for (let i = 0; i < 3; i++) servers.push(await startCountingServer());
      await selfSignedCert(prefix);
      const [port, tlsPort] = [freePort(), freePort()];
      const address = `127.0.0.1:${port}`;
      await using _nginx = await startNginx(
        NGINX!,
        prefix,
        nginxConfig({ upstreams: servers.map((s) => s.address), listen: address, listenTls: `127.0.0.1:${tlsPort}` }),
        { hostname: "127.0.0.1", port },
      );

      await t.step({
        name: "the tutorial's Python client, plaintext and over TLS with the self-signed CA",
        ignore: !PYTHON,
        async fn() {
          const plain = await runPythonClient(["--address", address, "tutorial"]);
          assertEquals([plain.code, plain.stdout.trim()], [0, greet("zzz")], plain.stderr);
          const ca = `${prefix}/cert.pem`;
          const tls = await runPythonClient([
            "--address",
            `127.0.0.1:${tlsPort}`,
            "--ca",
            ca,
            "hello",
            "--name",
            "tls",
          ]);
          assertEquals([tls.code, tls.stdout.trim()], [0, greet("tls")], tls.stderr);
          const untrusted = await runPythonClient(["--address", `127.0.0.1:${tlsPort}`, "--timeout", "5", "hello"]);
          assertEquals(untrusted.code, 1, "plaintext to the TLS port must fail");
        },
      });

      await t.step("our client over TLS terminated at nginx, trusting the self-signed CA", async () => {
        const ca = await Deno.readTextFile(`${prefix}/cert.pem`);
        using client = createGreeterClient(`127.0.0.1:${tlsPort}`, { tls: { ca } });
        assertEquals((await client.sayHello({ name: "tls" }, { timeout: 5000 })).name, greet("tls"));
      });

      await t.step("our client: spread over the three, and no call lost while one stops gracefully", async () => {
        const CALLS = 3000;
        const STOP_AT = 2100;
        const before = servers.map((s) => s.counts.ok);
        using client = createGreeterClient(address, { channelOptions });
        const failed = await load(client, CALLS, 16, (done) => done === STOP_AT && servers[0]!.kill("SIGTERM"));
        assertEquals((await servers[0]!.exited).code, 0);
        const answered = servers.map((s, i) => s.counts.ok - before[i]!);
        console.log(
          `nginx: ${CALLS} calls through nginx, ${failed.length} lost; answered per server ${answered.join(" / ")} ` +
            `(the first stopped gracefully at ${STOP_AT})`,
        );
        assertEquals(failed, []);
        for (const count of answered) assertGreaterOrEqual(count, CALLS * 0.2);
      });

      await t.step(
        "a client without retries gets only UNAVAILABLE, from the draining server or nginx",
        async () => {
          const CALLS = 2000;
          servers[0] = await startCountingServer();
          // nginx marks the stopped server failed for 10 s (max_fails=1, fail_timeout=10s); the others carry the load.
          using client = createGreeterClient(address, { channelOptions, retry: false });
          const failed = await load(client, CALLS, 16, (done) => done === 500 && servers[1]!.kill("SIGTERM"));
          console.log(
            `nginx: without client retries, ${failed.length} of ${CALLS} calls failed while one server drained`,
          );
          // The drain's refusals, and nginx's own 502s answered by @unavailable: all retryable UNAVAILABLE.
          assert(failed.every((line) => line.startsWith("UNAVAILABLE: ")), failed.join("\n"));
        },
      );
    } finally {
      for (const server of servers) server.kill("SIGKILL");
      await Promise.all(servers.map((server) => server.exited));
      await Deno.remove(prefix, { recursive: true });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  },
});
