/**
 * Object handles in replies and event bodies, for the `object` of audit records that
 * src/audit/decoder_object.ts's `objectOf` does not cover: whether a procedure's args or reply can
 * name the object (so that a `metadata` record decodes a body only then), and the handle an event
 * carries (callback events nest it: `{callbackID, msg: {dom, ...}}`). Found from the schema once
 * per type, then cached.
 *
 * @module
 */

import type { ActedOn } from "./decoder_object.ts";
import { procedureSchema, SCHEMA_TYPES } from "./schema.ts";

/** Handle types and the kind of object each names (as src/audit/decoder_object.ts has them). */
const HANDLE_KINDS: Readonly<Record<string, string>> = {
  remote_nonnull_domain: "domain",
  remote_nonnull_domain_checkpoint: "domain_checkpoint",
  remote_nonnull_domain_snapshot: "domain_snapshot",
  remote_nonnull_interface: "interface",
  remote_nonnull_network: "network",
  remote_nonnull_network_port: "network_port",
  remote_nonnull_node_device: "node_device",
  remote_nonnull_nwfilter: "nwfilter",
  remote_nonnull_nwfilter_binding: "nwfilter_binding",
  remote_nonnull_secret: "secret",
  remote_nonnull_storage_pool: "storage_pool",
  remote_nonnull_storage_vol: "storage_vol",
  admin_nonnull_server: "server",
  admin_nonnull_client: "client",
};

/** Where a handle sits in a body: its field path and kind; null when the body holds none. */
type Slot = { path: readonly string[]; kind: string } | null;

const slots = new Map<string, Slot>();

/** The first handle field of struct `typeName`, looking `depth` structs deep. */
function slotOf(typeName: string | null, depth: number): Slot {
  if (typeName === null) return null;
  const cacheKey = `${typeName}/${depth}`;
  let slot = slots.get(cacheKey);
  if (slot !== undefined) return slot;
  slot = null;
  const type = SCHEMA_TYPES.get(typeName);
  if (type !== undefined && typeof type !== "string" && type[0] === "struct") {
    const fields = Object.entries(type[1]);
    for (const [field, fieldType] of fields) {
      if (typeof fieldType === "string" && HANDLE_KINDS[fieldType]) {
        slot = { path: [field], kind: HANDLE_KINDS[fieldType] };
        break;
      }
    }
    if (slot === null && depth > 0) {
      for (const [field, fieldType] of fields) {
        if (typeof fieldType !== "string") continue;
        const inner = slotOf(fieldType, depth - 1);
        if (inner !== null) {
          slot = { path: [field, ...inner.path], kind: inner.kind };
          break;
        }
      }
    }
  }
  slots.set(cacheKey, slot);
  return slot;
}

function pick(slot: Slot, body: unknown): ActedOn | undefined {
  if (slot === null) return undefined;
  let value = body;
  for (const field of slot.path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[field];
  }
  if (value === null || typeof value !== "object") return undefined;
  return { kind: slot.kind, ...(value as Record<string, unknown>) };
}

/** Whether the reply of `procedure` in `program` carries an object handle at its top level. */
export function replyNamesObject(program: number, procedure: number): boolean {
  const schema = procedureSchema(program, procedure);
  return schema !== undefined && slotOf(schema[2], 0) !== null;
}

/** Whether the args of `procedure` in `program` carry an object handle at their top level. */
export function argsNameObject(program: number, procedure: number): boolean {
  const schema = procedureSchema(program, procedure);
  return schema !== undefined && slotOf(schema[1], 0) !== null;
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
  return schema === undefined ? undefined : pick(slotOf(schema[3], 1), msg);
}
