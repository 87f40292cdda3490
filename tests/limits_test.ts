import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  type CallEvent,
  createGreeterClient,
  createGreeterServer,
  decodeHelloResponse,
  encodeHelloRequest,
  GrpcError,
  Status,
} from "../mod.ts";
import { FramePeer, FrameType, pingFrame } from "./_h2_frames.ts";
import { grpcFrame, rawRequest } from "./_raw_h2.ts";
import { pythonHasGrpc, runPythonClient } from "../tools/python_peer.ts";

/** The GrpcError a call rejected with. */
async function failure(call: () => Promise<unknown>): Promise<GrpcError> {
  const error = await assertRejects(call);
  assert(error instanceof GrpcError, String(error));
  return error;
}

/** Resolves with `promise`'s value, or `fallback` when it has not settled after `ms`. */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((resolve) => timer = setTimeout(() => resolve(fallback), ms))]);
  } finally {
    clearTimeout(timer);
  }
}

const big = (size: number) => "a".repeat(size);

Deno.test("message size limits answer RESOURCE_EXHAUSTED and keep serving", async (t) => {
  await using server = await createGreeterServer({
    port: 0,
    maxReceiveMessageBytes: 1000,
    maxSendMessageBytes: 2000,
  });
  using client = createGreeterClient(server.address);

  await t.step("a request over the server's receive limit", async () => {
    const error = await failure(() => client.sayHello({ name: big(1500) }));
    assertEquals(error.code, Status.RESOURCE_EXHAUSTED);
    assertEquals(error.details, "Received message larger than max (1503 vs 1000)");
    assertEquals((await client.sayHello({ name: big(900) })).name, "我是" + big(900));
  });

  await t.step("a response over the server's send limit", async () => {
    const error = await failure(() =>
      client.lotsOfGreetings([{ name: big(990) }, { name: big(990) }, { name: big(990) }])
    );
    assertEquals(error.code, Status.RESOURCE_EXHAUSTED);
    assertStringIncludes(error.details, "Sent message larger than max");
    assertEquals((await client.sayHello({ name: "zzz" })).name, "我是zzz");
  });

  await t.step("a response over the client's receive limit", async () => {
    using small = createGreeterClient(server.address, { maxReceiveMessageBytes: 100 });
    const error = await failure(() => small.sayHello({ name: big(200) }));
    assertEquals(error.code, Status.RESOURCE_EXHAUSTED);
    assertStringIncludes(error.details, "Received message larger than max (209 vs 100)");
    assertEquals((await small.sayHello({ name: "zzz" })).name, "我是zzz");
  });

  await t.step("a request over the client's send limit never leaves", async () => {
    using small = createGreeterClient(server.address, { maxSendMessageBytes: 100 });
    const error = await failure(() => small.sayHello({ name: big(200) }));
    assertEquals(error.code, Status.RESOURCE_EXHAUSTED);
    assertStringIncludes(error.details, "larger than 100");
    assertEquals((await small.sayHello({ name: "zzz" })).name, "我是zzz");
  });

  await t.step("bad values are RangeErrors", async () => {
    await assertRejects(() => createGreeterServer({ port: 0, maxReceiveMessageBytes: -1 }), RangeError);
    await assertRejects(() => createGreeterServer({ port: 0, keepaliveTimeMs: 0 }), RangeError);
    await assertRejects(
      () => createGreeterServer({ port: 0, compression: "br" as "gzip" }),
      TypeError,
      "compression must be 'gzip' or 'identity'",
    );
  });
});

Deno.test("keepalive: the server closes a connection that stops answering PINGs", async () => {
  await using server = await createGreeterServer({ port: 0, keepaliveTimeMs: 300, keepaliveTimeoutMs: 200 });
  const started = performance.now();
  await using silent = await FramePeer.open(server.port);
  await using alive = await FramePeer.open(server.port, { answerPings: true });
  const closedAt = await within(silent.closed, 5000, undefined);
  assert(closedAt !== undefined, "the silent connection was not closed within 5 s");
  const after = closedAt - started;
  assert(after >= 450 && after < 1500, `closed after ${after.toFixed(0)} ms, expected about 300 + 200`);
  assert(silent.frames.some((f) => f.type === FrameType.PING && !(f.flags & 1)), "no PING before the close");
  // The peer that answers was pinged too, and is still connected.
  await alive.waitFor((f) => f.type === FrameType.PING && !(f.flags & 1), "PING");
  assertEquals(await within(alive.closed, 0, "open"), "open");
  using client = createGreeterClient(server.address);
  assertEquals((await client.sayHello({ name: "zzz" })).name, "我是zzz");
});

