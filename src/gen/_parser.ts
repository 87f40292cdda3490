/**
 * The recursive-descent parser of the `.proto` generator: proto3 only. It
 * refuses proto2 and editions constructs by name, and synthesizes map entry
 * messages and proto3 `optional` oneofs the way `protoc` does.
 *
 * @module
 */
import { SyntaxErrorAt, type Token, tokenize } from "./_tokenizer.ts";

/** A place in a `.proto` file, 1-based. */
export interface Pos {
  readonly line: number;
  readonly col: number;
}

/** An option's value. Aggregates (`{ ... }`) are kept only as such. */
export type Constant =
  | { readonly kind: "ident"; readonly value: string }
  | { readonly kind: "int"; readonly value: bigint }
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "aggregate" };

/** `option name = value;` or one `[name = value]` of a field. */
export interface OptionNode {
  /** The dotted name; parenthesized parts keep their parentheses. */
  readonly name: string;
  /** Whether the name starts with a parenthesized (custom) part. */
  readonly custom: boolean;
  readonly value: Constant;
  readonly pos: Pos;
  readonly valuePos: Pos;
}

/** `import "x.proto";`, maybe `public` or `weak`. */
export interface ImportNode {
  readonly path: string;
  readonly kind: "" | "public" | "weak";
  readonly pos: Pos;
}

/** A field of a message. Map fields are `repeated XxxEntry` with {@linkcode FieldNode.map} set. */
export interface FieldNode {
  readonly name: string;
  readonly number: number;
  readonly label: "" | "optional" | "repeated";
  /** A scalar type name or a type reference as written. */
  readonly type: string;
  readonly options: readonly OptionNode[];
  /** The index of its oneof in {@linkcode MessageNode.oneofs}. */
  oneofIndex?: number;
  readonly map?: { readonly key: string; readonly value: string; readonly valuePos: Pos };
  readonly pos: Pos;
  readonly typePos: Pos;
  readonly numberPos: Pos;
}

/** A `oneof`, or a synthetic one for a proto3 `optional` field. */
export interface OneofNode {
  readonly name: string;
  readonly synthetic: boolean;
  readonly options: readonly OptionNode[];
  readonly pos: Pos;
}

/** `reserved` ranges (end inclusive, as written) and names. */
export interface ReservedNode {
  readonly ranges: { start: number; end: number; pos: Pos }[];
  readonly names: { name: string; pos: Pos }[];
}

/** A message, or a synthetic map entry. */
export interface MessageNode {
  readonly kind: "message";
  readonly name: string;
  readonly fields: FieldNode[];
  readonly oneofs: OneofNode[];
  readonly messages: MessageNode[];
  readonly enums: EnumNode[];
  readonly options: OptionNode[];
  readonly reserved: ReservedNode;
  readonly mapEntry: boolean;
  readonly pos: Pos;
}

/** One value of an enum. */
export interface EnumValueNode {
  readonly name: string;
  readonly number: number;
  readonly options: readonly OptionNode[];
  readonly pos: Pos;
}

/** An enum. */
export interface EnumNode {
  readonly kind: "enum";
  readonly name: string;
  readonly values: EnumValueNode[];
  readonly options: OptionNode[];
  readonly reserved: ReservedNode;
  readonly pos: Pos;
}

/** One `rpc` of a service. */
export interface MethodNode {
  readonly name: string;
  readonly input: string;
  readonly output: string;
  readonly clientStreaming: boolean;
  readonly serverStreaming: boolean;
  readonly options: OptionNode[];
  /** Whether it has a `{ ... }` body, where protoc always records options, even none. */
  readonly hasBody: boolean;
  readonly pos: Pos;
  readonly inputPos: Pos;
  readonly outputPos: Pos;
}

/** A service. */
export interface ServiceNode {
  readonly name: string;
  readonly methods: MethodNode[];
  readonly options: OptionNode[];
  readonly pos: Pos;
}

