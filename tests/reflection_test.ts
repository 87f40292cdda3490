/**
 * gRPC server reflection on our server: `buf curl` (a Go client nobody here
 * wrote) lists and calls services with no schema file, through v1 and
 * v1alpha; Python grpcio asks as grpcurl does, with stubs generated from the
 * official reflection.proto. The user service is generated at test time from
 * a package with nested, imported and well-known types.
 */
import { assert, assertEquals } from "@std/assert";
import {
  createClient,
  createGreeterServer,
  createServer,
  GrpcError,
  Health,
  HealthCheckResponse_ServingStatus,
  type ServiceType,
  Status,
  type UnaryMethod,
} from "../mod.ts";
import { generate } from "../src/gen/generate.ts";
import { ServerReflection } from "../proto/grpc/reflection/v1/reflection.ts";
import { peerScript, PYTHON, pythonHasGrpc } from "../tools/python_peer.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const BUF = `${ROOT}/.ci/cache/buf/node_modules/.bin/buf`;
const hasBuf = await Deno.stat(BUF).then(() => true, () => false);
const hasPython = await pythonHasGrpc();

const MONEY = `syntax = "proto3";
package demo.common;
message Money { string currency = 1; int64 units = 2; }
`;
const SHOP = `syntax = "proto3";
package demo.shop.v1;
import "common/money.proto";
import "google/protobuf/timestamp.proto";
message Item {
  message Tag { string key = 1; string value = 2; }
  enum Kind { KIND_UNSPECIFIED = 0; BOOK = 1; }
  string name = 1;
  demo.common.Money price = 2;
  repeated Tag tags = 3;
  Kind kind = 4;
  google.protobuf.Timestamp created = 5;
}
service Shop {
  rpc Echo(Item) returns (Item);
}
`;

interface Item {
  name: string;
  tags: { key: string; value: string }[];
}

