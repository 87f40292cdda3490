/**
 * The `.proto` → TypeScript generator as a library: proto3 files in, one
 * TypeScript module per file out, for the runtime of `@greeter/grpc`. It has
 * its own tokenizer and parser, so it needs nothing installed and no
 * permission beyond reading the `.proto` files.
 *
 * @example Generate from sources in memory
 * ```ts
 * import { generate } from "@greeter/grpc/gen";
 *
 * const sources: Record<string, string> = {
 *   "shop.proto": 'syntax = "proto3"; package shop; message Item { string name = 1; }',
 * };
 * const [file] = generate({ files: ["shop.proto"], readFile: (path) => sources[path] });
 * console.log(file!.name); // "shop.ts"
 * ```
 *
 * @module
 */
import { emitFile } from "./_emit.ts";
import { checkOptions } from "./_descriptor.ts";
import { GenerateError } from "./_errors.ts";
import { join, load, normalize, type ProtoFile } from "./_resolve.ts";
import { WKT_SOURCES } from "./_wkt_sources.ts";

export { GenerateError };

/** The runtime's import specifier that generated files use by default. */
export const DEFAULT_RUNTIME = "@greeter/grpc/runtime";
/** The well-known types' import specifier that generated files use by default. */
export const DEFAULT_WKT = "@greeter/grpc/wkt";

/** The options of {@linkcode generate}. */
export interface GenerateOptions {
  /** The `.proto` files to generate, as paths for `readFile`. */
  readonly files: readonly string[];
  /** The include roots imports are looked up in; without any, each file's own folder. */
  readonly includePaths?: readonly string[];
  /** Reads a file; returns `undefined` when there is no such file. */
  readonly readFile: (path: string) => string | undefined;
  /** Where the generated files go; relative import specifiers are computed from it. Default `"."`. */
  readonly outDir?: string;
  /**
   * The runtime's import specifier. One starting with `./`, `../` or `/` is a
   * path from the current directory, rewritten relative to each generated file.
   * Default {@linkcode DEFAULT_RUNTIME}.
   */
  readonly runtime?: string;
  /** The well-known types' import specifier, like `runtime`. Default {@linkcode DEFAULT_WKT}. */
  readonly wkt?: string;
  /** The current directory, needed only when `outDir` is absolute and a specifier is a relative path. */
  readonly cwd?: string;
}

/** One generated module. */
export interface GeneratedFile {
  /** Its path under `outDir`, such as `"grpc/testing/test.ts"`. */
  readonly name: string;
  /** Its path including `outDir`, such as `"gen/grpc/testing/test.ts"`. */
  readonly path: string;
  /** The `.proto` it was generated from, as imported. */
  readonly proto: string;
  /** Its source, in `deno fmt` form. */
  readonly content: string;
}

function isPath(spec: string): boolean {
  return spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/");
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** The import specifier of `target` from a module in `fromDir` (both normalized, both relative or both absolute). */
function relativeSpecifier(fromDir: string, target: string): string {
  const from = fromDir === "." ? [] : fromDir.split("/");
  const to = target.split("/");
  let common = 0;
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) common++;
  const up = from.slice(common).map(() => "..");
  const rel = [...up, ...to.slice(common)].join("/");
  return rel.startsWith("../") ? rel : "./" + rel;
}

/**
 * Generates the TypeScript modules of proto3 files: one per input file, and
 * one per non-well-known file they import, so the output always type-checks.
 *
 * @param options The files, include paths, how to read, and the import specifiers.
 * @returns The generated files, inputs first.
 * @throws {GenerateError} When a file is invalid or not proto3, uses an unsupported construct, or an import is missing or cyclic.
 *
 * @example One file
 * ```ts
 * import { generate } from "@greeter/grpc/gen";
 *
 * const files = generate({
 *   files: ["proto/shop.proto"],
 *   readFile: (path) => Deno.readTextFileSync(path),
 *   outDir: "gen",
 * });
 * for (const file of files) Deno.writeTextFileSync(file.path, file.content);
 * ```
 */
export function generate(options: GenerateOptions): GeneratedFile[] {
  const { inputs, all } = load({
    inputs: options.files,
    includePaths: options.includePaths ?? [],
    readFile: options.readFile,
    wktSources: WKT_SOURCES,
  });
  const targets: ProtoFile[] = [...inputs];
  for (const file of all) if (!file.wkt && !targets.includes(file)) targets.push(file);
  for (const file of all) checkOptions(file);
  const outDir = normalize(options.outDir ?? ".");
  const resolveSpec = (spec: string, fromDir: string): string => {
    if (!isPath(spec)) return spec;
    let target = normalize(spec);
    const absOut = outDir.startsWith("/");
    if (target.startsWith("/") !== absOut) {
      if (!absOut) return target;
      if (!options.cwd) return target;
      target = join(options.cwd, target);
    }
    return relativeSpecifier(fromDir, target);
  };
  const outName = (file: ProtoFile) => file.name.replace(/\.proto$/, "") + ".ts";
  return targets.map((file) => {
    const name = outName(file);
    const path = join(outDir, name);
    const fromDir = dirname(path);
    const content = emitFile(file, {
      runtime: resolveSpec(options.runtime ?? DEFAULT_RUNTIME, fromDir),
      wkt: resolveSpec(options.wkt ?? DEFAULT_WKT, fromDir),
      specifierOf: (dep) => relativeSpecifier(dirname(name), outName(dep)),
    });
    return { name, path, proto: file.name, content };
  });
}

/**
 * The source of `src/gen/_wkt_sources.ts`: the well-known types' `.proto`
 * texts, embedded so that imports of them need no files.
 *
 * @param sources The texts, by import path such as `"google/protobuf/any.proto"`.
 * @returns The module's source, in `deno fmt` form.
 */
export function wktSourcesModule(sources: Readonly<Record<string, string>>): string {
  const out = [
    "// Code generated by @greeter/grpc gen from proto/google/protobuf/*.proto. DO NOT EDIT.",
    "/**",
    " * The `.proto` sources of the well-known types, so that files importing",
    " * them generate without the user having them.",
    " *",
    " * @module",
    " */",
    "",
    "/** The sources, by import path. */",
    "export const WKT_SOURCES: Readonly<Record<string, string>> = {",
  ];
  for (const name of Object.keys(sources).sort()) {
    const text = sources[name]!.replaceAll("\\", "\\\\").replaceAll("`", "\\`").replaceAll("${", "\\${");
    out.push(`  ${JSON.stringify(name)}: \`${text}\`,`);
  }
  out.push("};", "");
  return out.join("\n");
}
