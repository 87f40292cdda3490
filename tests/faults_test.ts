import { assert, assertEquals, assertInstanceOf, assertLess, assertRejects, assertStrictEquals } from "@std/assert";
import {
  type CallEvent,
  createGreeterClient,
  createGreeterServer,
  GrpcError,
  type HelloResponse,
  Status,
} from "../mod.ts";
import { greet } from "../src/greeter.ts";
import { ServerProcess } from "../tools/_server_process.ts";
import { settles } from "./_wait.ts";

/** What a call ended with: "OK" or the status code's number. */
async function outcome(call: Promise<unknown>): Promise<"OK" | Status> {
  try {
    await call;
    return "OK";
  } catch (error) {
    if (error instanceof GrpcError) return error.code;
    throw error;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("createGreeterClient() gets UNAVAILABLE promptly when the server is killed, and reaches it again", async (t) => {
  let server: ServerProcess | undefined = await ServerProcess.start(0);
  const port = server.port;
  using client = createGreeterClient(server.address);
  try {
    assertEquals((await client.sayHello({ name: "up" }, { timeout: 5000 })).name, greet("up"));

    await t.step("SIGKILL mid-stream gives UNAVAILABLE, not a hang", async () => {
      const replies: HelloResponse[] = [];
      let killedAt = 0;
      const error = await (async () => {
        try {
          for await (const reply of client.lotsOfReplies({ name: "s", count: 1000, intervalMs: 20 })) {
            replies.push(reply);
            if (replies.length === 3) {
              killedAt = performance.now();
              server!.kill("SIGKILL");
            }
          }
        } catch (error) {
          return error;
        }
      })();
      const latency = performance.now() - killedAt;
      assertInstanceOf(error, GrpcError);
      assertEquals(error.code, Status.UNAVAILABLE, error.message);
      assertLess(latency, 2000, `UNAVAILABLE after ${latency.toFixed(0)}ms`);
      assertLess(replies.length, 1000);
      assertEquals((await server!.status).signal, "SIGKILL");
      await server!.output;
      server = undefined;
    });

    await t.step("a call while the server is down gets UNAVAILABLE promptly", async () => {
      const started = performance.now();
      assertEquals(await outcome(client.sayHello({ name: "down" }, { timeout: 5000 })), Status.UNAVAILABLE);
      assertLess(performance.now() - started, 2000);
    });

    await t.step("the same client reaches a server restarted on the same port", async () => {
      server = await ServerProcess.start(port);
      assertEquals(server.port, port);
      // No new client and no reconnect call: the channel reconnects by itself,
      // after at most its reconnect backoff (1 s, jittered, after one failure).
      const started = performance.now();
      let reply: HelloResponse | undefined;
      let attempts = 0;
      while (!reply && performance.now() - started < 10_000) {
        attempts++;
        try {
          reply = await client.sayHello({ name: "again" }, { timeout: 2000 });
        } catch (error) {
          assertInstanceOf(error, GrpcError);
          assertEquals(error.code, Status.UNAVAILABLE);
          await sleep(100);
        }
      }
      assertEquals(reply?.name, greet("again"), `no answer within 10 s (${attempts} attempts)`);
      assertLess(performance.now() - started, 5000);
    });

    await t.step("after a kill with no call in flight the next call just works", async () => {
      server!.kill("SIGKILL");
      // The process has exited, so the kernel has closed its end: the FIN
      // is queued on our connection before the next server is up.
      await server!.status;
      await server!.output;
      server = undefined;
      server = await ServerProcess.start(port);
      assertEquals((await client.sayHello({ name: "first" }, { timeout: 5000 })).name, greet("first"));
    });
  } finally {
    client.close();
    await server?.stop();
  }
});

Deno.test("createGreeterServer() shutdown() under load completes accepted calls and refuses new ones", async () => {
  const UNARY = 200;
  const STREAMS = 20;
  const REPLIES = 5;
  let entered = 0;
  const allEntered = Promise.withResolvers<void>();
  // The accepted calls stay in their handlers until the test releases them.
  const release = Promise.withResolvers<void>();
  const enter = () => {
    if (++entered === UNARY + STREAMS) allEntered.resolve();
  };
  await using server = await createGreeterServer({
    port: 0,
    // 220 calls held at once on one connection: past the default MAX_CONCURRENT_STREAMS (100).
    limits: { maxConcurrentStreams: 256 },
    handlers: {
      async sayHello(request) {
        if (request.name === "warm") return { name: greet(request.name) };
        enter();
        await release.promise;
        return { name: greet(request.name) };
      },
      async *lotsOfReplies(request) {
        enter();
        yield { name: `${greet(request.name)} 0` };
        await release.promise;
        for (let i = 1; i < request.count; i++) yield { name: `${greet(request.name)} ${i}` };
      },
    },
  });
  const client = createGreeterClient(server.address);
  const other = createGreeterClient(server.address);
  // A warm-up call opens the other client's connection; it is not held.
  assertEquals((await other.sayHello({ name: "warm" })).name, greet("warm"));

  const unary = Array.from({ length: UNARY }, (_, i) => client.sayHello({ name: `u${i}` }, { timeout: 10_000 }));
  const streams = Array.from({ length: STREAMS }, async (_, i) => {
    const names: string[] = [];
    for await (const reply of client.lotsOfReplies({ name: `s${i}`, count: REPLIES })) names.push(reply.name);
    return names;
  });
  await settles(allEntered.promise, "every call reached its handler");

  const shutdown = server.shutdown();
  const late = await settles(
    Promise.all([
      ...Array.from({ length: 20 }, (_, i) => outcome(client.sayHello({ name: `late${i}` }))),
      ...Array.from({ length: 20 }, (_, i) => outcome(other.sayHello({ name: `other${i}` }))),
    ]),
    "the late calls were answered",
  );
  // Every call made after shutdown began is refused, while the accepted ones are still in their handlers.
  assertEquals(late.filter((code) => code !== Status.UNAVAILABLE), [], `late calls: ${late.join(",")}`);
  assertEquals(entered, UNARY + STREAMS, "no late call reached a handler");

  release.resolve();
  // Every call accepted before shutdown began completes, whole.
  const replies = await Promise.all(unary);
  replies.forEach((reply, i) => assertEquals(reply.name, greet(`u${i}`)));
  const streamed = await Promise.all(streams);
  streamed.forEach((names, i) =>
    assertEquals(names, Array.from({ length: REPLIES }, (_, n) => `${greet(`s${i}`)} ${n}`))
  );
  await shutdown;
  await server.finished;
  // The server is gone: nothing listens on its port any more.
  await assertRejects(() => Deno.connect({ hostname: "127.0.0.1", port: server.port }), Deno.errors.ConnectionRefused);
  for (const c of [client, other]) c.close();
});

Deno.test("createGreeterServer() shutdown() drains an open stream, then forces it after gracePeriodMs", async () => {
  const GRACE_MS = 300;
  const handlerAborted = Promise.withResolvers<unknown>();
  const handlerEntered = Promise.withResolvers<void>();
  const reported = Promise.withResolvers<CallEvent>();
  const server = await createGreeterServer({
    port: 0,
    gracePeriodMs: GRACE_MS,
    onCall: (event) => reported.resolve(event),
    handlers: {
      async *bidiHello(requests, context) {
        handlerEntered.resolve();
        const aborted = new Promise<void>((resolve) =>
          context.signal.addEventListener("abort", () => {
            handlerAborted.resolve(context.signal.reason);
            resolve();
          }, { once: true })
        );
        for await (const request of requests) {
          yield { name: greet(request.name) };
          break;
        }
        await aborted; // an open stream that never ends by itself
      },
    },
  });
  using client = createGreeterClient(server.address);
  const stop = new AbortController();
  async function* forever() {
    yield { name: "open" };
    await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
  }
  const replies: string[] = [];
  const firstReply = Promise.withResolvers<void>();
  const call = (async () => {
    for await (const reply of client.bidiHello(forever())) {
      replies.push(reply.name);
      firstReply.resolve();
    }
  })();
  const callOutcome = outcome(call);
  try {
    await settles(Promise.all([handlerEntered.promise, firstReply.promise]), "the stream is open");
    let finishedAt = 0;
    server.finished.then(() => finishedAt = performance.now());

    const started = performance.now();
    const first = server.shutdown();
    const second = server.shutdown();
    assertStrictEquals(first, second, "shutdown() is idempotent");
    await first;
    const elapsed = performance.now() - started;
    assert(elapsed >= GRACE_MS - 20, `shutdown() waited the grace period (${elapsed.toFixed(0)}ms)`);
    assertLess(elapsed, GRACE_MS + 2000, `then forced it (${elapsed.toFixed(0)}ms)`);
    await server.finished;
    assert(finishedAt > 0, "finished settled");
    await server[Symbol.asyncDispose](); // a third exit, still a no-op

    const reason = await settles(handlerAborted.promise, "the handler's context.signal fired");
    assertInstanceOf(reason, DOMException);
    assertEquals(reason.name, "AbortError");
    // The server resets the stream (RST_STREAM CANCEL): CANCELLED, not a dropped connection.
    assertEquals(await callOutcome, Status.CANCELLED);
    assertEquals(replies, [greet("open")]);
    const event = await settles(reported.promise, "the call was reported");
    assertEquals(
      [event.code, event.details],
      [Status.CANCELLED, "/Greeter/BidiHello: the server shut down before the call ended"],
    );
  } finally {
    stop.abort();
    await callOutcome;
    await server.shutdown();
  }
});
