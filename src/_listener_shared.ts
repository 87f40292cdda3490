/**
 * One port shared by several workers, each handing its connections to its
 * own grpc-js server through its public
 * `createConnectionInjector()`: what lets several workers listen on one port
 * (`SO_REUSEPORT`, which `node:net` accepts on Deno, where `Deno.listen`'s
 * `reusePort` needs `--unstable-net`), each with its own grpc-js server, the
 * kernel spreading the connections among them.
 *
 * With {@linkcode SharedLimits}, each `node:net` socket goes through the same
 * {@linkcode admit} and `ConnectionSocket` as the single server's accept loop
 * (`_listener.ts`): a connection cap counted across the workers in shared
 * memory, the handshake timeout, and per-stream flushed bytes. Deno's
 * `node:net` server stops accepting for good, silently, once `accept()` has
 * failed for want of fds; so after each connection this listener checks that
 * one more fd can be opened, and when none can it flags the episode to every
 * worker (shared memory again), and each listens anew once fds are free.
 *
 * @module
 */
import * as net from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { acceptBackoff, admit, type AdmitOptions, type ConnectionSocket, isFdExhaustion } from "./_listener.ts";
import { NodeTransport } from "./_transport.ts";
import { unbracketHost } from "./_cli.ts";

/** A socket listening for one grpc-js server. */
export interface Listener {
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting connections; those already handed over stay with grpc-js. */
  close(): Promise<void>;
}

/**
 * The limits of {@linkcode admit}, the memory the workers share (made by
 * {@linkcode sharedSlots}) and this worker's number, from 1.
 */
export type SharedLimits = Omit<AdmitOptions, "onConnection" | "openCount"> & {
  readonly slots: Int32Array;
  readonly worker: number;
};

// The layout of the shared memory, here only: slot OPEN counts the open
// connections of all the workers (as admit() does), slot EXHAUSTED is set
// while fds are exhausted, and worker n's own count is at ownSlot(n).
const OPEN = 0;
const EXHAUSTED = 1;
const FIRST_OWN_SLOT = 2;

function ownSlot(worker: number): number {
  return FIRST_OWN_SLOT + worker - 1;
}

/**
 * The memory `count` workers share to apply the connection limits together.
 *
 * @param count The number of workers.
 * @returns Zeroed slots on a `SharedArrayBuffer`.
 */
export function sharedSlots(count: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * (FIRST_OWN_SLOT + count)));
}

/**
 * Takes a dead worker's connections out of the shared count, and ends an fd
 * episode it may have flagged.
 *
 * @param slots What {@linkcode sharedSlots} made.
 * @param worker The worker's number, from 1.
 */
export function releaseWorkerSlots(slots: Int32Array, worker: number): void {
  Atomics.sub(slots, OPEN, Atomics.exchange(slots, ownSlot(worker), 0));
  if (Atomics.exchange(slots, EXHAUSTED, 0) !== 0) Atomics.notify(slots, EXHAUSTED);
}

/** Whether one more fd can be opened now: a listening socket on `hostname`, closed at once. */
function fdLeft(hostname: string): boolean {
  try {
    Deno.listen({ hostname, port: 0 }).close();
    return true;
  } catch (error) {
    return !isFdExhaustion(error);
  }
}

function listenOn(
  hostname: string,
  port: number,
  onSocket: (socket: net.Socket) => void,
  allowHalfOpen: boolean,
): Promise<net.Server> {
  // Half-open for a ConnectionSocket: like a Deno.TcpConn, EOF does not end the writing side.
  const socketServer = net.createServer({ noDelay: true, allowHalfOpen }, onSocket);
  return new Promise<net.Server>((resolve, reject) => {
    socketServer.once("error", reject);
    // `reusePort` is Deno's (and Node 22's) option; Node 20's types lack it.
    socketServer.listen(
      { host: unbracketHost(hostname), port, reusePort: true } as net.ListenOptions,
      () => {
        socketServer.off("error", reject);
        resolve(socketServer);
      },
    );
  });
}

