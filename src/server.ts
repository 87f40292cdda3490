/**
 * The generic gRPC server: {@linkcode createServer} hosts any services that
 * `deno task gen` made, with async handlers type-checked against their
 * definitions, and everything the module adds to grpc-js: strict framing
 * checks, a graceful drain, write coalescing and the Deno HTTP/2 guard.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { toGrpcMetadata } from "./metadata.ts";
import type { Metadata } from "./metadata.ts";
import { GrpcError, Status } from "./errors.ts";
import type { Init, MethodType, ServiceType } from "./schema.ts";
import { h2Workaround } from "./_h2_workaround.ts";
import { createStrictChecks } from "./_strict.ts";
import { createDrainGate } from "./_drain.ts";
import { coalesceWrites } from "./_coalesce.ts";
import { type StreamWatcher, watchStreams } from "./_streams.ts";
import { serverLimits } from "./_limits.ts";
import { formatHostPort } from "./_cli.ts";
import type { Call, ServerState } from "./_call.ts";
import { type AdapterEnv, adaptHandler, serverMethodDefinition } from "./_handlers.ts";
import { bareHandler, benchSwitched } from "./_bench_off.ts";
import {
  ConnectionGuard,
  type LimitEvent,
  type LimitKind,
  limitReporter,
  resolveLimits,
  type ServerLimits,
} from "./_guard.ts";
import { listen, type Listener } from "./_listener.ts";
import { interceptingCallOf } from "./_grpc_internals.ts";
import { isLoopback, listenTls, serverCredentials } from "./_tls.ts";
import type { ServerTlsOptions } from "./tls.ts";
import { type Listener as SharedListener, listenReusePort } from "./_listener_shared.ts";
import { startWorkers, workerCount, type WorkerEvent } from "./_workers.ts";

export type { WorkerEvent, WorkerEventKind } from "./_workers.ts";
import { createHealth, type HealthStatuses } from "./health.ts";
import { createReflection } from "./_reflection.ts";

export type { LimitEvent, LimitKind, ServerLimits };

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

/** What a streaming handler may return: responses, yielded in order. */
export type Responses<O> = AsyncIterable<Init<O>> | Iterable<Init<O>>;

/** The handler of one RPC, by its kind. */
export type Handler<M> = M extends MethodType<infer I, infer O, "unary">
  ? (request: I, context: CallContext) => Awaitable<Init<O>>
  : M extends MethodType<infer I, infer O, "server_streaming"> ? (request: I, context: CallContext) => Responses<O>
  : M extends MethodType<infer I, infer O, "client_streaming">
    ? (requests: AsyncIterable<I>, context: CallContext) => Awaitable<Init<O>>
  : M extends MethodType<infer I, infer O, "bidi_streaming">
    ? (requests: AsyncIterable<I>, context: CallContext) => Responses<O>
  : never;

/**
 * The implementation of a service: one async handler per RPC, by its
 * lowerCamelCase name. An RPC without a handler answers `UNIMPLEMENTED`.
 */
export type ServiceHandlers<S extends ServiceType> = { [K in keyof S["methods"]]?: Handler<S["methods"][K]> };

/** A service and its handlers, as {@linkcode ServerOptions.services} lists them. */
export type ServiceEntry<S extends ServiceType = ServiceType> = readonly [S, ServiceHandlers<S>];

/** One finished call, as reported to {@linkcode ServerOptions.onCall}. */
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
  /** Which worker served it, from 1, when the server runs {@linkcode ServerBaseOptions.workers}. */
  worker?: number;
}

