/**
 * `deno task NAME -- ARGS` passes the `--` on to the script (Deno 2.9), where node:util's
 * parseArgs takes it as the end of options and refuses what follows ("Unexpected argument
 * '--quick'"). The task scripts drop it, so both `deno task bench --quick` and
 * `deno task bench -- --quick` work.
 *
 * @module
 */

/**
 * `args` without a leading `--`.
 *
 * @param args the script's arguments
 */
export function taskArgs(args: readonly string[]): string[] {
  return args[0] === "--" ? args.slice(1) : [...args];
}
