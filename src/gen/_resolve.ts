/**
 * Loading `.proto` files and their imports, and resolving type names with
 * protobuf's scoping rules: a name is looked up in the innermost scope first,
 * then outward; a leading `.` makes it fully qualified; a package `a.b` is the
 * scope `b` nested in `a`. Also the checks `protoc` makes that the parser
 * cannot: duplicate names and numbers, reserved numbers and names, enums.
 *
 * @module
 */
import { GenerateError } from "./_errors.ts";
import {
  type EnumNode,
  type FieldNode,
  type FileNode,
  type MessageNode,
  type MethodNode,
  parse,
  type Pos,
  SCALARS,
  SyntaxErrorAt,
} from "./_parser.ts";

/** Reads a file; `undefined` when there is no such file. */
export type ReadFile = (path: string) => string | undefined;

/** A named thing of a `.proto` file, in the one namespace all loaded files share. */
export interface Sym {
  readonly kind: "package" | "message" | "enum" | "service" | "field" | "oneof" | "enumValue";
  /** Without a leading dot. */
  readonly fullName: string;
  readonly file?: ProtoFile;
  readonly node?: MessageNode | EnumNode;
}

/** A loaded, parsed and resolved `.proto` file. */
export interface ProtoFile {
  /** The path as imported, such as `"grpc/testing/test.proto"`. */
  readonly name: string;
  /** Where it was read from, for messages. */
  readonly path: string;
  readonly ast: FileNode;
  /** Its imports, in order. */
  readonly deps: ProtoFile[];
  /** A well-known type read from the embedded sources. */
  readonly wkt: boolean;
  /** The message or enum of each non-scalar field. */
  readonly fieldTypes: Map<FieldNode, Sym>;
  /** The request and response messages of each RPC. */
  readonly methodTypes: Map<MethodNode, readonly [Sym, Sym]>;
}

/** What {@linkcode load} needs. */
export interface LoadOptions {
  /** The files to generate, as paths to read. */
  readonly inputs: readonly string[];
  /** The include roots; without any, each input's own folder. */
  readonly includePaths: readonly string[];
  readonly readFile: ReadFile;
  /** The well-known types' sources, by import path. */
  readonly wktSources: Readonly<Record<string, string>>;
}

/** A `/`-separated path without `.` parts and with `..` applied where it can be. */
export function normalize(path: string): string {
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.replaceAll("\\", "/").split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (part === ".." && absolute) continue;
    else out.push(part);
  }
  const joined = out.join("/");
  return absolute ? "/" + joined : joined || ".";
}

