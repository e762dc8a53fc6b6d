/**
 * A mistake in a config file and the error that carries all of them, formatted
 * `FILE:LINE:COL: message`.
 *
 * @module
 */

/** One mistake in a config file. */
export interface ConfigProblem {
  /** The file, as given. */
  file: string;
  /** 1-based line; 0 when the problem concerns the whole file (it cannot be read). */
  line: number;
  /** 1-based column; 0 with line 0. */
  column: number;
  /** What is wrong, in lower case after the position, with values quoted. */
  message: string;
}

/** A config that cannot be used; `message` is one `FILE:LINE:COL: message` line per problem. */
export class ConfigError extends Error {
  /** Every problem found, in file order. */
  readonly problems: readonly ConfigProblem[];

  /** @param problems At least one problem. */
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Formats a problem as `FILE:LINE:COL: message` (`FILE: message` when it has no position). */
export function formatProblem(problem: ConfigProblem): string {
  return problem.line > 0
    ? `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`
    : `${problem.file}: ${problem.message}`;
}
