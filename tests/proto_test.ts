import { assertEquals } from "@std/assert";
import { GENERATED_PATH, generateFormatted, PROTO_PATH } from "../proto/gen.ts";
import { METHODS, SERVICE_NAME } from "../proto/hello.ts";
import { defaultHandlers } from "../server.ts";

Deno.test("proto/hello.ts is what `deno task gen` makes of proto/hello.proto", async () => {
  const committed = await Deno.readTextFile(GENERATED_PATH);
  const fresh = await generateFormatted(PROTO_PATH);
  assertEquals(committed, fresh, "proto/hello.ts is stale: run `deno task gen`");
});

Deno.test("the contract keeps the tutorial's wire names", () => {
  assertEquals(SERVICE_NAME, "Greeter");
  assertEquals(METHODS[0], {
    name: "SayHello",
    localName: "sayHello",
    path: "/Greeter/SayHello",
    requestType: "HelloRequest",
    responseType: "HelloResponse",
    requestStream: false,
    responseStream: false,
  });
  assertEquals(
    METHODS.map((m) => [m.path, m.requestStream, m.responseStream]),
    [
      ["/Greeter/SayHello", false, false],
      ["/Greeter/LotsOfReplies", false, true],
      ["/Greeter/LotsOfGreetings", true, false],
      ["/Greeter/BidiHello", true, true],
    ],
  );
});

Deno.test("the server has a default handler for every RPC of the .proto", () => {
  assertEquals(Object.keys(defaultHandlers).sort(), METHODS.map((m) => m.localName).sort());
});
