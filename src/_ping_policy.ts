/**
 * The server's policy for client PINGs that come too often, as grpc-go's
 * `EnforcementPolicy` and grpc-java's `KeepAliveEnforcer` have it; grpc-js's
 * server has none. A PING that arrives less than `minPingIntervalMs` after
 * the previous one is a strike (without a call in flight, and unless
 * `permitWithoutCalls`, the interval is 2 hours, as grpc-go's); after
 * {@linkcode MAX_PING_STRIKES} strikes the next one gets GOAWAY with
 * ENHANCE_YOUR_CALM (0xb) and debug data `too_many_pings`, and the connection
 * is closed.
 *
 * Deno's `node:http2` server session emits `"ping"` for each PING frame it
 * receives (and answers it itself), which is what the policy counts. grpc-go
 * forgives the strikes whenever it has sent HEADERS or DATA since; `node:http2`
 * has no event for frames sent, so here a call starting or ending on the
 * connection forgives them.
 *
 * @module
 */
import type * as http2 from "node:http2";
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import type { StreamWatcher } from "./_streams.ts";

/** Strikes forgiven before GOAWAY, as grpc-go's `maxPingStrikes`. */
export const MAX_PING_STRIKES = 2;
/** The minimum interval without calls when they are not permitted, as grpc-go's. */
export const NO_CALLS_PING_INTERVAL_MS = 2 * 60 * 60 * 1000;
/** HTTP/2 ENHANCE_YOUR_CALM. */
export const ENHANCE_YOUR_CALM = 0xb;
/** The GOAWAY debug data, as grpc-go and grpc-java send it. */
export const TOO_MANY_PINGS = "too_many_pings";

/** Options of {@linkcode pingPolicyWatcher}. */
export interface PingPolicy {
  /** Fewest milliseconds between two PINGs. */
  minPingIntervalMs: number;
  /** Whether PINGs are allowed (at that interval) while no call is in flight. */
  permitWithoutCalls: boolean;
}

/** The policy's count of one connection. */
interface SessionPings {
  strikes: number;
  lastPingAt: number;
  active: number;
  lastStreamId: number;
  done: boolean;
}

/**
 * The policy's hooks on every connection of a server (see `_streams.ts`).
 *
 * @param policy The minimum interval and whether idle connections may ping.
 * @returns The watcher to hook.
 */
export function pingPolicyWatcher(policy: PingPolicy): StreamWatcher {
  const sessions = new WeakMap<http2.ServerHttp2Session, SessionPings>();
  const of = (stream: http2.ServerHttp2Stream) =>
    stream.session && sessions.get(stream.session as http2.ServerHttp2Session);
  return {
    session(session) {
      const state: SessionPings = { strikes: 0, lastPingAt: -Infinity, active: 0, lastStreamId: 0, done: false };
      sessions.set(session, state);
      session.on("ping", () => {
        if (state.done) return;
        const now = performance.now();
        const interval = state.active > 0 || policy.permitWithoutCalls
          ? policy.minPingIntervalMs
          : NO_CALLS_PING_INTERVAL_MS;
        if (now - state.lastPingAt < interval) state.strikes++;
        state.lastPingAt = now;
        if (state.strikes <= MAX_PING_STRIKES) return;
        state.done = true;
        try {
          session.goaway(ENHANCE_YOUR_CALM, state.lastStreamId, Buffer.from(TOO_MANY_PINGS));
        } finally {
          // The next turn, once the GOAWAY is on its way.
          setImmediate(() => session.destroy());
        }
      });
    },
    opened(stream) {
      const state = of(stream);
      if (!state) return;
      state.active++;
      state.strikes = 0;
      state.lastStreamId = Math.max(state.lastStreamId, stream.id ?? 0);
    },
    closed(stream) {
      const state = of(stream);
      if (!state) return;
      state.active--;
      state.strikes = 0;
    },
  };
}
