/**
 * The generic gRPC client: {@linkcode createClient} turns a service
 * definition that `deno task gen` made into an object with one camelCase
 * method per RPC, whose calls take an `AbortSignal`, a timeout or deadline,
 * and metadata, and fail with {@linkcode GrpcError}.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { fromGrpcMetadata, type Metadata, type MetadataInit, toGrpcMetadata } from "./metadata.ts";
import { GrpcError, Status } from "./errors.ts";
import type { AnyMethod, Init, MessageType, MethodType, ServiceType } from "./schema.ts";
import type { ChannelOptions } from "./server.ts";
import { firstEvent } from "./_events.ts";
import { DEFAULT_CLIENT_STALL_TIMEOUT_MS, DEFAULT_MAX_CALL_UNFLUSHED_BYTES, FlushMeter } from "./_flush.ts";
import { channelCredentials } from "./_tls.ts";
import type { ClientTlsOptions } from "./tls.ts";
import { checkCompression, clientChannelOptions, withCompression } from "./_limits.ts";
import {
  isBrokenPipe,
  LOAD_BALANCING,
  multiAddressTarget,
  retryPolicy,
  serviceConfig,
  withServiceConfig,
} from "./_balancing.ts";

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
  /**
   * Request encoding of this call; default the client's `compression`. grpc-js
   * compresses per channel only, so the first call that asks for the other
   * encoding opens a second connection for such calls.
   */
  compression?: "gzip" | "identity";
  /**
   * Wait for a server to be ready (until the deadline) instead of failing with
   * `UNAVAILABLE` at once when none is connected. Default false.
   */
  waitForReady?: boolean;
}

/** Retries of calls that fail with `UNAVAILABLE`, as a gRPC service config's `retryPolicy`. */
export interface RetryOptions {
  /** Attempts in all, the first included: 2 to 5. Default 3. */
  maxAttempts?: number;
  /** The backoff before the first retry, in ms; each wait is random up to the backoff. Default 100. */
  initialBackoffMs?: number;
  /** The largest backoff, in ms. Default 1000. */
  maxBackoffMs?: number;
  /** What the backoff is multiplied by after each retry. Default 2. */
  backoffMultiplier?: number;
}

/** Options of {@linkcode createClient}. */
export interface ClientOptions {
  /** grpc-js channel arguments, such as `"grpc.keepalive_time_ms"`; a `"grpc.service_config"` here wins over the two below. */
  channelOptions?: ChannelOptions;
  /**
   * Call over TLS: `{}` trusts the default roots, `{ ca }` a CA of yours;
   * `cert` and `key` add a client certificate (mutual TLS). Without it the
   * client speaks plaintext.
   */
  tls?: ClientTlsOptions;
  /** Largest response message accepted, in bytes (after decompression); a larger one fails the call with `RESOURCE_EXHAUSTED`. Default 4 MiB, as gRPC's. */
  maxReceiveMessageBytes?: number;
  /** Largest request message sent, in bytes; a larger one fails the call with `RESOURCE_EXHAUSTED` before it is sent. Default `Infinity`, as gRPC's. */
  maxSendMessageBytes?: number;
  /** Milliseconds between keepalive PINGs while calls are in flight. Default `Infinity` (off), as gRPC's; servers refuse PINGs more often than they allow (5 min by default). */
  keepaliveTimeMs?: number;
  /** Milliseconds to wait for a keepalive PING's ACK before the connection counts as dead. Default 20000. */
  keepaliveTimeoutMs?: number;
  /** Request encoding of every call, unless the call says otherwise. Default `"identity"`. */
  compression?: "gzip" | "identity";
  /**
   * How calls are spread over the servers: `"round_robin"` sends each call to
   * the next ready server, `"pick_first"` all calls to the first one that
   * connects. Default `"round_robin"` for several addresses or a `dns:` name,
   * `"pick_first"` for one address.
   */
  loadBalancing?: "round_robin" | "pick_first";
  /**
   * Retries of calls that fail with `UNAVAILABLE` (a server shutting down, a
   * dropped connection) on another attempt, before any response arrived.
   * Default on, with {@linkcode RetryOptions}' defaults; `false` turns them
   * off. A server killed mid-call may have run the handler already: turn
   * retries off where running a call twice does harm.
   */
  retry?: RetryOptions | false;
  /**
   * Bytes of a client-streaming or bidi call's requests that may wait in this
   * process, not yet written to the connection (a server that stops reading
   * grants no HTTP/2 window); past it the call takes no more requests from its
   * iterable until they drain. Deno shows these bytes per connection only, so
   * calls sharing a connection share the sum of their bounds. Default 1 MiB;
   * `Infinity` turns it off.
   */
  maxCallUnflushedBytes?: number;
  /**
   * Milliseconds a call may wait at {@linkcode ClientOptions.maxCallUnflushedBytes}
   * with no byte leaving the connection; then it is cancelled with
   * `RESOURCE_EXHAUSTED`. Default 20000.
   */
  stallTimeoutMs?: number;
}

