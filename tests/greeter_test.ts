import * as http2 from "node:http2";
import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { createGreeterClient, createGreeterServer, GrpcError, Metadata, Status } from "../mod.ts";
import type { CallContext } from "../mod.ts";
import { settles } from "./_wait.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 } as const;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

Deno.test("createGreeterServer() serves every RPC kind with the tutorial's replies", async (t) => {
  await using server = await createGreeterServer(LOCAL);
  using client = createGreeterClient(server.address);
  assert(server.port > 0);
  assertEquals(server.address, `127.0.0.1:${server.port}`);

  await t.step("SayHello answers 我是{name}", async () => {
    assertEquals(await client.sayHello({ name: "zzz" }), { name: "我是zzz" });
  });
  await t.step("an empty request reads as proto3 defaults", async () => {
    assertEquals(await client.sayHello({}), { name: "我是" });
  });
  await t.step("UTF-8 survives both ways", async () => {
    assertEquals(await client.sayHello({ name: "世界 😈 \u0000" }), { name: "我是世界 😈 \u0000" });
  });
  await t.step("LotsOfReplies streams count replies (default 3)", async () => {
    assertEquals((await collect(client.lotsOfReplies({ name: "a", count: 5 }))).length, 5);
    assertEquals(await collect(client.lotsOfReplies({ name: "b" })), Array(3).fill({ name: "我是b" }));
  });
  await t.step("LotsOfReplies paces replies by interval_ms", async () => {
    const start = performance.now();
    assertEquals((await collect(client.lotsOfReplies({ name: "a", count: 3, intervalMs: 30 }))).length, 3);
    assertGreaterOrEqual(performance.now() - start, 55);
  });
  await t.step("LotsOfReplies rejects an oversized count with INVALID_ARGUMENT", async () => {
    const error = await assertRejects(() => collect(client.lotsOfReplies({ count: 2_000_000 })), GrpcError);
    assertEquals(error.code, Status.INVALID_ARGUMENT);
    assertEquals(error.details, "count must be at most 1000000, got 2000000");
  });
  await t.step("LotsOfGreetings greets every name at once", async () => {
    assertEquals(await client.lotsOfGreetings([{ name: "a" }, { name: "b" }, { name: "c" }]), { name: "我是a, b, c" });
  });
  await t.step("LotsOfGreetings takes an async iterable, and an empty stream", async () => {
    async function* names() {
      yield { name: "x" };
      // Something truly asynchronous between two requests: a whole other call.
      assertEquals(await client.sayHello({ name: "between" }), { name: "我是between" });
      yield { name: "y" };
    }
    assertEquals(await client.lotsOfGreetings(names()), { name: "我是x, y" });
    assertEquals(await client.lotsOfGreetings([]), { name: "我是" });
  });
  await t.step("BidiHello answers every request as it arrives", async () => {
    // Send the next request only after the previous reply: a real ping-pong.
    const replies: string[] = [];
    let answered!: () => void;
    async function* pingPong() {
      for (const name of ["1", "2", "3"]) {
        const next = new Promise<void>((r) => answered = r);
        yield { name };
        await next;
      }
    }
    for await (const reply of client.bidiHello(pingPong())) {
      replies.push(reply.name);
      answered();
    }
    assertEquals(replies, ["我是1", "我是2", "我是3"]);
  });
});

