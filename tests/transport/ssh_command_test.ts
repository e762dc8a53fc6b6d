import assert from "node:assert/strict";
import { parseUri } from "../../src/uri/uri.ts";
import { escapeShell, planSsh, sshHelperUri, sshProxy } from "../../src/transport/ssh_command.ts";

/**
 * Goldens captured from libvirt 9.0 itself (Debian 12's virsh, as root): `virsh -c URI list`
 * with `command=` pointing at a fake ssh that recorded its argv (as libvirt's tests/ssh.c does).
 * The `command=` parameter is left out here, so argv[0] is "ssh".
 */
const LIBVIRT_9_0_GOLDENS: { uri: string; readonly: boolean; argv: string[] }[] = [
  {
    uri: "qemu+ssh://hv1/system",
    readonly: false,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper 'qemu:///system'; else    if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock; fi'",
    ],
  },
  {
    uri: "qemu+ssh://bob@hv1:2222/system?keyfile=/k/id%20x&no_tty=1&no_verify=1",
    readonly: false,
    argv: [
      "ssh",
      "-p",
      "2222",
      "-l",
      "bob",
      "-i",
      "/k/id x",
      "-T",
      "-e",
      "none",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "--",
      "hv1",
      "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper 'qemu:///system'; else    if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock; fi'",
    ],
  },
  {
    uri: "qemu+ssh://hv1/system?socket=/var/run/libvirt/libvirt-sock",
    readonly: false,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock'",
    ],
  },
  {
    uri: "qemu+ssh://hv1/system?netcat=/opt/my%20nc",
    readonly: false,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'if '''\\''/opt/my nc'\\'''' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'''\\''/opt/my nc'\\'''' $ARG -U /var/run/libvirt/libvirt-sock'",
    ],
  },
  {
    uri: "qemu+ssh://hv1/system?proxy=native",
    readonly: false,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'virt-ssh-helper 'qemu:///system''",
    ],
  },
  {
    uri: "qemu+ssh://hv1/session",
    readonly: false,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper 'qemu:///session'; else    if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock; fi'",
    ],
  },
  {
    uri: "test+ssh://hv1/default?x=it's",
    readonly: false,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '''\\''test:///default?x=it%27s'\\''''; else    if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock; fi'",
    ],
  },
  {
    uri: "qemu+ssh://hv1/system?proxy=netcat",
    readonly: false,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock'",
    ],
  },
  {
    uri: "qemu+ssh:///system",
    readonly: false,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "localhost",
      "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper 'qemu:///system'; else    if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock; fi'",
    ],
  },
  {
    uri: "qemu+ssh://hv1/system",
    readonly: true,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper -r 'qemu:///system'; else    if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock-ro; fi'",
    ],
  },
  {
    uri: "qemu+ssh://hv1/system?proxy=netcat",
    readonly: true,
    argv: [
      "ssh",
      "-T",
      "-e",
      "none",
      "--",
      "hv1",
      "sh -c 'if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock-ro'",
    ],
  },
];

const env = (name: string) => ({ HOME: "/home/u", XDG_RUNTIME_DIR: "/run/user/1000" })[name];

for (const golden of LIBVIRT_9_0_GOLDENS) {
  Deno.test(`ssh argv is libvirt 9.0's for ${golden.uri}${golden.readonly ? " (read-only)" : ""}`, () => {
    const plan = planSsh(parseUri(golden.uri), { readonly: golden.readonly, uid: 0, env });
    assert.deepEqual(plan.argv, golden.argv);
  });
}

Deno.test("ssh command= replaces the ssh binary", () => {
  const plan = planSsh(parseUri("qemu+ssh://hv1/system?command=/opt/bin/myssh"), {
    readonly: false,
    uid: 0,
    env,
  });
  assert.equal(plan.argv[0], "/opt/bin/myssh");
});

Deno.test("ssh defaults: netcat with socket=, native for a non-root session, auto otherwise", () => {
  const plan = (text: string, uid: number) =>
    planSsh(parseUri(text), { readonly: false, uid, env });
  assert.equal(plan("qemu+ssh://h/system?socket=/s", 0).proxy, "netcat");
  assert.equal(plan("qemu+ssh://h/session", 1000).proxy, "native");
  assert.equal(plan("qemu+ssh://h/session", 0).proxy, "auto");
  assert.equal(plan("qemu+ssh://h/system", 1000).proxy, "auto");
  assert.equal(plan("qemu+ssh://h/system?netcat=nc", 0).proxy, "netcat");
  assert.equal(
    plan("qemu+ssh://h/session", 1000).socketPath,
    "/run/user/1000/libvirt/libvirt-sock",
  );
  assert.equal(
    plan("qemu+ssh://h/session", 1000).argv.at(-1),
    "sh -c 'virt-ssh-helper 'qemu:///session''",
  );
});

