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
import {
  exitWithError,
  parseBytes,
  parseCompression,
  parseCount,
  parseFlags,
  parseHost,
  parseMs,
  parsePort,
  readPemFile,
  requireNetPermission,
  requireReadPermission,
  tlsFlagError,
  UsageError,
} from "./src/_cli.ts";
import { isLoopback } from "./src/_tls.ts";
import type { ServerTlsOptions } from "./src/tls.ts";
import { workerCount } from "./src/_workers.ts";
import { DEFAULT_LIMITS, type ServerLimits } from "./src/_guard.ts";

/** `maxCallUnflushedBytes` as the flag `--max-call-unflushed-bytes`. */
function flagName(limit: string): string {
  return limit.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const HOSTILE_LIMITS = Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[];

/** Options of {@linkcode createGreeterServer}. */
export interface GreeterServerOptions extends ServerBaseOptions {
  /** The port to listen on; 0 picks a free one. Default 8001, the tutorial's. */
  port?: number;
  /** Handlers replacing the defaults, for any of the RPCs. */
  handlers?: GreeterHandlers;
  /** Host gRPC health checking (`grpc.health.v1.Health`). Default true. */
  health?: boolean;
  /** Host gRPC server reflection (`grpc.reflection.v1` and `v1alpha`). Default true. */
  reflection?: boolean;
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
  if (handlers !== undefined && workerCount(options.workers) > 1) {
    return Promise.reject(
      new TypeError(
        "Custom handlers cannot be sent to workers: use createServer with workerModule, a module exporting `services`",
      ),
    );
  }
  return createServer({
    ...rest,
    port: options.port ?? 8001,
    health: options.health ?? true,
    reflection: options.reflection ?? true,
    services: [[Greeter, { ...greeterHandlers, ...handlers }]],
    workerModule: new URL("./src/greeter_services.ts", import.meta.url),
  });
}

const SERVE_HELP = `Serve the Greeter over gRPC (the tutorial's server).

Usage: deno task serve [options]

Options:
  --host <host>   address to listen on (default 127.0.0.1; IPv6 as ::1 or [::1])
  --port <port>   port to listen on, 0 for any free one (default 8001)
  --workers <n>   servers on this port, each in a Web Worker; auto = one per core (default 1)
  --verbose       log each call: method, status, duration (and, with workers, which one)
  --tls-cert <f>  serve TLS with this PEM certificate (chain); needs --tls-key
  --tls-key <f>   the PEM private key of --tls-cert
  --tls-ca <f>    mutual TLS: require client certificates signed by these PEM CAs
  --insecure      allow plaintext on an address that is not loopback
  --no-health     do not host gRPC health checking (grpc.health.v1.Health)
  --no-reflection do not host gRPC server reflection (buf curl and grpcurl use it)
  --help          show this help

Limits, keepalive and compression (durations in ms):
  --max-receive-bytes <n>         largest request message (default 4194304)
  --max-send-bytes <n>            largest response message (default unlimited)
  --keepalive-time <ms>           PING a quiet connection after (default 7200000)
  --keepalive-timeout <ms>        close it when the ACK takes longer (default 20000)
  --max-connection-age <ms>       GOAWAY to connections older than (default unlimited)
  --max-connection-age-grace <ms> then close them after (default unlimited)
  --min-ping-interval <ms>        fewest ms between a client's PINGs, 0 = any
                                  (default 300000)
  --compression <gzip|identity>   response encoding (default identity)

Plaintext is served on loopback addresses only (127.0.0.0/8, ::1, localhost)
unless --insecure is given. Reading the TLS files needs --allow-read for them,
which the deno task does not grant: the error says what to run.

What one client may hold (each logged once, when it first bites):
${HOSTILE_LIMITS.map((name) => `  --${flagName(name)} <n>`.padEnd(34) + `default ${DEFAULT_LIMITS[name]}`).join("\n")}

Stops gracefully on SIGINT or SIGTERM.`;

const LIMIT_FLAGS = {
  "max-receive-bytes": { type: "string" },
  "max-send-bytes": { type: "string" },
  "keepalive-time": { type: "string" },
  "keepalive-timeout": { type: "string" },
  "max-connection-age": { type: "string" },
  "max-connection-age-grace": { type: "string" },
  "min-ping-interval": { type: "string" },
  compression: { type: "string" },
} as const;

function parseLimitFlags(values: { [K in keyof typeof LIMIT_FLAGS]?: string }): ServerBaseOptions {
  const flag = <T>(name: keyof typeof LIMIT_FLAGS, parse: (value: string, flag: string) => T) => {
    const value = values[name];
    return value === undefined ? undefined : parse(value, `--${name}`);
  };
  return {
    maxReceiveMessageBytes: flag("max-receive-bytes", parseBytes),
    maxSendMessageBytes: flag("max-send-bytes", parseBytes),
    keepaliveTimeMs: flag("keepalive-time", parseMs),
    keepaliveTimeoutMs: flag("keepalive-timeout", parseMs),
    maxConnectionAgeMs: flag("max-connection-age", parseMs),
    maxConnectionAgeGraceMs: flag("max-connection-age-grace", parseMs),
    minPingIntervalMs: flag("min-ping-interval", parseCount),
    compression: flag("compression", parseCompression),
  };
}

async function main(args: string[]): Promise<void> {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8001" },
    verbose: { type: "boolean", default: false },
    workers: { type: "string", default: "1" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-ca": { type: "string" },
    insecure: { type: "boolean", default: false },
    "no-health": { type: "boolean", default: false },
    "no-reflection": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
    ...LIMIT_FLAGS,
    ...Object.fromEntries(HOSTILE_LIMITS.map((name) => [flagName(name), { type: "string" as const }])),
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return;
  }
  const port = parsePort(values.port, "--port", { allowZero: true });
  const host = parseHost(values.host);
  if (values.workers !== "auto" && !/^\d+$/.test(values.workers)) {
    throw new UsageError(`--workers takes a number or 'auto', got '${values.workers}'`);
  }
  const workers = values.workers === "auto" ? "auto" : Number(values.workers);
  try {
    workerCount(workers);
  } catch (error) {
    throw new UsageError(`--workers: ${(error as Error).message}`);
  }
  const files = { cert: values["tls-cert"], key: values["tls-key"], ca: values["tls-ca"] };
  if ((files.cert === undefined) !== (files.key === undefined)) {
    throw new UsageError(files.cert === undefined ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");
  }
  if (files.ca !== undefined && files.cert === undefined) {
    throw new UsageError("--tls-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)");
  }
  if (files.cert === undefined && !values.insecure && !isLoopback(host)) {
    throw new UsageError(
      `refusing to serve plaintext on '${host}', which is not a loopback address: ` +
        "add --tls-cert and --tls-key, or --insecure to allow plaintext there",
    );
  }
  const limits = parseLimitFlags(values);
  const hostile: Partial<ServerLimits> = {};
  for (const name of HOSTILE_LIMITS) {
    const value = (values as Record<string, unknown>)[flagName(name)];
    if (typeof value !== "string") continue;
    if (!/^\d+$/.test(value)) {
      throw new UsageError(`--${flagName(name)} must be a non-negative integer, got '${value}'`);
    }
    hostile[name] = Number(value);
  }
  requireNetPermission(host, "server.ts");
  let tls: ServerTlsOptions | undefined;
  if (files.cert !== undefined && files.key !== undefined) {
    const paths = [files.cert, files.key, ...(files.ca === undefined ? [] : [files.ca])];
    requireReadPermission(paths, host, "server.ts");
    tls = {
      cert: readPemFile(files.cert, "--tls-cert"),
      key: readPemFile(files.key, "--tls-key"),
      ca: files.ca === undefined ? undefined : readPemFile(files.ca, "--tls-ca"),
    };
  }
  if (h2Workaround.active) console.error(warningLine());
  // Our own lines report what goes wrong; grpc-js's logger would add a second,
  // unless the user asked for it with GRPC_VERBOSITY.
  if (!Deno.env.get("GRPC_VERBOSITY") && !Deno.env.get("GRPC_NODE_VERBOSITY")) {
    grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  }
  const stop = new AbortController();
  const server = await createGreeterServer({
    ...limits,
    hostname: host,
    port,
    tls,
    insecure: values.insecure,
    signal: stop.signal,
    workers,
    health: !values["no-health"],
    reflection: !values["no-reflection"],
    limits: hostile,
    onCall: values.verbose
      ? (event) =>
        console.log(
          (event.worker === undefined ? "" : `[worker ${event.worker}] `) +
            `${event.method} ${statusName(event.code)} ${event.durationMs.toFixed(1)}ms` +
            (event.code === Status.OK ? "" : ` ${JSON.stringify(event.details)}`),
        )
      : undefined,
  }).catch((error) => {
    throw tlsFlagError(error, files);
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
