/**
 * The Greeter client: {@linkcode createGreeterClient} and the `deno task
 * call` command line.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { fromGrpcMetadata, type Metadata, type MetadataInit, toGrpcMetadata } from "./src/metadata.ts";
import { GrpcError, Status } from "./src/errors.ts";
import type { ChannelOptions } from "./server.ts";
import { CODECS, METHOD_BY_NAME } from "./src/service.ts";
import { firstEvent } from "./src/events.ts";
import type { HelloRequest, HelloResponse, RepliesRequest } from "./proto/hello.ts";
import {
  exitWithError,
  formatHostPort,
  parseCount,
  parseFlags,
  parseMs,
  parsePort,
  requireNetPermission,
  UsageError,
} from "./src/cli.ts";

/** Options of one call. */
export interface CallOptions {
  /** Aborting it cancels the call; it then rejects with `CANCELLED` (or `DEADLINE_EXCEEDED` for a `TimeoutError` reason). */
  signal?: AbortSignal;
  /** The call's deadline, in milliseconds from now. */
  timeout?: number;
  /** The call's deadline as a time; the earlier of this and `timeout` wins. */
  deadline?: Date;
  /** Metadata sent with the request. */
  metadata?: MetadataInit;
  /** Called with the response headers when they arrive. */
  onHeader?: (metadata: Metadata) => void;
  /** Called with the trailers when the call ends, whatever its status. */
  onTrailer?: (metadata: Metadata) => void;
}

/** Options of {@linkcode createGreeterClient}. */
export interface GreeterClientOptions {
  /** grpc-js channel arguments, such as `"grpc.keepalive_time_ms"`. */
  channelOptions?: ChannelOptions;
}

/** A client of the Greeter service: one method per RPC. */
export interface GreeterClient {
  /** The address it calls. */
  readonly address: string;
  /** Unary `SayHello`. */
  sayHello(request: Partial<HelloRequest>, options?: CallOptions): Promise<HelloResponse>;
  /** Server streaming `LotsOfReplies`: iterate the replies. */
  lotsOfReplies(
    request: Partial<RepliesRequest>,
    options?: CallOptions,
  ): AsyncGenerator<HelloResponse, void, undefined>;
  /** Client streaming `LotsOfGreetings`: send every request, get one reply. */
  lotsOfGreetings(
    requests: AsyncIterable<Partial<HelloRequest>> | Iterable<Partial<HelloRequest>>,
    options?: CallOptions,
  ): Promise<HelloResponse>;
  /** Bidirectional `BidiHello`: send the requests while iterating the replies. */
  bidiHello(
    requests: AsyncIterable<Partial<HelloRequest>> | Iterable<Partial<HelloRequest>>,
    options?: CallOptions,
  ): AsyncGenerator<HelloResponse, void, undefined>;
  /** Closes the channel; calls in flight are cancelled. Idempotent. */
  close(): void;
  /** Same as {@linkcode GreeterClient.close}. */
  [Symbol.dispose](): void;
}

function identity(value: Buffer): Buffer {
  return value;
}

const PATHS = {
  sayHello: METHOD_BY_NAME.get("sayHello")!.path,
  lotsOfReplies: METHOD_BY_NAME.get("lotsOfReplies")!.path,
  lotsOfGreetings: METHOD_BY_NAME.get("lotsOfGreetings")!.path,
  bidiHello: METHOD_BY_NAME.get("bidiHello")!.path,
};

/** What the four kinds of grpc-js client call have in common. */
type AnyClientCall = EventEmitter & { cancel(): void };

/** What one call needs from its options, prepared once. */
class CallSetup {
  readonly metadata: grpc.Metadata;
  readonly callOptions: grpc.CallOptions;
  readonly #method: string;
  readonly #options: CallOptions;
  readonly #timeout: number | undefined;
  #call: AnyClientCall | undefined;
  readonly #onAbort = () => this.#call?.cancel();

  constructor(method: string, options: CallOptions) {
    this.#method = method;
    this.#options = options;
    this.metadata = toGrpcMetadata(options.metadata);
    const { timeout, deadline } = options;
    if (timeout !== undefined && (!Number.isFinite(timeout) || timeout < 0)) {
      throw new RangeError(`Timeout must be a non-negative number of milliseconds, got ${timeout}`);
    }
    let until = deadline?.getTime();
    if (timeout !== undefined) until = Math.min(until ?? Infinity, Date.now() + timeout);
    this.#timeout = timeout;
    this.callOptions = until === undefined ? {} : { deadline: until };
    if (options.signal?.aborted) throw this.#abortError();
  }

