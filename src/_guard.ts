/**
 * What one client may hold on the server: unflushed response bytes per call
 * and per connection, bytes of partially received messages per connection,
 * idle connections, and resets of streams that had just opened ("rapid
 * reset"), counted per peer address across reconnects.
 *
 * Where the unflushed bytes are, measured on Deno 2.9.3: grpc-js's
 * `call.write()` never returns false under Deno's `node:http2`, so nothing
 * waits. A client that grants no window leaves the bytes queued inside
 * `node:http2` (nghttp2's stream queue: `stream.bufferSize` shows them on a
 * native socket only, `writableLength` stays 0); a client that grants windows
 * but does not read its socket leaves them in the socket. So a call's
 * unflushed bytes are what it wrote minus the DATA bytes of its stream that
 * the kernel took, counted by our own socket (`ConnectionSocket`, see
 * `_listener.ts`). A streaming call waits while its own or its connection's
 * unflushed bytes pass their bound, and is reset and ended with
 * `RESOURCE_EXHAUSTED` once nothing has flushed for the stall timeout.
 *
 * @module
 */
import * as http2 from "node:http2";
import { GrpcError, Status } from "./errors.ts";
import type { StreamWatcher } from "./_streams.ts";

/** The limits of one server; every field has a default ({@linkcode DEFAULT_LIMITS}). */
export interface ServerLimits {
  /** Connections open at once; more are closed as they arrive. Default 1000 (keep it below `ulimit -n`). */
  maxConnections: number;
  /** How long a new connection may take to send the HTTP/2 preface, in ms. Default 10000. */
  handshakeTimeoutMs: number;
  /** How long a connection may have no open stream before it is closed (GOAWAY), in ms. Default 300000. */
  idleTimeoutMs: number;
  /** Streams open at once on one connection, advertised as MAX_CONCURRENT_STREAMS. Default 100. */
  maxConcurrentStreams: number;
  /** Response bytes of one call not yet flushed to the client before its handler waits. Default 1 MiB. */
  maxCallUnflushedBytes: number;
  /** Response bytes of one connection not yet flushed before every call on it waits. Default 8 MiB. */
  maxConnectionUnflushedBytes: number;
  /** How long a waiting call may see nothing flushed before it is reset (`RESOURCE_EXHAUSTED`), in ms. Default 20000. */
  stallTimeoutMs: number;
  /** Bytes of partially received request messages held per connection. Default 16 MiB. */
  maxPartialMessageBytes: number;
  /**
   * Streams a peer address may reset within 1 s of opening them, per
   * `prematureResetWindowMs`, across all its connections. Past it, the
   * connection is closed (GOAWAY `ENHANCE_YOUR_CALM`), and for
   * `prematureResetWindowMs` any early reset closes that address's connection. Default 500.
   */
  maxPrematureResets: number;
  /** The window of {@linkcode ServerLimits.maxPrematureResets}, in ms. Default 10000. */
  prematureResetWindowMs: number;
}

/** The defaults of {@linkcode ServerLimits}. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxConnections: 1000,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  // RFC 9113 (section 6.5.2) recommends advertising no fewer than 100; 100
  // keeps a connection's worst case (streams x bytes held per stream) small.
  maxConcurrentStreams: 100,
  maxCallUnflushedBytes: 1024 * 1024,
  maxConnectionUnflushedBytes: 8 * 1024 * 1024,
  stallTimeoutMs: 20_000,
  maxPartialMessageBytes: 16 * 1024 * 1024,
  maxPrematureResets: 500,
  prematureResetWindowMs: 10_000,
});

/** Which limit bit. */
export type LimitKind =
  | "max-connections"
  | "handshake-timeout"
  | "fds-exhausted"
  | "idle-timeout"
  | "call-stalled"
  | "partial-messages"
  | "premature-resets";

/** A limit that bit, as reported to `onLimit`. */
export interface LimitEvent {
  /** Which limit. */
  limit: LimitKind;
  /** What happened, in one line. */
  detail: string;
}

/**
 * A reporter that calls `onLimit` the first time each kind of limit bites,
 * and each time fds run out (the listeners report once per episode).
 *
 * @param onLimit The hook; default one line on stderr.
 * @returns What the listeners and the guard call.
 */
export function limitReporter(
  onLimit: (event: LimitEvent) => void = (event) => console.error(`limit ${event.limit}: ${event.detail}`),
): (limit: LimitKind, detail: string) => void {
  const bitten = new Set<LimitKind>();
  return (limit, detail) => {
    if (bitten.has(limit) && limit !== "fds-exhausted") return;
    bitten.add(limit);
    onLimit({ limit, detail });
  };
}

/**
 * The limits with their defaults filled in.
 *
 * @throws {RangeError} When a limit is not a positive integer (0 is allowed for timeouts: no limit).
 */
export function resolveLimits(limits: Partial<ServerLimits> = {}): ServerLimits {
  const resolved = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(limits)) {
    if (!(name in DEFAULT_LIMITS)) throw new TypeError(`Unknown limit '${name}'`);
    if (value === undefined) continue;
    const zeroOk = name.endsWith("Ms");
    if (!Number.isSafeInteger(value) || value < (zeroOk ? 0 : 1)) {
      throw new RangeError(`Limit '${name}' must be an integer of at least ${zeroOk ? 0 : 1}, got ${value}`);
    }
    (resolved as Record<string, number>)[name] = value;
  }
  return resolved;
}

