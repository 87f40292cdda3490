/**
 * One port shared by several workers, each handing its connections to its
 * own grpc-js server through its public
 * `createConnectionInjector()`: what lets several workers listen on one port
 * (`SO_REUSEPORT`, which `node:net` accepts on Deno), each with its own
 * grpc-js server, the kernel spreading the connections among them.
 *
 * @module
 */
import * as net from "node:net";
import type * as grpc from "@grpc/grpc-js";

/** A socket listening for one grpc-js server. */
export interface Listener {
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting connections; those already handed over stay with grpc-js. */
  close(): Promise<void>;
}

/**
 * Listens on `hostname:port` with `SO_REUSEPORT` and hands every connection
 * to `server`, as if grpc-js had accepted it.
 *
 * @param server The grpc-js server, with its services added.
 * @param credentials Its credentials, as `bindAsync()` would take them.
 * @param hostname The address.
 * @param port The port; 0 picks a free one.
 * @returns The listener, once listening.
 * @throws {Error} When the address cannot be bound (the cause is the system error).
 */
export function listenReusePort(
  server: grpc.Server,
  credentials: grpc.ServerCredentials,
  hostname: string,
  port: number,
): Promise<Listener> {
  const injector = server.createConnectionInjector(credentials);
  const socketServer = net.createServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
  return new Promise<Listener>((resolve, reject) => {
    socketServer.once("error", reject);
    // `reusePort` is Deno's (and Node 22's) option; Node 20's types lack it.
    socketServer.listen(
      { host: hostname.replace(/^\[(.*)\]$/, "$1"), port, reusePort: true } as net.ListenOptions,
      () => {
        socketServer.off("error", reject);
        const address = socketServer.address() as net.AddressInfo;
        let closing: Promise<void> | undefined;
        resolve({
          port: address.port,
          close: () => closing ??= new Promise<void>((done) => socketServer.close(() => done())),
        });
      },
    );
  });
}