  /** Wires the signal and the header/trailer hooks to the grpc-js call. */
  attach<C extends AnyClientCall>(call: C): C {
    this.#call = call;
    const { onHeader, onTrailer, signal } = this.#options;
    if (onHeader) call.on("metadata", (metadata: grpc.Metadata) => onHeader(fromGrpcMetadata(metadata)));
    if (onTrailer) call.on("status", (status: grpc.StatusObject) => onTrailer(fromGrpcMetadata(status.metadata)));
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    return call;
  }

  /** Unhooks the signal; call when the call is over. */
  detach(): void {
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
  }

  #abortError(): GrpcError {
    const reason = this.#options.signal?.reason;
    const error = GrpcError.from(reason, this.#method);
    return error.code === Status.UNKNOWN
      ? new GrpcError(Status.CANCELLED, "the call was cancelled", { cause: reason, method: this.#method })
      : error;
  }

  /** The `GrpcError` for whatever ended the call. */
  toError(error: unknown): unknown {
    if (error instanceof GrpcError || error instanceof TypeError || error instanceof RangeError) return error;
    if (this.#options.signal?.aborted) return this.#abortError();
    const status = error as Partial<grpc.ServiceError>;
    if (typeof status.code !== "number") return error;
    let details = status.details ?? "";
    if (status.code === Status.DEADLINE_EXCEEDED && this.#timeout !== undefined) {
      details = `deadline exceeded after ${this.#timeout}ms`;
    }
    return new GrpcError(status.code as Status, details, {
      metadata: fromGrpcMetadata(status.metadata),
      cause: error,
      method: this.#method,
    });
  }
}

/** Writes every request to a writable call, honouring back-pressure; ends it. */
async function pump(
  requests: AsyncIterable<Partial<HelloRequest>> | Iterable<Partial<HelloRequest>>,
  call: grpc.ClientWritableStream<Buffer> | grpc.ClientDuplexStream<Buffer, HelloResponse>,
): Promise<void> {
  // Set synchronously, so that a wait below never starts after the status.
  let done = false;
  call.once("status", () => done = true);
  for await (const request of requests) {
    if (done) return;
    if (!call.write(CODECS.HelloRequest.encode(request))) await firstEvent(call, ["drain", "status"]);
  }
  if (!done) call.end();
}

/**
 * Creates a client of the Greeter service at `address`.
 *
 * @example Call SayHello
 * ```ts
 * import { createGreeterClient } from "./mod.ts";
 *
 * using client = createGreeterClient("127.0.0.1:8001");
 * try {
 *   const reply = await client.sayHello({ name: "zzz" }, { timeout: 1000 });
 *   console.log(reply.name); // "我是zzz"
 * } catch (error) {
 *   console.error(String(error)); // e.g. "GrpcError: /Greeter/SayHello UNAVAILABLE: ..."
 * }
 * ```
 *
 * @param address `host:port` of the server, such as `server.address`.
 * @param options Channel options and credentials.
 * @returns The client; close it when done.
 * @throws {TypeError} When `address` is not a non-empty string.
 */
export function createGreeterClient(address: string, options: GreeterClientOptions = {}): GreeterClient {
  if (typeof address !== "string" || address.trim() === "") {
    throw new TypeError(`Address must be a non-empty 'host:port' string, got ${JSON.stringify(address)}`);
  }
  const client = new grpc.Client(
    address,
    grpc.credentials.createInsecure(),
    options.channelOptions,
  );
  let closed = false;
  const decode = CODECS.HelloResponse.decode;

  function close(): void {
    if (closed) return;
    closed = true;
    client.close();
  }

  return {
    address,

    sayHello(request, callOptions = {}) {
      return new Promise((resolve, reject) => {
        const setup = new CallSetup(PATHS.sayHello, callOptions);
        const bytes = CODECS.HelloRequest.encode(request);
        setup.attach(client.makeUnaryRequest(
          PATHS.sayHello,
          identity,
          decode,
          bytes,
          setup.metadata,
          setup.callOptions,
          (error, value) => {
            setup.detach();
            error ? reject(setup.toError(error)) : resolve(value!);
          },
        ));
      });
    },

    async *lotsOfReplies(request, callOptions = {}) {
      const setup = new CallSetup(PATHS.lotsOfReplies, callOptions);
      const bytes = CODECS.RepliesRequest.encode(request);
      const call = setup.attach(client.makeServerStreamRequest(
        PATHS.lotsOfReplies,
        identity,
        decode,
        bytes,
        setup.metadata,
        setup.callOptions,
      ));
      let ended = false;
      call.once("status", () => ended = true);
      try {
        for await (const reply of call) yield reply as HelloResponse;
      } catch (error) {
        throw setup.toError(error);
      } finally {
        setup.detach();
        if (!ended) call.cancel();
      }
    },

    lotsOfGreetings(requests, callOptions = {}) {
      return new Promise((resolve, reject) => {
        const setup = new CallSetup(PATHS.lotsOfGreetings, callOptions);
        let settled = false;
        const settle = (error: unknown, value?: HelloResponse) => {
          if (settled) return;
          settled = true;
          setup.detach();
          error ? reject(setup.toError(error)) : resolve(value!);
        };
        const call = setup.attach(client.makeClientStreamRequest(
          PATHS.lotsOfGreetings,
          identity,
          decode,
          setup.metadata,
          setup.callOptions,
          (error, value) => settle(error, value as HelloResponse),
        ));
        pump(requests, call).catch((error) => {
          settle(error);
          call.cancel();
        });
      });
    },

    async *bidiHello(requests, callOptions = {}) {
      const setup = new CallSetup(PATHS.bidiHello, callOptions);
      const call = setup.attach(client.makeBidiStreamRequest(
        PATHS.bidiHello,
        identity,
        decode,
        setup.metadata,
        setup.callOptions,
      ));
      let ended = false;
      call.once("status", () => ended = true);
      let pumpError: unknown;
      pump(requests, call).catch((error) => {
        pumpError = error;
        call.cancel();
      });
      try {
        for await (const reply of call) yield reply as HelloResponse;
      } catch (error) {
        throw setup.toError(pumpError ?? error);
      } finally {
        setup.detach();
        if (!ended) call.cancel();
      }
      if (pumpError !== undefined) throw setup.toError(pumpError);
    },

    close,
    [Symbol.dispose]: close,
  };
}

const CALL_HELP = `Call the Greeter over gRPC (the tutorial's client).

Usage: deno task call [options]

Options:
  --host <host>       server address (default 127.0.0.1)
  --port <port>       server port (default 8001)
  --name <name>       the name to send (default zzz); repeat it to send several
                      names with --rpc greetings or --rpc bidi
  --rpc <kind>        which RPC to call (default hello):
                        hello      SayHello, unary
                        replies    LotsOfReplies, server streaming
                        greetings  LotsOfGreetings, client streaming
                        bidi       BidiHello, bidirectional streaming
  --count <n>         replies to ask for with --rpc replies (default 3)
  --interval <ms>     pause between replies with --rpc replies (default 0)
  --timeout <ms>      deadline of the call (default 10000 for hello,
                      none for the streaming RPCs)
  --help              show this help

Prints each reply's name on its own line. Fails with one line on stderr and
exit code 1 when the call fails, 2 when the flags are wrong.`;

const RPC_KINDS = ["hello", "replies", "greetings", "bidi"] as const;

/**
 * The `deno task call` command line.
 *
 * @param args The command-line arguments.
 * @returns Once every reply has been printed.
 * @throws {UsageError} When the flags are wrong.
 * @throws {GrpcError} When the call fails.
 */
export async function main(args: string[]): Promise<void> {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8001" },
    name: { type: "string", multiple: true },
    rpc: { type: "string", default: "hello" },
    count: { type: "string", default: "0" },
    interval: { type: "string", default: "0" },
    timeout: { type: "string" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(CALL_HELP);
    return;
  }
  const rpc = values.rpc as typeof RPC_KINDS[number];
  if (!RPC_KINDS.includes(rpc)) {
    throw new UsageError(`--rpc must be one of ${RPC_KINDS.join(", ")}, got '${values.rpc}'`);
  }
  const port = parsePort(values.port);
  const names = values.name ?? ["zzz"];
  const count = parseCount(values.count, "--count");
  const intervalMs = parseCount(values.interval, "--interval");
  const timeout = values.timeout === undefined
    ? (rpc === "hello" ? 10_000 : undefined)
    : parseMs(values.timeout, "--timeout");
  requireNetPermission(values.host, "client.ts");

  using client = createGreeterClient(formatHostPort(values.host, port));
  const options: CallOptions = { timeout };
  const requests = names.map((name) => ({ name }));
  switch (rpc) {
    case "hello":
      console.log((await client.sayHello(requests[0]!, options)).name);
      break;
    case "replies":
      for await (const reply of client.lotsOfReplies({ name: names[0], count, intervalMs }, options)) {
        console.log(reply.name);
      }
      break;
    case "greetings":
      console.log((await client.lotsOfGreetings(requests, options)).name);
      break;
    case "bidi":
      for await (const reply of client.bidiHello(requests, options)) console.log(reply.name);
      break;
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
