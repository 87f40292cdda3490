/**
 * A small Chrome DevTools Protocol client for a child Deno started with
 * `--inspect=127.0.0.1:<port>`. The soak uses it to read the server's JS heap and
 * to force a full garbage collection there, so that garbage V8 has not yet
 * collected is not taken for a leak. Nothing in the server knows about it.
 *
 * @module
 */

/** The JS heap of the inspected process, in bytes. */
export interface HeapUsage {
  /** Bytes of live and not-yet-collected objects. */
  used: number;
  /** Bytes V8 has committed for the heap (what of RSS is the JS heap). */
  total: number;
}

/**
 * A free port for `--inspect=127.0.0.1:<port>` (a child run with `--quiet`
 * does not print where its inspector listens, so the port is chosen here).
 */
export function freeInspectorPort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

/** One inspector session over a WebSocket. */
export class Inspector {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id!);
      if (message.error) waiter.reject(new Error(`inspector: ${message.error.message}`));
      else waiter.resolve(message.result);
    };
    socket.onclose = () => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error("inspector: the connection closed"));
      this.#pending.clear();
    };
  }

  /**
   * Opens a session with the process inspected on `127.0.0.1:<port>`.
   *
   * @param port The port given to `--inspect`.
   * @param timeoutMs How long to wait for the inspector to answer.
   * @throws {Error} When it does not answer in time, or the socket does not open.
   */
  static async connect(port: number, timeoutMs = 10_000): Promise<Inspector> {
    const deadline = performance.now() + timeoutMs;
    let url: string | undefined;
    while (url === undefined) {
      try {
        const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
        url = (targets as { webSocketDebuggerUrl?: string }[])[0]?.webSocketDebuggerUrl;
      } catch (error) {
        if (performance.now() > deadline) {
          throw new Error(`inspector: nothing answers on 127.0.0.1:${port}`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`inspector: cannot connect to ${url}`));
    });
    return new Inspector(socket);
  }

  /** Sends one command and resolves with its result. */
  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** The heap as it is now. */
  async heap(): Promise<HeapUsage> {
    const usage = await this.send<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage");
    return { used: usage.usedSize, total: usage.totalSize };
  }

  /** The heap after a full, forced garbage collection: `used` is then what is live. */
  async heapAfterGc(): Promise<HeapUsage> {
    await this.send("HeapProfiler.collectGarbage");
    return await this.heap();
  }

  /** Closes the session (a Deno process with a session open waits for it before it exits). */
  close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#socket.addEventListener("close", () => resolve()));
    this.#socket.close();
    return closed;
  }
}
