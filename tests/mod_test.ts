import { assertEquals } from "@std/assert";
import * as mod from "../mod.ts";

Deno.test("mod.ts exports exactly the public API", () => {
  assertEquals(Object.keys(mod).sort(), [
    "GrpcError",
    "Metadata",
    "ProtobufDecodeError",
    "Status",
    "createGreeterClient",
    "createGreeterServer",
    "decodeHelloRequest",
    "decodeHelloResponse",
    "encodeHelloRequest",
    "encodeHelloResponse",
  ]);
});
