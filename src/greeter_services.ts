/**
 * The Greeter with its default handlers, as a module: what each worker of a
 * `createGreeterServer({ workers })` imports.
 *
 * @module
 */
import { Greeter, greeterHandlers } from "./greeter.ts";

/** The services a Greeter worker serves. */
export const services = [[Greeter, greeterHandlers]] as const;
