/**
 * The server's own accept loop, so that no client can starve it of
 * connections: grpc-js's HTTP/2 server gets each accepted connection through
 * its public `createConnectionInjector()`.
 *
 * Why not `node:net`: once `accept()` fails with `EMFILE`, Deno's `node:net`
 * server never accepts again, even after fds are freed, and says nothing.
 * `Deno.listen()`'s `accept()` rejects instead, and works again once fds are
 * free, so this loop backs off and retries. It also caps the number of open
 * connections, closes those that do not send the HTTP/2 preface in time, and
 * counts, per HTTP/2 stream, the DATA bytes the kernel has taken: what a call
 * wrote minus that is what a client that stops reading leaves in memory.
 * (Deno's `stream.bufferSize` sees bytes nghttp2 holds only on a native
 * `node:net` socket; on this one it is just `writableLength`.)
 *
 * Kept in one module, with no knowledge of gRPC: the workers' listener
 * (`_listener_shared.ts`, one port shared with `reusePort`) hands its
 * `node:net` sockets to the same {@linkcode admit} and `ConnectionSocket`.
 *
 * @module
 */
import { Duplex } from "node:stream";
import { setImmediate } from "node:timers";
import { Buffer } from "node:buffer";
import { type ListenTls, serverTransport, type Transport } from "./_transport.ts";

export type { Transport };

/** The client connection preface (RFC 9113, section 3.4). */
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** Reads land in slabs of this size, one after the other (as much as a connection held before slabs). */
const READ_SLAB = 64 * 1024;
/** A read gets what is left of its slab, when that is at least this much; else a new slab. */
const READ_MIN = 16 * 1024;
/**
 * Immediates that queued HEADERS and DATA wait for a frame that ends their
 * stream. Deno 2.9.3's `node:http2` hands over a unary response's HEADERS
 * and DATA in one turn and its trailers two turns later (measured); the
 * client waits for the trailers anyway, so one write instead of two costs
 * no latency.
 */
const FLUSH_TURNS = 3;
/**
 * Immediates that a response's HEADERS wait for the frame that ends it
 * before they go without it (a server stream's first message, or a response
 * waiting for flow-control window): more than the two turns a unary
 * response takes, so that a loaded event loop does not split one.
 */
const OPEN_TURNS = 8;
/** Queued bytes up to which a write's callback returns at once (as a socket's `writableHighWaterMark`). */
const WRITE_HIGH_WATER = 64 * 1024;
/** How long a destroyed connection's last write may take before it is closed anyway. */
const LAST_WRITE_MS = 1000;
/** Backoff of the accept loop while fds are exhausted. */
const ACCEPT_BACKOFF_MS = [10, 20, 50, 100, 200, 500] as const;

/**
 * Waits before the next try of an accept loop that failed.
 *
 * @param attempt The tries that failed before this wait, from 0; past the last step, the longest wait.
 */
