/**
 * The Greeter client: {@linkcode createGreeterClient}, a few lines over the
 * generic {@linkcode createClient}; run, the `deno task call` command line
 * (in `src/_call_cli.ts`, which loads this module only when it needs it).
 *
 * @module
 */
import { type Client, type ClientOptions, createClient } from "./src/client.ts";
import { Greeter } from "./proto/hello.ts";
import { exitWithError } from "./src/_cli.ts";

/** Options of {@linkcode createGreeterClient}. */
export type GreeterClientOptions = ClientOptions;

/** A client of the Greeter service: one method per RPC. */
export type GreeterClient = Client<typeof Greeter>;

/**
 * Creates a client of the Greeter service at `address`.
 *
 * @example Call SayHello
 * ```ts
 * import { createGreeterClient } from "./mod.ts";
 *
 * using client = createGreeterClient("127.0.0.1:8001");
 * try {
 *   const reply = await client.sayHello({ name: "zzz" }, { timeout: 1000 });
 *   console.log(reply.name); // "我是zzz"
 * } catch (error) {
 *   console.error(String(error)); // e.g. "GrpcError: /Greeter/SayHello UNAVAILABLE: ..."
 * }
 * ```
 *
 * @param address `host:port` of the server, such as `server.address`; or
 *   several, as an array or a comma-separated string; or a `dns:` name.
 * @param options Channel options, load balancing and retries.
 * @returns The client; close it when done.
 * @throws {TypeError} When `address` is not `host:port`.
 * @throws {RangeError} When its port is out of range.
 */
export function createGreeterClient(
  address: string | readonly string[],
  options: GreeterClientOptions = {},
): GreeterClient {
  return createClient(Greeter, address, options);
}

if (import.meta.main) {
  try {
    const { main } = await import("./src/_call_cli.ts");
    await main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
