/**
 * The strict checks against an HTTP/2 client nobody here wrote: `nghttp`, from
 * Debian's nghttp2-client, sends each malformed body exactly as given.
 */
import { assertEquals } from "@std/assert";
import { createGreeterServer, Status } from "../mod.ts";
import { grpcFrame, unhex } from "./_raw_h2.ts";

const hasNghttp = await new Deno.Command("nghttp", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

/** Posts `body` to `/Greeter/SayHello` with nghttp; the grpc-status and decoded grpc-message it got. */
async function nghttpCall(port: number, body: Uint8Array): Promise<{ status?: number; message?: string }> {
  const file = await Deno.makeTempFile({ prefix: "greeter-nghttp-" });
  try {
    await Deno.writeFile(file, body);
    const { stdout } = await new Deno.Command("nghttp", {
      args: [
        "-v",
        "-t",
        "5",
        "-H",
        ":method: POST",
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-d",
        file,
        `http://127.0.0.1:${port}/Greeter/SayHello`,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(stdout);
    const status = text.match(/recv \(stream_id=\d+\) grpc-status: (\d+)/)?.[1];
    const message = text.match(/recv \(stream_id=\d+\) grpc-message: (.*)/)?.[1];
    return {
      status: status === undefined ? undefined : Number(status),
      message: message && decodeURIComponent(message),
    };
  } finally {
    await Deno.remove(file);
  }
}

Deno.test({
  name: "createGreeterServer() rejects malformed requests from nghttp with INTERNAL and the reason",
  ignore: !hasNghttp,
}, async (t) => {
  await using server = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });
  const cases: [string, Uint8Array, string][] = [
    ["a string declaring 5 bytes but carrying 2", grpcFrame(0, unhex("0a056162")), "declares 5 bytes but 2 remain"],
    ["an over-long varint length", grpcFrame(0, unhex("0affffffffffffffffffff01")), "is longer than 10 bytes"],
    ["invalid UTF-8", grpcFrame(0, unhex("0a02c328")), "field 'name' (1) is not valid UTF-8"],
    ["the compressed flag with no grpc-encoding", grpcFrame(1, unhex("0a0161")), "compressed flag set"],
    ["an undefined flag byte 0x02", grpcFrame(2, unhex("0a0161")), "undefined compressed flag 0x02"],
  ];
  for (const [name, body, reason] of cases) {
    await t.step(name, async () => {
      const { status, message } = await nghttpCall(server.port, body);
      assertEquals(status, Status.INTERNAL, `grpc-message: ${message}`);
      assertEquals(message?.includes(reason), true, `grpc-message: ${message}`);
    });
  }
  await t.step("a well-formed request still gets OK", async () => {
    const { status } = await nghttpCall(server.port, grpcFrame(0, unhex("0a037a7a7a")));
    assertEquals(status, Status.OK);
  });
});
