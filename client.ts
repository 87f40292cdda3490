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
import type { ClientTlsOptions } from "./src/tls.ts";

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
  --tls               call over TLS, trusting the default roots
  --tls-ca <f>        call over TLS, trusting these PEM CA certificates
  --tls-cert <f>      mutual TLS: present this PEM client certificate;
                      needs --tls-key
  --tls-key <f>       the PEM private key of --tls-cert
  --tls-server-name <n>
                      the name the server's certificate must carry, when
                      it is not --host (say localhost for 127.0.0.1)
  --max-receive-bytes <n>
                      largest response message accepted (default 4194304)
  --keepalive-time <ms>
                      PING the server this often during the call
                      (default off; servers refuse more than one per 5 min)
  --compression <gzip|identity>
                      request encoding (default identity)
  --help              show this help

Any --tls flag turns TLS on. Reading the TLS files needs --allow-read for
them, which the deno task does not grant: the error says what to run.

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
    tls: { type: "boolean", default: false },
    "tls-ca": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-server-name": { type: "string" },
    "max-receive-bytes": { type: "string" },
    "keepalive-time": { type: "string" },
    compression: { type: "string" },
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
  const receive = values["max-receive-bytes"];
  const keepalive = values["keepalive-time"];
  const clientOptions: GreeterClientOptions = {
    maxReceiveMessageBytes: receive === undefined ? undefined : parseBytes(receive, "--max-receive-bytes"),
    keepaliveTimeMs: keepalive === undefined ? undefined : parseMs(keepalive, "--keepalive-time"),
    compression: values.compression === undefined ? undefined : parseCompression(values.compression),
    loadBalancing,
  };
  for (const server of servers?.hosts ?? [host]) requireNetPermission(server, "client.ts");
  const tls = readTlsFlags(values, servers?.hosts[0] ?? host);

  using client = createCliClient(servers?.address ?? formatHostPort(host, port), { ...clientOptions, tls }, values);
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

/** The client, with library errors about TLS options in the words of the flags. */
function createCliClient(
  address: string,
  options: GreeterClientOptions,
  values: { "tls-ca"?: string; "tls-cert"?: string; "tls-key"?: string },
): GreeterClient {
  try {
    return createGreeterClient(address, options);
  } catch (error) {
    throw tlsFlagError(error, { cert: values["tls-cert"], key: values["tls-key"], ca: values["tls-ca"] });
  }
}

/** The client TLS of the `--tls*` flags, read from their files; undefined for plaintext. */
function readTlsFlags(
  values: { tls: boolean; "tls-ca"?: string; "tls-cert"?: string; "tls-key"?: string; "tls-server-name"?: string },
  host: string,
): ClientTlsOptions | undefined {
  const { tls, "tls-ca": ca, "tls-cert": cert, "tls-key": key, "tls-server-name": serverName } = values;
  if (!tls && ca === undefined && cert === undefined && key === undefined && serverName === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(cert === undefined ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");
  }
  if (serverName === "") throw new UsageError("--tls-server-name must not be empty");
  const paths = [ca, cert, key].filter((path) => path !== undefined);
  // Without --tls-ca, grpc-js reads the roots from this file, when set.
  const roots = ca === undefined ? Deno.env.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH") : undefined;
  requireReadPermission(roots ? [...paths, roots] : paths, host, "client.ts");
  return {
    ca: ca === undefined ? undefined : readPemFile(ca, "--tls-ca"),
    cert: cert === undefined ? undefined : readPemFile(cert, "--tls-cert"),
    key: key === undefined ? undefined : readPemFile(key, "--tls-key"),
    serverName,
  };
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
