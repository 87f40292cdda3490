/**
 * The services the workers of `tests/workers_test.ts` serve: the Greeter,
 * whose SayHello answers with the worker's name, and, by the name asked:
 * - `"crash"`: throws from a timer after answering, which ends the worker;
 * - `"hold"`: says "started <worker>" on the `workers-test` BroadcastChannel,
 *   then answers once that channel says "release".
 *
 * @module
 */
import { Greeter, type ServiceHandlers } from "../mod.ts";

const name = (globalThis as { name?: string }).name ?? "main";

const handlers: ServiceHandlers<typeof Greeter> = {
  sayHello(request) {
    if (request.name === "crash") {
      setTimeout(() => {
        throw new Error("crash asked for");
      }, 0);
    }
    if (request.name === "hold") {
      const channel = new BroadcastChannel("workers-test");
      return new Promise((resolve) => {
        channel.onmessage = (message) => {
          if (message.data !== "release") return;
          channel.close();
          resolve({ name });
        };
        channel.postMessage(`started ${name}`);
      });
    }
    return { name };
  },
};

/** What each worker serves. */
export const services = [[Greeter, handlers]] as const;
