/**
 * Hostile clients at the HTTP/2 and TCP level, each against a fresh server
 * process (`server.ts` with small limits), in raw frames. After each attack:
 * the tutorial's Python client is served, the server's RSS is within the
 * stated bound, and its fds are back at their baseline.
 *
 * @module
 */
import { assert, assertEquals, assertGreater, assertLess } from "@std/assert";
import { ServerProcess } from "../tools/_server_process.ts";
import { runPythonClient } from "../tools/python_peer.ts";
import { FramePeer, FrameType } from "./_h2_frames.ts";
import { closeSession, connect, RawH2Connection, rawRequest } from "./_raw_h2.ts";
import { taskArgs } from "./_tasks.ts";
import { closedByServer } from "./_wait.ts";
import { RepliesRequest } from "../proto/hello.ts";

const MiB = 1024 * 1024;
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length << 8);
  out[3] = type;
  out[4] = flags;
  view.setUint32(5, streamId);
  out.set(payload, 9);
  return out;
}

/** SETTINGS with INITIAL_WINDOW_SIZE = `window`. */
function settings(window: number): Uint8Array {
  const payload = new Uint8Array(6);
  new DataView(payload.buffer).setUint16(0, 0x4);
  new DataView(payload.buffer).setUint32(2, window);
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

function windowUpdate(streamId: number, increment: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, increment);
  return frame(0x8, 0, streamId, payload);
}

function grpcMessage(body: Uint8Array, declared = body.length): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, declared);
  out.set(body, 5);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Baseline {
  rss: number;
  fds: number;
}

async function baseline(server: ServerProcess): Promise<Baseline> {
  // One call first, so that what the first call loads counts in the baseline.
  const run = await runPythonClient(["--address", server.address, "tutorial"], { timeoutMs: 30_000 });
  assertEquals(run.code, 0, run.stderr);
  return { rss: await server.rssBytes(), fds: await server.openFds() };
}

/** The three checks after an attack. */
async function assertRecovered(server: ServerProcess, before: Baseline, rssBoundMiB: number): Promise<string> {
  let fds = await server.openFds();
  for (let i = 0; i < 50 && fds > before.fds; i++) {
    await sleep(100);
    fds = await server.openFds();
  }
  const run = await runPythonClient(["--address", server.address, "tutorial"], { timeoutMs: 30_000 });
  assertEquals(run.code, 0, `the tutorial's client after the attack: ${run.stderr}`);
  assert(run.stdout.includes("我是"), run.stdout);
  const rss = await server.rssBytes();
  const summary = `RSS ${(before.rss / MiB).toFixed(0)} -> ${(rss / MiB).toFixed(0)} MiB, fds ${before.fds} -> ${fds}`;
  assertLess(rss - before.rss, rssBoundMiB * MiB, summary);
  assertLess(fds, before.fds + 1, summary);
  console.log(`    ${summary}`);
  return summary;
}

