/**
 * This module's own generated files: `proto/hello.ts`, the well-known types,
 * gRPC's health and reflection services, and `src/gen/_wkt_sources.ts`; what
 * `deno task gen` writes with no arguments, and what the drift test checks.
 *
 * @module
 */
import { generate, wktSourcesModule } from "./generate.ts";

/** The well-known types this module ships, by file. */
export const WKT_NAMES: readonly string[] = [
  "any",
  "duration",
  "empty",
  "field_mask",
  "struct",
  "timestamp",
  "wrappers",
];

/** gRPC's standard services this module hosts (health checking, reflection), by import path. */
export const GRPC_SERVICE_PROTOS: readonly string[] = [
  "grpc/health/v1/health.proto",
  "grpc/reflection/v1/reflection.proto",
  "grpc/reflection/v1alpha/reflection.proto",
];

/** The arguments `deno task gen` means with none: this module's own files. */
const SELF = {
  files: [
    "proto/hello.proto",
    ...WKT_NAMES.map((n) => `proto/google/protobuf/${n}.proto`),
    ...GRPC_SERVICE_PROTOS.map((p) => `proto/${p}`),
  ],
  includePaths: ["proto"],
  outDir: "proto",
  runtime: "./src/runtime.ts",
  wkt: "./src/wkt.ts",
};

/**
 * This module's own generated files, as `deno task gen` writes them: paths
 * are relative to the module's root, which must be the current directory.
 *
 * @param read Reads a file; `undefined` when there is none.
 * @returns The paths and contents.
 * @throws {GenerateError} When a `.proto` of the module is invalid.
 */
export function ownFiles(read: (path: string) => string | undefined): { path: string; content: string }[] {
  const files = generate({ ...SELF, readFile: read });
  const sources: Record<string, string> = {};
  for (const n of WKT_NAMES) sources[`google/protobuf/${n}.proto`] = read(`proto/google/protobuf/${n}.proto`) ?? "";
  return [
    ...files.map((f) => ({ path: f.path, content: f.content })),
    { path: "src/gen/_wkt_sources.ts", content: wktSourcesModule(sources) },
  ];
}
