/**
 * Message size limits, keepalive, connection age, the PING policy and gzip:
 * the options of servers and clients checked, given their defaults, and
 * turned into grpc-js channel arguments, plus what grpc-js lacks (response
 * compression, the PING policy).
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { compressResponses } from "./_grpc_internals.ts";
import { pingPolicyWatcher } from "./_ping_policy.ts";
import type { StreamWatcher } from "./_streams.ts";

/** A message encoding: `"gzip"`, or `"identity"` for none. */
export type Compression = "gzip" | "identity";

/** gRPC's default receive limit: 4 MiB. */
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;
/** The server's default keepalive interval, as grpc-core's and grpc-go's: 2 hours. */
export const DEFAULT_SERVER_KEEPALIVE_TIME_MS = 2 * 60 * 60 * 1000;
/** The default wait for a keepalive PING's ACK, as grpc's: 20 s. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 20_000;
/** The default minimum interval between client PINGs, as grpc-go's `MinTime`: 5 minutes. */
export const DEFAULT_MIN_PING_INTERVAL_MS = 5 * 60 * 1000;
/** The longest timer Node-style timers take; a longer duration counts as unlimited. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Limits, keepalive and compression options of both sides. */
export interface LimitOptions {
  /** Largest message accepted, in bytes (after decompression); a larger one fails the call with `RESOURCE_EXHAUSTED`. Default 4 MiB. */
  maxReceiveMessageBytes?: number;
  /** Largest message sent, in bytes; a larger one fails the call with `RESOURCE_EXHAUSTED`. Default `Infinity` (no limit), as grpc's. */
  maxSendMessageBytes?: number;
  /** Milliseconds without a PING before one is sent to check the peer is there. */
  keepaliveTimeMs?: number;
  /** Milliseconds to wait for the PING's ACK before closing the connection. Default 20000. */
  keepaliveTimeoutMs?: number;
}

/** What {@linkcode LimitOptions} add on a server. */
export interface ServerLimitOptions extends LimitOptions {
  /** Server keepalive: default 2 hours, as grpc's. */
  keepaliveTimeMs?: number;
  /** A connection older than this gets GOAWAY, so that clients reconnect and rebalance. Default `Infinity`. */
  maxConnectionAgeMs?: number;
  /** How long calls in flight may go on after that GOAWAY before the connection is closed. Default `Infinity`. */
  maxConnectionAgeGraceMs?: number;
  /**
   * Fewest milliseconds between a client's PINGs; the third too early gets
   * GOAWAY ENHANCE_YOUR_CALM `too_many_pings`. Default 300000 (5 min), as
   * grpc-go's; `0` turns the policy off.
   */
  minPingIntervalMs?: number;
  /** Whether clients may send PINGs while no call is in flight. Default false. */
  permitKeepaliveWithoutCalls?: boolean;
  /** Response encoding, used when the client accepts it. Default `"identity"`. */
  compression?: Compression;
}

/** What {@linkcode LimitOptions} add on a client. */
export interface ClientLimitOptions extends LimitOptions {
  /** Client keepalive: default `Infinity` (off), as grpc's. */
  keepaliveTimeMs?: number;
  /** Request encoding of every call unless a call says otherwise. Default `"identity"`. */
  compression?: Compression;
}

function bytes(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === Infinity) return -1;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
    throw new RangeError(`${name} must be an integer from 0 to 2147483647 or Infinity, got ${value}`);
  }
  return value;
}

function ms(value: number | undefined, name: string, fallback: number, { allowZero = false } = {}): number {
  if (value === undefined) return fallback;
  if (value === Infinity) return Infinity;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new RangeError(`${name} must be a ${allowZero ? "non-negative" : "positive"} number of ms, got ${value}`);
  }
  return value >= MAX_TIMER_MS ? Infinity : Math.ceil(value);
}

/**
 * Checks a compression name.
 *
 * @throws {TypeError} When it is not `"gzip"` or `"identity"`.
 */
export function checkCompression(value: unknown, name = "compression"): Compression | undefined {
  if (value === undefined || value === "gzip" || value === "identity") return value;
  throw new TypeError(`${name} must be 'gzip' or 'identity', got ${JSON.stringify(value)}`);
}

/** grpc-js's `grpc.default_compression_algorithm` values. */
const ALGORITHM: Record<Compression, number> = { identity: 0, gzip: 2 };

