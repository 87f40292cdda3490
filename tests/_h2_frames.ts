/**
 * A raw HTTP/2 peer that reads what the server sends, frame by frame: for
 * tests of PING, GOAWAY and connection closes, which no client library shows.
 * It sends the preface and SETTINGS, acknowledges the server's SETTINGS, and
 * answers PINGs only when asked to.
 *
 * @module
 */
import { h2Frame, PREFACE, RawH2Connection } from "./_raw_h2.ts";

/** HTTP/2 frame types used here (RFC 9113, section 6). */
export const FrameType = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7 } as const;

/** One frame from the server. */
export interface H2Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array<ArrayBuffer>;
  /** `performance.now()` when it was parsed. */
  at: number;
}

/** A GOAWAY frame's fields. */
export interface Goaway {
  lastStreamId: number;
  errorCode: number;
  debug: string;
}

/** Reads a GOAWAY frame. */
export function parseGoaway(frame: H2Frame): Goaway {
  const view = new DataView(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength);
  return {
    lastStreamId: view.getUint32(0) & 0x7fffffff,
    errorCode: view.getUint32(4),
    debug: new TextDecoder().decode(frame.payload.subarray(8)),
  };
}

/** A PING frame (ACK when `ack`), 8-byte payload. */
export function pingFrame(payload: Uint8Array = new Uint8Array(8), ack = false): Uint8Array {
  return h2Frame(FrameType.PING, ack ? 1 : 0, 0, payload);
}

/** Options of {@linkcode FramePeer.open}. */
export interface FramePeerOptions {
  /** Answer the server's PINGs with an ACK. Default false: a peer that went silent. */
  answerPings?: boolean;
}

/** A bare TCP connection speaking HTTP/2 frames, recording the server's. */
export class FramePeer implements AsyncDisposable {
  /** Every frame received, in order. */
  readonly frames: H2Frame[] = [];
  /** Resolves with `performance.now()` when the server closes the connection. */
  readonly closed: Promise<number>;
  readonly #conn: Deno.TcpConn;
  readonly #answerPings: boolean;
  #waiters: (() => void)[] = [];
  #closedByUs = false;

  private constructor(conn: Deno.TcpConn, options: FramePeerOptions) {
    this.#conn = conn;
    this.#answerPings = options.answerPings ?? false;
    this.closed = this.#read();
  }

  /** Connects to 127.0.0.1:`port`, sends the preface and an empty SETTINGS. */
  static async open(port: number, options: FramePeerOptions = {}): Promise<FramePeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const peer = new FramePeer(conn, options);
    await peer.write(PREFACE, h2Frame(FrameType.SETTINGS, 0, 0, new Uint8Array()));
    return peer;
  }

  async #read(): Promise<number> {
    let buffered = new Uint8Array();
    const chunk = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        const next = new Uint8Array(buffered.length + n);
        next.set(buffered);
        next.set(chunk.subarray(0, n), buffered.length);
        buffered = next;
        while (buffered.length >= 9) {
          const length = (buffered[0]! << 16) | (buffered[1]! << 8) | buffered[2]!;
          if (buffered.length < 9 + length) break;
          const frame: H2Frame = {
            type: buffered[3]!,
            flags: buffered[4]!,
            streamId: new DataView(buffered.buffer, buffered.byteOffset + 5, 4).getUint32(0) & 0x7fffffff,
            payload: buffered.slice(9, 9 + length),
            at: performance.now(),
          };
          buffered = buffered.slice(9 + length);
          this.frames.push(frame);
          if (frame.type === FrameType.SETTINGS && !(frame.flags & 1)) {
            await this.write(h2Frame(FrameType.SETTINGS, 1, 0, new Uint8Array()));
          } else if (frame.type === FrameType.PING && !(frame.flags & 1) && this.#answerPings) {
            await this.write(pingFrame(frame.payload, true));
          }
          this.#wake();
        }
      }
    } catch {
      // reset by the server, or closed by us
    }
    this.#wake();
    if (!this.#closedByUs) this.#conn.close();
    return performance.now();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Resolves with the first frame (received so far or later) that matches.
   *
   * @throws {Error} After `timeoutMs`, or when the connection closes first.
   */
  async waitFor(match: (frame: H2Frame) => boolean, what: string, timeoutMs = 5000): Promise<H2Frame> {
    const deadline = performance.now() + timeoutMs;
    let closed = false;
    this.closed.then(() => closed = true);
    while (true) {
      const found = this.frames.find(match);
      if (found) return found;
      if (closed) throw new Error(`connection closed before ${what}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no ${what} after ${timeoutMs}ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** Waits for the first GOAWAY and reads it. */
  async goaway(timeoutMs = 5000): Promise<Goaway & { at: number }> {
    const frame = await this.waitFor((f) => f.type === FrameType.GOAWAY, "GOAWAY", timeoutMs);
    return { ...parseGoaway(frame), at: frame.at };
  }

  /** Writes bytes as one write. */
  async write(...parts: Uint8Array[]): Promise<void> {
    const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
    let pos = 0;
    for (const part of parts) {
      out.set(part, pos);
      pos += part.length;
    }
    for (let written = 0; written < out.length;) written += await this.#conn.write(out.subarray(written));
  }

  /** A HEADERS frame of a gRPC request, as {@linkcode RawH2Connection.headers}. */
  static headers = RawH2Connection.headers;
  /** A DATA frame, as {@linkcode RawH2Connection.data}. */
  static data = RawH2Connection.data;

  /** Closes the TCP connection at once (no GOAWAY) and waits for the reader. */
  async close(): Promise<void> {
    if (!this.#closedByUs) {
      this.#closedByUs = true;
      try {
        this.#conn.close();
      } catch {
        // closed by the reader already
      }
    }
    await this.closed;
  }

  /** Same as {@linkcode FramePeer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
