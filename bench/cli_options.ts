/**
 * The bench's command line: `deno task bench [--quick] [--only ID,ID]`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { errorMessage } from "../src/log/error_message.ts";
import { taskArgs } from "../tools/task_args.ts";
import { RUN_ORDER } from "./plan.ts";

const USAGE = `Usage: deno task bench [--quick] [--only ID,ID]

Runs the benchmark figures (about 17 minutes; --quick about 2) and writes BENCHMARKS.md and
BENCHMARKS.json. Figure ids for --only, in the order a full run takes them:
  ${RUN_ORDER.join(", ")}
With --only, the figures not run are kept from the previous BENCHMARKS.json (its machine block
too, plus a line saying which figures were re-run when), and BENCHMARKS.md is rendered again from
the merged report.`;

/** The bench's command-line options. */
export interface BenchOptions {
  /** `--quick`: fewer and shorter samples. */
  quick: boolean;
  /** `--only ID,ID`: the figure ids to run, as given. */
  only?: string;
}

/** The command line: the options, or undefined after printing help; exits 2 on a usage error. */
export function benchOptions(): BenchOptions | undefined {
  try {
    const { values } = parseArgs({
      args: taskArgs(Deno.args),
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    const unknown = (values.only ?? "").split(",").filter((id) => id && !RUN_ORDER.includes(id));
    if (unknown.length > 0) {
      throw new Error(`--only: unknown figure id ${unknown.map((id) => `"${id}"`).join(", ")}`);
    }
    if (!values.help) return values;
    console.log(USAGE);
    return undefined;
  } catch (error) {
    console.error(`bench: ${errorMessage(error)}\n\n${USAGE}`);
    Deno.exit(2);
  }
}
