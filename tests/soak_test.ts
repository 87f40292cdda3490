import { assert, assertEquals } from "@std/assert";
import { formatSoak, runSoak } from "../tools/soak.ts";

Deno.test("deno task soak: 30 s of mixed load keeps the live heap and native memory flat, leaks no fd and fails no call", async () => {
  const lines: string[] = [];
  // Up to 60 s when a busy machine makes the warm-up (10,000 calls) slow.
  const result = await runSoak({ seconds: 30, maxSeconds: 60, log: (line) => lines.push(line) });
  const report = [...lines, ...formatSoak(result)].join("\n");
  console.log(report);
  assertEquals(result.errors, 0, report);
  assert(result.fdAfter <= result.fdBaseline, report);
  assert(result.heapGrowthMiB <= result.maxHeapGrowthMiB, report);
  assert(result.nativeGrowthMiB <= result.maxNativeGrowthMiB, report);
  assert(result.pass, report);
});
