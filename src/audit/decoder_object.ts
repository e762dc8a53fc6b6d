/**
 * The object a call acts on, for audit records ("who destroyed hv7's vm-12"): the first top-level
 * field of the call's args whose type is one of libvirt's object handles (`remote_nonnull_domain`,
 * `_network`, `_storage_pool`, ...; ADMIN's server and client), else the same in the reply's ret
 * (lookups by name return the handle). Found from the schema once per procedure, then cached.
 *
 * @example The domain of a DOMAIN_DESTROY call
 * ```ts
 * import assert from "node:assert/strict";
 * import { objectOf } from "./decoder_object.ts";
 *
 * const args = { dom: { name: "vm-12", uuid: "0b8b3f5e-6f2a-4c8e-9d43-5a1b2c3d4e5f", id: 3 } };
 * assert.deepEqual(objectOf(0x20008086, 12, args), {
 *   kind: "domain",
 *   name: "vm-12",
 *   uuid: "0b8b3f5e-6f2a-4c8e-9d43-5a1b2c3d4e5f",
 *   id: 3,
 * });
 * ```
 *
 * @module
 */

import { procedureSchema, SCHEMA_TYPES } from "./schema.ts";

/** Handle types and the kind of object each names. */
export const HANDLE_KINDS: Readonly<Record<string, string>> = {
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

/** An object handle from a call or reply, its fields as decoded plus its kind. */
export interface ActedOn {
  /** `domain`, `network`, `storage_pool`, `storage_vol`, ..., `server`, `client`. */
  kind: string;
  /** The handle's fields (for a domain: name, uuid, id). */
  [field: string]: unknown;
}

/** Where a handle sits in a body: its field path and kind; null when the body holds none. */
export type HandleSlot = { path: readonly string[]; kind: string } | null;

const slots = new Map<string, HandleSlot>();

/**
 * The first handle field of struct `typeName`, looking `depth` structs deep (callback events
 * nest theirs: `{callbackID, msg: {dom, ...}}`). Found from the schema once per type, then cached.
 */
export function handleSlot(typeName: string | null, depth = 0): HandleSlot {
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
        const inner = handleSlot(fieldType, depth - 1);
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

/** The handle at `slot` of a decoded `body`, with its kind; undefined when absent. */
export function pickHandle(slot: HandleSlot, body: unknown): ActedOn | undefined {
  if (slot === null) return undefined;
  let value = body;
  for (const field of slot.path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[field];
  }
  if (value === null || typeof value !== "object") return undefined;
  return { kind: slot.kind, ...(value as Record<string, unknown>) };
}

/**
 * The object handle in a call's args, else in its reply's ret.
 *
 * @param program The program number.
 * @param procedure The procedure number.
 * @param args The decoded args of the call (`DecodedMessage.args`).
 * @param ret The decoded ret of the reply, when there is one.
 * @returns The handle with its kind, or `undefined` when neither body holds one.
 */
export function objectOf(
  program: number,
  procedure: number,
  args: unknown,
  ret?: unknown,
): ActedOn | undefined {
  const schema = procedureSchema(program, procedure);
  if (!schema) return undefined;
  return pickHandle(handleSlot(schema[1]), args) ?? pickHandle(handleSlot(schema[2]), ret);
}
