import assert from "node:assert/strict";
import { Policy } from "../../src/proxy/policy.ts";
import { Program, PROGRAM_NAMES, RemoteProc } from "../../src/wire/constants.ts";
import { type ProcedureRef, resolveProcedureName } from "../../src/wire/procedure_names.ts";

const LISTENER = "/run/virtmux/test.sock";

/** Resolves each name as the config does; a name that does not resolve fails the test. */
function refs(...names: string[]): ProcedureRef[] {
  return names.map((name) => {
    const ref = resolveProcedureName(name);
    assert.ok(ref, `"${name}" resolves`);
    return ref;
  });
}

function policy(deny: string[], allow: string[] = []): Policy {
  return new Policy({ listener: LISTENER, deny: refs(...deny), allow: refs(...allow) });
}

const DOMAIN_DESTROY = 12;
const DOMAIN_DEFINE_XML = 11;
const DOMAIN_UNDEFINE = 35;
const LIST_ALL_DOMAINS = 273;

Deno.test("deny: every spelling of a procedure refuses the same call", () => {
  for (
    const spelling of [
      "DOMAIN_DESTROY",
      "REMOTE_PROC_DOMAIN_DESTROY",
      "virDomainDestroy",
      "domain_destroy",
      "  virdomaindestroy ",
    ]
  ) {
    const p = policy([spelling]);
    assert.equal(
      p.refusal(Program.REMOTE, DOMAIN_DESTROY),
      `Procedure DOMAIN_DESTROY is denied by the policy of listener "${LISTENER}"`,
      spelling,
    );
    assert.equal(p.refusal(Program.REMOTE, LIST_ALL_DOMAINS), undefined, spelling);
    assert.equal(p.refusal(Program.REMOTE, DOMAIN_DEFINE_XML), undefined, spelling);
  }
});

Deno.test("deny: several procedures, the others pass", () => {
  const p = policy(["DOMAIN_UNDEFINE", "virDomainDefineXML"]);
  assert.match(p.refusal(Program.REMOTE, DOMAIN_UNDEFINE) ?? "", /Procedure DOMAIN_UNDEFINE is/);
  assert.match(p.refusal(Program.REMOTE, DOMAIN_DEFINE_XML) ?? "", /DOMAIN_DEFINE_XML/);
  assert.equal(p.refusal(Program.REMOTE, DOMAIN_DESTROY), undefined);
  for (const proc of Object.values(RemoteProc)) {
    assert.equal(p.refusal(Program.REMOTE, proc), undefined, `procedure ${proc}`);
  }
});

Deno.test("an empty policy allows everything", () => {
  const p = policy([]);
  for (const program of Object.values(PROGRAM_NAMES)) {
    for (const proc of [1, 2, 12, 66, 157, 273, 999999]) {
      assert.equal(p.refusal(program, proc), undefined);
    }
  }
});

Deno.test("deny: a procedure number is denied only in its own program", () => {
  // REMOTE 1 is CONNECT_OPEN; QEMU 1 is DOMAIN_MONITOR_COMMAND; LXC 1 DOMAIN_OPEN_NAMESPACE.
  const p = policy(["virDomainQemuMonitorCommand"]);
  assert.equal(
    p.refusal(Program.QEMU, 1),
    `Procedure DOMAIN_MONITOR_COMMAND is denied by the policy of listener "${LISTENER}"`,
  );
  assert.equal(p.refusal(Program.REMOTE, 1), undefined);
  assert.equal(p.refusal(Program.LXC, 1), undefined);
  assert.equal(p.refusal(Program.ADMIN, 1), undefined);
});

Deno.test("deny: QEMU and LXC procedures by prefixed names", () => {
  const p = policy(["QEMU_PROC_DOMAIN_AGENT_COMMAND", "LXC_PROC_DOMAIN_OPEN_NAMESPACE"]);
  assert.match(p.refusal(Program.QEMU, 3) ?? "", /Procedure DOMAIN_AGENT_COMMAND is denied/);
  assert.match(p.refusal(Program.LXC, 1) ?? "", /Procedure DOMAIN_OPEN_NAMESPACE is denied/);
  assert.equal(p.refusal(Program.QEMU, 1), undefined);
  assert.equal(p.refusal(Program.REMOTE, 3), undefined);
});

