/**
 * The Greeter client: {@linkcode createGreeterClient}, a few lines over the
 * generic {@linkcode createClient}, and the `deno task call` command line.
 *
 * @module
 */
import { type Client, type ClientOptions, createClient } from "./src/client.ts";
import type { CallOptions } from "./src/client.ts";
import { Greeter } from "./proto/hello.ts";
import {
  exitWithError,
  formatHostPort,
  parseCount,
  parseFlags,
  parseHost,
  parseMs,
  parsePort,
  requireNetPermission,
  UsageError,
} from "./src/_cli.ts";

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

const CALL_HELP = `Call the Greeter over gRPC (the tutorial's client).

Usage: deno task call [options]

Options:
  --host <host>       server address (default 127.0.0.1; IPv6 as ::1 or [::1])
  --port <port>       server port (default 8001)
  --address <list>    servers as host:port, comma-separated, instead of
                      --host/--port: 127.0.0.1:5001,127.0.0.1:5002
  --target <name>     a gRPC name instead of --host/--port, such as
                      dns:///localhost:8001 (every address it resolves to)
  --lb <policy>       round_robin (default for several servers) or pick_first
  --wait-for-ready    wait for a server until the deadline instead of failing
                      at once with UNAVAILABLE
  --name <name>       the name to send (default zzz); repeat it to send several
                      names with --rpc greetings or --rpc bidi
  --rpc <kind>        which RPC to call (default hello):
                        hello      SayHello, unary
                        replies    LotsOfReplies, server streaming
                        greetings  LotsOfGreetings, client streaming
                        bidi       BidiHello, bidirectional streaming
  --count <n>         replies to ask for with --rpc replies (default 3)
  --interval <ms>     pause between replies with --rpc replies (default 0)
  --timeout <ms>      deadline of the call (default 10000 for hello,
                      none for the streaming RPCs)
  --help              show this help

Prints each reply's name on its own line. Fails with one line on stderr and
exit code 1 when the call fails, 2 when the flags are wrong.`;

const RPC_KINDS = ["hello", "replies", "greetings", "bidi"] as const;

async function main(args: string[]): Promise<void> {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8001" },
    address: { type: "string" },
    target: { type: "string" },
    lb: { type: "string" },
    "wait-for-ready": { type: "boolean", default: false },
    name: { type: "string", multiple: true },
    rpc: { type: "string", default: "hello" },
    count: { type: "string", default: "0" },
    interval: { type: "string", default: "0" },
    timeout: { type: "string" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(CALL_HELP);
    return;
  }
  const names = values.name ?? ["zzz"];
  const rpc = values.rpc as typeof RPC_KINDS[number];
  if (!RPC_KINDS.includes(rpc)) {
    throw new UsageError(`--rpc must be one of ${RPC_KINDS.join(", ")}, got '${values.rpc}'`);
  }
  const port = parsePort(values.port, "--port");
  const host = parseHost(values.host);
  const servers = parseServers(args, values.address, values.target);
  const loadBalancing = values.lb as GreeterClientOptions["loadBalancing"];
  if (loadBalancing !== undefined && loadBalancing !== "round_robin" && loadBalancing !== "pick_first") {
    throw new UsageError(`--lb must be round_robin or pick_first, got '${values.lb}'`);
  }
  if (rpc !== "replies") {
    for (const flag of ["count", "interval"] as const) {
      if (args.some((arg) => arg === `--${flag}` || arg.startsWith(`--${flag}=`))) {
        throw new UsageError(`--${flag} only applies to --rpc replies`);
      }
    }
  }
  if (names.length > 1 && (rpc === "hello" || rpc === "replies")) {
    throw new UsageError(`--rpc ${rpc} sends one name; repeat --name only with --rpc greetings or bidi`);
  }

  const count = parseCount(values.count, "--count");
  const intervalMs = parseCount(values.interval, "--interval");
  const timeout = values.timeout === undefined
    ? (rpc === "hello" ? 10_000 : undefined)
    : parseMs(values.timeout, "--timeout");
  for (const server of servers?.hosts ?? [host]) requireNetPermission(server, "client.ts");

  using client = createGreeterClient(servers?.address ?? formatHostPort(host, port), { loadBalancing });
  const options: CallOptions = { timeout, waitForReady: values["wait-for-ready"] };
  const requests = names.map((name) => ({ name }));
  switch (rpc) {
    case "hello":
      console.log((await client.sayHello(requests[0]!, options)).name);
      break;
    case "replies":
      for await (const reply of client.lotsOfReplies({ name: names[0], count, intervalMs }, options)) {
        console.log(reply.name);
      }
      break;
    case "greetings":
      console.log((await client.lotsOfGreetings(requests, options)).name);
      break;
    case "bidi":
      for await (const reply of client.bidiHello(requests, options)) console.log(reply.name);
      break;
  }
}

/** The servers of `--address` or `--target`, and their hosts (for the permission check). */
function parseServers(args: string[], list?: string, target?: string) {
  if (list === undefined && target === undefined) return undefined;
  const given = (flag: string) => args.some((arg) => arg === flag || arg.startsWith(`${flag}=`));
  const clash = ["--host", "--port", ...(list !== undefined && target !== undefined ? ["--target"] : [])].find(given);
  if (clash) throw new UsageError(`${clash} cannot be used with --${list !== undefined ? "address" : "target"}`);
  if (target !== undefined) {
    const match = /^dns:(?:\/\/[^/]*\/)?(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(target);
    if (!match) throw new UsageError(`--target must be a dns: name such as dns:///localhost:8001, got '${target}'`);
    return { address: target, hosts: [parseHost(match[1]!, "--target")] };
  }
  const parts = list!.split(",").map((part) => part.trim());
  const hosts = parts.map((part) => {
    const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(part);
    if (!match) throw new UsageError(`--address takes host:port, comma-separated, got '${part}'`);
    parsePort(match[2]!, "--address port");
    return parseHost(match[1]!, "--address");
  });
  return { address: parts.join(","), hosts };
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
