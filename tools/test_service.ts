/**
 * gRPC's interop service, `grpc.testing.TestService`, implemented on the
 * generic server as gRPC's interop-test descriptions define it. Its code is
 * generated at test time by our own gen from Debian's `grpc-proto` package
 * (`deno task gen:testing`), so none of those `.proto` files is committed.
 *
 * `deno task interop:server --port P` serves it and prints one line once
 * listening.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { createServer, GrpcError, type Server, type ServiceHandlers, Status } from "../mod.ts";
import type { CallContext } from "../src/server.ts";
import { TestService } from "../tests/gen/grpc/testing/test.ts";
import { type Payload, PayloadType } from "../tests/gen/grpc/testing/messages.ts";
import type { Init } from "../src/schema.ts";
import { sleep } from "../src/_sleep.ts";
import { exitWithError, parseFlags, parseHost, parsePort, requireNetPermission } from "../src/_cli.ts";

/** The metadata keys the interop cases echo. */
export const ECHO_INITIAL = "x-grpc-test-echo-initial";
/** The trailing metadata key the interop cases echo. */
export const ECHO_TRAILING = "x-grpc-test-echo-trailing-bin";

/**
 * A COMPRESSABLE payload of `size` zero bytes, as the interop server sends.
 *
 * @param size The body's length.
 * @returns The payload.
 */
export function zeros(size: number): Init<Payload> {
  if (!Number.isInteger(size) || size < 0) throw new GrpcError(Status.INVALID_ARGUMENT, `bad payload size ${size}`);
  return { type: PayloadType.COMPRESSABLE, body: new Uint8Array(size) };
}

/** Echoes the interop metadata keys: the initial one as a header, the trailing one as a trailer. */
function echoMetadata(context: CallContext): void {
  for (const value of context.metadata.get(ECHO_INITIAL)) context.header.add(ECHO_INITIAL, value);
  for (const value of context.metadata.get(ECHO_TRAILING)) context.trailer.add(ECHO_TRAILING, value);
}

/** Fails the call with the status a request asks for, if any. */
function failIfAsked(status: { code: number; message: string } | undefined): void {
  if (!status || status.code === 0) return;
  if (status.code < 1 || status.code > 16) {
    throw new GrpcError(Status.INVALID_ARGUMENT, `response_status.code must be from 0 to 16, got ${status.code}`);
  }
  throw new GrpcError(status.code as Status, status.message);
}

/** The responses a `StreamingOutputCallRequest` asks for, each after its interval. */
async function* respond(
  parameters: readonly { size: number; intervalUs: number }[],
  signal: AbortSignal,
): AsyncGenerator<{ payload: Init<Payload> }> {
  for (const { size, intervalUs } of parameters) {
    if (intervalUs > 0) await sleep(intervalUs / 1000, signal);
    yield { payload: zeros(size) };
  }
}

/** `grpc.testing.TestService`, as the interop-test descriptions define it; `UnimplementedCall` is left out on purpose. */
export const testServiceHandlers: ServiceHandlers<typeof TestService> = {
  emptyCall(_request, context) {
    echoMetadata(context);
    return {};
  },
  unaryCall(request, context) {
    echoMetadata(context);
    failIfAsked(request.responseStatus);
    return { payload: zeros(request.responseSize) };
  },
  cacheableUnaryCall(request, context) {
    echoMetadata(context);
    failIfAsked(request.responseStatus);
    return { payload: zeros(request.responseSize) };
  },
  async *streamingOutputCall(request, context) {
    echoMetadata(context);
    yield* respond(request.responseParameters, context.signal);
    failIfAsked(request.responseStatus);
  },
  async streamingInputCall(requests) {
    let aggregatedPayloadSize = 0;
    for await (const request of requests) aggregatedPayloadSize += request.payload?.body.length ?? 0;
    return { aggregatedPayloadSize };
  },
  async *fullDuplexCall(requests, context) {
    echoMetadata(context);
    for await (const request of requests) {
      failIfAsked(request.responseStatus);
      yield* respond(request.responseParameters, context.signal);
    }
  },
  async *halfDuplexCall(requests, context) {
    echoMetadata(context);
    const all = [];
    for await (const request of requests) all.push(request);
    for (const request of all) {
      failIfAsked(request.responseStatus);
      yield* respond(request.responseParameters, context.signal);
    }
  },
};

/** Options of {@linkcode serveTestService}. */
export interface ServeTestServiceOptions {
  /** Default `"127.0.0.1"`. */
  hostname?: string;
  /** Default 0, any free port. */
  port?: number;
  /** Aborting it shuts the server down. */
  signal?: AbortSignal;
}

/**
 * Serves `grpc.testing.TestService`.
 *
 * @param options Where to listen.
 * @returns The listening server.
 */
export function serveTestService(options: ServeTestServiceOptions = {}): Promise<Server> {
  return createServer({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    signal: options.signal,
    gracePeriodMs: 2000,
    onError: () => {},
    services: [[TestService, testServiceHandlers]],
  });
}

const HELP = `Serve gRPC's interop service, grpc.testing.TestService.

Usage: deno task interop:server [--host <host>] [--port <port>]

Prints one line once listening; stops on SIGINT or SIGTERM.`;

async function main(args: string[]): Promise<void> {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const host = parseHost(values.host);
  const port = parsePort(values.port, "--port", { allowZero: true });
  requireNetPermission(host, "tools/test_service.ts");
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const stop = new AbortController();
  const server = await serveTestService({ hostname: host, port, signal: stop.signal });
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => stop.abort());
  console.log(`${TestService.typeName} listening on ${server.address}`);
  await server.finished;
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
