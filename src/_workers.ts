/**
 * Several servers on one port, one per Web Worker: the supervising side.
 * Each worker imports the user's `workerModule`, serves its `services` with
 * its own grpc-js server and listener (`SO_REUSEPORT`), and reports back;
 * this side starts them, replaces one that dies, forwards call events, and
 * drains them all on shutdown.
 *
 * Web Workers rather than child processes: they need no `--allow-run` (a
 * child `deno` would need it, and with it the right to start any program),
 * inherit the server's permissions as they are, and measured as fast (see
 * the README's Benchmarks).
 *
 * @module
 */
import type { CallEvent, LimitEvent, Server, ServerOptions } from "./server.ts";
import { limitReporter } from "./_guard.ts";
import { releaseWorkerSlots, sharedSlots } from "./_listener_shared.ts";
import type { HealthStatuses, ServingStatus } from "./health.ts";
import { formatHostPort } from "./_cli.ts";

/** What happened to a worker, as {@linkcode WorkerEvent} reports it. */
export type WorkerEventKind = "started" | "died";

/** A worker started, or died (and is being replaced unless the server is shutting down). */
export interface WorkerEvent {
  /** The worker's number, from 1. */
  worker: number;
  /** What happened. */
  kind: WorkerEventKind;
  /** Why it died. */
  reason?: string;
}

/** The most workers a server runs. */
export const MAX_WORKERS = 256;

/**
 * The number of workers an option asks for.
 *
 * @param value A count, `"auto"` (one per core) or undefined (1).
 * @returns The count.
 * @throws {RangeError} When it is neither `"auto"` nor an integer from 1 to {@linkcode MAX_WORKERS}.
 */
export function workerCount(value: number | "auto" | undefined): number {
  if (value === undefined) return 1;
  if (value === "auto") return Math.max(1, navigator.hardwareConcurrency || 1);
  if (!Number.isInteger(value) || value < 1 || value > MAX_WORKERS) {
    throw new RangeError(`Workers must be "auto" or an integer from 1 to ${MAX_WORKERS}, got ${value}`);
  }
  return value;
}

/** The first message a worker gets. */
export interface WorkerInit {
  type: "init";
  module: string;
  worker: number;
  /** The cloneable options: everything but the services, the hooks and the signal. */
  options: Record<string, unknown>;
  /** Shared by every worker: their open connections and fd episodes (`SharedLimits` in `_listener_shared.ts`). */
  slots: Int32Array;
  reportCalls: boolean;
  reportErrors: boolean;
}

/** What a worker sends. */
export type FromWorker =
  | { type: "listening"; port: number }
  | { type: "failed"; name: string; message: string }
  | { type: "call"; event: CallEvent }
  | { type: "limit"; event: LimitEvent }
  | { type: "error"; method: string; error: unknown }
  | { type: "stopped" };

/** What a worker is sent after "init". */
export type ToWorker = { type: "shutdown" } | { type: "health"; service: string; status: ServingStatus };

function rebuild(name: string, message: string): Error {
  if (name === "TypeError") return new TypeError(message);
  if (name === "RangeError") return new RangeError(message);
  return new Error(message);
}

/**
 * Starts `count` workers serving on one port; resolves once all listen.
 *
 * @param options The server's options; `workerModule` is required.
 * @param count How many workers.
 * @returns The server: its address, and a shutdown that drains every worker.
 * @throws {TypeError} When `workerModule` is missing, or an option cannot be sent to a worker.
 * @throws {Error} When a worker cannot start (its own error).
 */