Deno.test("createGreeterClient() rejects with DEADLINE_EXCEEDED", async (t) => {
  let serverAborted = Promise.withResolvers<unknown>();
  await using server = await createGreeterServer({
    ...LOCAL,
    handlers: {
      async sayHello(_request, context) {
        await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
        serverAborted.resolve(context.signal.reason);
        return {};
      },
    },
  });
  using client = createGreeterClient(server.address);

  await t.step("on a unary call, with the timeout in the message", async () => {
    serverAborted = Promise.withResolvers();
    const error = await assertRejects(() => client.sayHello({ name: "slow" }, { timeout: 50 }), GrpcError);
    assertEquals(error.code, Status.DEADLINE_EXCEEDED);
    assertEquals(error.message, "/Greeter/SayHello DEADLINE_EXCEEDED: deadline exceeded after 50ms");
    // The server-side signal fires too, as a TimeoutError.
    const reason = await settles(serverAborted.promise, "the handler's signal fired");
    assertInstanceOf(reason, DOMException);
    assertEquals(reason.name, "TimeoutError");
  });
  await t.step("on a unary call, with a deadline date: the time it had in the message", async () => {
    serverAborted = Promise.withResolvers();
    const error = await assertRejects(
      () => client.sayHello({ name: "slow" }, { deadline: new Date(Date.now() + 100) }),
      GrpcError,
    );
    assertEquals(error.code, Status.DEADLINE_EXCEEDED);
    assertBudget(error.message, "/Greeter/SayHello", 100);
    assertEquals(
      (await settles(serverAborted.promise, "the handler's signal fired") as DOMException).name,
      "TimeoutError",
    );
  });
  await t.step("on a server stream, with a deadline date", async () => {
    const error = await assertRejects(
      () => collect(client.lotsOfReplies({ count: 10, intervalMs: 100 }, { deadline: new Date(Date.now() + 150) })),
      GrpcError,
    );
    assertEquals(error.code, Status.DEADLINE_EXCEEDED);
    assertBudget(error.message, "/Greeter/LotsOfReplies", 150);
  });
  await t.step("with a deadline date already past: after 0ms", async () => {
    const error = await assertRejects(
      () => client.sayHello({ name: "late" }, { deadline: new Date(Date.now() - 1000) }),
      GrpcError,
    );
    assertEquals(error.message, "/Greeter/SayHello DEADLINE_EXCEEDED: deadline exceeded after 0ms");
  });
});

/** The message of a deadline given as a date: the milliseconds left when the call began, at most `ms`. */
function assertBudget(message: string, method: string, ms: number): void {
  const match = message.match(/^(\S+) DEADLINE_EXCEEDED: deadline exceeded after (\d+)ms$/);
  assert(match, `not a deadline message: ${message}`);
  assertEquals(match[1], method);
  const budget = Number(match[2]);
  assert(budget <= ms && budget >= ms - 20, `deadline exceeded after ${budget}ms, for a deadline ${ms}ms away`);
}

Deno.test("createGreeterClient() cancels with its signal, and the handler's signal fires", async (t) => {
  let aborted = Promise.withResolvers<unknown>();
  await using server = await createGreeterServer({
    ...LOCAL,
    handlers: {
      async *lotsOfReplies(_request, context) {
        const cancelled = new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
        const mine = aborted;
        context.signal.addEventListener("abort", () => mine.resolve(context.signal.reason));
        // One reply, then nothing until the call is cancelled: no second
        // reply can be on its way when the client aborts.
        yield { name: "0" };
        await cancelled;
      },
    },
  });
  using client = createGreeterClient(server.address);

  await t.step("cancel after the first response", async () => {
    const controller = new AbortController();
    const received: string[] = [];
    const error = await assertRejects(async () => {
      for await (const reply of client.lotsOfReplies({ count: 1000 }, { signal: controller.signal })) {
        received.push(reply.name);
        controller.abort();
      }
    }, GrpcError);
    assertEquals(error.code, Status.CANCELLED);
    assertEquals(received, ["0"]);
    const reason = await settles(aborted.promise, "the handler's signal fired");
    assertInstanceOf(reason, DOMException);
    assertEquals(reason.name, "AbortError");
  });
  await t.step("an already-aborted signal rejects at once with CANCELLED", async () => {
    const error = await assertRejects(() => client.sayHello({}, { signal: AbortSignal.abort() }), GrpcError);
    assertEquals(error.code, Status.CANCELLED);
  });
  await t.step("breaking out of a stream cancels it", async () => {
    aborted = Promise.withResolvers();
    for await (const _ of client.lotsOfReplies({ count: 1000 })) break;
    // The server sees the cancel: the handler's signal fires.
    const reason = await settles(aborted.promise, "the handler's signal fired");
    assertEquals((reason as DOMException).name, "AbortError");
    // The client is still usable afterwards.
    assertEquals(await client.sayHello({ name: "a" }), { name: "我是a" });
  });
});