Deno.test("max connection age: GOAWAY, the call in flight completes, the client reconnects", async () => {
  const calls: CallEvent[] = [];
  await using server = await createGreeterServer({
    port: 0,
    maxConnectionAgeMs: 300,
    maxConnectionAgeGraceMs: 3000,
    onCall: (event) => calls.push(event),
  });
  await using peer = await FramePeer.open(server.port, { answerPings: true });
  const opened = performance.now();
  using client = createGreeterClient(server.address);
  assertEquals((await client.sayHello({ name: "a" })).name, "我是a");
  // 8 replies 100 ms apart: in flight when the connection turns 300 ms old.
  const replies = [];
  for await (const reply of client.lotsOfReplies({ name: "b", count: 8, intervalMs: 100 })) replies.push(reply.name);
  assertEquals(replies.length, 8);

  const goaway = await peer.goaway();
  assertEquals(goaway.errorCode, 0);
  assertEquals(goaway.debug, "max_age");
  const age = goaway.at - opened;
  assert(age >= 250 && age < 1000, `GOAWAY after ${age.toFixed(0)} ms, expected 300 ± 10%`);
  await within(peer.closed, 2000, undefined);

  assertEquals((await client.sayHello({ name: "c" })).name, "我是c");
  assertEquals(calls.map((c) => c.code), [Status.OK, Status.OK, Status.OK]);
  assert(calls[0]!.peer === calls[1]!.peer, "the stream did not share the first call's connection");
  assert(calls[2]!.peer !== calls[0]!.peer, `no new connection after GOAWAY: ${calls.map((c) => c.peer)}`);
});

