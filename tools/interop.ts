/**
 * gRPC's interop test cases (grpc/grpc `doc/interop-test-descriptions.md`),
 * mirrored for the Greeter service, run across languages:
 *
 * - `deno→deno`: our client against our server,
 * - `python→deno`: the Python grpcio client of `tests/peers/` against our server,
 * - `deno→python`: our client against the Python grpcio server of `tests/peers/`.
 *
 * The case-driven server behaviour is asked for with request metadata and
 * implemented twice, here as {@linkcode interopHandlers} and in
 * `tests/peers/greeter_server.py --interop`; without those keys both behave
 * exactly as the default Greeter:
 *
 * | key                              | effect                                                      |
 * | -------------------------------- | ----------------------------------------------------------- |
 * | `x-grpc-test-echo-initial`       | echoed in the response headers                              |
 * | `x-grpc-test-echo-trailing-bin`  | echoed in the trailers                                      |
 * | `x-interop-response-sizes`       | `n1,n2,...`: response i is `payload(n[i % len])` bytes      |
 * | `x-interop-sleep-ms`             | sleep before each response (ends early when the call does)  |
 * | `x-interop-status`               | fail with this code instead of the first response           |
 * | `x-interop-status-message-bin`   | the UTF-8 status message of `x-interop-status`              |
 *
 * Usage: `deno task interop [--pairing deno→deno] [--case large_unary]`
 * (both repeatable). Prints one line per case and pairing and a closing
 * `interop: N passed, M failed`; exits 1 on any failure.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import type { Metadata } from "../mod.ts";
import { createGreeterServer } from "../server.ts";
import type { CallContext } from "../src/server.ts";
import { type GreeterHandlers, greeterHandlers as defaultHandlers } from "../src/greeter.ts";
import { createGreeterClient, type GreeterClient } from "../client.ts";
import { GrpcError, Status, statusName } from "../src/errors.ts";
import type { HelloRequest, HelloResponse } from "../proto/hello.ts";
import { pythonHasGrpc, runPythonClient, startPythonServer } from "./python_peer.ts";
import { sleep } from "../src/_sleep.ts";
import { exitWithError, parseFlags } from "../src/_cli.ts";

/** The request metadata keys that drive the interop behaviour. */
export const INTEROP_KEYS = {
  echoInitial: "x-grpc-test-echo-initial",
  echoTrailing: "x-grpc-test-echo-trailing-bin",
  responseSizes: "x-interop-response-sizes",
  sleepMs: "x-interop-sleep-ms",
  status: "x-interop-status",
  statusMessage: "x-interop-status-message-bin",
} as const;

/**
 * A string of exactly `size` UTF-8 bytes: `我` (3 bytes) repeated, then `z`;
 * the same as `payload()` of the Python peers.
 *
 * @param size The byte length.
 * @returns The string.
 */
export function payload(size: number): string {
  return "我".repeat(Math.floor(size / 3)) + "z".repeat(size % 3);
}

function first(metadata: Metadata, key: string): string | Uint8Array | undefined {
  return metadata.get(key)[0];
}

/** The values of `key` in `metadata`, for a failure message. */
function describe(metadata: Metadata | undefined, key: string): string {
  if (!metadata) return "none received";
  const values = metadata.get(key).map((v) =>
    typeof v === "string" ? JSON.stringify(v) : `<${Buffer.from(v).toString("hex")}>`
  );
  return `${key}: [${values.join(", ")}]`;
}

/** What one call's metadata asks of the interop server. */
class InteropPlan {
  readonly #ctx: CallContext;
  readonly #sizes: number[] | undefined;
  readonly #sleepMs: number;
  readonly #status: GrpcError | undefined;

  constructor(ctx: CallContext) {
    this.#ctx = ctx;
    const { metadata } = ctx;
    const sizes = first(metadata, INTEROP_KEYS.responseSizes);
    this.#sizes = sizes === undefined ? undefined : String(sizes).split(",").map(Number);
    this.#sleepMs = Number(first(metadata, INTEROP_KEYS.sleepMs) ?? 0);
    const status = first(metadata, INTEROP_KEYS.status);
    if (status !== undefined) {
      const message = first(metadata, INTEROP_KEYS.statusMessage);
      const details = message === undefined ? "" : Buffer.from(message).toString("utf8");
      const code = Number(status);
      if (!Number.isInteger(code) || code < 1 || code > 16) {
        throw new GrpcError(
          Status.INVALID_ARGUMENT,
          `${INTEROP_KEYS.status} must be a code from 1 to 16, got '${status}'`,
        );
      }
      this.#status = new GrpcError(code as Status, details);
    }
    const initial = first(metadata, INTEROP_KEYS.echoInitial);
    if (initial !== undefined) ctx.header.set(INTEROP_KEYS.echoInitial, initial);
    const trailing = first(metadata, INTEROP_KEYS.echoTrailing);
    if (trailing !== undefined) ctx.trailer.set(INTEROP_KEYS.echoTrailing, trailing);
  }