/** `a/b` + `c.proto`. */
export function join(root: string, path: string): string {
  return normalize(root === "." || root === "" ? path : `${root}/${path}`);
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * Loads the inputs and everything they import, then resolves and checks them.
 *
 * @returns The inputs, in order, and every loaded file in dependency order.
 * @throws {GenerateError} When a file is invalid or unsupported, or an import is missing or cyclic.
 */
export function load(options: LoadOptions): { inputs: ProtoFile[]; all: ProtoFile[] } {
  const inputs = options.inputs.map(normalize);
  const roots = options.includePaths.length > 0
    ? options.includePaths.map(normalize)
    : [...new Set(inputs.map(dirname))];
  const byName = new Map<string, ProtoFile>();
  const loading: string[] = [];
  const all: ProtoFile[] = [];

  const parseFile = (name: string, path: string, source: string, wkt: boolean): ProtoFile => {
    let ast: FileNode;
    try {
      ast = parse(source);
    } catch (e) {
      if (e instanceof SyntaxErrorAt) throw new GenerateError(path, e.line, e.col, e.message);
      throw e;
    }
    const file: ProtoFile = { name, path, ast, deps: [], wkt, fieldTypes: new Map(), methodTypes: new Map() };
    byName.set(name, file);
    loading.push(name);
    for (const imp of ast.imports) {
      const cycleStart = loading.indexOf(imp.path);
      if (cycleStart >= 0) {
        const cycle = [...loading.slice(cycleStart), imp.path].join(" -> ");
        throw new GenerateError(path, imp.pos.line, imp.pos.col, `import cycle: ${cycle}`);
      }
      if (ast.imports.filter((i) => i.path === imp.path).length > 1) {
        throw new GenerateError(path, imp.pos.line, imp.pos.col, `'${imp.path}' is imported more than once`);
      }
      file.deps.push(byName.get(imp.path) ?? loadImport(imp.path, path, imp.pos));
    }
    loading.pop();
    all.push(file);
    return file;
  };

  const loadImport = (name: string, from: string, pos: Pos): ProtoFile => {
    const wkt = options.wktSources[name];
    if (wkt !== undefined) return parseFile(name, name, wkt, true);
    for (const root of roots) {
      const path = join(root, name);
      const source = options.readFile(path);
      if (source !== undefined) return parseFile(name, path, source, false);
    }
    throw new GenerateError(from, pos.line, pos.col, `import '${name}' not found (include paths: ${roots.join(", ")})`);
  };

  const result: ProtoFile[] = [];
  for (const input of inputs) {
    let name: string | undefined;
    for (const root of roots) {
      if (root === ".") name = input.startsWith("/") ? undefined : input;
      else if (input.startsWith(root + "/")) name = input.slice(root.length + 1);
      if (name !== undefined) break;
    }
    if (name === undefined) {
      throw new GenerateError(input, 1, 1, `the file is not under any include path (${roots.join(", ")})`);
    }
    const loaded = byName.get(name);
    if (loaded) {
      result.push(loaded);
      continue;
    }
    const source = options.readFile(input);
    if (source === undefined) throw new GenerateError(input, 1, 1, "no such file");
    result.push(parseFile(name, input, source, false));
  }
  new Resolver(all).run();
  return { inputs: result, all };
}

/** The lowerCamelCase JSON name protoc computes for a field: `foo_bar` → `fooBar`. */
export function jsonName(name: string): string {
  let out = "";
  let capNext = false;
  for (const c of name) {
    if (c === "_") capNext = true;
    else if (capNext) {
      out += c >= "a" && c <= "z" ? c.toUpperCase() : c;
      capNext = false;
    } else out += c;
  }
  return out;
}

const AGGREGATES = new Set(["package", "message", "enum", "service"]);

class Resolver {
  readonly #table = new Map<string, Sym>();
  constructor(private readonly files: ProtoFile[]) {}

  run(): void {
    for (const file of this.files) this.#register(file);
    for (const file of this.files) this.#resolve(file);
  }

  #define(file: ProtoFile, sym: Sym, pos: Pos): void {
    const existing = this.#table.get(sym.fullName);
    if (existing) {
      if (existing.kind === "package" && sym.kind === "package") return;
      const where = existing.file && existing.file !== file ? ` in '${existing.file.name}'` : "";
      const what = sym.kind === "enumValue" ? "enum value" : sym.kind;
      throw new GenerateError(file.path, pos.line, pos.col, `${what} '${sym.fullName}' is already defined${where}`);
    }
    this.#table.set(sym.fullName, sym);
  }

  #register(file: ProtoFile): void {
    const pkg = file.ast.package;
    if (pkg) {
      const parts = pkg.split(".");
      for (let i = 1; i <= parts.length; i++) {
        this.#define(file, { kind: "package", fullName: parts.slice(0, i).join("."), file }, { line: 1, col: 1 });
      }
    }
    const scope = pkg ? pkg + "." : "";
    for (const m of file.ast.messages) this.#registerMessage(file, scope, m);
    for (const e of file.ast.enums) this.#registerEnum(file, scope, e);
    for (const s of file.ast.services) this.#define(file, { kind: "service", fullName: scope + s.name, file }, s.pos);
  }

  #registerMessage(file: ProtoFile, scope: string, m: MessageNode): void {
    const fullName = scope + m.name;
    this.#define(file, { kind: "message", fullName, file, node: m }, m.pos);
    const inner = fullName + ".";
    for (const f of m.fields) this.#define(file, { kind: "field", fullName: inner + f.name, file }, f.pos);
    for (const o of m.oneofs) this.#define(file, { kind: "oneof", fullName: inner + o.name, file }, o.pos);
    for (const n of m.messages) this.#registerMessage(file, inner, n);
    for (const e of m.enums) this.#registerEnum(file, inner, e);
  }

  #registerEnum(file: ProtoFile, scope: string, e: EnumNode): void {
    this.#define(file, { kind: "enum", fullName: scope + e.name, file, node: e }, e.pos);
    // Enum values are siblings of their enum, as in C++.
    for (const v of e.values) this.#define(file, { kind: "enumValue", fullName: scope + v.name, file }, v.pos);
  }

  /** protoc's lookup: innermost scope outward; a compound name binds on its first part. */
  #lookup(scope: string, name: string, visible: (s: Sym) => boolean): Sym | undefined {
    const get = (n: string) => {
      const s = this.#table.get(n);
      return s && visible(s) ? s : undefined;
    };
    if (name.startsWith(".")) return get(name.slice(1));
    const dot = name.indexOf(".");
    const first = dot < 0 ? name : name.slice(0, dot);
    let s = scope;
    while (true) {
      const prefix = s ? s + "." : "";
      const sym = get(prefix + first);
      if (sym) {
        if (dot >= 0) {
          if (AGGREGATES.has(sym.kind)) return get(prefix + name);
        } else if (sym.kind === "message" || sym.kind === "enum") {
          return sym;
        }
      }
      if (!s) return undefined;
      const i = s.lastIndexOf(".");
      s = i < 0 ? "" : s.slice(0, i);
    }
  }

  #resolveType(file: ProtoFile, visible: Set<ProtoFile>, scope: string, name: string, pos: Pos): Sym {
    const sym = this.#lookup(scope, name, (s) => s.kind === "package" || (s.file !== undefined && visible.has(s.file)));
    if (sym) return sym;
    const hidden = this.#lookup(scope, name, () => true);
    if (hidden?.file && hidden.file !== file) {
      throw new GenerateError(
        file.path,
        pos.line,
        pos.col,
        `type '${name}' is defined in '${hidden.file.name}', which is not imported`,
      );
    }
    throw new GenerateError(file.path, pos.line, pos.col, `type '${name}' is not defined`);
  }

  #resolve(file: ProtoFile): void {
    const visible = new Set<ProtoFile>([file]);
    const addPublic = (f: ProtoFile) => {
      f.ast.imports.forEach((imp, i) => {
        const dep = f.deps[i]!;
        if (imp.kind === "public" && !visible.has(dep)) {
          visible.add(dep);
          addPublic(dep);
        }
      });
    };
    for (const dep of file.deps) {
      visible.add(dep);
      addPublic(dep);
    }
    const pkg = file.ast.package;
    const scope = pkg ? pkg + "." : "";
    for (const m of file.ast.messages) this.#resolveMessage(file, visible, scope + m.name, m);
    for (const e of file.ast.enums) checkEnum(file, e);
    for (const s of file.ast.services) {
      const names = new Set<string>();
      for (const method of s.methods) {
        if (names.has(method.name)) {
          throw new GenerateError(
            file.path,
            method.pos.line,
            method.pos.col,
            `rpc '${method.name}' is already defined`,
          );
        }
        names.add(method.name);
        const input = this.#resolveType(file, visible, scope + s.name, method.input, method.inputPos);
        const output = this.#resolveType(file, visible, scope + s.name, method.output, method.outputPos);
        for (
          const [sym, name, pos] of [[input, method.input, method.inputPos], [
            output,
            method.output,
            method.outputPos,
          ]] as const
        ) {
          if (sym.kind !== "message") {
            throw new GenerateError(file.path, pos.line, pos.col, `'${name}' is not a message type`);
          }
        }
        file.methodTypes.set(method, [input, output]);
      }
    }
  }

  #resolveMessage(file: ProtoFile, visible: Set<ProtoFile>, fullName: string, m: MessageNode): void {
    const err = (pos: Pos, message: string): never => {
      throw new GenerateError(file.path, pos.line, pos.col, message);
    };
    const numbers = new Map<number, string>();
    const jsonNames = new Map<string, string>();
    for (const f of m.fields) {
      const other = numbers.get(f.number);
      if (other !== undefined) err(f.numberPos, `field number ${f.number} is already used by '${other}'`);
      numbers.set(f.number, f.name);
      const json = jsonName(f.name);
      const sameJson = jsonNames.get(json);
      if (sameJson !== undefined) {
        err(f.pos, `field '${f.name}' has the same camel-case name as '${sameJson}' ('${json}')`);
      }
      jsonNames.set(json, f.name);
      for (const r of m.reserved.ranges) {
        if (f.number >= r.start && f.number <= r.end) err(f.numberPos, `field number ${f.number} is reserved`);
      }
      if (m.reserved.names.some((r) => r.name === f.name)) err(f.pos, `field name '${f.name}' is reserved`);
      if (f.map) {
        if (!SCALARS.has(f.map.value)) {
          const sym = this.#resolveType(file, visible, fullName, f.map.value, f.map.valuePos);
          if (sym.kind === "message" && (sym.node as MessageNode).mapEntry) {
            err(f.map.valuePos, "a map value cannot be a map");
          }
        }
      }
      if (!SCALARS.has(f.type)) {
        const sym = this.#resolveType(file, visible, fullName, f.type, f.typePos);
        file.fieldTypes.set(f, sym);
      }
      for (const o of f.options) {
        if (o.name === "packed") {
          const type = file.fieldTypes.get(f);
          const packable = f.label === "repeated" &&
            (type === undefined ? f.type !== "string" && f.type !== "bytes" : type.kind === "enum");
          if (!packable) err(o.pos, "'packed' applies only to repeated scalar numeric and enum fields");
        }
      }
    }
    for (let i = 0; i < m.reserved.ranges.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = m.reserved.ranges[i]!;
        const b = m.reserved.ranges[j]!;
        if (a.start <= b.end && b.start <= a.end) err(a.pos, "reserved ranges overlap");
      }
    }
    for (const n of m.messages) {
      if (n.mapEntry) {
        for (const f of n.fields) {
          if (!SCALARS.has(f.type)) {
            file.fieldTypes.set(f, this.#resolveType(file, visible, fullName, f.type, f.typePos));
          }
        }
      } else {
        this.#resolveMessage(file, visible, `${fullName}.${n.name}`, n);
      }
    }
    for (const e of m.enums) checkEnum(file, e);
  }
}