Deno.test("ping policy: too many PINGs get GOAWAY ENHANCE_YOUR_CALM too_many_pings", async (t) => {
  await using server = await createGreeterServer({ port: 0, minPingIntervalMs: 200 });
  using client = createGreeterClient(server.address);

  await t.step("a raw client pinging every 10 ms", async () => {
    await using flood = await FramePeer.open(server.port);
    let goaway: Awaited<ReturnType<FramePeer["goaway"]>> | undefined;
    flood.goaway(3000).then((g) => goaway = g, () => {});
    for (let i = 0; i < 50 && goaway === undefined; i++) {
      await flood.write(pingFrame()).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const received = await flood.goaway(3000);
    assertEquals(received.errorCode, 0xb);
    assertEquals(received.debug, "too_many_pings");
    assert(await within(flood.closed, 2000, undefined) !== undefined, "the connection stayed open");
    const acks = flood.frames.filter((f) => f.type === FrameType.PING && f.flags & 1).length;
    assert(acks >= 3 && acks <= 5, `${acks} PINGs answered before GOAWAY, expected 4`);
    assertEquals((await client.sayHello({ name: "zzz" })).name, "我是zzz");
  });

  await t.step("a grpc-js client pinging no faster than allowed keeps its call", async () => {
    using polite = createGreeterClient(server.address, { keepaliveTimeMs: 250 });
    const replies = [];
    for await (const reply of polite.lotsOfReplies({ name: "p", count: 12, intervalMs: 100 })) replies.push(reply);
    assertEquals(replies.length, 12);
  });

  await t.step("the same client pinging every 50 ms is cut off", async () => {
    using rude = createGreeterClient(server.address, { keepaliveTimeMs: 50 });
    const replies = [];
    const error = await failure(async () => {
      for await (const reply of rude.lotsOfReplies({ name: "r", count: 12, intervalMs: 100 })) replies.push(reply);
    });
    assert(replies.length < 12, `${replies.length} replies`);
    // grpc-js's reading of the ENHANCE_YOUR_CALM it was sent.
    assertEquals(error.code, Status.RESOURCE_EXHAUSTED, error.message);
  });
});

Deno.test("ping policy off (minPingIntervalMs 0): a PING flood is answered", async () => {
  await using server = await createGreeterServer({ port: 0, minPingIntervalMs: 0 });
  await using flood = await FramePeer.open(server.port);
  for (let i = 0; i < 20; i++) await flood.write(pingFrame());
  await flood.waitFor(() => flood.frames.filter((f) => f.type === FrameType.PING && f.flags & 1).length >= 20, "ACKs");
  assert(!flood.frames.some((f) => f.type === FrameType.GOAWAY), "GOAWAY with the policy off");
});

Deno.test("gzip: requests and responses, per call and by default", async (t) => {
  await using plain = await createGreeterServer({ port: 0, maxReceiveMessageBytes: 1000 });
  await using gzip = await createGreeterServer({ port: 0, compression: "gzip" });
  const name = big(5000);

  await t.step("a gzip request is decompressed (and the limit counts its decompressed size)", async () => {
    using client = createGreeterClient(plain.address, { compression: "gzip" });
    assertEquals((await client.sayHello({ name: big(900) })).name, "我是" + big(900));
    const error = await failure(() => client.sayHello({ name }));
    assertEquals(error.details, "Received message that decompresses to a size larger than 1000");
  });

  await t.step("CallOptions.compression overrides the client's, both ways", async () => {
    using identity = createGreeterClient(plain.address);
    assertEquals(
      (await failure(() => identity.sayHello({ name }, { compression: "gzip" }))).details,
      "Received message that decompresses to a size larger than 1000",
    );
    assertEquals(
      (await failure(() => identity.sayHello({ name }))).details,
      "Received message larger than max (5003 vs 1000)",
    );
    using gzipped = createGreeterClient(plain.address, { compression: "gzip" });
    assertEquals(
      (await failure(() => gzipped.sayHello({ name }, { compression: "identity" }))).details,
      "Received message larger than max (5003 vs 1000)",
    );
  });

  await t.step("a raw gzip request passes the strict framing checks", async () => {
    const body = gzipSync(encodeHelloRequest({ name: "zzz" }));
    const response = await rawRequest(plain.address, {
      headers: { "grpc-encoding": "gzip" },
      chunks: [grpcFrame(1, body)],
    });
    assertEquals(response.grpcStatus, 0, response.grpcMessage);
    assertEquals(decodeHelloResponse(response.body.subarray(5)).name, "我是zzz");
  });

  await t.step("the server gzips responses for clients that accept gzip only", async () => {
    const request = [grpcFrame(0, encodeHelloRequest({ name: "zzz" }))];
    const accepting = await rawRequest(gzip.address, {
      headers: { "grpc-accept-encoding": "identity,gzip" },
      chunks: request,
    });
    assertEquals(accepting.grpcStatus, 0, accepting.grpcMessage);
    assertEquals(accepting.body[0], 1, "the response is not flagged compressed");
    assertEquals(decodeHelloResponse(gunzipSync(accepting.body.subarray(5))).name, "我是zzz");
    const other = await rawRequest(gzip.address, { chunks: request });
    assertEquals(other.body[0], 0);
    assertEquals(decodeHelloResponse(other.body.subarray(5)).name, "我是zzz");
  });

  await t.step("our client reads gzip responses, unary and streamed", async () => {
    using client = createGreeterClient(gzip.address, { compression: "gzip" });
    assertEquals((await client.sayHello({ name })).name, "我是" + name);
    const replies = [];
    for await (const reply of client.lotsOfReplies({ name: "s", count: 3 })) replies.push(reply.name);
    assertEquals(replies, ["我是s", "我是s", "我是s"]);
  });

  const hasGrpc = await pythonHasGrpc();
  await t.step({
    name: "Python's tutorial client with compression=grpc.Compression.Gzip",
    ignore: !hasGrpc,
    async fn() {
      const tutorial = await runPythonClient(["--address", gzip.address, "--compression", "gzip", "tutorial"]);
      assertEquals(tutorial.stdout, "我是zzz\n", tutorial.stderr);
      // Its request really is gzip: the limit sees the decompressed size.
      const large = await runPythonClient([
        "--address",
        plain.address,
        "--compression",
        "gzip",
        "hello",
        "--name",
        name,
      ]);
      assertEquals(large.code, 1);
      assertEquals(
        large.stderr.trim(),
        "error: RESOURCE_EXHAUSTED: Received message that decompresses to a size larger than 1000",
      );
    },
  });
});

Deno.test("deno task serve and call take the limit flags", async (t) => {
  const root = new URL("..", import.meta.url).pathname;
  const run = async (script: string, args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net=127.0.0.1", "--allow-env", script, ...args],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  };

  await t.step("bad values: one line, exit 2", async () => {
    for (
      const [script, flag, value, message] of [
        ["server.ts", "--max-receive-bytes", "4MiB", "--max-receive-bytes must be a number of bytes"],
        ["server.ts", "--keepalive-time", "0", "--keepalive-time must be a positive number of milliseconds"],
        ["server.ts", "--min-ping-interval", "-5", "--min-ping-interval must be a non-negative integer"],
        ["server.ts", "--compression", "br", "--compression must be 'gzip' or 'identity', got 'br'"],
        ["client.ts", "--compression", "zstd", "--compression must be 'gzip' or 'identity', got 'zstd'"],
        ["client.ts", "--max-receive-bytes", "x", "--max-receive-bytes must be a number of bytes"],
      ]
    ) {
      const result = await run(script!, [flag!, value!]);
      assertEquals(result.code, 2, `${script} ${flag} ${value}: ${result.stderr}`);
      assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
      assertStringIncludes(result.stderr, message!);
    }
  });

  await t.step("--help lists them", async () => {
    const serve = await run("server.ts", ["--help"]);
    for (const flag of ["--max-receive-bytes", "--max-send-bytes", "--keepalive-time", "--keepalive-timeout"]) {
      assertStringIncludes(serve.stdout, flag);
    }
    for (const flag of ["--max-connection-age", "--max-connection-age-grace", "--min-ping-interval", "--compression"]) {
      assertStringIncludes(serve.stdout, flag);
    }
    const call = await run("client.ts", ["--help"]);
    for (const flag of ["--max-receive-bytes", "--keepalive-time", "--compression"]) {
      assertStringIncludes(call.stdout, flag);
    }
  });

  await t.step("a gzip call over the CLI's limit", async () => {
    await using server = await createGreeterServer({ port: 0, compression: "gzip" });
    const ok = await run("client.ts", ["--port", String(server.port), "--compression", "gzip", "--name", "zzz"]);
    assertEquals(ok.stdout, "我是zzz\n", ok.stderr);
    const tooBig = await run("client.ts", [
      "--port",
      String(server.port),
      "--max-receive-bytes",
      "10",
      "--name",
      big(50),
    ]);
    assertEquals(tooBig.code, 1);
    assertStringIncludes(tooBig.stderr, "RESOURCE_EXHAUSTED");
  });
});