async function withServer(
  flags: string[],
  fn: (server: ServerProcess) => Promise<void>,
  prefix: string[] = [],
  denoFlags: string[] = [],
) {
  const server = await ServerProcess.start(0, 20_000, ["--verbose", ...flags], undefined, prefix, denoFlags);
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

/** {@linkcode withServer} with `--workers=2`, which reads its sources as the serve task lets it. */
function withWorkers(flags: string[], fn: (server: ServerProcess) => Promise<void>, prefix: string[] = []) {
  const reads = taskArgs("serve").filter((arg) => arg.startsWith("--allow-read="));
  return withServer(["--workers=2", ...flags], fn, prefix, reads);
}

/** How many lines of `output` start with `prefix`. */
function linesStarting(output: string, prefix: string): number {
  return output.split("\n").filter((line) => line.startsWith(prefix)).length;
}

/** Opens a LotsOfReplies of `count` replies on a raw connection that then stops reading. */
async function stalledReplies(port: number, streams: number, window: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const body = RepliesRequest.encode({ name: "x".repeat(200), count: 1_000_000, intervalMs: 0 });
  const parts = [PREFACE, settings(window)];
  if (window > 65535) parts.push(windowUpdate(0, 0x7fffffff - 65535));
  for (let i = 0; i < streams; i++) {
    const id = 1 + 2 * i;
    parts.push(
      RawH2Connection.headers(id, "/Greeter/LotsOfReplies"),
      RawH2Connection.data(id, grpcMessage(body), true),
    );
  }
  for (const part of parts) await writeAll(conn, part);
  return conn;
}

Deno.test("a client that stops reading holds at most the unflushed bound, and its calls are reset", async (t) => {
  for (const [name, window] of [["grants no window", 0], ["grants huge windows, never reads", 0x7fffffff]] as const) {
    await t.step(`5 LotsOfReplies of 1,000,000; the client ${name}`, async () => {
      await withServer(["--stall-timeout-ms=1500"], async (server) => {
        const before = await baseline(server);
        const conn = await stalledReplies(server.port, 5, window);
        let peak = 0;
        for (let i = 0; i < 12; i++) {
          await sleep(250);
          peak = Math.max(peak, await server.rssBytes());
        }
        console.log(`    peak RSS +${((peak - before.rss) / MiB).toFixed(0)} MiB while stalled`);
        // 5 calls x 1 MiB, the connection's 8 MiB, and what nghttp2 and the kernel hold.
        assertLess(peak - before.rss, 64 * MiB);
        conn.close();
        await assertRecovered(server, before, 64);
      });
      // stop() has waited for the output.
    });
  }
});

Deno.test("a stalled call is logged RESOURCE_EXHAUSTED and the limit once", async () => {
  const server = await ServerProcess.start(0, 20_000, ["--verbose", "--stall-timeout-ms=1000"]);
  let output = "";
  try {
    const conn = await stalledReplies(server.port, 3, 0);
    await sleep(2500);
    conn.close();
  } finally {
    await server.stop();
    output = await server.output;
  }
  const exhausted = output.split("\n").filter((line) => line.includes("LotsOfReplies RESOURCE_EXHAUSTED"));
  assertEquals(exhausted.length, 3, output);
  assertEquals(linesStarting(output, "limit call-stalled"), 1, output);
});

Deno.test("connections that cannot starve the server", async (t) => {
  await t.step(
    "300 silent connections and 50 one-byte-a-second prefaces are closed at the handshake timeout",
    async () => {
      await withServer(["--handshake-timeout-ms=1000"], async (server) => {
        const before = await baseline(server);
        const silent = await Promise.all(
          Array.from({ length: 300 }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
        );
        const slow = await Promise.all(
          Array.from({ length: 50 }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
        );
        for (let i = 0; i < 4; i++) {
          await Promise.all(slow.map((conn) => conn.write(PREFACE.subarray(i, i + 1)).catch(() => 0)));
          await sleep(400);
        }
        // Every connection must have been closed by the server: reads end in EOF or a reset
        // (after the server's SETTINGS, which nghttp2 sends at once).
        const closed = await Promise.all([...silent, ...slow].map((conn) => closedByServer(conn, 3000)));
        assertEquals(closed.filter((ms) => ms !== undefined).length, 350);
        // 350 connections' worth of allocations is not all given back to the OS.
        await assertRecovered(server, before, 64);
      });
    },
  );

  await t.step(
    "past --max-connections, new connections are closed at once; an idle one at the idle timeout",
    async () => {
      await withServer(["--max-connections=100", "--idle-timeout-ms=1500"], async (server) => {
        const before = await baseline(server);
        const peers = await Promise.all(Array.from({ length: 100 }, () => FramePeer.open(server.port)));
        await sleep(200);
        const extra = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        const n = await extra.read(new Uint8Array(16)).catch(() => null);
        extra.close();
        assertEquals(n, null, "the 101st connection is closed");
        // The 100 idle ones get GOAWAY and are closed.
        const goaways = await Promise.all(peers.map((peer) => peer.goaway(5000).then(() => true, () => false)));
        assertEquals(goaways.filter(Boolean).length, 100);
        await Promise.all(peers.map((peer) => peer.close()));
        await assertRecovered(server, before, 64);
      });
    },
  );

  await t.step("out of fds: accepts again as soon as they are free", async () => {
    // The server gets 256 fds; the client holds 400 connections, then closes them.
    await withServer(["--max-connections=10000"], async (server) => {
      const before = await baseline(server);
      const conns: Deno.Conn[] = [];
      for (let i = 0; i < 400; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      await sleep(500);
      for (const conn of conns) conn.close();
      await sleep(500);
      // 400 connections' worth of allocations is not all given back to the OS.
      await assertRecovered(server, before, 64);
    }, ["prlimit", "--nofile=256:256"]);
  });
});

Deno.test("with --workers 2, the connection limits hold across the workers", async (t) => {
  await t.step(
    "past --max-connections, counted across the workers, new connections are closed at once; the open ones are served",
    async () => {
      await withWorkers(["--max-connections=20"], async (server) => {
        const before = await baseline(server);
        const sessions = [];
        // Each session served once, so that the server holds it; one refused means the baseline's
        // connection is not closed yet, so it is opened again.
        for (let attempts = 0; sessions.length < 20 && attempts < 100; attempts++) {
          const session = await connect(server.address);
          const reply = await rawRequest(session, { chunks: [grpcMessage(new Uint8Array())] }).catch(() => undefined);
          if (reply?.grpcStatus === 0) sessions.push(session);
          else await closeSession(session);
        }
        assertEquals(sessions.length, 20);
        try {
          const extra = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
          assert(await closedByServer(extra, 3000) !== undefined, "the 21st connection is closed");
          const replies = await Promise.all(
            sessions.map((session) => rawRequest(session, { chunks: [grpcMessage(new Uint8Array())] })),
          );
          assertEquals(replies.map((reply) => reply.grpcStatus), Array(20).fill(0));
        } finally {
          await Promise.all(sessions.map(closeSession));
        }
        await assertRecovered(server, before, 64);
      });
    },
  );

  await t.step("a connection that sends no preface is closed at --handshake-timeout-ms, logged once", async () => {
    let output: Promise<string> | undefined;
    await withWorkers(["--handshake-timeout-ms=1000"], async (server) => {
      output = server.output;
      const before = await baseline(server);
      const start = performance.now();
      // Enough that both workers get some (the kernel spreads them by address and port).
      const silent = await Promise.all(
        Array.from({ length: 20 }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
      );
      await using peer = await FramePeer.open(server.port);
      const closedAt = await Promise.all(
        silent.map(async (conn) =>
          await closedByServer(conn, 5000) !== undefined ? performance.now() - start : Infinity
        ),
      );
      const earliest = Math.min(...closedAt);
      const latest = Math.max(...closedAt);
      console.log(
        `    20 silent connections closed ${earliest.toFixed(0)} to ${latest.toFixed(0)} ms after connecting`,
      );
      assertGreater(earliest, 1000 - 20); // timers may fire a tick early
      assertLess(latest, 5000);
      const peerOpen = await Promise.race([peer.closed.then(() => false), Promise.resolve(true)]);
      assert(peerOpen, "a connection that sent the preface stays open");
      await peer.close();
      await assertRecovered(server, before, 64);
    });
    assertEquals(linesStarting(await output!, "limit handshake-timeout"), 1, await output);
  });

  await t.step("out of fds (256, 400 connections held): accepts again once they are free, logged once", async () => {
    let output: Promise<string> | undefined;
    await withWorkers(["--max-connections=10000"], async (server) => {
      output = server.output;
      const before = await baseline(server);
      const conns: Deno.Conn[] = [];
      for (let i = 0; i < 400; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      await server.printed(/^limit fds-exhausted/m);
      for (const conn of conns) conn.close();
      await assertRecovered(server, before, 64);
    }, ["prlimit", "--nofile=256:256"]);
    assertEquals(linesStarting(await output!, "limit fds-exhausted"), 1, await output);
  });
});

Deno.test("stream and buffering limits", async (t) => {
  await t.step("MAX_CONCURRENT_STREAMS 100 is advertised and enforced", async () => {
    await withServer([], async (server) => {
      const before = await baseline(server);
      await using peer = await FramePeer.open(server.port);
      const serverSettings = await peer.waitFor((f) => f.type === FrameType.SETTINGS && !(f.flags & 1), "SETTINGS");
      const advertised = new Map<number, number>();
      for (let i = 0; i + 6 <= serverSettings.payload.length; i += 6) {
        const view = new DataView(serverSettings.payload.buffer, i, 6);
        advertised.set(view.getUint16(0), view.getUint32(2));
      }
      assertEquals(advertised.get(0x3), 100);
      await sleep(100); // our SETTINGS ACK reaches the server
      // 300 bidi streams held open.
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 300; i++) frames.push(RawH2Connection.headers(1 + 2 * i, "/Greeter/BidiHello"));
      await peer.write(...frames);
      await sleep(1000);
      const refused = peer.frames.filter((f) => f.type === FrameType.RST_STREAM).length;
      const goaway = peer.frames.some((f) => f.type === FrameType.GOAWAY);
      console.log(`    ${refused} streams reset, GOAWAY ${goaway}`);
      assert(refused >= 200 || goaway, `only ${refused} of 300 streams were refused`);
      await peer.close();
      await assertRecovered(server, before, 64);
    });
  });

  await t.step("partial messages: 16 MiB per connection, then RESOURCE_EXHAUSTED", async () => {
    await withServer([], async (server) => {
      const before = await baseline(server);
      // 10 streams on one connection, each a message declared 4,000,000 bytes of which all but 1 arrive.
      const session = await connect(server.address);
      const declared = 4_000_000;
      const results = await Promise.all(Array.from({ length: 10 }, () =>
        new Promise<string>((resolve) => {
          const stream = session.request({
            ":method": "POST",
            ":path": "/Greeter/LotsOfGreetings",
            "content-type": "application/grpc",
            "te": "trailers",
          });
          const timer = setTimeout(() => {
            stream.close();
            resolve("held");
          }, 8000);
          // Trailers-only (a status in the response headers) or trailers.
          const status = (headers: Record<string, unknown>) => {
            if (headers["grpc-status"] === undefined) return;
            clearTimeout(timer);
            resolve(`${headers["grpc-status"]} ${decodeURIComponent(String(headers["grpc-message"]))}`);
            stream.close();
          };
          stream.on("response", status);
          stream.on("trailers", status);
          stream.on("error", () => {});
          stream.on("data", () => {});
          stream.write(grpcMessage(new Uint8Array(declared - 1), declared));
        })));
      const exhausted = results.filter((r) => r.startsWith("8 Partially")).length;
      console.log(`    ${exhausted} of 10 streams ended RESOURCE_EXHAUSTED by the partial-message bound`);
      assertGreater(exhausted, 0);
      assertLess(exhausted, 10);
      await closeSession(session);
      await assertRecovered(server, before, 96);
    });
  });

  await t.step("rapid reset across reconnects: a peer resetting 400 streams per connection is cut", async () => {
    await withServer([], async (server) => {
      const before = await baseline(server);
      let accepted = 0;
      let cut = 0;
      for (let round = 0; round < 5; round++) {
        await using peer = await FramePeer.open(server.port);
        const frames: Uint8Array[] = [];
        for (let i = 0; i < 400; i++) {
          const id = 1 + 2 * i;
          frames.push(RawH2Connection.headers(id, "/Greeter/SayHello"), RawH2Connection.reset(id));
        }
        await peer.write(...frames).catch(() => {});
        const goaway = await peer.goaway(1500).catch(() => undefined);
        if (goaway?.errorCode === 0xb) cut++;
        else accepted++;
      }
      console.log(`    ${accepted} connections of 400 resets went through, ${cut} got ENHANCE_YOUR_CALM`);
      assertGreater(cut, 0);
      assertLess(accepted, 3);
      await assertRecovered(server, before, 64);
    });
  });
});
