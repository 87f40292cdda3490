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

/**
 * Waits until the server closes `conn` (EOF or a reset, after whatever it
 * sent, which is read and dropped), for at most `timeoutMs`; closes `conn`
 * either way.
 *
 * @param conn A connection to the server.
 * @param timeoutMs The bound.
 * @returns The ms until the server closed it, or undefined when it had not by `timeoutMs`.
 */
export async function closedByServer(conn: Deno.Conn, timeoutMs: number): Promise<number | undefined> {
  const started = performance.now();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, timeoutMs);
  try {
    while (await conn.read(new Uint8Array(16 * 1024)) !== null) { /* the server's SETTINGS, say */ }
  } catch {
    // reset by the server (or a TLS stream cut without close_notify), or closed by our timer
  }
  clearTimeout(timer);
  if (timedOut) return undefined;
  const ms = performance.now() - started;
  conn.close();
  return ms;
}