/** Where to listen and how to behave, for any server. */
export interface ServerBaseOptions {
  /** The address to listen on. Default `"127.0.0.1"`. */
  hostname?: string;
  /** The port to listen on; 0 picks a free one. */
  port?: number;
  /**
   * Serve over TLS with this certificate and key; with `ca`, mutual TLS.
   * Without it the server speaks plaintext, which it does only on a loopback
   * address unless {@linkcode ServerBaseOptions.insecure} is set.
   */
  tls?: ServerTlsOptions;
  /**
   * Allow plaintext on an address that is not loopback (127.0.0.0/8, ::1,
   * `localhost`), such as `"0.0.0.0"`. Default false: such a server throws.
   */
  insecure?: boolean;
  /** Aborting it shuts the server down gracefully. */
  signal?: AbortSignal;
  /** grpc-js channel arguments, such as `"grpc.max_receive_message_length"`. */
  channelOptions?: ChannelOptions;
  /** How long a graceful shutdown waits for calls in flight before cancelling them, in ms. Default 5000. */
  gracePeriodMs?: number;
  /** Called once for every call, after its status is sent. */
  onCall?: (event: CallEvent) => void;
  /**
   * How many servers to run on this port, each in a Web Worker of its own (a
   * thread with its own isolate), the kernel spreading the connections among
   * them (`SO_REUSEPORT`, Linux); `"auto"` runs one per core. A worker that
   * dies is replaced, and said so on stderr; shutdown drains every worker.
   * Default 1: no worker, the server runs on the calling thread.
   */
  workers?: number | "auto";
  /** Called when a worker starts or dies. Default: one line on stderr for a worker that died. */
  onWorker?: (event: WorkerEvent) => void;
  /**
   * Called with what a handler threw when it was not a `GrpcError` (the client
   * gets `UNKNOWN` and a generic message). Default: one line on stderr.
   */
  onError?: (error: unknown, method: string) => void;
  /**
   * What one client may hold: connections, timeouts, streams, unflushed and
   * partially received bytes, early resets. Each field has a default; see
   * {@linkcode ServerLimits}.
   */
  limits?: Partial<ServerLimits>;
  /**
   * Called the first time each kind of limit bites (then never again for
   * that kind; running out of fds is reported once per episode). Default:
   * one line on stderr.
   */
  onLimit?: (event: LimitEvent) => void;

  /** Largest request message accepted, in bytes (after decompression); a larger one gets `RESOURCE_EXHAUSTED`. Default 4 MiB, as gRPC's. */
  maxReceiveMessageBytes?: number;
  /** Largest response message sent, in bytes; a larger one ends the call with `RESOURCE_EXHAUSTED`. Default `Infinity`, as gRPC's: the receiver's limit is what protects it. */
  maxSendMessageBytes?: number;
  /** Milliseconds a connection may be quiet before the server PINGs it. Default 7200000 (2 h), as gRPC's. */
  keepaliveTimeMs?: number;
  /** Milliseconds to wait for that PING's ACK before closing the connection. Default 20000, as gRPC's. */
  keepaliveTimeoutMs?: number;
  /** Age after which a connection gets GOAWAY (±10% jitter), so that clients reconnect and rebalance. Default `Infinity`. */
  maxConnectionAgeMs?: number;
  /** How long calls in flight may go on after that GOAWAY before the connection is closed. Default `Infinity`. */
  maxConnectionAgeGraceMs?: number;
  /**
   * Fewest milliseconds between a client's PINGs: the third PING in a row that
   * comes sooner gets GOAWAY ENHANCE_YOUR_CALM `too_many_pings` and the
   * connection is closed, as grpc-go does. Default 300000 (5 min, grpc-go's
   * `MinTime`); 0 turns the policy off.
   */
  minPingIntervalMs?: number;
  /** Whether clients may PING while no call is in flight (else 2 h is the minimum then). Default false. */
  permitKeepaliveWithoutCalls?: boolean;
  /** Response encoding, used with clients that accept it. Default `"identity"`. */
  compression?: "gzip" | "identity";
  /**
   * Host gRPC health checking (`grpc.health.v1.Health`): `""` and each hosted
   * service start `SERVING`, {@linkcode Server.health} changes them, and a
   * graceful shutdown turns them all `NOT_SERVING` before it drains.
   */
  health?: boolean;
  /**
   * Host gRPC server reflection (`grpc.reflection.v1` and `v1alpha`), which
   * `buf curl` and `grpcurl` use to call the server without its `.proto`. It
   * shows the schema of every hosted service to any client.
   */
  reflection?: boolean;
}

