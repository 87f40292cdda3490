/**
 * The `.proto` → TypeScript generator's command line:
 *
 * ```sh
 * deno run --allow-read=proto --allow-write=gen jsr:@greeter/grpc/gen -o gen proto/shop.proto
 * ```
 *
 * writes `gen/shop.ts`, and a module for each file `shop.proto` imports
 * (well-known types excepted: they come from `@greeter/grpc/wkt`). With no
 * arguments (`deno task gen`) it regenerates this module's own files:
 * `proto/hello.ts`, `proto/google/protobuf/*.ts`, `proto/grpc/{health,reflection}/*.ts`
 * and `src/gen/_wkt_sources.ts`.
 *
 * The library is {@linkcode generate} in `src/gen/generate.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  DEFAULT_RUNTIME,
  DEFAULT_WKT,
  generate,
  type GeneratedFile,
  GenerateError,
  type GenerateOptions,
} from "../src/gen/generate.ts";
import { ownFiles } from "../src/gen/_own_files.ts";

export { DEFAULT_RUNTIME, DEFAULT_WKT, generate, type GeneratedFile, GenerateError, type GenerateOptions };

const USAGE = `Usage: deno run --allow-read=DIR --allow-write=OUT jsr:@greeter/grpc/gen -o OUT [-I DIR]... FILE.proto...

Generates one TypeScript module per proto3 file, and one per file it imports
(well-known types excepted), under OUT, mirroring the import paths.

Options:
  -o, --out DIR       Where to write the generated modules (required)
  -I, --include DIR   An include root for imports (repeatable); default: each file's folder
  --runtime SPEC      The runtime's import specifier (default ${DEFAULT_RUNTIME});
                      ./, ../ or / make it a path from the current directory
  --wkt SPEC          The well-known types' import specifier (default ${DEFAULT_WKT})
  -h, --help          Print this help

With no arguments, regenerates @greeter/grpc's own files (deno task gen).`;

/** A bad command line or a missing permission: one line on stderr, exit 2. */
class UsageError extends Error {}

function folderOf(path: string): string {
  const i = path.replaceAll("\\", "/").lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i) || "/";
}

function readFile(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.IsADirectory) return undefined;
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`no permission to read '${path}': add --allow-read=${folderOf(path)}`);
    }
    throw e;
  }
}

function writeFile(path: string, content: string, outDir: string): void {
  try {
    Deno.mkdirSync(folderOf(path), { recursive: true });
    Deno.writeTextFileSync(path, content);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`no permission to write '${path}': add --allow-write=${outDir}`);
    }
    throw e;
  }
}

function cwd(): string | undefined {
  try {
    return Deno.cwd();
  } catch {
    return undefined;
  }
}

/**
 * Runs the command line.
 *
 * @param args The arguments.
 * @returns The paths written.
 * @throws {UsageError} For a bad flag or a missing permission.
 * @throws {GenerateError} For an invalid or unsupported `.proto`.
 */
function run(args: string[]): string[] {
  if (args.length === 0) {
    const files = ownFiles(readFile);
    for (const file of files) writeFile(file.path, file.content, file.path.startsWith("src/") ? "src/gen" : "proto");
    return files.map((f) => f.path);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        out: { type: "string", short: "o" },
        include: { type: "string", short: "I", multiple: true },
        runtime: { type: "string" },
        wkt: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message} (see --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return [];
  }
  if (!values.out) throw new UsageError("missing -o DIR (see --help)");
  if (positionals.length === 0) throw new UsageError("no .proto files given (see --help)");
  for (const p of positionals) {
    if (!p.endsWith(".proto")) throw new UsageError(`'${p}' is not a .proto file (see --help)`);
  }
  const files = generate({
    files: positionals,
    includePaths: values.include ?? [],
    readFile,
    outDir: values.out,
    runtime: values.runtime,
    wkt: values.wkt,
    cwd: cwd(),
  });
  for (const file of files) writeFile(file.path, file.content, values.out);
  return files.map((f) => f.path);
}

function main(): void {
  try {
    for (const path of run(Deno.args)) console.log(`wrote ${path}`);
  } catch (e) {
    if (e instanceof GenerateError || e instanceof UsageError) {
      console.error(e.message);
      Deno.exit(2);
    }
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}

if (import.meta.main) main();