/** What a connection's socket tells (a `ConnectionSocket`, or any socket). */
interface CountingSocket {
  remoteAddress?: string;
  countStream?(streamId: number): void;
  flushedData?(streamId: number): number;
  forgetStream?(streamId: number): void;
}

/** A session's socket, as what it tells; none once the session has closed. */
function socketOf(session: http2.ServerHttp2Session | undefined): CountingSocket | undefined {
  return session?.socket as unknown as CountingSocket | undefined;
}

interface SessionState {
  readonly session: http2.ServerHttp2Session;
  readonly address: string;
  readonly streams: Set<http2.ServerHttp2Stream>;
  readonly partial: Map<http2.ServerHttp2Stream, number>;
  partialTotal: number;
  /** When the last stream closed (`performance.now()`), or -1 while a stream is open. */
  idleSince: number;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
}

interface PeerState {
  resets: number;
  windowStart: number;
  penalisedUntil: number;
}

/** How soon after opening a client's reset counts as premature, in ms (Envoy's default). */
const PREMATURE_MS = 1000;
const ENHANCE_YOUR_CALM = 0xb;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The limits of one server, hooked to its HTTP/2 sessions. */
export class ConnectionGuard {
  readonly limits: ServerLimits;
  readonly #onLimit: (limit: LimitKind, detail: string) => void;
  readonly #sessions = new Map<http2.ServerHttp2Session, SessionState>();
  readonly #streamSession = new WeakMap<http2.ServerHttp2Stream, SessionState>();
  readonly #written = new WeakMap<http2.ServerHttp2Stream, number>();
  readonly #peers = new Map<string, PeerState>();

  constructor(limits: ServerLimits, onLimit: (limit: LimitKind, detail: string) => void) {
    this.limits = limits;
    this.#onLimit = onLimit;
  }

  /** The guard's hooks on the server's sessions and streams (see `_streams.ts`); put it first. */
  readonly watcher: StreamWatcher = {
    session: (session) => this.#onSession(session),
    opened: (stream) => this.#onStream(stream),
    closed: (stream) => this.#onClose(stream),
  };

