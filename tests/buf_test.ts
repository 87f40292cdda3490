/**
 * Our server against `buf curl --protocol grpc` (npm `@bufbuild/buf`, a Go
 * gRPC client nobody here wrote), reading the schema from proto/hello.proto.
 * `.ci/run` installs it into .ci/cache/buf; the test is ignored without it.
 */
import { assertEquals } from "@std/assert";
import { createGreeterServer } from "../mod.ts";

const BUF = new URL("../.ci/cache/buf/node_modules/.bin/buf", import.meta.url).pathname;
const PROTO = new URL("../proto/hello.proto", import.meta.url).pathname;
const hasBuf = await Deno.stat(BUF).then(() => true, () => false);

/** Runs `buf curl` on one method with `input` (JSON messages) on stdin. */
async function bufCurl(address: string, method: string, input: string) {
  const child = new Deno.Command(BUF, {
    args: [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--schema",
      PROTO,
      "-d",
      "@-",
      `http://${address}/Greeter/${method}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout);
  // buf prints each message as a pretty JSON object, one after the other.
  const messages = text.trim() === "" ? [] : JSON.parse(`[${text.replace(/}\s*{/g, "},{")}]`);
  return { code, messages, stderr: new TextDecoder().decode(stderr) };
}

Deno.test(
  { name: "buf curl (a Go gRPC client) calls every RPC of createGreeterServer()", ignore: !hasBuf },
  async (t) => {
    await using server = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });

    await t.step("SayHello, as the tutorial's client", async () => {
      const { code, messages } = await bufCurl(server.address, "SayHello", '{"name":"zzz"}');
      assertEquals([code, messages], [0, [{ name: "我是zzz" }]]);
    });
    await t.step("an empty request reads as proto3 defaults", async () => {
      const { messages } = await bufCurl(server.address, "SayHello", "{}");
      assertEquals(messages, [{ name: "我是" }]);
    });
    await t.step("LotsOfReplies", async () => {
      const { code, messages } = await bufCurl(server.address, "LotsOfReplies", '{"name":"a","count":4}');
      assertEquals([code, messages], [0, Array(4).fill({ name: "我是a" })]);
    });
    await t.step("LotsOfGreetings", async () => {
      const { code, messages } = await bufCurl(server.address, "LotsOfGreetings", '{"name":"a"} {"name":"世界"}');
      assertEquals([code, messages], [0, [{ name: "我是a, 世界" }]]);
    });
    await t.step("BidiHello", async () => {
      const { code, messages } = await bufCurl(server.address, "BidiHello", '{"name":"a"} {"name":"b"}');
      assertEquals([code, messages], [0, [{ name: "我是a" }, { name: "我是b" }]]);
    });
    await t.step("INVALID_ARGUMENT reaches buf with our message", async () => {
      const { code, messages, stderr } = await bufCurl(server.address, "LotsOfReplies", '{"count":2000000}');
      assertEquals(messages, []);
      assertEquals(code !== 0, true);
      const error = JSON.parse(stderr.slice(stderr.indexOf("{")));
      assertEquals(error, { code: "invalid_argument", message: "count must be at most 1000000, got 2000000" });
    });
  },
);
