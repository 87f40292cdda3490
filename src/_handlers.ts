/**
 * The four kinds of call, each turned from a grpc-js call into the async
 * handler's world and back: requests decoded strictly, responses encoded by
 * the method's message type, back-pressure honoured, every call reported once
 * with the status it really ended with.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import { ProtobufDecodeError } from "./codec.ts";
import { GrpcError, Status } from "./errors.ts";
import { firstEvent } from "./_events.ts";
import { Call, type ServerState } from "./_call.ts";
import type { AnyMethod } from "./schema.ts";
import { responseWriter } from "./_batch.ts";

/** What the adapters need from their server. */
export interface AdapterEnv {
  readonly state: ServerState;
  /** Reports a finished call. */
  report(call: Call, code: Status, details: string): void;
  /** The status to send for what a handler threw. */
  toStatus(call: Call, error: unknown): grpc.StatusObject;
  /** The bound on unflushed responses of a call, if the server keeps one. */
  flow?(call: grpc.ServerWritableStream<unknown, Buffer> | grpc.ServerDuplexStream<unknown, Buffer>): Flow | undefined;
}

/** The bound on one call's unflushed responses. */
export interface Flow {
  /** Counts the bytes of one response just written. */
  wrote(bytes: number): void;
  /** Whether the next response must wait. */
  mustWait(): boolean;
  /** Waits until enough is flushed; throws when the client stalls for too long. */
  wait(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
type AnyHandler = (input: any, context: Call) => any;

/**
 * What the server's deserializer hands on for a malformed message: grpc-js
 * would answer a throwing deserializer with a bare "Error deserializing
 * request", so the reason travels to the adapter, which sends it.
 */
class MalformedMessage {
  readonly error: GrpcError;
  constructor(cause: ProtobufDecodeError) {
    this.error = new GrpcError(Status.INTERNAL, cause.message, { cause });
  }
}

function identity(value: Buffer): Buffer {
  return value;
}

/**
 * The grpc-js method definition of one RPC on the server: requests decoded
 * strictly (a malformed one becomes a `MalformedMessage`), responses arrive
 * already encoded by the adapter.
 */
export function serverMethodDefinition(method: AnyMethod): grpc.MethodDefinition<unknown, Buffer> {
  const request = method.I;
  return {
    path: method.path,
    requestStream: method.kind === "client_streaming" || method.kind === "bidi_streaming",
    responseStream: method.kind === "server_streaming" || method.kind === "bidi_streaming",
    originalName: method.name,
    requestSerialize: request.encode as (value: unknown) => Buffer,
    requestDeserialize(bytes: Buffer) {
      try {
        return request.decode(bytes);
      } catch (error) {
        if (error instanceof ProtobufDecodeError) return new MalformedMessage(error);
        throw error;
      }
    },
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

/** The request as decoded, or the status to send when it was malformed. */
function checked<T>(message: T | MalformedMessage): T {
  if (message instanceof MalformedMessage) throw message.error;
  return message;
}

/** Resolves on the call's next "drain" or "cancelled"; rejects on "error". */
async function drained(call: EventEmitter): Promise<void> {
  const [event, value] = await firstEvent(call, ["drain", "cancelled", "error"]);
  if (event === "error") throw value ?? new Error("stream error");
}

/**
 * The requests of a client-streaming or bidi call, as the handler's async
 * iterable: each `next()` reads a message straight off grpc-js's stream,
 * with no async generator in between (a stream's own iterator and a
 * generator around it cost several promises and resumptions per message).
 * As a stream's iterator with `destroyOnReturn: false`: leaving the loop
 * early leaves the call alone; a cancelled call throws its reason.
 */
class RequestReader implements AsyncIterableIterator<unknown> {
  readonly #call: grpc.ServerReadableStream<unknown, Buffer> | grpc.ServerDuplexStream<unknown, Buffer>;
  readonly #ctx: Call;
  #ended = false;
  #failure: unknown = undefined;
  #failed = false;
  #done = false;
  #listening = false;
  #wake: (() => void) | undefined;
  readonly #onReadable = (): void => {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#onReadable();
  };
  readonly #onError = (error: unknown): void => {
    this.#fail(error);
  };
  readonly #onClose = (): void => {
    if (!this.#ended) this.#fail(new Error("Request stream closed before its end"));
  };

  constructor(call: grpc.ServerReadableStream<unknown, Buffer> | grpc.ServerDuplexStream<unknown, Buffer>, ctx: Call) {
    this.#call = call;
    this.#ctx = ctx;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    if (!this.#listening) this.#listen();
    try {
      const result = this.#readOne();
      return result ? Promise.resolve(result) : this.#wait();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  return(): Promise<IteratorResult<unknown>> {
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  async #wait(): Promise<IteratorResult<unknown>> {
    while (true) {
      if (this.#failed) {
        this.#finish();
        throw this.#ctx.cancelled ? this.#ctx.reason : this.#failure;
      }
      if (this.#ended) {
        this.#finish();
        if (this.#ctx.cancelled) throw this.#ctx.reason;
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
      const result = this.#readOne();
      if (result) return result;
    }
  }

  /** The next buffered request, checked, or null when none is buffered; a malformed one ends the reader and throws. */
  #readOne(): IteratorResult<unknown> | null {
    const message = this.#call.destroyed ? null : this.#call.read();
    if (message === null) return null;
    try {
      return { value: checked(message), done: false };
    } catch (error) {
      this.#finish();
      throw error;
    }
  }

  /** Listens from the first `next()` on, as a stream's iterator does: a handler that never reads pulls nothing. */
  #listen(): void {
    this.#listening = true;
    const call = this.#call;
    call.on("readable", this.#onReadable);
    call.on("end", this.#onEnd);
    call.on("error", this.#onError);
    call.on("close", this.#onClose);
    if (call.readableEnded) this.#ended = true;
    else if (call.destroyed) this.#fail(new Error("Request stream closed before its end"));
  }

  #fail(error: unknown): void {
    if (!this.#failed) {
      this.#failed = true;
      this.#failure = error ?? new Error("stream error");
    }
    this.#onReadable();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (!this.#listening) return;
    const call = this.#call;
    call.off("readable", this.#onReadable);
    call.off("end", this.#onEnd);
    call.off("error", this.#onError);
    call.off("close", this.#onClose);
  }
}

/**
 * The grpc-js handler of one RPC, around ours.
 *
 * @param method The RPC.
 * @param handler The user's handler.
 * @param env The server's hooks.
 * @returns What grpc-js's `addService` takes for it.
 */
export function adaptHandler(method: AnyMethod, handler: AnyHandler, env: AdapterEnv): grpc.UntypedHandleCall {
  const encode = method.O.encode;
  switch (method.kind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<unknown, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const ctx = new Call(call, method.path, env.state);
        answerOnce(ctx, callback, () => handler(checked(call.request), ctx));
      };
    case "client_streaming":
      return (call: grpc.ServerReadableStream<unknown, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const ctx = new Call(call, method.path, env.state);
        answerOnce(ctx, callback, () => handler(new RequestReader(call, ctx), ctx));
      };
    case "server_streaming":
      return (call: grpc.ServerWritableStream<unknown, Buffer>) => {
        const ctx = new Call(call, method.path, env.state);
        writeResponses(call, ctx, () => handler(checked(call.request), ctx));
      };
    case "bidi_streaming":
      return (call: grpc.ServerDuplexStream<unknown, Buffer>) => {
        const ctx = new Call(call, method.path, env.state);
        writeResponses(call, ctx, () => handler(new RequestReader(call, ctx), ctx));
      };
  }

  /** Runs a handler that answers once, and sends its response or status. */
  function answerOnce(ctx: Call, callback: grpc.sendUnaryData<Buffer>, run: () => unknown): void {
    const send = (response: Buffer) => {
      if (ctx.cancelled) {
        // The client is gone (or its deadline passed): nothing reaches it.
        const error = GrpcError.from(ctx.reason);
        env.report(ctx, error.code, error.details);
        return;
      }
      ctx.sendHeader();
      callback(null, response, ctx.grpcTrailer);
      env.report(ctx, Status.OK, "OK");
    };
    const fail = (error: unknown) => {
      const status = env.toStatus(ctx, error);
      if (!ctx.cancelled) {
        ctx.sendHeader();
        callback(status, null, status.metadata);
      }
      env.report(ctx, status.code, status.details);
    };
    // A handler that answers synchronously is answered in the same turn, as
    // grpc-js's own handlers are: no microtask between the request and the response.
    let result: unknown;
    try {
      result = run();
    } catch (error) {
      return fail(error);
    }
    if (result !== null && typeof (result as PromiseLike<unknown>)?.then === "function") {
      Promise.resolve(result).then((value) => encode(value) as Buffer).then(send, fail);
      return;
    }
    let response: Buffer;
    try {
      response = encode(result) as Buffer;
    } catch (error) {
      return fail(error);
    }
    send(response);
  }

  function writeResponses(
    call: grpc.ServerWritableStream<unknown, Buffer> | grpc.ServerDuplexStream<unknown, Buffer>,
    ctx: Call,
    produce: () => AsyncIterable<unknown> | Iterable<unknown>,
  ): void {
    const flow = env.flow?.(call);
    // Messages written in one turn leave in one write (see _batch.ts).
    const writer = responseWriter(call);
    /** Writes one response; false when the caller must wait for "drain" or for the bytes to flush. */
    const writeOne = (response: unknown): boolean => {
      if (ctx.cancelled) throw ctx.reason;
      ctx.sendHeader();
      const bytes = encode(response);
      if (!flow) return writer.write(bytes);
      // 5: the gRPC message prefix.
      flow.wrote(bytes.length + 5);
      return writer.write(bytes) && !flow.mustWait();
    };
    /** Waits for what writeOne asked. */
    const wait = async (): Promise<void> => {
      if (flow?.mustWait()) return await flow.wait();
      await drained(call);
    };
    (async () => {
      const source = produce();
      if (source === null || typeof source !== "object") {
        throw new TypeError(`The handler of ${method.path} must return an iterable, got ${source}`);
      }
      if (Symbol.asyncIterator in source) {
        for await (const response of source) {
          if (!writeOne(response)) await wait();
        }
      } else {
        // A plain iterable is written without a microtask per message; the
        // wait for "drain" still yields to the event loop every few writes.
        for (const response of source) {
          if (!writeOne(response)) await wait();
        }
      }
      if (ctx.cancelled) throw ctx.reason;
    })().then(
      () => {
        ctx.sendHeader();
        writer.flush();
        call.end(ctx.grpcTrailer);
        env.report(ctx, Status.OK, "OK");
      },
      (error) => {
        const status = env.toStatus(ctx, error);
        if (!ctx.cancelled) {
          ctx.sendHeader();
          // What was written before the failure goes first, as it would unbatched.
          writer.flush();
          call.emit("error", status);
        }
        env.report(ctx, status.code, status.details);
      },
    );
  }
}
