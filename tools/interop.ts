/**
 * gRPC's interop test cases (grpc/grpc `doc/interop-test-descriptions.md`)
 * against `grpc.testing.TestService`, across languages:
 *
 * - `deno→deno`: our client against our server (`tools/test_service.ts`),
 * - `python→deno`: Python grpcio's interop client (`tests/peers/interop_client.py`) against our server,
 * - `deno→python`: our client against Python grpcio's TestService (`tests/peers/test_service_server.py`).
 *
 * The service's code is generated at test time from Debian's `grpc-proto`
 * package by our own gen (`deno task gen:testing`).
 *
 * Usage: `deno task interop [--pairing deno→deno] [--case large_unary]`
 * (both repeatable). Prints one line per case and pairing and a closing
 * `interop: N passed, M failed`; exits 1 on any failure.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type Client, createClient, GrpcError, type Metadata, Status } from "../mod.ts";
import { statusName } from "../src/errors.ts";
import { TestService, UnimplementedService } from "../tests/gen/grpc/testing/test.ts";
import { PayloadType, type StreamingOutputCallRequest } from "../tests/gen/grpc/testing/messages.ts";
import type { Init } from "../src/schema.ts";
import { ECHO_INITIAL, ECHO_TRAILING, serveTestService, zeros } from "./test_service.ts";
import { pythonHasGrpc, runInteropClient, startTestServiceServer } from "./python_peer.ts";
import { exitWithError, parseFlags } from "../src/_cli.ts";

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

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Whether `payload` is a COMPRESSABLE body of `size` zero bytes. */
function isZeros(payload: { type: number; body: Uint8Array } | undefined, size: number): boolean {
  return payload !== undefined && payload.type === PayloadType.COMPRESSABLE && payload.body.length === size &&
    payload.body.every((byte) => byte === 0);
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

/** The values of `key` in `metadata`, for a failure message. */
function describe(metadata: Metadata | undefined, key: string): string {
  if (!metadata) return "none received";
  const values = metadata.get(key).map((v) =>
    typeof v === "string" ? JSON.stringify(v) : `<${Buffer.from(v).toString("hex")}>`
  );
  return `${key}: [${values.join(", ")}]`;
}

/** The clients one case may use. */
interface Clients {
  test: Client<typeof TestService>;
  unimplemented: Client<typeof UnimplementedService>;
}

/** One case run by our client. */
type DenoCase = (clients: Clients) => Promise<void>;

const opts = { timeout: CALL_TIMEOUT_MS };

const streamingRequest = (responseSize: number, payloadSize: number): Init<StreamingOutputCallRequest> => ({
  responseType: PayloadType.COMPRESSABLE,
  responseParameters: [{ size: responseSize }],
  payload: zeros(payloadSize),
});

/** The cases, by their names in gRPC's interop-test descriptions. */
export const DENO_CASES: Readonly<Record<string, DenoCase>> = {
  async empty_unary({ test }) {
    const reply = await test.emptyCall({}, opts);
    check(Object.keys(reply).length === 0, `expected an empty message, got ${JSON.stringify(reply)}`);
  },

  async large_unary({ test }) {
    const reply = await test.unaryCall(
      { responseType: PayloadType.COMPRESSABLE, responseSize: 314159, payload: zeros(271828) },
      opts,
    );
    check(isZeros(reply.payload, 314159), `wrong payload: ${reply.payload?.body.length} bytes`);
  },

  async client_streaming({ test }) {
    const reply = await test.streamingInputCall(REQUEST_SIZES.map((size) => ({ payload: zeros(size) })), opts);
    check(reply.aggregatedPayloadSize === 74922, `aggregated size ${reply.aggregatedPayloadSize}`);
  },

  async server_streaming({ test }) {
    const replies = await collect(test.streamingOutputCall({
      responseType: PayloadType.COMPRESSABLE,
      responseParameters: RESPONSE_SIZES.map((size) => ({ size })),
    }, opts));
    check(replies.length === RESPONSE_SIZES.length, `${replies.length} responses`);
    check(replies.every((reply, i) => isZeros(reply.payload, RESPONSE_SIZES[i]!)), "wrong response payloads");
  },

  async ping_pong({ test }) {
    let replied: (() => void) | undefined;
    async function* pings() {
      for (let i = 0; i < REQUEST_SIZES.length; i++) {
        const reply = new Promise<void>((resolve) => replied = resolve);
        yield streamingRequest(RESPONSE_SIZES[i]!, REQUEST_SIZES[i]!);
        await reply;
      }
    }
    let i = 0;
    for await (const reply of test.fullDuplexCall(pings(), opts)) {
      check(i < RESPONSE_SIZES.length, "a reply after the last ping");
      check(isZeros(reply.payload, RESPONSE_SIZES[i]!), `wrong reply to ping ${i}`);
      i++;
      replied?.();
    }
    check(i === REQUEST_SIZES.length, `${i} replies to ${REQUEST_SIZES.length} pings`);
  },

  async empty_stream({ test }) {
    const replies = await collect(test.fullDuplexCall([], opts));
    check(replies.length === 0, `${replies.length} replies to no requests`);
  },

  async custom_metadata({ test }) {
    const metadata = { [ECHO_INITIAL]: ECHO_INITIAL_VALUE, [ECHO_TRAILING]: ECHO_TRAILING_VALUE };
    for (const kind of ["unary", "full duplex"] as const) {
      let header: Metadata | undefined;
      let trailer: Metadata | undefined;
      const options = {
        ...opts,
        metadata,
        onHeader: (m: Metadata) => header = m,
        onTrailer: (m: Metadata) => trailer = m,
      };
      if (kind === "unary") {
        const reply = await test.unaryCall({ responseSize: 314159, payload: zeros(271828) }, options);
        check(isZeros(reply.payload, 314159), "wrong unary payload");
      } else {
        const replies = await collect(test.fullDuplexCall([streamingRequest(314159, 271828)], options));
        check(replies.length === 1 && isZeros(replies[0]!.payload, 314159), "wrong full duplex payload");
      }
      const initial = header?.get(ECHO_INITIAL)[0];
      check(initial === ECHO_INITIAL_VALUE, `${kind} header ${describe(header, ECHO_INITIAL)}`);
      const trailing = trailer?.get(ECHO_TRAILING)[0];
      check(
        trailing instanceof Uint8Array && Buffer.from(trailing).equals(ECHO_TRAILING_VALUE),
        `${kind} trailer ${describe(trailer, ECHO_TRAILING)}`,
      );
    }
  },

  async status_code_and_message({ test }) {
    const responseStatus = { code: Status.UNKNOWN, message: "test status message" };
    await expectError(test.unaryCall({ responseStatus }, opts), Status.UNKNOWN, "test status message");
    await expectError(
      collect(test.fullDuplexCall([{ responseStatus }], opts)),
      Status.UNKNOWN,
      "test status message",
    );
  },

  async special_status_message({ test }) {
    const responseStatus = { code: Status.UNKNOWN, message: SPECIAL_MESSAGE };
    await expectError(test.unaryCall({ responseStatus }, opts), Status.UNKNOWN, SPECIAL_MESSAGE);
  },

  async unimplemented_method({ test }) {
    await expectError(test.unimplementedCall({}, opts), Status.UNIMPLEMENTED);
  },

  async unimplemented_service({ unimplemented }) {
    await expectError(unimplemented.unimplementedCall({}, opts), Status.UNIMPLEMENTED);
  },

  async cancel_after_begin({ test }) {
    const controller = new AbortController();
    // No request until the call is cancelled; then the end of the requests.
    const never: AsyncIterable<never> = {
      [Symbol.asyncIterator]: () => ({
        next: () => untilAborted(controller.signal).then(() => ({ done: true, value: undefined as never })),
      }),
    };
    const reply = test.streamingInputCall(never, { ...opts, signal: controller.signal });
    controller.abort();
    await expectError(reply, Status.CANCELLED);
  },

  async cancel_after_first_response({ test }) {
    const controller = new AbortController();
    async function* requests() {
      yield streamingRequest(31415, 27182);
      await untilAborted(controller.signal);
    }
    const replies = test.fullDuplexCall(requests(), { ...opts, signal: controller.signal });
    try {
      const first = await replies.next();
      check(!first.done && isZeros(first.value.payload, 31415), "wrong first reply");
      controller.abort();
      await expectError(replies.next(), Status.CANCELLED);
    } finally {
      await replies.return();
    }
  },

  async timeout_on_sleeping_server({ test }) {
    const controller = new AbortController();
    async function* requests() {
      yield { payload: zeros(27182) };
      await untilAborted(controller.signal);
    }
    try {
      await expectError(collect(test.fullDuplexCall(requests(), { timeout: 1 })), Status.DEADLINE_EXCEEDED);
    } finally {
      controller.abort();
    }
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
  using test = createClient(TestService, address);
  using unimplemented = createClient(UnimplementedService, address);
  const clients: Clients = { test, unimplemented };
  for (const name of cases) {
    const run = DENO_CASES[name];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (!run) throw new CaseFailed("no such case");
      await Promise.race([
        run(clients),
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
  const run = await runInteropClient(address, { cases });
  for (const result of run.results) report({ ...result, pairing });
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
    await using server = await serveTestService();
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
        await using peer = await startTestServiceServer();
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
