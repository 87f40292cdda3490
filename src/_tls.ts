/**
 * TLS options to grpc-js credentials, with the checks and the Deno
 * workarounds they need; and what counts as a loopback address.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { checkServerIdentity, createSecureContext, type PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { ChannelOptions } from "./server.ts";
import type { ClientTlsOptions, Pem, ServerTlsOptions } from "./tls.ts";
import type { ListenTls } from "./_transport.ts";
import { unbracketHost } from "./_cli.ts";

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function pemText(value: unknown, name: string): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  throw new TypeError(`${name} must be PEM as a string or a Uint8Array, got ${value === null ? "null" : typeof value}`);
}

/** Every certificate of a PEM, checked; the first one parsed. */
function certificates(value: Pem, name: string): { bytes: Buffer; first: X509Certificate } {
  const text = pemText(value, name);
  const blocks = text.match(CERTIFICATE);
  if (!blocks) throw new TypeError(`${name} holds no PEM certificate ('-----BEGIN CERTIFICATE-----')`);
  const parsed = blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      const which = blocks.length > 1 ? ` (certificate ${i + 1})` : "";
      throw new TypeError(`${name}${which} is not a valid PEM certificate: ${(error as Error).message}`, {
        cause: error,
      });
    }
  });
  return { bytes: Buffer.from(text), first: parsed[0]! };
}

function privateKey(value: Pem, name: string): { bytes: Buffer; key: KeyObject } {
  const text = pemText(value, name);
  try {
    return { bytes: Buffer.from(text), key: createPrivateKey(text) };
  } catch (error) {
    throw new TypeError(`${name} is not a valid PEM private key: ${(error as Error).message}`, { cause: error });
  }
}

function identity(cert: Pem, key: Pem, prefix: string) {
  const chain = certificates(cert, `${prefix}.cert`);
  const pair = privateKey(key, `${prefix}.key`);
  if (!chain.first.checkPrivateKey(pair.key)) {
    throw new TypeError(`${prefix}.key is not the private key of ${prefix}.cert (${chain.first.subject})`);
  }
  return { cert: chain.bytes, key: pair.bytes };
}

function checkObject(value: unknown, name: string): void {
  if (value === null || typeof value !== "object") {
    throw new TypeError(`${name} must be an object, got ${value === null ? "null" : typeof value}`);
  }
}

/** A TLS server's options, checked: PEM bytes, and whether client certificates are required. */
interface ServerIdentity {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  requireClientCert: boolean;
}

/**
 * Checks a TLS server's options.
 *
 * @throws {TypeError} When a PEM is invalid, the key is not the certificate's, or the options conflict.
 */
function serverIdentity(tls: ServerTlsOptions): ServerIdentity {
  checkObject(tls, "tls");
  const { cert, key } = identity(tls.cert, tls.key, "tls");
  const ca = tls.ca === undefined ? undefined : certificates(tls.ca, "tls.ca").bytes;
  if (tls.requireClientCert !== undefined && typeof tls.requireClientCert !== "boolean") {
    throw new TypeError(`tls.requireClientCert must be a boolean, got ${typeof tls.requireClientCert}`);
  }
  const requireClientCert = tls.requireClientCert ?? ca !== undefined;
  if (requireClientCert && ca === undefined) {
    throw new TypeError("tls.requireClientCert needs tls.ca, the CA certificates that sign client certificates");
  }
  if (!requireClientCert && ca !== undefined) {
    throw new TypeError(
      "tls.requireClientCert: false with tls.ca is not supported (a certificate asked for is required): drop " +
        "tls.ca, or leave requireClientCert true",
    );
  }
  return { cert, key, ca, requireClientCert };
}

/**
 * The TLS of the server's own listeners (`_listener.ts`, `_listener_shared.ts`);
 * undefined for mutual TLS, which stays with grpc-js's own listener: as a
 * server over a stream, Deno 2.9.3's `node:tls` asks for a client
 * certificate but accepts one that another CA signed (measured), where
 * `node:http2`'s TLS server, under grpc-js, refuses it.
 *
 * @throws {TypeError} When a PEM is invalid, the key is not the certificate's, or the options conflict.
 */
export function listenTls(tls: ServerTlsOptions): ListenTls | undefined {
  const { cert, key, requireClientCert } = serverIdentity(tls);
  return requireClientCert ? undefined : { context: createSecureContext({ cert, key }) };
}

