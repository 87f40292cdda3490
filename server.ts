/**
 * The Greeter server: {@linkcode createGreeterServer}, a few lines over the
 * generic {@linkcode createServer}, and the `deno task serve` command line.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { createServer, type Server, type ServerBaseOptions } from "./src/server.ts";
import { Greeter, type GreeterHandlers, greeterHandlers } from "./src/greeter.ts";
import { Status, statusName } from "./src/errors.ts";
import { warningLine } from "./src/_h2_workaround.ts";
import { h2Workaround } from "./src/_h2_workaround.ts";
import { exitWithError, parseFlags, parseHost, parsePort, requireNetPermission, UsageError } from "./src/_cli.ts";
import { DEFAULT_LIMITS, type ServerLimits } from "./src/_limits.ts";

/** `maxCallUnflushedBytes` as the flag `--max-call-unflushed-bytes`. */
function flagName(limit: string): string {
  return limit.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[];

/** Options of {@linkcode createGreeterServer}. */
export interface GreeterServerOptions extends ServerBaseOptions {
  /** The port to listen on; 0 picks a free one. Default 8001, the tutorial's. */
  port?: number;
  /** Handlers replacing the defaults, for any of the RPCs. */
  handlers?: GreeterHandlers;
}

/** A listening Greeter server. */
export type GreeterServer = Server;

/**
 * Starts a Greeter server and resolves once it listens. Its handlers answer
 * as the tutorial's server does (`我是{name}`), unless replaced.
 *
 * @example Serve, call, stop
 * ```ts
 * import { createGreeterClient, createGreeterServer } from "./mod.ts";
 *
 * await using server = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });
 * using client = createGreeterClient(server.address);
 * const reply = await client.sayHello({ name: "zzz" });
 * console.log(reply.name); // "我是zzz"
 * ```
 *
 * @param options Where to listen, the handlers and the hooks.
 * @returns The listening server.
 * @throws {TypeError} When an option is invalid.
 * @throws {RangeError} When the port is out of range.
 * @throws {Error} When the address cannot be bound.
 */
export function createGreeterServer(options: GreeterServerOptions = {}): Promise<GreeterServer> {
  const { handlers, ...rest } = options;
  return createServer({
    ...rest,
    port: options.port ?? 8001,
    services: [[Greeter, { ...greeterHandlers, ...handlers }]],
  });
}

const SERVE_HELP = `Serve the Greeter over gRPC (the tutorial's server).

Usage: deno task serve [options]

Options:
  --host <host>   address to listen on (default 127.0.0.1; IPv6 as ::1 or [::1])
  --port <port>   port to listen on, 0 for any free one (default 8001)
  --verbose       log each call: method, status, duration
  --help          show this help

Limits on what one client may hold (each logged once, when it first bites):
${LIMIT_NAMES.map((name) => `  --${flagName(name)} <n>`.padEnd(40) + `default ${DEFAULT_LIMITS[name]}`).join("\n")}

Stops gracefully on SIGINT or SIGTERM.`;

async function main(args: string[]): Promise<void> {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8001" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
    ...Object.fromEntries(LIMIT_NAMES.map((name) => [flagName(name), { type: "string" as const }])),
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return;
  }
  const port = parsePort(values.port, "--port", { allowZero: true });
  const host = parseHost(values.host);
  const limits: Partial<ServerLimits> = {};
  for (const name of LIMIT_NAMES) {
    const value = (values as Record<string, unknown>)[flagName(name)];
    if (typeof value !== "string") continue;
    if (!/^\d+$/.test(value)) {
      throw new UsageError(`--${flagName(name)} must be a non-negative integer, got '${value}'`);
    }
    limits[name] = Number(value);
  }
  requireNetPermission(host, "server.ts");
  if (h2Workaround.active) console.error(warningLine());
  // Our own lines report what goes wrong; grpc-js's logger would add a second,
  // unless the user asked for it with GRPC_VERBOSITY.
  if (!Deno.env.get("GRPC_VERBOSITY") && !Deno.env.get("GRPC_NODE_VERBOSITY")) {
    grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  }
  const stop = new AbortController();
  const server = await createGreeterServer({
    hostname: host,
    port,
    signal: stop.signal,
    limits,
    onCall: values.verbose
      ? (event) =>
        console.log(
          `${event.method} ${statusName(event.code)} ${event.durationMs.toFixed(1)}ms` +
            (event.code === Status.OK ? "" : ` ${JSON.stringify(event.details)}`),
        )
      : undefined,
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => stop.abort());
  }
  console.log(`${Greeter.typeName} server listening on ${server.address}`);
  await server.finished;
  console.log("server stopped");
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
