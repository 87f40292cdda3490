/**
 * An offline stand-in for `jsr:@std/assert`, for machines that cannot reach
 * JSR: the same names and semantics for the functions our tests use, built
 * on `node:assert/strict`. `tests/import_map.json` maps `@std/assert` here;
 * `tests/import_map_test.ts` checks that map against deno.json.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Thrown when an assertion fails. */
export class AssertionError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AssertionError";
  }
}

function rethrow(error: unknown, msg?: string): never {
  const message = error instanceof Error ? error.message : String(error);
  throw new AssertionError(msg ? `${msg}: ${message}` : message, { cause: error });
}

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || "Expected expression to be truthy");
}

/** Asserts deep equality, as `@std/assert`'s `assertEquals`. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  try {
    nodeAssert.deepStrictEqual(actual, expected);
  } catch (error) {
    rethrow(error, msg);
  }
}

/** Asserts deep inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  try {
    nodeAssert.notDeepStrictEqual(actual, expected);
  } catch (error) {
    rethrow(error, msg);
  }
}

/** Asserts `Object.is` equality. */
export function assertStrictEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  try {
    nodeAssert.strictEqual(actual, expected);
  } catch (error) {
    rethrow(error, msg);
  }
}

/** Asserts that `actual` is neither null nor undefined. */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  if (actual === undefined || actual === null) {
    throw new AssertionError(msg ?? `Expected actual: "${actual}" to not be null or undefined`);
  }
}

/** Asserts that `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (!expected.test(actual)) {
    throw new AssertionError(msg ?? `Expected actual: "${actual}" to match: "${expected}"`);
  }
}

/** Asserts that `actual` includes `expected`. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError(msg ?? `Expected actual: "${actual}" to contain: "${expected}"`);
  }
}

/** Asserts that `actual` includes every item of `expected` (deep equality). */
export function assertArrayIncludes<T>(actual: ArrayLike<T>, expected: ArrayLike<T>, msg?: string): void {
  const items = Array.from(actual);
  const missing = Array.from(expected).filter((e) => !items.some((a) => isDeepEqual(a, e)));
  if (missing.length > 0) {
    throw new AssertionError(msg ?? `Expected actual: "${Deno.inspect(items)}" to include: "${Deno.inspect(missing)}"`);
  }
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    nodeAssert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** Asserts `actual > expected`. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual > expected)) throw new AssertionError(msg ?? `Expect ${actual} > ${expected}`);
}

/** Asserts `actual >= expected`. */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual >= expected)) throw new AssertionError(msg ?? `Expect ${actual} >= ${expected}`);
}

/** Asserts `actual < expected`. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual < expected)) throw new AssertionError(msg ?? `Expect ${actual} < ${expected}`);
}

/** Asserts `actual <= expected`. */
export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual <= expected)) throw new AssertionError(msg ?? `Expect ${actual} <= ${expected}`);
}

// deno-lint-ignore no-explicit-any
type AnyConstructor = new (...args: any[]) => any;

/** Asserts that `actual` is an instance of `expectedType`. */
export function assertInstanceOf<T extends AnyConstructor>(
  actual: unknown,
  expectedType: T,
  msg?: string,
): asserts actual is InstanceType<T> {
  if (!(actual instanceof expectedType)) {
    throw new AssertionError(msg ?? `Expected object to be an instance of "${expectedType.name}"`);
  }
}

function checkError(
  error: unknown,
  ErrorClass?: AnyConstructor,
  msgIncludes?: string,
  msg?: string,
): void {
  if (ErrorClass && !(error instanceof ErrorClass)) {
    throw new AssertionError(
      msg ??
        `Expected error to be instance of "${ErrorClass.name}", but was "${(error as Error)?.name}": ${String(error)}`,
    );
  }
  if (msgIncludes !== undefined) {
    const message = error instanceof Error ? error.message : String(error);
    if (!message.includes(msgIncludes)) {
      throw new AssertionError(msg ?? `Expected error message to include "${msgIncludes}", but got "${message}"`);
    }
  }
}

/** Asserts that `fn` throws; returns what it threw. */
export function assertThrows<E extends AnyConstructor = ErrorConstructor>(
  fn: () => unknown,
  ErrorClass?: E,
  msgIncludes?: string,
  msg?: string,
): InstanceType<E> {
  try {
    fn();
  } catch (error) {
    checkError(error, ErrorClass, msgIncludes, msg);
    return error as InstanceType<E>;
  }
  throw new AssertionError(msg ?? "Expected function to throw");
}

/** Asserts that `fn` rejects; resolves with what it rejected with. */
export async function assertRejects<E extends AnyConstructor = ErrorConstructor>(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: E,
  msgIncludes?: string,
  msg?: string,
): Promise<InstanceType<E>> {
  try {
    await fn();
  } catch (error) {
    checkError(error, ErrorClass, msgIncludes, msg);
    return error as InstanceType<E>;
  }
  throw new AssertionError(msg ?? "Expected function to reject");
}

/** Fails the test. */
export function fail(msg?: string): never {
  throw new AssertionError(`Failed assertion${msg ? `: ${msg}` : "."}`);
}