/** Options of {@linkcode createServer}. */
export interface ServerOptions<S extends readonly ServiceType[] = readonly ServiceType[]> extends ServerBaseOptions {
  /** The port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Host gRPC health checking; see {@linkcode ServerBaseOptions.health}. Default false. */
  health?: boolean;
  /** Host gRPC server reflection; see {@linkcode ServerBaseOptions.reflection}. Default false. */
  reflection?: boolean;
  /** The services to host, each with its handlers: `[[Greeter, { sayHello() {...} }], ...]`. */
  services: { readonly [K in keyof S]: readonly [S[K], NoInfer<ServiceHandlers<S[K]>>] };
  /**
   * With more than one of {@linkcode ServerBaseOptions.workers}: the module
   * each worker imports, which must export `services`, the same list as
   * {@linkcode ServerOptions.services} (handlers are functions, which cannot
   * be sent to a worker). Required then.
   */
  workerModule?: string | URL;
}

/** How a server made inside a worker listens and reports. */
export interface InWorker {
  /** The worker's number, from 1. */
  worker: number;
  /** What the workers share to apply the connection limits together (see `SharedLimits` in `_listener_shared.ts`). */
  slots: Int32Array;
}

/** A listening server. */
export interface Server {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on (the real one when 0 was asked). */
  readonly port: number;
  /** `host:port`, ready for {@linkcode createClient}. */
  readonly address: string;
  /** Settles once the server has shut down. */
  readonly finished: Promise<void>;
  /** The serving statuses that the health service reports, when {@linkcode ServerBaseOptions.health} is on. */
  readonly health: HealthStatuses;
  /**
   * Stops taking calls, waits for those in flight, cancels what is left after
   * the grace period, and resolves once the server is down. Idempotent.
   */
  shutdown(): Promise<void>;
  /** Same as {@linkcode Server.shutdown}. */
  [Symbol.asyncDispose](): Promise<void>;
}

const GENERIC_ERROR_DETAILS = "Unexpected server error";

function defaultOnError(error: unknown, method: string): void {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(`${method}: handler failed: ${message}`);
}

/** A bind failure, in one line that names the address and the reason. */
function bindError(hostname: string, port: number, cause: Error): Error {
  const address = formatHostPort(hostname, port);
  const reason = cause instanceof Deno.errors.AddrInUse
    ? `address already in use ${address}`
    : cause.message.match(/\[(?:listen \w+: )?([^\]]+)\]/)?.[1] ??
      cause.message.replace(/ \(os error \d+\)$/, "").toLowerCase();
  return new Error(`Cannot listen on ${address}: ${reason}`, { cause });
}

/**
 * Starts a server hosting `options.services` and resolves once it listens.
 *
 * @example Host the Greeter with one custom handler
 * ```ts
 * import { createClient, createServer, Greeter } from "./mod.ts";
 *
 * await using server = await createServer({
 *   port: 0,
 *   services: [[Greeter, { sayHello: ({ name }) => ({ name: `hi ${name}` }) }]],
 * });
 * using client = createClient(Greeter, server.address);
 * console.log((await client.sayHello({ name: "zzz" })).name); // "hi zzz"
 * ```
 *
 * @param options Where to listen, the services, and the hooks.
 * @returns The listening server.
 * @throws {TypeError} When an option is invalid, two services share a name, a TLS PEM is invalid, or the
 * address is not loopback and neither `tls` nor `insecure` is set.
 * @throws {RangeError} When the port, a size or a duration is out of range.
 * @throws {Error} When the address cannot be bound.
 */
export async function createServer<const S extends readonly ServiceType[]>(
  options: ServerOptions<S>,
): Promise<Server> {
  const workers = workerCount(options.workers);
  if (workers > 1) return await startWorkers(options as ServerOptions, workers);
  return await serveHere(options as ServerOptions);
}

/**
 * {@linkcode createServer} on this thread; inside a worker, listening with
 * `SO_REUSEPORT` beside the other workers.
 *
 * @param options As {@linkcode createServer}'s.
 * @param inWorker Set when called from a worker.
 * @returns The listening server.
 */