Deno.test("metadata travels both ways", async (t) => {
  let seen: Metadata | undefined;
  const echo = (context: CallContext) => {
    seen = context.metadata;
    context.header.set("x-echo", String(context.metadata.get("x-request")[0] ?? ""));
    context.trailer.set("x-trailer-bin", new Uint8Array([1, 2, 3]));
  };
  await using server = await createGreeterServer({
    ...LOCAL,
    handlers: {
      sayHello(request, context) {
        echo(context);
        return { name: request.name };
      },
      async *bidiHello(requests, context) {
        echo(context);
        for await (const request of requests) yield request;
      },
    },
  });
  using client = createGreeterClient(server.address);

  for (const kind of ["unary", "bidi"] as const) {
    await t.step(`on a ${kind} call: request metadata, headers and trailers`, async () => {
      let header: Metadata | undefined;
      let trailer: Metadata | undefined;
      const options = {
        metadata: { "x-request": "hello", "x-raw-bin": new Uint8Array([0xff, 0]) },
        onHeader: (m: Metadata) => header = m,
        onTrailer: (m: Metadata) => trailer = m,
      };
      if (kind === "unary") await client.sayHello({ name: "a" }, options);
      else await collect(client.bidiHello([{ name: "a" }], options));
      assertEquals(seen?.get("x-request"), ["hello"]);
      assertEquals(Array.from(seen?.get("x-raw-bin")[0] as Uint8Array), [0xff, 0]);
      assertEquals(header?.get("x-echo"), ["hello"]);
      assertEquals(Array.from(trailer?.get("x-trailer-bin")[0] as Uint8Array), [1, 2, 3]);
    });
  }
});

Deno.test("handler errors become statuses", async (t) => {
  const logged: unknown[] = [];
  await using server = await createGreeterServer({
    ...LOCAL,
    onError: (error) => logged.push(error),
    handlers: {
      sayHello({ name }) {
        if (name === "ok") throw new GrpcError(Status.OK, "fine");
        if (name === "missing") {
          throw new GrpcError(Status.NOT_FOUND, "no user named 'missing'", {
            metadata: new Metadata({ "x-reason": "gone" }),
          });
        }
        throw new Error("database password is hunter2");
      },
      async *lotsOfReplies() {
        yield { name: "first" };
        throw new GrpcError(Status.ABORTED, "stopped after one");
      },
      async lotsOfGreetings(requests) {
        for await (const _ of requests) throw new GrpcError(Status.FAILED_PRECONDITION, "no names today");
        return {};
      },
    },
  });
  using client = createGreeterClient(server.address);

  await t.step("a GrpcError keeps its code and details", async () => {
    const error = await assertRejects(() => client.sayHello({ name: "missing" }), GrpcError);
    assertEquals([error.code, error.details], [Status.NOT_FOUND, "no user named 'missing'"]);
    assertEquals(error.message, "/Greeter/SayHello NOT_FOUND: no user named 'missing'");
    assertEquals(error.metadata.get("x-reason"), ["gone"]);
  });
  await t.step("any other throw is UNKNOWN with a generic message, and is logged", async () => {
    const error = await assertRejects(() => client.sayHello({ name: "boom" }), GrpcError);
    assertEquals([error.code, error.details], [Status.UNKNOWN, "Unexpected server error"]);
    assertEquals((logged[0] as Error).message, "database password is hunter2");
  });
  await t.step("a GrpcError with OK is refused with RangeError: UNKNOWN on the wire, and logged", async () => {
    const error = await assertRejects(() => client.sayHello({ name: "ok" }), GrpcError);
    assertEquals([error.code, error.details], [Status.UNKNOWN, "Unexpected server error"]);
    assertInstanceOf(logged.at(-1), RangeError);
    assertStringIncludes((logged.at(-1) as Error).message, "got 0 (OK)");
  });
  await t.step("a server stream fails after its first message", async () => {
    const received: string[] = [];
    const error = await assertRejects(async () => {
      for await (const reply of client.lotsOfReplies({})) received.push(reply.name);
    }, GrpcError);
    assertEquals([error.code, error.details, received], [Status.ABORTED, "stopped after one", ["first"]]);
  });
  await t.step("a client stream fails mid-way", async () => {
    const error = await assertRejects(() => client.lotsOfGreetings([{ name: "a" }, { name: "b" }]), GrpcError);
    assertEquals([error.code, error.details], [Status.FAILED_PRECONDITION, "no names today"]);
  });
});

