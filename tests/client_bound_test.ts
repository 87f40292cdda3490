/**
 * Our client's bound on the requests of a client stream that wait unsent
 * (`maxCallUnflushedBytes`, `stallTimeoutMs`): against a server that never
 * reads, the client process stays small and the call ends
 * `RESOURCE_EXHAUSTED`; against one that reads, long streams still complete.
 *
 * @module
 */
import { assert, assertEquals, assertLess, assertStringIncludes, assertThrows } from "@std/assert";
import { createGreeterClient, createGreeterServer, type GreeterClientOptions, Status } from "../mod.ts";
import { FrameType } from "./_h2_frames.ts";

const MiB = 1024 * 1024;
const ROOT = new URL("../", import.meta.url);

function frame(type: number, flags: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length << 8);
  out[3] = type;
  out[4] = flags;
  out.set(payload, 9);
  return out;
}

/**
 * An HTTP/2 server that stopped reading: its SETTINGS grant streams a zero
 * initial window and it never sends WINDOW_UPDATE nor a response; it acks the
 * client's SETTINGS and discards what arrives.
 */
class StalledServer implements AsyncDisposable {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #conns = new Set<Deno.Conn>();
  readonly #loops: Promise<void>[] = [];
  readonly #accepting: Promise<void>;

  constructor() {
    this.#accepting = this.#accept();
  }

  get address(): string {
    return `127.0.0.1:${this.#listener.addr.port}`;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        this.#loops.push(this.#serve(conn));
      }
    } catch {
      // closed
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const window = new Uint8Array(6);
    new DataView(window.buffer).setUint16(0, 0x4); // SETTINGS_INITIAL_WINDOW_SIZE
    new DataView(window.buffer).setUint32(2, 0);
    const buffer = new Uint8Array(64 * 1024);
    try {
      await conn.write(frame(FrameType.SETTINGS, 0, window));
      let acked = false;
      while ((await conn.read(buffer)) !== null) {
        if (!acked) await conn.write(frame(FrameType.SETTINGS, 1));
        acked = true;
      }
    } catch {
      // closed
    } finally {
      this.#conns.delete(conn);
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) conn.close();
    await this.#accepting;
    await Promise.all(this.#loops);
  }
}

Deno.test("createClient() bounds a client stream into a server that never reads", async (t) => {
  await using server = new StalledServer();
  const count = 4000; // 250 MiB of requests on offer
  await t.step("the client process stays small and the call ends RESOURCE_EXHAUSTED", async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-run=cat",
        new URL("tests/_stalled_stream_client.ts", ROOT).pathname,
        `--address=${server.address}`,
        `--count=${count}`,
        "--stall-timeout-ms=1000",
        "--timeout-ms=15000",
      ],
      cwd: ROOT.pathname,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    assert(output.success, `the client failed: ${new TextDecoder().decode(output.stderr)}`);
    const result = JSON.parse(text.split("\n").at(-1)!) as {
      code: number;
      message: string;
      given: number;
      peakRssBytes: number;
    };
    // Before the bound, all 4000 went into the client at once (RSS ~80 MiB + 250 MiB) and the call waited for its deadline.
    assertEquals(result.code, Status.RESOURCE_EXHAUSTED, result.message);
    assertStringIncludes(result.message, "the server read no request bytes for 1000ms");
    assertLess(result.given, 64, "requests taken from the generator: about 1 MiB of 64 KiB names");
    assertLess(result.peakRssBytes, 160 * MiB, "peak RSS of the client process");
  });
});

Deno.test("createClient() streams much more than maxCallUnflushedBytes to a server that reads", async (t) => {
  await using server = await createGreeterServer({ hostname: "127.0.0.1", port: 0 });
  const options: GreeterClientOptions = { maxCallUnflushedBytes: 256 * 1024, stallTimeoutMs: 5000 };
  using client = createGreeterClient(server.address, options);
  const name = "y".repeat(64 * 1024);

  await t.step("bidiHello: 400 requests of 64 KiB (25 MiB) echoed", async () => {
    function* requests() {
      for (let i = 0; i < 400; i++) yield { name };
    }
    let replies = 0;
    for await (const reply of client.bidiHello(requests())) {
      assertEquals(reply.name, `我是${name}`);
      replies++;
    }
    assertEquals(replies, 400);
  });

  await t.step("lotsOfGreetings: two streams at once on one connection, 48 x 32 KiB each", async () => {
    const part = "z".repeat(32 * 1024);
    async function* requests() {
      for (let i = 0; i < 48; i++) yield { name: part };
    }
    const [a, b] = await Promise.all([client.lotsOfGreetings(requests()), client.lotsOfGreetings(requests())]);
    assertEquals(a.name, `我是${Array(48).fill(part).join(", ")}`);
    assertEquals(b.name, a.name);
  });
});

Deno.test("createClient() rejects a bad maxCallUnflushedBytes or stallTimeoutMs with RangeError", () => {
  for (const options of [{ maxCallUnflushedBytes: 0 }, { maxCallUnflushedBytes: -1 }, { stallTimeoutMs: 0 }]) {
    assertThrows(() => createGreeterClient("127.0.0.1:1", options as GreeterClientOptions), RangeError);
  }
});