export async function serveHere(options: ServerOptions, inWorker?: InWorker): Promise<Server> {
  const hostname = options.hostname ?? "127.0.0.1";
  const requestedPort = options.port ?? 0;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new RangeError(`Port must be an integer from 0 to 65535, got ${requestedPort}`);
  }
  if (!Array.isArray(options.services)) {
    throw new TypeError("Services must be an array of [definition, handlers] pairs");
  }
  if (options.insecure !== undefined && typeof options.insecure !== "boolean") {
    throw new TypeError(`insecure must be a boolean, got ${typeof options.insecure}`);
  }
  if (options.tls === undefined && !options.insecure && !isLoopback(hostname)) {
    throw new TypeError(
      `Refusing to serve plaintext on '${hostname}', which is not a loopback address: ` +
        "pass tls, or insecure: true to allow plaintext there",
    );
  }
  // Our listeners run TLS themselves and hand grpc-js the plaintext
  // (_transport.ts); mutual TLS stays with grpc-js's (see listenTls()).
  const tls = options.tls === undefined ? undefined : listenTls(options.tls);
  const ownListener = !benchSwitched("listener") && (options.tls === undefined || tls !== undefined);
  const credentials = options.tls === undefined || ownListener
    ? grpc.ServerCredentials.createInsecure()
    : serverCredentials(options.tls);
  const gracePeriodMs = options.gracePeriodMs ?? 5000;
  const onError = options.onError ?? defaultOnError;
  const onCall = options.onCall;
  const hostile = resolveLimits(options.limits);
  // In a worker, onLimit posts to the supervisor, which reports once for all the workers.
  const report = limitReporter(options.onLimit);
  const guard = new ConnectionGuard(hostile, report);
  const strict = createStrictChecks((stream, bytes) => guard.partial(stream, bytes));
  const limits = serverLimits(options);
  const gate = createDrainGate();
  const state: ServerState = { forcing: false };
  const interceptors: grpc.ServerInterceptor[] = [];
  if (!benchSwitched("strict")) interceptors.push(strict.interceptor);
  if (!benchSwitched("drain")) interceptors.push(gate.interceptor);
  const server = new grpc.Server({
    ...limits.channelOptions,
    ...(benchSwitched("h2cap") ? {} : { "grpc.max_concurrent_streams": hostile.maxConcurrentStreams }),
    ...options.channelOptions,
    interceptors: [...interceptors, ...limits.interceptors],
  });

  const env: AdapterEnv = {
    state,
    report(call: Call, code: Status, details: string): void {
      onCall?.({
        method: call.method,
        code,
        details,
        durationMs: call.elapsed(),
        peer: call.peer,
        ...(inWorker ? { worker: inWorker.worker } : {}),
      });
    },
    toStatus(call: Call, error: unknown): grpc.StatusObject {
      let grpcError: GrpcError;
      if (error instanceof GrpcError) {
        grpcError = error;
      } else if (call.cancelled) {
        grpcError = GrpcError.from(call.reason);
      } else {
        onError(error, call.method);
        grpcError = new GrpcError(Status.UNKNOWN, GENERIC_ERROR_DETAILS);
      }
      const metadata = toGrpcMetadata([...call.trailer, ...grpcError.metadata]);
      return { code: grpcError.code, details: grpcError.details, metadata };
    },
    flow(call) {
      const inner = interceptingCallOf(call);
      const stream = inner && strict.streamOf(inner);
      if (!stream) return undefined;
      return {
        wrote: (bytes) => guard.wrote(stream, bytes),
        mustWait: () => guard.mustWait(stream),
        wait: () => guard.waitFlushed(stream, () => Reflect.get(call, "cancelled") === true),
      };
    },
  };

  // The standard services come after the user's, which the loop below checks.
  const entries = [...options.services as readonly ServiceEntry[]];
  const named = entries.flatMap((entry) => typeof entry?.[0]?.typeName === "string" ? [entry[0]] : []);
  const health = createHealth(named.map((service) => service.typeName));
  if (options.health) entries.push(health.entry as ServiceEntry);
  if (options.reflection) {
    entries.push(...createReflection(options.health ? [...named, health.entry[0]] : named) as ServiceEntry[]);
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    const [service, handlers] = entry ?? [];
    if (!service || typeof service.typeName !== "string" || typeof service.methods !== "object") {
      throw new TypeError("Each service must be a [definition, handlers] pair made by `deno task gen`");
    }
    if (seen.has(service.typeName)) throw new TypeError(`Service '${service.typeName}' is listed twice`);
    seen.add(service.typeName);
    // deno-lint-ignore no-explicit-any
    const definition: Record<string, grpc.MethodDefinition<any, any>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [localName, method] of Object.entries(service.methods)) {
      const handler = (handlers as Record<string, unknown>)?.[localName];
      if (handler === undefined) continue; // grpc-js answers UNIMPLEMENTED
      if (typeof handler !== "function") {
        throw new TypeError(`The handler of ${method.path} must be a function, got ${typeof handler}`);
      }
      definition[method.name] = serverMethodDefinition(method);
      // deno-lint-ignore no-explicit-any
      const run = handler as (input: any, context: Call) => any;
      implementation[method.name] = benchSwitched("adapters")
        ? bareHandler(method, run)
        : adaptHandler(method, run, env);
    }
    for (const localName of Object.keys(handlers ?? {})) {
      if (!(localName in service.methods)) {
        throw new TypeError(`Service '${service.typeName}' has no RPC '${localName}'`);
      }
    }
    if (Object.keys(definition).length > 0) server.addService(definition, implementation);
  }
  h2Workaround.register(server);

  // Our own accept loop (see _listener.ts) feeding grpc-js's HTTP/2 server,
  // TLS included, mutual TLS not. Workers share the port with node:net's SO_REUSEPORT
  // (Deno.listen's needs --unstable-net); each node:net socket goes through
  // the same limits and ConnectionSocket as the accept loop's
  // (_listener_shared.ts).
  let listener: Listener | undefined;
  let shared: SharedListener | undefined;
  let injector: grpc.ConnectionInjector | undefined;
  let port: number;
  if (inWorker) {
    try {
      shared = await listenReusePort(
        server,
        credentials,
        hostname,
        requestedPort,
        ownListener
          ? {
            tls,
            maxConnections: hostile.maxConnections,
            handshakeTimeoutMs: hostile.handshakeTimeoutMs,
            onLimit: report,
            slots: inWorker.slots,
            worker: inWorker.worker,
          }
          : undefined,
      );
    } catch (error) {
      server.forceShutdown();
      throw bindError(hostname, requestedPort, error as Error);
    }
    port = shared.port;
  } else if (ownListener) {
    injector = server.createConnectionInjector(credentials);
    const inject = injector.injectConnection;
    try {
      listener = listen({
        hostname,
        port: requestedPort,
        tls,
        maxConnections: hostile.maxConnections,
        handshakeTimeoutMs: hostile.handshakeTimeoutMs,
        onConnection: (socket) => inject(socket),
        onLimit: report,
      });
    } catch (error) {
      server.forceShutdown();
      throw bindError(hostname, requestedPort, error as Error);
    }
    port = listener.port;
  } else {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        formatHostPort(hostname, requestedPort),
        credentials,
        (error, port) => {
          if (!error) return resolve(port);
          server.forceShutdown();
          reject(bindError(hostname, requestedPort, error));
        },
      );
    });
  }
  // Hooks in this order, the guard first: see _streams.ts.
  const watchers: StreamWatcher[] = [guard.watcher];
  if (!benchSwitched("strict")) watchers.push(strict.watcher);
  // In plaintext, node:http2 writes to our own socket (ConnectionSocket),
  // which already holds a young response until its end: corking it saved no
  // write (strace, h2load -c4 -m32 and -c16 -m8: 20,016 and 20,048 sendto()
  // for 20,000 calls, corked or not), while the hook cost every call a
  // listener and an immediate. Under TLS the cork still batches TLS records.
  if (!benchSwitched("coalesce") && !(ownListener && tls === undefined)) watchers.push(coalesceWrites());
  if (!benchSwitched("drain")) watchers.push(gate.watcher);
  watchers.push(...limits.watchers);
  watchStreams(server, watchers);
  await h2Workaround.warmUp(server, hostname, port, { tls: options.tls !== undefined });

  let shutdownPromise: Promise<void> | undefined;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);

  /** Refuses new calls, lets those in flight end, then closes the connections. */
  async function drainThenClose(): Promise<void> {
    options.signal?.removeEventListener("abort", onAbort);
    listener?.stop();
    health.shutdown(); // before the drain: probes and balancers see NOT_SERVING while calls still run
    // Not tryShutdown() at once: see _drain.ts for how that cuts answers.
    const started = performance.now();
    // Not awaited: it settles once the connections it handed over are closed too.
    void shared?.close();
    await gate.drain(gracePeriodMs);
    await new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => {
        timer = undefined;
        state.forcing = true;
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
    shutdownPromise ??= drainThenClose().then(() => {
      injector?.destroy();
      listener?.close();
      resolveFinished();
    });
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
    health: health.statuses,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
