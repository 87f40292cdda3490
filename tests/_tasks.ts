/**
 * The deno.json tasks as processes, with the tasks' exact permissions, for
 * the command-line tests.
 *
 * @module
 */
import { assertEquals } from "@std/assert";

const ROOT = new URL("..", import.meta.url).pathname;
const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));

/** Changes to a task's permissions. */
export interface TaskPermissions {
  /** Replaces the task's `--allow-net` list. */
  allowNet?: string;
  /** Flags added before the script, such as `--allow-read=certs`. */
  extra?: string[];
}

/**
 * The `deno run` arguments of a deno.json task whose command ends with its script.
 *
 * @param name The task.
 * @param permissions Changes to its permissions.
 * @returns The arguments after `deno`.
 */
export function taskArgs(name: string, permissions: TaskPermissions = {}): string[] {
  const [deno, ...args] = (config.tasks[name].command as string).split(/\s+/);
  assertEquals(deno, "deno");
  const { allowNet, extra = [] } = permissions;
  const flags = args.slice(0, -1).map((arg) =>
    allowNet !== undefined && arg.startsWith("--allow-net=") ? `--allow-net=${allowNet}` : arg
  );
  return [...flags, ...extra, args.at(-1)!];
}

/**
 * Runs a task to completion with `args`.
 *
 * @param name The task.
 * @param args Its arguments.
 * @param permissions Changes to its permissions.
 * @returns The exit code and the output.
 */
export async function runTask(name: string, args: string[], permissions: TaskPermissions = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs(name, permissions), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}
