/**
 * gRPC health checking (`grpc.health.v1.Health`) on our server, through our
 * own client and through Python grpcio with stubs generated from Debian's
 * official health.proto. Shutdown is held open by a call the test releases,
 * so "NOT_SERVING before the server stops" is checked without any sleep.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  createClient,
  createGreeterServer,
  createServer,
  Greeter,
  GrpcError,
  Health,
  HealthCheckResponse_ServingStatus as S,
  Status,
} from "../mod.ts";
import { peerScript, PYTHON, pythonHasGrpc } from "../tools/python_peer.ts";

/** A Greeter server whose SayHello("hold") stays in flight until `release()`, keeping a shutdown in its drain. */
async function heldServer() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let started!: () => void;
  const holding = new Promise<void>((resolve) => started = resolve);
  const server = await createGreeterServer({
    port: 0,
    handlers: {
      async sayHello({ name }) {
        if (name === "hold") {
          started();
          await released;
        }
        return { name };
      },
    },
  });
  let finished = false;
  server.finished.then(() => finished = true);
  return { server, release, holding, isFinished: () => finished };
}

Deno.test("health: Check, NOT_FOUND, Watch of changes, NOT_SERVING at shutdown (our client)", async (t) => {
  const { server, release, holding, isFinished } = await heldServer();
  using health = createClient(Health, server.address);
  using greeter = createClient(Greeter, server.address);
  try {
    await t.step("Check: the server and each hosted service are SERVING", async () => {
      assertEquals(await health.check({ service: "" }), { status: S.SERVING });
      assertEquals(await health.check({ service: "Greeter" }), { status: S.SERVING });
      assertEquals(server.health.get("Greeter"), "SERVING");
    });
    await t.step("Check of an unknown service is NOT_FOUND", async () => {
      const error = await assertRejects(() => health.check({ service: "nope.Nope" }), GrpcError);
      assertEquals(error.code, Status.NOT_FOUND);
    });
    await t.step("set() rejects what is not a status", () => {
      // @ts-expect-error: not a ServingStatus
      assertThrowsType(() => server.health.set("Greeter", "SERVICE_UNKNOWN"));
    });

    const watch = health.watch({ service: "Greeter" })[Symbol.asyncIterator]();
    const unknown = health.watch({ service: "Later" })[Symbol.asyncIterator]();
    await t.step("Watch sends the status now, then each change", async () => {
      assertEquals((await watch.next()).value, { status: S.SERVING });
      server.health.set("Greeter", "NOT_SERVING");
      assertEquals((await watch.next()).value, { status: S.NOT_SERVING });
      assertEquals((await health.check({ service: "Greeter" })).status, S.NOT_SERVING);
      server.health.set("Greeter", "SERVING");
      assertEquals((await watch.next()).value, { status: S.SERVING });
    });
    await t.step("Watch of an unknown service sends SERVICE_UNKNOWN and stays open until it is known", async () => {
      assertEquals((await unknown.next()).value, { status: S.SERVICE_UNKNOWN });
      server.health.set("Later", "SERVING");
      assertEquals((await unknown.next()).value, { status: S.SERVING });
      assertEquals((await health.check({ service: "Later" })).status, S.SERVING);
    });
    await t.step("a graceful shutdown sends NOT_SERVING to watchers before it drains", async () => {
      const held = greeter.sayHello({ name: "hold" });
      await holding;
      const stopping = server.shutdown();
      assertEquals((await watch.next()).value, { status: S.NOT_SERVING });
      assertEquals((await unknown.next()).value, { status: S.NOT_SERVING });
      assertEquals(server.health.get(""), "NOT_SERVING");
      assert(!isFinished(), "the server is still draining");
      assertEquals(await watch.next(), { done: true, value: undefined }, "the watch ends after NOT_SERVING");
      assertEquals(await unknown.next(), { done: true, value: undefined });
      server.health.set("Greeter", "SERVING");
      assertEquals(server.health.get("Greeter"), "NOT_SERVING", "set() is ignored once shutdown began");
      release();
      assertEquals(await held, { name: "hold" }, "the call in flight still completes");
      await stopping;
      assert(isFinished());
    });
  } finally {
    release();
    await server.shutdown();
  }
});

function assertThrowsType(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    assert(error instanceof TypeError, String(error));
    return;
  }
  throw new Error("expected a TypeError");
}

Deno.test("health: createServer() hosts it only with health: true, and server.health is there either way", async () => {
  await using plain = await createServer({ port: 0, services: [[Greeter, {}]] });
  using client = createClient(Health, plain.address);
  const error = await assertRejects(() => client.check({ service: "" }), GrpcError);
  assertEquals(error.code, Status.UNIMPLEMENTED);
  assertEquals(plain.health.get("Greeter"), "SERVING");

  await using served = await createServer({ port: 0, health: true, services: [[Greeter, {}]] });
  using client2 = createClient(Health, served.address);
  assertEquals(await client2.check({ service: "Greeter" }), { status: S.SERVING });
});

const hasPython = await pythonHasGrpc();

/** Reads a child's stdout line by line. */
function lines(stream: ReadableStream<Uint8Array>): () => Promise<string | undefined> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return async () => {
    while (!buffer.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) {
        const rest = buffer;
        buffer = "";
        return rest === "" ? undefined : rest;
      }
      buffer += value;
    }
    const i = buffer.indexOf("\n");
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    return line;
  };
}

Deno.test({
  name: "health: Python grpcio with the official health.proto checks, watches and sees NOT_SERVING at shutdown",
  ignore: !hasPython,
  async fn() {
    const { server, release, holding, isFinished } = await heldServer();
    using greeter = createClient(Greeter, server.address);
    const child = new Deno.Command(PYTHON, {
      args: ["-B", peerScript("health_client.py"), server.address, "Greeter", "-", "Greeter", "nope.Nope"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { PYTHONIOENCODING: "utf-8" },
    }).spawn();
    const next = lines(child.stdout);
    try {
      assertEquals([await next(), await next(), await next()], [
        "check - SERVING",
        "check Greeter SERVING",
        "check nope.Nope NOT_FOUND",
      ]);
      assertEquals(await next(), "watch SERVING");
      server.health.set("Greeter", "NOT_SERVING");
      assertEquals(await next(), "watch NOT_SERVING");
      server.health.set("Greeter", "SERVING");
      assertEquals(await next(), "watch SERVING");
      const held = greeter.sayHello({ name: "hold" });
      await holding;
      const stopping = server.shutdown();
      assertEquals(await next(), "watch NOT_SERVING");
      assert(!isFinished(), "the server is still draining");
      assertEquals(await next(), "end OK");
      release();
      await held;
      await stopping;
    } finally {
      release();
      await server.shutdown();
      const status = await child.status;
      const stderr = await new Response(child.stderr).text();
      assertEquals(status.code, 0, stderr);
    }
  },
});
