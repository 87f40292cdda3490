/**
 * The tutorial's workflow on a service of the user's own, as the README's
 * "Your own service" shows it: write a `.proto`, generate, implement, call;
 * in a fresh project that maps `@greeter/grpc` as `deno add` would, with the
 * narrow permissions the README gives.
 */
import { assertEquals } from "@std/assert";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));

const SHOP_PROTO = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";

service Shop {
  rpc GetItem(GetItemRequest) returns (Item);
  rpc ListItems(ListItemsRequest) returns (stream Item);
}

message GetItemRequest { string id = 1; }
message ListItemsRequest { repeated string tags = 1; optional int32 limit = 2; }
message Item {
  string id = 1;
  string name = 2;
  int64 price_cents = 3;
  repeated string tags = 4;
  map<string, string> attributes = 5;
  google.protobuf.Timestamp created = 6;
  oneof stock { int32 count = 7; bool discontinued = 8; }
}
`;

const SHOP_TS = `import { createClient, createServer, GrpcError, Status } from "@greeter/grpc";
import { type Item, Shop } from "./gen/shop.ts";

const items: Item[] = [
  item("a1", "tea", 350n, ["drink"], { case: "count", value: 12 }),
  item("b2", "kettle", 2999n, ["kitchen"], { case: "discontinued", value: true }),
];

function item(id: string, name: string, priceCents: bigint, tags: string[], stock: Item["stock"]): Item {
  return { id, name, priceCents, tags, attributes: { origin: "zz" }, created: { seconds: 1n, nanos: 0 }, stock };
}

await using server = await createServer({
  port: 0,
  services: [[Shop, {
    getItem({ id }) {
      const found = items.find((candidate) => candidate.id === id);
      if (!found) throw new GrpcError(Status.NOT_FOUND, \`no item \${id}\`);
      return found;
    },
    *listItems({ tags, limit }) {
      yield* items.filter((candidate) => tags.every((tag) => candidate.tags.includes(tag))).slice(0, limit);
    },
  }]],
});
using shop = createClient(Shop, server.address);
const tea = await shop.getItem({ id: "a1" });
console.log(tea.name, tea.priceCents, tea.stock.case, tea.stock.value, tea.created?.seconds);
for await (const item of shop.listItems({ tags: ["kitchen"] })) console.log(item.name, item.stock.case);
await shop.getItem({ id: "zz" }).catch((error) => console.log(error.message));
`;

Deno.test("your own service: write a .proto, gen, implement and call, in a fresh project", async () => {
  const dir = await Deno.makeTempDir({ prefix: "own_service_" });
  try {
    // What `deno add jsr:@greeter/grpc` gives a project, pointed at this checkout.
    const imports: Record<string, string> = { "@grpc/grpc-js": config.imports["@grpc/grpc-js"] };
    for (const [path, file] of Object.entries(config.exports as Record<string, string>)) {
      imports[path === "." ? "@greeter/grpc" : `@greeter/grpc/${path.slice(2)}`] = `${ROOT}/${file.slice(2)}`;
    }
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports }));
    await Deno.mkdir(`${dir}/proto`);
    await Deno.writeTextFile(`${dir}/proto/shop.proto`, SHOP_PROTO);
    await Deno.writeTextFile(`${dir}/shop.ts`, SHOP_TS);
    const run = async (args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), { args, cwd: dir, stdout: "piped", stderr: "piped" })
        .output();
      const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
      return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
    };

    // 2. gen, with the permissions the README gives: read the protos, write the output.
    const gen = await run([
      "run",
      "--allow-read=proto",
      "--allow-write=gen",
      `${ROOT}/proto/gen.ts`,
      "-o",
      "gen",
      "proto/shop.proto",
    ]);
    assertEquals([gen.code, gen.stdout, gen.stderr], [0, "wrote gen/shop.ts\n", ""]);

    // 3. implement and call; a handler with a wrong field name fails the type check.
    const check = await run(["check", "--quiet", "shop.ts"]);
    assertEquals(check.code, 0, check.stderr);
    const env = config.tasks.serve.command.match(/--allow-env=\S+/)[0];
    const call = await run(["run", "--allow-net=127.0.0.1", env, "shop.ts"]);
    assertEquals(call.stderr, "");
    assertEquals(call.stdout, "tea 350n count 12 1n\nkettle discontinued\n/shop.Shop/GetItem NOT_FOUND: no item zz\n");

    await Deno.writeTextFile(`${dir}/shop.ts`, SHOP_TS.replace("return found;", "return { nmae: found.name };"));
    const wrong = await run(["check", "--quiet", "shop.ts"]);
    assertEquals(wrong.code, 1);
    assertEquals(/nmae/.test(wrong.stderr), true, wrong.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
