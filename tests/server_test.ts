import { assertEquals, assertRejects } from "@std/assert";
import {
  type CallEvent,
  createGreeterClient,
  createGreeterServer,
  GrpcError,
  type HelloRequest,
  Status,
} from "../mod.ts";
import type { CallContext } from "../mod.ts";
import { settles } from "./_wait.ts";

/**
 * One held call at a time: its handler says when it has started and when its
 * signal fired, then waits for the test to release it, and answers normally.
 */
class HeldCall {
  entered = Promise.withResolvers<void>();
  aborted = Promise.withResolvers<string>();
  release = Promise.withResolvers<void>();
  reported = Promise.withResolvers<CallEvent>();

  async answerWhenReleased(context: CallContext): Promise<{ name: string }> {
    context.signal.addEventListener("abort", () => this.aborted.resolve((context.signal.reason as Error).name), {
      once: true,
    });
    this.entered.resolve();
    await this.release.promise;
    return { name: "too late" };
  }
}

/** Requests: one, then none until `signal` aborts (the stream stays open). */
async function* oneThenWait(signal: AbortSignal): AsyncGenerator<HelloRequest> {
  yield { name: "a" };
  await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
}

Deno.test("createGreeterServer() reports a unary or client-streaming call the client gave up on as CANCELLED or DEADLINE_EXCEEDED, not OK", async (t) => {
  let held = new HeldCall();
  await using server = await createGreeterServer({
    port: 0,
    onCall: (event) => held.reported.resolve(event),
    handlers: {
      sayHello: (_request, context) => held.answerWhenReleased(context),
      async lotsOfGreetings(requests, context) {
        // Takes the first request, then answers without reading on: the
        // answer comes after the call ended, as in sayHello.
        await requests[Symbol.asyncIterator]().next();
        return await held.answerWhenReleased(context);
      },
    },
  });
  using client = createGreeterClient(server.address);
  const cases = [
    { kind: "unary", method: "/Greeter/SayHello" },
    { kind: "client-streaming", method: "/Greeter/LotsOfGreetings" },
  ] as const;
  for (const { kind, method } of cases) {
    const call = (options: { signal?: AbortSignal; timeout?: number }, stop: AbortSignal) =>
      kind === "unary" ? client.sayHello({ name: "a" }, options) : client.lotsOfGreetings(oneThenWait(stop), options);

    await t.step(`${kind}: cancelled by the client's signal, then the handler answers`, async () => {
      held = new HeldCall();
      const controller = new AbortController();
      const reply = call({ signal: controller.signal }, controller.signal);
      await settles(held.entered.promise, "the handler started");
      controller.abort();
      const error = await assertRejects(() => reply, GrpcError);
      assertEquals(error.code, Status.CANCELLED);
      assertEquals(await settles(held.aborted.promise, "the handler's signal fired"), "AbortError");
      held.release.resolve();
      const event = await settles(held.reported.promise, "onCall reported the call");
      assertEquals(
        [event.method, event.code, event.details],
        [method, Status.CANCELLED, `${method}: the client cancelled the call`],
      );
    });

    await t.step(`${kind}: past its deadline, then the handler answers`, async () => {
      held = new HeldCall();
      const stop = new AbortController();
      try {
        const reply = call({ timeout: 100 }, stop.signal);
        await settles(held.entered.promise, "the handler started");
        const error = await assertRejects(() => reply, GrpcError);
        assertEquals(error.code, Status.DEADLINE_EXCEEDED);
        assertEquals(await settles(held.aborted.promise, "the handler's signal fired"), "TimeoutError");
        held.release.resolve();
        const event = await settles(held.reported.promise, "onCall reported the call");
        assertEquals(
          [event.method, event.code, event.details],
          [method, Status.DEADLINE_EXCEEDED, `${method}: deadline exceeded`],
        );
      } finally {
        stop.abort();
      }
    });
  }
});

Deno.test("createGreeterServer() reports calls its forced shutdown cut as cut by the server, not by the client", async () => {
  const events: CallEvent[] = [];
  const open = { unary: Promise.withResolvers<void>(), stream: Promise.withResolvers<void>() };
  const untilAborted = (signal: AbortSignal) =>
    new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  const server = await createGreeterServer({
    port: 0,
    gracePeriodMs: 100,
    onCall: (event) => events.push(event),
    handlers: {
      async sayHello(_request, context) {
        open.unary.resolve();
        await untilAborted(context.signal);
        return { name: "too late" };
      },
      async *lotsOfReplies(_request, context) {
        yield { name: "open" };
        open.stream.resolve();
        await untilAborted(context.signal);
      },
    },
  });
  using client = createGreeterClient(server.address);
  try {
    const unary = client.sayHello({ name: "a" });
    const stream = client.lotsOfReplies({ name: "a" });
    assertEquals((await stream.next()).value, { name: "open" });
    await settles(Promise.all([open.unary.promise, open.stream.promise]), "both handlers started");
    await server.shutdown();

    const unaryError = await assertRejects(() => unary, GrpcError);
    assertEquals(unaryError.code, Status.CANCELLED);
    const streamError = await assertRejects(() => stream.next(), GrpcError);
    assertEquals(streamError.code, Status.CANCELLED);
    const reported = events.map((event) => [event.method, event.code, event.details]).sort();
    assertEquals(reported, [
      [
        "/Greeter/LotsOfReplies",
        Status.CANCELLED,
        "/Greeter/LotsOfReplies: the server shut down before the call ended",
      ],
      ["/Greeter/SayHello", Status.CANCELLED, "/Greeter/SayHello: the server shut down before the call ended"],
    ]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("createGreeterServer() answers streaming handlers that stop reading their requests early", async (t) => {
  await using server = await createGreeterServer({
    port: 0,
    handlers: {
      async lotsOfGreetings(requests) {
        const names: string[] = [];
        for await (const request of requests) {
          names.push(request.name);
          if (names.length === 2) break;
        }
        return { name: names.join(", ") };
      },
      async *bidiHello(requests) {
        for await (const request of requests) {
          yield { name: `first ${request.name}` };
          break;
        }
      },
    },
  });
  using client = createGreeterClient(server.address);
  async function* requests(count: number): AsyncGenerator<HelloRequest> {
    for (let i = 0; i < count; i++) yield { name: `n${i}` };
  }

  await t.step("client-streaming: two of 50 requests read, then the answer", async () => {
    assertEquals(await client.lotsOfGreetings(requests(50)), { name: "n0, n1" });
  });

  await t.step("bidi: one of 50 requests read, one reply, then the end", async () => {
    const replies: string[] = [];
    for await (const reply of client.bidiHello(requests(50))) replies.push(reply.name);
    assertEquals(replies, ["first n0"]);
  });

  await t.step("the server still answers on the same client", async () => {
    assertEquals((await client.sayHello({ name: "z" })).name.endsWith("z"), true);
  });
});
