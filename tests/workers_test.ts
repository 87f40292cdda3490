import { assert, assertEquals, assertRejects } from "@std/assert";
import { createClient, createServer, Greeter, GrpcError, Status, type WorkerEvent } from "../mod.ts";
import type { CallEvent } from "../mod.ts";

const MODULE = new URL("./_workers_services.ts", import.meta.url);
/**
 * A client with its own connection (grpc-js would otherwise share one among
 * clients), and a 1 ms reconnect backoff: a dropped connection leaves that
 * (unref'd) timer running past close(), which the op sanitizer sees.
 */
const OWN_CONNECTION = {
  channelOptions: {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.initial_reconnect_backoff_ms": 1,
    "grpc.max_reconnect_backoff_ms": 1,
  },
};

/** Resolves with the first event `matches` accepts. */
function waitFor<T>(subscribe: (listener: (value: T) => void) => void, matches: (value: T) => boolean): Promise<T> {
  return new Promise((resolve) => subscribe((value) => matches(value) && resolve(value)));
}

Deno.test("createServer({ workers })", { sanitizeOps: true, sanitizeResources: true }, async (t) => {
  await t.step("two workers both serve, on one port", async () => {
    const calls: CallEvent[] = [];
    await using server = await createServer({
      port: 0,
      workers: 2,
      workerModule: MODULE,
      services: [[Greeter, {}]],
      onCall: (event) => calls.push(event),
    });
    const seen = new Set<string>();
    // Each client has its own connection; the kernel picks the worker of each.
    for (let i = 0; i < 200 && seen.size < 2; i++) {
      using client = createClient(Greeter, server.address, OWN_CONNECTION);
      seen.add((await client.sayHello({ name: "who" })).name);
    }
    assertEquals([...seen].sort(), ["worker-1", "worker-2"]);
    assertEquals(new Set(calls.map((event) => event.worker)), new Set([1, 2]));
  });

  await t.step("a worker that dies is replaced", async () => {
    const listeners: ((event: WorkerEvent) => void)[] = [];
    await using server = await createServer({
      port: 0,
      workers: 2,
      workerModule: MODULE,
      services: [[Greeter, {}]],
      onWorker: (event) => listeners.forEach((listener) => listener(event)),
    });
    const died = waitFor<WorkerEvent>((l) => listeners.push(l), (event) => event.kind === "died");
    {
      // Not retried: a retry would crash the replacement too.
      using client = createClient(Greeter, server.address, { ...OWN_CONNECTION, retry: false });
      // The worker dies right after answering: the answer may or may not leave first.
      await client.sayHello({ name: "crash" }).catch((error) => {
        if (!(error instanceof GrpcError) || error.code !== Status.UNAVAILABLE) throw error;
      });
    }
    const dead = await died;
    assert(dead.reason?.includes("crash asked for"), dead.reason);
    await waitFor<WorkerEvent>(
      (l) => listeners.push(l),
      (event) => event.kind === "started" && event.worker === dead.worker,
    );
    // Both serve again.
    const seen = new Set<string>();
    for (let i = 0; i < 200 && seen.size < 2; i++) {
      using client = createClient(Greeter, server.address, OWN_CONNECTION);
      seen.add((await client.sayHello({ name: "who" })).name);
    }
    assertEquals(seen.size, 2);
  });

  await t.step("shutdown drains every worker", async () => {
    const server = await createServer({ port: 0, workers: 2, workerModule: MODULE, services: [[Greeter, {}]] });
    const channel = new BroadcastChannel("workers-test");
    const started = new Set<string>();
    let bothStarted!: () => void;
    const both = new Promise<void>((resolve) => bothStarted = resolve);
    channel.onmessage = (message) => {
      if (typeof message.data === "string" && message.data.startsWith("started ")) {
        started.add(message.data.slice("started ".length));
        if (started.size === 2) bothStarted();
      }
    };
    const clients: ReturnType<typeof createClient<typeof Greeter>>[] = [];
    const held: Promise<string>[] = [];
    try {
      // A call in flight on each worker.
      while (started.size < 2 && held.length < 200) {
        const client = createClient(Greeter, server.address, OWN_CONNECTION);
        clients.push(client);
        const before = started.size;
        const call = client.sayHello({ name: "hold" }).then((reply) => reply.name);
        held.push(call);
        // Wait until this call reached its handler, so that the next one gets a fresh chance at the other worker.
        await new Promise<void>((resolve) => {
          const previous = channel.onmessage;
          channel.onmessage = (message) => {
            previous?.call(channel, message);
            if (started.size > before || String(message.data).startsWith("started ")) {
              channel.onmessage = previous;
              resolve();
            }
          };
        });
      }
      await both;
      const stopping = server.shutdown();
      // New calls are refused while the held ones are still running.
      {
        using late = createClient(Greeter, server.address, OWN_CONNECTION);
        const error = await assertRejects(() => late.sayHello({ name: "late" }), GrpcError);
        assertEquals(error.code, Status.UNAVAILABLE);
      }
      channel.postMessage("release");
      const names = await Promise.all(held);
      assertEquals(new Set(names), new Set(["worker-1", "worker-2"]));
      await stopping;
      await server.finished;
    } finally {
      channel.close();
      for (const client of clients) client.close();
      await server.shutdown();
    }
  });
});
