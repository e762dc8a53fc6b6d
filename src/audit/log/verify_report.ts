/**
 * The text `virtmux audit verify` prints for a {@linkcode VerifyResult}, in the manner of
 * CloudTrail's `validate-logs` summary and `journalctl --verify`.
 *
 * @module
 */

import type { VerifyResult } from "./verify.ts";

/**
 * The report's lines: notes, then a failure line `FILE:LINE: kind: message` if any, then the
 * summary `N/M records valid, S/S seals valid, validated from T1 to T2, final K records not
 * sealed`.
 */
export function formatVerifyResult(result: VerifyResult): string[] {
  const lines: string[] = [];
  for (const skipped of result.skipped) lines.push(`skipped "${skipped.path}": ${skipped.reason}`);
  if (result.files.length === 0) lines.push("no audit records found");
  if (result.files.length > 1) lines.push(`files in chain order: ${result.files.join(" -> ")}`);
  if (result.firstSeq !== undefined && !result.fromGenesis) {
    lines.push(
      `note: the chain starts at seq ${result.firstSeq} (older files were rotated away); its ` +
        `first record is taken as given`,
    );
  }
  for (const torn of result.recoveredTornLines) {
    lines.push(
      `note: ${torn.file}:${torn.line}: a line torn by a crash (${torn.bytes} bytes), ended ` +
        `and recorded by the next writer`,
    );
  }
  const failure = result.failure;
  if (failure !== undefined) {
    lines.push(`${failure.file}:${failure.line}: ${failure.kind}: ${failure.message}`);
  }
  const parts = [`${result.valid}/${result.total} records valid`];
  if (result.sealsChecked) {
    parts.push(`${result.validSeals}/${result.seals} seals valid`);
  } else {
    parts.push(`${result.seals} seals not checked (no --key: hash chain only)`);
  }
  if (result.firstTime !== undefined) {
    parts.push(`validated from ${result.firstTime} to ${result.lastTime ?? result.firstTime}`);
  }
  if (result.unsealed > 0 || result.seals > 0) {
    parts.push(`final ${result.unsealed} record${result.unsealed === 1 ? "" : "s"} not sealed`);
  }
  lines.push(parts.join(", "));
  if (result.tornLastLine !== undefined) {
    const torn = result.tornLastLine;
    lines.push(
      `torn last line: ${torn.file}:${torn.line} (${torn.bytes} bytes, no newline): the writer ` +
        `stopped mid-write (a crash); that record was never complete`,
    );
  }
  if (failure !== undefined) lines.push("FAILED");
  return lines;
}

/** Exit status of `virtmux audit verify`: 0 valid, 1 a failure. */
export function verifyExitCode(result: VerifyResult): number {
  return result.failure === undefined ? 0 : 1;
}
