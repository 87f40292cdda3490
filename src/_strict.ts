/**
 * Strict checks of the gRPC framing of requests, which grpc-js does not make
 * and which a deserializer cannot make because it never sees the frame.
 *
 * grpc-js reads the compressed flag of each length-prefixed message as
 * `flag === 1` and treats anything else as uncompressed, and it decompresses
 * a flag-1 message with the `identity` encoding when the request declares
 * none; the gRPC spec makes both an error. It also answers a request body
 * cut inside a message, or a unary request with no message or two, with
 * `UNIMPLEMENTED` and a message about "server streaming" methods, and it does
 * not look at the HTTP method. These checks answer all of them with
 * `INTERNAL` and a message that says what was wrong.
 *
 * Where: no grpc-js option or interceptor sees the raw frames, so the checks
 * read the request's HTTP/2 stream, reached through the `"stream"` event of
 * the `node:http2` servers grpc-js creates (through `_streams.ts`: there is
 * no public accessor). A server interceptor, which runs
 * synchronously inside grpc-js's own `"stream"` handler, pairs each stream
 * with grpc-js's call, and a failed check ends the call with the call's own
 * `sendStatus()`: grpc-js then drops the offending data, because the call is
 * over, and sends headers and trailers as it would for any status.
 *
 * @module
 */
import * as http2 from "node:http2";
import type { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import { Status } from "./errors.ts";
import type { StreamWatcher } from "./_streams.ts";

/**
 * Deno's `node:http2` lacks `constants.HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE`
 * (Node has 415), which grpc-js uses to refuse a request whose content-type is
 * not `application/grpc…`: Deno then sends `:status 200` with no grpc-status.
 * Defining the missing constant as Node does makes the refusal a 415 again.
 */
function definePortableConstants(): void {
  const constants = http2.constants as Record<string, unknown>;
  if (constants.HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE === undefined) {
    constants.HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE = 415;
  }
}

/** The 5-byte prefix of each gRPC message: 1 flag byte, 4 length bytes. */
const PREFIX_LENGTH = 5;

/**
 * Follows the length-prefixed messages of one request body, chunk by chunk,
 * and says what is wrong with them, if anything.
 */
export class FrameChecker {
  readonly #path: string;
  readonly #encoding: string | undefined;
  readonly #singleRequest: boolean;
  #prefixRead = 0;
  #length = 0;
  #remaining = 0;
  #messages = 0;

  /**
   * @param path The method path, for messages.
   * @param encoding The request's `grpc-encoding` header, if any.
   * @param singleRequest Whether the method takes exactly one request message.
   */
  constructor(path: string, encoding: string | undefined, singleRequest: boolean) {
    this.#path = path;
    this.#encoding = encoding;
    this.#singleRequest = singleRequest;
  }

  /** Bytes of the message being received that have arrived so far (its prefix included). */
  get partialBytes(): number {
    if (this.#prefixRead > 0) return this.#prefixRead;
    return this.#remaining > 0 ? PREFIX_LENGTH + this.#length - this.#remaining : 0;
  }

  /** The number of messages whose prefix has been read. */
  get messages(): number {
    return this.#messages;
  }

  /**
   * Reads the next chunk of the body.
   *
   * @param chunk The bytes, as the `"data"` event gives them.
   * @returns What is wrong, or undefined when nothing is (yet).
   */
  push(chunk: Uint8Array): string | undefined {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - pos);
        this.#remaining -= take;
        pos += take;
        continue;
      }
      const byte = chunk[pos++]!;
      if (this.#prefixRead === 0) {
        const problem = this.#checkFlag(byte);
        if (problem) return problem;
        this.#length = 0;
      } else {
        this.#length = this.#length * 256 + byte;
      }
      if (++this.#prefixRead === PREFIX_LENGTH) {
        this.#prefixRead = 0;
        this.#remaining = this.#length;
        if (++this.#messages > 1 && this.#singleRequest) {
          return `Received a second request message for ${this.#path}, which takes exactly one`;
        }
      }
    }
    return undefined;
  }

  /**
   * Checks the body once it has ended.
   *
   * @returns What is wrong, or undefined when nothing is.
   */
  end(): string | undefined {
    if (this.#prefixRead > 0) {
      return `Request body ended inside a message prefix: got ${this.#prefixRead} of ${PREFIX_LENGTH} bytes`;
    }
    if (this.#remaining > 0) {
      return `Request body ended inside a message: got ${this.#length - this.#remaining} of ${this.#length} bytes`;
    }
    if (this.#singleRequest && this.#messages === 0) {
      return `Received no request message for ${this.#path}, which takes exactly one`;
    }
    return undefined;
  }

  #checkFlag(flag: number): string | undefined {
    const index = this.#messages + 1;
    if (flag === 0) return undefined;
    if (flag === 1) {
      if (this.#encoding === undefined) {
        return `Message ${index} has the compressed flag set but the request has no grpc-encoding header`;
      }
      if (this.#encoding === "identity") {
        return `Message ${index} has the compressed flag set but grpc-encoding is 'identity'`;
      }
      return undefined;
    }
    const hex = `0x${flag.toString(16).padStart(2, "0")}`;
    return `Message ${index} has an undefined compressed flag ${hex} (only 0x00 and 0x01 are defined)`;
  }
}

