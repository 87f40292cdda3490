/**
 * What the two command lines share: flag checks, permission hints and the
 * one-line error exit.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The flags of a command line that takes no positional arguments.
 *
 * @param args The command-line arguments.
 * @param options The flags, as `node:util`'s `parseArgs` takes them.
 * @returns The values of the flags.
 * @throws {UsageError} For an unknown flag or a flag without its value.
 */
export function parseFlags<const T extends ParseArgsOptionsConfig>(args: string[], options: T) {
  // `--port -1` is a value, not a flag: parseArgs would call it ambiguous.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.startsWith("--") ? arg.slice(2) : undefined;
    const next = args[i + 1];
    if (name && options[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  try {
    return parseArgs({ args: joined, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see --help)`);
  }
}

/**
 * `host:port`, with brackets around an IPv6 host.
 *
 * @param hostname A host name or IP address.
 * @param port A port.
 * @returns The address.
 */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/**
 * A host without the brackets an IPv6 address may come in (`[::1]` is `::1`).
 *
 * @param hostname A host name or IP address.
 * @returns The same host, unbracketed.
 */
export function unbracketHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, "$1");
}

/**
 * A port from a flag: 1 to 65535, or 0 too where `allowZero` (a server's "any free port").
 *
 * @throws {UsageError} When it is out of range or not an integer.
 */
export function parsePort(value: string, flag = "--port", { allowZero = false } = {}): number {
  const port = Number(value);
  const min = allowZero ? 0 : 1;
  if (!/^\d+$/.test(value) || port < min || port > 65535) {
    throw new UsageError(`${flag} must be an integer from ${min} to 65535, got '${value}'`);
  }
  return port;
}

/**
 * A host from a flag: a name, an IPv4 address, or an IPv6 address with or
 * without brackets (returned without them).
 *
 * @throws {UsageError} When it is empty or malformed.
 */
export function parseHost(value: string, flag = "--host"): string {
  const host = unbracketHost(value);
  if (host === "" || /[\s/\[\]]/.test(host)) {
    throw new UsageError(`${flag} must be a host name or an IP address, got '${value}'`);
  }
  return host;
}

/**
 * A positive number of milliseconds from a flag.
 *
 * @throws {UsageError} When it is not a positive number.
 */
export function parseMs(value: string, flag: string): number {
  const ms = Number(value);
  if (value.trim() === "" || !Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(`${flag} must be a positive number of milliseconds, got '${value}'`);
  }
  return ms;
}

/**
 * A non-negative integer from a flag.
 *
 * @throws {UsageError} When it is not one.
 */
export function parseCount(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) {
    throw new UsageError(`${flag} must be a non-negative integer, got '${value}'`);
  }
  return Number(value);
}

/**
 * Checks that the process may use the network at `hostname`.
 *
 * @throws {UsageError} Naming the `--allow-net` flag to add when it may not.
 */
export function requireNetPermission(hostname: string, script: string): void {
  const host = unbracketHost(hostname);
  // Deno names an IPv6 host in brackets, as --allow-net does.
  const granted = host.includes(":") ? `[${host}]` : host;
  const { state } = Deno.permissions.querySync({ name: "net", host: granted });
  if (state === "granted") return;
  throw new UsageError(
    `no network permission for '${host}': run \`deno run --allow-net=${
      host.includes(":") ? `'${granted}'` : granted
    } --allow-env=${GRPC_ENV_VARS.join(",")} ${script} ...\` (the deno task grants 127.0.0.1 and localhost only)`,
  );
}

/**
 * Checks that the process may read `paths`, the files named by TLS flags.
 *
 * @param paths The files, as given on the command line.
 * @param host The host the command uses, for the `--allow-net` of the command shown.
 * @param script The script, such as `"server.ts"`.
 * @throws {UsageError} Naming the exact `--allow-read` flag to add when it may not.
 */
export function requireReadPermission(paths: string[], host: string, script: string): void {
  const missing = paths.filter((path) => Deno.permissions.querySync({ name: "read", path }).state !== "granted");
  if (missing.length === 0) return;
  const net = host.includes(":") ? `'[${host}]'` : host;
  throw new UsageError(
    `no read permission for ${missing.map((path) => `'${path}'`).join(", ")}: run \`deno run --allow-net=${net} ` +
      `--allow-read=${paths.join(",")} --allow-env=${GRPC_ENV_VARS.join(",")} ${script} ...\` ` +
      "(the deno task grants no --allow-read)",
  );
}

/**
 * The bytes of a PEM file named by a flag.
 *
 * @param path The file.
 * @param flag The flag that named it, such as `"--tls-cert"`.
 * @returns Its bytes.
 * @throws {UsageError} When it cannot be read or is empty.
 */
export function readPemFile(path: string, flag: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (error) {
    const reason = (error as Error).message.replace(/: \w+ '.*'$/, "");
    throw new UsageError(`${flag} '${path}' cannot be read: ${reason}`);
  }
  if (bytes.length === 0) throw new UsageError(`${flag} '${path}' is empty`);
  return bytes;
}

/**
 * A TLS option error of the library, in the words of the command line: `tls.cert` becomes `--tls-cert 'file'`.
 *
 * @param error What the library threw.
 * @param files The file of each TLS option, by option name (`cert`, `key`, `ca`).
 * @returns A {@linkcode UsageError} for a TLS option error, else `error` itself.
 */
export function tlsFlagError(error: unknown, files: Record<string, string | undefined>): unknown {
  if (!(error instanceof TypeError) || !/\btls\.(cert|key|ca)\b/.test(error.message)) return error;
  return new UsageError(
    error.message.replace(/\btls\.(cert|key|ca)\b/g, (_, name: string) => `--tls-${name} '${files[name]}'`),
  );
}

/** The environment variables grpc-js reads; the tasks grant exactly these. */
export const GRPC_ENV_VARS: readonly string[] = [
  "GRPC_NODE_USE_ALTERNATIVE_RESOLVER",
  "GRPC_NODE_DEBUG_SEND_ERROR_DETAILS",
  "GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION",
  "GRPC_NODE_VERBOSITY",
  "GRPC_VERBOSITY",
  "GRPC_NODE_TRACE",
  "GRPC_TRACE",
  "GRPC_SSL_CIPHER_SUITES",
  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
  "grpc_proxy",
  "https_proxy",
  "http_proxy",
  "no_grpc_proxy",
  "no_proxy",
];

/**
 * Prints `error: <message>` on stderr and exits: 2 for a usage error, 1 otherwise.
 *
 * @param error What went wrong.
 */
export function exitWithError(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`error: ${message.replace(/\s+/g, " ").trim()}`);
  Deno.exit(error instanceof UsageError ? 2 : 1);
}

/**
 * A message size in bytes from a flag: an integer from 0 to 2147483647.
 *
 * @throws {UsageError} When it is not one.
 */
export function parseBytes(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 0x7fffffff) {
    throw new UsageError(`${flag} must be a number of bytes from 0 to 2147483647, got '${value}'`);
  }
  return Number(value);
}

/**
 * A message encoding from a flag: `gzip` or `identity`.
 *
 * @throws {UsageError} When it is neither.
 */
export function parseCompression(value: string, flag = "--compression"): "gzip" | "identity" {
  if (value !== "gzip" && value !== "identity") {
    throw new UsageError(`${flag} must be 'gzip' or 'identity', got '${value}'`);
  }
  return value;
}
