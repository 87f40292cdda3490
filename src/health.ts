/**
 * gRPC health checking (`grpc.health.v1.Health`, gRPC's
 * `doc/health-checking.md`): a serving status per service name, `""` being
 * the whole server, that `Check` answers and `Watch` streams. A server made
 * with `health: true` hosts it and keeps the statuses in `server.health`;
 * when its graceful shutdown begins, every status turns `NOT_SERVING` before
 * the drain, so that balancers and probes stop sending calls first.
 *
 * @module
 */
import { GrpcError, Status } from "./errors.ts";
import type { CallContext, ServiceEntry } from "./server.ts";
import {
  Health,
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus as Wire,
} from "../proto/grpc/health/v1/health.ts";

/** A serving status that a service may be set to. */
export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING";

/** The serving statuses of a server's services, as its health service reports them. */
export interface HealthStatuses {
  /**
   * Sets the status of a service, and tells the clients watching it. Ignored
   * once the server's shutdown has begun: then every status stays `NOT_SERVING`.
   *
   * @param service A fully qualified service name, such as `"Greeter"` or `"grpc.testing.TestService"`; `""` is the whole server.
   * @param status The new status.
   * @throws {TypeError} When the name is not a string or the status is not one of {@linkcode ServingStatus}.
   */
  set(service: string, status: ServingStatus): void;
  /**
   * The status of a service.
   *
   * @param service A service name; `""` is the whole server.
   * @returns Its status, or `undefined` when it was never set (`Check` then answers `NOT_FOUND`).
   */
  get(service: string): ServingStatus | undefined;
}

/** The health service of one server: its statuses, its handlers, and its part in shutdown. */
export interface HealthControl {
  /** The statuses, as `server.health` exposes them. */
  readonly statuses: HealthStatuses;
  /** `grpc.health.v1.Health` and its handlers, to host. */
  readonly entry: ServiceEntry<typeof Health>;
  /** Turns every status `NOT_SERVING` for good, and ends the `Watch` streams once they have sent it. */
  shutdown(): void;
}

const WIRE: Readonly<Record<ServingStatus, Wire>> = {
  UNKNOWN: Wire.UNKNOWN,
  SERVING: Wire.SERVING,
  NOT_SERVING: Wire.NOT_SERVING,
};

interface Watcher {
  /** The status to send next (the latest, when several changes came in between). */
  pending: Wire | undefined;
  wake(): void;
}

/**
 * Creates the health service of a server whose named services are all `SERVING`.
 *
 * @param services The names to start as `SERVING`; `""` (the whole server) is always among them.
 * @returns The statuses, the service entry and the shutdown hook.
 */
export function createHealth(services: Iterable<string> = []): HealthControl {
  const statuses = new Map<string, ServingStatus>([["", "SERVING"]]);
  for (const name of services) statuses.set(name, "SERVING");
  const watchers = new Map<string, Set<Watcher>>();
  let closed = false;

  function notify(service: string): void {
    const status = statuses.get(service);
    for (const watcher of watchers.get(service) ?? []) {
      watcher.pending = status === undefined ? Wire.SERVICE_UNKNOWN : WIRE[status];
      watcher.wake();
    }
  }

  const handlers = {
    check({ service }: HealthCheckRequest): { status: Wire } {
      const status = statuses.get(service);
      if (status === undefined) throw new GrpcError(Status.NOT_FOUND, `Unknown service '${service}'`);
      return { status: WIRE[status] };
    },
    async *watch({ service }: HealthCheckRequest, { signal }: CallContext): AsyncGenerator<HealthCheckResponse> {
      const status = statuses.get(service);
      let wake = () => {};
      const watcher: Watcher = {
        pending: status === undefined ? Wire.SERVICE_UNKNOWN : WIRE[status],
        wake: () => wake(),
      };
      const set = watchers.get(service) ?? new Set();
      watchers.set(service, set.add(watcher));
      signal.addEventListener("abort", watcher.wake);
      try {
        while (!signal.aborted) {
          if (watcher.pending !== undefined) {
            const next = watcher.pending;
            watcher.pending = undefined;
            yield { status: next };
            continue;
          }
          if (closed) return;
          await new Promise<void>((resolve) => wake = resolve);
        }
      } finally {
        signal.removeEventListener("abort", watcher.wake);
        set.delete(watcher);
        if (set.size === 0) watchers.delete(service);
      }
    },
  };

  return {
    statuses: {
      set(service: string, status: ServingStatus): void {
        if (typeof service !== "string") throw new TypeError(`Service name must be a string, got ${typeof service}`);
        if (!Object.hasOwn(WIRE, status)) {
          throw new TypeError(`Status must be "SERVING", "NOT_SERVING" or "UNKNOWN", got ${JSON.stringify(status)}`);
        }
        if (closed || statuses.get(service) === status) return;
        statuses.set(service, status);
        notify(service);
      },
      get: (service: string) => statuses.get(service),
    },
    entry: [Health, handlers],
    shutdown(): void {
      if (closed) return;
      for (const service of statuses.keys()) {
        if (statuses.get(service) !== "NOT_SERVING") {
          statuses.set(service, "NOT_SERVING");
          notify(service);
        }
      }
      closed = true;
      for (const set of watchers.values()) for (const watcher of set) watcher.wake();
    },
  };
}
