/**
 * The tokenizer of the `.proto` generator: identifiers, numbers, strings and
 * symbols, each with the line and column where it starts. Comments and
 * whitespace are skipped.
 *
 * @module
 */

/** What kind of token it is. */
export type TokenKind = "ident" | "int" | "float" | "string" | "symbol" | "eof";

/** One token, with its 1-based line and column. */
export interface Token {
  readonly kind: TokenKind;
  /** The source text (for strings: the decoded value). */
  readonly text: string;
  readonly line: number;
  readonly col: number;
}

/** A syntax error at a place in the source, before the file name is known. */
export class SyntaxErrorAt extends Error {
  /**
   * @param line 1-based line.
   * @param col 1-based column.
   * @param message What is wrong.
   */
  constructor(readonly line: number, readonly col: number, message: string) {
    super(message);
    this.name = "SyntaxErrorAt";
  }
}

const SYMBOLS = "{}[]()<>;,=.-+:/";
const SIMPLE_ESCAPES: Record<string, number> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  "\\": 92,
  "'": 39,
  '"': 34,
  "?": 63,
};

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function isIdentStart(c: string | undefined): boolean {
  return c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_");
}

function isIdentPart(c: string | undefined): boolean {
  return isIdentStart(c) || isDigit(c);
}

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

/**
 * The tokens of a `.proto` source, ending with one `eof` token.
 *
 * @param source The file's text.
 * @returns Its tokens.
 * @throws {SyntaxErrorAt} On an unterminated string or comment, or a character that starts no token.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = source.length;
  const advance = () => {
    if (source[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
    i++;
  };
  while (i < n) {
    const c = source[i]!;
    if (c === "\n" || c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      advance();
      continue;
    }
    const col = i - lineStart + 1;
    const startLine = line;
    if (c === "/" && source[i + 1] === "/") {
      while (i < n && source[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && source[i + 1] === "*") {
      i += 2;
      while (i < n && !(source[i] === "*" && source[i + 1] === "/")) advance();
      if (i >= n) throw new SyntaxErrorAt(startLine, col, "unterminated comment");
      i += 2;
      continue;
    }
    if (isIdentStart(c)) {
      const start = i;
      while (isIdentPart(source[i])) i++;
      tokens.push({ kind: "ident", text: source.slice(start, i), line, col });
      continue;
    }
    if (isDigit(c) || (c === "." && isDigit(source[i + 1]))) {
      const start = i;
      let kind: TokenKind = "int";
      if (c === "0" && (source[i + 1] === "x" || source[i + 1] === "X")) {
        i += 2;
        if (!isHex(source[i])) throw new SyntaxErrorAt(line, col, "expected hex digits after '0x'");
        while (isHex(source[i])) i++;
      } else {
        while (isDigit(source[i])) i++;
        if (source[i] === ".") {
          kind = "float";
          i++;
          while (isDigit(source[i])) i++;
        }
        if (source[i] === "e" || source[i] === "E") {
          kind = "float";
          i++;
          if (source[i] === "+" || source[i] === "-") i++;
          if (!isDigit(source[i])) throw new SyntaxErrorAt(line, col, "expected digits in exponent");
          while (isDigit(source[i])) i++;
        }
        if (source[i] === "f" || source[i] === "F") {
          kind = "float";
          i++;
        }
      }
      if (isIdentPart(source[i])) throw new SyntaxErrorAt(line, col, "expected a space after the number");
      tokens.push({ kind, text: source.slice(start, i), line, col });
      continue;
    }
    if (c === '"' || c === "'") {
      tokens.push({ kind: "string", text: readString(), line: startLine, col });
      continue;
    }
    if (SYMBOLS.includes(c)) {
      tokens.push({ kind: "symbol", text: c, line, col });
      i++;
      continue;
    }
    throw new SyntaxErrorAt(line, col, `unexpected character '${c}'`);
  }
  tokens.push({ kind: "eof", text: "", line, col: i - lineStart + 1 });
  return tokens;

  function readString(): string {
    const quote = source[i]!;
    const col = i - lineStart + 1;
    i++;
    const bytes: number[] = [];
    const encoder = new TextEncoder();
    while (true) {
      const c = source[i];
      if (c === undefined || c === "\n") throw new SyntaxErrorAt(line, col, "unterminated string");
      if (c === quote) {
        i++;
        break;
      }
      if (c !== "\\") {
        const cp = source.codePointAt(i)!;
        const s = String.fromCodePoint(cp);
        bytes.push(...encoder.encode(s));
        i += s.length;
        continue;
      }
      const e = source[i + 1];
      const escCol = i - lineStart + 1;
      i += 2;
      if (e !== undefined && e in SIMPLE_ESCAPES) {
        bytes.push(SIMPLE_ESCAPES[e]!);
      } else if (e === "x" || e === "X") {
        let hex = "";
        while (hex.length < 2 && isHex(source[i])) hex += source[i++];
        if (!hex) throw new SyntaxErrorAt(line, escCol, "expected hex digits after '\\x'");
        bytes.push(parseInt(hex, 16));
      } else if (e !== undefined && e >= "0" && e <= "7") {
        let oct = e;
        while (oct.length < 3 && source[i]! >= "0" && source[i]! <= "7") oct += source[i++];
        bytes.push(parseInt(oct, 8) & 0xff);
      } else if (e === "u" || e === "U") {
        const len = e === "u" ? 4 : 8;
        const hex = source.slice(i, i + len);
        if (hex.length !== len || ![...hex].every(isHex)) {
          throw new SyntaxErrorAt(line, escCol, `expected ${len} hex digits after '\\${e}'`);
        }
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) throw new SyntaxErrorAt(line, escCol, "invalid Unicode escape");
        bytes.push(...encoder.encode(String.fromCodePoint(cp)));
        i += len;
      } else {
        throw new SyntaxErrorAt(line, escCol, `invalid escape '\\${e ?? ""}'`);
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  }
}