/** What a client-streaming or bidirectional call sends: requests, in order. */
export type Requests<I> = AsyncIterable<Init<I>> | Iterable<Init<I>>;

/** The client method of one RPC, by its kind. */
export type ClientMethod<M> = M extends MethodType<infer I, infer O, "unary">
  ? (request: Init<I>, options?: CallOptions) => Promise<O>
  : M extends MethodType<infer I, infer O, "server_streaming">
    ? (request: Init<I>, options?: CallOptions) => AsyncGenerator<O, void, undefined>
  : M extends MethodType<infer I, infer O, "client_streaming">
    ? (requests: Requests<I>, options?: CallOptions) => Promise<O>
  : M extends MethodType<infer I, infer O, "bidi_streaming">
    ? (requests: Requests<I>, options?: CallOptions) => AsyncGenerator<O, void, undefined>
  : never;

/** What every client has, besides its RPCs. */
export interface ClientBase {
  /** The address it calls; for several, the grpc-js target, such as `"ipv4:127.0.0.1:5001,127.0.0.1:5002"`. */
  readonly address: string;
  /** Closes the channel; new calls fail with `UNAVAILABLE`, calls in flight are not cut. Idempotent. */
  close(): void;
  /** Same as {@linkcode ClientBase.close}. */
  [Symbol.dispose](): void;
}

/** A client of service `S`: one method per RPC, by its lowerCamelCase name. */
export type Client<S extends ServiceType> =
  & { readonly [K in keyof S["methods"]]: ClientMethod<S["methods"][K]> }
  & ClientBase;

function identity(value: Buffer): Buffer {
  return value;
}

/** What the four kinds of grpc-js client call have in common. */
type AnyClientCall = EventEmitter & { cancel(): void };

/** What one call needs from its options, prepared once. */
class CallSetup {
  readonly metadata: grpc.Metadata;
  readonly callOptions: grpc.CallOptions;
  readonly #method: string;
  readonly #options: CallOptions;
  readonly #budgetMs: number | undefined;
  #call: AnyClientCall | undefined;
  readonly #onAbort = () => this.#call?.cancel();

  constructor(method: string, options: CallOptions) {
    this.#method = method;
    this.#options = options;
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Call options must be an object, got ${options === null ? "null" : typeof options}`);
    }
    this.metadata = toGrpcMetadata(options.metadata);
    if (options.waitForReady !== undefined && typeof options.waitForReady !== "boolean") {
      throw new TypeError(`waitForReady must be a boolean, got ${typeof options.waitForReady}`);
    }
    if (options.waitForReady) this.metadata.setOptions({ waitForReady: true });
    const { timeout, deadline } = options;
    if (timeout !== undefined && (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 0)) {
      throw new RangeError(`Timeout must be a non-negative number of milliseconds, got ${timeout}`);
    }
    if (deadline !== undefined && (!(deadline instanceof Date) || Number.isNaN(deadline.getTime()))) {
      throw new TypeError(`Deadline must be a valid Date, got ${String(deadline)}`);
    }
    const now = Date.now();
    let until = deadline?.getTime();
    if (timeout !== undefined) until = Math.min(until ?? Infinity, now + timeout);
    this.#budgetMs = until === undefined
      ? undefined
      : timeout !== undefined && until === now + timeout
      ? timeout
      : Math.max(0, until - now);
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
    if (status.code === Status.DEADLINE_EXCEEDED && this.#budgetMs !== undefined) {
      details = `deadline exceeded after ${this.#budgetMs}ms`;
    }
    const code = isBrokenPipe(status)
      ? Status.UNAVAILABLE
      : Number.isInteger(status.code) && status.code > 0 && status.code <= 16
      ? status.code as Status
      : Status.UNKNOWN;
    return new GrpcError(code, details, {
      metadata: fromGrpcMetadata(status.metadata),
      cause: error,
      method: this.#method,
    });
  }
}