export async function startWorkers(options: ServerOptions, count: number): Promise<Server> {
  const {
    signal,
    onCall,
    onError,
    onWorker,
    onLimit,
    services: _services,
    workers: _workers,
    workerModule,
    ...cloneable
  } = options;
  if (workerModule === undefined) {
    throw new TypeError(
      "More than one worker needs workerModule: a module exporting `services`, which each worker imports " +
        "(handlers cannot be sent to a worker)",
    );
  }
  let module: string;
  try {
    module = new URL(workerModule).href;
  } catch {
    throw new TypeError(
      `workerModule must be an absolute URL (new URL("./x.ts", import.meta.url)), got '${workerModule}'`,
    );
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const report = onWorker ?? ((event: WorkerEvent) => {
    if (event.kind === "died") console.error(`worker ${event.worker} died (${event.reason}); starting another`);
  });
  const live = new Map<number, Worker>();
  // Limits bite in the workers; each kind is reported once for all of them.
  const reportLimit = limitReporter(onLimit);
  const slots = sharedSlots(count);
  let shuttingDown = false;
  let port = options.port ?? 0;
  // Statuses set through the returned server, sent to every worker, new ones too.
  const statuses = new Map<string, ServingStatus>();
  const health: HealthStatuses = {
    set(service, status) {
      if (typeof service !== "string" || !["UNKNOWN", "SERVING", "NOT_SERVING"].includes(status)) {
        throw new TypeError(
          `A health status needs a service name and UNKNOWN, SERVING or NOT_SERVING, got '${status}'`,
        );
      }
      if (shuttingDown) return;
      statuses.set(service, status);
      for (const worker of live.values()) worker.postMessage({ type: "health", service, status } satisfies ToWorker);
    },
    get: (service) => statuses.get(service),
  };

  /** Starts worker `id` and resolves with its port once it listens. */
  function spawn(id: number): Promise<number> {
    const worker = new Worker(new URL("./_worker.ts", import.meta.url), { type: "module", name: `worker-${id}` });
    live.set(id, worker);
    return new Promise<number>((resolve, reject) => {
      let listening = false;
      worker.onmessage = (message: MessageEvent<FromWorker>) => {
        const data = message.data;
        switch (data.type) {
          case "listening":
            listening = true;
            for (const [service, status] of statuses) worker.postMessage({ type: "health", service, status });
            report({ worker: id, kind: "started" });
            resolve(data.port);
            break;
          case "failed":
            live.delete(id);
            worker.terminate();
            reject(rebuild(data.name, data.message));
            break;
          case "call":
            onCall?.(data.event);
            break;
          case "limit":
            reportLimit(data.event.limit, data.event.detail);
            break;
          case "error":
            onError?.(data.error, data.method);
            break;
        }
      };
      worker.onerror = (event: ErrorEvent) => {
        // Handled here: left alone, a worker's uncaught error ends the whole process.
        event.preventDefault();
        worker.terminate();
        if (live.get(id) === worker) live.delete(id);
        const reason = event.message || "uncaught error";
        if (!listening) return reject(new Error(`Worker ${id} failed to start: ${reason}`));
        stoppedOne(id, worker);
        releaseWorkerSlots(slots, id);
        if (shuttingDown) return;
        report({ worker: id, kind: "died", reason });
        spawn(id).catch((error) => console.error(`worker ${id} could not be replaced: ${(error as Error).message}`));
      };
      try {
        worker.postMessage(
          {
            type: "init",
            module,
            worker: id,
            options: { ...cloneable, hostname, port },
            slots,
            reportCalls: onCall !== undefined,
            reportErrors: onError !== undefined,
          } satisfies WorkerInit,
        );
      } catch (error) {
        live.delete(id);
        worker.terminate();
        reject(new TypeError(`An option cannot be sent to a worker: ${(error as Error).message}`));
      }
    });
  }

  // Workers waiting for their "stopped", during shutdown.
  const stopping = new Map<Worker, () => void>();
  function stoppedOne(_id: number, worker: Worker): void {
    stopping.get(worker)?.();
  }

  try {
    port = await spawn(1);
    await Promise.all(Array.from({ length: count - 1 }, (_, i) => spawn(i + 2)));
  } catch (error) {
    for (const worker of live.values()) worker.terminate();
    live.clear();
    throw error;
  }

  let shutdownPromise: Promise<void> | undefined;
  const gracePeriodMs = options.gracePeriodMs ?? 5000;
  async function drainAll(): Promise<void> {
    shuttingDown = true;
    signal?.removeEventListener("abort", onAbort);
    await Promise.all([...live.values()].map((worker) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          stopping.delete(worker);
          worker.terminate();
          resolve();
        };
        stopping.set(worker, done);
        // A worker that does not answer in time (it drains within the grace period) is ended.
        const timer = setTimeout(done, gracePeriodMs + 2000);
        const previous = worker.onmessage;
        worker.onmessage = (message: MessageEvent<FromWorker>) => {
          if (message.data.type === "stopped") return done();
          previous?.call(worker, message);
        };
        worker.postMessage({ type: "shutdown" });
      })
    ));
    live.clear();
  }
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);
  function shutdown(): Promise<void> {
    shutdownPromise ??= drainAll().then(resolveFinished);
    return shutdownPromise;
  }
  const onAbort = () => void shutdown();
  if (signal?.aborted) await shutdown();
  else signal?.addEventListener("abort", onAbort, { once: true });

  return {
    hostname,
    port,
    address: formatHostPort(hostname, port),
    finished,
    health,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
