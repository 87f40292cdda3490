/**
 * The one error of the generator: a place in a `.proto` file and what is
 * wrong there.
 *
 * @module
 */

/**
 * An invalid or unsupported `.proto`, or a missing import. Its message is one
 * line, `file.proto:LINE:COL: what is wrong`.
 */
export class GenerateError extends Error {
  /** The file, as given on the command line or resolved from an import. */
  readonly file: string;
  /** The 1-based line. */
  readonly line: number;
  /** The 1-based column. */
  readonly column: number;
  /** What is wrong, without the place. */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param file The file.
   * @param line The 1-based line.
   * @param column The 1-based column.
   * @param reason What is wrong.
   */
  constructor(file: string, line: number, column: number, reason: string) {
    super(`${file}:${line}:${column}: ${reason}`);
    this.name = "GenerateError";
    this.file = file;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}
