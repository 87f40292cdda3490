/**
 * The per-call state the handler adapters share: the context a handler sees,
 * its abort signal, its header and trailer, and its timing.
 *
 * @module
 */
import type { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import { fromGrpcMetadata, Metadata, toGrpcMetadata } from "./metadata.ts";
import type { CallContext } from "./server.ts";

/** What the four kinds of grpc-js server call have in common. */
export type AnyServerCall = EventEmitter & {
  readonly metadata: grpc.Metadata;
  getPeer(): string;
  getDeadline(): grpc.Deadline;
  sendMetadata(metadata: grpc.Metadata): void;
};

/** How close to its deadline a cancelled call counts as timed out, in ms. */
const DEADLINE_SKEW_MS = 20;

/** What a call needs to know of its server. */
export interface ServerState {
  /** Set once a shutdown's grace period has run out and the server cancels what is left. */
  forcing: boolean;
}

/** The context of one call, as its handler sees it. */
export class Call implements CallContext {
  readonly method: string;
  readonly peer: string;
  readonly #call: AnyServerCall;
  readonly #server: ServerState;
  readonly #started = performance.now();
  #controller: AbortController | undefined;
  #metadata: Metadata | undefined;
  #header: Metadata | undefined;
  #trailer: Metadata | undefined;
  #headerSent = false;
  #cancelled = false;
  #forcedAtCancel = false;
  #cancelledAt = 0;
  #reason: DOMException | undefined;

  constructor(call: AnyServerCall, method: string, server: ServerState) {
    this.#call = call;
    this.#server = server;
    this.method = method;
    this.peer = call.getPeer();
    // grpc-js emits "cancelled" at the end of every call, answered or not:
    // the reason (a DOMException, whose stack costs ~10 µs) is made only when
    // something asks for it, from what held at this moment.
    // on(), not once(): grpc-js emits it once per call (the guard covers any
    // second time), and once() wraps and unhooks on every call.
    call.on("cancelled", () => {
      if (this.#cancelled) return;
      this.#cancelled = true;
      this.#forcedAtCancel = this.#server.forcing;
      this.#cancelledAt = Date.now();
      if (this.#controller) this.#controller.abort(this.reason);
    });
  }

  get metadata(): Metadata {
    return this.#metadata ??= fromGrpcMetadata(this.#call.metadata);
  }

  get deadline(): Date | undefined {
    const deadline = this.#call.getDeadline();
    if (deadline === Infinity) return undefined;
    return deadline instanceof Date ? deadline : new Date(deadline);
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#cancelled) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  /** Whether the call was cancelled (by the client, its deadline or a forced shutdown). */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Why the call was cancelled: an `AbortError` or a `TimeoutError`. */
  get reason(): DOMException | undefined {
    if (this.#cancelled) this.#reason ??= this.#abortReason();
    return this.#reason;
  }

  get header(): Metadata {
    return this.#header ??= new Metadata();
  }

  get trailer(): Metadata {
    return this.#trailer ??= new Metadata();
  }

  /** The trailers for grpc-js, if any were set. */
  get grpcTrailer(): grpc.Metadata | undefined {
    return this.#trailer && toGrpcMetadata(this.#trailer);
  }

  sendHeader(): void {
    if (this.#headerSent) return;
    this.#headerSent = true;
    if (this.#header) this.#call.sendMetadata(toGrpcMetadata(this.#header));
  }

  #abortReason(): DOMException {
    if (this.#forcedAtCancel) {
      return new DOMException(`${this.method}: the server shut down before the call ended`, "AbortError");
    }
    const deadline = this.deadline;
    // A client whose deadline passes cancels the stream itself, which can
    // reach us a little before our own timer for the same deadline fires.
    return deadline && deadline.getTime() <= this.#cancelledAt + DEADLINE_SKEW_MS
      ? new DOMException(`${this.method}: deadline exceeded`, "TimeoutError")
      : new DOMException(`${this.method}: the client cancelled the call`, "AbortError");
  }

  /** Milliseconds since the call started. */
  elapsed(): number {
    return performance.now() - this.#started;
  }
}
