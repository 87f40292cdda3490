/**
 * The TypeScript of a resolved `.proto` file, already in `deno fmt` form
 * (line width 120): message interfaces and message types, enums, the file
 * descriptor and service definitions, driven by the runtime.
 *
 * @module
 */
import { fileDescriptorProto, toBase64 } from "./_descriptor.ts";
import type { EnumNode, FieldNode, MessageNode, ServiceNode } from "./_parser.ts";
import { jsonName, type ProtoFile, type Sym } from "./_resolve.ts";

const LINE_WIDTH = 120;

/** How one file refers to the files it needs. */
export interface EmitContext {
  /** The runtime's import specifier, as written in this file. */
  readonly runtime: string;
  /** The well-known types' import specifier, as written in this file. */
  readonly wkt: string;
  /** The import specifier of another generated file, as written in this file. */
  readonly specifierOf: (dep: ProtoFile) => string;
}

const TS_SCALARS: Readonly<Record<string, string>> = {
  double: "number",
  float: "number",
  int32: "number",
  uint32: "number",
  sint32: "number",
  fixed32: "number",
  sfixed32: "number",
  int64: "bigint",
  uint64: "bigint",
  sint64: "bigint",
  fixed64: "bigint",
  sfixed64: "bigint",
  bool: "boolean",
  string: "string",
  bytes: "Uint8Array",
};

const NUMERIC_KEYS = new Set(["int32", "uint32", "sint32", "fixed32", "sfixed32"]);

/** Names a type or value cannot have in a module: reserved words, TS's own type names, the globals we use. */
const RESERVED_NAMES = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends false finally for " +
    "function if import in instanceof new null return super switch this throw true try typeof var void while with " +
    "implements interface let package private protected public static yield await arguments eval " +
    "any bigint boolean never number object string symbol undefined unknown as async declare from get is keyof " +
    "module namespace of readonly require set type infer " +
    "Record Uint8Array Array Object String Number Boolean BigInt Symbol Promise Error"
  ).split(" "),
);

/** Property names that would clash with `Object.prototype` or JSON handling. */
const RESERVED_PROPERTIES = new Set([
  "__proto__",
  "constructor",
  "toString",
  "toJSON",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
]);

/** A field's or method's name in TypeScript, `$`-suffixed when it would clash. */
export function safeProperty(name: string): string {
  return RESERVED_PROPERTIES.has(name) ? name + "$" : name;
}

