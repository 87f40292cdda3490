/**
 * Graceful shutdown that does not cut off answers already sent.
 *
 * grpc-js's `tryShutdown()` sends GOAWAY and closes each connection the
 * moment its last stream ends. A grpc-js client holds a stream's OK status
 * until its reader has taken every message, and a connection drop in that
 * window replaces the OK with `UNAVAILABLE: Connection dropped` (see
 * grpc/grpc-node#2862: servers are expected to drop the connection well after
 * GOAWAY). Under load on Deno that window is hit: about one shutdown in three
 * turned streams the server had completed into `UNAVAILABLE` on the client.
 *
 * So the server first drains on its own: new calls are refused with
 * `UNAVAILABLE` from the moment shutdown begins, calls in flight run to the
 * end, and only then, after a short linger, does grpc-js close the
 * connections. What counts as in flight is every open HTTP/2 stream of the
 * server (from HEADERS to its `"close"`), which also covers streams grpc-js
 * answered on its own or that a client reset before any handler ran.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { Status } from "./errors.ts";
import type { StreamWatcher } from "./_streams.ts";

/** How long connections stay open after the last call in flight has ended. */
export const LINGER_MS = 100;

/** The status new calls get once shutdown has begun. */
export const SHUTTING_DOWN = "The server is shutting down";

/** Tracks the calls in flight and refuses new ones once draining. */
export interface DrainGate {
  /** The interceptor to install in the grpc-js server. */
  readonly interceptor: grpc.ServerInterceptor;
  /** Counts the streams of the server (see `_streams.ts`). */
  readonly watcher: StreamWatcher;
  /**
   * Refuses new calls from now on and resolves once no call is in flight
   * (then waits {@linkcode LINGER_MS} more), or after `timeoutMs`.
   *
   * @param timeoutMs The longest wait.
   * @returns Whether every call ended in time.
   */
  drain(timeoutMs: number): Promise<boolean>;
}

/**
 * Creates the gate of one server.
 *
 * @returns The gate.
 */
export function createDrainGate(): DrainGate {
  let open = 0;
  let draining = false;
  let onIdle: (() => void) | undefined;

  const interceptor: grpc.ServerInterceptor = (_method, call) => {
    if (draining) call.sendStatus({ code: Status.UNAVAILABLE, details: SHUTTING_DOWN, metadata: null });
    // The call itself, not a pass-through wrapper: grpc-js only chains what
    // interceptors return, and a wrapper would forward every event once more.
    return call as grpc.ServerInterceptingCall;
  };

  const watcher: StreamWatcher = {
    opened() {
      open++;
    },
    closed() {
      if (--open === 0) onIdle?.();
    },
  };

  function drain(timeoutMs: number): Promise<boolean> {
    draining = true;
    return new Promise<boolean>((resolve) => {
      let lingering: ReturnType<typeof setTimeout> | undefined;
      const timer = setTimeout(() => {
        clearTimeout(lingering);
        onIdle = undefined;
        resolve(false);
      }, timeoutMs);
      onIdle = () => {
        onIdle = undefined;
        lingering = setTimeout(() => {
          clearTimeout(timer);
          resolve(true);
        }, Math.min(LINGER_MS, timeoutMs));
      };
      if (open === 0) onIdle();
    });
  }

  return {
    interceptor,
    watcher,
    drain,
  };
}
