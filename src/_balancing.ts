/**
 * Several servers behind one client: the grpc-js target for a list of
 * addresses (`ipv4:a,b` or `ipv6:[a],[b]`, grpc-js's own multi-address
 * resolver), and the service config that picks the load-balancing policy and
 * retries `UNAVAILABLE`.
 *
 * @module
 */
import type { ChannelOptions } from "./server.ts";

/** grpc-js's load-balancing policies that need no configuration. */
export const LOAD_BALANCING = ["round_robin", "pick_first"] as const;

/** A retry policy, in the units {@linkcode serviceConfig} takes. */
export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
}

/** The defaults of a retry policy: up to 3 attempts, 100 ms then up to 1 s apart (jittered). */
export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 3,
  initialBackoffMs: 100,
  maxBackoffMs: 1000,
  backoffMultiplier: 2,
};

const IPV6_ADDRESS = /^\[([0-9a-fA-F:.]+)\]:\d+$/;
const IPV4_ADDRESS = /^(\d{1,3}\.){3}\d{1,3}:\d+$/;

/**
 * The grpc-js target of several checked `host:port` addresses.
 *
 * @throws {TypeError} When they are not all IPv4 or all IPv6 literals.
 */
export function multiAddressTarget(addresses: readonly string[]): string {
  if (addresses.every((address) => IPV4_ADDRESS.test(address))) return `ipv4:${addresses.join(",")}`;
  if (addresses.every((address) => IPV6_ADDRESS.test(address))) return `ipv6:${addresses.join(",")}`;
  throw new TypeError(
    `Several addresses must all be IPv4 or all IPv6 literals, got ${JSON.stringify(addresses.join(","))}; ` +
      "for host names use a 'dns:' name",
  );
}

/** A duration as the service config writes it: seconds with an `s`. */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3).replace(/\.?0+$/, "")}s`;
}

/**
 * Checks a retry option and fills in the defaults.
 *
 * @throws {RangeError} When a field is out of range.
 */
export function retryPolicy(retry: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...retry };
  const { maxAttempts, initialBackoffMs, maxBackoffMs, backoffMultiplier } = policy;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 2 || maxAttempts > 5) {
    throw new RangeError(`retry.maxAttempts must be an integer from 2 to 5 (grpc-js's limit), got ${maxAttempts}`);
  }
  for (const [name, value] of [["initialBackoffMs", initialBackoffMs], ["maxBackoffMs", maxBackoffMs]] as const) {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 1) {
      throw new RangeError(`retry.${name} must be at least 1 millisecond, got ${value}`);
    }
  }
  if (typeof backoffMultiplier !== "number" || !Number.isFinite(backoffMultiplier) || backoffMultiplier < 1) {
    throw new RangeError(`retry.backoffMultiplier must be a number of at least 1, got ${backoffMultiplier}`);
  }
  return policy;
}

/**
 * The `grpc.service_config` JSON: `loadBalancingConfig` for the policy, and
 * one method config for every method that retries `UNAVAILABLE`.
 */
export function serviceConfig(loadBalancing: typeof LOAD_BALANCING[number], retry: RetryPolicy | false): string {
  return JSON.stringify({
    loadBalancingConfig: [{ [loadBalancing]: {} }],
    methodConfig: retry
      ? [{
        name: [{}],
        retryPolicy: {
          maxAttempts: retry.maxAttempts,
          initialBackoff: seconds(retry.initialBackoffMs),
          maxBackoff: seconds(retry.maxBackoffMs),
          backoffMultiplier: retry.backoffMultiplier,
          retryableStatusCodes: ["UNAVAILABLE"],
        },
      }]
      : [],
  });
}

/**
 * The channel options with the service config added, unless the caller set
 * `grpc.service_config` themselves (theirs wins).
 */
export function withServiceConfig(channelOptions: ChannelOptions | undefined, config: string): ChannelOptions {
  if (channelOptions?.["grpc.service_config"] !== undefined) return channelOptions;
  return { ...channelOptions, "grpc.service_config": config };
}

/**
 * Whether a grpc-js status is a connection that broke under a write. Deno
 * reports a peer that died (a SIGKILLed server) as `write EPIPE` where Node
 * reports `ECONNRESET`; grpc-js turns the latter into a retryable
 * `UNAVAILABLE` but the former into `INTERNAL`, so the client maps it back.
 */
export function isBrokenPipe(status: { code?: number; details?: string }): boolean {
  return status.code === 13 && /internal client error: write EPIPE$/.test(status.details ?? "");
}