Deno.test("ssh refuses what libvirt refuses", () => {
  const plan = (text: string) => planSsh(parseUri(text), { readonly: false, uid: 0, env });
  assert.throws(() => plan("qemu+ssh://h/system?mode=direct"), /direct/);
  assert.throws(
    () => plan("qemu+ssh://h/system?proxy=native&netcat=nc"),
    /netcat/,
  );
  assert.throws(() => plan("qemu+libssh://h/system?known_hosts_verify=maybe"), /verification/);
  assert.throws(() => plan("qemu+libssh://h/system?sshauth=telepathy"), /authentication method/);
});

Deno.test("ssh known_hosts= is passed to ssh when given", () => {
  const plan = planSsh(parseUri("qemu+ssh://h/system?known_hosts=/k/hosts"), {
    readonly: false,
    uid: 0,
    env,
  });
  assert.deepEqual(plan.argv.slice(0, 6), [
    "ssh",
    "-T",
    "-e",
    "none",
    "-o",
    "UserKnownHostsFile=/k/hosts",
  ]);
});

Deno.test("libssh and libssh2 map to the ssh command with libvirt's defaults", () => {
  for (const transport of ["libssh", "libssh2"]) {
    const plan = planSsh(parseUri(`qemu+${transport}://hv1/system?keyfile=/k/id`), {
      readonly: false,
      uid: 0,
      env,
    });
    assert.deepEqual(plan.argv.slice(0, -1), [
      "ssh",
      "-p",
      "22",
      "-l",
      "root",
      "-i",
      "/k/id",
      "-T",
      "-e",
      "none",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "UserKnownHostsFile=/home/u/.config/libvirt/known_hosts",
      "--",
      "hv1",
    ]);
    assert.equal(plan.argv.at(-1), LIBVIRT_9_0_GOLDENS[0].argv.at(-1));
  }
});

Deno.test("libssh known_hosts_verify and sshauth become ssh options", () => {
  const plan = (query: string) =>
    planSsh(parseUri(`qemu+libssh2://u@hv1:2200/system?${query}`), {
      readonly: false,
      uid: 0,
      env,
    }).argv;
  const options = (argv: string[]) => argv.filter((_, i) => argv[i - 1] === "-o");
  assert.deepEqual(options(plan("known_hosts_verify=auto&known_hosts=/kh")), [
    "BatchMode=yes",
    "StrictHostKeyChecking=accept-new",
    "UserKnownHostsFile=/kh",
  ]);
  assert.deepEqual(options(plan("known_hosts_verify=ignore")), [
    "BatchMode=yes",
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
  ]);
  assert.ok(
    options(plan("sshauth=agent,privkey,password")).includes(
      "PreferredAuthentications=publickey,password",
    ),
  );
  assert.deepEqual(plan("").slice(0, 5), ["ssh", "-p", "2200", "-l", "u"]);
});

Deno.test("the ssh helper URI is the open name, and the proxy follows libvirt's defaults", () => {
  assert.equal(sshHelperUri(parseUri("qemu+ssh://h/system?mode=legacy&x=1")), "qemu:///system?x=1");
  assert.equal(sshProxy(parseUri("qemu+ssh://h/system"), { uid: 0 }), "auto");
  assert.equal(sshProxy(parseUri("qemu+ssh://h/system?socket=/s"), { uid: 0 }), "netcat");
  assert.equal(sshProxy(parseUri("qemu+ssh://h/system?netcat=nc"), { uid: 0 }), "netcat");
  assert.equal(sshProxy(parseUri("qemu+ssh://h/session"), { uid: 1000 }), "native");
  assert.equal(sshProxy(parseUri("qemu+ssh://h/session"), { uid: 0 }), "auto");
});

Deno.test("escapeShell quotes like virBufferEscapeShell", () => {
  assert.equal(escapeShell(""), "''");
  assert.equal(escapeShell("/usr/bin/nc"), "/usr/bin/nc");
  assert.equal(escapeShell("it's"), `'it'\\''s'`);
  assert.equal(escapeShell("a b"), "'a b'");
});
