import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  type CallEvent,
  createGreeterClient,
  createGreeterServer,
  decodeHelloRequest,
  decodeHelloResponse,
  encodeHelloRequest,
  encodeHelloResponse,
  type GreeterClient,
  GrpcError,
  Status,
} from "../mod.ts";
import { pythonHasGrpc, runPythonClient, startPythonServer } from "../tools/python_peer.ts";
import { settles } from "./_wait.ts";

const hasGrpc = await pythonHasGrpc();
const SKIP_REASON = "/usr/bin/python3 cannot import grpc (apt install python3-grpcio python3-grpc-tools)";
if (!hasGrpc) console.warn(`python_interop_test.ts: ignored: ${SKIP_REASON}`);
/** The test's name, with the reason when it is ignored. */
const named = (name: string) => hasGrpc ? name : `${name} (ignored: ${SKIP_REASON})`;

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text: string) => new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);

Deno.test({
  name: named("Python grpcio client calls createGreeterServer()"),
  ignore: !hasGrpc,
  async fn(t) {
    let repliesReported = Promise.withResolvers<CallEvent>();
    await using server = await createGreeterServer({
      hostname: "127.0.0.1",
      port: 0,
      onCall: (event) => {
        if (event.method === "/Greeter/LotsOfReplies") repliesReported.resolve(event);
      },
    });
    const python = async (...args: string[]) => {
      const run = await runPythonClient(["--address", server.address, ...args]);
      return { ...run, lines: run.stdout.split("\n").filter((line) => line !== "") };
    };

    await t.step("the tutorial's client: SayHello name=zzz prints 我是zzz", async () => {
      const run = await python("tutorial");
      assertEquals(run.stdout, "我是zzz\n", run.stderr);
      assertEquals(run.code, 0);
    });

    await t.step("SayHello keeps UTF-8 both ways, and an empty name", async () => {
      assertEquals((await python("hello", "--name", "世界 ☺ 😈")).lines, ["我是世界 ☺ 😈"]);
      assertEquals((await python("hello", "--name", "")).lines, ["我是"]);
    });

    await t.step("LotsOfReplies: 3 replies for count 0, count replies otherwise", async () => {
      assertEquals((await python("replies", "--name", "zzz")).lines, ["我是zzz", "我是zzz", "我是zzz"]);
      assertEquals((await python("replies", "--name", "甲", "--count", "2", "--interval", "10")).lines, [
        "我是甲",
        "我是甲",
      ]);
    });

    await t.step("LotsOfReplies: INVALID_ARGUMENT over the limits", async () => {
      const count = await python("replies", "--count", "1000001");
      assertEquals(count.code, 1);
      assertEquals(count.stderr.trim(), "error: INVALID_ARGUMENT: count must be at most 1000000, got 1000001");
      const interval = await python("replies", "--interval", "60001");
      assertEquals(interval.code, 1);
      assertEquals(interval.stderr.trim(), "error: INVALID_ARGUMENT: interval_ms must be at most 60000, got 60001");
    });

    await t.step("LotsOfGreetings greets every name in one reply", async () => {
      assertEquals((await python("greetings", "--name", "甲", "--name", "b", "--name", "😈")).lines, ["我是甲, b, 😈"]);
    });

    await t.step("BidiHello answers each name", async () => {
      assertEquals((await python("bidi", "--name", "a", "--name", "乙")).lines, ["我是a", "我是乙"]);
    });

    await t.step("a deadline reaches our server as DEADLINE_EXCEEDED", async () => {
      repliesReported = Promise.withResolvers();
      const run = await python("--timeout", "0.2", "replies", "--count", "3", "--interval", "1000");
      assertEquals(run.lines, ["我是zzz"]);
      assertStringIncludes(run.stderr, "error: DEADLINE_EXCEEDED");
      // Our server, not only the Python client, saw the deadline.
      const event = await settles(repliesReported.promise, "our server reported the call");
      assertEquals([event.code, event.details], [
        Status.DEADLINE_EXCEEDED,
        "/Greeter/LotsOfReplies: deadline exceeded",
      ]);
    });
  },
});

/** What one call gave: the reply names, or the status. */
async function outcome(call: () => Promise<string[]>): Promise<string[] | { code: Status; details: string }> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof GrpcError)) throw error;
    return { code: error.code, details: error.details };
  }
}

async function names(replies: AsyncIterable<{ name: string }>): Promise<string[]> {
  const result: string[] = [];
  for await (const reply of replies) result.push(reply.name);
  return result;
}

/** Calls covering the four RPCs, their defaults, limits and UTF-8. */
const CALLS: [string, (client: GreeterClient) => Promise<string[]>][] = [
  ["SayHello zzz", async (c) => [(await c.sayHello({ name: "zzz" })).name]],
  ["SayHello Unicode", async (c) => [(await c.sayHello({ name: "世界 ☺ 😈" })).name]],
  ["SayHello empty", async (c) => [(await c.sayHello({})).name]],
  ["LotsOfReplies count 0", (c) => names(c.lotsOfReplies({ name: "zzz" }))],
  ["LotsOfReplies count 2, 10ms apart", (c) => names(c.lotsOfReplies({ name: "甲", count: 2, intervalMs: 10 }))],
  [
    "LotsOfReplies count 1000000",
    (c) => names(c.lotsOfReplies({ name: "x", count: 1_000_000, intervalMs: 60_000 }, { timeout: 300 })),
  ],
  ["LotsOfReplies count 1000001", (c) => names(c.lotsOfReplies({ count: 1_000_001 }))],
  ["LotsOfReplies interval_ms 60001", (c) => names(c.lotsOfReplies({ intervalMs: 60_001 }))],
  ["LotsOfGreetings", async (c) => [(await c.lotsOfGreetings([{ name: "甲" }, { name: "b" }, { name: "😈" }])).name]],
  ["LotsOfGreetings no names", async (c) => [(await c.lotsOfGreetings([])).name]],
  ["BidiHello", (c) => names(c.bidiHello([{ name: "a" }, { name: "乙" }, {}]))],
  ["BidiHello no requests", (c) => names(c.bidiHello([]))],
];

