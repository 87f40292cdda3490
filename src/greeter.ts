/**
 * The tutorial's Greeter on the generic core: its default handlers (answer
 * `我是{name}`), and the tutorial's serialization demo as functions.
 *
 * @module
 */
import { Greeter, HelloRequest, HelloResponse } from "../proto/hello.ts";
import type { Init } from "./schema.ts";
import type { ServiceHandlers } from "./server.ts";
import { GrpcError, Status } from "./errors.ts";
import { sleep } from "./_sleep.ts";

/** The implementation of the Greeter service: one async handler per RPC. */
export type GreeterHandlers = ServiceHandlers<typeof Greeter>;

/** How many replies `LotsOfReplies` sends when the request says 0. */
export const DEFAULT_REPLY_COUNT = 3;
/** The most replies one `LotsOfReplies` call may ask for. */
export const MAX_REPLY_COUNT = 1_000_000;
/** The longest pause between replies one `LotsOfReplies` call may ask for. */
export const MAX_REPLY_INTERVAL_MS = 60_000;

/**
 * The tutorial's greeting: `我是{name}`.
 *
 * @param name The name to greet.
 * @returns The greeting.
 */
export function greet(name: string): string {
  return `我是${name}`;
}

function* repeat<T>(value: T, count: number): Generator<T> {
  for (let i = 0; i < count; i++) yield value;
}

/** The tutorial's behaviour, extended to the streaming RPCs. */
export const greeterHandlers: Required<GreeterHandlers> = {
  sayHello(request) {
    return { name: greet(request.name) };
  },
  lotsOfReplies(request, context) {
    const count = request.count || DEFAULT_REPLY_COUNT;
    if (count > MAX_REPLY_COUNT) {
      throw new GrpcError(Status.INVALID_ARGUMENT, `count must be at most ${MAX_REPLY_COUNT}, got ${count}`);
    }
    if (request.intervalMs > MAX_REPLY_INTERVAL_MS) {
      throw new GrpcError(
        Status.INVALID_ARGUMENT,
        `interval_ms must be at most ${MAX_REPLY_INTERVAL_MS}, got ${request.intervalMs}`,
      );
    }
    const reply = { name: greet(request.name) };
    // Without pauses, a plain iterable: the server writes it without a microtask per reply.
    if (request.intervalMs === 0) return repeat(reply, count);
    return (async function* () {
      for (let i = 0; i < count; i++) {
        if (i > 0) await sleep(request.intervalMs, context.signal);
        yield reply;
      }
    })();
  },
  async lotsOfGreetings(requests) {
    const names: string[] = [];
    for await (const request of requests) names.push(request.name);
    return { name: greet(names.join(", ")) };
  },
  async *bidiHello(requests) {
    for await (const request of requests) yield { name: greet(request.name) };
  },
};

/**
 * The protobuf bytes of a `HelloRequest`, as the tutorial's `SerializeToString()`.
 *
 * @example
 * ```ts
 * import { encodeHelloRequest } from "../mod.ts";
 *
 * encodeHelloRequest({ name: "bobby" }); // Uint8Array [0x0a, 0x05, 0x62, 0x6f, 0x62, 0x62, 0x79]
 * ```
 *
 * @param message The message; absent fields are proto3 defaults.
 * @returns Its encoding.
 * @throws {TypeError} When a field has the wrong type or a string has a lone surrogate.
 */
export function encodeHelloRequest(message: Init<HelloRequest>): Uint8Array {
  return HelloRequest.encode(message);
}

/**
 * A `HelloRequest` from protobuf bytes, as the tutorial's `ParseFromString()`.
 *
 * @example
 * ```ts
 * import { decodeHelloRequest } from "../mod.ts";
 *
 * decodeHelloRequest(new Uint8Array([0x0a, 0x01, 0x61])); // { name: "a" }
 * ```
 *
 * @param bytes The encoding.
 * @returns The message, with proto3 defaults for absent fields.
 * @throws {ProtobufDecodeError} When the bytes are malformed or a string is not UTF-8.
 */
export function decodeHelloRequest(bytes: Uint8Array): HelloRequest {
  return HelloRequest.decode(bytes);
}

/**
 * The protobuf bytes of a `HelloResponse`.
 *
 * @example
 * ```ts
 * import { encodeHelloResponse } from "../mod.ts";
 *
 * encodeHelloResponse({ name: "我是zzz" }).length; // 11
 * ```
 *
 * @param message The message; absent fields are proto3 defaults.
 * @returns Its encoding.
 * @throws {TypeError} When a field has the wrong type or a string has a lone surrogate.
 */
export function encodeHelloResponse(message: Init<HelloResponse>): Uint8Array {
  return HelloResponse.encode(message);
}

/**
 * A `HelloResponse` from protobuf bytes.
 *
 * @example
 * ```ts
 * import { decodeHelloResponse, encodeHelloResponse } from "../mod.ts";
 *
 * decodeHelloResponse(encodeHelloResponse({ name: "我是zzz" })); // { name: "我是zzz" }
 * ```
 *
 * @param bytes The encoding.
 * @returns The message, with proto3 defaults for absent fields.
 * @throws {ProtobufDecodeError} When the bytes are malformed or a string is not UTF-8.
 */
export function decodeHelloResponse(bytes: Uint8Array): HelloResponse {
  return HelloResponse.decode(bytes);
}

export { Greeter };
