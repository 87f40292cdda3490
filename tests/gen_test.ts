import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { GRPC_SERVICE_PROTOS, ownFiles } from "../src/gen/_own_files.ts";
import { generate, GenerateError } from "../src/gen/generate.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const GEN = `${ROOT}/proto/gen.ts`;
const PROTOC = "/usr/bin/protoc";
const GRPC_PROTO = "/usr/share/grpc-proto";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], cwd = ROOT): Promise<Run> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs the CLI the way users do: read and write only where needed, nothing else. */
function gen(dir: string, args: string[]): Promise<Run> {
  return run(Deno.execPath(), ["run", `--allow-read=${dir}`, `--allow-write=${dir}`, GEN, ...args], dir);
}

async function tempProject(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "gen_test_" });
  const config = {
    imports: { "@greeter/grpc/runtime": `${ROOT}/src/runtime.ts`, "@greeter/grpc/wkt": `${ROOT}/src/wkt.ts` },
    compilerOptions: { strict: true, noUncheckedIndexedAccess: true },
    fmt: { lineWidth: 120 },
    lint: { rules: { tags: ["recommended", "jsr"] } },
  };
  await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify(config));
  for (const [name, text] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
  return dir;
}

async function checkOutputs(dir: string, out = "gen"): Promise<void> {
  const check = await run(Deno.execPath(), ["check", "--quiet", out], dir);
  assertEquals(check.code, 0, `deno check failed:\n${check.stderr}`);
  const fmt = await run(Deno.execPath(), ["fmt", "--check", out], dir);
  assertEquals(fmt.code, 0, `deno fmt --check failed:\n${fmt.stderr}`);
  const lint = await run(Deno.execPath(), ["lint", out], dir);
  assertEquals(lint.code, 0, `deno lint failed:\n${lint.stdout}${lint.stderr}`);
}

const SHOP = `// Every construct the generator accepts.
syntax = "proto3";
/* a block
   comment */
package shop.v1;

import "common/common.proto";
import public "common/reexported.proto";
import weak "common/weak.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";

option java_package = "com.example.shop";
option go_package = "example.com/shop;shop" "pb";
option (my.custom) = { a: 1 b: { c: "x" } };

enum Color {
  option allow_alias = true;
  COLOR_UNSPECIFIED = 0;
  RED = 1;
  CRIMSON = 1 [deprecated = true];
  NEGATIVE = -3;
  reserved 10 to 20, 30;
  reserved "OLD";
}

message Item {
  option deprecated = false;
  string name = 1 [json_name = "itemName"];
  int64 price = 2;
  repeated string tags = 3;
  map<string, string> attrs = 4;
  Color color = 5;
  google.protobuf.Timestamp created = 6;
  optional string nick = 7;
  oneof choice {
    int32 a = 8;
    Inner b = 9;
  }
  bytes data = 10;
  repeated int32 packed_default = 11;
  repeated int32 not_packed = 12 [packed = false];
  repeated Color colors = 13 [packed = false];
  map<int32, Inner> by_id = 14;
  map<uint64, Color> by_big = 15;
  map<bool, bytes> by_flag = 16;
  double d = 17; float f = 18; uint32 u32 = 19; uint64 u64 = 20; sint32 s32 = 21; sint64 s64 = 22;
  fixed32 fx32 = 23; fixed64 fx64 = 24; sfixed32 sfx32 = 25; sfixed64 sfx64 = 26; bool flag = 27;
  shop.common.Money cost = 28;
  .shop.common.Money cost2 = 29 [(my.field_opt) = 3];
  common.Money cost3 = 30;
  shop.common.Reexported re = 31;
  google.protobuf.Struct meta = 32;
  google.protobuf.Any any = 33;
  google.protobuf.Duration ttl = 34;
  google.protobuf.Int64Value maybe = 35;
  google.protobuf.FieldMask mask = 36;
  google.protobuf.Value value = 37;
  optional Inner opt_inner = 38;
  string constructor = 39;
  string to_string = 40;
  string __proto__ = 41;
  reserved 100 to 110, 200 to max;
  reserved "gone", "old";
  message Inner {
    enum Kind { KIND_UNSPECIFIED = 0; BIG = 1; }
    Kind kind = 1;
    Item parent = 2;
    string s = 3 [deprecated = true, (my.x).y = "z"];
  }
  ;
}

message Empty {}

service Shop {
  option deprecated = true;
  rpc GetItem(GetItemRequest) returns (Item);
  rpc ListItems(ListRequest) returns (stream Item) {}
  rpc PutItems(stream Item) returns (google.protobuf.Empty) {
    option idempotency_level = IDEMPOTENT;
    option (my.method) = { x: [1, 2] };
  }
  rpc Chat(stream .shop.v1.Item) returns (stream Item.Inner);
}

message GetItemRequest { string name = 1; }
message ListRequest { int32 page_size = 1; string page_token = 2; }
`;

