import { assertEquals, assertThrows } from "@std/assert";
import { Metadata } from "../mod.ts";
import { fromGrpcMetadata, toGrpcMetadata } from "../src/metadata.ts";

Deno.test("Metadata holds lists of values under lower-case keys", () => {
  const metadata = new Metadata({ "X-User": "zzz", "x-trace-bin": new Uint8Array([1, 2]), "x-list": ["a", "b"] });
  metadata.add("x-user", "yyy");
  assertEquals(metadata.get("x-user"), ["zzz", "yyy"]);
  assertEquals(metadata.get("X-LIST"), ["a", "b"]);
  assertEquals(metadata.get("missing"), []);
  metadata.set("x-list", "c");
  metadata.delete("x-trace-bin");
  assertEquals([...metadata], [["x-user", "zzz"], ["x-user", "yyy"], ["x-list", "c"]]);
  assertEquals(metadata.size, 2);
  assertEquals([...new Metadata(metadata)], [...metadata]);
});

Deno.test("Metadata rejects what gRPC cannot carry", () => {
  assertThrows(() => new Metadata({ "bad key": "v" }), TypeError, "has characters other than");
  assertThrows(() => new Metadata({ "grpc-status": "0" }), TypeError, "reserved for gRPC");
  assertThrows(() => new Metadata({ "x-bin": "text" }), TypeError, "must be a Uint8Array");
  assertThrows(() => new Metadata({ "x-text": "我是" }), TypeError, "printable ASCII");
  assertThrows(() => new Metadata({ "x-text": new Uint8Array() }), TypeError, "printable ASCII");
});

Deno.test("Metadata converts to and from grpc-js's without loss", () => {
  const metadata = new Metadata([["x-a", "1"], ["x-a", "2"], ["x-b-bin", new Uint8Array([0, 255])]]);
  const back = fromGrpcMetadata(toGrpcMetadata(metadata));
  assertEquals(back.get("x-a"), ["1", "2"]);
  assertEquals(Array.from(back.get("x-b-bin")[0] as Uint8Array), [0, 255]);
});
