/**
 * Raw HTTP/2 requests for tests: exact frames on the wire, bypassing every
 * gRPC client, with a bounded wait.
 *
 * @module
 */
import * as http2 from "node:http2";
import { Buffer } from "node:buffer";

/** Bytes from hex, such as `"0a0161"`. */
export function unhex(text: string): Uint8Array {
  return new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

/** One length-prefixed gRPC message: flag byte, 4-byte length, body. */
export function grpcFrame(flag: number, body: Uint8Array, declaredLength = body.length): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = flag;
  out.writeUInt32BE(declaredLength, 1);
  out.set(body, 5);
  return out;
}

/** What came back on one raw stream. */
export interface RawResponse {
  /** The HTTP status. */
  status: number | undefined;
  /** `grpc-status`, from the headers (trailers-only) or the trailers. */
  grpcStatus: number | undefined;
  /** `grpc-message`, percent-decoded. */
  grpcMessage: string | undefined;
  /** The response body, concatenated. */
  body: Buffer;
  /** The RST_STREAM code, 0 when the stream ended normally. */
  rstCode: number | undefined;
}

/** Options of {@linkcode rawRequest}. */
export interface RawRequestOptions {
  /** Headers added to (or replacing) the gRPC defaults. */
  headers?: Record<string, string>;
  /** Chunks to write, one `write()` each, then the stream is ended. */
  chunks?: Uint8Array[];
  /** Called with each response chunk; returning more bytes writes them. */
  onData?: (chunk: Buffer, write: (bytes: Uint8Array) => void) => void;
  /** Leave the request side open (for bidi tests driven by `onData`). */
  keepOpen?: boolean;
  /** Give up after this many ms. Default 5000. */
  timeoutMs?: number;
  /** The path. Default `/Greeter/SayHello`. */
  path?: string;
}

/** Opens an HTTP/2 session and resolves once it is connected. */
export function connect(address: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.once("connect", () => {
      session.off("error", reject);
      session.on("error", () => {});
      resolve(session);
    });
    session.once("error", reject);
  });
}

/** Closes a session and waits until it is closed. */
export function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  if (session.closed || session.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    session.once("close", () => resolve());
    session.close();
  });
}

/**
 * Makes one raw gRPC request on `session` (or a fresh session to `address`).
 *
 * @returns What came back.
 */
export async function rawRequest(
  target: string | http2.ClientHttp2Session,
  options: RawRequestOptions = {},
): Promise<RawResponse> {
  const session = typeof target === "string" ? await connect(target) : target;
  try {
    return await new Promise<RawResponse>((resolve, reject) => {
      const stream = session.request({
        ":method": "POST",
        ":path": options.path ?? "/Greeter/SayHello",
        "content-type": "application/grpc",
        "te": "trailers",
        ...options.headers,
      });
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`raw request timed out after ${options.timeoutMs ?? 5000}ms`));
      }, options.timeoutMs ?? 5000);
      const result: RawResponse = {
        status: undefined,
        grpcStatus: undefined,
        grpcMessage: undefined,
        body: Buffer.alloc(0),
        rstCode: undefined,
      };
      const chunks: Buffer[] = [];
      const readStatus = (headers: http2.IncomingHttpHeaders) => {
        const status = headers["grpc-status"];
        if (status !== undefined) result.grpcStatus = Number(status);
        const message = headers["grpc-message"];
        if (typeof message === "string") result.grpcMessage = decodeURIComponent(message);
      };
      stream.on("response", (headers) => {
        result.status = Number(headers[":status"]);
        readStatus(headers);
      });
      stream.on("trailers", (headers) => {
        readStatus(headers);
        // The server is done: finish our side too, so that the stream closes.
        if (!stream.writableEnded) stream.end();
      });
      stream.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        options.onData?.(chunk, (bytes) => stream.write(bytes));
      });
      stream.on("error", () => {});
      stream.on("close", () => {
        clearTimeout(timer);
        result.body = Buffer.concat(chunks);
        result.rstCode = stream.rstCode;
        resolve(result);
      });
      for (const chunk of options.chunks ?? []) stream.write(chunk);
      if (!options.keepOpen) stream.end();
    });
  } finally {
    if (typeof target === "string") await closeSession(session);
  }
}

const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FLAG_ACK = 0x1;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
/** The client connection preface. */
export const PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** One HTTP/2 frame: the 9-byte header, then the payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length << 8);
  out[3] = type;
  out[4] = flags;
  view.setUint32(5, streamId & 0x7fffffff);
  out.set(payload, 9);
  return out;
}