/** How far a client stream may run ahead of the server. */
interface SendBound {
  /** `ClientOptions.maxCallUnflushedBytes`. */
  maxUnflushedBytes: number;
  /** `ClientOptions.stallTimeoutMs`. */
  stallTimeoutMs: number;
}

/** How often a call waiting at its bound looks whether bytes left. */
const FLUSH_POLL_MS = 5;

/** Resolves after `ms`, or as soon as the call ends; leaves no timer behind. */
function pause(call: EventEmitter, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      call.off("status", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    call.once("status", done);
  });
}

/**
 * Writes every request to a writable call, honouring back-pressure; ends it.
 * Past `bound.maxUnflushedBytes` not yet written to the connection it waits;
 * when no byte leaves for `bound.stallTimeoutMs` meanwhile, it throws
 * `RESOURCE_EXHAUSTED`.
 */
async function pump(
  requests: AsyncIterable<unknown> | Iterable<unknown>,
  type: MessageType<object>,
  call: grpc.ClientWritableStream<Buffer> | grpc.ClientDuplexStream<Buffer, unknown>,
  bound: SendBound,
  path: string,
): Promise<void> {
  if (requests === null || typeof requests !== "object" && typeof requests !== "function") {
    throw new TypeError(`Requests must be an iterable, got ${requests === null ? "null" : typeof requests}`);
  }
  // Set synchronously, so that a wait below never starts after the status.
  let done = false;
  call.once("status", () => done = true);
  const meter = new FlushMeter(call);
  try {
    for await (const request of requests) {
      if (done) return;
      const bytes = type.encode(request as Init<object>) as Buffer;
      const flowing = call.write(bytes);
      meter.add(bytes.length + 5);
      if (!flowing) await firstEvent(call, ["drain", "status"]);
      let written = meter.written;
      let since = performance.now();
      while (!done && meter.over(bound.maxUnflushedBytes)) {
        if (meter.written !== written) {
          written = meter.written;
          since = performance.now();
        } else if (performance.now() - since >= bound.stallTimeoutMs) {
          throw new GrpcError(
            Status.RESOURCE_EXHAUSTED,
            `the server read no request bytes for ${bound.stallTimeoutMs}ms; ${meter.unflushed} bytes wait unsent`,
            { method: path },
          );
        }
        await pause(call, FLUSH_POLL_MS);
      }
    }
    if (!done) call.end();
  } finally {
    meter.close();
  }
}

const SCHEMES = /^(dns|unix|unix-abstract|ipv4|ipv6|vsock):/;

/**
 * Checks a target address: `host:port`, `[v6]:port`, or a gRPC name such as
 * `dns:host:port` or `unix:/path`.
 *
 * @throws {TypeError} When it has no port (grpc-js would silently use 443).
 * @throws {RangeError} When the port is not 1 to 65535.
 */
function checkAddress(address: unknown): string {
  if (typeof address !== "string" || address.trim() === "") {
    throw new TypeError(`Address must be a non-empty 'host:port' string, got ${JSON.stringify(address)}`);
  }
  if (SCHEMES.test(address)) return address;
  const match = address.match(/^(\[[^\]]+\]|[^:\[\]]+):(\d*)$/);
  if (!match) {
    const hint = address.includes(":") && !address.startsWith("[")
      ? "; put an IPv6 host in brackets, '[::1]:8001'"
      : "";
    throw new TypeError(`Address ${JSON.stringify(address)} is not 'host:port'${hint}`);
  }
  const port = Number(match[2]);
  if (match[2] === "" || port < 1 || port > 65535) {
    throw new RangeError(`The port of address ${JSON.stringify(address)} must be from 1 to 65535`);
  }
  return address;
}

/**
 * The grpc-js target of one address or several (an array, or a string with
 * commas); several must be all IPv4 or all IPv6 literals.
 */
function targetOf(address: unknown): string {
  if (typeof address === "string" && (SCHEMES.test(address) || !address.includes(","))) return checkAddress(address);
  const list = typeof address === "string" ? address.split(",").map((part) => part.trim()) : address;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`Address must be a 'host:port' string or an array of them, got ${JSON.stringify(address)}`);
  }
  return list.length === 1 ? checkAddress(list[0]) : multiAddressTarget(list.map(checkAddress));
}