/** A request stream waiting for grpc-js to make its call. */
interface PendingStream {
  stream: http2.ServerHttp2Stream;
  headers: http2.IncomingHttpHeaders;
}

/** The checks of one grpc-js server. */
export interface StrictChecks {
  /** The interceptor to put first in the grpc-js server's `interceptors` option. */
  readonly interceptor: grpc.ServerInterceptor;
  /** Pairs each stream with the call grpc-js makes for it (see `_streams.ts`). */
  readonly watcher: StreamWatcher;
  /** The HTTP/2 stream of a call the interceptor saw. */
  streamOf(call: object): http2.ServerHttp2Stream | undefined;
}

/** Told of the partial message bytes of each checked stream; returns a problem to end the call with. */
export type PartialBytesHook = (stream: http2.ServerHttp2Stream, bytes: number) => string | undefined;

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Creates the strict checks of one grpc-js server.
 *
 * @returns The interceptor to install and the function that hooks the rest.
 */
export function createStrictChecks(onPartial?: PartialBytesHook): StrictChecks {
  definePortableConstants();
  const streams = new WeakMap<object, http2.ServerHttp2Stream>();
  // Set by our "stream" listener, which runs before grpc-js's, and read by the
  // interceptor, which grpc-js calls synchronously from its own listener.
  let pending: PendingStream | undefined;

  function check(
    pendingStream: PendingStream,
    method: grpc.ServerMethodDefinition<unknown, unknown>,
    call: grpc.ServerInterceptingCallInterface,
  ): void {
    const { stream, headers } = pendingStream;
    let failed = false;
    const fail = (details: string, code: Status = Status.INTERNAL) => {
      if (failed) return;
      failed = true;
      call.sendStatus({ code, details, metadata: null });
    };
    const httpMethod = headerValue(headers[":method"]);
    if (httpMethod !== "POST") {
      fail(`gRPC requests must use HTTP method POST, got '${httpMethod}'`);
      return;
    }
    const checker = new FrameChecker(method.path, headerValue(headers["grpc-encoding"]), !method.requestStream);
    // Prepended, so that a failed check ends the call before grpc-js reads
    // the same chunk; grpc-js ignores data and end once its call is over.
    stream.prependListener("data", (chunk: Buffer) => {
      if (failed) return;
      const problem = checker.push(chunk);
      if (problem) return fail(problem);
      const tooMuch = onPartial?.(stream, checker.partialBytes);
      if (tooMuch) fail(tooMuch, Status.RESOURCE_EXHAUSTED);
    });
    stream.prependListener("end", () => {
      if (failed) return;
      const problem = checker.end();
      if (problem) fail(problem);
    });
  }

  const interceptor: grpc.ServerInterceptor = (method, call) => {
    const pendingStream = pending;
    pending = undefined;
    if (pendingStream) {
      streams.set(call, pendingStream.stream);
      check(pendingStream, method, call);
    }
    // The call itself, not a pass-through wrapper: grpc-js only chains what
    // interceptors return, and a wrapper would forward every event once more.
    return call as grpc.ServerInterceptingCall;
  };

  const watcher: StreamWatcher = {
    opened(stream, headers) {
      pending = { stream, headers };
    },
    // After grpc-js's listener: nothing is left pending when grpc-js made
    // no call (unknown method, wrong content-type).
    handled() {
      pending = undefined;
    },
  };

  return { interceptor, watcher, streamOf: (call) => streams.get(call) };
}
