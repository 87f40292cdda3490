/**
 * How many bytes of a client call's requests are still in this process, not
 * yet written to the connection, so that a call streaming into a server that
 * stopped reading waits instead of buffering without bound.
 *
 * Under Deno's `node:http2`, grpc-js's `write()` always returns true and its
 * callback fires at once, and the stream's `writableLength`/`bufferSize` do
 * not count the bytes nghttp2 holds back for lack of flow-control window. The
 * one real count is the connection's: its socket's `bytesWritten`. So the
 * bytes are counted per connection (handed to grpc-js minus written to the
 * socket), and a call may go on writing while that count stays within its
 * bound times the calls streaming on that connection.
 *
 * @module
 */
import type * as http2 from "node:http2";
import { http2StreamOfClientCall } from "./_grpc_internals.ts";

/** The default of `ClientOptions.maxCallUnflushedBytes`: 1 MiB. */
export const DEFAULT_MAX_CALL_UNFLUSHED_BYTES = 1024 * 1024;
/** The default of `ClientOptions.stallTimeoutMs`: 20 s. */
export const DEFAULT_CLIENT_STALL_TIMEOUT_MS = 20_000;

/** What one connection's streaming calls share. */
interface Ledger {
  socket: { bytesWritten: number };
  /** Bytes handed to grpc-js since `base`. */
  handed: number;
  /** The socket's `bytesWritten` when counting (re)started. */
  base: number;
  /** Calls counting on this connection. */
  calls: number;
}

const ledgers = new WeakMap<http2.Http2Session, Ledger>();

/** The unflushed bytes of one client-streaming or bidi call. */
export class FlushMeter {
  readonly #call: object;
  #ledger: Ledger | undefined;
  #handed = 0;
  #closed = false;

  /** @param call The grpc-js call. */
  constructor(call: object) {
    this.#call = call;
  }

  /** Counts `bytes` just handed to grpc-js's `write()`. */
  add(bytes: number): void {
    if (this.#closed) return;
    const ledger = this.#ledger ?? this.#attach();
    if (!ledger) return; // no stream yet: grpc-js holds the message, and its write() back-pressure applies
    ledger.handed += bytes;
    this.#handed += bytes;
  }

  /** Bytes handed over on this call's connection and not yet written to its socket. */
  get unflushed(): number {
    const ledger = this.#ledger;
    return ledger ? Math.max(0, ledger.handed - (ledger.socket.bytesWritten - ledger.base)) : 0;
  }

  /** The socket's `bytesWritten`, which moves whenever anything leaves. */
  get written(): number {
    return this.#ledger?.socket.bytesWritten ?? 0;
  }

  /** Whether the call should wait before writing more, with `bound` bytes per call. */
  over(bound: number): boolean {
    const ledger = this.#ledger;
    return ledger !== undefined && this.unflushed > bound * ledger.calls;
  }

  /** Stops counting this call; its bytes still unsent (dropped with the stream) leave the count. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const ledger = this.#ledger;
    if (!ledger) return;
    ledger.calls--;
    if (ledger.calls === 0) {
      ledger.handed = 0;
      ledger.base = ledger.socket.bytesWritten;
    } else {
      ledger.handed -= Math.min(this.#handed, this.unflushed);
    }
  }

  #attach(): Ledger | undefined {
    const stream = http2StreamOfClientCall(this.#call);
    const session = stream?.session;
    const socket = session?.socket as { bytesWritten?: unknown } | undefined;
    if (!session || typeof socket?.bytesWritten !== "number") return undefined;
    let ledger = ledgers.get(session);
    if (!ledger) {
      ledger = { socket: socket as Ledger["socket"], handed: 0, base: socket.bytesWritten, calls: 0 };
      ledgers.set(session, ledger);
    }
    if (ledger.calls === 0) {
      ledger.handed = 0;
      ledger.base = ledger.socket.bytesWritten;
    }
    ledger.calls++;
    this.#ledger = ledger;
    return ledger;
  }
}
