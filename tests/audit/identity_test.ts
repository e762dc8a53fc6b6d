import assert from "node:assert/strict";
import { accountName, identityRecord, stdioIdentity } from "../../src/audit/identity.ts";

Deno.test("names of ids come from /etc/passwd and /etc/group", () => {
  assert.equal(accountName("passwd", 0), "root");
  assert.equal(accountName("group", 0), "root");
  assert.equal(accountName("passwd", 4_000_000_000), undefined);
  assert.equal(accountName("passwd", 0), "root", "cached");
});

Deno.test("a unix client's identity carries ids and names", () => {
  assert.deepEqual(identityRecord({ listener: "/a.sock", client: 1, uid: 0, gid: 0, pid: 9 }), {
    uid: 0,
    user: "root",
    gid: 0,
    group: "root",
    pid: 9,
  });
  assert.deepEqual(
    identityRecord({
      listener: "tls:0.0.0.0:1",
      client: 2,
      address: "192.0.2.1:5",
      certificateDn: "CN=a",
    }),
    { address: "192.0.2.1:5", certificate_dn: "CN=a" },
  );
});

Deno.test("a stdio client is this process's user, its parent, and SSH_CONNECTION", () => {
  const before = Deno.env.get("SSH_CONNECTION");
  Deno.env.set("SSH_CONNECTION", "192.0.2.7 5 192.0.2.1 22");
  try {
    const identity = stdioIdentity();
    assert.equal(identity.listener, "stdio");
    assert.equal(identity.client, `stdio-${Deno.pid}`);
    assert.equal(identity.uid, Deno.uid());
    assert.equal(identity.pid, Deno.ppid);
    assert.equal(identityRecord(identity).ssh_connection, "192.0.2.7 5 192.0.2.1 22");
  } finally {
    if (before === undefined) Deno.env.delete("SSH_CONNECTION");
    else Deno.env.set("SSH_CONNECTION", before);
  }
});
