/**
 * The one place that watches the HTTP/2 sessions and streams of grpc-js's
 * servers, for every piece that needs them: the connection guard, the
 * strict checks, the drain gate, the ping policy, response compression and
 * write coalescing.
 *
 * Each piece used to hook the servers on its own, which cost every stream
 * one `"stream"` listener per piece on the server and one `"close"` listener
 * per piece on the stream (emitted through a copy of the listener array
 * each time). Here each server has one `"session"` listener and two
 * `"stream"` listeners (one before grpc-js's, one after), and each stream
 * one `"close"` listener, whatever the number of pieces.
 *
 * @module
 */
import type * as http2 from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import { http2ServersOf } from "./_grpc_internals.ts";

/** What one piece wants to hear of a server's sessions and streams; every hook is optional. */
export interface StreamWatcher {
  /** A session opened. */
  session?(session: http2.ServerHttp2Session): void;
  /** A stream opened; grpc-js's own listener, which makes its call, runs next. */
  opened?(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void;
  /** grpc-js's listener has run for the stream that just opened. */
  handled?(): void;
  /** A stream closed (once per stream). */
  closed?(stream: http2.ServerHttp2Stream): void;
}

/**
 * Hooks the watchers to every `node:http2` server of a bound grpc-js server.
 * Hooks run in the order of `watchers`.
 *
 * @param server A grpc-js server, bound.
 * @param watchers The pieces' hooks.
 * @throws {Error} When grpc-js no longer exposes its HTTP/2 servers.
 */
export function watchStreams(server: grpc.Server, watchers: readonly StreamWatcher[]): void {
  const sessions = watchers.flatMap((watcher) => watcher.session ? [watcher.session.bind(watcher)] : []);
  const opened = watchers.flatMap((watcher) => watcher.opened ? [watcher.opened.bind(watcher)] : []);
  const handled = watchers.flatMap((watcher) => watcher.handled ? [watcher.handled.bind(watcher)] : []);
  const closed = watchers.flatMap((watcher) => watcher.closed ? [watcher.closed.bind(watcher)] : []);
  for (const http2Server of http2ServersOf(server)) {
    if (sessions.length > 0) {
      http2Server.prependListener("session", (session: http2.ServerHttp2Session) => {
        for (const hook of sessions) hook(session);
      });
    }
    if (opened.length > 0 || closed.length > 0) {
      http2Server.prependListener("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
        for (const hook of opened) hook(stream, headers);
        if (closed.length === 0) return;
        // on(), not once(): "close" comes once, and once() wraps and unhooks per stream.
        stream.on("close", () => {
          for (const hook of closed) hook(stream);
        });
      });
    }
    if (handled.length > 0) {
      http2Server.on("stream", () => {
        for (const hook of handled) hook();
      });
    }
  }
}