function common(options: LimitOptions, keepaliveDefault: number): Record<string, number> {
  const out: Record<string, number> = {
    "grpc.max_receive_message_length": bytes(
      options.maxReceiveMessageBytes,
      "maxReceiveMessageBytes",
      DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
    ),
    "grpc.max_send_message_length": bytes(options.maxSendMessageBytes, "maxSendMessageBytes", -1),
    "grpc.keepalive_timeout_ms": ms(options.keepaliveTimeoutMs, "keepaliveTimeoutMs", DEFAULT_KEEPALIVE_TIMEOUT_MS),
  };
  const keepalive = ms(options.keepaliveTimeMs, "keepaliveTimeMs", keepaliveDefault);
  if (keepalive !== Infinity) out["grpc.keepalive_time_ms"] = keepalive;
  if (!Number.isFinite(out["grpc.keepalive_timeout_ms"]!)) out["grpc.keepalive_timeout_ms"] = MAX_TIMER_MS;
  return out;
}

/** The limits of one server, checked. */
export interface ServerLimits {
  /** grpc-js server options; explicit `channelOptions` go over them. */
  readonly channelOptions: Record<string, number>;
  /** The response-compression interceptor, when responses are compressed. */
  readonly interceptors: grpc.ServerInterceptor[];
  /** What watches the server's sessions and streams: the PING policy, the request headers (see `_streams.ts`). */
  readonly watchers: StreamWatcher[];
}

/**
 * Checks a server's options and prepares what they need.
 *
 * @throws {RangeError} When a size or duration is out of range.
 * @throws {TypeError} When `compression` is unknown.
 */
export function serverLimits(options: ServerLimitOptions): ServerLimits {
  const channelOptions = common(options, DEFAULT_SERVER_KEEPALIVE_TIME_MS);
  const age = ms(options.maxConnectionAgeMs, "maxConnectionAgeMs", Infinity);
  const grace = ms(options.maxConnectionAgeGraceMs, "maxConnectionAgeGraceMs", Infinity);
  if (age !== Infinity) channelOptions["grpc.max_connection_age_ms"] = age;
  if (grace !== Infinity) channelOptions["grpc.max_connection_age_grace_ms"] = grace;
  const minPingIntervalMs = ms(options.minPingIntervalMs, "minPingIntervalMs", DEFAULT_MIN_PING_INTERVAL_MS, {
    allowZero: true,
  });
  const permitWithoutCalls = options.permitKeepaliveWithoutCalls ?? false;
  const compression = checkCompression(options.compression) ?? "identity";

  // Set by our "stream" listener, which runs before grpc-js's, and read by the
  // interceptor, which grpc-js calls synchronously from its own (as _strict.ts).
  let accepts: string | undefined;
  const interceptors: grpc.ServerInterceptor[] = [];
  if (compression !== "identity") {
    interceptors.push((_method, call) => {
      const accepted = accepts;
      accepts = undefined;
      if (accepted?.split(",").some((name) => name.trim() === compression)) {
        compressResponses(call, compression, gzipSync, withEncoding);
      }
      return call as grpc.ServerInterceptingCall;
    });
  }

  const watchers: StreamWatcher[] = [];
  if (minPingIntervalMs > 0) watchers.push(pingPolicyWatcher({ minPingIntervalMs, permitWithoutCalls }));
  if (compression !== "identity") {
    watchers.push({
      opened(_stream, headers) {
        const value = headers["grpc-accept-encoding"];
        accepts = Array.isArray(value) ? value.join(",") : value;
      },
    });
  }

  return { channelOptions, interceptors, watchers };
}

function withEncoding(metadata: grpc.Metadata | null | undefined, name: string): grpc.Metadata {
  const out = metadata ?? new grpc.Metadata();
  out.set("grpc-encoding", name);
  return out;
}

/**
 * Checks a client's options and turns them into grpc-js channel arguments.
 *
 * @throws {RangeError} When a size or duration is out of range.
 * @throws {TypeError} When `compression` is unknown.
 */
export function clientChannelOptions(options: ClientLimitOptions): Record<string, number> {
  const out = common(options, Infinity);
  out["grpc.default_compression_algorithm"] = ALGORITHM[checkCompression(options.compression) ?? "identity"];
  return out;
}

/**
 * The channel arguments of the same client with another request encoding.
 *
 * @param base What {@linkcode clientChannelOptions} gave.
 * @param compression The encoding.
 */
export function withCompression(base: Record<string, number>, compression: Compression): Record<string, number> {
  return { ...base, "grpc.default_compression_algorithm": ALGORITHM[compression] };
}
