import { assertEquals } from "@std/assert";
import * as mod from "../mod.ts";
import * as runtime from "../src/runtime.ts";

Deno.test("mod.ts exports exactly the public API", () => {
  assertEquals(Object.keys(mod).sort(), [
    "Greeter",
    "GrpcError",
    "Health",
    "HealthCheckRequest",
    "HealthCheckResponse",
    "HealthCheckResponse_ServingStatus",
    "HelloRequest",
    "HelloResponse",
    "Metadata",
    "ProtobufDecodeError",
    "RepliesRequest",
    "ScalarType",
    "Status",
    "createClient",
    "createGreeterClient",
    "createGreeterServer",
    "createServer",
    "decodeHelloRequest",
    "decodeHelloResponse",
    "encodeHelloRequest",
    "encodeHelloResponse",
    "greeterHandlers",
  ]);
});

Deno.test("@greeter/grpc/runtime exports exactly what generated code needs", () => {
  assertEquals(Object.keys(runtime).sort(), [
    "ProtobufDecodeError",
    "ScalarType",
    "fileDescriptor",
    "messageType",
    "serviceType",
  ]);
});

Deno.test("server.ts and client.ts export their factories and no CLI main()", async () => {
  assertEquals(Object.keys(await import("../server.ts")).sort(), ["createGreeterServer"]);
  assertEquals(Object.keys(await import("../client.ts")).sort(), ["createGreeterClient"]);
});

Deno.test("grpc-js is pinned to the version whose internals src/_grpc_internals.ts touches", async () => {
  const { TESTED_GRPC_JS } = await import("../src/_grpc_internals.ts");
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assertEquals(config.imports["@grpc/grpc-js"], `npm:@grpc/grpc-js@${TESTED_GRPC_JS}`);
});

Deno.test("@greeter/grpc/gen exports the generator's library and nothing CLI-only", async () => {
  assertEquals(Object.keys(await import("../proto/gen.ts")).sort(), [
    "DEFAULT_RUNTIME",
    "DEFAULT_WKT",
    "GenerateError",
    "generate",
  ]);
});

Deno.test("@greeter/grpc/wkt exports each well-known type and its file descriptor", async () => {
  const wkt = await import("../src/wkt.ts");
  assertEquals(Object.keys(wkt).filter((name) => !name.startsWith("file_")).sort(), [
    "Any",
    "BoolValue",
    "BytesValue",
    "DoubleValue",
    "Duration",
    "Empty",
    "FieldMask",
    "FloatValue",
    "Int32Value",
    "Int64Value",
    "ListValue",
    "NullValue",
    "StringValue",
    "Struct",
    "Timestamp",
    "UInt32Value",
    "UInt64Value",
    "Value",
  ]);
});

Deno.test("generated messages and @greeter/grpc/runtime need no permission at all", async () => {
  const script = `import { HelloRequest } from "${new URL("../proto/hello.ts", import.meta.url)}";
import { Timestamp } from "${new URL("../src/wkt.ts", import.meta.url)}";
const bytes = HelloRequest.encode({ name: "bobby" });
console.log(Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" "), HelloRequest.decode(bytes).name,
  Timestamp.decode(Timestamp.encode({ seconds: 5n })).seconds);`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = output.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await output.output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assertEquals([code, text(stdout), text(stderr)], [0, "0a 05 62 6f 62 62 79 bobby 5n\n", ""]);
});
