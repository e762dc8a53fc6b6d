/**
 * User and group names to numeric ids, from /etc/passwd and /etc/group (the files, not NSS: a
 * proxy dropped onto a bastion should not depend on a directory service being up).
 *
 * @module
 */

/** Where a name is looked up: users or groups. */
export type AccountDatabase = "passwd" | "group";

/**
 * The numeric id of user or group `name` (a decimal string is taken as the id itself), or
 * undefined when the database has no such name.
 */
export function accountId(database: AccountDatabase, name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  let text = "";
  try {
    text = Deno.readTextFileSync(`/etc/${database}`);
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const [entry, , id] = line.split(":");
    if (entry === name && id !== undefined && /^\d+$/.test(id)) return Number(id);
  }
  return undefined;
}
