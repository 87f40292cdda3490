/**
 * The tutorial's Greeter as a Deno-native gRPC module: a proto3 `Greeter`
 * service (unary `SayHello` plus the three streaming kinds), a server, a
 * client, and the protobuf codec of its messages. It speaks plain gRPC over
 * HTTP/2 on grpc-js, so grpcio, grpc-go and any other gRPC peer work with it
 * (method paths such as `/Greeter/SayHello`, no proto package).
 *
 * @example A server and a client round trip
 * ```ts
 * import { createGreeterClient, createGreeterServer, GrpcError, Status } from "./mod.ts";
 *
 * await using server = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });
 * using client = createGreeterClient(server.address);
 *
 * const reply = await client.sayHello({ name: "zzz" });
 * console.log(reply.name); // "我是zzz"
 *
 * for await (const greeting of client.lotsOfReplies({ name: "zzz", count: 2 })) {
 *   console.log(greeting.name); // "我是zzz", twice
 * }
 *
 * try {
 *   await client.sayHello({ name: "slow" }, { timeout: 1 });
 * } catch (error) {
 *   if (error instanceof GrpcError && error.code === Status.DEADLINE_EXCEEDED) {
 *     console.log(error.message); // "/Greeter/SayHello DEADLINE_EXCEEDED: ..."
 *   }
 * }
 * ```
 *
 * @example Custom handlers
 * ```ts
 * import { createGreeterServer, GrpcError, Status } from "./mod.ts";
 *
 * await using server = await createGreeterServer({
 *   port: 0,
 *   handlers: {
 *     sayHello({ name }, { metadata }) {
 *       if (name === "") throw new GrpcError(Status.INVALID_ARGUMENT, "name is required");
 *       return { name: `hello ${name} from ${metadata.get("user-agent")[0]}` };
 *     },
 *   },
 * });
 * ```
 *
 * @example Protobuf bytes, as the tutorial's serialization demo
 * ```ts
 * import { decodeHelloRequest, encodeHelloRequest } from "./mod.ts";
 *
 * const bytes = encodeHelloRequest({ name: "bobby" }); // 0a 05 62 6f 62 62 79
 * console.log(decodeHelloRequest(bytes)); // { name: "bobby" }
 * ```
 *
 * @module
 */

export {
  type Awaitable,
  type CallContext,
  type CallEvent,
  type ChannelOptions,
  createGreeterServer,
  type GreeterHandlers,
  type GreeterServer,
  type GreeterServerOptions,
} from "./server.ts";
export { type CallOptions, createGreeterClient, type GreeterClient, type GreeterClientOptions } from "./client.ts";
export { GrpcError, type GrpcErrorOptions, Status } from "./src/errors.ts";
export { Metadata, type MetadataInit, type MetadataValue } from "./src/metadata.ts";
export type { HelloRequest, HelloResponse, RepliesRequest } from "./proto/hello.ts";
export {
  decodeHelloRequest,
  decodeHelloResponse,
  encodeHelloRequest,
  encodeHelloResponse,
  ProtobufDecodeError,
} from "./src/messages.ts";