/**
 * Creates a client of `service` at `address`.
 *
 * @example Call the Greeter
 * ```ts
 * import { createClient, Greeter } from "./mod.ts";
 *
 * using client = createClient(Greeter, "127.0.0.1:8001");
 * try {
 *   const reply = await client.sayHello({ name: "zzz" }, { timeout: 1000 });
 *   console.log(reply.name); // "我是zzz"
 * } catch (error) {
 *   console.error(String(error)); // e.g. "GrpcError: /Greeter/SayHello UNAVAILABLE: ..."
 * }
 * ```
 *
 * @example Call over mutual TLS
 * ```ts ignore
 * import { createClient, Greeter } from "./mod.ts";
 *
 * using client = createClient(Greeter, "localhost:8443", {
 *   tls: {
 *     ca: await Deno.readTextFile("certs/ca.pem"),
 *     cert: await Deno.readTextFile("certs/client.pem"),
 *     key: await Deno.readTextFile("certs/client.key"),
 *   },
 * });
 * console.log((await client.sayHello({ name: "zzz" })).name);
 * ```
 *
 * @param service The service definition, from generated code.
 * @example Several servers, round robin
 * ```ts
 * import { createClient, Greeter } from "./mod.ts";
 *
 * // Or "127.0.0.1:5001,127.0.0.1:5002", or a name: "dns:///greeter.internal:8001".
 * using client = createClient(Greeter, ["127.0.0.1:5001", "127.0.0.1:5002"], { retry: { maxAttempts: 4 } });
 * await client.sayHello({ name: "zzz" }, { timeout: 1000, waitForReady: true });
 * ```
 *
 * @param service The service definition, from generated code.
 * @param address `host:port` of the server, such as `server.address`; several
 *   as an array or a comma-separated string (all IPv4 or all IPv6 literals);
 *   or a gRPC name such as `dns:///host:port`.
 * @param options Channel options, TLS, limits, load balancing and retries.
 * @returns The client; close it when done.
 * @throws {TypeError} When `address` is not `host:port`, an RPC is named like a client member, or a TLS
 * option is invalid.
 * @throws {RangeError} When the port, a size, a duration or a retry option is out of range.
 * @throws {Error} When `tls` has no `ca` and the default roots cannot be read.
 */
export function createClient<S extends ServiceType>(
  service: S,
  address: string | readonly string[],
  options: ClientOptions = {},
): Client<S> {
  if (!service || typeof service.methods !== "object") {
    throw new TypeError("Service must be a definition made by `deno task gen`");
  }
  const target = targetOf(address);
  const several = target.includes(",") || target.startsWith("dns:");
  const { loadBalancing = several ? "round_robin" : "pick_first", retry } = options;
  if (!LOAD_BALANCING.includes(loadBalancing)) {
    throw new TypeError(
      `loadBalancing must be one of ${LOAD_BALANCING.join(", ")}, got ${JSON.stringify(loadBalancing)}`,
    );
  }
  const config = serviceConfig(loadBalancing, retry === false ? false : retryPolicy(retry));
  const channelOptions = withServiceConfig(options.channelOptions, config);
  const limits = clientChannelOptions(options);
  const bound = sendBound(options);
  // One channel per request encoding (grpc-js chooses compression per channel), each with the same credentials.
  const first = Array.isArray(address) ? String(address[0]) : String(address).split(",")[0]!.trim();
  const tls = options.tls === undefined ? undefined : channelCredentials(options.tls, first);
  const credentials = tls?.credentials ?? grpc.credentials.createInsecure();
  const channelFor = (extra: grpc.ChannelOptions) =>
    new grpc.Client(target, credentials, { ...extra, ...channelOptions, ...tls?.channelOptions });
  const client = channelFor(limits);
  let closed = false;
  const channels = new Map<string, grpc.Client>([[options.compression ?? "identity", client]]);
  const clientFor = (callOptions: CallOptions | undefined): grpc.Client => {
    const compression = checkCompression(callOptions?.compression, "CallOptions.compression");
    if (compression === undefined || closed) return client;
    let channel = channels.get(compression);
    if (!channel) {
      channel = channelFor(withCompression(limits, compression));
      channels.set(compression, channel);
    }
    return channel;
  };

  function close(): void {
    if (closed) return;
    closed = true;
    for (const channel of channels.values()) channel.close();
  }

  const out: Record<string | symbol, unknown> = { address: target, close, [Symbol.dispose]: close };
  for (const [localName, method] of Object.entries(service.methods)) {
    if (localName in out) {
      client.close();
      throw new TypeError(`Service '${service.typeName}' has an RPC named '${localName}', which clients reserve`);
    }
    out[localName] = callerOf(clientFor, method, retry !== false, bound);
  }
  return out as Client<S>;
}