/** A parsed `.proto` file. */
export interface FileNode {
  package: string;
  readonly imports: ImportNode[];
  readonly options: OptionNode[];
  readonly messages: MessageNode[];
  readonly enums: EnumNode[];
  readonly services: ServiceNode[];
}

/** The scalar types of proto3. */
export const SCALARS: ReadonlySet<string> = new Set([
  "double",
  "float",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "sint32",
  "sint64",
  "fixed32",
  "fixed64",
  "sfixed32",
  "sfixed64",
  "bool",
  "string",
  "bytes",
]);

const MAP_KEYS = new Set([...SCALARS].filter((t) => t !== "double" && t !== "float" && t !== "bytes"));

/** The largest field number. */
export const MAX_FIELD_NUMBER = 536870911;

const PROTO3_ONLY = "only proto3 is supported";

/**
 * The AST of a proto3 file.
 *
 * @param source The file's text.
 * @returns Its AST.
 * @throws {SyntaxErrorAt} When the text is not valid proto3 or uses something unsupported.
 */
export function parse(source: string): FileNode {
  return new Parser(tokenize(source)).file();
}

function posOf(t: Token): Pos {
  return { line: t.line, col: t.col };
}

function fail(at: Pos, message: string): never {
  throw new SyntaxErrorAt(at.line, at.col, message);
}

function describe(t: Token): string {
  if (t.kind === "eof") return "end of file";
  if (t.kind === "string") return "a string";
  return `'${t.text}'`;
}

/** protoc's map entry name: `my_map` → `MyMapEntry`. */
export function mapEntryName(field: string): string {
  let out = "";
  let capNext = true;
  for (const c of field) {
    if (c === "_") capNext = true;
    else if (capNext) {
      out += c >= "a" && c <= "z" ? c.toUpperCase() : c;
      capNext = false;
    } else out += c;
  }
  return out + "Entry";
}

class Parser {
  #i = 0;
  constructor(private readonly tokens: Token[]) {}

  get #peek(): Token {
    return this.tokens[this.#i]!;
  }

  #next(): Token {
    const t = this.tokens[this.#i]!;
    if (t.kind !== "eof") this.#i++;
    return t;
  }

  #is(text: string, offset = 0): boolean {
    const t = this.tokens[this.#i + offset];
    return t !== undefined && (t.kind === "symbol" || t.kind === "ident") && t.text === text;
  }

