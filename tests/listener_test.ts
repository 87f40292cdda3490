/**
 * How the server's own connection socket (`src/_listener.ts`) groups the
 * frames `node:http2` hands it into writes, over a recording stand-in for a
 * `Deno.TcpConn`: a response must reach the client whole or not at all,
 * since a client that got its HEADERS can no longer retry the call.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import { setImmediate } from "node:timers";
import { ConnectionSocket } from "../src/_listener.ts";
import { FrameType } from "./_h2_frames.ts";
import { h2Frame } from "./_raw_h2.ts";

const END_STREAM = 0x1;
const END_HEADERS = 0x4;

/** A connection that records each write and never has anything to read. */
class RecordingConn {
  readonly writes: Uint8Array[] = [];
  readonly remoteAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };
  readonly localAddr = { transport: "tcp", hostname: "127.0.0.1", port: 8001 };
  #closed!: () => void;
  readonly #closing = new Promise<null>((resolve) => this.#closed = () => resolve(null));
  read(_buffer: Uint8Array): Promise<number | null> {
    return this.#closing;
  }
  write(bytes: Uint8Array): Promise<number> {
    this.writes.push(Uint8Array.from(bytes));
    return Promise.resolve(bytes.length);
  }
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.#closed();
  }
  setNoDelay(): void {}
  setKeepAlive(): void {}
}

function open(): { conn: RecordingConn; socket: ConnectionSocket } {
  const conn = new RecordingConn();
  return { conn, socket: new ConnectionSocket(conn as unknown as Deno.TcpConn) };
}

function turns(count: number): Promise<void> {
  let chain = Promise.resolve();
  for (let i = 0; i < count; i++) chain = chain.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  return chain;
}

function concat(frames: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((sum, frame) => sum + frame.length, 0));
  let at = 0;
  for (const frame of frames) {
    out.set(frame, at);
    at += frame.length;
  }
  return out;
}

const headers = (stream: number, flags = 0) =>
  h2Frame(FrameType.HEADERS, END_HEADERS | flags, stream, new Uint8Array([0x88]));
const data = (stream: number, flags = 0) => h2Frame(FrameType.DATA, flags, stream, new Uint8Array(10).fill(stream));
const trailers = (stream: number) => headers(stream, END_STREAM);

Deno.test("ConnectionSocket writes a unary response whole when its trailers come two turns after its HEADERS and DATA", async () => {
  const { conn, socket } = open();
  socket.write(headers(1));
  socket.write(data(1));
  await turns(2);
  assertEquals(conn.writes, [], "nothing of the response is written before its trailers");
  socket.write(trailers(1));
  await turns(1);
  assertEquals(conn.writes, [concat([headers(1), data(1), trailers(1)])]);
  socket.destroy();
});

Deno.test("ConnectionSocket writes what precedes an open response and holds what follows it until it ends", async () => {
  const { conn, socket } = open();
  socket.write(trailers(3)); // a trailers-only response: it ends its stream, so it goes at once
  socket.write(headers(1));
  socket.write(data(1));
  socket.write(headers(5)); // another response, queued after the open one
  socket.write(data(5, END_STREAM));
  await turns(1);
  assertEquals(conn.writes, [trailers(3)]);
  socket.write(trailers(1));
  await turns(1);
  assertEquals(conn.writes, [trailers(3), concat([headers(1), data(1), headers(5), data(5, END_STREAM), trailers(1)])]);
  socket.destroy();
});

Deno.test("ConnectionSocket never splits interleaved responses: one that ended waits for one that began inside it", async () => {
  const { conn, socket } = open();
  socket.write(headers(1));
  socket.write(data(1));
  socket.write(headers(3));
  socket.write(data(3));
  socket.write(trailers(1)); // 1 has ended, but its HEADERS and DATA come before 3's, which is still open
  await turns(2);
  assertEquals(conn.writes, [], "no write ends between 1's HEADERS and its trailers");
  socket.write(trailers(3));
  await turns(1);
  assertEquals(conn.writes, [concat([headers(1), data(1), headers(3), data(3), trailers(1), trailers(3)])]);
  socket.destroy();
});

Deno.test("ConnectionSocket lets a response go after eight turns without its end (a server stream's first message)", async () => {
  const { conn, socket } = open();
  socket.write(headers(1));
  socket.write(data(1));
  await turns(7);
  assertEquals(conn.writes, []);
  await turns(1);
  assertEquals(conn.writes, [concat([headers(1), data(1)])]);
  // The stream's next messages are DATA: they wait as any DATA does, and go with a frame that must leave now.
  socket.write(data(1));
  socket.write(h2Frame(FrameType.PING, 0, 0, new Uint8Array(8)));
  await turns(1);
  assertEquals(conn.writes.length, 2);
  assertEquals(conn.writes[1], concat([data(1), h2Frame(FrameType.PING, 0, 0, new Uint8Array(8))]));
  socket.destroy();
});

Deno.test("ConnectionSocket writes an open response at once when the socket ends", async () => {
  const { conn, socket } = open();
  socket.write(headers(1));
  socket.write(data(1));
  const finished = new Promise<void>((resolve) => socket.once("finish", () => resolve()));
  socket.end();
  await finished;
  assertEquals(conn.writes, [concat([headers(1), data(1)])]);
  socket.destroy();
});

Deno.test("ConnectionSocket counts the DATA the kernel took only for streams it counts, and adds none after a stream is forgotten", async () => {
  const { conn, socket } = open();
  socket.countStream(1);
  socket.write(headers(1));
  socket.write(data(1));
  socket.write(trailers(1));
  socket.write(headers(3));
  socket.write(data(3, END_STREAM)); // stream 3 was never counted
  await turns(1);
  assertEquals(concat(conn.writes), concat([headers(1), data(1), trailers(1), headers(3), data(3, END_STREAM)]));
  assertEquals(socket.flushedData(1), 10);
  assertEquals(socket.flushedData(3), 0);
  // The guard forgets a stream when it closes, which is often before its
  // last bytes reach the kernel: those bytes must not count it again (one
  // entry per call was kept for as long as the connection lived).
  socket.forgetStream(1);
  socket.write(data(1, END_STREAM));
  await turns(1);
  assertEquals(conn.writes.at(-1), data(1, END_STREAM));
  assertEquals(socket.flushedData(1), 0);
  socket.destroy();
});
