import { assertEquals, assertRejects } from "@std/assert";
import { createGreeterClient, createGreeterServer, GrpcError, Status } from "../mod.ts";

Deno.test("streamed responses written in one turn share writes, and nothing changes for the client", async (t) => {
  await using server = await createGreeterServer({
    port: 0,
    handlers: {
      // Three replies in one turn, then a failure in the same turn.
      *lotsOfReplies(request) {
        for (let i = 0; i < 3; i++) yield { name: `${request.name}${i}` };
        if (request.name === "fail") throw new GrpcError(Status.ABORTED, "after three");
      },
    },
  });
  using client = createGreeterClient(server.address);

  await t.step("all replies, in order", async () => {
    const names: string[] = [];
    for await (const reply of client.lotsOfReplies({ name: "a" })) names.push(reply.name);
    assertEquals(names, ["a0", "a1", "a2"]);
  });

  await t.step("replies written before a failure are sent before its status", async () => {
    const names: string[] = [];
    const error = await assertRejects(async () => {
      for await (const reply of client.lotsOfReplies({ name: "fail" })) names.push(reply.name);
    }, GrpcError);
    assertEquals([error.code, error.details], [Status.ABORTED, "after three"]);
    // A grpc-js client drops the messages it has not handed over yet once an
    // error status is in (unbatched writes gave the same): what arrives is a
    // prefix, in order, never a reordering.
    assertEquals(names, ["fail0", "fail1", "fail2"].slice(0, names.length));
  });

  await t.step("100,000 replies of the default handler arrive whole", async () => {
    await using plain = await createGreeterServer({ port: 0 });
    using other = createGreeterClient(plain.address);
    let n = 0;
    for await (const reply of other.lotsOfReplies({ name: "z", count: 100_000 })) {
      if (reply.name !== "我是z") throw new Error(`reply ${n} is '${reply.name}'`);
      n++;
    }
    assertEquals(n, 100_000);
  });
});

Deno.test("a send limit still applies to each streamed message", async () => {
  await using server = await createGreeterServer({
    port: 0,
    maxSendMessageBytes: 10,
    handlers: {
      *lotsOfReplies() {
        yield { name: "short" };
        yield { name: "a name longer than ten bytes" };
      },
    },
  });
  using client = createGreeterClient(server.address);
  const names: string[] = [];
  const error = await assertRejects(async () => {
    for await (const reply of client.lotsOfReplies({ name: "x" })) names.push(reply.name);
  }, GrpcError);
  assertEquals([error.code, names], [Status.RESOURCE_EXHAUSTED, ["short"]]);
});
