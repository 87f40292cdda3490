/**
 * Bounded waits for tests: an event that never comes fails the test with what
 * was awaited, instead of hanging the run.
 *
 * @module
 */

/**
 * Resolves as `promise` does, or rejects after `timeoutMs` naming `what`.
 *
 * @param promise The event, as a promise.
 * @param what What it means, for the failure message ("the handler's signal fired").
 * @param timeoutMs The bound. Default 5000.
 * @returns The promise's value.
 */
export async function settles<T>(promise: Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs}ms waiting until ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
