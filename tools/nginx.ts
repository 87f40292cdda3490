/**
 * nginx as an L7 gRPC balancer in front of several Greeter servers: the
 * config template (the same one `docs/deploy/nginx.conf` is made from, and
 * a test keeps them equal) and a runner that starts Debian's `nginx` in the
 * foreground with everything (pid, logs, temp files) under one prefix folder.
 *
 * @module
 */

/** What {@linkcode nginxConfig} fills in. */
export interface NginxConfigOptions {
  /** `host:port` of each server behind nginx. */
  upstreams: readonly string[];
  /** `host:port` nginx listens on for plaintext gRPC (h2c). */
  listen: string;
  /** `host:port` nginx listens on for gRPC over TLS, with `cert.pem` and `key.pem` from the prefix folder. */
  listenTls?: string;
}

/**
 * An nginx config that balances gRPC round-robin over `upstreams`. Every path
 * in it is relative to nginx's prefix (`nginx -p <dir>/`).
 *
 * `grpc_next_upstream error timeout non_idempotent` lets nginx pass a call on
 * to the next server when the one it picked refuses the connection or drops
 * it before answering: gRPC calls are POSTs, which nginx does not retry once
 * sent unless told `non_idempotent`. A server's drain answers new calls with
 * the gRPC status `UNAVAILABLE` (HTTP 200); nginx passes that to the client.
 * When nginx itself fails a call (502 to 504), `@unavailable` answers it as
 * gRPC `UNAVAILABLE`, which clients retry, instead of an HTML error page
 * (which grpc-js under Deno read as a message: `RESOURCE_EXHAUSTED`).
 *
 * @param options The servers and where to listen.
 * @returns The config text.
 */
export function nginxConfig(options: NginxConfigOptions): string {
  // Both servers pass every call to the upstreams, and answer nginx's own errors as gRPC UNAVAILABLE.
  const locations = `    location / {
      grpc_pass grpc://greeter;
      grpc_next_upstream error timeout non_idempotent;
      error_page 502 503 504 = @unavailable;
    }
    location @unavailable {
      default_type application/grpc;
      add_header grpc-status 14;
      add_header grpc-message "no server could take the call";
      return 204;
    }`;
  const tls = options.listenTls === undefined ? "" : `  server {
    listen ${options.listenTls} ssl http2;
    ssl_certificate cert.pem;
    ssl_certificate_key key.pem;
${locations}
  }
`;
  return `# gRPC balancer for the Greeter; every path is relative to the prefix: nginx -p <dir>/ -c <this file>
daemon off;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events {
  worker_connections 1024;
}
http {
  access_log access.log;
  client_body_temp_path client_body;
  proxy_temp_path proxy;
  fastcgi_temp_path fastcgi;
  uwsgi_temp_path uwsgi;
  scgi_temp_path scgi;
  upstream greeter {
${options.upstreams.map((address) => `    server ${address};`).join("\n")}
  }
  server {
    listen ${options.listen} http2;
${locations}
  }
${tls}}
`;
}

/** The config `docs/deploy/nginx.conf` holds: three local servers, nginx on 8080 (h2c) and 8443 (TLS). */
export const DOC_NGINX_CONFIG: NginxConfigOptions = {
  upstreams: ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"],
  listen: "127.0.0.1:8080",
  listenTls: "127.0.0.1:8443",
};

/** The nginx binary, or undefined when it is not installed. */
export async function findNginx(): Promise<string | undefined> {
  for (const path of ["/usr/sbin/nginx", "/usr/bin/nginx"]) {
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** A running nginx. */
export interface Nginx extends AsyncDisposable {
  /** The prefix folder, with its config, logs and temp files. */
  readonly prefix: string;
  /** What nginx wrote to its error log so far. */
  errorLog(): Promise<string>;
  /** Stops it (SIGQUIT, graceful; SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Writes `config` to `<prefix>/nginx.conf` and starts nginx in the
 * foreground; resolves once `waitFor` accepts a TCP connection.
 *
 * @param nginx The binary.
 * @param prefix An existing folder for everything nginx writes.
 * @param config The config text.
 * @param waitFor A `{ hostname, port }` nginx listens on.
 */
export async function startNginx(
  nginx: string,
  prefix: string,
  config: string,
  waitFor: { hostname: string; port: number },
): Promise<Nginx> {
  const file = `${prefix}/nginx.conf`;
  await Deno.writeTextFile(file, config);
  const child = new Deno.Command(nginx, {
    args: ["-p", `${prefix}/`, "-c", file, "-e", "error.log"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let stopped: Promise<void> | undefined;
  const errorLog = () => Deno.readTextFile(`${prefix}/error.log`).catch(() => "");
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGQUIT");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await child.status;
      clearTimeout(timer);
      await stderr;
    })();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect(waitFor)).close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`nginx did not listen on ${waitFor.port}: ${await stderr}${await errorLog()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { prefix, errorLog, stop, [Symbol.asyncDispose]: stop };
}

// `deno run tools/nginx.ts > docs/deploy/nginx.conf` writes the doc's config.
if (import.meta.main) console.log(nginxConfig(DOC_NGINX_CONFIG).trimEnd());
