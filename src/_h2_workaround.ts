/**
 * A guard against a Deno HTTP/2 server crash, kept in this one file so that
 * it can be removed in one place once Deno fixes it: delete this file and its
 * uses (`register()` and `warmUp()` in `src/server.ts`, `warningLine()` in the
 * `main()` of `server.ts`).
 *
 * The crash: https://github.com/denoland/deno/issues/36788 (likely from
 * "clean up destroyed sessions", denoland/deno#36043). On Deno 2.9.4 to 2.9.6
 * a fresh HTTP/2 server, grpc-js's or a bare `node:http2` one, aborts the
 * whole process (nghttp2's `find_stream_on_goaway_func` assertion,
 * `free(): invalid pointer`, or a segfault) when client connections that
 * carried calls send GOAWAY and close. No JavaScript runs first, so nothing
 * can catch it. Deno 2.9.3 is not affected.
 *
 * What avoids it, measured on 2.9.6: a server whose first connections each
 * completed one call answered with a message (HEADERS, DATA, trailers) and
 * were closed without GOAWAY survives later GOAWAYs. One such connection is
 * not enough (a server then still died in ~1 of 4 runs once several
 * connections closed in turn); from two on, no server died in our runs. So
 * on an affected runtime the server makes {@linkcode WARM_UP_CONNECTIONS} of
 * them to itself before it is handed to the user, on a method registered only
 * for that time ({@linkcode WARM_UP_PATH}), so that no user handler runs.
 * The connections are plain TCP speaking hand-made HTTP/2 frames: `node:http2`
 * cannot close without GOAWAY (`session.close()` and `destroy()` send it, and
 * `session.socket.destroy()` throws `ERR_HTTP2_NO_SOCKET_MANIPULATION`).
 * Bursts of ~5000 concurrent streams on one connection were reported to crash
 * even so; the server's cap on concurrent streams per connection (100 by
 * default, `src/_guard.ts`, on every Deno) keeps such bursts out.
 *
 * Where the warm-up fails, the server starts anyway, after one warning line.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import { formatHostPort, unbracketHost } from "./_cli.ts";

/** The upstream issue. */
export const DENO_H2_ISSUE = "https://github.com/denoland/deno/issues/36788";
/** The newest Deno known not to crash. */
export const SAFE_DENO_VERSION = "2.9.3";
const FIRST_AFFECTED: readonly number[] = [2, 9, 4];
/** The method the warm-up calls use; registered only while they run. */
export const WARM_UP_PATH = "/grpc.deno.WarmUp/Ping";
/** How many warm-up connections, one after the other, each with one call. */
export const WARM_UP_CONNECTIONS = 4;
const WARM_UP_TIMEOUT_MS = 2000;

function parseVersion(version: string): number[] {
  return version.split(/[.+-]/).slice(0, 3).map((part) => Number.parseInt(part, 10) || 0);
}

function atLeast(version: readonly number[], floor: readonly number[]): boolean {
  for (let i = 0; i < floor.length; i++) {
    const a = version[i] ?? 0;
    const b = floor[i]!;
    if (a !== b) return a > b;
  }
  return true;
}

/**
 * Whether a Deno version has the crash.
 *
 * @param version A Deno version such as `"2.9.6"`; default the running one.
 * @returns True from 2.9.4 on, until a fixed version is known.
 */
export function isAffected(version: string | undefined = globalThis.Deno?.version?.deno): boolean {
  if (!version) return false;
  return atLeast(parseVersion(version), FIRST_AFFECTED);
}

/** One line for the command line to print at start on an affected runtime. */
export function warningLine(): string {
  return `warning: Deno ${Deno.version.deno} has a known HTTP/2 server bug (${DENO_H2_ISSUE}); ` +
    "this server works around it, which makes the abort rare but cannot rule it out (no JavaScript runs " +
    `before the process dies); use Deno ${SAFE_DENO_VERSION}`;
}

function loopbackFor(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "") return "127.0.0.1";
  if (hostname === "::" || hostname === "[::]") return "::1";
  return unbracketHost(hostname);
}

