import { assertEquals, assertThrows } from "@std/assert";
import {
  decodeHelloRequest,
  decodeHelloResponse,
  encodeHelloRequest,
  encodeHelloResponse,
  ProtobufDecodeError,
} from "../mod.ts";
import { RepliesRequest } from "../proto/hello.ts";

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text: string) => new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);

Deno.test("encodeHelloRequest() gives the bytes of Python's SerializeToString()", () => {
  assertEquals(hex(encodeHelloRequest({ name: "bobby" })), "0a05626f626279");
  assertEquals(hex(encodeHelloRequest({})), "");
  assertEquals(hex(encodeHelloResponse({ name: "我是zzz" })), "0a09e68891e698af7a7a7a");
});

Deno.test("decodeHelloRequest() round-trips and fills proto3 defaults", () => {
  assertEquals(decodeHelloRequest(encodeHelloRequest({ name: "bobby" })), { name: "bobby" });
  assertEquals(decodeHelloRequest(new Uint8Array()), { name: "" });
  assertEquals(decodeHelloResponse(encodeHelloResponse({ name: "我是zzz" })), { name: "我是zzz" });
});

Deno.test("decodeHelloRequest() skips unknown fields and keeps the last value", () => {
  // field 2 varint 150, field 9 fixed32, field 1 "a", field 1 "b"
  assertEquals(decodeHelloRequest(unhex("109601" + "4d01020304" + "0a0161" + "0a0162")), { name: "b" });
});

Deno.test("decodeHelloRequest() rejects malformed bytes with the reason", async (t) => {
  const cases: [string, string, string][] = [
    ["a truncated string", "0a056162", "field 'name' (1) declares 5 bytes but 2 remain"],
    ["invalid UTF-8", "0a02c328", "field 'name' (1) is not valid UTF-8"],
    ["an over-long varint", "0affffffffffffffffffff01", "is longer than 10 bytes"],
    ["a cut-off tag", "80", "a field tag is cut off"],
    ["field number 0", "0200", "invalid field number 0"],
    ["a wrong wire type", "0801", "field 'name' (1) has wire type 0, expected 2"],
    ["a group", "13", "field 2 has unsupported wire type 3"],
  ];
  for (const [name, bytes, reason] of cases) {
    await t.step(name, () => {
      assertThrows(() => decodeHelloRequest(unhex(bytes)), ProtobufDecodeError, reason);
    });
  }
});

Deno.test("encodeHelloRequest() never emits invalid UTF-8", () => {
  assertThrows(() => encodeHelloRequest({ name: "\ud800" }), TypeError, "lone surrogate");
  assertThrows(() => encodeHelloRequest({ name: 5 as unknown as string }), TypeError, "must be a string");
});

Deno.test("the RepliesRequest codec handles uint32 fields", () => {
  const codec = RepliesRequest;
  const bytes = codec.encode({ name: "a", count: 300, intervalMs: 0xffffffff });
  assertEquals(hex(bytes), "0a0161" + "10ac02" + "18ffffffff0f");
  assertEquals(codec.decode(bytes), { name: "a", count: 300, intervalMs: 0xffffffff });
  assertThrows(() => codec.encode({ count: -1 }), RangeError);
  // A 64-bit varint keeps its low 32 bits, as protobuf does for uint32.
  assertEquals(codec.decode(unhex("10ffffffffffffffffff01")).count, 0xffffffff);
});
