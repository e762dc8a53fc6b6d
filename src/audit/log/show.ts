/**
 * `virtmux audit show`: one readable line per record, for the admin who asks "who destroyed
 * hv7's vm-12": `TIME user@pid listener -> upstream PROCEDURE(object) = result latency`.
 * Every field is optional; what a record lacks is left out.
 *
 * @module
 */

import type { ChainRecord } from "./record_line.ts";
import { DROPPED_KIND, SEAL_KIND, TORN_LINE_KIND } from "./record_line.ts";

/** The readable line of one record. */
export function formatRecord(record: ChainRecord): string {
  const parts: string[] = [text(record.time) ?? "-"];
  switch (record.kind) {
    case SEAL_KIND:
      parts.push(`seal epoch ${record.epoch} (${text(record.reason) ?? "?"})`);
      return withSeq(record, parts);
    case DROPPED_KIND:
      parts.push(`${record.count} records dropped (backpressure)`);
      return withSeq(record, parts);
    case TORN_LINE_KIND:
      parts.push(`line before torn by a crash (${record.bytes} bytes)`);
      return withSeq(record, parts);
  }
  parts.push(who(record));
  const listener = text(record.listener);
  const upstream = text(record.upstream);
  if (listener !== undefined || upstream !== undefined) {
    parts.push(`${listener ?? "?"} -> ${upstream ?? "?"}`);
  }
  const procedure = text(record.procedure);
  const kind = text(record.kind);
  const object = objectName(record.object);
  let action = procedure ?? kind ?? "?";
  if (object !== undefined) action += `(${object})`;
  else if (procedure !== undefined) action += "()";
  if (procedure !== undefined && kind !== undefined && kind !== "call") {
    action = `${kind} ${action}`;
  }
  const outcome = result(record);
  parts.push(outcome === undefined ? action : `${action} = ${outcome}`);
  const latency = latencyText(record);
  if (latency !== undefined) parts.push(latency);
  return withSeq(record, parts);
}

function withSeq(record: ChainRecord, parts: string[]): string {
  return `#${record.seq} ${parts.join("  ")}`;
}

/** `user@pid`, from `identity` or flat fields. */
function who(record: ChainRecord): string {
  const identity = isObject(record.identity) ? record.identity : record;
  const user = text(identity.user) ?? text(identity.user_name) ?? text(identity.username) ??
    (identity.uid !== undefined ? `uid ${identity.uid}` : undefined);
  const pid = identity.pid !== undefined ? String(identity.pid) : undefined;
  const ssh = text(identity.ssh_connection);
  let name = user === undefined ? (pid === undefined ? "?" : `?@${pid}`) : user;
  if (user !== undefined && pid !== undefined) name += `@${pid}`;
  if (ssh !== undefined) name += ` [ssh ${ssh.split(" ")[0]}]`;
  const client = text(record.client) ??
    (typeof record.client === "number" ? String(record.client) : undefined);
  return client === undefined ? name : `${name} (client ${client})`;
}

function objectName(object: unknown): string | undefined {
  if (object === undefined || object === null) return undefined;
  if (typeof object !== "object") return String(object);
  const fields = object as Record<string, unknown>;
  const name = text(fields.name) ?? text(fields.uuid);
  if (name === undefined) return undefined;
  const type = text(fields.type);
  return type === undefined ? name : `${type} ${name}`;
}

function result(record: ChainRecord): string | undefined {
  const error = record.error;
  if (error !== undefined && error !== null) {
    if (isObject(error)) {
      const message = text(error.message) ?? text(error.text);
      const code = error.code !== undefined ? ` ${error.code}` : "";
      return `error${code}${message === undefined ? "" : `: ${message}`}`;
    }
    return `error: ${String(error)}`;
  }
  if (record.decode_error !== undefined) return `decode error`;
  return text(record.status) ?? text(record.result) ?? text(record.reason);
}

function latencyText(record: ChainRecord): string | undefined {
  if (typeof record.latency_ms === "number") return `${record.latency_ms} ms`;
  if (typeof record.latency_us === "number") return `${(record.latency_us / 1000).toFixed(3)} ms`;
  if (typeof record.latency === "number") return `${record.latency} ms`;
  return text(record.latency);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
