/**
 * Every touch of grpc-js internals, in one place.
 *
 * The strict framing checks, the drain gate, the limits and write coalescing need the
 * `node:http2` servers a grpc-js server listens with; grpc-js keeps them in
 * the private field `http2Servers` and has no public accessor. The module
 * pins grpc-js exactly ({@linkcode TESTED_GRPC_JS}, and a test keeps
 * `deno.json` equal to it), and fails loudly at start when the field is gone.
 *
 * @module
 */
import type * as http2 from "node:http2";
import type * as grpc from "@grpc/grpc-js";

/** The grpc-js version these internals were written and tested against. */
export const TESTED_GRPC_JS = "1.14.7";

/**
 * The `node:http2` servers a bound grpc-js server listens with.
 *
 * @param server A grpc-js server, after `bindAsync()` succeeded.
 * @returns Its HTTP/2 servers.
 * @throws {Error} When this grpc-js has no such field (it was upgraded).
 */
export function http2ServersOf(server: grpc.Server): http2.Http2Server[] {
  const servers: unknown = Reflect.get(server, "http2Servers");
  if (!(servers instanceof Map) || servers.size === 0) {
    throw new Error(
      `Cannot reach grpc-js's HTTP/2 servers: this grpc-js has no 'http2Servers' map ` +
        `(tested with grpc-js ${TESTED_GRPC_JS}; was it upgraded?)`,
    );
  }
  return [...servers.keys()] as http2.Http2Server[];
}

/**
 * The intercepting call under a handler's call object (what server
 * interceptors were given): grpc-js keeps it in the private field `call`.
 *
 * @param call The call a grpc-js handler received.
 * @returns The intercepting call, or undefined when this grpc-js has no such field.
 */
export function interceptingCallOf(call: object): object | undefined {
  const inner: unknown = Reflect.get(call, "call");
  return typeof inner === "object" && inner !== null ? inner : undefined;
}
