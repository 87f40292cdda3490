/**
 * A guard against a Deno HTTP/2 server crash, in one place so that it can be
 * removed when Deno fixes it.
 *
 * On Deno 2.9.4 to 2.9.6 (at least) an HTTP/2 server, grpc-js's or a bare
 * `node:http2` one, aborts the whole process (an nghttp2 assertion in
 * `find_stream_on_goaway_func`, `free(): invalid pointer`, or a segfault) when
 * a client connection that carried some requests sends GOAWAY and closes:
 * https://github.com/denoland/deno/issues/36788 (likely from "clean up
 * destroyed sessions", PR #36043). Deno 2.9.3 is not affected.
 *
 * What avoids it: once one earlier connection has completed a normal call
 * (headers, data, trailers) and closed without GOAWAY, later connections
 * survive; bursts of ~5000 concurrent streams on one connection still crash,
 * hence a cap on concurrent streams. So on an affected runtime the server
 * makes one such call to itself before it is handed to the user.
 *
 * @module
 */
import * as http2 from "node:http2";
import { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import { formatHostPort } from "./cli.ts";

/** The upstream issue. */
export const DENO_H2_ISSUE = "https://github.com/denoland/deno/issues/36788";
/** The newest Deno known not to crash. */
export const SAFE_DENO_VERSION = "2.9.3";
const FIRST_AFFECTED: readonly number[] = [2, 9, 4];
/** The method the warm-up call uses; registered only while it runs. */
export const WARM_UP_PATH = "/grpc.deno.WarmUp/Ping";

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
    `this server works around it, but Deno ${SAFE_DENO_VERSION} is the version to use`;
}

function loopbackFor(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "") return "127.0.0.1";
  if (hostname === "::" || hostname === "[::]") return "::1";
  return hostname.replace(/^\[(.*)\]$/, "$1");
}

/** The guard: a no-op where the running Deno is not affected. */
export const h2Workaround = {
  /** Whether the running Deno is affected. */
  active: isAffected(),

  /** Server options that keep bursts of streams on one connection bounded. */
  serverOptions(): grpc.ServerOptions {
    return this.active ? { "grpc.max_concurrent_streams": 1000 } : {};
  },

  /**
   * Registers a warm-up method on `server` (before it starts) when affected.
   *
   * @param server The grpc-js server.
   */
  register(server: grpc.Server): void {
    if (!this.active) return;
    const empty = Buffer.alloc(0);
    server.register(
      WARM_UP_PATH,
      (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, empty),
      (value: Buffer) => value,
      (value: Buffer) => value,
      "unary",
    );
  },

  /**
   * Makes one complete call to the server's own port over a raw HTTP/2
   * connection, then destroys the socket without GOAWAY, and unregisters
   * the warm-up method. Failures only warn: the server runs either way.
   *
   * @param server The grpc-js server.
   * @param hostname Where it listens.
   * @param port Its port.
   */
  async warmUp(server: grpc.Server, hostname: string, port: number): Promise<void> {
    if (!this.active) return;
    try {
      await warmUpCall(loopbackFor(hostname), port);
    } catch (error) {
      console.warn(`warning: HTTP/2 warm-up call failed: ${(error as Error).message}`);
    } finally {
      server.unregister(WARM_UP_PATH);
    }
  },
};

function warmUpCall(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${formatHostPort(host, port)}`);
    const timer = setTimeout(() => done(new Error("timed out after 2000ms")), 2000);
    let settled = false;
    function done(error?: Error) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Destroy the socket itself: closing the session would send GOAWAY.
      session.socket?.destroy();
      session.destroy();
      error ? reject(error) : resolve();
    }
    session.on("error", (error) => done(error));
    const stream = session.request({
      ":method": "POST",
      ":path": WARM_UP_PATH,
      "content-type": "application/grpc",
      "te": "trailers",
    });
    let gotData = false;
    stream.on("data", () => gotData = true);
    stream.on("trailers", (trailers) => {
      const status = trailers["grpc-status"];
      if (status !== "0") done(new Error(`warm-up call ended with grpc-status ${status}`));
    });
    stream.on("end", () => done(gotData ? undefined : new Error("warm-up call got no message")));
    stream.on("error", (error) => done(error));
    // One empty message: flag 0, length 0.
    stream.end(Buffer.alloc(5));
  });
}
