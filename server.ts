/**
 * The Greeter server: {@linkcode createGreeterServer} and the `deno task
 * serve` command line.
 *
 * @module
 */
import type { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { fromGrpcMetadata, Metadata, toGrpcMetadata } from "./src/metadata.ts";
import { GrpcError, Status, statusName } from "./src/errors.ts";
import { CODECS, MalformedMessage, serviceDefinition } from "./src/service.ts";
import { h2Workaround, warningLine } from "./src/h2_workaround.ts";
import { createStrictChecks } from "./src/strict.ts";
import { createDrainGate } from "./src/drain.ts";
import { coalesceWrites } from "./src/coalesce.ts";
import type { HelloRequest, HelloResponse, RepliesRequest } from "./proto/hello.ts";
import { SERVICE_NAME } from "./proto/hello.ts";
import { sleep } from "./src/sleep.ts";
import { firstEvent } from "./src/events.ts";
import { exitWithError, formatHostPort, parseFlags, parsePort, requireNetPermission } from "./src/cli.ts";

/** What a handler learns about its call. */
export interface CallContext {
  /** The method path, such as `"/Greeter/SayHello"`. */
  readonly method: string;
  /** The metadata the client sent. */
  readonly metadata: Metadata;
  /** When the call's deadline passes, if the client set one. */
  readonly deadline: Date | undefined;
  /** Aborts when the client cancels, the deadline passes or the server is forced to stop. */
  readonly signal: AbortSignal;
  /** The client's address. */
  readonly peer: string;
  /** Metadata sent as response headers, with the first response or the status. */
  readonly header: Metadata;
  /** Metadata sent as trailers, with the status. */
  readonly trailer: Metadata;
  /** Sends {@linkcode CallContext.header} now, before any response. */
  sendHeader(): void;
}

/**
 * grpc-js channel arguments by name, such as `"grpc.max_concurrent_streams"`
 * or `"grpc.keepalive_time_ms"`; see grpc-js's `ChannelOptions`.
 */
export type ChannelOptions = Record<string, string | number>;

/** A value or a promise of it. */
export type Awaitable<T> = T | Promise<T>;

/**
 * The implementation of the Greeter service: one async handler per RPC.
 * Absent response fields are sent as proto3 defaults.
 */
export interface GreeterHandlers {
  /** Unary `SayHello`. */
  sayHello(request: HelloRequest, context: CallContext): Awaitable<Partial<HelloResponse>>;
  /** Server streaming `LotsOfReplies`: yield each response. */
  lotsOfReplies(
    request: RepliesRequest,
    context: CallContext,
  ): AsyncIterable<Partial<HelloResponse>> | Iterable<Partial<HelloResponse>>;
  /** Client streaming `LotsOfGreetings`: read the requests, return one response. */
  lotsOfGreetings(
    requests: AsyncIterable<HelloRequest>,
    context: CallContext,
  ): Awaitable<Partial<HelloResponse>>;
  /** Bidirectional `BidiHello`: read requests and yield responses, in any order. */
  bidiHello(
    requests: AsyncIterable<HelloRequest>,
    context: CallContext,
  ): AsyncIterable<Partial<HelloResponse>> | Iterable<Partial<HelloResponse>>;
}

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
export const defaultHandlers: GreeterHandlers = {
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

/** One finished call, as reported to {@linkcode GreeterServerOptions.onCall}. */
export interface CallEvent {
  /** The method path. */
  method: string;
  /** The status code sent (CANCELLED when the client went away). */
  code: Status;
  /** The status message sent. */
  details: string;
  /** Milliseconds from the call's start to its status. */
  durationMs: number;
  /** The client's address. */
  peer: string;
}

/** Options of {@linkcode createGreeterServer}. */
export interface GreeterServerOptions {
  /** The address to listen on. Default `"127.0.0.1"`. */
  hostname?: string;
  /** The port to listen on; 0 picks a free one. Default 8001. */
  port?: number;
  /** Handlers replacing the defaults, for any of the RPCs. */
  handlers?: Partial<GreeterHandlers>;
  /** Aborting it shuts the server down gracefully. */
  signal?: AbortSignal;
  /** grpc-js channel arguments, such as `"grpc.max_receive_message_length"`. */
  channelOptions?: ChannelOptions;
  /** How long a graceful shutdown waits for calls in flight before cancelling them, in ms. Default 5000. */
  gracePeriodMs?: number;
  /** Called once for every call, after its status is sent. */
  onCall?: (event: CallEvent) => void;
  /**
   * Called with what a handler threw when it was not a `GrpcError` (the client
   * gets `UNKNOWN` and a generic message). Default: one line on stderr.
   */
  onError?: (error: unknown, method: string) => void;
}

/** A listening Greeter server. */
export interface GreeterServer {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on (the real one when 0 was asked). */
  readonly port: number;
  /** `host:port`, ready for {@linkcode createGreeterClient}. */
  readonly address: string;
  /** Settles once the server has shut down. */
  readonly finished: Promise<void>;
  /**
   * Stops taking calls, waits for those in flight, cancels what is left after
   * the grace period, and resolves once the server is down. Idempotent.
   */
  shutdown(): Promise<void>;
  /** Same as {@linkcode GreeterServer.shutdown}. */
  [Symbol.asyncDispose](): Promise<void>;
}

const GENERIC_ERROR_DETAILS = "Unexpected server error";

function defaultOnError(error: unknown, method: string): void {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(`${method}: handler failed: ${message}`);
}

/** What the four kinds of grpc-js server call have in common. */
type AnyCall = EventEmitter & {
  readonly metadata: grpc.Metadata;
  getPeer(): string;
  getDeadline(): grpc.Deadline;
  sendMetadata(metadata: grpc.Metadata): void;
};

/** How close to its deadline a cancelled call counts as timed out, in ms. */
const DEADLINE_SKEW_MS = 20;

/** The per-call state shared by the four adapters. */
class Call implements CallContext {
  readonly method: string;
  readonly peer: string;
  readonly #call: AnyCall;
  readonly #started = performance.now();
  #controller: AbortController | undefined;
  #metadata: Metadata | undefined;
  #header: Metadata | undefined;
  #trailer: Metadata | undefined;
  #headerSent = false;
  #cancelled = false;

  constructor(call: AnyCall, method: string) {
    this.#call = call;
    this.method = method;
    this.peer = call.getPeer();
    call.once("cancelled", () => {
      this.#cancelled = true;
      if (!this.#controller) return;
      this.#controller.abort(this.#abortReason());
    });
  }

  get metadata(): Metadata {
    return this.#metadata ??= fromGrpcMetadata(this.#call.metadata);
  }

  get deadline(): Date | undefined {
    const deadline = this.#call.getDeadline();
    if (deadline === Infinity) return undefined;
    return deadline instanceof Date ? deadline : new Date(deadline);
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#cancelled) this.#controller.abort(this.#abortReason());
    }
    return this.#controller.signal;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  get header(): Metadata {
    return this.#header ??= new Metadata();
  }

  get trailer(): Metadata {
    return this.#trailer ??= new Metadata();
  }

  /** The trailers for grpc-js, if any were set. */
  get grpcTrailer(): grpc.Metadata | undefined {
    return this.#trailer && toGrpcMetadata(this.#trailer);
  }

  sendHeader(): void {
    if (this.#headerSent) return;
    this.#headerSent = true;
    if (this.#header) this.#call.sendMetadata(toGrpcMetadata(this.#header));
  }

  #abortReason(): DOMException {
    const deadline = this.deadline;
    // A client whose deadline passes cancels the stream itself, which can
    // reach us a little before our own timer for the same deadline fires.
    return deadline && deadline.getTime() <= Date.now() + DEADLINE_SKEW_MS
      ? new DOMException(`${this.method}: deadline exceeded`, "TimeoutError")
      : new DOMException(`${this.method}: the client cancelled the call`, "AbortError");
  }

  elapsed(): number {
    return performance.now() - this.#started;
  }
}

/** Resolves on the call's next "drain" or "cancelled"; rejects on "error". */
async function drained(call: EventEmitter): Promise<void> {
  const [event, value] = await firstEvent(call, ["drain", "cancelled", "error"]);
  if (event === "error") throw value ?? new Error("stream error");
}

/** The request as decoded, or the status to send when it was malformed. */
function checked<T>(message: T | MalformedMessage): T {
  if (message instanceof MalformedMessage) throw message.error;
  return message;
}

/** A bind failure, in one line that names the address and the reason. */
function bindError(hostname: string, port: number, cause: Error): Error {
  const reason = cause.message.match(/\[(?:listen \w+: )?([^\]]+)\]/)?.[1] ?? cause.message;
  return new Error(`Cannot listen on ${formatHostPort(hostname, port)}: ${reason}`, { cause });
}

/**
 * Starts a Greeter server and resolves once it listens.
 *
 * @example Serve, call, stop
 * ```ts
 * import { createGreeterClient, createGreeterServer } from "./mod.ts";
 *
 * await using server = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });
 * using client = createGreeterClient(server.address);
 * const reply = await client.sayHello({ name: "zzz" });
 * console.log(reply.name); // "我是zzz"
 * ```
 *
 * @param options Where to listen, the handlers and the hooks.
 * @returns The listening server.
 * @throws {TypeError} When an option is invalid.
 * @throws {Error} When the address cannot be bound.
 */
export async function createGreeterServer(options: GreeterServerOptions = {}): Promise<GreeterServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const requestedPort = options.port ?? 8001;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new RangeError(`Port must be an integer from 0 to 65535, got ${requestedPort}`);
  }
  const gracePeriodMs = options.gracePeriodMs ?? 5000;
  const handlers: GreeterHandlers = { ...defaultHandlers, ...options.handlers };
  const onError = options.onError ?? defaultOnError;
  const onCall = options.onCall;
  const strict = createStrictChecks();
  const gate = createDrainGate();
  const server = new grpc.Server({
    ...h2Workaround.serverOptions(),
    ...options.channelOptions,
    interceptors: [strict.interceptor, gate.interceptor],
  });

  function report(call: Call, code: Status, details: string): void {
    onCall?.({ method: call.method, code, details, durationMs: call.elapsed(), peer: call.peer });
  }

  /** The status object to send for what a handler threw. */
  function toStatus(call: Call, error: unknown): grpc.StatusObject {
    let grpcError: GrpcError;
    if (error instanceof GrpcError) {
      grpcError = error;
    } else if (call.cancelled) {
      grpcError = GrpcError.from(call.signal.reason);
    } else {
      onError(error, call.method);
      grpcError = new GrpcError(Status.UNKNOWN, GENERIC_ERROR_DETAILS);
    }
    const metadata = toGrpcMetadata([...call.trailer, ...grpcError.metadata]);
    return { code: grpcError.code, details: grpcError.details, metadata };
  }

  function encodeResponse(value: Partial<HelloResponse>) {
    return CODECS.HelloResponse.encode(value);
  }

  /** Runs a handler that answers once, and sends its response or status. */
  function answerOnce(
    ctx: Call,
    callback: grpc.sendUnaryData<unknown>,
    run: () => Awaitable<Partial<HelloResponse>>,
  ): void {
    (async () => encodeResponse(await run()))().then(
      (response) => {
        ctx.sendHeader();
        callback(null, response, ctx.grpcTrailer);
        report(ctx, Status.OK, "OK");
      },
      (error) => {
        ctx.sendHeader();
        const status = toStatus(ctx, error);
        callback(status, null, status.metadata);
        report(ctx, status.code, status.details);
      },
    );
  }

  // The handler of each grpc-js call kind, wrapped around ours.
  const unary = (name: "sayHello") =>
  (
    call: grpc.ServerUnaryCall<HelloRequest | MalformedMessage, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ) => {
    const ctx = new Call(call, call.getPath());
    answerOnce(ctx, callback, () => handlers[name](checked(call.request), ctx));
  };

  const clientStreaming = (name: "lotsOfGreetings") =>
  (
    call: grpc.ServerReadableStream<HelloRequest | MalformedMessage, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ) => {
    const ctx = new Call(call, call.getPath());
    answerOnce(ctx, callback, () => handlers[name](readRequests(call, ctx), ctx));
  };

  const serverStreaming = (name: "lotsOfReplies") =>
  (
    call: grpc.ServerWritableStream<RepliesRequest | MalformedMessage, unknown>,
  ) => {
    const ctx = new Call(call, call.getPath());
    writeResponses(call, ctx, () => handlers[name](checked(call.request), ctx));
  };

  const bidi = (name: "bidiHello") =>
  (
    call: grpc.ServerDuplexStream<HelloRequest | MalformedMessage, unknown>,
  ) => {
    const ctx = new Call(call, call.getPath());
    writeResponses(call, ctx, () => handlers[name](readRequests(call, ctx), ctx));
  };

  async function* readRequests<T>(
    call:
      | grpc.ServerReadableStream<T | MalformedMessage, unknown>
      | grpc.ServerDuplexStream<T | MalformedMessage, unknown>,
    ctx: Call,
  ): AsyncGenerator<T> {
    try {
      // Not `for await (... of call)`: ending that iterator destroys the whole
      // duplex, and with it the response side of a bidirectional call.
      for await (const message of call.iterator({ destroyOnReturn: false })) {
        yield checked(message as T | MalformedMessage);
      }
      // A cancelled call's stream is destroyed without an error: it would look
      // like a complete (short) stream to the handler.
      if (ctx.cancelled) throw ctx.signal.reason;
    } catch (error) {
      if (ctx.cancelled) throw ctx.signal.reason;
      throw error;
    }
  }

  function writeResponses(
    call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
    ctx: Call,
    produce: () => AsyncIterable<Partial<HelloResponse>> | Iterable<Partial<HelloResponse>>,
  ): void {
    /** Writes one response; false when the caller must wait for "drain". */
    const writeOne = (response: Partial<HelloResponse>): boolean => {
      if (ctx.cancelled) throw ctx.signal.reason;
      ctx.sendHeader();
      return call.write(encodeResponse(response));
    };
    (async () => {
      const source = produce();
      if (Symbol.asyncIterator in source) {
        for await (const response of source) {
          if (!writeOne(response)) await drained(call);
        }
      } else {
        // A plain iterable is written without a microtask per message; the
        // wait for "drain" still yields to the event loop every few writes.
        for (const response of source) {
          if (!writeOne(response)) await drained(call);
        }
      }
      if (ctx.cancelled) throw ctx.signal.reason;
    })().then(
      () => {
        ctx.sendHeader();
        call.end(ctx.grpcTrailer);
        report(ctx, Status.OK, "OK");
      },
      (error) => {
        const status = toStatus(ctx, error);
        if (!ctx.cancelled) {
          ctx.sendHeader();
          call.emit("error", status);
        }
        report(ctx, status.code, status.details);
      },
    );
  }

  server.addService(serviceDefinition(), {
    SayHello: unary("sayHello"),
    LotsOfReplies: serverStreaming("lotsOfReplies"),
    LotsOfGreetings: clientStreaming("lotsOfGreetings"),
    BidiHello: bidi("bidiHello"),
  } as grpc.UntypedServiceImplementation);
  h2Workaround.register(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      formatHostPort(hostname, requestedPort),
      grpc.ServerCredentials.createInsecure(),
      (error, port) => {
        if (!error) return resolve(port);
        server.forceShutdown();
        reject(bindError(hostname, requestedPort, error));
      },
    );
  });
  strict.attach(server);
  coalesceWrites(server);
  gate.attach(server);
  await h2Workaround.warmUp(server, hostname, port);

  let shutdownPromise: Promise<void> | undefined;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);

  /** Refuses new calls, lets those in flight end, then closes the connections. */
  async function drainThenClose(): Promise<void> {
    options.signal?.removeEventListener("abort", onAbort);
    // Not tryShutdown() at once: see src/drain.ts for how that cuts answers.
    const started = performance.now();
    await gate.drain(gracePeriodMs);
    await new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => {
        timer = undefined;
        server.forceShutdown();
        resolve();
      }, Math.max(0, gracePeriodMs - (performance.now() - started)));
      server.tryShutdown(() => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      });
    });
  }

  function shutdown(): Promise<void> {
    shutdownPromise ??= drainThenClose().then(resolveFinished);
    return shutdownPromise;
  }
  const onAbort = () => void shutdown();
  if (options.signal?.aborted) {
    await shutdown();
  } else {
    options.signal?.addEventListener("abort", onAbort, { once: true });
  }

  return {
    hostname,
    port,
    address: formatHostPort(hostname, port),
    finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

const SERVE_HELP = `Serve the Greeter over gRPC (the tutorial's server).

Usage: deno task serve [options]

Options:
  --host <host>   address to listen on (default 127.0.0.1)
  --port <port>   port to listen on, 0 for any free one (default 8001)
  --verbose       log each call: method, status, duration
  --help          show this help

Stops gracefully on SIGINT or SIGTERM.`;

/**
 * The `deno task serve` command line.
 *
 * @param args The command-line arguments.
 * @returns Once the server has stopped after a signal.
 */
export async function main(args: string[]): Promise<void> {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8001" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return;
  }
  const port = parsePort(values.port);
  requireNetPermission(values.host, "server.ts");
  if (h2Workaround.active) console.error(warningLine());
  // Our own lines report what goes wrong; grpc-js's logger would add a second,
  // unless the user asked for it with GRPC_VERBOSITY.
  if (!Deno.env.get("GRPC_VERBOSITY") && !Deno.env.get("GRPC_NODE_VERBOSITY")) {
    grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  }
  const stop = new AbortController();
  const server = await createGreeterServer({
    hostname: values.host,
    port,
    signal: stop.signal,
    onCall: values.verbose
      ? (event) =>
        console.log(
          `${event.method} ${statusName(event.code)} ${event.durationMs.toFixed(1)}ms` +
            (event.code === Status.OK ? "" : ` ${JSON.stringify(event.details)}`),
        )
      : undefined,
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => stop.abort());
  }
  console.log(`${SERVICE_NAME} server listening on ${server.address}`);
  await server.finished;
  console.log("server stopped");
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
