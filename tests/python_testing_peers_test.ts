import { assertEquals, assertMatch } from "@std/assert";
import {
  pythonHasGrpc,
  runInteropClient,
  startPythonServer,
  startTestServiceServer,
  TESTING_CASES,
} from "../tools/python_peer.ts";

const TEST_PROTO = "/usr/share/grpc-proto/grpc/testing/test.proto";
const hasProto = await Deno.stat(TEST_PROTO).then(() => true, () => false);
const skipReason = !(await pythonHasGrpc())
  ? "/usr/bin/python3 cannot import grpc (apt install python3-grpcio python3-grpc-tools)"
  : !hasProto
  ? `no ${TEST_PROTO} (apt install grpc-proto)`
  : undefined;
if (skipReason) console.warn(`python_testing_peers_test.ts: ignored: ${skipReason}`);
/** The test's name, with the reason when it is ignored. */
const named = (name: string) => skipReason ? `${name} (ignored: ${skipReason})` : name;

Deno.test({
  name: named("interop_client.py passes every case against test_service_server.py"),
  ignore: skipReason !== undefined,
  async fn() {
    const server = await startTestServiceServer();
    try {
      assertMatch(server.address, /^127\.0\.0\.1:\d+$/);
      const run = await runInteropClient(server.address);
      assertEquals(run.results.filter((r) => !r.ok), [], run.stderr);
      assertEquals(run.results.map((r) => r.name), [...TESTING_CASES]);
      // Its own default list is ours: as many cases as we know of, all passed.
      assertEquals(run.summary, { passed: TESTING_CASES.length, failed: 0 });
      assertEquals(run.code, 0);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: named("interop_client.py reports a server that is not a TestService as failing, exit 1"),
  ignore: skipReason !== undefined,
  async fn() {
    const server = await startPythonServer();
    try {
      const run = await runInteropClient(server.address, { cases: ["empty_unary", "unimplemented_service"] });
      assertEquals(run.results.map((r) => [r.name, r.ok]), [["empty_unary", false], ["unimplemented_service", true]]);
      assertMatch(run.results[0]!.reason!, /^UNIMPLEMENTED: /);
      assertEquals(run.summary, { passed: 1, failed: 1 });
      assertEquals(run.code, 1);
    } finally {
      await server.stop();
    }
  },
});
