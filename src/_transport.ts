/**
 * What a `ConnectionSocket` (`_listener.ts`) can read and write besides a
 * `Deno.TcpConn`: a `node:net` socket (the workers' listener), and TLS over
 * either. Under TLS the `ConnectionSocket` sits above the TLS layer, so it
 * still sees HTTP/2 frames: the handshake timeout, the per-stream flushed
 * counts and whole responses hold as in plaintext, and grpc-js gets a
 * plaintext socket through an insecure injector. (`node:tls`'s `TLSSocket`
 * handed straight to the injector gets no answer from `node:http2` on Deno
 * 2.9.3; `Deno.listenTls` cannot close a connection whose handshake has not
 * finished, nor ask for client certificates.) Mutual TLS stays with grpc-js's
 * own listener: see `listenTls()` in `_tls.ts`.
 *
 * @module
 */
import type * as net from "node:net";
import { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import { type SecureContext, TLSSocket } from "node:tls";

/**
 * What a `ConnectionSocket` reads and writes: a `Deno.TcpConn`, or anything
 * with the same methods. `secured` is false while a TLS handshake is under
 * way, and absent without TLS.
 */
export type Transport =
  & Pick<
    Deno.TcpConn,
    "read" | "write" | "closeWrite" | "close" | "setNoDelay" | "setKeepAlive" | "remoteAddr" | "localAddr"
  >
  & { readonly secured?: boolean };

/** A server's TLS, as the listeners take it: no client certificates (see `listenTls()` in `_tls.ts`). */
export interface ListenTls {
  /** The certificate and key. */
  context: SecureContext;
}

/** A `node:net` socket (or a `TLSSocket`) with the methods of a `Deno.TcpConn` that a `ConnectionSocket` uses. */
export class NodeTransport implements Transport {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  readonly #socket: net.Socket;
  #rest: Uint8Array | undefined;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  /**
   * @param socket The socket.
   * @param addresses Its addresses, when it has none of its own (a `TLSSocket` over a stream).
   */
  constructor(socket: net.Socket, addresses?: Pick<Transport, "remoteAddr" | "localAddr">) {
    this.#socket = socket;
    this.remoteAddr = addresses?.remoteAddr ??
      { transport: "tcp", hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
    this.localAddr = addresses?.localAddr ??
      { transport: "tcp", hostname: socket.localAddress ?? "", port: socket.localPort ?? 0 };
    const wake = () => {
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    };
    socket.on("readable", wake);
    socket.once("end", () => (this.#ended = true, wake()));
    socket.on("error", (error) => (this.#error ??= error, wake()));
    socket.once("close", () => (this.#error ??= this.#ended ? undefined : new Error("Socket closed"), wake()));
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (true) {
      const chunk: Uint8Array | null = this.#rest ?? this.#socket.read();
      this.#rest = undefined;
      if (chunk !== null) {
        const n = Math.min(chunk.length, buffer.length);
        buffer.set(chunk.subarray(0, n));
        if (n < chunk.length) this.#rest = chunk.subarray(n);
        return n;
      }
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  write(bytes: Uint8Array): Promise<number> {
    // The callback comes once the bytes are handed to the kernel, as Deno.TcpConn's write resolves.
    return new Promise((resolve, reject) =>
      this.#socket.write(bytes, (error) => error ? reject(error) : resolve(bytes.length))
    );
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  close(): void {
    this.#socket.destroy();
  }

  setNoDelay(noDelay?: boolean): void {
    this.#socket.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive?: boolean): void {
    this.#socket.setKeepAlive(keepAlive);
  }
}

/**
 * A `Deno.TcpConn` as a `node:stream` duplex, for `TLSSocket` to wrap; a
 * write calls back once the kernel has taken it.
 */
class TcpDuplex extends Duplex {
  readonly #conn: Transport;
  #wanted: (() => void) | undefined;

  constructor(conn: Transport) {
    super({ allowHalfOpen: true });
    this.#conn = conn;
    void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    try {
      while (!this.destroyed) {
        const buffer = Buffer.allocUnsafe(16 * 1024);
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        if (!this.push(buffer.subarray(0, n))) await new Promise<void>((resolve) => this.#wanted = resolve);
      }
      this.push(null);
    } catch {
      // Reset by the peer or closed by us.
      this.destroy();
    }
  }

  override _read(): void {
    const wanted = this.#wanted;
    this.#wanted = undefined;
    wanted?.();
  }

  override _write(chunk: Buffer, _encoding: string, callback: (error?: Error | null) => void): void {
    write(this.#conn, chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#conn.closeWrite().then(() => callback(), () => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this._read();
    callback(error);
  }
}

async function write(conn: Transport, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

/** The server side of TLS over a connection, with ALPN `h2` only. */
class TlsTransport extends NodeTransport {
  readonly #tls: TLSSocket;
  readonly #below: Transport;
  #secured = false;

  constructor(below: Transport, tls: ListenTls) {
    const raw = new TcpDuplex(below);
    const socket = new TLSSocket(raw as unknown as net.Socket, {
      isServer: true,
      secureContext: tls.context,
      ALPNProtocols: ["h2"],
    });
    super(socket, below);
    this.#tls = socket;
    this.#below = below;
    // Deno's TLSSocket does not end when the peer leaves mid-handshake.
    raw.once("end", () => this.#secured || this.close());
    raw.once("close", () => socket.destroy());
    socket.once("secure", () => {
      this.#secured = true;
      // A client that offered no ALPN (one that offered others failed the handshake): it would not speak HTTP/2.
      if (socket.alpnProtocol !== "h2") this.close();
    });
  }

  get secured(): boolean {
    return this.#secured;
  }

  override close(): void {
    this.#tls.destroy();
    try {
      this.#below.close();
    } catch {
      // already closed
    }
  }

  override setNoDelay(noDelay?: boolean): void {
    this.#below.setNoDelay(noDelay);
  }

  override setKeepAlive(keepAlive?: boolean): void {
    this.#below.setKeepAlive(keepAlive);
  }
}

/**
 * The transport a listener hands to `admit()`: the connection itself, or TLS
 * over it.
 *
 * @param conn The accepted connection.
 * @param tls The server's TLS; none for plaintext.
 */
export function serverTransport(conn: Transport, tls: ListenTls | undefined): Transport {
  return tls ? new TlsTransport(conn, tls) : conn;
}