Deno.test({
  name: named("createGreeterClient() calls the Python grpcio server"),
  ignore: !hasGrpc,
  async fn(t) {
    const peer = await startPythonServer();
    try {
      using client = createGreeterClient(peer.address);

      await t.step("the tutorial's server: SayHello name=zzz answers 我是zzz", async () => {
        assertEquals(await client.sayHello({ name: "zzz" }), { name: "我是zzz" });
      });

      await t.step("every RPC streams UTF-8 both ways", async () => {
        assertEquals(await client.sayHello({ name: "世界 ☺ 😈" }), { name: "我是世界 ☺ 😈" });
        assertEquals(await names(client.lotsOfReplies({ name: "甲", count: 2 })), ["我是甲", "我是甲"]);
        assertEquals(await client.lotsOfGreetings([{ name: "甲" }, { name: "😈" }]), { name: "我是甲, 😈" });
        assertEquals(await names(client.bidiHello([{ name: "a" }, { name: "乙" }])), ["我是a", "我是乙"]);
      });

      await t.step("it behaves exactly as createGreeterServer() does", async () => {
        await using ours = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });
        using ourClient = createGreeterClient(ours.address);
        for (const [name, call] of CALLS) {
          const expected = await outcome(() => call(ourClient));
          assertEquals(await outcome(() => call(client)), expected, name);
        }
      });

      await t.step("limits are INVALID_ARGUMENT with our messages", async () => {
        assertEquals(await outcome(() => names(client.lotsOfReplies({ count: 1_000_001 }))), {
          code: Status.INVALID_ARGUMENT,
          details: "count must be at most 1000000, got 1000001",
        });
        assertEquals(await outcome(() => names(client.lotsOfReplies({ intervalMs: 60_001 }))), {
          code: Status.INVALID_ARGUMENT,
          details: "interval_ms must be at most 60000, got 60001",
        });
      });

      await t.step("a deadline ends a slow stream with DEADLINE_EXCEEDED", async () => {
        const got: string[] = [];
        const result = await outcome(async () => {
          for await (const reply of client.lotsOfReplies({ count: 3, intervalMs: 1000 }, { timeout: 200 })) {
            got.push(reply.name);
          }
          return got;
        });
        assertEquals(got, ["我是"]);
        assertEquals((result as { code: Status }).code, Status.DEADLINE_EXCEEDED);
      });
    } finally {
      await peer.stop();
    }
  },
});

const CODEC_VALUES = ["bobby", "", "zzz", "我是zzz", "世界 ☺ and non-BMP 😈", "\t\n\r\0", "x".repeat(300)];

Deno.test({
  name: named("encodeHelloRequest() and encodeHelloResponse() give Python's SerializeToString() bytes"),
  ignore: !hasGrpc,
  async fn(t) {
    const items = CODEC_VALUES.flatMap((name) => [
      { type: "HelloRequest", name },
      { type: "HelloResponse", name },
    ]);
    const run = await runPythonClient(["codec"], { stdin: JSON.stringify(items) });
    assertEquals(run.code, 0, run.stderr);
    const python: { hex: string }[] = JSON.parse(run.stdout);

    await t.step("'bobby' is 0a05626f626279 in both", () => {
      assertEquals(python[0]!.hex, "0a05626f626279");
      assertEquals(hex(encodeHelloRequest({ name: "bobby" })), "0a05626f626279");
    });

    await t.step("our bytes equal Python's for every value", () => {
      items.forEach((item, i) => {
        const ours = item.type === "HelloRequest" ? encodeHelloRequest(item) : encodeHelloResponse(item);
        assertEquals(hex(ours), python[i]!.hex, `${item.type} ${JSON.stringify(item.name)}`);
      });
    });

    await t.step("our decoder reads Python's bytes", () => {
      items.forEach((item, i) => {
        const bytes = unhex(python[i]!.hex);
        const decoded = item.type === "HelloRequest" ? decodeHelloRequest(bytes) : decodeHelloResponse(bytes);
        assertEquals(decoded, { name: item.name });
      });
    });

    await t.step("Python's ParseFromString() reads our bytes", async () => {
      const ours = items.map((item) => ({
        type: item.type,
        hex: hex(item.type === "HelloRequest" ? encodeHelloRequest(item) : encodeHelloResponse(item)),
      }));
      const parsed = await runPythonClient(["codec"], { stdin: JSON.stringify(ours) });
      assertEquals(parsed.code, 0, parsed.stderr);
      assertEquals(JSON.parse(parsed.stdout), items.map(({ name }) => ({ name })));
    });
  },
});