const COMMON = `syntax = "proto3";
package shop.common;
message Money { string currency = 1; int64 units = 2; }
`;
const REEXPORTED = `syntax = "proto3";
package shop.common;
message Reexported { string x = 1; }
`;
const WEAK = `syntax = "proto3";
package shop.weak;
message W { string x = 1; }
`;

Deno.test("gen: every proto3 construct generates code that checks, is formatted and lint-clean", async (t) => {
  const dir = await tempProject({
    "proto/shop.proto": SHOP,
    "proto/common/common.proto": COMMON,
    "proto/common/reexported.proto": REEXPORTED,
    "proto/common/weak.proto": WEAK,
  });
  try {
    const result = await gen(dir, ["-o", "gen", "proto/shop.proto"]);
    assertEquals(result.code, 0, result.stderr);
    await t.step("writes the input and every non-WKT file it imports, mirroring import paths", async () => {
      const written = [];
      for await (const e of Deno.readDir(`${dir}/gen/common`)) written.push(e.name);
      assertEquals(written.sort(), ["common.ts", "reexported.ts", "weak.ts"]);
      await Deno.stat(`${dir}/gen/shop.ts`);
      await assertMissing(`${dir}/gen/google`);
    });
    const shop = await Deno.readTextFile(`${dir}/gen/shop.ts`);
    await t.step("the generated shape", () => {
      for (
        const s of [
          "// Code generated by @greeter/grpc gen from shop.proto. DO NOT EDIT.",
          'import * as $rt from "@greeter/grpc/runtime";',
          'import * as $wkt from "@greeter/grpc/wkt";',
          'import * as $common from "./common/common.ts";',
          "export enum Color {\n  COLOR_UNSPECIFIED = 0,\n  RED = 1,\n  CRIMSON = 1,\n  NEGATIVE = -3,\n}",
          "  price: bigint;",
          "  tags: string[];",
          "  attrs: Record<string, string>;",
          "  color: Color;",
          "  created?: $wkt.Timestamp;",
          "  nick?: string;",
          "  data: Uint8Array;",
          '    | { case: "a"; value: number }\n    | { case: "b"; value: Item_Inner }\n' +
          "    | { case: undefined; value?: undefined };",
          "  byId: Record<number, Item_Inner>;",
          "  byBig: Record<string, Color>;",
          "  byFlag: Record<string, Uint8Array>;",
          "  cost?: $common.Money;",
          "  re?: $reexported.Reexported;",
          "  constructor$: string;",
          "  toString$: string;",
          "  Proto: string;", // protoc's JSON name of `__proto__`
          "export interface Item_Inner {",
          "export enum Item_Inner_Kind {",
          '{ no: 2, name: "price", localName: "price", kind: "scalar", T: $rt.ScalarType.INT64 },',
          '{ no: 5, name: "color", localName: "color", kind: "enum", T: "shop.v1.Color" },',
          '{ no: 6, name: "created", localName: "created", kind: "message", T: () => $wkt.Timestamp },',
          "T: $rt.ScalarType.STRING, optional: true },",
          'kind: "scalar", T: $rt.ScalarType.INT32, oneof: "choice" },',
          'kind: "message", T: () => Item_Inner, oneof: "choice" },',
          'name: "tags", localName: "tags", kind: "scalar", T: $rt.ScalarType.STRING, repeated: true },',
          '    name: "not_packed",\n    localName: "notPacked",\n    kind: "scalar",\n    T: $rt.ScalarType.INT32,\n' +
          "    repeated: true,\n    packed: false,\n  },",
          'T: "shop.v1.Color", repeated: true, packed: false },',
          'V: { kind: "message", T: () => Item_Inner },',
          '"shop.proto",',
          "  [\n    $common.file_common_common,\n    $reexported.file_common_reexported,\n    $weak.file_common_weak,\n" +
          "    $wkt.file_google_protobuf_timestamp,\n",
          "readonly getItem: $rt.UnaryMethod<GetItemRequest, Item>;",
          "readonly listItems: $rt.ServerStreamingMethod<ListRequest, Item>;",
          "readonly putItems: $rt.ClientStreamingMethod<Item, $wkt.Empty>;",
          "readonly chat: $rt.BidiStreamingMethod<Item, Item_Inner>;",
          '}> = $rt.serviceType("shop.v1.Shop", {',
          '  chat: { name: "Chat", I: Item, O: Item_Inner, kind: "bidi_streaming" },',
          "}, file_shop);",
          "// deno-lint-ignore no-empty-interface\nexport interface Empty {}",
        ]
      ) assertStringIncludes(shop, s);
      assert(!shop.includes("ItemAttrsEntry") && !shop.includes("AttrsEntry {"), "map entries are not emitted");
    });
    await t.step("deno check, deno fmt --check and deno lint accept the output", () => checkOutputs(dir));
    await t.step("a type misuse fails deno check", async () => {
      await Deno.writeTextFile(
        `${dir}/misuse.ts`,
        'import type { Item } from "./gen/shop.ts";\nexport const item: Partial<Item> = { nmae: "x" };\n',
      );
      const check = await run(Deno.execPath(), ["check", "--quiet", "misuse.ts"], dir);
      assertEquals(check.code, 1);
      assertStringIncludes(check.stderr, "nmae");
      await Deno.writeTextFile(
        `${dir}/misuse.ts`,
        'import type { Item } from "./gen/shop.ts";\nexport const item: Partial<Item> = { price: 1 };\n',
      );
      const check2 = await run(Deno.execPath(), ["check", "--quiet", "misuse.ts"], dir);
      assertEquals(check2.code, 1, "a number where a bigint is due must not check");
      await Deno.remove(`${dir}/misuse.ts`);
    });
    await t.step("messages round-trip through the runtime and protoc agrees with the bytes", async () => {
      const mod = await import(`${dir}/gen/shop.ts`);
      const item = {
        name: "tea",
        price: -5n,
        tags: ["a", "b"],
        attrs: { k: "v" },
        color: 1,
        created: { seconds: 7n, nanos: 9 },
        nick: "",
        choice: { case: "b", value: { kind: 1, s: "in" } },
        notPacked: [1, 2],
        packedDefault: [3, 300],
        byId: { 5: { s: "five" } },
        byBig: { "18446744073709551615": 1 },
        byFlag: { true: new Uint8Array([1]) },
        u64: 18446744073709551615n,
        d: 1.5,
        constructor$: "c",
      };
      const bytes: Uint8Array = mod.Item.encode(item);
      const back = mod.Item.decode(bytes);
      assertEquals(back, mod.Item.create(item));
      assertEquals(back.choice.case, "b");
      assertEquals(back.choice.value.s, "in");
      assertEquals(back.u64, 18446744073709551615n);
      const plain = await protocProject();
      const decoded = await protocDecode(plain, "shop.proto", "shop.v1.Item", bytes);
      await Deno.remove(plain, { recursive: true });
      assertStringIncludes(decoded, 'itemName: "tea"'.replace("itemName", "name"));
      assertStringIncludes(decoded, "price: -5");
      assertStringIncludes(decoded, "not_packed: 1\nnot_packed: 2");
      assertStringIncludes(decoded, "u64: 18446744073709551615");
      assertStringIncludes(decoded, 'constructor: "c"');
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertMissing(path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  throw new Error(`${path} should not exist`);
}

/** The shop files as protoc can read them: custom options dropped, the WKT files copied. */
async function protocProject(): Promise<string> {
  const dir = await tempProject({
    "shop.proto": SHOP.replace('option (my.custom) = { a: 1 b: { c: "x" } };', "")
      .replace(" [(my.field_opt) = 3]", "").replace(', (my.x).y = "z"', "")
      .replace("option (my.method) = { x: [1, 2] };", ""),
    "common/common.proto": COMMON,
    "common/reexported.proto": REEXPORTED,
    "common/weak.proto": WEAK,
  });
  await Deno.mkdir(`${dir}/google/protobuf`, { recursive: true });
  for (const n of ["any", "duration", "empty", "field_mask", "struct", "timestamp", "wrappers"]) {
    await Deno.copyFile(`${ROOT}/proto/google/protobuf/${n}.proto`, `${dir}/google/protobuf/${n}.proto`);
  }
  return dir;
}

async function protocDecode(root: string, file: string, type: string, bytes: Uint8Array): Promise<string> {
  const child = new Deno.Command(PROTOC, {
    args: [`-I${root}`, `--decode=${type}`, file],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(bytes);
  await w.close();
  const out = await child.output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("gen: long names and paths still come out in deno fmt form", async () => {
  // Long, but not absurd: identifiers past ~100 characters get layouts the emitter does not reproduce.
  const long = "AQuiteLongMessageNameForTesting";
  const proto = `syntax = "proto3";
package some.rather.long.package_name.for_testing.the_line_width;
import "deeply/nested/folder/other_file_with_a_long_name.proto";
message ${long} {
  message ${long}Nested { string the_field_with_a_long_name_number_one = 1; repeated ${long} back_reference_to_parent = 2; }
  ${long}Nested nested_field_with_a_rather_long_name = 1;
  map<string, ${long}Nested> map_field_with_a_long_name_to_nested_messages = 2;
  oneof one_of_with_a_long_name { ${long}Nested first_alternative_with_a_long_name = 3; string second = 4; }
  deeply.nested.Other other_message_from_the_other_file_with_long_name = 5;
}
message Short {}
service ${long}Service {
  rpc ${long}Method(${long}) returns (stream ${long}.${long}Nested);
  rpc Other(deeply.nested.Other) returns (Short);
}
service Nothing {}
`;
  const other = `syntax = "proto3";\npackage deeply.nested;\nmessage Other { string s = 1; }\n`;
  const dir = await tempProject({
    "p/x.proto": proto,
    "p/deeply/nested/folder/other_file_with_a_long_name.proto": other,
  });
  try {
    const result = await gen(dir, ["-o", "gen", "-I", "p", "p/x.proto"]);
    assertEquals(result.code, 0, result.stderr);
    await checkOutputs(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const REFUSALS: [string, string, RegExp][] = [
  ["no syntax line", "package a;\nmessage M { string s = 1; }\n", /^x\.proto:1:1: .*'syntax.*proto2/],
  ["proto2", 'syntax = "proto2";\n', /^x\.proto:1:10: .*'proto2'.*only proto3/],
  ["edition", 'edition = "2023";\n', /^x\.proto:1:1: 'edition' is not supported/],
  [
    "required",
    'syntax = "proto3";\nmessage M {\n  required string s = 1;\n}\n',
    /^x\.proto:3:3: 'required' is proto2; only proto3 is supported$/,
  ],
  [
    "group",
    'syntax = "proto3";\nmessage M {\n  repeated group G = 1 { string s = 2; }\n}\n',
    /^x\.proto:3:12: 'group' is proto2/,
  ],
  [
    "extend",
    'syntax = "proto3";\nmessage M {}\nextend M { string s = 1; }\n',
    /^x\.proto:3:1: 'extend' is not supported/,
  ],
  [
    "extensions",
    'syntax = "proto3";\nmessage M {\n  extensions 100 to 200;\n}\n',
    /^x\.proto:3:3: 'extensions' is proto2/,
  ],
  [
    "default",
    'syntax = "proto3";\nmessage M {\n  string s = 1 [default = "x"];\n}\n',
    /^x\.proto:3:17: 'default' is proto2/,
  ],
  [
    "unresolvable type",
    'syntax = "proto3";\nmessage M {\n  Nope n = 1;\n}\n',
    /^x\.proto:3:3: type 'Nope' is not defined/,
  ],
  [
    "duplicate number",
    'syntax = "proto3";\nmessage M {\n  string a = 1;\n  string b = 1;\n}\n',
    /^x\.proto:4:14: field number 1 is already used/,
  ],
  [
    "duplicate name",
    'syntax = "proto3";\nmessage M {\n  string a = 1;\n  int32 a = 2;\n}\n',
    /^x\.proto:4:3: field 'M\.a' is already defined/,
  ],
  [
    "field number 0",
    'syntax = "proto3";\nmessage M {\n  string a = 0;\n}\n',
    /^x\.proto:3:14: field number 0 is out of range/,
  ],
  [
    "field number too big",
    'syntax = "proto3";\nmessage M { string a = 536870912; }\n',
    /^x\.proto:2:24: field number 536870912 is out of range/,
  ],
  [
    "reserved numbers",
    'syntax = "proto3";\nmessage M {\n  string a = 19500;\n}\n',
    /^x\.proto:3:14: field number 19500 is reserved for the protobuf implementation/,
  ],
  ["missing import", 'syntax = "proto3";\nimport "nope.proto";\n', /^x\.proto:2:1: import 'nope\.proto' not found/],
  [
    "import cycle",
    'syntax = "proto3";\nimport "y.proto";\n',
    /^y\.proto:2:1: import cycle: x\.proto -> y\.proto -> x\.proto/,
  ],
  [
    "type not imported",
    'syntax = "proto3";\nimport "z.proto";\nmessage M { Hidden h = 1; }\n',
    /^x\.proto:3:13: type 'Hidden' is defined in 'w\.proto', which is not imported/,
  ],
  [
    "unknown option",
    'syntax = "proto3";\noption no_such_option = true;\n',
    /^x\.proto:2:8: option 'no_such_option' is not known/,
  ],
  [
    "packed on a string",
    'syntax = "proto3";\nmessage M { repeated string s = 1 [packed = true]; }\n',
    /^x\.proto:2:36: 'packed' applies only/,
  ],
  [
    "enum first value",
    'syntax = "proto3";\nenum E { A = 1; }\n',
    /^x\.proto:2:10: the first value of enum 'E' must be zero/,
  ],
  [
    "enum alias",
    'syntax = "proto3";\nenum E { A = 0; B = 0; }\n',
    /^x\.proto:2:17: enum value 0 of 'B' is already used/,
  ],
  ["syntax error", 'syntax = "proto3";\nmessage M { string s = 1 }\n', /^x\.proto:2:26: expected ';', found '}'/],
  ["unterminated string", 'syntax = "proto3";\nimport "x\n', /^x\.proto:2:8: unterminated string/],
  [
    "reserved field",
    'syntax = "proto3";\nmessage M { reserved 2 to 4; string s = 3; }\n',
    /^x\.proto:2:41: field number 3 is reserved/,
  ],
];

Deno.test("gen: refuses what it cannot generate, in one line, with exit code 2", async (t) => {
  const dir = await tempProject({
    "y.proto": 'syntax = "proto3";\nimport "x.proto";\n',
    "z.proto": 'syntax = "proto3";\nimport "w.proto";\n',
    "w.proto": 'syntax = "proto3";\nmessage Hidden {}\n',
  });
  try {
    for (const [name, source, expected] of REFUSALS) {
      await t.step(name, async () => {
        await Deno.writeTextFile(`${dir}/x.proto`, source);
        const result = await gen(dir, ["-o", "gen", "x.proto"]);
        assertEquals(result.code, 2, result.stderr);
        const lines = result.stderr.trimEnd().split("\n");
        assertEquals(lines.length, 1, result.stderr);
        assertMatch(lines[0]!, expected);
        assert(!/^\s+at /m.test(result.stderr), "no stack trace");
        await assertMissing(`${dir}/gen`);
      });
    }
    await t.step("bad flags", async () => {
      for (const args of [["--nope", "x.proto"], ["x.proto"], ["-o", "gen"], ["-o", "gen", "x.txt"]]) {
        const result = await gen(dir, args);
        assertEquals(result.code, 2, args.join(" "));
        assertEquals(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
        assertStringIncludes(result.stderr, "--help");
      }
      const help = await gen(dir, ["--help"]);
      assertEquals(help.code, 0);
      assertStringIncludes(help.stdout, "Usage:");
    });
    await t.step("a missing permission names the flag to add", async () => {
      await Deno.writeTextFile(`${dir}/x.proto`, 'syntax = "proto3";\n');
      const noWrite = await run(Deno.execPath(), ["run", `--allow-read=${dir}`, GEN, "-o", "gen", "x.proto"], dir);
      assertEquals(noWrite.code, 2, noWrite.stderr);
      assertMatch(noWrite.stderr.trimEnd(), /^no permission to write '.*gen\/x\.ts': add --allow-write=gen$/);
      const noRead = await run(Deno.execPath(), ["run", "--no-prompt", GEN, "-o", "gen", "x.proto"], dir);
      assertEquals(noRead.code, 2, noRead.stderr);
      assertMatch(noRead.stderr.trimEnd(), /^no permission to read 'x\.proto': add --allow-read=\.$/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gen: the library throws GenerateError with file, line and column", () => {
  const sources: Record<string, string> = {
    "a.proto": 'syntax = "proto3";\nmessage M {\n  required int32 x = 1;\n}\n',
  };
  try {
    generate({ files: ["a.proto"], readFile: (p) => sources[p] });
    throw new Error("should have thrown");
  } catch (e) {
    assert(e instanceof GenerateError);
    assertEquals([e.file, e.line, e.column], ["a.proto", 3, 3]);
    assertEquals(e.message, "a.proto:3:3: 'required' is proto2; only proto3 is supported");
  }
});

Deno.test("gen: the committed generated files are what `deno task gen` writes", () => {
  const cwd = Deno.cwd();
  Deno.chdir(ROOT);
  try {
    for (const file of ownFiles((p) => Deno.readTextFileSync(p))) {
      assertEquals(Deno.readTextFileSync(file.path), file.content, `${file.path} is stale: run \`deno task gen\``);
    }
  } finally {
    Deno.chdir(cwd);
  }
});

/** protoc's serialized FileDescriptorProto of one file (the first in the set it writes). */
async function protocDescriptor(root: string, file: string): Promise<Uint8Array> {
  const out = `${await Deno.makeTempDir()}/set.pb`;
  const r = await run(PROTOC, [`-I${root}`, `--descriptor_set_out=${out}`, `${root}/${file}`]);
  assertEquals(r.code, 0, r.stderr);
  const set = await Deno.readFile(out);
  await Deno.remove(out.slice(0, out.lastIndexOf("/")), { recursive: true });
  assertEquals(set[0], 0x0a);
  let len = 0;
  let i = 1;
  for (let shift = 0;; shift += 7) {
    const b = set[i++]!;
    len += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  return set.slice(i, i + len);
}

function ourDescriptor(root: string, file: string): Uint8Array {
  const [out] = generate({
    files: [`${root}/${file}`],
    includePaths: [root],
    readFile: (p) => {
      try {
        return Deno.readTextFileSync(p);
      } catch {
        return undefined;
      }
    },
  });
  const m = out!.content.match(/= \$rt(?:\n\s*)?\.fileDescriptor\(\n\s*"[^"]*",\n\s*"([A-Za-z0-9+/=]*)",/);
  assert(m, "no descriptor in the output");
  return Uint8Array.from(atob(m[1]!), (c) => c.charCodeAt(0));
}

Deno.test("gen: descriptors are byte for byte what protoc writes", async (t) => {
  const cases: [string, string][] = [
    [`${ROOT}/proto`, "hello.proto"],
    ...["any", "duration", "empty", "field_mask", "struct", "timestamp", "wrappers"].flatMap((
      n,
    ): [string, string][] => [
      [`${ROOT}/proto`, `google/protobuf/${n}.proto`],
      ["/usr/include", `google/protobuf/${n}.proto`],
    ]),
    [GRPC_PROTO, "grpc/testing/empty.proto"],
    [GRPC_PROTO, "grpc/testing/messages.proto"],
    [GRPC_PROTO, "grpc/testing/test.proto"],
    ...GRPC_SERVICE_PROTOS.flatMap((p): [string, string][] => [[`${ROOT}/proto`, p], [GRPC_PROTO, p]]),
  ];
  for (const [root, file] of cases) {
    await t.step(`${root}/${file}`, async () => {
      assertEquals(ourDescriptor(root, file), await protocDescriptor(root, file));
    });
  }
  await t.step("our well-known-type texts describe what protoc's do", async () => {
    for (const n of ["any", "duration", "empty", "field_mask", "struct", "timestamp", "wrappers"]) {
      const file = `google/protobuf/${n}.proto`;
      assertEquals(await protocDescriptor(`${ROOT}/proto`, file), await protocDescriptor("/usr/include", file), file);
    }
  });
  await t.step("our health and reflection texts describe what gRPC's do", async () => {
    for (const file of GRPC_SERVICE_PROTOS) {
      assertEquals(await protocDescriptor(`${ROOT}/proto`, file), await protocDescriptor(GRPC_PROTO, file), file);
    }
  });
  await t.step("every construct of the shop test file", async () => {
    // Custom options are parsed and skipped by us; protoc would need their definitions, so it gets none.
    const dir = await protocProject();
    try {
      assertEquals(ourDescriptor(dir, "shop.proto"), await protocDescriptor(dir, "shop.proto"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("gen: grpc/testing/test.proto generates and type-checks", async () => {
  const dir = await tempProject({});
  try {
    const result = await run(Deno.execPath(), [
      "run",
      `--allow-read=${GRPC_PROTO}`,
      `--allow-write=${dir}`,
      GEN,
      "-o",
      `${dir}/gen`,
      "-I",
      GRPC_PROTO,
      `${GRPC_PROTO}/grpc/testing/test.proto`,
    ]);
    assertEquals(result.code, 0, result.stderr);
    await checkOutputs(dir);
    const test = await Deno.readTextFile(`${dir}/gen/grpc/testing/test.ts`);
    assertStringIncludes(test, 'import * as $messages from "./messages.ts";');
    const mod = await import(`${dir}/gen/grpc/testing/test.ts`);
    assertEquals(mod.TestService.methods.unaryCall.path, "/grpc.testing.TestService/UnaryCall");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gen: the module's own files use relative imports", () => {
  const hello = Deno.readTextFileSync(`${ROOT}/proto/hello.ts`);
  assertStringIncludes(hello, 'import * as $rt from "../src/runtime.ts";');
  const ts = Deno.readTextFileSync(`${ROOT}/proto/google/protobuf/timestamp.ts`);
  assertStringIncludes(ts, 'import * as $rt from "../../../src/runtime.ts";');
  const health = Deno.readTextFileSync(`${ROOT}/proto/grpc/health/v1/health.ts`);
  assertStringIncludes(health, 'import * as $rt from "../../../../src/runtime.ts";');
});
