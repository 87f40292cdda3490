/**
 * gRPC status codes and the one error class of the module.
 *
 * @module
 */
import { Metadata } from "./metadata.ts";

/** The gRPC status codes, by name. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code: one of the values of {@linkcode Status}. */
export type Status = typeof Status[keyof typeof Status];

const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Status).map(([name, code]) => [code, name]),
);

/**
 * The name of a status code, such as `"DEADLINE_EXCEEDED"` for 4.
 *
 * @param code A gRPC status code.
 * @returns Its name, or `"CODE_<n>"` for a code gRPC does not define.
 */
export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? `CODE_${code}`;
}

/** Options of {@linkcode GrpcError}. */
export interface GrpcErrorOptions {
  /** Trailing metadata sent with (or received with) the status. */
  metadata?: Metadata;
  /** The error that led to this one. */
  cause?: unknown;
  /** The method path, such as `"/Greeter/SayHello"`, for the message. */
  method?: string;
}

/**
 * A call that ended with a status other than OK.
 *
 * On the client every failed call rejects with it. In a handler, throwing it
 * sends its `code`, `details` and `metadata` to the client; any other throw
 * is logged and sent as `UNKNOWN` with a generic message, so that internals
 * never leak.
 *
 * @example Fail a call with NOT_FOUND
 * ```ts
 * import { GrpcError, Status } from "./mod.ts";
 *
 * const error = new GrpcError(Status.NOT_FOUND, "no user named 'zzz'");
 * console.log(error.message); // "NOT_FOUND: no user named 'zzz'"
 * ```
 */
export class GrpcError extends Error {
  /** The gRPC status code. */
  readonly code: Status;
  /** The status message sent on the wire. */
  readonly details: string;
  /** Trailing metadata of the status. */
  readonly metadata: Metadata;
  /** The method path, when known. */
  readonly method: string | undefined;

  /**
   * Creates the error.
   *
   * @param code The gRPC status code (not OK).
   * @param details The status message.
   * @param options Metadata, cause and method.
   * @throws {RangeError} When `code` is OK or not an integer from 1 to 16: a call that failed needs a failing status.
   */
  constructor(code: Status, details: string, options: GrpcErrorOptions = {}) {
    if (!Number.isInteger(code) || code < 1 || code > 16) {
      const name = code === Status.OK ? " (OK)" : "";
      throw new RangeError(`A GrpcError's code must be an integer from 1 to 16, got ${String(code)}${name}`);
    }
    const prefix = options.method ? `${options.method} ` : "";
    super(`${prefix}${statusName(code)}: ${details}`, { cause: options.cause });
    this.name = "GrpcError";
    this.code = code;
    this.details = details;
    this.metadata = options.metadata ?? new Metadata();
    this.method = options.method;
  }

  /**
   * Turns anything thrown into a `GrpcError`: a `GrpcError` is returned as it
   * is, an `AbortError` becomes `CANCELLED`, a `TimeoutError` becomes
   * `DEADLINE_EXCEEDED`, and anything else `UNKNOWN`.
   *
   * @param error What was thrown.
   * @param method The method path, for the message.
   * @returns The error as a `GrpcError`.
   */
  static from(error: unknown, method?: string): GrpcError {
    if (error instanceof GrpcError) return error;
    const name = error instanceof Error ? error.name : undefined;
    if (name === "AbortError") {
      return new GrpcError(Status.CANCELLED, (error as Error).message || "the call was cancelled", {
        cause: error,
        method,
      });
    }
    if (name === "TimeoutError") {
      return new GrpcError(Status.DEADLINE_EXCEEDED, (error as Error).message || "deadline exceeded", {
        cause: error,
        method,
      });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new GrpcError(Status.UNKNOWN, message, { cause: error, method });
  }
}
