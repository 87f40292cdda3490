import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { GrpcError, Status } from "../mod.ts";

Deno.test("GrpcError carries the status and reads as one line", () => {
  const cause = new Error("socket closed");
  const error = new GrpcError(Status.UNAVAILABLE, "server went away", { method: "/Greeter/SayHello", cause });
  assertEquals(error.message, "/Greeter/SayHello UNAVAILABLE: server went away");
  assertEquals([error.name, error.code, error.details, error.cause], ["GrpcError", 14, "server went away", cause]);
  assertEquals(error.metadata.size, 0);
});

Deno.test("GrpcError.from() maps aborts and timeouts to CANCELLED and DEADLINE_EXCEEDED", () => {
  const same = new GrpcError(Status.NOT_FOUND, "x");
  assertStrictEquals(GrpcError.from(same), same);
  assertEquals(GrpcError.from(new DOMException("stop", "AbortError")).code, Status.CANCELLED);
  assertEquals(GrpcError.from(new DOMException("late", "TimeoutError")).code, Status.DEADLINE_EXCEEDED);
  assertEquals(GrpcError.from(new Error("boom"), "/Greeter/SayHello").message, "/Greeter/SayHello UNKNOWN: boom");
  assertEquals(GrpcError.from("text").details, "text");
});

Deno.test("new GrpcError() throws RangeError for OK and for codes that are not 1 to 16", () => {
  for (const code of [Status.OK, -1, 17, 1.5, NaN, Infinity]) {
    assertThrows(() => new GrpcError(code as Status, "x"), RangeError, "must be an integer from 1 to 16");
  }
  assertThrows(() => new GrpcError(Status.OK, "fine"), RangeError, "got 0 (OK)");
  assertEquals(new GrpcError(Status.CANCELLED, "x").code, 1);
  assertEquals(new GrpcError(Status.UNAUTHENTICATED, "x").code, 16);
});
