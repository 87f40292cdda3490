/**
 * The tutorial's serialization demo: a `HelloRequest` to protobuf bytes and
 * back, byte for byte what Python's `SerializeToString()` and
 * `ParseFromString()` do.
 *
 * Usage: `deno task demo [name]` (default `bobby`).
 *
 * @module
 */
import { decodeHelloRequest, encodeHelloRequest } from "../mod.ts";
import { exitWithError, UsageError } from "../src/_cli.ts";

/**
 * Prints the bytes of `HelloRequest { name }` and the message read back from them.
 *
 * @param args The command-line arguments: an optional name.
 * @throws {UsageError} With more than one argument.
 */
export function main(args: string[]): void {
  if (args.length > 1) throw new UsageError("usage: deno task demo [name]");
  const name = args[0] ?? "bobby";
  const bytes = encodeHelloRequest({ name });
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  console.log(`HelloRequest ${JSON.stringify({ name })}`);
  console.log(`  serialized: ${bytes.length} bytes: ${hex}`);
  console.log(`  parsed back: ${JSON.stringify(decodeHelloRequest(bytes))}`);
}

if (import.meta.main) {
  try {
    main(Deno.args);
  } catch (error) {
    exitWithError(error);
  }
}