export function acceptBackoff(attempt: number): Promise<void> {
  const ms = ACCEPT_BACKOFF_MS[Math.min(attempt, ACCEPT_BACKOFF_MS.length - 1)];
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How soon queued frames go out: at the next turn at the latest, at the end of the job, or now. */
const enum Urgency {
  None = 0,
  Soon = 1,
  Now = 2,
}

/** Which limit bit, for {@linkcode ListenOptions.onLimit}. */
export type ListenerLimit = "max-connections" | "handshake-timeout" | "fds-exhausted";

/** Options of {@linkcode listen}. */
export interface ListenOptions {
  hostname: string;
  port: number;
  /** Accept TLS (ALPN `h2` only) and hand on the plaintext; default plaintext. */
  tls?: ListenTls;
  /** Connections open at once, TLS handshakes included; more are accepted and closed at once. */
  maxConnections: number;
  /** How long a connection may take to send the HTTP/2 preface (TLS handshake included), in ms (0: no limit). */
  handshakeTimeoutMs: number;
  /** Called with each accepted connection that is within the limits (under TLS, before its handshake). */
  onConnection(socket: ConnectionSocket): void;
  /** Called each time a limit bites; the caller decides what to log. */
  onLimit(limit: ListenerLimit, detail: string): void;
}

/** A listening socket and its connections. */
export interface Listener {
  /** The port it listens on. */
  readonly port: number;
  /** The connections open now. */
  readonly connections: ReadonlySet<ConnectionSocket>;
  /** Stops accepting; open connections stay. Idempotent. */
  stop(): void;
  /** Stops accepting and destroys every open connection. Idempotent. */
  close(): void;
}

/** Whether an error is `EMFILE` or `ENFILE`. */
export function isFdExhaustion(error: unknown): boolean {
  return /\(os error (23|24)\)|too many open files/i.test(String((error as Error)?.message ?? error));
}

/**
 * A `Deno.Conn` (or another {@linkcode Transport}) as the `node:stream`
 * duplex that `node:http2` reads and writes, with the count of bytes written
 * but not yet taken by the kernel.
 */
export class ConnectionSocket extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly #conn: Transport;
  #unflushed = 0;
  #closed = false;
  #queue: Uint8Array[] = [];
  #waiting: ((error?: Error | null) => void)[] = [];
  #kickQueued = false;
  /** A write is queued for the end of this phase of immediates (trailers of several responses). */
  #phaseKickQueued = false;
  /** Event-loop turns counted while bytes wait or responses are open. */
  #turn = 0;
  #ticking = false;
  /** The turn since which the queue has held bytes; -1: empty. */
  #heldSince = -1;
  /** Offsets in all the bytes ever queued: where the queue starts and ends. */
  #queueStart = 0;
  #queuedEnd = 0;
  #frameStart = 0;
  /**
   * Responses whose HEADERS are queued and whose end is not, by stream, in
   * queue order: where their HEADERS start and the turn they came. Nothing
   * from the oldest one's HEADERS on is written until it ends or is
   * {@linkcode OPEN_TURNS} turns old. A unary response thus reaches the
   * client whole or not at all: a client that got its HEADERS has
   * committed the call and cannot retry it if the server dies before the
   * trailers (a SIGKILLed server lost such calls), while a call that got
   * nothing is retried.
   */
  readonly #open = new Map<number, { start: number; turn: number }>();
  /** Responses that ended but are not all written yet: from their HEADERS to the end of their last frame. */
  #spans: { start: number; end: number }[] = [];

  #writing = false;
  #writeSlab = new Uint8Array(0);
  #lastWriteTimer: ReturnType<typeof setTimeout> | undefined;
  // The frame being queued, as #header and #payloadLeft for the one being flushed.
  readonly #queuedHeader = new Uint8Array(9);
  #queuedHeaderRead = 0;
  #queuedLeft = 0;
  #afterFlush: (() => void) | undefined;
  // The frame being written: its header so far, then how much payload is left.
  readonly #header = new Uint8Array(9);
  #headerRead = 0;
  #payloadLeft = 0;
  #dataStream = 0;
  readonly #flushedData = new Map<number, number>();
  /** Set once the whole preface has arrived. */
  handshaken = false;
  #prefaceRead = 0;

  constructor(conn: Transport) {
    super({ allowHalfOpen: false });
    this.#conn = conn;
    const remote = conn.remoteAddr;
    const local = conn.localAddr;
    this.remoteAddress = remote.hostname;
    this.remotePort = remote.port;
    this.remoteFamily = remote.hostname.includes(":") ? "IPv6" : "IPv4";
    this.localAddress = local.hostname;
    this.localPort = local.port;
    try {
      conn.setNoDelay(true);
    } catch {
      // already closed
    }
    void this.#readLoop();
  }

  /** Bytes handed to this socket that the kernel has not taken yet. */
  get unflushedBytes(): number {
    return this.#unflushed + this.writableLength;
  }

  /**
   * Starts counting the DATA payload of an HTTP/2 stream the kernel takes.
   * Only streams started here are counted: a stream's last bytes often
   * reach the kernel after it closed and was forgotten, and must not count
   * it again (one entry per call, for as long as the connection lives).
   *
   * @param streamId The stream, before any of its DATA is written.
   */
  countStream(streamId: number): void {
    this.#flushedData.set(streamId, 0);
  }

  /**
   * DATA payload bytes of an HTTP/2 stream the kernel has taken.
   *
   * @param streamId The stream.
   * @returns The count since {@linkcode ConnectionSocket.countStream}; 0 for a stream not counted.
   */
  flushedData(streamId: number): number {
    return this.#flushedData.get(streamId) ?? 0;
  }

  /** Stops counting a stream that has closed. */
  forgetStream(streamId: number): void {
    this.#flushedData.delete(streamId);
  }

  /** Follows the HTTP/2 frames in bytes the kernel took, counting DATA payload per stream. */
  #countFlushed(bytes: Uint8Array): void {
    let pos = 0;
    while (pos < bytes.length) {
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, bytes.length - pos);
        this.#payloadLeft -= take;
        pos += take;
        const flushed = this.#flushedData.get(this.#dataStream); // stream 0 (not DATA) is never counted
        if (flushed !== undefined) this.#flushedData.set(this.#dataStream, flushed + take);
        continue;
      }
      this.#header[this.#headerRead++] = bytes[pos++]!;
      if (this.#headerRead < 9) continue;
      this.#headerRead = 0;
      const h = this.#header;
      this.#payloadLeft = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
      const streamId = ((h[5]! & 0x7f) << 24 | h[6]! << 16 | h[7]! << 8 | h[8]!) >>> 0;
      // DATA frames only; padding, if any, counts as payload (nghttp2 sends none).
      this.#dataStream = h[3] === 0 ? streamId : 0;
    }
  }

  async #readLoop(): Promise<void> {
    // Each read lands in a fresh part of a slab and is pushed as a view of
    // it, not as a copy: no part is read into twice, and a slab is garbage
    // once every view of it is.
    let slab = new ArrayBuffer(READ_SLAB);
    let used = 0;
    try {
      while (true) {
        if (READ_SLAB - used < READ_MIN) {
          slab = new ArrayBuffer(READ_SLAB);
          used = 0;
        }
        const n = await this.#conn.read(new Uint8Array(slab, used));
        if (n === null) break;
        const chunk = Buffer.from(slab, used, n);
        used += n;
        if (!this.handshaken) this.#checkPreface(chunk);
        if (!this.push(chunk)) await this.#readWanted();
        if (this.#closed) return;
      }
      this.push(null);
    } catch {
      // Reset by the peer or closed by us: a vanished peer, not an error.
      this.destroy();
    }
  }

  #checkPreface(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length && this.#prefaceRead >= 0; i++) {
      // A wrong preface is left to nghttp2, which answers it with GOAWAY.
      this.#prefaceRead = bytes[i] === PREFACE[this.#prefaceRead] ? this.#prefaceRead + 1 : -1;
      if (this.#prefaceRead === PREFACE.length) {
        this.handshaken = true;
        return;
      }
    }
  }

  #wake: (() => void) | undefined;
  #readWanted(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }

  override _read(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  override _write(chunk: Buffer, _encoding: string, callback: (error?: Error | null) => void): void {
    this.#schedule(this.#enqueue(chunk, callback));
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    let urgency = Urgency.None;
    for (let i = 0; i < chunks.length - 1; i++) urgency = Math.max(urgency, this.#enqueue(chunks[i]!.chunk, undefined));
    this.#schedule(Math.max(urgency, this.#enqueue(chunks[chunks.length - 1]!.chunk, callback)));
  }

  /**
   * Queues bytes for the next write. `node:http2` hands over each frame on
   * its own, a unary response's HEADERS and DATA in one event-loop turn and
   * its trailers two turns later, so:
   * - a frame that ends a stream (a response's trailers, RST_STREAM) is
   *   written at once, with whatever came before: the client waits for it,
   *   and `node:http2` closes the stream only after handing it over;
   * - other frames that are not HEADERS or DATA (GOAWAY, PING, SETTINGS,
   *   WINDOW_UPDATE) are written at the end of the current job (a
   *   microtask), with whatever came before;
   * - other HEADERS and DATA wait at most {@linkcode FLUSH_TURNS} immediates
   *   for them;
   * - a response is written whole or not at all while it is young
   *   ({@linkcode OPEN_TURNS}): no write ends between its HEADERS and the
   *   frame that ends it (see {@linkcode ConnectionSocket.#open}).
   *
   * What comes while a write runs goes out in the next one. The callback
   * returns at once while the queue is small, so that the next chunk comes
   * before the write.
   */
  #enqueue(bytes: Uint8Array, callback: ((error?: Error | null) => void) | undefined): Urgency {
    if (bytes.length > 0) this.#queue.push(bytes); // #take() and _final() count on no empty chunk
    this.#unflushed += bytes.length;
    if (callback) {
      if (this.#unflushed <= WRITE_HIGH_WATER) callback();
      else this.#waiting.push(callback);
    }
    const urgency = this.#follow(bytes);
    if (this.#heldSince < 0) this.#heldSince = this.#turn;
    return urgency;
  }

  /** Starts or schedules the write of what was just queued, by the most urgent of its frames. */
  #schedule(urgency: Urgency): void {
    if (this.#writing) return;
    if (urgency === Urgency.Now) {
      if (this.#open.size === 0) {
        void this.#flush();
        return;
      }
      // Other responses are on their way, their trailers in this same phase of immediates: one write for them all.
      if (!this.#phaseKickQueued) {
        this.#phaseKickQueued = true;
        setImmediate(this.#phaseKick);
      }
      return;
    }
    if (this.#kickQueued) return;
    this.#tickSoon();
    if (urgency === Urgency.Soon || this.#unflushed >= WRITE_HIGH_WATER) {
      this.#kickQueued = true;
      queueMicrotask(this.#kick);
    }
  }

  /**
   * Follows the frames handed to the socket, opening and closing the
   * responses in {@linkcode ConnectionSocket.#open}; says how soon the
   * frames should go out.
   */
  #follow(bytes: Uint8Array): Urgency {
    let urgency = Urgency.None;
    let pos = 0;
    const base = this.#queuedEnd;
    this.#queuedEnd += bytes.length;
    while (pos < bytes.length) {
      if (this.#queuedLeft > 0) {
        const take = Math.min(this.#queuedLeft, bytes.length - pos);
        this.#queuedLeft -= take;
        pos += take;
        continue;
      }
      if (this.#queuedHeaderRead === 0) this.#frameStart = base + pos;
      this.#queuedHeader[this.#queuedHeaderRead++] = bytes[pos++]!;
      if (this.#queuedHeaderRead < 9) continue;
      this.#queuedHeaderRead = 0;
      const h = this.#queuedHeader;
      this.#queuedLeft = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
      const type = h[3]!;
      const streamId = ((h[5]! & 0x7f) << 24 | h[6]! << 16 | h[7]! << 8 | h[8]!) >>> 0;
      if (type === 0 || type === 1) {
        // DATA (0) and HEADERS (1): END_STREAM (0x1) ends the response.
        if ((h[4]! & 1) !== 0) {
          this.#ended(streamId, this.#frameStart + 9 + this.#queuedLeft);
          urgency = Urgency.Now;
        } else if (type === 1 && !this.#open.has(streamId)) {
          // A response's first HEADERS; a server stream's next frames are DATA and its trailers.
          this.#open.set(streamId, { start: this.#frameStart, turn: this.#turn });
        }
      } else if (type !== 9) {
        // Anything but CONTINUATION (9); RST_STREAM (3) ends its stream.
        if (type === 3) {
          this.#ended(streamId, this.#frameStart + 9 + this.#queuedLeft);
          urgency = Urgency.Now;
        } else if (urgency === Urgency.None) {
          urgency = Urgency.Soon;
        }
      }
    }
    return urgency;
  }

  /** A response ended with the frame that ends at `end`: its span stays whole until written. */
  #ended(streamId: number, end: number): void {
    const open = this.#open.get(streamId);
    if (!open) return;
    this.#open.delete(streamId);
    this.#spans.push({ start: open.start, end });
  }

  /**
   * Where the bytes that may be written now end: before the oldest response
   * still open, and before any ended response that would straddle that
   * point (responses interleave: `H1 D1 H3 D3 T1` with 3 open may not go as
   * `H1 D1`).
   */
  #cut(): number {
    let cut = this.#queuedEnd;
    for (const open of this.#open.values()) {
      cut = open.start;
      break;
    }
    let spans = 0;
    for (const span of this.#spans) if (span.end > this.#queueStart) this.#spans[spans++] = span;
    this.#spans.length = spans;
    for (let moved = true; moved;) {
      moved = false;
      for (const span of this.#spans) {
        if (span.start < cut && span.end > cut) {
          cut = span.start;
          moved = true;
        }
      }
    }
    return cut;
  }

  #tickSoon(): void {
    if (this.#ticking) return;
    this.#ticking = true;
    setImmediate(this.#tick);
  }

  /**
   * One event-loop turn: responses open for {@linkcode OPEN_TURNS} turns
   * are let go (a server stream, or a response waiting for flow-control
   * window), and bytes that waited {@linkcode FLUSH_TURNS} are written.
   */
  readonly #tick = (): void => {
    this.#ticking = false;
    this.#turn++;
    let due = this.#heldSince >= 0 && this.#turn - this.#heldSince >= FLUSH_TURNS;
    for (const [streamId, open] of this.#open) {
      if (this.#turn - open.turn < OPEN_TURNS) break;
      this.#open.delete(streamId);
      due = true;
    }
    if (this.#closed || this.#writing) return; // the write's end ticks on
    if (due && !this.#kickQueued) void this.#flush();
    else if (this.#queue.length > 0) this.#tickSoon();
  };

  readonly #phaseKick = (): void => {
    this.#phaseKickQueued = false;
    void this.#flush();
  };

  readonly #kick = (): void => {
    this.#kickQueued = false;
    void this.#flush();
  };

  readonly #flush = async (): Promise<void> => {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (!this.#closed) {
        const length = this.#cut() - this.#queueStart;
        if (length <= 0) break;
        const bytes = this.#take(length);
        this.#heldSince = this.#queue.length > 0 ? this.#turn : -1;
        let offset = 0;
        try {
          while (offset < bytes.length) {
            const n = await this.#conn.write(bytes.subarray(offset));
            this.#countFlushed(bytes.subarray(offset, offset + n));
            offset += n;
            this.#unflushed -= n;
          }
        } catch (error) {
          this.#unflushed -= bytes.length - offset;
          this.#fail(error as Error);
          return;
        }
        if (this.#unflushed <= WRITE_HIGH_WATER) this.#release(undefined);
      }
    } finally {
      this.#writing = false;
      if (this.#closed) {
        if (this.#lastWriteTimer !== undefined) {
          // Destroyed while writing: what came after that write follows it.
          clearTimeout(this.#lastWriteTimer);
          this.#lastWriteTimer = undefined;
          if (this.#queue.length > 0) this.#lastWrite();
          else this.#close();
        }
      } else if (this.#queue.length > 0) {
        this.#tickSoon();
      }
      const afterFlush = this.#afterFlush;
      this.#afterFlush = undefined;
      afterFlush?.();
    }
  };

  /**
   * Takes the first `length` queued bytes off the queue: the first chunk's
   * own bytes when it holds them all, else a copy in the connection's write
   * slab (reused: the next write waits for this one) or, past
   * {@linkcode WRITE_HIGH_WATER}, a new buffer.
   */
  #take(length: number): Uint8Array {
    const queue = this.#queue;
    const first = queue[0]!;
    this.#queueStart += length;
    if (first.length === length) {
      queue.shift();
      return first;
    }
    if (first.length > length) {
      queue[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    if (length > this.#writeSlab.length && length <= WRITE_HIGH_WATER) {
      // Grown as needed, so that an idle connection holds little.
      this.#writeSlab = new Uint8Array(Math.min(WRITE_HIGH_WATER, Math.max(1024, 2 ** Math.ceil(Math.log2(length)))));
    }
    const bytes = length <= this.#writeSlab.length ? this.#writeSlab.subarray(0, length) : new Uint8Array(length);
    let at = 0;
    let taken = 0;
    while (at < length) {
      const chunk = queue[taken]!;
      const take = Math.min(chunk.length, length - at);
      bytes.set(take === chunk.length ? chunk : chunk.subarray(0, take), at);
      at += take;
      if (take < chunk.length) {
        queue[taken] = chunk.subarray(take);
        break;
      }
      taken++;
    }
    queue.splice(0, taken);
    return bytes;
  }

  #release(error: Error | undefined): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const callback of waiting) callback(error);
  }

  #fail(error: Error): void {
    for (const bytes of this.#queue) this.#unflushed -= bytes.length;
    this.#dropQueue();
    if (this.#waiting.length > 0) this.#release(error);
    else this.destroy(error);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // Writes returned before they were flushed: close once they are, all of them.
    this.#open.clear();
    this.#spans = [];
    if (!this.#closed && (this.#writing || this.#queue.length > 0)) {
      this.#afterFlush = () => this._final(callback);
      void this.#flush();
      return;
    }
    try {
      this.#conn.closeWrite().catch(() => {});
    } catch {
      // already closed
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#closed) {
      this.#closed = true;
      if (this.#writing) {
        // A write is under way (a response's end goes out at once): the
        // queue follows it, in #flush; a peer that takes nothing gets LAST_WRITE_MS.
        this.#lastWriteTimer = setTimeout(() => this.#close(), LAST_WRITE_MS);
      } else if (this.#queue.length > 0) {
        this.#lastWrite();
      } else {
        this.#close();
      }
      this._read();
    }
    callback(error);
  }

  /**
   * Writes what is queued (a GOAWAY or RST_STREAM just before `node:http2`
   * destroys the socket), as a socket that writes at once would have, then
   * closes; a peer that takes nothing gets `LAST_WRITE_MS`.
   */
  #lastWrite(): void {
    const bytes = Buffer.concat(this.#queue);
    this.#dropQueue();
    this.#unflushed = 0;
    const timer = setTimeout(() => this.#close(), LAST_WRITE_MS);
    this.#conn.write(bytes).catch(() => 0).finally(() => {
      clearTimeout(timer);
      this.#close();
    });
  }

  /** Forgets what is queued: it has been taken to write, or will never be. */
  #dropQueue(): void {
    this.#queue = [];
    this.#queueStart = this.#queuedEnd;
    this.#heldSince = -1;
    this.#open.clear();
    this.#spans = [];
  }

  #close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  // What node:http2 and grpc-js may call on a net.Socket.
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }
  setKeepAlive(enable?: boolean, _delay?: number): this {
    try {
      this.#conn.setKeepAlive(enable ?? false);
    } catch {
      // already closed
    }
    return this;
  }
  setTimeout(_ms: number, _callback?: () => void): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; port: number; family: string } {
    return { address: this.localAddress, port: this.localPort, family: this.remoteFamily };
  }
}

/** What {@linkcode admit} needs of a listener. */
export type AdmitOptions =
  & Pick<ListenOptions, "tls" | "maxConnections" | "handshakeTimeoutMs" | "onConnection" | "onLimit">
  & {
    /**
     * Open connections of the listeners that share the limit (the workers), in
     * shared memory: slot 0 counts all of them, slot `own` this one's (so that
     * a listener that dies can be taken out of the total). By default only
     * `connections` count.
     */
    openCount?: { readonly slots: Int32Array; readonly own: number };
  };

/**
 * Takes one accepted connection within the limits: closes it at once past
 * `maxConnections`, else wraps it (in TLS with `options.tls`, then) in a
 * {@linkcode ConnectionSocket}, closes it when it completes no TLS handshake
 * and HTTP/2 preface within `handshakeTimeoutMs`, and hands it to
 * `options.onConnection`.
 *
 * @param conn The accepted connection.
 * @param options The limits and the callbacks.
 * @param connections The listener's open connections, kept up to date.
 */
export function admit(conn: Transport, options: AdmitOptions, connections: Set<ConnectionSocket>): void {
  const peer = conn.remoteAddr.hostname;
  const shared = options.openCount;
  const open = shared ? Atomics.add(shared.slots, 0, 1) : connections.size;
  if (open >= options.maxConnections) {
    if (shared) Atomics.sub(shared.slots, 0, 1);
    options.onLimit("max-connections", `${open} connections are open (the limit); closing new ones`);
    conn.close();
    return;
  }
  const transport = serverTransport(conn, options.tls);
  const socket = new ConnectionSocket(transport);
  connections.add(socket);
  if (shared) Atomics.add(shared.slots, shared.own, 1);
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (options.handshakeTimeoutMs > 0) {
    timer = setTimeout(() => {
      timer = undefined;
      if (socket.handshaken || socket.destroyed) return;
      const what = transport.secured === false ? "did not finish the TLS handshake" : "sent no HTTP/2 preface";
      options.onLimit(
        "handshake-timeout",
        `${peer} ${what} within ${options.handshakeTimeoutMs}ms; closing such connections`,
      );
      socket.destroy();
    }, options.handshakeTimeoutMs);
  }
  socket.once("close", () => {
    clearTimeout(timer);
    connections.delete(socket);
    if (shared) {
      Atomics.sub(shared.slots, 0, 1);
      Atomics.sub(shared.slots, shared.own, 1);
    }
  });
  options.onConnection(socket);
}

/**
 * Listens on `hostname:port` and hands each accepted connection, within the
 * limits, to `options.onConnection`.
 *
 * @param options Where, the limits and the callbacks.
 * @returns The listener.
 * @throws {Deno.errors.AddrInUse} And the other errors of `Deno.listen()`.
 */
export function listen(options: ListenOptions): Listener {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  const connections = new Set<ConnectionSocket>();
  let stopped = false;

  (async () => {
    let backoff = 0;
    while (!stopped) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept() as Deno.TcpConn;
      } catch (error) {
        if (stopped) return;
        if (!isFdExhaustion(error)) {
          // Anything else (ECONNABORTED and the like) concerns one connection only.
          await acceptBackoff(0);
          continue;
        }
        if (backoff === 0) {
          options.onLimit("fds-exhausted", `accept() failed: ${(error as Error).message}; retrying until fds are free`);
        }
        await acceptBackoff(backoff++);
        continue;
      }
      backoff = 0;
      if (stopped) {
        conn.close();
        return;
      }
      admit(conn, options, connections);
    }
  })();

  function stop(): void {
    if (stopped) return;
    stopped = true;
    try {
      listener.close();
    } catch {
      // already closed
    }
  }

  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections,
    stop,
    close() {
      stop();
      for (const socket of connections) socket.destroy();
    },
  };
}