  #accept(text: string): boolean {
    if (this.#is(text)) {
      this.#i++;
      return true;
    }
    return false;
  }

  #expect(text: string): Token {
    const t = this.#peek;
    if (!this.#is(text)) fail(posOf(t), `expected '${text}', found ${describe(t)}`);
    return this.#next();
  }

  #ident(what: string): Token {
    const t = this.#peek;
    if (t.kind !== "ident") fail(posOf(t), `expected ${what}, found ${describe(t)}`);
    return this.#next();
  }

  #string(what: string): string {
    const t = this.#peek;
    if (t.kind !== "string") fail(posOf(t), `expected ${what}, found ${describe(t)}`);
    let value = "";
    while (this.#peek.kind === "string") value += this.#next().text;
    return value;
  }

  /** `a.b.c`, or `.a.b.c` when `leadingDot`. */
  #fullIdent(what: string, leadingDot: boolean): string {
    let name = "";
    if (leadingDot && this.#accept(".")) name = ".";
    name += this.#ident(what).text;
    while (this.#is(".")) {
      this.#next();
      name += "." + this.#ident(what).text;
    }
    return name;
  }

  #int(what: string): { value: bigint; pos: Pos } {
    const start = this.#peek;
    const negative = this.#accept("-");
    const t = this.#peek;
    if (t.kind !== "int") fail(posOf(t), `expected ${what}, found ${describe(t)}`);
    this.#next();
    const value = parseIntLiteral(t.text);
    return { value: negative ? -value : value, pos: posOf(start) };
  }

  file(): FileNode {
    const file: FileNode = { package: "", imports: [], options: [], messages: [], enums: [], services: [] };
    const first = this.#peek;
    if (this.#is("edition")) fail(posOf(first), `'edition' is not supported; ${PROTO3_ONLY}`);
    if (!this.#is("syntax")) {
      fail(posOf(first), `no 'syntax = "proto3";' line: the file is proto2; ${PROTO3_ONLY}`);
    }
    this.#next();
    this.#expect("=");
    const syntaxTok = this.#peek;
    const syntax = this.#string("'\"proto3\"'");
    if (syntax !== "proto3") fail(posOf(syntaxTok), `syntax '${syntax}' is not supported; ${PROTO3_ONLY}`);
    this.#expect(";");
    let packagePos: Pos | undefined;
    while (this.#peek.kind !== "eof") {
      const t = this.#peek;
      if (this.#accept(";")) continue;
      if (t.kind !== "ident") fail(posOf(t), `expected a top-level statement, found ${describe(t)}`);
      switch (t.text) {
        case "package": {
          if (packagePos) fail(posOf(t), `multiple 'package' statements (the first is at line ${packagePos.line})`);
          packagePos = posOf(t);
          this.#next();
          file.package = this.#fullIdent("a package name", false);
          this.#expect(";");
          break;
        }
        case "import": {
          this.#next();
          let kind: ImportNode["kind"] = "";
          if (this.#accept("public")) kind = "public";
          else if (this.#accept("weak")) kind = "weak";
          const path = this.#string("an import path");
          this.#expect(";");
          file.imports.push({ path, kind, pos: posOf(t) });
          break;
        }
        case "option":
          file.options.push(this.#optionStatement());
          break;
        case "message":
          file.messages.push(this.#message());
          break;
        case "enum":
          file.enums.push(this.#enum());
          break;
        case "service":
          file.services.push(this.#service());
          break;
        case "syntax":
          fail(posOf(t), "'syntax' must be the first statement");
          break;
        case "edition":
          fail(posOf(t), `'edition' is not supported; ${PROTO3_ONLY}`);
          break;
        case "extend":
          fail(posOf(t), "'extend' is not supported");
          break;
        default:
          fail(posOf(t), `expected a top-level statement, found ${describe(t)}`);
      }
    }
    return file;
  }

  /** `option name = value;` */
  #optionStatement(): OptionNode {
    this.#expect("option");
    const option = this.#option();
    this.#expect(";");
    return option;
  }

  /** `name = value` */
  #option(): OptionNode {
    const start = this.#peek;
    let name = "";
    let custom = false;
    do {
      if (name) name += ".";
      if (this.#is("(")) {
        if (!name) custom = true;
        this.#next();
        name += "(" + this.#fullIdent("an option name", true) + ")";
        this.#expect(")");
      } else {
        name += this.#ident("an option name").text;
      }
    } while (this.#accept("."));
    this.#expect("=");
    const valueTok = this.#peek;
    const value = this.#constant();
    return { name, custom, value, pos: posOf(start), valuePos: posOf(valueTok) };
  }

  #constant(): Constant {
    const t = this.#peek;
    if (t.kind === "string") return { kind: "string", value: this.#string("a value") };
    if (this.#is("{")) {
      this.#skipAggregate();
      return { kind: "aggregate" };
    }
    let sign = "";
    if (this.#is("-") || this.#is("+")) sign = this.#next().text;
    const v = this.#peek;
    if (v.kind === "int") {
      this.#next();
      const n = parseIntLiteral(v.text);
      return { kind: "int", value: sign === "-" ? -n : n };
    }
    if (v.kind === "float") {
      this.#next();
      const f = parseFloat(v.text.replace(/[fF]$/, ""));
      return { kind: "float", value: sign === "-" ? -f : f };
    }
    if (v.kind === "ident") {
      this.#next();
      if (sign && (v.text === "inf" || v.text === "nan")) {
        return { kind: "float", value: v.text === "nan" ? NaN : sign === "-" ? -Infinity : Infinity };
      }
      if (sign) fail(posOf(v), `expected a number after '${sign}', found ${describe(v)}`);
      return { kind: "ident", value: v.text };
    }
    fail(posOf(v), `expected a value, found ${describe(v)}`);
  }

  /** Skips a text-format aggregate value `{ ... }`; custom options are not interpreted. */
  #skipAggregate(): void {
    const open = this.#expect("{");
    let depth = 1;
    while (depth > 0) {
      const t = this.#next();
      if (t.kind === "eof") fail(posOf(open), "unterminated '{' in an option value");
      if (t.kind === "symbol" && (t.text === "{" || t.text === "<")) depth++;
      if (t.kind === "symbol" && (t.text === "}" || t.text === ">")) depth--;
    }
  }

  /** `[a = 1, b = 2]`, or nothing. */
  #fieldOptions(): OptionNode[] {
    const options: OptionNode[] = [];
    if (!this.#accept("[")) return options;
    do {
      const t = this.#peek;
      if (this.#is("default")) fail(posOf(t), `'default' is proto2; ${PROTO3_ONLY}`);
      options.push(this.#option());
    } while (this.#accept(","));
    this.#expect("]");
    return options;
  }

  #reserved(into: ReservedNode, max: number): void {
    this.#expect("reserved");
    if (this.#peek.kind === "string") {
      do {
        const t = this.#peek;
        const name = this.#string("a field name");
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(posOf(t), `reserved name '${name}' is not an identifier`);
        into.names.push({ name, pos: posOf(t) });
      } while (this.#accept(","));
    } else if (this.#peek.kind === "ident" && !this.#is("max")) {
      const t = this.#peek;
      fail(posOf(t), `expected a number or a string after 'reserved', found ${describe(t)}`);
    } else {
      do {
        const start = this.#int("a number");
        let end = start.value;
        if (this.#accept("to")) {
          if (this.#accept("max")) end = BigInt(max);
          else end = this.#int("a number").value;
        }
        if (end < start.value) fail(start.pos, "reserved range end is before its start");
        into.ranges.push({ start: Number(start.value), end: Number(end), pos: start.pos });
      } while (this.#accept(","));
    }
    this.#expect(";");
  }

  #message(): MessageNode {
    const t = this.#expect("message");
    const name = this.#ident("a message name");
    const message: MessageNode = {
      kind: "message",
      name: name.text,
      fields: [],
      oneofs: [],
      messages: [],
      enums: [],
      options: [],
      reserved: { ranges: [], names: [] },
      mapEntry: false,
      pos: posOf(t),
    };
    this.#expect("{");
    const optionals: FieldNode[] = [];
    while (!this.#accept("}")) {
      const s = this.#peek;
      if (s.kind === "eof") fail(posOf(s), `expected '}' to close message '${name.text}', found end of file`);
      if (this.#accept(";")) continue;
      if (this.#is("message")) message.messages.push(this.#message());
      else if (this.#is("enum")) message.enums.push(this.#enum());
      else if (this.#is("option")) message.options.push(this.#optionStatement());
      else if (this.#is("reserved")) this.#reserved(message.reserved, MAX_FIELD_NUMBER);
      else if (this.#is("extensions")) fail(posOf(s), `'extensions' is proto2; ${PROTO3_ONLY}`);
      else if (this.#is("extend")) fail(posOf(s), "'extend' is not supported");
      else if (this.#is("oneof")) this.#oneof(message);
      else {
        const field = this.#field(message, undefined);
        if (field.label === "optional") optionals.push(field);
      }
    }
    // protoc adds a synthetic oneof per proto3 optional field, after the real ones.
    for (const field of optionals) {
      let oneofName = "_" + field.name;
      const taken = (n: string) => message.oneofs.some((o) => o.name === n) || message.fields.some((f) => f.name === n);
      while (taken(oneofName)) oneofName = "X" + oneofName;
      field.oneofIndex = message.oneofs.length;
      message.oneofs.push({ name: oneofName, synthetic: true, options: [], pos: field.pos });
    }
    return message;
  }

  #oneof(message: MessageNode): void {
    const t = this.#expect("oneof");
    const name = this.#ident("a oneof name").text;
    const index = message.oneofs.length;
    const options: OptionNode[] = [];
    message.oneofs.push({ name, synthetic: false, options, pos: posOf(t) });
    this.#expect("{");
    let count = 0;
    while (!this.#accept("}")) {
      const s = this.#peek;
      if (this.#accept(";")) continue;
      if (this.#is("option")) options.push(this.#optionStatement());
      else if (s.kind === "eof") fail(posOf(s), `expected '}' to close oneof '${name}', found end of file`);
      else {
        if (this.#is("repeated") || this.#is("optional") || this.#is("required")) {
          fail(posOf(s), `a field of a oneof cannot be '${s.text}'`);
        }
        if (this.#is("map")) fail(posOf(s), "a field of a oneof cannot be a map");
        this.#field(message, index);
        count++;
      }
    }
    if (count === 0) fail(posOf(t), `oneof '${name}' has no fields`);
  }

  #field(message: MessageNode, oneofIndex: number | undefined): FieldNode {
    const start = this.#peek;
    let label: FieldNode["label"] = "";
    if (this.#is("required")) fail(posOf(start), `'required' is proto2; ${PROTO3_ONLY}`);
    if (this.#is("optional") || this.#is("repeated")) {
      // `optional.Foo x = 1;` would be a type named `optional`; rare enough to ignore.
      label = this.#next().text as FieldNode["label"];
    }
    const typeTok = this.#peek;
    if (this.#is("group")) fail(posOf(typeTok), `'group' is proto2; ${PROTO3_ONLY}`);
    let type: string;
    let map: FieldNode["map"];
    if (this.#is("map") && this.#is("<", 1)) {
      if (label) fail(posOf(start), `a map field cannot be '${label}'`);
      this.#next();
      this.#expect("<");
      const keyTok = this.#peek;
      const key = this.#fullIdent("a map key type", true);
      if (!MAP_KEYS.has(key)) fail(posOf(keyTok), `'${key}' cannot be a map key type`);
      this.#expect(",");
      const valueTok = this.#peek;
      const value = this.#fullIdent("a map value type", true);
      this.#expect(">");
      map = { key, value, valuePos: posOf(valueTok) };
      type = "";
    } else {
      type = this.#fullIdent("a field type", true);
    }
    const name = this.#ident("a field name").text;
    this.#expect("=");
    const numberTok = this.#peek;
    const number = this.#int("a field number");
    if (number.value < 1n || number.value > BigInt(MAX_FIELD_NUMBER)) {
      fail(posOf(numberTok), `field number ${number.value} is out of range (1 to ${MAX_FIELD_NUMBER})`);
    }
    if (number.value >= 19000n && number.value <= 19999n) {
      fail(
        posOf(numberTok),
        `field number ${number.value} is reserved for the protobuf implementation (19000 to 19999)`,
      );
    }
    const options = this.#fieldOptions();
    if (this.#is("{")) fail(posOf(this.#peek), `'group' is proto2; ${PROTO3_ONLY}`);
    this.#expect(";");
    if (map) {
      const entryName = mapEntryName(name);
      const kv = (n: string, no: number, t: string, pos: Pos): FieldNode => ({
        name: n,
        number: no,
        label: "",
        type: t,
        options: [],
        pos,
        typePos: pos,
        numberPos: pos,
      });
      message.messages.push({
        kind: "message",
        name: entryName,
        fields: [kv("key", 1, map.key, posOf(typeTok)), kv("value", 2, map.value, map.valuePos)],
        oneofs: [],
        messages: [],
        enums: [],
        options: [],
        reserved: { ranges: [], names: [] },
        mapEntry: true,
        pos: posOf(typeTok),
      });
      type = entryName;
      label = "repeated";
    }
    const field: FieldNode = {
      name,
      number: Number(number.value),
      label,
      type,
      options,
      oneofIndex,
      map,
      pos: posOf(start),
      typePos: posOf(typeTok),
      numberPos: posOf(numberTok),
    };
    message.fields.push(field);
    return field;
  }

  #enum(): EnumNode {
    const t = this.#expect("enum");
    const name = this.#ident("an enum name").text;
    const node: EnumNode = {
      kind: "enum",
      name,
      values: [],
      options: [],
      reserved: { ranges: [], names: [] },
      pos: posOf(t),
    };
    this.#expect("{");
    while (!this.#accept("}")) {
      const s = this.#peek;
      if (s.kind === "eof") fail(posOf(s), `expected '}' to close enum '${name}', found end of file`);
      if (this.#accept(";")) continue;
      if (this.#is("option")) node.options.push(this.#optionStatement());
      else if (this.#is("reserved") && !this.#is("=", 1)) this.#reserved(node.reserved, 2147483647);
      else {
        const valueName = this.#ident("an enum value name").text;
        this.#expect("=");
        const number = this.#int("an enum value number");
        if (number.value < -2147483648n || number.value > 2147483647n) {
          fail(number.pos, `enum value ${number.value} is out of the int32 range`);
        }
        const options = this.#fieldOptions();
        this.#expect(";");
        node.values.push({ name: valueName, number: Number(number.value), options, pos: posOf(s) });
      }
    }
    if (node.values.length === 0) fail(posOf(t), `enum '${name}' has no values`);
    return node;
  }

  #service(): ServiceNode {
    const t = this.#expect("service");
    const name = this.#ident("a service name").text;
    const service: ServiceNode = { name, methods: [], options: [], pos: posOf(t) };
    this.#expect("{");
    while (!this.#accept("}")) {
      const s = this.#peek;
      if (s.kind === "eof") fail(posOf(s), `expected '}' to close service '${name}', found end of file`);
      if (this.#accept(";")) continue;
      if (this.#is("option")) service.options.push(this.#optionStatement());
      else if (this.#is("rpc")) service.methods.push(this.#rpc());
      else fail(posOf(s), `expected 'rpc' or 'option', found ${describe(s)}`);
    }
    return service;
  }

  #rpc(): MethodNode {
    const t = this.#expect("rpc");
    const name = this.#ident("an RPC name").text;
    const side = () => {
      this.#expect("(");
      // As in protoc, `stream` is the keyword unless it is the whole type name.
      const streaming = this.#is("stream") && !this.#is(")", 1);
      if (streaming) this.#next();
      const pos = posOf(this.#peek);
      const type = this.#fullIdent("a message type", true);
      this.#expect(")");
      return { streaming, type, pos };
    };
    const input = side();
    this.#expect("returns");
    const output = side();
    const options: OptionNode[] = [];
    const hasBody = this.#is("{");
    if (this.#accept("{")) {
      while (!this.#accept("}")) {
        const s = this.#peek;
        if (s.kind === "eof") fail(posOf(s), `expected '}' to close rpc '${name}', found end of file`);
        if (this.#accept(";")) continue;
        if (this.#is("option")) options.push(this.#optionStatement());
        else fail(posOf(s), `expected 'option' or '}', found ${describe(s)}`);
      }
      this.#accept(";");
    } else {
      this.#expect(";");
    }
    return {
      name,
      input: input.type,
      output: output.type,
      clientStreaming: input.streaming,
      serverStreaming: output.streaming,
      options,
      hasBody,
      pos: posOf(t),
      inputPos: input.pos,
      outputPos: output.pos,
    };
  }
}

/** The value of a decimal, hex or octal integer literal. */
function parseIntLiteral(text: string): bigint {
  if (/^0[xX]/.test(text)) return BigInt(text);
  if (text.length > 1 && text[0] === "0") return BigInt("0o" + text.slice(1));
  return BigInt(text);
}

export { SyntaxErrorAt };
