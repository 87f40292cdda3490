import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { GRPC_ENV_VARS } from "../src/_cli.ts";
import { runTask, taskArgs } from "./_tasks.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** Starts `deno task serve` with `args` and resolves with its address once it listens. */
async function startServe(args: string[], allowNet?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...taskArgs("serve", { allowNet }), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/listening on (\S+)\n/.test(seen)) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`server exited before listening: ${seen}`);
    seen += value;
  }
  const address = seen.match(/listening on (\S+)\n/)![1]!;
  return {
    child,
    address,
    port: address.split(":").at(-1)!,
    /** Sends `signal` and resolves with the exit code, the rest of stdout, and stderr. */
    async stop(signal: Deno.Signal = "SIGTERM") {
      child.kill(signal);
      let rest = seen;
      for (;;) {
        const { value, done } = await lines.read();
        if (done) break;
        rest += value;
      }
      const stderr = await new Response(child.stderr).text();
      return { code: (await child.status).code, stdout: rest, stderr };
    },
  };
}

function assertOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split("\n");
  assertEquals(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assertMatch(lines[0]!, pattern);
  assert(!/^\s+at /m.test(stderr), "stack trace on stderr");
}

Deno.test("the tasks grant exactly the GRPC_* variables grpc-js reads, no -A, and reads only for workers", () => {
  for (const name of ["serve", "call"]) {
    const args = taskArgs(name);
    const env = args.find((a) => a.startsWith("--allow-env="));
    assertEquals(env?.slice("--allow-env=".length).split(","), [...GRPC_ENV_VARS]);
    assertEquals(args.find((a) => a.startsWith("--allow-net=")), "--allow-net=127.0.0.1,localhost");
    assert(!args.includes("-A") && !args.includes("--allow-all"));
    // Reading files: only serve's workers, which load the module's own sources at run time.
    assertEquals(
      args.filter((a) => a.startsWith("--allow-read")),
      name === "serve" ? ["--allow-read=src,proto"] : [],
    );
  }
});

Deno.test("deno task serve and deno task call, as processes", async (t) => {
  const server = await startServe(["--port", "0", "--verbose"]);
  let stopped = false;
  try {
    assertMatch(server.address, /^127\.0\.0\.1:\d+$/);

    await t.step("call prints the reply's name alone, as the tutorial's client", async () => {
      const { code, stdout, stderr } = await runTask("call", ["--port", server.port]);
      assertEquals([code, stdout, stderr], [0, "我是zzz\n", ""]);
    });
    await t.step("call runs each streaming RPC", async () => {
      const replies = await runTask("call", ["--port", server.port, "--rpc", "replies", "--count", "2", "--name", "a"]);
      assertEquals(replies.stdout, "我是a\n我是a\n");
      const greetings = await runTask("call", [
        "--port",
        server.port,
        "--rpc",
        "greetings",
        "--name",
        "a",
        "--name",
        "b",
      ]);
      assertEquals(greetings.stdout, "我是a, b\n");
      const bidi = await runTask("call", ["--port", server.port, "--rpc", "bidi", "--name", "a", "--name", "b"]);
      assertEquals(bidi.stdout, "我是a\n我是b\n");
    });
    await t.step("call fails with DEADLINE_EXCEEDED in one line", async () => {
      const { code, stderr } = await runTask("call", [
        "--port",
        server.port,
        "--rpc",
        "replies",
        "--count",
        "5",
        "--interval",
        "200",
        "--timeout",
        "100",
      ]);
      assertEquals(code, 1);
      assertOneLineError(stderr, /^error: \/Greeter\/LotsOfReplies DEADLINE_EXCEEDED: deadline exceeded after 100ms$/);
    });
    await t.step("SIGTERM stops the server gracefully with exit code 0, after logging each call", async () => {
      const { code, stdout } = await server.stop("SIGTERM");
      stopped = true;
      assertEquals(code, 0);
      assertMatch(stdout, /^\/Greeter\/SayHello OK \d+\.\dms$/m);
      // The client resets the stream at its deadline, which the server counts as its deadline too.
      assertMatch(
        stdout,
        /^\/Greeter\/LotsOfReplies DEADLINE_EXCEEDED \d+\.\dms "\/Greeter\/LotsOfReplies: deadline exceeded"$/m,
      );
      assertStringIncludes(stdout, "server stopped\n");
    });
    await t.step("call fails with UNAVAILABLE in one line when the server is down", async () => {
      const { code, stdout, stderr } = await runTask("call", ["--port", server.port]);
      assertEquals([code, stdout], [1, ""]);
      assertOneLineError(stderr, /^error: \/Greeter\/SayHello UNAVAILABLE: /);
    });
  } finally {
    if (!stopped) await server.stop("SIGKILL");
  }
});

