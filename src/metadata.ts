/**
 * gRPC metadata as a small Deno-native class, independent of grpc-js's types:
 * lower-case keys, string values (printable ASCII) and, for keys ending in
 * `-bin`, binary values as `Uint8Array`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";

/** One metadata value: a string, or bytes for a key ending in `-bin`. */
export type MetadataValue = string | Uint8Array;

/** What a {@linkcode Metadata} can be made from. */
export type MetadataInit =
  | Metadata
  | Iterable<readonly [string, MetadataValue]>
  | Record<string, MetadataValue | readonly MetadataValue[]>;

const KEY = /^[0-9a-z_.-]+$/;
const ASCII_VALUE = /^[\x20-\x7e]*$/;

function checkEntry(key: string, value: MetadataValue): string {
  const lower = key.toLowerCase();
  if (!KEY.test(lower)) {
    throw new TypeError(`Metadata key '${key}' has characters other than 0-9, a-z, '_', '.' and '-'`);
  }
  if (lower.startsWith("grpc-")) throw new TypeError(`Metadata key '${key}' is reserved for gRPC`);
  if (lower.endsWith("-bin")) {
    if (!(value instanceof Uint8Array)) {
      throw new TypeError(`Metadata key '${key}' ends in -bin: its value must be a Uint8Array`);
    }
  } else if (typeof value !== "string" || !ASCII_VALUE.test(value)) {
    throw new TypeError(`Metadata value of '${key}' must be a string of printable ASCII`);
  }
  return lower;
}

/**
 * The metadata of a call: request headers, response headers or trailers.
 * Each key holds a list of values.
 *
 * @example
 * ```ts
 * import { Metadata } from "../mod.ts";
 *
 * const metadata = new Metadata({ "x-user": "zzz", "x-trace-bin": new Uint8Array([1, 2]) });
 * metadata.add("x-user", "yyy");
 * metadata.get("x-user"); // ["zzz", "yyy"]
 * ```
 */
export class Metadata implements Iterable<[string, MetadataValue]> {
  readonly #entries = new Map<string, MetadataValue[]>();

  /**
   * Creates metadata, optionally from a record, entries or other metadata.
   *
   * @throws {TypeError} When a key or value is not valid gRPC metadata.
   */
  constructor(init?: MetadataInit) {
    if (init === undefined) return;
    if (init instanceof Metadata || Symbol.iterator in init) {
      for (const [key, value] of init as Iterable<readonly [string, MetadataValue]>) this.add(key, value);
      return;
    }
    for (const [key, value] of Object.entries(init)) {
      for (const item of Array.isArray(value) ? value : [value]) this.add(key, item as MetadataValue);
    }
  }

  /** The values of `key`, in order; empty when absent. */
  get(key: string): MetadataValue[] {
    return [...(this.#entries.get(key.toLowerCase()) ?? [])];
  }

  /** Whether `key` has a value. */
  has(key: string): boolean {
    return this.#entries.has(key.toLowerCase());
  }

  /** Replaces the values of `key` with `value`. */
  set(key: string, value: MetadataValue): void {
    this.#entries.set(checkEntry(key, value), [value]);
  }

  /** Adds `value` to the values of `key`. */
  add(key: string, value: MetadataValue): void {
    const lower = checkEntry(key, value);
    const values = this.#entries.get(lower);
    if (values) values.push(value);
    else this.#entries.set(lower, [value]);
  }

  /** Removes every value of `key`. */
  delete(key: string): void {
    this.#entries.delete(key.toLowerCase());
  }

  /** The keys that have values. */
  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /** Every `[key, value]` pair, a key once per value. */
  *entries(): IterableIterator<[string, MetadataValue]> {
    for (const [key, values] of this.#entries) {
      for (const value of values) yield [key, value];
    }
  }

  /** Same as {@linkcode Metadata.entries}. */
  [Symbol.iterator](): IterableIterator<[string, MetadataValue]> {
    return this.entries();
  }

  /** How many keys have values. */
  get size(): number {
    return this.#entries.size;
  }
}

/** grpc-js metadata from ours (or from a {@linkcode MetadataInit}). */
export function toGrpcMetadata(init: MetadataInit | undefined): grpc.Metadata {
  const out = new grpc.Metadata();
  if (init === undefined) return out;
  for (const [key, value] of init instanceof Metadata ? init : new Metadata(init)) {
    out.add(key, typeof value === "string" ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return out;
}

/** Our metadata from grpc-js's, without the headers HTTP/2 and gRPC use themselves. */
export function fromGrpcMetadata(metadata: grpc.Metadata | undefined | null): Metadata {
  const out = new Metadata();
  if (!metadata) return out;
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    if (key.startsWith("grpc-") || key.startsWith(":")) continue;
    for (const value of values) {
      try {
        out.add(key, typeof value === "string" ? value : new Uint8Array(value));
      } catch {
        // A peer's malformed entry is dropped rather than failing the call.
      }
    }
  }
  return out;
}
