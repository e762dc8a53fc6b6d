/**
 * Who a client is, as an audit record says it: the proxy's {@linkcode ClientIdentity} (SO_PEERCRED
 * uid, gid and pid of a unix client) with the user and group names, looked up in /etc/passwd and
 * /etc/group as src/transport/accounts.ts does (files, not NSS) and cached for a minute; in stdio
 * mode the process's own user, its parent (the client that ran it, for libvirt's ext transport)
 * and `SSH_CONNECTION` when set.
 *
 * @module
 */

import type { ClientIdentity } from "../proxy/observer.ts";

/** How long a looked-up name is trusted. */
const NAME_TTL_MS = 60_000;

const cache = new Map<string, { name: string | undefined; until: number }>();

/** The name of user or group `id` from /etc/passwd or /etc/group, cached; undefined if none. */
export function accountName(database: "passwd" | "group", id: number): string | undefined {
  const key = `${database}:${id}`;
  const now = Date.now();
  const hit = cache.get(key);
  if (hit !== undefined && hit.until > now) return hit.name;
  let name: string | undefined;
  try {
    for (const line of Deno.readTextFileSync(`/etc/${database}`).split("\n")) {
      const fields = line.split(":");
      if (fields.length > 2 && fields[2] === String(id)) {
        name = fields[0];
        break;
      }
    }
  } catch {
    name = undefined;
  }
  cache.set(key, { name, until: now + NAME_TTL_MS });
  return name;
}

/** The `identity` object of a record. */
export interface IdentityRecord {
  /** User id. */
  uid?: number;
  /** Its name. */
  user?: string;
  /** Primary group id. */
  gid?: number;
  /** Its name. */
  group?: string;
  /** Process id (in stdio mode: the parent, the client that started virtmux). */
  pid?: number;
  /** A network client's address. */
  address?: string;
  /** In stdio mode under sshd: `SSH_CONNECTION` (client address and port, server address and port). */
  ssh_connection?: string;
  /** A TLS client's certificate DN. */
  certificate_dn?: string;
}

/** The identity part of records for `client`, with names resolved. */
export function identityRecord(client: ClientIdentity): IdentityRecord {
  const identity: IdentityRecord = {};
  if (client.uid !== undefined) {
    identity.uid = client.uid;
    const user = accountName("passwd", client.uid);
    if (user !== undefined) identity.user = user;
  }
  if (client.gid !== undefined) {
    identity.gid = client.gid;
    const group = accountName("group", client.gid);
    if (group !== undefined) identity.group = group;
  }
  if (client.pid !== undefined) identity.pid = client.pid;
  if (client.address !== undefined) {
    if (client.listener === "stdio") identity.ssh_connection = client.address;
    else identity.address = client.address;
  }
  if (client.certificateDn !== undefined) identity.certificate_dn = client.certificateDn;
  return identity;
}

/**
 * The identity of a stdio client: this process's user and group, its parent's pid, and
 * `SSH_CONNECTION` when sshd started it.
 */
export function stdioIdentity(): ClientIdentity {
  const identity: ClientIdentity = { listener: "stdio", client: `stdio-${Deno.pid}` };
  const uid = Deno.uid();
  const gid = Deno.gid();
  if (uid !== null) identity.uid = uid;
  if (gid !== null) identity.gid = gid;
  identity.pid = Deno.ppid;
  const ssh = Deno.env.get("SSH_CONNECTION");
  if (ssh !== undefined && ssh !== "") identity.address = ssh;
  return identity;
}
