import * as http2 from "node:http2";
import { assert, assertEquals, assertGreater, assertLess, assertRejects, assertStringIncludes } from "@std/assert";
import { createGreeterClient, createGreeterServer, GrpcError, Status } from "../mod.ts";
import type { GreeterServer } from "../server.ts";
import { greeterHandlers as defaultHandlers } from "../src/greeter.ts";
import { FrameChecker } from "../src/_strict.ts";
import { settles } from "./_wait.ts";
import { closeSession, connect, grpcFrame, RawH2Connection, rawRequest, unhex } from "./_raw_h2.ts";

const NAME_A = unhex("0a0161"); // HelloRequest { name: "a" }

/** The server still answers a normal call through our client. */
async function assertServing(server: GreeterServer): Promise<void> {
  using client = createGreeterClient(server.address);
  const reply = await client.sayHello({ name: "still" }, { timeout: 3000 });
  assertEquals(reply.name, "我是still");
}

interface RejectCase {
  name: string;
  headers?: Record<string, string>;
  chunks: Uint8Array[];
  code: Status;
  message: string;
}

Deno.test("createGreeterServer() rejects malformed raw requests with a precise status", async (t) => {
  await using server = await createGreeterServer({ port: 0 });
  const cases: RejectCase[] = [
    {
      name: "a string field declaring 5 bytes but carrying 2 gets INTERNAL",
      chunks: [grpcFrame(0, unhex("0a056162"))],
      code: Status.INTERNAL,
      message: "Malformed HelloRequest: field 'name' (1) declares 5 bytes but 2 remain",
    },
    {
      name: "an over-long varint length gets INTERNAL",
      chunks: [grpcFrame(0, unhex("0affffffffffffffffffff01"))],
      code: Status.INTERNAL,
      message: "Malformed HelloRequest: the length of field 'name' (1) is longer than 10 bytes",
    },
    {
      name: "invalid UTF-8 (0a 02 c3 28) gets INTERNAL",
      chunks: [grpcFrame(0, unhex("0a02c328"))],
      code: Status.INTERNAL,
      message: "Malformed HelloRequest: field 'name' (1) is not valid UTF-8",
    },
    {
      name: "the compressed flag with no grpc-encoding gets INTERNAL",
      chunks: [grpcFrame(1, NAME_A)],
      code: Status.INTERNAL,
      message: "Message 1 has the compressed flag set but the request has no grpc-encoding header",
    },
    {
      name: "the compressed flag with grpc-encoding identity gets INTERNAL",
      headers: { "grpc-encoding": "identity" },
      chunks: [grpcFrame(1, NAME_A)],
      code: Status.INTERNAL,
      message: "Message 1 has the compressed flag set but grpc-encoding is 'identity'",
    },
    {
      name: "an undefined compression flag 0x02 gets INTERNAL",
      chunks: [grpcFrame(2, NAME_A)],
      code: Status.INTERNAL,
      message: "Message 1 has an undefined compressed flag 0x02 (only 0x00 and 0x01 are defined)",
    },
    {
      name: "an undefined compression flag 0x80 split across DATA frames gets INTERNAL",
      chunks: [grpcFrame(0, NAME_A).subarray(0, 7), grpcFrame(0, NAME_A).subarray(7), grpcFrame(0x80, NAME_A)],
      code: Status.INTERNAL,
      message: "has an undefined compressed flag 0x80",
    },
    {
      name: "a body cut mid-message gets INTERNAL",
      chunks: [grpcFrame(0, NAME_A, 10)],
      code: Status.INTERNAL,
      message: "Request body ended inside a message: got 3 of 10 bytes",
    },
    {
      name: "a body cut inside the 5-byte prefix gets INTERNAL",
      chunks: [grpcFrame(0, NAME_A).subarray(0, 2)],
      code: Status.INTERNAL,
      message: "Request body ended inside a message prefix: got 2 of 5 bytes",
    },
    {
      name: "no request message gets INTERNAL",
      chunks: [],
      code: Status.INTERNAL,
      message: "Received no request message for /Greeter/SayHello, which takes exactly one",
    },
    {
      name: "two request messages to a unary method get INTERNAL",
      chunks: [grpcFrame(0, NAME_A), grpcFrame(0, NAME_A)],
      code: Status.INTERNAL,
      message: "Received a second request message for /Greeter/SayHello, which takes exactly one",
    },
    {
      name: "a GET gets INTERNAL",
      headers: { ":method": "GET" },
      chunks: [],
      code: Status.INTERNAL,
      message: "gRPC requests must use HTTP method POST, got 'GET'",
    },
    {
      name: "a 5 MiB message gets RESOURCE_EXHAUSTED",
      chunks: [grpcFrame(0, new Uint8Array(5 * 1024 * 1024))],
      code: Status.RESOURCE_EXHAUSTED,
      message: "Received message larger than max (5242880 vs 4194304)",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const response = await rawRequest(server.address, { headers: c.headers, chunks: c.chunks });
      assertEquals(response.status, 200);
      assertEquals(response.grpcStatus, c.code, `grpc-message: ${response.grpcMessage}`);
      assertStringIncludes(response.grpcMessage ?? "", c.message);
      assertEquals(response.body.length, 0, "no response message");
    });
  }
  await t.step("a well-formed raw request still gets OK", async () => {
    const response = await rawRequest(server.address, { chunks: [grpcFrame(0, NAME_A)] });
    assertEquals(response.grpcStatus, Status.OK);
    assertEquals(response.body.length, 5 + 9); // HelloResponse { name: "我是a" }
  });
  await assertServing(server);
});