/**
 * Checks `maxCallUnflushedBytes` and `stallTimeoutMs`.
 *
 * @throws {RangeError} When one is not a positive number.
 */
function sendBound(options: ClientOptions): SendBound {
  const { maxCallUnflushedBytes = DEFAULT_MAX_CALL_UNFLUSHED_BYTES } = options;
  const { stallTimeoutMs = DEFAULT_CLIENT_STALL_TIMEOUT_MS } = options;
  if (typeof maxCallUnflushedBytes !== "number" || !(maxCallUnflushedBytes > 0)) {
    throw new RangeError(`maxCallUnflushedBytes must be a positive number or Infinity, got ${maxCallUnflushedBytes}`);
  }
  if (typeof stallTimeoutMs !== "number" || !(stallTimeoutMs > 0)) {
    throw new RangeError(`stallTimeoutMs must be a positive number of ms or Infinity, got ${stallTimeoutMs}`);
  }
  return { maxUnflushedBytes: maxCallUnflushedBytes, stallTimeoutMs };
}

/** The client method of one RPC. */
function callerOf(
  clientFor: (options: CallOptions | undefined) => grpc.Client,
  method: AnyMethod,
  reissue: boolean,
  bound: SendBound,
): unknown {
  const path = method.path;
  const input = method.I as MessageType<object>;
  const decode = method.O.decode as (bytes: Buffer) => unknown;
  switch (method.kind) {
    case "unary":
      return (request: unknown, callOptions: CallOptions = {}) => {
        const setup = new CallSetup(path, callOptions);
        const bytes = input.encode(request as Init<object>) as Buffer;
        // A dropped connection that Deno reports as EPIPE: one more call, as grpc-js retries it on Node.
        const attempt = (again: boolean): Promise<unknown> =>
          new Promise((resolve, reject) => {
            setup.attach(
              clientFor(callOptions).makeUnaryRequest(
                path,
                identity,
                decode,
                bytes,
                setup.metadata,
                setup.callOptions,
                (error, value) => {
                  if (error && again && isBrokenPipe(error) && !callOptions.signal?.aborted) {
                    return resolve(attempt(false));
                  }
                  setup.detach();
                  error ? reject(setup.toError(error)) : resolve(value);
                },
              ),
            );
          });
        return attempt(reissue);
      };
    case "server_streaming":
      return async function* (request: unknown, callOptions: CallOptions = {}) {
        const setup = new CallSetup(path, callOptions);
        const bytes = input.encode(request as Init<object>) as Buffer;
        const call = setup.attach(
          clientFor(callOptions).makeServerStreamRequest(
            path,
            identity,
            decode,
            bytes,
            setup.metadata,
            setup.callOptions,
          ),
        );
        let ended = false;
        call.once("status", () => ended = true);
        try {
          for await (const reply of call) yield reply;
        } catch (error) {
          throw setup.toError(error);
        } finally {
          setup.detach();
          if (!ended) call.cancel();
        }
      };
    case "client_streaming":
      return (requests: AsyncIterable<unknown> | Iterable<unknown>, callOptions: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const setup = new CallSetup(path, callOptions);
          let settled = false;
          const settle = (error: unknown, value?: unknown) => {
            if (settled) return;
            settled = true;
            setup.detach();
            error ? reject(setup.toError(error)) : resolve(value);
          };
          const call = setup.attach(
            clientFor(callOptions).makeClientStreamRequest(
              path,
              identity,
              decode,
              setup.metadata,
              setup.callOptions,
              (error, value) => settle(error, value),
            ),
          );
          pump(requests, input, call, bound, path).catch((error) => {
            settle(error);
            call.cancel();
          });
        });
    case "bidi_streaming":
      return async function* (requests: AsyncIterable<unknown> | Iterable<unknown>, callOptions: CallOptions = {}) {
        const setup = new CallSetup(path, callOptions);
        const call = setup.attach(
          clientFor(callOptions).makeBidiStreamRequest(path, identity, decode, setup.metadata, setup.callOptions),
        );
        let ended = false;
        call.once("status", () => ended = true);
        let pumpError: unknown;
        pump(requests, input, call, bound, path).catch((error) => {
          pumpError = error;
          call.cancel();
        });
        try {
          for await (const reply of call) yield reply;
        } catch (error) {
          throw setup.toError(pumpError ?? error);
        } finally {
          setup.detach();
          if (!ended) call.cancel();
        }
        if (pumpError !== undefined) throw setup.toError(pumpError);
      };
  }
}
