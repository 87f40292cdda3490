/**
 * A grpc-js client load for subprocess tests: `<address> <clients> <calls>`
 * opens `clients` Greeter clients at once, makes `calls` sequential SayHello
 * calls on each, then closes each with `close()` (which sends GOAWAY), and
 * prints `calls <total>`.
 *
 * @module
 */
import { createGreeterClient } from "../../client.ts";

const [address = "", clients = "1", calls = "1"] = Deno.args;
let total = 0;
await Promise.all(Array.from({ length: Number(clients) }, async () => {
  const client = createGreeterClient(address);
  try {
    for (let i = 0; i < Number(calls); i++) {
      await client.sayHello({ name: "zzz" });
      total++;
    }
  } finally {
    client.close();
  }
}));
console.log(`calls ${total}`);
