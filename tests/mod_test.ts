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
