/**
 * What an audit record needs to know of a procedure from the header alone, found once per
 * procedure and cached: its names and class, whether it opens a stream, and whether its args or
 * reply name the object acted on. And the one-number key of (program, serial or procedure).
 *
 * @module
 */

import { Program } from "../wire/constants.ts";
import { argsNameObject, replyNamesObject } from "./handles.ts";
import { describeProcedure, SCHEMA_PROGRAMS } from "./schema.ts";

/** Program numbers folded into a small index, so that (program, serial) is one number. */
export function callKey(program: number, serial: number): number {
  const index = program === Program.REMOTE
    ? 0
    : program === Program.QEMU
    ? 1
    : program === Program.LXC
    ? 2
    : program === Program.ADMIN
    ? 3
    : 4;
  return index * 0x100000000 + serial;
}

/** What a record needs to know of a procedure, found once per procedure. */
export interface ProcedureFacts {
  /** The program by name (its number when unknown). */
  program: string | number;
  /** The procedure by name (its number when unknown). */
  procedure: string | number;
  /** `read` or `write`; undefined when unknown. */
  class: string | undefined;
  /** It opens a stream. */
  stream: boolean;
  /** Its args name the object acted on. */
  argsObject: boolean;
  /** Its reply names the object acted on. */
  replyObject: boolean;
}

const facts = new Map<number, ProcedureFacts>();

/** The facts of `procedure` in `program`. */
export function factsOf(program: number, procedure: number): ProcedureFacts {
  const key = callKey(program, procedure >>> 0);
  let found = facts.get(key);
  if (found === undefined) {
    const described = describeProcedure(program, procedure);
    found = {
      program: described?.program ?? SCHEMA_PROGRAMS.get(program)?.name ?? program,
      procedure: described?.procedure ?? procedure,
      class: described?.access,
      stream: described?.stream !== undefined,
      argsObject: argsNameObject(program, procedure),
      replyObject: replyNamesObject(program, procedure),
    };
    facts.set(key, found);
  }
  return found;
}
