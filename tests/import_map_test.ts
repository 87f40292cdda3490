import { assertEquals } from "@std/assert";

const read = async (path: string) => JSON.parse(await Deno.readTextFile(new URL(path, import.meta.url)));

Deno.test("tests/import_map.json maps every import as deno.json does, but @std/assert", async () => {
  const config = await read("../deno.json");
  const offline = await read("./import_map.json");
  assertEquals(offline.imports["@std/assert"], "./_assert_offline.ts");
  const { "@std/assert": online, ...rest } = config.imports;
  const { "@std/assert": _, ...offlineRest } = offline.imports;
  assertEquals(offlineRest, rest);
  assertEquals(online.startsWith("jsr:@std/assert@"), true);
});

Deno.test("the offline @std/assert has every function the tests import", async () => {
  const offline = await import("./_assert_offline.ts");
  const used = new Set<string>();
  for await (const entry of Deno.readDir(new URL(".", import.meta.url))) {
    if (!entry.name.endsWith(".ts")) continue;
    const source = await Deno.readTextFile(new URL(entry.name, import.meta.url));
    for (const match of source.matchAll(/import\s*{([^}]*)}\s*from\s*"@std\/assert"/g)) {
      for (const name of match[1]!.split(",")) {
        const trimmed = name.trim().replace(/^type\s+/, "");
        if (trimmed) used.add(trimmed);
      }
    }
  }
  const missing = [...used].filter((name) => !(name in offline));
  assertEquals(missing, []);
});
