/**
 * Switches for `deno task bench:compare --ab`: each turns one of the pieces
 * the server adds to grpc-js off (`h2cap`: the cap on concurrent streams),
 * so that what it costs can be measured against the whole server in one run.
 * Read once from `GREETER_BENCH_OFF` (comma-separated), only when that
 * variable may be read without a prompt; unset, nothing changes.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import type { AnyMethod } from "./schema.ts";

/** The pieces that can be switched. */
export const BENCH_PIECES = ["coalesce", "strict", "drain", "h2cap", "adapters", "listener", "batch"] as const;

/** One of {@linkcode BENCH_PIECES}. */
export type BenchPiece = typeof BENCH_PIECES[number];

const VARIABLE = "GREETER_BENCH_OFF";

function read(): ReadonlySet<string> {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  try {
    if (!deno || deno.permissions.querySync({ name: "env", variable: VARIABLE }).state !== "granted") return new Set();
    return new Set((deno.env.get(VARIABLE) ?? "").split(",").map((piece) => piece.trim()).filter((piece) => piece));
  } catch {
    return new Set();
  }
}

const switched = read();

/**
 * Whether a piece is switched for this process.
 *
 * @param piece The piece.
 * @returns True when `GREETER_BENCH_OFF` names it.
 */
export function benchSwitched(piece: BenchPiece): boolean {
  return switched.has(piece);
}

/**
 * The handler grpc-js would run with none of our adapters: the request as
 * decoded, the response encoded, nothing tracked. For measurement only.
 *
 * @param method The RPC.
 * @param handler The user's handler.
 * @returns What grpc-js's `addService` takes for it.
 */
export function bareHandler(
  method: AnyMethod,
  // deno-lint-ignore no-explicit-any
  handler: (input: any, context: any) => any,
): grpc.UntypedHandleCall {
  const encode = method.O.encode as (value: unknown) => Buffer;
  switch (method.kind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<unknown, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        Promise.resolve(handler(call.request, call)).then((response) => callback(null, encode(response)));
      };
    case "server_streaming":
      return (call: grpc.ServerWritableStream<unknown, Buffer>) => {
        (async () => {
          for await (const response of handler(call.request, call)) {
            if (!call.write(encode(response))) await new Promise((resolve) => call.once("drain", resolve));
          }
          call.end();
        })();
      };
    case "client_streaming":
      return (call: grpc.ServerReadableStream<unknown, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        Promise.resolve(handler(call.iterator({ destroyOnReturn: false }), call)).then((response) =>
          callback(null, encode(response))
        );
      };
    case "bidi_streaming":
      return (call: grpc.ServerDuplexStream<unknown, Buffer>) => {
        (async () => {
          for await (const response of handler(call.iterator({ destroyOnReturn: false }), call)) {
            if (!call.write(encode(response))) await new Promise((resolve) => call.once("drain", resolve));
          }
          call.end();
        })();
      };
  }
}
