/**
 * Several streamed responses in one write: messages written in one turn of
 * the event loop are framed into one buffer and handed to grpc-js as one
 * {@linkcode Framed} write (one DATA frame, one system call on Deno, where
 * each write costs a `sendto()`), up to {@linkcode BATCH_BYTES} at a time.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import { acceptFramed, Framed } from "./_grpc_internals.ts";
import { benchSwitched } from "./_bench_off.ts";

/** The most bytes of frames in one write. */
export const BATCH_BYTES = 64 * 1024;

/** Writes of one call's responses. */
export interface ResponseWriter {
  /** Queues an encoded message; false when the caller must wait for "drain". */
  write(message: Uint8Array): boolean;
  /** Writes what is queued now; false when the caller must wait for "drain". */
  flush(): boolean;
}

/**
 * The writer of a call's responses: batched where the call allows it
 * ({@linkcode acceptFramed}), one write per message otherwise.
 *
 * @param call The handler's call object.
 * @returns The writer.
 */
export function responseWriter(call: { write(chunk: unknown): boolean }): ResponseWriter {
  if (benchSwitched("batch") || !acceptFramed(call)) {
    return { write: (message) => call.write(message), flush: () => true };
  }
  let queued: Uint8Array[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = (): boolean => {
    if (queued.length === 0) return true;
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (const message of queued) {
      out[at] = 0;
      out.writeUInt32BE(message.length, at + 1);
      out.set(message, at + 5);
      at += 5 + message.length;
    }
    queued = [];
    bytes = 0;
    return call.write(new Framed(out));
  };
  const flushLater = () => {
    scheduled = false;
    flush();
  };
  return {
    write(message) {
      queued.push(message);
      bytes += 5 + message.length;
      if (bytes >= BATCH_BYTES) return flush();
      if (!scheduled) {
        // What the handler yields in this turn leaves together, at its end.
        scheduled = true;
        setImmediate(flushLater);
      }
      return true;
    },
    flush,
  };
}