Deno.test("createGreeterServer() rejects an undefined compression flag mid-stream after replies with INTERNAL", async () => {
  const signalled = Promise.withResolvers<void>();
  await using server = await createGreeterServer({
    port: 0,
    handlers: {
      async *bidiHello(requests, context) {
        context.signal.addEventListener("abort", () => signalled.resolve());
        yield* defaultHandlers.bidiHello(requests, context);
      },
    },
  });
  let replies = 0;
  const response = await rawRequest(server.address, {
    path: "/Greeter/BidiHello",
    chunks: [grpcFrame(0, NAME_A)],
    keepOpen: true,
    onData(_chunk, write) {
      // After two replies the third request carries flag 0x02.
      replies++;
      write(grpcFrame(replies < 2 ? 0 : 2, NAME_A));
    },
  });
  assertEquals(replies, 2);
  assertEquals(response.grpcStatus, Status.INTERNAL);
  assertEquals(
    response.grpcMessage,
    "Message 3 has an undefined compressed flag 0x02 (only 0x00 and 0x01 are defined)",
  );
  await settles(signalled.promise, "the handler's context.signal fired");
  await assertServing(server);
});

Deno.test("createGreeterServer() answers a wrong content-type with HTTP 415", async () => {
  await using server = await createGreeterServer({ port: 0 });
  for (const contentType of ["text/plain", "application/json"]) {
    const response = await rawRequest(server.address, {
      headers: { "content-type": contentType },
      chunks: [grpcFrame(0, NAME_A)],
    });
    assertEquals(response.status, 415, contentType);
    assertEquals(response.grpcStatus, undefined);
  }
  await assertServing(server);
});

