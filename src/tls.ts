/**
 * The TLS options of `createServer()` and `createClient()`:
 * certificates and keys as PEM text or bytes, so that embedding them needs
 * no `--allow-read`.
 *
 * @module
 */
/** PEM text (`-----BEGIN ...-----`), as a string or as its bytes. */
export type Pem = string | Uint8Array;

/** A server's TLS: its certificate and key, and optionally the CA that signs client certificates (mutual TLS). */
export interface ServerTlsOptions {
  /** The server's certificate, then any intermediates, in PEM. */
  cert: Pem;
  /** The private key of `cert`, in PEM. */
  key: Pem;
  /**
   * The CA certificates that sign client certificates, in PEM: clients must
   * then present a certificate signed by one of them (mutual TLS). Keep it to
   * the few CAs that sign client certificates, not a system bundle: Deno's
   * TLS server also sends these certificates in its own chain.
   */
  ca?: Pem;
  /**
   * Whether a client must present a certificate signed by `ca`. Default true
   * when `ca` is given; `false` with a `ca` is not supported (a TypeError):
   * a certificate the server asks for is always required.
   */
  requireClientCert?: boolean;
}

/** A client's TLS. `{}` trusts the default roots and presents no certificate. */
export interface ClientTlsOptions {
  /**
   * The CA certificates that sign the server's certificate, in PEM; they
   * replace the default roots. Default: the file that
   * `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH` names (which needs read permission),
   * or else Deno's built-in roots.
   */
  ca?: Pem;
  /** The client's certificate, for mutual TLS, in PEM; needs `key`. */
  cert?: Pem;
  /** The private key of `cert`, in PEM. */
  key?: Pem;
  /**
   * The name the server's certificate must carry, and the SNI sent, when it
   * differs from the address's host, such as `"localhost"` for
   * `"127.0.0.1:8001"`. Default: the address's host (an IP address is
   * checked against the certificate's IP entries).
   */
  serverName?: string;
}
