/**
 * `virtmux audit init-key | verify | show`: the operator's side of the audit log.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { keyId } from "../audit/log/chain.ts";
import {
  formatInitialKey,
  formatKeyState,
  newInitialKey,
  readInitialKey,
  readKeyState,
  writeNewKeyFile,
} from "../audit/log/key_file.ts";
import { collectLogFiles, splitLines } from "../audit/log/log_reader.ts";
import { formatRecord } from "../audit/log/show.ts";
import { verifyLog } from "../audit/log/verify.ts";
import { formatVerifyResult, verifyExitCode } from "../audit/log/verify_report.ts";
import {
  AUDIT_INIT_KEY_USAGE,
  AUDIT_SHOW_USAGE,
  AUDIT_USAGE,
  AUDIT_VERIFY_USAGE,
} from "./usage.ts";

/** Where the audit commands write their output. */
export interface AuditOutput {
  /** Writes a line to stdout. */
  print: (line: string) => void;
  /** Writes a line to stderr. */
  error: (line: string) => void;
}

/** Runs `virtmux audit ARGS`; resolves to the exit status. */
export async function runAudit(args: string[], out: AuditOutput): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "init-key":
      return await initKey(rest, out);
    case "verify":
      return await verify(rest, out);
    case "show":
      return await show(rest, out);
    case undefined:
      out.error(AUDIT_USAGE);
      return 2;
    case "help":
    case "--help":
    case "-h":
      out.print(AUDIT_USAGE);
      return 0;
    default:
      out.error(`virtmux: unknown audit command "${command}"\n\n${AUDIT_USAGE}`);
      return 2;
  }
}

async function initKey(args: string[], out: AuditOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      out: { type: "string", short: "o" },
      state: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) return usage(out, AUDIT_INIT_KEY_USAGE, 0);
  if (values.out === undefined || positionals.length > 0) {
    return usage(out, AUDIT_INIT_KEY_USAGE, 2, "init-key needs --out FILE and no arguments");
  }
  const key = newInitialKey();
  await writeNewKeyFile(values.out, formatInitialKey(key));
  out.print(`wrote initial key "${values.out}" (key id ${keyId(key)})`);
  if (values.state !== undefined) {
    await writeNewKeyFile(values.state, formatKeyState({ keyId: keyId(key), epoch: 0, key }));
    out.print(`wrote key state "${values.state}" (epoch 0) for the writer`);
  }
  out.print(
    `keep "${values.out}" off this host: "virtmux audit verify --key" needs it, and anyone ` +
      `holding it can re-seal the log`,
  );
  key.fill(0);
  return 0;
}

async function verify(args: string[], out: AuditOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      key: { type: "string", short: "k" },
      state: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) return usage(out, AUDIT_VERIFY_USAGE, 0);
  if (positionals.length === 0) {
    return usage(out, AUDIT_VERIFY_USAGE, 2, "verify needs a FILE or DIR");
  }
  if (values.state !== undefined && values.key === undefined) {
    return usage(out, AUDIT_VERIFY_USAGE, 2, "--state needs --key");
  }
  const initialKey = values.key === undefined ? undefined : await readInitialKey(values.key);
  const keyState = values.state === undefined ? undefined : await readKeyState(values.state);
  const result = await verifyLog(positionals, { initialKey, keyState });
  for (const line of formatVerifyResult(result)) out.print(line);
  return verifyExitCode(result);
}

async function show(args: string[], out: AuditOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (values.help) return usage(out, AUDIT_SHOW_USAGE, 0);
  if (positionals.length === 0) return usage(out, AUDIT_SHOW_USAGE, 2, "show needs a FILE");
  const { files } = await collectLogFiles(positionals);
  for (const path of files) {
    for (const line of splitLines(path, await Deno.readFile(path))) {
      out.print(
        line.record === undefined
          ? `${path}:${line.line}: (not an audit record, ${line.bytes} bytes)`
          : formatRecord(line.record),
      );
    }
  }
  return 0;
}

function usage(out: AuditOutput, text: string, code: number, problem?: string): number {
  if (problem === undefined) out.print(text);
  else out.error(`virtmux: ${problem}\n\n${text}`);
  return code;
}