  /** Before response `index`: sleeps, then fails with the status asked for. */
  async before(): Promise<void> {
    if (this.#sleepMs > 0) await sleep(this.#sleepMs, this.#ctx.signal);
    if (this.#status) throw this.#status;
  }

  /** Response `index` as asked for: the reply, or a payload of the asked size. */
  shape(index: number, reply: Partial<HelloResponse>): Partial<HelloResponse> {
    if (!this.#sizes) return reply;
    return { name: payload(this.#sizes[index % this.#sizes.length]!) };
  }

  /** At the end of a stream of `count` responses: fails when a status was asked for and not sent. */
  end(count: number): void {
    if (count === 0 && this.#status) throw this.#status;
  }
}

async function* interopStream(
  plan: InteropPlan,
  replies: AsyncIterable<Partial<HelloResponse>> | Iterable<Partial<HelloResponse>>,
): AsyncGenerator<Partial<HelloResponse>> {
  let count = 0;
  for await (const reply of replies) {
    await plan.before();
    yield plan.shape(count++, reply);
  }
  plan.end(count);
}

/**
 * The Greeter's default handlers, reshaped by the interop metadata keys of
 * {@linkcode INTEROP_KEYS}; for `createGreeterServer({ handlers })`.
 */
export const interopHandlers: GreeterHandlers = {
  async sayHello(request, ctx) {
    const plan = new InteropPlan(ctx);
    const reply = await defaultHandlers.sayHello(request, ctx);
    await plan.before();
    return plan.shape(0, reply);
  },
  lotsOfReplies(request, ctx) {
    return interopStream(new InteropPlan(ctx), defaultHandlers.lotsOfReplies(request, ctx));
  },
  async lotsOfGreetings(requests, ctx) {
    const plan = new InteropPlan(ctx);
    const reply = await defaultHandlers.lotsOfGreetings(requests, ctx);
    await plan.before();
    return plan.shape(0, reply);
  },
  bidiHello(requests, ctx) {
    return interopStream(new InteropPlan(ctx), defaultHandlers.bidiHello(requests, ctx));
  },
};

// ---- The cases, client side (tests/peers/greeter_client.py has the same) ----

const REQUEST_SIZES = [27182, 8, 1828, 45904];
const RESPONSE_SIZES = [31415, 9, 2653, 58979];
/** The status message of `special_status_message`. */
export const SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
const ECHO_INITIAL_VALUE = "test_initial_metadata_value";
const ECHO_TRAILING_VALUE = new Uint8Array([0xab, 0xab, 0xab]);
const CALL_TIMEOUT_MS = 10_000;

/** A case that failed, with why. */
class CaseFailed extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CaseFailed(message);
}

const utf8Length = (text: string) => new TextEncoder().encode(text).length;
const greet = (name: string) => `我是${name}`;
const sizesMetadata = (sizes: number[]) => ({ [INTEROP_KEYS.responseSizes]: sizes.join(",") });
const statusMetadata = (code: Status, message: string) => ({
  [INTEROP_KEYS.status]: String(code),
  [INTEROP_KEYS.statusMessage]: new TextEncoder().encode(message),
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

async function expectError(promise: Promise<unknown>, code: Status, details?: string): Promise<GrpcError> {
  try {
    await promise;
  } catch (error) {
    check(error instanceof GrpcError, `expected ${statusName(code)}, got ${String(error)}`);
    check(error.code === code, `expected ${statusName(code)}, got ${statusName(error.code)}: ${error.details}`);
    if (details !== undefined) {
      check(
        error.details === details,
        `expected details ${JSON.stringify(details)}, got ${JSON.stringify(error.details)}`,
      );
    }
    return error;
  }
  throw new CaseFailed(`expected ${statusName(code)}, the call succeeded`);
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Calls a method the server does not have, with grpc-js directly (our client only knows the Greeter's). */
async function callUnknown(address: string, path: string): Promise<void> {
  const raw = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    await new Promise((resolve, reject) => {
      raw.makeUnaryRequest(
        path,
        (value: Buffer) => value,
        (value: Buffer) => value,
        Buffer.alloc(0),
        { deadline: Date.now() + CALL_TIMEOUT_MS },
        (error, value) => error ? reject(error) : resolve(value),
      );
    });
  } catch (error) {
    const { code, details } = error as grpc.ServiceError;
    // As our client does: a code gRPC does not define (or OK) reads as UNKNOWN.
    const status = Number.isInteger(code) && code >= 1 && code <= 16 ? code as Status : Status.UNKNOWN;
    throw new GrpcError(status, details, { cause: error, method: path });
  } finally {
    raw.close();
  }
}

/** One case run by our client against a server at `address`. */
type DenoCase = (client: GreeterClient, address: string) => Promise<void>;

const opts = { timeout: CALL_TIMEOUT_MS };

/** The cases, by their names in gRPC's interop-test descriptions. */
export const DENO_CASES: Readonly<Record<string, DenoCase>> = {
  async empty_unary(client) {
    const reply = await client.sayHello({}, { ...opts, metadata: sizesMetadata([0]) });
    check(reply.name === "", `expected an empty response, got ${JSON.stringify(reply.name)}`);
    const greeting = await client.sayHello({}, opts);
    check(greeting.name === "我是", `an empty name was greeted as ${JSON.stringify(greeting.name)}`);
  },

  async large_unary(client) {
    const name = payload(271828);
    const reply = await client.sayHello({ name }, { ...opts, metadata: sizesMetadata([314159]) });
    check(reply.name === payload(314159), `wrong ${utf8Length(reply.name)}-byte response`);
    const greeting = await client.sayHello({ name }, opts);
    check(greeting.name === greet(name), "the large greeting came back wrong");
  },

  async client_streaming(client) {
    const names = REQUEST_SIZES.map(payload);
    const reply = await client.lotsOfGreetings(names.map((name) => ({ name })), opts);
    check(reply.name === greet(names.join(", ")), `wrong aggregate greeting (${utf8Length(reply.name)} bytes)`);
  },

  async server_streaming(client) {
    const replies = await collect(
      client.lotsOfReplies({ name: "zzz", count: 4 }, { ...opts, metadata: sizesMetadata(RESPONSE_SIZES) }),
    );
    const sizes = replies.map((reply) => utf8Length(reply.name));
    check(sizes.join() === RESPONSE_SIZES.join(), `response sizes ${sizes.join(",")}`);
    check(replies.every((reply, i) => reply.name === payload(RESPONSE_SIZES[i]!)), "wrong response content");
    const plain = await collect(client.lotsOfReplies({ name: "zzz" }, opts));
    check(plain.map((r) => r.name).join() === "我是zzz,我是zzz,我是zzz", `count 0 gave ${JSON.stringify(plain)}`);
  },

  async ping_pong(client) {
    let replied: (() => void) | undefined;
    async function* pings(): AsyncGenerator<HelloRequest> {
      for (const size of REQUEST_SIZES) {
        const reply = new Promise<void>((resolve) => replied = resolve);
        yield { name: payload(size) };
        await reply;
      }
    }
    let i = 0;
    for await (const reply of client.bidiHello(pings(), { ...opts, metadata: sizesMetadata(RESPONSE_SIZES) })) {
      check(i < RESPONSE_SIZES.length, "a reply after the last ping");
      check(reply.name === payload(RESPONSE_SIZES[i]!), `wrong reply to the ${REQUEST_SIZES[i]}-byte ping`);
      i++;
      replied?.();
    }
    check(i === REQUEST_SIZES.length, `${i} replies to ${REQUEST_SIZES.length} pings`);
  },

  async empty_stream(client) {
    const replies = await collect(client.bidiHello([], opts));
    check(replies.length === 0, `${replies.length} replies to no requests`);
  },

  async custom_metadata(client) {
    const metadata = {
      [INTEROP_KEYS.echoInitial]: ECHO_INITIAL_VALUE,
      [INTEROP_KEYS.echoTrailing]: ECHO_TRAILING_VALUE,
    };
    for (const kind of ["unary", "bidi"] as const) {
      let header: Metadata | undefined;
      let trailer: Metadata | undefined;
      const options = {
        ...opts,
        metadata,
        onHeader: (m: Metadata) => header = m,
        onTrailer: (m: Metadata) => trailer = m,
      };
      const names = kind === "unary"
        ? [(await client.sayHello({ name: "zzz" }, options)).name]
        : (await collect(client.bidiHello([{ name: "zzz" }], options))).map((r) => r.name);
      check(names.join() === "我是zzz", `${kind} replies ${JSON.stringify(names)}`);
      const initial = header?.get(INTEROP_KEYS.echoInitial)[0];
      check(initial === ECHO_INITIAL_VALUE, `${kind} header ${describe(header, INTEROP_KEYS.echoInitial)}`);
      const trailing = trailer?.get(INTEROP_KEYS.echoTrailing)[0];
      check(
        trailing instanceof Uint8Array && Buffer.from(trailing).equals(ECHO_TRAILING_VALUE),
        `${kind} trailer ${describe(trailer, INTEROP_KEYS.echoTrailing)}`,
      );
    }
  },

  async status_code_and_message(client) {
    const metadata = statusMetadata(Status.UNKNOWN, "test status message");
    await expectError(client.sayHello({ name: "zzz" }, { ...opts, metadata }), Status.UNKNOWN, "test status message");
    await expectError(
      collect(client.bidiHello([{ name: "zzz" }], { ...opts, metadata })),
      Status.UNKNOWN,
      "test status message",
    );
  },

  async special_status_message(client) {
    const metadata = statusMetadata(Status.UNKNOWN, SPECIAL_MESSAGE);
    await expectError(client.sayHello({ name: "zzz" }, { ...opts, metadata }), Status.UNKNOWN, SPECIAL_MESSAGE);
  },

  async unimplemented_method(_client, address) {
    await expectError(callUnknown(address, "/Greeter/UnimplementedCall"), Status.UNIMPLEMENTED);
  },

  async unimplemented_service(_client, address) {
    await expectError(
      callUnknown(address, "/grpc.testing.UnimplementedService/UnimplementedCall"),
      Status.UNIMPLEMENTED,
    );
  },

  async cancel_after_begin(client) {
    const controller = new AbortController();
    // No request until the call is cancelled; then the end of the requests.
    const never: AsyncIterable<HelloRequest> = {
      [Symbol.asyncIterator]: () => ({
        next: () => untilAborted(controller.signal).then(() => ({ done: true, value: undefined })),
      }),
    };
    const reply = client.lotsOfGreetings(never, { ...opts, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await expectError(reply, Status.CANCELLED);
  },

  async cancel_after_first_response(client) {
    const controller = new AbortController();
    async function* requests(): AsyncGenerator<HelloRequest> {
      yield { name: payload(REQUEST_SIZES[0]!) };
      await untilAborted(controller.signal);
    }
    const replies = client.bidiHello(requests(), { ...opts, signal: controller.signal });
    try {
      const first = await replies.next();
      check(!first.done && first.value.name === greet(payload(REQUEST_SIZES[0]!)), "wrong first reply");
      controller.abort();
      await expectError(replies.next(), Status.CANCELLED);
    } finally {
      await replies.return();
    }
  },

  async timeout_on_sleeping_server(client) {
    const options = { timeout: 200, metadata: { [INTEROP_KEYS.sleepMs]: "10000" } };
    const started = performance.now();
    await expectError(collect(client.bidiHello([{ name: payload(27182) }], options)), Status.DEADLINE_EXCEEDED);
    await expectError(client.sayHello({ name: "zzz" }, options), Status.DEADLINE_EXCEEDED);
    check(performance.now() - started < 5000, "the deadline was not honoured");
  },
};

/** The case names, in the order they run. */
export const CASES: readonly string[] = Object.keys(DENO_CASES);

/** Who calls whom. */
export const PAIRINGS = ["deno→deno", "python→deno", "deno→python"] as const;
/** One of {@linkcode PAIRINGS}. */
export type Pairing = typeof PAIRINGS[number];

/** The outcome of one case in one pairing. */
export interface InteropResult {
  /** The case name. */
  name: string;
  /** The pairing. */
  pairing: Pairing;
  /** Whether it passed. */
  ok: boolean;
  /** Why it failed. */
  reason?: string;
}

/** Options of {@linkcode runInterop}. */
export interface RunInteropOptions {
  /** The pairings to run. Default all. */
  pairings?: readonly Pairing[];
  /** The cases to run. Default all. */
  cases?: readonly string[];
  /** Called with each result as it comes. */
  onResult?: (result: InteropResult) => void;
}

/** One line per result, as `deno task interop` prints it. */
export function formatResult(result: InteropResult): string {
  return result.ok
    ? `PASS  ${result.name}  ${result.pairing}`
    : `FAIL  ${result.name}  ${result.pairing}: ${result.reason}`;
}

function oneLine(error: unknown): string {
  const text = error instanceof CaseFailed ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim();
}

async function runDenoCases(
  address: string,
  cases: readonly string[],
  pairing: Pairing,
  report: (result: InteropResult) => void,
): Promise<void> {
  using client = createGreeterClient(address);
  for (const name of cases) {
    const run = DENO_CASES[name];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (!run) throw new CaseFailed("no such case");
      await Promise.race([
        run(client, address),
        new Promise((_, reject) => timer = setTimeout(() => reject(new CaseFailed("timed out after 20s")), 20_000)),
      ]);
      report({ name, pairing, ok: true });
    } catch (error) {
      report({ name, pairing, ok: false, reason: oneLine(error) });
    } finally {
      clearTimeout(timer);
    }
  }
}

async function runPythonCases(
  address: string,
  cases: readonly string[],
  report: (result: InteropResult) => void,
): Promise<void> {
  const pairing = "python→deno";
  const run = await runPythonClient(["--address", address, "interop", "--cases", cases.join(",")], {
    timeoutMs: 120_000,
  });
  const seen = new Map<string, InteropResult>();
  for (const line of run.stdout.split("\n")) {
    const match = line.match(/^(PASS|FAIL) (\w+)(?:: (.*))?$/);
    if (match) seen.set(match[2]!, { name: match[2]!, pairing, ok: match[1] === "PASS", reason: match[3] });
  }
  const stderr = oneLine(run.stderr).slice(0, 300);
  for (const name of cases) {
    report(seen.get(name) ?? { name, pairing, ok: false, reason: `no result (exit ${run.code}) ${stderr}`.trim() });
  }
}

/**
 * Runs the interop cases for each pairing; servers and subprocesses are
 * stopped before it resolves.
 *
 * @param options The pairings and cases, and a per-result hook.
 * @returns Every result, by pairing then case.
 */
export async function runInterop(options: RunInteropOptions = {}): Promise<InteropResult[]> {
  const pairings = options.pairings ?? PAIRINGS;
  const cases = options.cases ?? CASES;
  const results: InteropResult[] = [];
  const report = (result: InteropResult) => {
    results.push(result);
    options.onResult?.(result);
  };
  const failAll = (pairing: Pairing, reason: string) => {
    for (const name of cases) report({ name, pairing, ok: false, reason });
  };
  const python = pairings.some((p) => p !== "deno→deno") ? await pythonHasGrpc() : false;

  if (pairings.includes("deno→deno") || pairings.includes("python→deno")) {
    await using server = await createGreeterServer({
      hostname: "127.0.0.1",
      port: 0,
      handlers: interopHandlers,
      gracePeriodMs: 2000,
      onError: () => {},
    });
    if (pairings.includes("deno→deno")) await runDenoCases(server.address, cases, "deno→deno", report);
    if (pairings.includes("python→deno")) {
      if (!python) failAll("python→deno", "/usr/bin/python3 cannot import grpc");
      else {
        try {
          await runPythonCases(server.address, cases, report);
        } catch (error) {
          failAll("python→deno", oneLine(error));
        }
      }
    }
  }

  if (pairings.includes("deno→python")) {
    if (!python) failAll("deno→python", "/usr/bin/python3 cannot import grpc");
    else {
      try {
        await using peer = await startPythonServer({ interop: true });
        await runDenoCases(peer.address, cases, "deno→python", report);
      } catch (error) {
        failAll("deno→python", oneLine(error));
      }
    }
  }
  return results;
}

const HELP = `Run gRPC's interop cases across our client and server and Python grpcio's.

Usage: deno task interop [options]

Options:
  --pairing <p>   deno→deno, python→deno or deno→python (also deno-deno, ...);
                  repeat for several (default all three)
  --case <name>   one case; repeat for several (default all):
                  ${CASES.join(", ")}
  --help          show this help`;

/**
 * The `deno task interop` command line.
 *
 * @param args The command-line arguments.
 * @returns The exit code: 0 when every case passed, 1 otherwise.
 * @throws {UsageError} When the flags are wrong (the command line exits 2).
 */
export async function main(args: string[]): Promise<number> {
  const values = parseFlags(args, {
    pairing: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const pairings = values.pairing?.map((p) => p.replace("->", "→").replace("-", "→"));
  const unknownPairing = pairings?.find((p) => !(PAIRINGS as readonly string[]).includes(p));
  const unknownCase = values.case?.find((c) => !CASES.includes(c));
  if (unknownPairing !== undefined || unknownCase !== undefined) {
    console.error(
      unknownPairing !== undefined
        ? `error: --pairing must be one of ${PAIRINGS.join(", ")}, got '${unknownPairing}'`
        : `error: --case must be one of ${CASES.join(", ")}, got '${unknownCase}'`,
    );
    return 2;
  }
  const results = await runInterop({
    pairings: pairings as Pairing[] | undefined,
    cases: values.case,
    onResult: (result) => console.log(formatResult(result)),
  });
  const failed = results.filter((r) => !r.ok).length;
  console.log(`interop: ${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    exitWithError(error);
  }
}