/**
 * grpc-js credentials for a TLS server, for grpc-js's own listener: mutual
 * TLS (see {@linkcode listenTls}), or ours switched off for benchmarks.
 *
 * @throws {TypeError} When a PEM is invalid, the key is not the certificate's, or the options conflict.
 */
export function serverCredentials(tls: ServerTlsOptions): grpc.ServerCredentials {
  const { cert, key, ca, requireClientCert } = serverIdentity(tls);
  // Never null here: grpc-js would then take the file that
  // GRPC_DEFAULT_SSL_ROOTS_FILE_PATH names (a system bundle) as `ca`, and
  // Deno's TLS server sends every certificate of `ca` in its own chain, which
  // makes a handshake message larger than clients accept ("excessive message
  // size"). An empty buffer is no CA at all.
  return grpc.ServerCredentials.createSsl(
    ca ?? Buffer.alloc(0),
    [{ cert_chain: cert, private_key: key }],
    requireClientCert,
  );
}

/**
 * The SNI sent to a server addressed by IP without a `serverName`: Deno's
 * `node:tls` refuses an IP address as the server name, where Node only
 * warns, and grpc-js always passes the host. `.invalid` names nothing
 * (RFC 6761); the certificate is still checked against the IP address.
 */
const IP_SERVER_NAME = "ip-address.invalid";

/** The host of a `host:port` or `[v6]:port` address; undefined for gRPC names such as `dns:...`. */
function hostOf(address: string): string | undefined {
  return address.match(/^(?:\[([^\]]+)\]|([^:\[\]]+)):\d+$/)?.slice(1).find((part) => part !== undefined);
}

/**
 * grpc-js credentials, and the channel options they need, for a TLS client.
 *
 * @throws {TypeError} When a PEM is invalid, or `cert` comes without `key`.
 * @throws {Error} When the default roots cannot be read.
 */
export function channelCredentials(
  tls: ClientTlsOptions,
  address: string,
): { credentials: grpc.ChannelCredentials; channelOptions: ChannelOptions } {
  checkObject(tls, "tls");
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError(tls.cert === undefined ? "tls.key needs tls.cert" : "tls.cert needs tls.key");
  }
  if (tls.serverName !== undefined && (typeof tls.serverName !== "string" || tls.serverName === "")) {
    throw new TypeError(`tls.serverName must be a non-empty string, got ${JSON.stringify(tls.serverName)}`);
  }
  const pair = tls.cert === undefined ? undefined : identity(tls.cert, tls.key!, "tls");
  const ca = tls.ca === undefined ? null : certificates(tls.ca, "tls.ca").bytes;
  const channelOptions: ChannelOptions = {};
  const verify: grpc.VerifyOptions = {};
  const host = hostOf(address);
  if (tls.serverName !== undefined) {
    channelOptions["grpc.ssl_target_name_override"] = tls.serverName;
  } else if (host !== undefined && isIP(host)) {
    channelOptions["grpc.ssl_target_name_override"] = IP_SERVER_NAME;
    verify.checkServerIdentity = (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert);
  }
  try {
    const credentials = grpc.credentials.createSsl(ca, pair?.key ?? null, pair?.cert ?? null, verify);
    return { credentials, channelOptions };
  } catch (error) {
    const path = defaultRootsPath();
    if (ca !== null || !path) throw error;
    throw new Error(
      `Cannot read the default root certificates at '${path}' (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH): ` +
        `${(error as Error).message}; grant --allow-read=${path}, or pass tls.ca`,
      { cause: error },
    );
  }
}

/** The file grpc-js reads its default roots from, if it was told one and may know it. */
function defaultRootsPath(): string | undefined {
  try {
    return Deno.env.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH") || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a host is a loopback address: 127.0.0.0/8, ::1 (also as
 * `::ffff:127.x.y.z`) or `localhost`.
 *
 * @param hostname A host name or IP address, IPv6 with or without brackets.
 * @returns True for a loopback address.
 */
export function isLoopback(hostname: string): boolean {
  const host = unbracketHost(hostname).toLowerCase();
  if (host === "localhost") return true;
  const kind = isIP(host);
  if (kind === 4) return host.startsWith("127.");
  if (kind !== 6) return false;
  // The URL parser writes IPv6 in its shortest form: ::1, ::ffff:7f00:1.
  const normal = new URL(`http://[${host}]/`).hostname;
  return normal === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(normal);
}
