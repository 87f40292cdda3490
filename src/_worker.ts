/**
 * The worker side of {@linkcode createServer}'s `workers`: imports the
 * user's `workerModule`, serves its `services` on the shared port, forwards
 * limit events, and call events and errors when asked, and drains on "shutdown".
 *
 * @module
 */
import { serveHere, type Server, type ServerOptions } from "./server.ts";
import type { FromWorker, ToWorker, WorkerInit } from "./_workers.ts";

/** The worker's own scope, as far as this file uses it. */
interface Scope {
  onmessage: ((message: MessageEvent) => void) | null;
  postMessage(message: FromWorker): void;
  close(): void;
}
const scope = globalThis as unknown as Scope;

let server: Server | undefined;

async function init(data: WorkerInit): Promise<void> {
  try {
    const imported = await import(data.module);
    const services = imported.services;
    if (!Array.isArray(services)) {
      throw new TypeError(`workerModule '${data.module}' must export \`services\`, an array of [definition, handlers]`);
    }
    server = await serveHere(
      {
        ...data.options,
        services,
        onLimit: (event) => scope.postMessage({ type: "limit", event }),
        onCall: data.reportCalls ? (event) => scope.postMessage({ type: "call", event }) : undefined,
        onError: data.reportErrors
          ? (error, method) => {
            try {
              scope.postMessage({ type: "error", method, error });
            } catch {
              scope.postMessage({ type: "error", method, error: String(error) });
            }
          }
          : undefined,
      } as ServerOptions,
      { worker: data.worker, slots: data.slots },
    );
    scope.postMessage({ type: "listening", port: server.port });
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    scope.postMessage({ type: "failed", name: e.name, message: e.message });
  }
}

scope.onmessage = (message: MessageEvent<WorkerInit | ToWorker>) => {
  const data = message.data;
  if (data.type === "init") {
    void init(data);
  } else if (data.type === "health") {
    server?.health.set(data.service, data.status);
  } else if (data.type === "shutdown") {
    void (server?.shutdown() ?? Promise.resolve()).then(() => {
      scope.postMessage({ type: "stopped" });
      scope.close();
    });
  }
};