/** The guard: a no-op where the running Deno is not affected. */
export const h2Workaround = {
  /** Whether the running Deno is affected. */
  active: isAffected(),

  /**
   * Registers a warm-up method on `server` (before it starts) when affected.
   *
   * @param server The grpc-js server.
   */
  register(server: grpc.Server): void {
    if (!this.active) return;
    const empty = Buffer.alloc(0);
    // A unary method that answers one empty message to anything.
    server.register(
      WARM_UP_PATH,
      (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, empty),
      (value: Buffer) => value,
      (value: Buffer) => value,
      "unary",
    );
  },

  /**
   * Makes {@linkcode WARM_UP_CONNECTIONS} connections to the server's own
   * port, one after the other, each with one complete call, each closed
   * without GOAWAY; then unregisters the warm-up method. A failure only
   * warns, in one line: the server runs either way.
   *
   * @param server The grpc-js server, bound.
   * @param hostname Where it listens.
   * @param port Its port.
   * @param options `tls`: the server speaks TLS, which the warm-up does not.
   */
  async warmUp(server: grpc.Server, hostname: string, port: number, options: { tls?: boolean } = {}): Promise<void> {
    if (!this.active) return;
    if (options.tls) {
      server.unregister(WARM_UP_PATH);
      console.warn(`warning: no HTTP/2 warm-up over TLS (${DENO_H2_ISSUE}); use Deno ${SAFE_DENO_VERSION}`);
      return;
    }
    const host = loopbackFor(hostname);
    try {
      // Never a permission prompt: without the permission, only the warning.
      const { state } = Deno.permissions.querySync({ name: "net", host: formatHostPort(host, port) });
      if (state !== "granted") throw new Error(`no network permission for '${formatHostPort(host, port)}'`);
      for (let i = 0; i < WARM_UP_CONNECTIONS; i++) {
        await warmUpCall(host, port, WARM_UP_PATH, WARM_UP_TIMEOUT_MS);
      }
    } catch (error) {
      console.warn(`warning: HTTP/2 warm-up call failed (${DENO_H2_ISSUE}): ${(error as Error).message}`);
    } finally {
      server.unregister(WARM_UP_PATH);
    }
  },
};

// HTTP/2 frame types and flags (RFC 9113, section 6).
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const bytes = new Uint8Array(9 + payload.length);
  bytes.set([payload.length >> 16, (payload.length >> 8) & 0xff, payload.length & 0xff, type, flags], 0);
  new DataView(bytes.buffer).setUint32(5, streamId & 0x7fffffff);
  bytes.set(payload, 9);
  return bytes;
}

/** HPACK "literal header field without indexing, new name", no Huffman. */
function headerBlock(headers: Record<string, string>): Uint8Array {
  const encoder = new TextEncoder();
  const parts: number[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = encoder.encode(name);
    const v = encoder.encode(value);
    if (n.length > 126 || v.length > 126) throw new RangeError(`Header ${name} is too long for the warm-up`);
    parts.push(0x00, n.length, ...n, v.length, ...v);
  }
  return new Uint8Array(parts);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * One unary call to `path` on a plain TCP connection, spoken in hand-made
 * HTTP/2 frames so that nothing but what is written here goes on the wire:
 * preface, SETTINGS, HEADERS, DATA (one empty gRPC message), a SETTINGS ACK;
 * then it waits for the response's DATA and trailers (HEADERS with
 * END_STREAM) and closes the TCP connection, never sending GOAWAY.
 * (`node:http2` cannot do that: its session sends GOAWAY on close, and its
 * `session.socket.destroy()` throws ERR_HTTP2_NO_SOCKET_MANIPULATION.)
 */
async function warmUpCall(host: string, port: number, path: string, timeoutMs: number): Promise<void> {
  const conn = await Deno.connect({ hostname: host, port, transport: "tcp" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, timeoutMs);
  try {
    await writeAll(
      conn,
      concat([
        new TextEncoder().encode(PREFACE),
        frame(SETTINGS, 0, 0),
        frame(
          HEADERS,
          END_HEADERS,
          1,
          headerBlock({
            ":method": "POST",
            ":scheme": "http",
            ":path": path,
            ":authority": formatHostPort(host, port),
            "content-type": "application/grpc",
            "te": "trailers",
          }),
        ),
        // One empty message: not compressed, length 0.
        frame(DATA, END_STREAM, 1, new Uint8Array(5)),
      ]),
    );
    let buffered: Uint8Array = new Uint8Array();
    let gotMessage = false;
    const chunk = new Uint8Array(16 * 1024);
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(chunk);
      } catch (error) {
        if (timedOut) throw new Error(`timed out after ${timeoutMs}ms`);
        throw error;
      }
      if (n === null) throw new Error(timedOut ? `timed out after ${timeoutMs}ms` : "the server closed the connection");
      buffered = concat([buffered, chunk.subarray(0, n)]);
      while (buffered.length >= 9) {
        const length = (buffered[0]! << 16) | (buffered[1]! << 8) | buffered[2]!;
        if (buffered.length < 9 + length) break;
        const type = buffered[3]!;
        const flags = buffered[4]!;
        const streamId = new DataView(buffered.buffer, buffered.byteOffset + 5, 4).getUint32(0) & 0x7fffffff;
        buffered = buffered.slice(9 + length);
        if (type === SETTINGS && !(flags & ACK)) await writeAll(conn, frame(SETTINGS, ACK, 0));
        else if (type === GOAWAY) throw new Error("the server sent GOAWAY");
        else if (type === RST_STREAM && streamId === 1) throw new Error("the server reset the stream");
        else if (type === DATA && streamId === 1 && length > 0) gotMessage = true;
        else if (type === HEADERS && streamId === 1 && flags & END_STREAM) {
          // Trailers. Without a message first it was a trailers-only error.
          if (!gotMessage) throw new Error("the server answered without a message");
          return;
        }
      }
    }
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}