Deno.test("GreeterServer.shutdown() drains, then cancels an open stream after the grace period", async () => {
  let handlerSignal: AbortSignal | undefined;
  const server = await createGreeterServer({
    ...LOCAL,
    gracePeriodMs: 200,
    handlers: {
      async *lotsOfReplies(_request, context) {
        handlerSignal = context.signal;
        yield { name: "open" };
        await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
      },
    },
  });
  using client = createGreeterClient(server.address);
  const stream = client.lotsOfReplies({});
  assertEquals((await stream.next()).value, { name: "open" });
  const started = performance.now();
  const [first, second] = [server.shutdown(), server.shutdown()];
  await Promise.all([first, second, server.finished]);
  const took = performance.now() - started;
  assert(took >= 150 && took < 3000, `shutdown took ${took}ms`);
  assert(handlerSignal?.aborted, "the handler's signal did not fire");
  // A forced shutdown resets the stream (RST_STREAM CANCEL): CANCELLED, not a dropped connection.
  const error = await assertRejects(() => stream.next(), GrpcError);
  assertEquals(error.code, Status.CANCELLED, error.message);
  await server[Symbol.asyncDispose]();
});

Deno.test("createGreeterServer() stops when its signal aborts", async () => {
  const controller = new AbortController();
  const server = await createGreeterServer({ ...LOCAL, signal: controller.signal });
  controller.abort();
  await server.finished;
  await assertRejects(() => Deno.connect({ hostname: "127.0.0.1", port: server.port }), Deno.errors.ConnectionRefused);
});

Deno.test("createGreeterServer() reports each call to onCall", async () => {
  const events: string[] = [];
  await using server = await createGreeterServer({
    ...LOCAL,
    onCall: (e) => events.push(`${e.method} ${e.code}`),
  });
  using client = createGreeterClient(server.address);
  await client.sayHello({});
  await assertRejects(() => collect(client.lotsOfReplies({ count: 2_000_000 })));
  assertEquals(events, ["/Greeter/SayHello 0", "/Greeter/LotsOfReplies 3"]);
});

Deno.test("createGreeterServer() and createGreeterClient() check their arguments", async () => {
  await assertRejects(() => createGreeterServer({ port: 70000 }), RangeError, "Port must be");
  await assertRejects(() => createGreeterServer({ hostname: "127.0.0.1", port: -1 }), RangeError);
  assertThrows(() => createGreeterClient(""), TypeError, "non-empty");
  // Without a port grpc-js would silently use 443.
  assertThrows(() => createGreeterClient("127.0.0.1"), TypeError, `Address "127.0.0.1" is not 'host:port'`);
  assertThrows(() => createGreeterClient("[::1]"), TypeError, "is not 'host:port'");
  assertThrows(() => createGreeterClient("::1:8001"), TypeError, "put an IPv6 host in brackets");
  assertThrows(() => createGreeterClient("[::1]:0"), RangeError, "must be from 1 to 65535");
  assertThrows(() => createGreeterClient("127.0.0.1:65536"), RangeError, "must be from 1 to 65535");
  // gRPC names with a scheme are grpc-js's to resolve.
  createGreeterClient("dns:localhost:8001").close();
  createGreeterClient("[::1]:8001").close();
  await using server = await createGreeterServer(LOCAL);
  using client = createGreeterClient(server.address);
  await assertRejects(() => client.sayHello({ name: "\ud800" }), TypeError, "lone surrogate");
  await assertRejects(() => client.sayHello({}, { timeout: -1 }), RangeError);
});

Deno.test("createGreeterClient() reads a status code gRPC does not define as UNKNOWN", async (t) => {
  // A bare HTTP/2 server that answers every call with trailers only and the status it is told.
  let status = "0";
  const server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-status": status, "grpc-message": "odd" },
      {
        endStream: true,
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  try {
    using client = createGreeterClient(`127.0.0.1:${port}`);
    for (const [code, expected] of [["17", Status.UNKNOWN], ["99", Status.UNKNOWN], ["16", Status.UNAUTHENTICATED]]) {
      await t.step(`grpc-status ${code}`, async () => {
        status = code as string;
        const error = await assertRejects(() => client.sayHello({ name: "a" }), GrpcError);
        assertEquals([error.code, error.details], [expected, "odd"]);
      });
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