  #onSession(session: http2.ServerHttp2Session): void {
    const socket = socketOf(session);
    const state: SessionState = {
      session,
      address: socket?.remoteAddress ?? "",
      streams: new Set(),
      partial: new Map(),
      partialTotal: 0,
      idleSince: performance.now(),
      idleTimer: undefined,
    };
    this.#sessions.set(session, state);
    this.#armIdle(state, this.limits.idleTimeoutMs);
    session.once("close", () => {
      clearTimeout(state.idleTimer);
      this.#sessions.delete(session);
    });
  }

  /**
   * One timer per connection, armed at most once per idle timeout: streams
   * only move `idleSince`, and the timer, when it fires, closes the
   * connection or waits for what is left of the timeout.
   */
  #armIdle(state: SessionState, ms: number): void {
    const timeout = this.limits.idleTimeoutMs;
    if (timeout === 0) return;
    state.idleTimer = setTimeout(() => {
      state.idleTimer = undefined;
      if (state.session.closed || state.session.destroyed) return;
      if (state.idleSince < 0) return this.#armIdle(state, timeout);
      const left = timeout - (performance.now() - state.idleSince);
      if (left > 0) return this.#armIdle(state, Math.ceil(left));
      this.#onLimit(
        "idle-timeout",
        `a connection from ${state.address} had no call for ${timeout}ms; closing idle connections`,
      );
      state.session.close();
    }, ms);
  }

  #onStream(stream: http2.ServerHttp2Stream): void {
    const session = stream.session;
    const state = session && this.#sessions.get(session as http2.ServerHttp2Session);
    if (!state) return;
    this.#streamSession.set(stream, state);
    state.streams.add(stream);
    state.idleSince = -1;
    if (stream.id !== undefined) socketOf(state.session)?.countStream?.(stream.id);
    const opened = performance.now();
    // on(), not once(): it comes once per stream, and once() wraps and unhooks per stream.
    stream.on("aborted", () => {
      if (performance.now() - opened < PREMATURE_MS) this.#prematureReset(state);
    });
  }

  #onClose(stream: http2.ServerHttp2Stream): void {
    const state = this.#streamSession.get(stream);
    if (!state) return;
    if (stream.id !== undefined) socketOf(state.session)?.forgetStream?.(stream.id);
    state.streams.delete(stream);
    this.#setPartial(state, stream, 0);
    if (state.streams.size === 0) state.idleSince = performance.now();
  }

  #prematureReset(state: SessionState): void {
    const now = performance.now();
    let peer = this.#peers.get(state.address);
    if (!peer || now - peer.windowStart > this.limits.prematureResetWindowMs) {
      if (peer && peer.penalisedUntil < now && this.#peers.size > 10_000) this.#peers.clear();
      peer = { resets: 0, windowStart: now, penalisedUntil: peer?.penalisedUntil ?? 0 };
      this.#peers.set(state.address, peer);
    }
    peer.resets++;
    const penalised = peer.penalisedUntil > now;
    if (peer.resets <= this.limits.maxPrematureResets && !penalised) return;
    if (!penalised) {
      this.#onLimit(
        "premature-resets",
        `${state.address} reset ${peer.resets} streams within ${PREMATURE_MS}ms of opening them in ` +
          `${this.limits.prematureResetWindowMs}ms; closing its connections (ENHANCE_YOUR_CALM)`,
      );
    }
    peer.penalisedUntil = now + this.limits.prematureResetWindowMs;
    const { session } = state;
    if (session.closed || session.destroyed) return;
    try {
      session.goaway(ENHANCE_YOUR_CALM);
    } catch {
      // already going away
    }
    session.destroy();
  }

  /**
   * Records the bytes of a partially received message on `stream`.
   *
   * @returns What is wrong when the connection now holds too many.
   */
  partial(stream: http2.ServerHttp2Stream, bytes: number): string | undefined {
    const state = this.#streamSession.get(stream);
    if (!state) return undefined;
    this.#setPartial(state, stream, bytes);
    if (state.partialTotal <= this.limits.maxPartialMessageBytes) return undefined;
    const detail = `Partially received messages on this connection exceed ${this.limits.maxPartialMessageBytes} bytes`;
    this.#onLimit("partial-messages", `${state.address}: ${detail}; ending the calls that pass it`);
    this.#setPartial(state, stream, 0);
    return detail;
  }

  #setPartial(state: SessionState, stream: http2.ServerHttp2Stream, bytes: number): void {
    state.partialTotal += bytes - (state.partial.get(stream) ?? 0);
    if (bytes === 0) state.partial.delete(stream);
    else state.partial.set(stream, bytes);
  }

  /** Counts response bytes a call wrote to `stream` (gRPC framing included). */
  wrote(stream: http2.ServerHttp2Stream, bytes: number): void {
    this.#written.set(stream, (this.#written.get(stream) ?? 0) + bytes);
  }

  /** Response bytes of `stream` not yet taken by the kernel. */
  callUnflushed(stream: http2.ServerHttp2Stream): number {
    const written = this.#written.get(stream) ?? 0;
    if (written === 0) return 0;
    const socket = socketOf(this.#streamSession.get(stream)?.session);
    if (typeof socket?.flushedData !== "function") {
      // Not our socket (grpc-js's own listener: mutual TLS, or ours switched
      // off for benchmarks): nothing counts what the kernel took, so no
      // bound. (The stream's bufferSize did not go down as a client read: a
      // reading client's 100,000-reply stream was reset as stalled.)
      return 0;
    }
    return Math.max(0, written - (stream.id === undefined ? 0 : socket.flushedData(stream.id)));
  }

  /** Response bytes of `stream`'s connection not yet taken by the kernel. */
  connectionUnflushed(stream: http2.ServerHttp2Stream): number {
    const state = this.#streamSession.get(stream);
    if (!state) return 0;
    let total = 0;
    for (const other of state.streams) total += this.callUnflushed(other);
    return total;
  }

  /** Whether a call on `stream` must wait before its next response. */
  mustWait(stream: http2.ServerHttp2Stream): boolean {
    return this.callUnflushed(stream) > this.limits.maxCallUnflushedBytes ||
      this.#streamSession.has(stream) && this.connectionUnflushed(stream) > this.limits.maxConnectionUnflushedBytes;
  }

  /**
   * Waits until the call's and its connection's unflushed bytes are down to
   * half their bounds, the stream closes, or `cancelled()` says so.
   *
   * @throws {GrpcError} `RESOURCE_EXHAUSTED` when nothing flushed for the stall timeout; the stream is reset.
   */
  async waitFlushed(stream: http2.ServerHttp2Stream, cancelled: () => boolean): Promise<void> {
    const { maxCallUnflushedBytes, maxConnectionUnflushedBytes, stallTimeoutMs } = this.limits;
    let least = Infinity;
    let progressAt = performance.now();
    let pause = 1;
    while (!stream.destroyed && !stream.closed && !cancelled()) {
      const call = this.callUnflushed(stream);
      const connection = this.connectionUnflushed(stream);
      if (call <= maxCallUnflushedBytes / 2 && connection <= maxConnectionUnflushedBytes / 2) return;
      const now = performance.now();
      // Progress is this call's own bytes leaving: another call's reset frees
      // connection bytes but says nothing of this client reading.
      if (call < least) {
        least = call;
        progressAt = now;
      }
      if (stallTimeoutMs > 0 && now - progressAt >= stallTimeoutMs) {
        const detail = `The client read nothing for ${stallTimeoutMs}ms with ${call} bytes of this call unflushed`;
        this.#onLimit("call-stalled", `${detail}; resetting stalled calls`);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        throw new GrpcError(Status.RESOURCE_EXHAUSTED, detail);
      }
      await delay(pause);
      pause = Math.min(pause * 2, 50);
    }
  }
}
