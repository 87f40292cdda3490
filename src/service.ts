/**
 * The Greeter service as grpc-js needs it: the method table generated from
 * the `.proto`, with our strict codec as the (de)serializers.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import { createMessageCodec, type MessageCodec, ProtobufDecodeError } from "./codec.ts";
import { GrpcError, Status } from "./errors.ts";
import {
  type HelloRequest,
  type HelloResponse,
  MESSAGE_FIELDS,
  METHODS,
  type MethodSpec,
  type RepliesRequest,
} from "../proto/hello.ts";

/** The codec of each message of the `.proto`. */
export const CODECS: {
  readonly HelloRequest: MessageCodec<HelloRequest>;
  readonly HelloResponse: MessageCodec<HelloResponse>;
  readonly RepliesRequest: MessageCodec<RepliesRequest>;
} = {
  HelloRequest: createMessageCodec("HelloRequest", MESSAGE_FIELDS.HelloRequest),
  HelloResponse: createMessageCodec("HelloResponse", MESSAGE_FIELDS.HelloResponse),
  RepliesRequest: createMessageCodec("RepliesRequest", MESSAGE_FIELDS.RepliesRequest),
};

/** The method spec by its TypeScript name (`sayHello`, ...). */
export const METHOD_BY_NAME: ReadonlyMap<string, MethodSpec> = new Map(
  METHODS.map((m) => [m.localName, m]),
);

/**
 * What the server's deserializer hands on for a malformed message: grpc-js
 * would answer a throwing deserializer with a bare "Error deserializing
 * request", so the reason travels to the handler adapter, which sends it.
 */
export class MalformedMessage {
  /** The status to send. */
  readonly error: GrpcError;
  /** Wraps a decode failure. */
  constructor(cause: ProtobufDecodeError) {
    this.error = new GrpcError(Status.INTERNAL, cause.message, { cause });
  }
}

function identity(value: Buffer): Buffer {
  return value;
}

/**
 * The grpc-js service definition: on the server, requests are decoded
 * strictly (a malformed one becomes a {@linkcode MalformedMessage}), and
 * responses arrive already encoded by the handler adapter.
 */
export function serviceDefinition(): grpc.ServiceDefinition {
  // deno-lint-ignore no-explicit-any
  const definition: Record<string, grpc.MethodDefinition<any, any>> = {};
  for (const method of METHODS) {
    const request = CODECS[method.requestType];
    definition[method.name] = {
      path: method.path,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      originalName: method.localName,
      requestSerialize: request.encode,
      requestDeserialize(bytes: Buffer) {
        try {
          return request.decode(bytes);
        } catch (error) {
          if (error instanceof ProtobufDecodeError) return new MalformedMessage(error);
          throw error;
        }
      },
      responseSerialize: identity,
      responseDeserialize: CODECS[method.responseType].decode,
    };
  }
  return definition;
}
