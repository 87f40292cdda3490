/**
 * One unary gRPC call over `node:http2` alone, for the command line's plain
 * `deno task call`: loading grpc-js costs a cold process more (~45 ms of
 * CommonJS on top of `node:http2`) than the whole call takes. Plaintext, one
 * address, no metadata, no compression; the full client does everything else.
 *
 * @module
 */
import * as http2 from "node:http2";
import { Buffer } from "node:buffer";
import { Status, statusName } from "./_status.ts";

/** A call that ended with a status other than OK, worded as `GrpcError` words it. */
export class UnaryCallError extends Error {
  /**
   * @param path The method path.
   * @param code The status code.
   * @param details The status message.
   */
  constructor(path: string, readonly code: number, readonly details: string) {
    super(`${path} ${statusName(code)}: ${details}`);
    this.name = "GrpcError";
  }
}

/** The connection could not be made: nothing was sent, so the caller may try another way. */
export class NotConnected extends Error {}

/** Options of {@linkcode unaryOverH2}. */
export interface UnaryOverH2Options {
  /** `host:port`, IPv6 in brackets. */
  address: string;
  /** The method path, such as `"/Greeter/SayHello"`. */
  path: string;
  /** The encoded request. */
  request: Uint8Array;
  /** The deadline, in ms. */
  timeoutMs?: number;
}

function decodeDetails(value: unknown): string {
  const text = Array.isArray(value) ? String(value[0] ?? "") : String(value ?? "");
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Makes the call and resolves with the encoded response.
 *
 * @param options The address, method, request and deadline.
 * @returns The response message's bytes.
 * @throws {NotConnected} When no connection was made (nothing was sent).
 * @throws {UnaryCallError} When the call ended with another status than OK.
 */
export function unaryOverH2(options: UnaryOverH2Options): Promise<Uint8Array> {
  const { address, path, request, timeoutMs } = options;
  return new Promise<Uint8Array>((resolve, reject) => {
    let connected = false;
    let settled = false;
    const session = http2.connect(`http://${address}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (error: Error | undefined, value?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      if (!session.closed) session.destroy();
      if (error) reject(error);
      else resolve(value!);
    };
    session.once("connect", () => connected = true);
    session.once("error", (error) => {
      finish(connected ? new UnaryCallError(path, Status.UNAVAILABLE, error.message) : new NotConnected(error.message));
    });
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    };
    if (timeoutMs !== undefined) {
      headers["grpc-timeout"] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
      timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish(new UnaryCallError(path, Status.DEADLINE_EXCEEDED, `deadline exceeded after ${timeoutMs}ms`));
      }, timeoutMs);
    }
    const stream = session.request(headers);
    const chunks: Buffer[] = [];
    let httpStatus = 0;
    let status: { code: number; details: string } | undefined;
    const readStatus = (fields: http2.IncomingHttpHeaders) => {
      if (fields["grpc-status"] !== undefined) {
        status = { code: Number(fields["grpc-status"]), details: decodeDetails(fields["grpc-message"]) };
      }
    };
    stream.on("response", (fields) => {
      httpStatus = Number(fields[":status"]);
      readStatus(fields); // a trailers-only response
    });
    stream.on("trailers", readStatus);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", (error) => finish(new UnaryCallError(path, Status.UNAVAILABLE, error.message)));
    stream.on("close", () => {
      if (status === undefined) {
        const details = httpStatus && httpStatus !== 200
          ? `Received HTTP status code ${httpStatus}`
          : "Stream closed without a status";
        return finish(
          new UnaryCallError(path, httpStatus && httpStatus !== 200 ? Status.UNKNOWN : Status.INTERNAL, details),
        );
      }
      if (status.code !== Status.OK) return finish(new UnaryCallError(path, status.code, status.details));
      const body = Buffer.concat(chunks);
      if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
        return finish(new UnaryCallError(path, Status.INTERNAL, "The response is not one uncompressed message"));
      }
      finish(undefined, body.subarray(5));
    });
    const frame = Buffer.allocUnsafe(5 + request.length);
    frame[0] = 0;
    frame.writeUInt32BE(request.length, 1);
    frame.set(request, 5);
    stream.end(frame);
  });
}
