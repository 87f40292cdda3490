/**
 * Every touch of grpc-js internals, in one place.
 *
 * The strict framing checks, the drain gate, the limits and write coalescing need the
 * `node:http2` servers a grpc-js server listens with; grpc-js keeps them in
 * the private field `http2Servers` and has no public accessor. The module
 * pins grpc-js exactly ({@linkcode TESTED_GRPC_JS}, and a test keeps
 * `deno.json` equal to it), and fails loudly at start when the field is gone.
 *
 * @module
 */
import type * as http2 from "node:http2";
import { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";

/** The grpc-js version these internals were written and tested against. */
export const TESTED_GRPC_JS = "1.14.7";

/**
 * The `node:http2` servers a bound grpc-js server listens with.
 *
 * @param server A grpc-js server, after `bindAsync()` succeeded.
 * @returns Its HTTP/2 servers.
 * @throws {Error} When this grpc-js has no such field (it was upgraded).
 */
export function http2ServersOf(server: grpc.Server): http2.Http2Server[] {
  const servers: unknown = Reflect.get(server, "http2Servers");
  if (!(servers instanceof Map) || servers.size === 0) {
    throw new Error(
      `Cannot reach grpc-js's HTTP/2 servers: this grpc-js has no 'http2Servers' map ` +
        `(tested with grpc-js ${TESTED_GRPC_JS}; was it upgraded?)`,
    );
  }
  return [...servers.keys()] as http2.Http2Server[];
}

/**
 * The intercepting call under a handler's call object (what server
 * interceptors were given): grpc-js keeps it in the private field `call`.
 *
 * @param call The call a grpc-js handler received.
 * @returns The intercepting call, or undefined when this grpc-js has no such field.
 */
export function interceptingCallOf(call: object): object | undefined {
  const inner: unknown = Reflect.get(call, "call");
  return typeof inner === "object" && inner !== null ? inner : undefined;
}

/** What {@linkcode compressResponses} needs of grpc-js's private server call. */
interface PrivateServerCall {
  serializeMessage(value: unknown): Uint8Array;
  sendMetadata(metadata?: grpc.Metadata | null): void;
  maxSendMessageSize: number;
}

/**
 * Makes one grpc-js server call send its responses compressed, which grpc-js
 * 1.14 does not do itself (its `serializeMessage` always writes the flag 0
 * and its headers say `grpc-encoding: identity`): the call's own
 * `serializeMessage` is replaced by one that gzips the message and sets the
 * flag, and its response headers say `grpc-encoding: <name>`. A message over
 * the send limit is left uncompressed, so that grpc-js's own check still
 * measures the uncompressed size and answers `RESOURCE_EXHAUSTED`.
 *
 * @param call The call an interceptor received (grpc-js's own, not a wrapper).
 * @param name The encoding, for the header.
 * @param compress The compressor.
 * @param withHeader Adds the encoding header to the response metadata.
 * @throws {Error} When this grpc-js call has no such methods (it was upgraded).
 */
export function compressResponses(
  call: grpc.ServerInterceptingCallInterface,
  name: string,
  compress: (bytes: Uint8Array) => Uint8Array,
  withHeader: (metadata: grpc.Metadata | null | undefined, name: string) => grpc.Metadata,
): void {
  const target = call as unknown as PrivateServerCall;
  if (typeof target.serializeMessage !== "function" || typeof target.maxSendMessageSize !== "number") {
    throw new Error(
      `Cannot compress responses: this grpc-js server call has no 'serializeMessage' ` +
        `(tested with grpc-js ${TESTED_GRPC_JS}; was it upgraded?)`,
    );
  }
  const serialize = target.serializeMessage;
  const sendMetadata = target.sendMetadata;
  target.serializeMessage = function (value: unknown): Uint8Array {
    const framed = serialize.call(this, value);
    const limit = target.maxSendMessageSize;
    if (limit !== -1 && framed.length - 5 > limit) return framed;
    const compressed = compress(framed.subarray(5));
    const out = Buffer.allocUnsafe(5 + compressed.length);
    out[0] = 1;
    out.writeUInt32BE(compressed.length, 1);
    out.set(compressed, 5);
    return out;
  };
  target.sendMetadata = function (metadata?: grpc.Metadata | null): void {
    sendMetadata.call(this, withHeader(metadata, name));
  };
}

/** Bytes that are already gRPC frames, prefixes included: one message or several. */
export class Framed {
  /** @param bytes The frames. */
  constructor(readonly bytes: Uint8Array) {}
}

/** What {@linkcode acceptFramed} needs of grpc-js's private server call. */
interface FramingServerCall {
  serializeMessage(value: unknown): Uint8Array;
  maxSendMessageSize: number;
}

/**
 * Lets a grpc-js server call take {@linkcode Framed} bytes as a response
 * "message" and send them as they are, so that several messages leave in one
 * write and one DATA frame: grpc-js writes each message on its own, and
 * Deno's `node:http2` sends each write with its own system call. The call's
 * own `serializeMessage` (private, which frames one message) is wrapped for
 * that one call. Refused (false) where it would skip a check: when a send
 * limit is set (grpc-js checks each write against it) or when responses are
 * compressed (`compressResponses` wrapped it already), or when the handler's
 * call is not grpc-js's own (an interceptor wrapped it).
 *
 * @param call The handler's call object.
 * @returns Whether the call now takes `Framed` writes.
 */
export function acceptFramed(call: object): boolean {
  const inner = Reflect.get(call, "call") as FramingServerCall | undefined;
  if (
    !inner || typeof inner.serializeMessage !== "function" || Object.hasOwn(inner, "serializeMessage") ||
    inner.maxSendMessageSize !== -1
  ) {
    return false;
  }
  const serialize = inner.serializeMessage;
  inner.serializeMessage = function (this: FramingServerCall, value: unknown): Uint8Array {
    return value instanceof Framed ? value.bytes : serialize.call(this, value);
  };
  return true;
}

/**
 * The `node:http2` stream under a grpc-js client call, once the call has one:
 * `call` (the intercepting call) → `call`/`nextCall`… → ResolvingCall `child` →
 * RetryingCall `underlyingCalls[i].call` → LoadBalancingCall `child` →
 * Http2SubchannelCall `http2Stream`. Undefined while the call is still
 * waiting for a connection (grpc-js then holds the messages itself).
 *
 * @param call A client-streaming or bidi call from grpc-js's `Client`.
 * @returns The stream, or undefined when the call has none yet.
 * @throws {Error} When this grpc-js has no such chain (it was upgraded).
 */
export function http2StreamOfClientCall(call: object): http2.ClientHttp2Stream | undefined {
  let node: unknown = Reflect.get(call, "call");
  if (typeof node !== "object" || node === null) throw shapeChanged("call");
  for (let depth = 0; depth < 16 && typeof node === "object" && node !== null; depth++) {
    const stream: unknown = Reflect.get(node, "http2Stream");
    if (stream !== undefined) return stream as http2.ClientHttp2Stream;
    const underlying: unknown = Reflect.get(node, "underlyingCalls");
    if (Array.isArray(underlying)) {
      const active = underlying.filter((attempt) => attempt?.state === "ACTIVE");
      node = active[active.length - 1]?.call;
      continue;
    }
    const field = ["nextCall", "child", "call"].find((name) => name in (node as object));
    if (field === undefined) throw shapeChanged("nextCall/child/call");
    node = Reflect.get(node, field);
  }
  return undefined;
}

function shapeChanged(field: string): Error {
  return new Error(
    `Cannot reach the HTTP/2 stream of a grpc-js client call: no '${field}' field ` +
      `(tested with grpc-js ${TESTED_GRPC_JS}; was it upgraded?)`,
  );
}
