import { assertEquals, assertRejects } from "@std/assert";
import {
  type CallEvent,
  createGreeterClient,
  createGreeterServer,
  GrpcError,
  type HelloRequest,
  Status,
} from "../mod.ts";
import { greet } from "../src/greeter.ts";
import { CASES, formatResult, PAIRINGS, runInterop } from "../tools/interop.ts";
import { pythonHasGrpc } from "../tools/python_peer.ts";
import { settles } from "./_wait.ts";

const hasGrpc = await pythonHasGrpc();

Deno.test("runInterop() passes every interop case in every pairing", async (t) => {
  for (const pairing of PAIRINGS) {
    const needsPython = pairing !== "deno→deno";
    await t.step({
      name: needsPython && !hasGrpc ? `${pairing} (ignored: /usr/bin/python3 cannot import grpc)` : pairing,
      ignore: needsPython && !hasGrpc,
      async fn() {
        const results = await runInterop({ pairings: [pairing] });
        assertEquals(results.map((r) => r.name), [...CASES]);
        assertEquals(results.filter((r) => !r.ok).map(formatResult), []);
      },
    });
  }
});

Deno.test("createGreeterServer() ends a client stream cancelled midway with CANCELLED, not a short stream", async (t) => {
  let seen = Promise.withResolvers<string>();
  let ended = Promise.withResolvers<CallEvent>();
  let firstRequest = Promise.withResolvers<void>();
  await using server = await createGreeterServer({
    hostname: "127.0.0.1",
    port: 0,
    handlers: {
      async lotsOfGreetings(requests) {
        const names: string[] = [];
        try {
          for await (const request of requests) {
            names.push(request.name);
            firstRequest.resolve();
          }
        } catch (error) {
          seen.resolve(`${(error as Error).name} after [${names}]`);
          throw error;
        }
        seen.resolve(`complete [${names}]`);
        return { name: greet(names.join(", ")) };
      },
    },
    onCall: (event) => ended.resolve(event),
  });

  await t.step("our client cancels after one request", async () => {
    seen = Promise.withResolvers();
    ended = Promise.withResolvers();
    firstRequest = Promise.withResolvers();
    using client = createGreeterClient(server.address);
    const controller = new AbortController();
    async function* requests(): AsyncGenerator<HelloRequest> {
      yield { name: "a" };
      await new Promise((resolve) => controller.signal.addEventListener("abort", resolve, { once: true }));
    }
    const reply = client.lotsOfGreetings(requests(), { signal: controller.signal });
    await settles(firstRequest.promise, "the handler read the first request");
    controller.abort();
    await assertRejects(() => reply, GrpcError, "CANCELLED");
    assertEquals(await seen.promise, "AbortError after [a]");
    assertEquals((await ended.promise).code, Status.CANCELLED);
  });
});
