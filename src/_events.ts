/**
 * Waiting on Node-style event emitters without leaving listeners behind.
 *
 * @module
 */
import type { EventEmitter } from "node:events";

/**
 * Resolves with the name and first argument of whichever of `events` the
 * emitter emits first, and removes its listeners for all of them. Unlike a
 * `Promise.race` of `once()`s (or of a long-lived promise), nothing is left
 * behind per wait, which matters for thousands of back-pressure waits on one
 * long stream.
 *
 * @param emitter What to listen to.
 * @param events The event names to wait for.
 * @returns The event that came first, and its value.
 */
export function firstEvent(
  emitter: EventEmitter,
  events: readonly string[],
): Promise<[name: string, value: unknown]> {
  return new Promise((resolve) => {
    const listeners = events.map((name) => {
      const listener = (value: unknown) => {
        for (const [event, registered] of listeners) emitter.off(event, registered);
        resolve([name, value]);
      };
      return [name, listener] as const;
    });
    for (const [event, listener] of listeners) emitter.on(event, listener);
  });
}