Deno.test("createGreeterClient() rejects a lone surrogate with TypeError before sending", async (t) => {
  const methods: string[] = [];
  await using server = await createGreeterServer({ port: 0, onCall: (event) => methods.push(event.method) });
  using client = createGreeterClient(server.address);
  await t.step("sayHello", async () => {
    await assertRejects(
      () => client.sayHello({ name: "\ud800" }),
      TypeError,
      "Field 'HelloRequest.name' contains a lone surrogate, which has no UTF-8 encoding",
    );
  });
  await t.step("lotsOfReplies", async () => {
    await assertRejects(
      async () => {
        for await (const _ of client.lotsOfReplies({ name: "x\udfff" })) { /* none */ }
      },
      TypeError,
      "lone surrogate",
    );
  });
  await t.step("lotsOfGreetings, on the second request", async () => {
    await assertRejects(
      () => client.lotsOfGreetings([{ name: "a" }, { name: "\ud800b" }]),
      TypeError,
      "lone surrogate",
    );
  });
  // A good call on the same connection, after the bad ones: onCall reports it
  // before its answer leaves, and any bad call that had been sent would come first.
  assertEquals(await client.sayHello({ name: "good" }), { name: "我是good" });
  assertEquals(
    methods.filter((m) => m !== "/Greeter/LotsOfGreetings"),
    ["/Greeter/SayHello"],
    "no bad sayHello or lotsOfReplies call reached the server",
  );
});

Deno.test("createGreeterClient() gets RESOURCE_EXHAUSTED for a 5 MiB request", async () => {
  await using server = await createGreeterServer({ port: 0 });
  using client = createGreeterClient(server.address);
  const error = await assertRejects(
    () => client.sayHello({ name: "x".repeat(5 * 1024 * 1024) }, { timeout: 10_000 }),
    GrpcError,
  );
  assertEquals(error.code, Status.RESOURCE_EXHAUSTED);
  assertStringIncludes(error.details, "larger than max");
  await assertServing(server);
});

Deno.test("createGreeterServer() keeps serving after a plain HTTP/1.1 request", async () => {
  await using server = await createGreeterServer({ port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(
      new TextEncoder().encode(
        "POST /Greeter/SayHello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/grpc\r\n" +
          "Content-Length: 8\r\n\r\n\x00\x00\x00\x00\x03\x0a\x01\x61",
      ),
    );
    // The server must close the connection (an HTTP/2 GOAWAY, or nothing) within a bound.
    const buffer = new Uint8Array(4096);
    let total = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), 3000));
    try {
      while (true) {
        const n = await Promise.race([conn.read(buffer), timeout]);
        assert(n !== "timeout", "the server closed the HTTP/1.1 connection within 3 s");
        if (n === null) break;
        total += n;
        assert(total < 1_000_000, "bounded response");
      }
    } finally {
      clearTimeout(timer);
    }
  } finally {
    conn.close();
  }
  await assertServing(server);
});

Deno.test("createGreeterServer() keeps serving when a client vanishes mid-frame or mid-stream", async (t) => {
  const events: { method: string; code: number }[] = [];
  const reported = Promise.withResolvers<void>();
  const threeReplies = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<void>();
  let abortedCount = 0;
  let replies = 0;
  await using server = await createGreeterServer({
    port: 0,
    onCall: (event) => {
      events.push({ method: event.method, code: event.code });
      if (event.method === "/Greeter/LotsOfReplies") reported.resolve();
    },
    handlers: {
      async *lotsOfReplies(request, context) {
        context.signal.addEventListener("abort", () => {
          abortedCount++;
          aborted.resolve();
        });
        for await (const reply of defaultHandlers.lotsOfReplies(request, context)) {
          if (++replies === 3) threeReplies.resolve();
          yield reply;
        }
      },
    },
  });

  await t.step("a body cut mid-frame, then the connection is gone", async () => {
    const connection = await RawH2Connection.open(server.port);
    await connection.write(
      RawH2Connection.headers(1, "/Greeter/SayHello"),
      RawH2Connection.data(1, grpcFrame(0, NAME_A, 100)),
    );
    await connection.ping(); // the server has read the cut frame
    await connection.close();
    await assertServing(server);
    assertEquals(
      events,
      [{ method: "/Greeter/SayHello", code: Status.OK }],
      "only the complete call reached a handler",
    );
  });

  await t.step("a server stream, then the connection is gone", async () => {
    const connection = await RawH2Connection.open(server.port);
    // RepliesRequest { name: "a", count: 1000, interval_ms: 10 }
    await connection.write(
      RawH2Connection.headers(1, "/Greeter/LotsOfReplies"),
      RawH2Connection.data(1, grpcFrame(0, unhex("0a0161" + "10e807" + "180a")), true),
    );
    await settles(threeReplies.promise, "three replies were sent");
    await connection.close();
    await settles(aborted.promise, "the handler's context.signal fired");
    await settles(reported.promise, "the call was reported");
    assertEquals(abortedCount, 1);
    assertEquals(events.at(-1), { method: "/Greeter/LotsOfReplies", code: Status.CANCELLED });
    assertLess(replies, 1000);
    await assertServing(server);
  });
});