Deno.test("deno task serve stops on SIGINT with exit code 0", async () => {
  const server = await startServe(["--port", "0"]);
  const { code, stdout } = await server.stop("SIGINT");
  assertEquals(code, 0);
  assertStringIncludes(stdout, "server stopped\n");
});

Deno.test("the command lines reject bad input with one line and exit code 2", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["call", ["--bogus"], /^error: Unknown option '--bogus' \(see --help\)$/],
    ["call", ["--port", "http"], /^error: --port must be an integer from 1 to 65535, got 'http'$/],
    ["call", ["--rpc", "nope"], /^error: --rpc must be one of hello, replies, greetings, bidi, got 'nope'$/],
    ["call", ["--timeout", "0"], /^error: --timeout must be a positive number of milliseconds, got '0'$/],
    [
      "call",
      ["--host", "10.1.2.3"],
      /^error: no network permission for '10\.1\.2\.3': run `deno run --allow-net=10\.1\.2\.3 /,
    ],
    ["call", ["--port", "0"], /^error: --port must be an integer from 1 to 65535, got '0'$/],
    ["call", ["--port", "-1"], /^error: --port must be an integer from 1 to 65535, got '-1'$/],
    ["call", ["--count", "5"], /^error: --count only applies to --rpc replies$/],
    ["call", ["--rpc", "bidi", "--interval", "5"], /^error: --interval only applies to --rpc replies$/],
    ["call", ["--host", "::1"], /^error: no network permission for '::1': run `deno run --allow-net='\[::1\]' /],
    ["serve", ["--port", "99999"], /^error: --port must be an integer from 0 to 65535, got '99999'$/],
    ["serve", ["--port", "-1"], /^error: --port must be an integer from 0 to 65535, got '-1'$/],
    [
      "serve",
      ["--host", "0.0.0.0", "--insecure"],
      /^error: no network permission for '0\.0\.0\.0': run `deno run --allow-net=0\.0\.0\.0 /,
    ],
  ];
  for (const [task, args, pattern] of cases) {
    await t.step(`${task} ${args.join(" ")}`, async () => {
      const { code, stdout, stderr } = await runTask(task, args);
      assertEquals([code, stdout], [2, ""]);
      assertOneLineError(stderr, pattern);
    });
  }
});

Deno.test("serve and call work over IPv6 loopback, with or without brackets", async () => {
  const server = await startServe(["--host", "::1", "--port", "0"], "[::1]");
  try {
    assertMatch(server.address, /^\[::1\]:\d+$/);
    for (const host of ["::1", "[::1]"]) {
      const { code, stdout, stderr } = await runTask("call", ["--host", host, "--port", server.port], {
        allowNet: "[::1]",
      });
      assertEquals([code, stdout, stderr], [0, "我是zzz\n", ""]);
    }
  } finally {
    await server.stop();
  }
});

Deno.test("deno task serve fails in one line when the port is taken", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { code, stderr } = await runTask("serve", ["--port", String((listener.addr as Deno.NetAddr).port)]);
  assertEquals(code, 1);
  assertOneLineError(stderr, /^error: Cannot listen on 127\.0\.0\.1:\d+: address already in use \d/);
});

Deno.test("--help prints usage and exits 0", async () => {
  for (const task of ["serve", "call"]) {
    const { code, stdout } = await runTask(task, ["--help"]);
    assertEquals(code, 0);
    assertStringIncludes(stdout, `Usage: deno task ${task}`);
  }
});

Deno.test("deno task demo serializes a HelloRequest as Python does, and parses it back", async () => {
  const { code, stdout } = await runTask("demo", []);
  assertEquals(code, 0);
  assertStringIncludes(stdout, "serialized: 7 bytes: 0a 05 62 6f 62 62 79\n");
  assertStringIncludes(stdout, 'parsed back: {"name":"bobby"}\n');
  const unicode = await runTask("demo", ["我是"]);
  assertStringIncludes(unicode.stdout, "serialized: 8 bytes: 0a 06 e6 88 91 e6 98 af\n");
});