Deno.test("allow: only the listed procedures and the connection procedures pass", () => {
  const p = policy([], ["CONNECT_LIST_ALL_DOMAINS", "virConnectGetLibVersion"]);
  assert.equal(p.refusal(Program.REMOTE, LIST_ALL_DOMAINS), undefined);
  assert.equal(p.refusal(Program.REMOTE, RemoteProc.CONNECT_GET_LIB_VERSION), undefined);
  assert.equal(
    p.refusal(Program.REMOTE, DOMAIN_DESTROY),
    `Procedure DOMAIN_DESTROY is denied by the policy of listener "${LISTENER}"`,
  );
  // Another program's procedure with an allowed number is not allowed.
  assert.match(p.refusal(Program.QEMU, 1) ?? "", /DOMAIN_MONITOR_COMMAND is denied/);
  assert.match(p.refusal(Program.LXC, 1) ?? "", /DOMAIN_OPEN_NAMESPACE is denied/);
});

Deno.test("allow: the connection procedures are always kept", () => {
  const p = policy([], ["CONNECT_LIST_ALL_DOMAINS"]);
  const connection = [
    RemoteProc.CONNECT_OPEN,
    RemoteProc.CONNECT_CLOSE,
    RemoteProc.AUTH_LIST,
    RemoteProc.CONNECT_SUPPORTS_FEATURE,
    RemoteProc.CONNECT_REGISTER_CLOSE_CALLBACK,
    RemoteProc.CONNECT_UNREGISTER_CLOSE_CALLBACK,
    67, // AUTH_SASL_INIT
    68, // AUTH_SASL_START
    69, // AUTH_SASL_STEP
    70, // AUTH_POLKIT
  ];
  for (const proc of connection) {
    assert.equal(p.refusal(Program.REMOTE, proc), undefined, `procedure ${proc}`);
  }
});

Deno.test("allow: QEMU procedures can be allowed by API name", () => {
  const p = policy([], ["virDomainQemuMonitorCommand"]);
  assert.equal(p.refusal(Program.QEMU, 1), undefined);
  assert.equal(p.refusal(Program.REMOTE, RemoteProc.CONNECT_OPEN), undefined);
  assert.match(p.refusal(Program.QEMU, 3) ?? "", /DOMAIN_AGENT_COMMAND is denied/);
  assert.match(p.refusal(Program.REMOTE, LIST_ALL_DOMAINS) ?? "", /CONNECT_LIST_ALL_DOMAINS/);
});

Deno.test("deny wins over allow", () => {
  const p = policy(["DOMAIN_DESTROY"], ["DOMAIN_DESTROY", "CONNECT_LIST_ALL_DOMAINS"]);
  assert.match(p.refusal(Program.REMOTE, DOMAIN_DESTROY) ?? "", /DOMAIN_DESTROY is denied/);
  assert.equal(p.refusal(Program.REMOTE, LIST_ALL_DOMAINS), undefined);
});

Deno.test("denying a connection procedure is honoured even with an allow list", () => {
  const p = policy(["CONNECT_SUPPORTS_FEATURE"], ["CONNECT_LIST_ALL_DOMAINS"]);
  assert.match(
    p.refusal(Program.REMOTE, RemoteProc.CONNECT_SUPPORTS_FEATURE) ?? "",
    /CONNECT_SUPPORTS_FEATURE is denied/,
  );
});

Deno.test("the refusal names the listener and an unknown procedure by number", () => {
  const p = new Policy({ listener: "/tmp/a b/x.sock", deny: [], allow: refs("DOMAIN_DESTROY") });
  assert.equal(
    p.refusal(Program.REMOTE, 99999),
    'Procedure procedure 99999 is denied by the policy of listener "/tmp/a b/x.sock"',
  );
});

Deno.test("procedure numbers of different programs do not collide", () => {
  // Every program gets its own key space: deny REMOTE 3 must not deny QEMU/LXC/ADMIN 3.
  const p = new Policy({
    listener: LISTENER,
    deny: [{ program: Program.REMOTE, procedure: 3 }],
    allow: [],
  });
  assert.ok(p.refusal(Program.REMOTE, 3));
  for (const program of [Program.QEMU, Program.LXC, Program.ADMIN, Program.KEEPALIVE]) {
    assert.equal(p.refusal(program, 3), undefined);
  }
});

Deno.test("program names cover remote, qemu, lxc and admin", () => {
  assert.deepEqual(PROGRAM_NAMES, {
    remote: Program.REMOTE,
    qemu: Program.QEMU,
    lxc: Program.LXC,
    admin: Program.ADMIN,
  });
});
