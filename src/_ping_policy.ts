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
import type * as grpc from "@grpc/grpc-js";
import { http2ServersOf } from "./_grpc_internals.ts";

/** Strikes forgiven before GOAWAY, as grpc-go's `maxPingStrikes`. */
export const MAX_PING_STRIKES = 2;
/** The minimum interval without calls when they are not permitted, as grpc-go's. */
export const NO_CALLS_PING_INTERVAL_MS = 2 * 60 * 60 * 1000;
/** HTTP/2 ENHANCE_YOUR_CALM. */
export const ENHANCE_YOUR_CALM = 0xb;
/** The GOAWAY debug data, as grpc-go and grpc-java send it. */
export const TOO_MANY_PINGS = "too_many_pings";

/** Options of {@linkcode enforcePingPolicy}. */
export interface PingPolicy {
  /** Fewest milliseconds between two PINGs. */
  minPingIntervalMs: number;
  /** Whether PINGs are allowed (at that interval) while no call is in flight. */
  permitWithoutCalls: boolean;
}

/**
 * Hooks the policy to every connection of a bound grpc-js server.
 *
 * @param server A grpc-js server, after `bindAsync()` succeeded.
 * @param policy The minimum interval and whether idle connections may ping.
 */
export function enforcePingPolicy(server: grpc.Server, policy: PingPolicy): void {
  for (const http2Server of http2ServersOf(server)) {
    http2Server.on("session", (session: http2.ServerHttp2Session) => {
      let strikes = 0;
      let lastPingAt = -Infinity;
      let active = 0;
      let lastStreamId = 0;
      let done = false;
      session.on("stream", (stream: http2.ServerHttp2Stream) => {
        active++;
        strikes = 0;
        lastStreamId = Math.max(lastStreamId, stream.id ?? 0);
        stream.on("close", () => { // comes once per stream
          active--;
          strikes = 0;
        });
      });
      session.on("ping", () => {
        if (done) return;
        const now = performance.now();
        const interval = active > 0 || policy.permitWithoutCalls ? policy.minPingIntervalMs : NO_CALLS_PING_INTERVAL_MS;
        if (now - lastPingAt < interval) strikes++;
        lastPingAt = now;
        if (strikes <= MAX_PING_STRIKES) return;
        done = true;
        try {
          session.goaway(ENHANCE_YOUR_CALM, lastStreamId, Buffer.from(TOO_MANY_PINGS));
        } finally {
          // The next turn, once the GOAWAY is on its way.
          setImmediate(() => session.destroy());
        }
      });
    });
  }
}
