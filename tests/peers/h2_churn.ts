/**
 * The churn pattern of the last Deno 2.9.6 abort (issue "Hostile clients"):
 * `<address> <warm connections> <warm calls> <rounds> <parallel> <calls>`
 * makes `warm connections` connections of `warm calls` sequential SayHello
 * calls one after the other, then `rounds` rounds of `parallel` connections
 * at once with `calls` calls each; every connection is closed with grpc-js's
 * `close()` (GOAWAY). Prints `calls <total>`.
 *
 * @module
 */
import { createGreeterClient } from "../../client.ts";

const [address = "", warm = "3", warmCalls = "300", rounds = "10", parallel = "30", calls = "20"] = Deno.args;
let total = 0;

async function connection(count: number): Promise<void> {
  const client = createGreeterClient(address);
  try {
    for (let i = 0; i < count; i++) {
      await client.sayHello({ name: "zzz" }, { timeout: 5000 });
      total++;
    }
  } finally {
    client.close();
  }
}

for (let i = 0; i < Number(warm); i++) await connection(Number(warmCalls));
for (let round = 0; round < Number(rounds); round++) {
  await Promise.all(Array.from({ length: Number(parallel) }, () => connection(Number(calls))));
}
console.log(`calls ${total}`);