Deno.test("createGreeterServer() survives an HTTP/2 rapid-reset burst, and no handler runs for the reset streams", async () => {
  const STREAMS = 20_000;
  const BATCH = 100;
  const TIME_LIMIT_MS = 10_000;
  let handlerRuns = 0;
  let reported = 0;
  await using server = await createGreeterServer({
    port: 0,
    onCall: () => reported++,
    handlers: {
      sayHello(request, context) {
        handlerRuns++;
        return defaultHandlers.sayHello(request, context);
      },
    },
  });
  const started = Date.now();
  let sent = 0;
  let refused = false;
  {
    await using connection = await RawH2Connection.open(server.port);
    while (sent < STREAMS && Date.now() - started < TIME_LIMIT_MS) {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < BATCH; i++) {
        const id = 2 * (sent + i) + 1;
        frames.push(RawH2Connection.headers(id, "/Greeter/SayHello"), RawH2Connection.reset(id));
      }
      try {
        await connection.write(...frames);
      } catch {
        refused = true; // the server dropped the connection: a fair answer to such a peer
        break;
      }
      sent += BATCH;
    }
    // The PING's ACK comes once the server has read every frame before it.
    if (!refused) await connection.ping().catch(() => refused = true);
  }
  assertGreater(sent, 0);
  console.log(
    `rapid reset: ${sent} HEADERS+RST_STREAM pairs in ${Date.now() - started}ms, ` +
      `connection dropped by the server: ${refused}`,
  );
  assertEquals([handlerRuns, reported], [0, 0], "no handler ran, and no call was reported, for the reset streams");
  // A normal call afterwards reaches the (counting) handler and is answered.
  await assertServing(server);
  assertEquals([handlerRuns, reported], [1, 1]);
});

Deno.test("FrameChecker follows messages split at every byte", () => {
  const body = new Uint8Array([...grpcFrame(0, NAME_A), ...grpcFrame(0, new Uint8Array(0)), ...grpcFrame(2, NAME_A)]);
  const checker = new FrameChecker("/Greeter/BidiHello", undefined, false);
  const problems: string[] = [];
  for (const byte of body) {
    const problem = checker.push(new Uint8Array([byte]));
    if (problem) {
      problems.push(problem);
      break;
    }
  }
  assertEquals(problems, ["Message 3 has an undefined compressed flag 0x02 (only 0x00 and 0x01 are defined)"]);
  const gzip = new FrameChecker("/Greeter/SayHello", "gzip", true);
  assertEquals(gzip.push(grpcFrame(1, NAME_A)), undefined);
  assertEquals(gzip.end(), undefined);
});

Deno.test("createGreeterServer() keeps serving after closing a session mid-call with GOAWAY", async () => {
  await using server = await createGreeterServer({ port: 0 });
  const session = await connect(server.address);
  const stream = session.request({
    ":method": "POST",
    ":path": "/Greeter/BidiHello",
    "content-type": "application/grpc",
    "te": "trailers",
  });
  stream.on("error", () => {});
  stream.write(grpcFrame(0, NAME_A));
  await new Promise((resolve) => stream.once("data", resolve));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await closeSession(session);
  await assertServing(server);
});