/** The Shop service, generated into a temp dir and imported. */
async function shopService(): Promise<ServiceType<{ readonly echo: UnaryMethod<Item, Item> }>> {
  const dir = await Deno.makeTempDir({ prefix: "reflection_test_" });
  try {
    await Deno.mkdir(`${dir}/common`);
    await Deno.writeTextFile(`${dir}/common/money.proto`, MONEY);
    await Deno.writeTextFile(`${dir}/shop.proto`, SHOP);
    const files = generate({
      files: [`${dir}/shop.proto`],
      includePaths: [dir],
      readFile: (path) => Deno.readTextFileSync(path),
      outDir: dir,
      runtime: `${ROOT}/src/runtime.ts`,
      wkt: `${ROOT}/src/wkt.ts`,
    });
    for (const file of files) await Deno.writeTextFile(file.path, file.content);
    return (await import(`${dir}/shop.ts`)).Shop;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
const Shop = await shopService();

/** A server with the Greeter (its default handlers), the Shop, health and reflection. */
async function startServer() {
  const echo = (item: Item) => ({
    ...item,
    name: item.name.toUpperCase(),
    tags: [...item.tags, { key: "k", value: "v" }],
  });
  const server = await createGreeterServer({ port: 0 });
  const shop = await createServer({
    port: 0,
    health: true,
    reflection: true,
    services: [[Shop, { echo }]],
  });
  return {
    server,
    shop,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await shop.shutdown();
    },
  };
}

async function buf(args: string[], input?: string) {
  const child = new Deno.Command(BUF, {
    args: ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args],
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}

const ITEM_IN = {
  name: "book",
  price: { currency: "EUR", units: "12" },
  tags: [{ key: "a", value: "b" }],
  kind: "BOOK",
  created: "2024-01-02T03:04:05Z",
};
const ITEM_OUT = { ...ITEM_IN, name: "BOOK", tags: [{ key: "a", value: "b" }, { key: "k", value: "v" }] };

Deno.test({
  name: "reflection: buf curl lists and calls services with no schema file, through v1 and v1alpha",
  ignore: !hasBuf,
  async fn(t) {
    await using servers = await startServer();
    const greeter = `http://${servers.server.address}`;
    const shop = `http://${servers.shop.address}`;
    for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
      const reflect = ["--reflect-protocol", protocol];
      await t.step(`${protocol}: --list-services`, async () => {
        const run = await buf([...reflect, "--list-services", greeter]);
        assertEquals(run.code, 0, run.stderr);
        assertEquals(run.stdout.trim().split("\n").sort(), [
          "Greeter",
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
        ]);
      });
      await t.step(`${protocol}: --list-methods`, async () => {
        const run = await buf([...reflect, "--list-methods", shop]);
        assertEquals(run.code, 0, run.stderr);
        assertEquals(run.stdout.trim().split("\n").sort(), [
          "demo.shop.v1.Shop/Echo",
          "grpc.health.v1.Health/Check",
          "grpc.health.v1.Health/Watch",
          "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
          "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ]);
      });
      await t.step(`${protocol}: Greeter/SayHello`, async () => {
        const run = await buf([...reflect, "-d", '{"name":"zzz"}', `${greeter}/Greeter/SayHello`]);
        assertEquals(run.code, 0, run.stderr);
        assertEquals(JSON.parse(run.stdout), { name: "我是zzz" });
      });
      await t.step(`${protocol}: a packaged service with nested, imported and well-known types`, async () => {
        const run = await buf([...reflect, "-d", "@-", `${shop}/demo.shop.v1.Shop/Echo`], JSON.stringify(ITEM_IN));
        assertEquals(run.code, 0, run.stderr);
        assertEquals(JSON.parse(run.stdout), ITEM_OUT);
      });
    }
    await t.step("health through reflection too", async () => {
      const run = await buf(["-d", '{"service":"demo.shop.v1.Shop"}', `${shop}/grpc.health.v1.Health/Check`]);
      assertEquals([run.code, JSON.parse(run.stdout)], [0, { status: "SERVING" }]);
    });
  },
});

Deno.test("reflection: createServer() hosts it only with reflection: true", async () => {
  await using plain = await createServer({ port: 0, services: [[Shop, {}]] });
  using client = createClient(ServerReflection, plain.address);
  const requests = [{ messageRequest: { case: "listServices" as const, value: "" } }];
  let code;
  try {
    for await (const _ of client.serverReflectionInfo(requests)) throw new Error("answered");
  } catch (error) {
    code = (error as { code?: number }).code;
  }
  assertEquals(code, Status.UNIMPLEMENTED);
});

/** `deno task serve` with its own permissions (no --allow-read) and `args`; resolves once it listens. */
async function serve(args: string[]) {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const [, ...task] = (config.tasks.serve.command as string).split(/\s+/);
  assert(!task.some((arg) => arg.startsWith("--allow-read") || arg === "-A"), "serve needs no read permission");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...task.slice(1), "--port", "0", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/listening on (\S+)\n/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${seen}`);
    seen += value;
  }
  return {
    address: seen.match(/listening on (\S+)\n/)![1]!,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      while (!(await reader.read()).done);
      await child.status;
    },
  };
}

/** What a server answers to list_services, or the status it ends the call with. */
async function listServices(address: string): Promise<string[] | number> {
  using client = createClient(ServerReflection, address);
  try {
    const requests = [{ messageRequest: { case: "listServices" as const, value: "" } }];
    for await (const { messageResponse: r } of client.serverReflectionInfo(requests)) {
      if (r.case === "listServicesResponse") return r.value.service.map((s) => s.name);
    }
    throw new Error("no answer");
  } catch (error) {
    if (error instanceof GrpcError) return error.code;
    throw error;
  }
}

async function check(address: string): Promise<number> {
  using client = createClient(Health, address);
  try {
    return (await client.check({ service: "Greeter" })).status;
  } catch (error) {
    if (error instanceof GrpcError) return -error.code;
    throw error;
  }
}

Deno.test("reflection: deno task serve hosts health and reflection without reading files; --no-* turn them off", async () => {
  {
    await using server = await serve([]);
    assertEquals(await listServices(server.address), [
      "Greeter",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
    assertEquals(await check(server.address), HealthCheckResponse_ServingStatus.SERVING);
  }
  {
    await using server = await serve(["--no-health", "--no-reflection"]);
    assertEquals(await listServices(server.address), Status.UNIMPLEMENTED);
    assertEquals(await check(server.address), -Status.UNIMPLEMENTED);
  }
  {
    await using server = await serve(["--no-health"]);
    assertEquals(await listServices(server.address), [
      "Greeter",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  }
});

Deno.test("reflection: every answer kind, through our own client", async (t) => {
  await using servers = await startServer();
  using client = createClient(ServerReflection, servers.shop.address);
  const ask = async (messageRequest: Parameters<typeof ServerReflection.methods.serverReflectionInfo.I.create>[0]) => {
    const answers = [];
    for await (const a of client.serverReflectionInfo([{ host: "x", ...messageRequest }])) answers.push(a);
    assertEquals(answers.length, 1);
    assertEquals(answers[0]!.validHost, "x");
    return answers[0]!.messageResponse;
  };
  const fileNames = (answer: Awaited<ReturnType<typeof ask>>) => {
    assert(answer.case === "fileDescriptorResponse", JSON.stringify(answer));
    // The name is field 1 of FileDescriptorProto, first in protoc's order.
    return answer.value.fileDescriptorProto.map((b) => new TextDecoder().decode(b.subarray(2, 2 + b[1]!)));
  };
  const shopFiles = ["shop.proto", "common/money.proto", "google/protobuf/timestamp.proto"];
  await t.step("file_by_filename sends the file and its transitive dependencies", async () => {
    assertEquals(fileNames(await ask({ messageRequest: { case: "fileByFilename", value: "shop.proto" } })), shopFiles);
  });
  for (
    const symbol of [
      "demo.shop.v1.Item",
      "demo.shop.v1.Item.Tag",
      "demo.shop.v1.Item.Kind",
      "demo.shop.v1.Item.BOOK",
      "demo.shop.v1.Item.price",
      "demo.shop.v1.Shop",
      "demo.shop.v1.Shop.Echo",
      ".demo.shop.v1.Item",
    ]
  ) {
    await t.step(`file_containing_symbol ${symbol}`, async () => {
      assertEquals(
        fileNames(await ask({ messageRequest: { case: "fileContainingSymbol", value: symbol } })),
        shopFiles,
      );
    });
  }
  await t.step("file_containing_symbol of an imported type names its own file", async () => {
    const answer = await ask({ messageRequest: { case: "fileContainingSymbol", value: "demo.common.Money" } });
    assertEquals(fileNames(answer), ["common/money.proto"]);
  });
  const notFound = (message: string) => ({
    case: "errorResponse" as const,
    value: { errorCode: 5, errorMessage: message },
  });
  await t.step("unknown files, symbols and extensions are NOT_FOUND error responses", async () => {
    assertEquals(
      await ask({ messageRequest: { case: "fileByFilename", value: "nope.proto" } }),
      notFound("File 'nope.proto' not found"),
    );
    assertEquals(
      await ask({ messageRequest: { case: "fileContainingSymbol", value: "demo.shop.v1.Nope" } }),
      notFound("Symbol 'demo.shop.v1.Nope' not found"),
    );
    assertEquals(
      await ask({
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "demo.shop.v1.Item", extensionNumber: 100 },
        },
      }),
      notFound("Extension 100 of 'demo.shop.v1.Item' not found"),
    );
    assertEquals(
      await ask({ messageRequest: { case: "allExtensionNumbersOfType", value: "demo.shop.v1.Nope" } }),
      notFound("Type 'demo.shop.v1.Nope' not found"),
    );
  });
  await t.step("all_extension_numbers_of_type of a known message: none (proto3 declares no extensions)", async () => {
    assertEquals(await ask({ messageRequest: { case: "allExtensionNumbersOfType", value: "demo.shop.v1.Item" } }), {
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "demo.shop.v1.Item", extensionNumber: [] },
    });
  });
});

Deno.test({
  name: "reflection: Python grpcio with the official reflection.proto (v1 and v1alpha), as grpcurl asks",
  ignore: !hasPython,
  async fn(t) {
    await using servers = await startServer();
    for (const version of ["v1", "v1alpha"]) {
      await t.step(version, async () => {
        const out = await new Deno.Command(PYTHON, {
          args: [
            "-B",
            peerScript("reflection_client.py"),
            servers.shop.address,
            version,
            "demo.shop.v1.Item.Tag",
            "grpc.health.v1.HealthCheckResponse",
            "demo.shop.v1.Nope",
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        assertEquals(out.code, 0, dec.decode(out.stderr));
        assertEquals(dec.decode(out.stdout).trim().split("\n").map((line) => JSON.parse(line)), [
          {
            services: [
              "demo.shop.v1.Shop",
              "grpc.health.v1.Health",
              "grpc.reflection.v1.ServerReflection",
              "grpc.reflection.v1alpha.ServerReflection",
            ],
          },
          {
            files: ["shop.proto", "common/money.proto", "google/protobuf/timestamp.proto"],
            messages: ["Item", "Item.Tag"],
          },
          { files: ["grpc/health/v1/health.proto"], messages: ["HealthCheckRequest", "HealthCheckResponse"] },
          { error: [5, "Symbol 'demo.shop.v1.Nope' not found"] },
        ]);
      });
    }
  },
});
