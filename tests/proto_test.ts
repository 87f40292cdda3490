import { assertEquals } from "@std/assert";
import { Greeter } from "../proto/hello.ts";
import { greeterHandlers } from "../src/greeter.ts";

Deno.test("the Greeter keeps the tutorial's wire names", () => {
  assertEquals(Greeter.typeName, "Greeter");
  assertEquals(
    Object.entries(Greeter.methods).map(([localName, m]) => [localName, m.path, m.kind, m.I.typeName, m.O.typeName]),
    [
      ["sayHello", "/Greeter/SayHello", "unary", "HelloRequest", "HelloResponse"],
      ["lotsOfReplies", "/Greeter/LotsOfReplies", "server_streaming", "RepliesRequest", "HelloResponse"],
      ["lotsOfGreetings", "/Greeter/LotsOfGreetings", "client_streaming", "HelloRequest", "HelloResponse"],
      ["bidiHello", "/Greeter/BidiHello", "bidi_streaming", "HelloRequest", "HelloResponse"],
    ],
  );
});

Deno.test("the Greeter has a default handler for every RPC of the .proto", () => {
  assertEquals(Object.keys(greeterHandlers).sort(), Object.keys(Greeter.methods).sort());
});
