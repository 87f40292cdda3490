/**
 * The tutorial's serialization demo as API: protobuf bytes of the Greeter's
 * messages and back, byte for byte what Python's `SerializeToString()` gives.
 *
 * @module
 */
import type { HelloRequest, HelloResponse } from "../proto/hello.ts";
import { ProtobufDecodeError } from "./codec.ts";
import { CODECS } from "./service.ts";

export { ProtobufDecodeError };

/**
 * The protobuf bytes of a `HelloRequest`.
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
export function encodeHelloRequest(message: Partial<HelloRequest>): Uint8Array {
  return CODECS.HelloRequest.encode(message);
}

/**
 * A `HelloRequest` from protobuf bytes.
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
  return CODECS.HelloRequest.decode(bytes);
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
export function encodeHelloResponse(message: Partial<HelloResponse>): Uint8Array {
  return CODECS.HelloResponse.encode(message);
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
  return CODECS.HelloResponse.decode(bytes);
}