/** HPACK "literal header field without indexing, new name", no Huffman coding. */
function hpack(headers: Record<string, string>): Uint8Array {
  const bytes: number[] = [];
  const literal = (text: string) => {
    const encoded = new TextEncoder().encode(text);
    if (encoded.length >= 127) throw new RangeError("header too long for this encoder");
    bytes.push(encoded.length, ...encoded);
  };
  for (const [name, value] of Object.entries(headers)) {
    bytes.push(0x00);
    literal(name);
    literal(value);
  }
  return new Uint8Array(bytes);
}

/**
 * HTTP/2 spoken byte by byte over a bare TCP connection: frames go out
 * exactly as written, and closing it is a vanishing peer (no GOAWAY). What
 * the server sends is read and discarded, so that it never blocks on us.
 */
export class RawH2Connection implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  readonly #reading: Promise<void>;
  #received = 0;
  #closed = false;
  /** Bytes of a frame not yet whole. */
  #partial = new Uint8Array(0);
  /** Waiters for PING ACKs, by their 8 bytes of opaque data (as hex). */
  readonly #pings = new Map<string, PromiseWithResolvers<void>>();
  #nextPing = 0;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#reading = (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (true) {
          const n = await conn.read(buffer);
          if (n === null) break;
          this.#received += n;
          this.#parse(buffer.subarray(0, n));
        }
      } catch {
        // reset by the server, or closed by us
      }
      for (const waiter of this.#pings.values()) waiter.reject(new Error("the connection closed before the PING ACK"));
      this.#pings.clear();
    })();
  }

  /** Follows the server's frames, only to see PING ACKs. */
  #parse(bytes: Uint8Array): void {
    let data = new Uint8Array(this.#partial.length + bytes.length);
    data.set(this.#partial);
    data.set(bytes, this.#partial.length);
    while (data.length >= 9) {
      const length = (data[0]! << 16) | (data[1]! << 8) | data[2]!;
      if (data.length < 9 + length) break;
      if (data[3] === FRAME_PING && (data[4]! & FLAG_ACK) && length === 8) {
        const key = Array.from(data.subarray(9, 17), (b) => b.toString(16).padStart(2, "0")).join("");
        this.#pings.get(key)?.resolve();
        this.#pings.delete(key);
      }
      data = data.subarray(9 + length);
    }
    this.#partial = data.slice();
  }

  /**
   * Sends a PING and resolves on its ACK. The server handles frames in order,
   * so by then it has read every frame written before.
   */
  async ping(): Promise<void> {
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setUint32(4, ++this.#nextPing);
    const key = Array.from(payload, (b) => b.toString(16).padStart(2, "0")).join("");
    const waiter = Promise.withResolvers<void>();
    this.#pings.set(key, waiter);
    await this.write(h2Frame(FRAME_PING, 0, 0, payload));
    await waiter.promise;
  }

  /** Connects and sends the preface and an empty SETTINGS frame. */
  static async open(port: number): Promise<RawH2Connection> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const connection = new RawH2Connection(conn);
    await connection.write(PREFACE, h2Frame(FRAME_SETTINGS, 0, 0, new Uint8Array(0)));
    return connection;
  }

  /** Bytes received from the server so far. */
  get received(): number {
    return this.#received;
  }

  /** Writes frames as one write. */
  async write(...frames: Uint8Array[]): Promise<void> {
    const total = frames.reduce((sum, f) => sum + f.length, 0);
    const out = new Uint8Array(total);
    let pos = 0;
    for (const f of frames) {
      out.set(f, pos);
      pos += f.length;
    }
    for (let written = 0; written < out.length;) written += await this.#conn.write(out.subarray(written));
  }

  /** A HEADERS frame of a gRPC request to `path`. */
  static headers(streamId: number, path: string, endStream = false): Uint8Array {
    const block = hpack({
      ":method": "POST",
      ":scheme": "http",
      ":path": path,
      ":authority": "127.0.0.1",
      "content-type": "application/grpc",
      "te": "trailers",
    });
    return h2Frame(FRAME_HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), streamId, block);
  }

  /** A DATA frame. */
  static data(streamId: number, bytes: Uint8Array, endStream = false): Uint8Array {
    return h2Frame(FRAME_DATA, endStream ? FLAG_END_STREAM : 0, streamId, bytes);
  }

  /** An RST_STREAM frame with CANCEL (8). */
  static reset(streamId: number, code = 8): Uint8Array {
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, code);
    return h2Frame(FRAME_RST_STREAM, 0, streamId, payload);
  }

  /** Closes the TCP connection at once: no GOAWAY, no RST_STREAM. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
    await this.#reading;
  }

  /** Same as {@linkcode RawH2Connection.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