/**
 * Listens on `hostname:port` with `SO_REUSEPORT` and hands every connection
 * to `server`, as if grpc-js had accepted it; with `limits`, through
 * {@linkcode admit}.
 *
 * @param server The grpc-js server, with its services added.
 * @param credentials Its credentials, as `bindAsync()` would take them.
 * @param hostname The address.
 * @param port The port; 0 picks a free one.
 * @param limits The connection limits (TLS included) and the workers' shared memory; none: connections go as they are (benchmarks only).
 * @returns The listener, once listening.
 * @throws {Error} When the address cannot be bound (the cause is the system error).
 */
export async function listenReusePort(
  server: grpc.Server,
  credentials: grpc.ServerCredentials,
  hostname: string,
  port: number,
  limits?: SharedLimits,
): Promise<Listener> {
  const injector = server.createConnectionInjector(credentials);
  const connections = new Set<ConnectionSocket>();
  const admitOptions: AdmitOptions | undefined = limits && {
    ...limits,
    openCount: { slots: limits.slots, own: ownSlot(limits.worker) },
    onConnection: (socket) => injector.injectConnection(socket),
  };
  // Probing costs a listening socket per connection; without the right to open one, recovery is off.
  const probe = limits !== undefined &&
    Deno.permissions.querySync({ name: "net", host: unbracketHost(hostname) }).state === "granted";
  let closed = false;
  let recovering = false;

  const onSocket = (socket: net.Socket) => {
    if (!admitOptions) return injector.injectConnection(socket);
    admit(new NodeTransport(socket), admitOptions, connections);
    if (probe && !recovering && !fdLeft(hostname)) exhausted();
  };
  let socketServer = await listenOn(hostname, port, onSocket, limits !== undefined);
  port = (socketServer.address() as net.AddressInfo).port;

  const slots = limits?.slots ?? new Int32Array(FIRST_OWN_SLOT);
  /** Whether this worker flagged the episode under way (and clears the flag once recovered). */
  let flagged = false;

  /** Flags the episode to every worker, once. */
  function exhausted(): void {
    if (Atomics.compareExchange(slots, EXHAUSTED, 0, 1) !== 0) return;
    flagged = true;
    limits!.onLimit("fds-exhausted", "no fd is left to accept connections; listening again once fds are free");
    Atomics.notify(slots, EXHAUSTED);
  }

  /** Waits until fds are free, then listens anew (the old socket may have stopped accepting) and closes the old one. */
  async function recover(): Promise<void> {
    recovering = true;
    for (let attempt = 0; !closed; attempt++) {
      await acceptBackoff(attempt);
      if (closed || !fdLeft(hostname)) continue;
      try {
        const fresh = await listenOn(hostname, port, onSocket, true);
        const old = socketServer;
        socketServer = fresh;
        old.close();
        if (closed) fresh.close();
        break;
      } catch {
        // fds ran out again: wait longer
      }
    }
    recovering = false;
    if (flagged) {
      flagged = false;
      Atomics.store(slots, EXHAUSTED, 0);
      Atomics.notify(slots, EXHAUSTED);
    }
  }

  /** Resolves once the episode flag is no longer `value` (or on any notify). */
  async function whileFlag(value: number): Promise<void> {
    const wait = Atomics.waitAsync(slots, EXHAUSTED, value);
    if (wait.async) await wait.value;
  }

  /** Recovers once per episode, whichever worker flagged it. */
  async function watch(): Promise<void> {
    while (!closed) {
      await whileFlag(0);
      if (closed) return;
      if (Atomics.load(slots, EXHAUSTED) === 0) continue;
      await recover();
      await whileFlag(1);
    }
  }
  if (probe) void watch();

  let closing: Promise<void> | undefined;
  return {
    port,
    close: () =>
      closing ??= new Promise<void>((done) => {
        closed = true;
        Atomics.notify(slots, EXHAUSTED);
        socketServer.close(() => done());
      }),
  };
}