function checkEnum(file: ProtoFile, e: EnumNode): void {
  const err = (pos: Pos, message: string): never => {
    throw new GenerateError(file.path, pos.line, pos.col, message);
  };
  const first = e.values[0]!;
  if (first.number !== 0) err(first.pos, `the first value of enum '${e.name}' must be zero in proto3`);
  const allowAlias = e.options.some((o) =>
    o.name === "allow_alias" && o.value.kind === "ident" && o.value.value === "true"
  );
  const numbers = new Map<number, string>();
  let aliased = false;
  for (const v of e.values) {
    const other = numbers.get(v.number);
    if (other !== undefined) {
      if (!allowAlias) {
        err(
          v.pos,
          `enum value ${v.number} of '${v.name}' is already used by '${other}' (set 'option allow_alias = true;')`,
        );
      }
      aliased = true;
    } else numbers.set(v.number, v.name);
    for (const r of e.reserved.ranges) {
      if (v.number >= r.start && v.number <= r.end) err(v.pos, `enum value ${v.number} is reserved`);
    }
    if (e.reserved.names.some((r) => r.name === v.name)) err(v.pos, `enum value name '${v.name}' is reserved`);
  }
  if (allowAlias && !aliased) {
    const o = e.options.find((o) => o.name === "allow_alias")!;
    err(o.pos, `enum '${e.name}' sets 'allow_alias' but has no aliases`);
  }
}