/** A field's `localName`: protoc's JSON name, escaped. */
export function fieldLocalName(name: string): string {
  return safeProperty(jsonName(name));
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** The constant that holds a file's descriptor: `file_grpc_testing_test`. */
export function fileConstName(name: string): string {
  return "file_" + name.replace(/\.proto$/, "").replace(/[^A-Za-z0-9_]/g, "_");
}

/** The TypeScript name of a message or enum of a file: `Outer_Inner`, escaped. */
export function localTypeName(file: ProtoFile, fullName: string): string {
  const pkg = file.ast.package;
  const relative = pkg ? fullName.slice(pkg.length + 1) : fullName;
  const name = relative.replaceAll(".", "_");
  return RESERVED_NAMES.has(name) ? name + "$" : name;
}

/** `"a"` with `"` and `\` escaped. */
function str(value: string): string {
  return JSON.stringify(value);
}

/** `{ a, b }` on one line when it fits at `indent`, else one property a line. */
function objectLiteral(indent: string, props: readonly string[], suffix: string): string[] {
  const one = `${indent}{ ${props.join(", ")} }${suffix}`;
  if (one.length <= LINE_WIDTH) return [one];
  return [`${indent}{`, ...props.map((p) => `${indent}  ${p},`), `${indent}}${suffix}`];
}

/** JSDoc on one line when it fits, else wrapped. */
function doc(indent: string, text: string): string[] {
  const one = `${indent}/** ${text} */`;
  if (one.length <= LINE_WIDTH) return [one];
  return [`${indent}/**`, `${indent} * ${text}`, `${indent} */`];
}

class FileEmitter {
  readonly #out: string[] = [];
  readonly #namespaces = new Map<ProtoFile, string>();
  #usesWkt = false;

  constructor(private readonly file: ProtoFile, private readonly ctx: EmitContext) {}

  emit(): string {
    const file = this.file;
    const ast = file.ast;
    // Namespaces for every file whose types are used or whose descriptor is a dependency.
    const needed: ProtoFile[] = [...file.deps];
    for (const sym of [...file.fieldTypes.values(), ...[...file.methodTypes.values()].flat()]) {
      if (sym.file && sym.file !== file && !needed.includes(sym.file)) needed.push(sym.file);
    }
    const taken = new Set(["$rt", "$wkt"]);
    for (const dep of needed) {
      if (dep.wkt) {
        this.#usesWkt = true;
        continue;
      }
      const base = "$" + dep.name.replace(/^.*\//, "").replace(/\.proto$/, "").replace(/[^A-Za-z0-9_]/g, "_");
      let ns = base;
      for (let i = 2; taken.has(ns); i++) ns = base + i;
      taken.add(ns);
      this.#namespaces.set(dep, ns);
    }
    const out = this.#out;
    out.push(`// Code generated by @greeter/grpc gen from ${file.name}. DO NOT EDIT.`);
    out.push("/**", ` * The messages and services of \`${file.name}\`.`, " *", " * @module", " */");
    out.push(`import * as $rt from ${str(this.ctx.runtime)};`);
    if (this.#usesWkt) out.push(`import * as $wkt from ${str(this.ctx.wkt)};`);
    for (const [dep, ns] of this.#namespaces) out.push(`import * as ${ns} from ${str(this.ctx.specifierOf(dep))};`);

    const scope = ast.package ? ast.package + "." : "";
    for (const e of ast.enums) this.#enum(scope + e.name, e);
    const messages: [string, MessageNode][] = [];
    const walk = (prefix: string, m: MessageNode) => {
      if (m.mapEntry) return;
      const fullName = prefix + m.name;
      messages.push([fullName, m]);
      for (const e of m.enums) this.#enum(fullName + "." + e.name, e);
      for (const n of m.messages) walk(fullName + ".", n);
    };
    for (const m of ast.messages) walk(scope, m);
    // Interfaces of nested types come right after their parents', enums before.
    const interfaces: string[][] = [];
    for (const [fullName, m] of messages) interfaces.push(this.#interface(fullName, m));
    for (const lines of interfaces) out.push("", ...lines);
    for (const [fullName, m] of messages) this.#messageType(fullName, m);

    const fileConst = fileConstName(file.name);
    const deps = file.deps.map((d) => `${this.#namespace(d)}.${fileConstName(d.name)}`);
    out.push("", `/** The serialized \`${file.name}\`, for server reflection. */`);
    let head = `export const ${fileConst}: $rt.FileDescriptor = $rt.fileDescriptor(`;
    let indent = "  ";
    if (head.length > LINE_WIDTH) {
      out.push(`export const ${fileConst}: $rt.FileDescriptor = $rt`);
      head = "  .fileDescriptor(";
      indent = "    ";
    }
    out.push(head);
    out.push(`${indent}${str(file.name)},`);
    out.push(`${indent}"${toBase64(fileDescriptorProto(file))}",`);
    const depLine = `${indent}[${deps.join(", ")}],`;
    if (depLine.length <= LINE_WIDTH) out.push(depLine);
    else out.push(`${indent}[`, ...deps.map((d) => `${indent}  ${d},`), `${indent}],`);
    out.push(`${indent.slice(2)});`);
    for (const s of ast.services) this.#service(scope + s.name, s, fileConst);
    out.push("");
    return out.join("\n");
  }

  #namespace(dep: ProtoFile): string {
    return dep.wkt ? "$wkt" : this.#namespaces.get(dep)!;
  }

  /** How this file names a message or enum in TypeScript. */
  #typeRef(sym: Sym): string {
    const owner = sym.file!;
    const local = localTypeName(owner, sym.fullName);
    return owner === this.file ? local : `${this.#namespace(owner)}.${local}`;
  }

  #enum(fullName: string, e: EnumNode): void {
    const out = this.#out;
    out.push("", ...doc("", `The \`${fullName}\` enum.`));
    out.push(`export enum ${localTypeName(this.file, fullName)} {`);
    for (const v of e.values) out.push(`  ${v.name} = ${v.number},`);
    out.push("}");
  }

  #valueType(f: FieldNode, type: string): string {
    const sym = this.file.fieldTypes.get(f);
    return sym ? this.#typeRef(sym) : TS_SCALARS[type]!;
  }

  #interface(fullName: string, m: MessageNode): string[] {
    const lines = doc("", `The \`${fullName}\` message.`);
    const name = localTypeName(this.file, fullName);
    if (m.fields.length === 0) {
      return [...lines, "// deno-lint-ignore no-empty-interface", `export interface ${name} {}`];
    }
    lines.push(`export interface ${name} {`);
    const doneOneofs = new Set<number>();
    for (const f of m.fields) {
      const oneof = f.oneofIndex === undefined ? undefined : m.oneofs[f.oneofIndex]!;
      if (oneof && !oneof.synthetic) {
        if (doneOneofs.has(f.oneofIndex!)) continue;
        doneOneofs.add(f.oneofIndex!);
        const members = m.fields.filter((g) => g.oneofIndex === f.oneofIndex);
        const list = members.map((g) => `\`${g.name}\``).join(", ");
        lines.push(...doc("  ", `Oneof \`${oneof.name}\`: ${list}.`));
        lines.push(`  ${oneofLocalName(oneof.name)}:`);
        for (const g of members) {
          const c = `case: ${str(fieldLocalName(g.name))}`;
          const v = `value: ${this.#valueType(g, g.type)}`;
          const one = `    | { ${c}; ${v} }`;
          if (one.length <= LINE_WIDTH) lines.push(one);
          else lines.push("    | {", `      ${c};`, `      ${v};`, "    }");
        }
        lines.push("    | { case: undefined; value?: undefined };");
        continue;
      }
      lines.push(...doc("  ", `Field ${f.number}, \`${f.name}\`.`));
      let type: string;
      let optional = f.label === "optional";
      if (f.map) {
        const entry = m.messages.find((n) => n.mapEntry && n.name === f.type)!;
        const value = this.#valueType(entry.fields[1]!, f.map.value);
        type = `Record<${NUMERIC_KEYS.has(f.map.key) ? "number" : "string"}, ${value}>`;
      } else {
        type = this.#valueType(f, f.type);
        if (f.label === "repeated") type += "[]";
        else if (this.file.fieldTypes.get(f)?.kind === "message") optional = true;
      }
      const member = `  ${fieldLocalName(f.name)}${optional ? "?" : ""}: `;
      const recordArgs = type.match(/^Record<(\w+), (.*)>$/);
      if (member.length + type.length + 1 > LINE_WIDTH && recordArgs) {
        lines.push(`${member}Record<`, `    ${recordArgs[1]},`, `    ${recordArgs[2]}`, "  >;");
      } else lines.push(`${member}${type};`);
    }
    lines.push("}");
    return lines;
  }

  #valueInfo(f: FieldNode, type: string): string[] {
    const sym = this.file.fieldTypes.get(f);
    if (!sym) return [`kind: "scalar"`, `T: $rt.ScalarType.${type.toUpperCase()}`];
    if (sym.kind === "enum") return [`kind: "enum"`, `T: ${str(sym.fullName)}`];
    return [`kind: "message"`, `T: () => ${this.#typeRef(sym)}`];
  }

  #messageType(fullName: string, m: MessageNode): void {
    const out = this.#out;
    const name = localTypeName(this.file, fullName);
    out.push("", ...doc("", `The \`${fullName}\` message type: its fields and codec.`));
    const fields = m.fields.map((f) => this.#fieldInfo(m, f));
    // The layouts `deno fmt` picks, by how much of the head fits on one line.
    let decl = `export const ${name}: $rt.MessageType<${name}> = $rt.messageType(`;
    if (decl.length > LINE_WIDTH) {
      out.push(`export const ${name}: $rt.MessageType<`, `  ${name}`);
      decl = `> = $rt.messageType(`;
    }
    const hug = `${decl}${str(fullName)}, [`;
    if (hug.length <= LINE_WIDTH && (fields.length > 0 || hug.length + 3 <= LINE_WIDTH)) {
      if (fields.length === 0) {
        out.push(hug + "]);");
        return;
      }
      out.push(hug);
      for (const props of fields) out.push(...objectLiteral("  ", props, ","));
      out.push("]);");
      return;
    }
    out.push(decl, `  ${str(fullName)},`);
    if (fields.length === 0) out.push("  [],");
    else {
      out.push("  [");
      for (const props of fields) out.push(...objectLiteral("    ", props, ","));
      out.push("  ],");
    }
    out.push(");");
  }

  #fieldInfo(m: MessageNode, f: FieldNode): string[] {
    const props = [`no: ${f.number}`, `name: ${str(f.name)}`, `localName: ${str(fieldLocalName(f.name))}`];
    if (f.map) {
      const entry = m.messages.find((n) => n.mapEntry && n.name === f.type)!;
      props.push(`kind: "map"`, `K: $rt.ScalarType.${f.map.key.toUpperCase()}`);
      props.push(`V: { ${this.#valueInfo(entry.fields[1]!, f.map.value).join(", ")} }`);
    } else {
      props.push(...this.#valueInfo(f, f.type));
      if (f.label === "repeated") {
        props.push("repeated: true");
        const packed = f.options.find((o) => o.name === "packed");
        if (packed?.value.kind === "ident" && packed.value.value === "false") props.push("packed: false");
      }
    }
    if (f.label === "optional") props.push("optional: true");
    const oneof = f.oneofIndex === undefined ? undefined : m.oneofs[f.oneofIndex]!;
    if (oneof && !oneof.synthetic) props.push(`oneof: ${str(oneofLocalName(oneof.name))}`);
    return props;
  }

  #service(fullName: string, s: ServiceNode, fileConst: string): void {
    const out = this.#out;
    const name = localTypeName(this.file, fullName);
    out.push("", ...doc("", `The \`${fullName}\` service.`));
    if (s.methods.length === 0) {
      const head = `export const ${name}: $rt.ServiceType<Record<never, never>> = $rt.serviceType(`;
      const one = `${head}${str(fullName)}, {}, ${fileConst});`;
      if (one.length <= LINE_WIDTH) out.push(one);
      else out.push(head, `  ${str(fullName)},`, "  {},", `  ${fileConst},`, ");");
      return;
    }
    const KINDS = {
      unary: "UnaryMethod",
      server_streaming: "ServerStreamingMethod",
      client_streaming: "ClientStreamingMethod",
      bidi_streaming: "BidiStreamingMethod",
    } as const;
    const methods = s.methods.map((m) => {
      const [input, output] = this.file.methodTypes.get(m)!;
      const kind: keyof typeof KINDS = m.clientStreaming
        ? m.serverStreaming ? "bidi_streaming" : "client_streaming"
        : m.serverStreaming
        ? "server_streaming"
        : "unary";
      return { m, local: safeProperty(lowerFirst(m.name)), I: this.#typeRef(input), O: this.#typeRef(output), kind };
    });
    out.push(`export const ${name}: $rt.ServiceType<{`);
    for (const { local, I, O, kind } of methods) {
      const one = `  readonly ${local}: $rt.${KINDS[kind]}<${I}, ${O}>;`;
      if (one.length <= LINE_WIDTH) out.push(one);
      else out.push(`  readonly ${local}: $rt.${KINDS[kind]}<`, `    ${I},`, `    ${O}`, "  >;");
    }
    const hug = `}> = $rt.serviceType(${str(fullName)}, {`;
    // `deno fmt` hugs the methods' object when the head fits, else puts each argument on its own line.
    const indent = hug.length <= LINE_WIDTH ? "  " : "    ";
    if (indent === "  ") out.push(hug);
    else out.push("}> = $rt.serviceType(", `  ${str(fullName)},`, "  {");
    for (const { m, local, I, O, kind } of methods) {
      const props = [`name: ${str(m.name)}`, `I: ${I}`, `O: ${O}`, `kind: ${str(kind)}`];
      const one = `${indent}${local}: { ${props.join(", ")} },`;
      if (one.length <= LINE_WIDTH) out.push(one);
      else out.push(`${indent}${local}: {`, ...props.map((p) => `${indent}  ${p},`), `${indent}},`);
    }
    if (indent === "  ") out.push(`}, ${fileConst});`);
    else out.push("  },", `  ${fileConst},`, ");");
  }
}

function oneofLocalName(name: string): string {
  return safeProperty(lowerFirst(jsonName(name)));
}

/**
 * The TypeScript module of a resolved file.
 *
 * @param file The file.
 * @param ctx How it imports the runtime, the well-known types and other generated files.
 * @returns The module's source, in `deno fmt` form.
 */
export function emitFile(file: ProtoFile, ctx: EmitContext): string {
  return new FileEmitter(file, ctx).emit();
}
