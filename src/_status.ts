/**
 * The gRPC status codes and their names, with no dependency, so that code
 * that loads nothing else (the command line's light unary call) can use them.
 *
 * @module
 */

/** The gRPC status codes. */
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

/** A gRPC status code. */
export type Status = typeof Status[keyof typeof Status];

const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Status).map(([name, code]) => [code, name]),
);

/**
 * The name of a status code.
 *
 * @param code The code.
 * @returns Its name, such as `"DEADLINE_EXCEEDED"`, or `CODE_<n>` for an unknown one.
 */
export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? `CODE_${code}`;
}
