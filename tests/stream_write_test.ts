import process from "node:process";
import { assertEquals } from "@std/assert";
import { createGreeterClient, createGreeterServer, decodeHelloResponse, encodeHelloResponse } from "../mod.ts";
import { greet } from "../src/greeter.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("createGreeterServer() streams replies under back-pressure without piling up listeners", async (t) => {
  // Node's MaxListenersExceededWarning: Deno prints it with console.error
  // rather than as a process "warning" event, so both are watched.
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  const consoleError = console.error;
  console.error = (...args: unknown[]) => {
    warnings.push(args.map(String).join(" "));
    consoleError(...args);
  };
  process.on("warning", onWarning);
  try {
    await using server = await createGreeterServer({
      port: 0,
      handlers: {
        // The default LotsOfReplies is a plain iterable (written without a
        // microtask per reply); this one is an async generator: both must
        // arrive whole and in order.
        bidiHello: async function* (requests) {
          for await (const request of requests) {
            yield* Array.from({ length: 3 }, (_, i) => ({ name: `${request.name}${i}` }));
          }
        },
      },
    });
    using client = createGreeterClient(server.address);

    await t.step("LotsOfReplies, read slowly", async () => {
      const count = 20_000;
      let n = 0;
      for await (const reply of client.lotsOfReplies({ name: "zzz", count })) {
        assertEquals(reply.name, greet("zzz"));
        if (++n % 2000 === 0) await sleep(5);
      }
      assertEquals(n, count);
    });

    await t.step("BidiHello from an async generator", async () => {
      const names: string[] = [];
      for await (const reply of client.bidiHello([{ name: "a" }, { name: "b" }])) names.push(reply.name);
      assertEquals(names, ["a0", "a1", "a2", "b0", "b1", "b2"]);
    });

    assertEquals(warnings.filter((w) => w.includes("MaxListenersExceededWarning")), []);
  } finally {
    process.off("warning", onWarning);
    console.error = consoleError;
  }
});

Deno.test("encodeHelloResponse() writes the bytes of TextEncoder for short and long strings", () => {
  const encoder = new TextEncoder();
  for (
    const name of ["zzz", "我是zzz", "é", "😀x", "a".repeat(64), "我".repeat(64), "😀".repeat(40), "b".repeat(65)]
  ) {
    const utf8 = encoder.encode(name);
    const bytes = encodeHelloResponse({ name });
    assertEquals(Array.from(bytes.subarray(bytes.length - utf8.length)), Array.from(utf8));
    assertEquals(decodeHelloResponse(bytes).name, name);
  }
});
