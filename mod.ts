/**
 * gRPC for Deno, from any `.proto`: `deno task gen` turns a proto3 file into
 * typed message codecs and service definitions, {@linkcode createServer}
 * hosts them with async handlers, {@linkcode createClient} calls them. It
 * speaks plain gRPC over HTTP/2 on grpc-js, so grpcio, grpc-go and any other
 * gRPC peer work with it.
 *
 * The tutorial's Greeter (`hello.proto`, no package, so method paths such as
 * `/Greeter/SayHello`) is the first service built on it:
 * {@linkcode createGreeterServer} and {@linkcode createGreeterClient}.
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
 * @example Any service that `deno task gen` made
 * ```ts
 * import { createClient, createServer, GrpcError, Status } from "./mod.ts";
 * import { Greeter } from "./proto/hello.ts"; // your own: import { Shop } from "./gen/shop.ts";
 *
 * await using server = await createServer({
 *   port: 0,
 *   services: [[Greeter, {
 *     sayHello({ name }, { metadata }) {
 *       if (name === "") throw new GrpcError(Status.INVALID_ARGUMENT, "name is required");
 *       return { name: `hello ${name} from ${metadata.get("user-agent")[0]}` };
 *     },
 *   }]],
 * });
 * using client = createClient(Greeter, server.address);
 * console.log((await client.sayHello({ name: "zzz" })).name);
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

// For end users: servers, clients, errors, metadata.
export {
  type Awaitable,
  type CallContext,
  type CallEvent,
  type ChannelOptions,
  createServer,
  type Handler,
  type LimitEvent,
  type LimitKind,
  type Responses,
  type Server,
  type ServerBaseOptions,
  type ServerLimits,
  type ServerOptions,
  type ServiceEntry,
  type ServiceHandlers,
  type WorkerEvent,
  type WorkerEventKind,
} from "./src/server.ts";
export {
  type CallOptions,
  type Client,
  type ClientBase,
  type ClientMethod,
  type ClientOptions,
  createClient,
  type Requests,
  type RetryOptions,
} from "./src/client.ts";
export { GrpcError, type GrpcErrorOptions, Status } from "./src/errors.ts";
export { Metadata, type MetadataInit, type MetadataValue } from "./src/metadata.ts";
export type { ClientTlsOptions, Pem, ServerTlsOptions } from "./src/tls.ts";
export type { HealthStatuses, ServingStatus } from "./src/health.ts";
export {
  Health,
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
} from "./proto/grpc/health/v1/health.ts";

// The tutorial's Greeter, built on the above.
export { createGreeterServer, type GreeterServer, type GreeterServerOptions } from "./server.ts";
export { createGreeterClient, type GreeterClient, type GreeterClientOptions } from "./client.ts";
export {
  decodeHelloRequest,
  decodeHelloResponse,
  encodeHelloRequest,
  encodeHelloResponse,
  Greeter,
  type GreeterHandlers,
  greeterHandlers,
} from "./src/greeter.ts";
export { HelloRequest, HelloResponse, RepliesRequest } from "./proto/hello.ts";

// For generated code and other libraries: the schema and the codec (also at `@greeter/grpc/runtime`,
// which loads no grpc-js and needs no permission).
export {
  type AnyMethod,
  type BidiStreamingMethod,
  type ClientStreamingMethod,
  type FieldInfo,
  type FileDescriptor,
  type Init,
  type MessageType,
  type MethodKind,
  type MethodMap,
  type MethodType,
  ProtobufDecodeError,
  ScalarType,
  type ServerStreamingMethod,
  type ServiceType,
  type UnaryMethod,
  type ValueInfo,
} from "./src/runtime.ts";
