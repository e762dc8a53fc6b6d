/**
 * Object handles in replies and event bodies, for the `object` of audit records that
 * src/audit/decoder_object.ts's `objectOf` does not cover: whether a procedure's args or reply can
 * name the object (so that a `metadata` record decodes a body only then), and the handle an event
 * carries (callback events nest it: `{callbackID, msg: {dom, ...}}`).
 *
 * @module
 */

import { type ActedOn, handleSlot, pickHandle } from "./decoder_object.ts";
import { procedureSchema } from "./schema.ts";

/** Whether the reply of `procedure` in `program` carries an object handle at its top level. */
export function replyNamesObject(program: number, procedure: number): boolean {
  const schema = procedureSchema(program, procedure);
  return schema !== undefined && handleSlot(schema[2]) !== null;
}

/** Whether the args of `procedure` in `program` carry an object handle at their top level. */
export function argsNameObject(program: number, procedure: number): boolean {
  const schema = procedureSchema(program, procedure);
  return schema !== undefined && handleSlot(schema[1]) !== null;
}

/**
 * The object an event's body names: its first handle field, or the first of the struct it
 * nests (callback events).
 *
 * @param program The program number.
 * @param procedure The event's procedure number.
 * @param msg The decoded body (`DecodedMessage.msg`).
 */
export function eventObject(program: number, procedure: number, msg: unknown): ActedOn | undefined {
  const schema = procedureSchema(program, procedure);
  return schema === undefined ? undefined : pickHandle(handleSlot(schema[3], 1), msg);
}
