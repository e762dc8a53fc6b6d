import assert from "node:assert/strict";
import { escapeShell, sshArgv } from "../../src/transport/ssh_command.ts";
import { defaultPort, unixSocketPath } from "../../src/uri/remote.ts";
import { parseUri, UriError } from "../../src/uri/uri.ts";

/**
 * Expected values captured from libvirt 9.0.0 (Debian 12, libvirt-clients 9.0.0-4+deb12u2) with
 * `LIBVIRT_LOG_FILTERS="1:remote 1:util.command" virsh -c URI version`: the "proceeding with
 * name" (open name), "Chosen UNIX socket" and the ssh command line virCommand logs (each argument
 * through virBufferEscapeShell). ROOT ran as root, ROOT_RO with `virsh -r`, NOBODY as uid 65534
 * with HOME=/nonexistent, with and without XDG_RUNTIME_DIR=/run/user/65534; no socket existed.
 */
interface OracleRow {
  uri: string;
  openName: string;
  socket?: string;
  ssh?: string;
  xdgRuntimeDir?: boolean;
}

const ROOT: OracleRow[] = [
  { uri: "qemu+ext:///system?command=/bin/false&x=1", openName: "qemu:///system?x=1" },
  {
    uri: "qemu+ext:///system?command=/bin/false&a=x+y%2b%26z&b&c=&=d&&e=1;f=2",
    openName: "qemu:///system?a=x%2By%2B%26z&b=&c=&e=1&f=2",
  },
  { uri: "qemu+ext:///system?command=/bin/false;a=1;b=2", openName: "qemu:///system?a=1&b=2" },
  {
    uri: "qemu+ext:///sys%20tem:x@y?command=/bin/false#frag",
    openName: "qemu:///sys%20tem%3Ax@y#frag",
  },
  { uri: "qemu+ext://?command=/bin/false", openName: "qemu://" },
  { uri: "qemu+ext:///?command=/bin/false", openName: "qemu:///" },
  { uri: "remote+ext:///system?command=/bin/false", openName: "" },
  { uri: "qemu+EXT:///system?COMMAND=/bin/false&Name=foo", openName: "foo" },
  {
    uri: "qemu+ext:///system?command=/bin/false&a=%41~!$%27()*,:@/?",
    openName: "qemu:///system?a=A~%21%24%27%28%29%2A%2C%3A%40%2F%3F",
  },
  { uri: "qemu+ext:system?command=/bin/false", openName: "qemu://system" },
  { uri: "qemu+ext:/system?command=/bin/false", openName: "qemu:///system" },
  {
    uri: "qemu+ext://u:pw@[fe80::1%25eth0]:0/sys/../x?command=/bin/false",
    openName: "qemu:///sys/../x",
  },
  { uri: "qemu+ext://h:12/?command=/bin/false&a=1#f?g", openName: "qemu:///?a=1#f?g" },
  { uri: "qemu+ext:///system?command=/bin/false&a=%00b", openName: "qemu:///system?a=" },
  {
    uri: "qemu+ext:///system?command=/bin/false&a=%e2%82%ac",
    openName: "qemu:///system?a=%E2%82%AC",
  },
  {
    uri: "qemu+ext:///system?command=/bin/false&a=1&a=2&command=/bin/true",
    openName: "qemu:///system?a=1&a=2",
  },
  {
    uri: "qemu+ext:///system?command=/bin/false&authfile=/x&no_sanity=0&no_tty=2",
    openName: "qemu:///system",
  },
  { uri: "qemu+ext:///system?command=/bin/false&no_verify=%201", openName: "qemu:///system" },
  { uri: "qemu+ext:///system?command=/bin/false&no_verify=-1", openName: "qemu:///system" },
  { uri: "qemu+ext:///system?command=/bin/false#", openName: "qemu:///system#" },
  { uri: "qemu+ext:///system?command=/bin/false&%41%20b=1&=x", openName: "qemu:///system?A b=1" },
  { uri: "qemu+ext://[abc]/system?command=/bin/false", openName: "qemu:///system" },
  {
    uri:
      "qemu+ssh://user@h:2222/system?command=/tmp/urioracle/fake-ssh&keyfile=/k&no_tty=1&no_verify=1&x=1",
    openName: "qemu:///system?x=1",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -p 2222 -l user -i /k -T -e none -o BatchMode=yes -o StrictHostKeyChecking=no -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\'''\\'''\\''\\'\\'''\\''qemu:///system?x=1'\\''\\'\\'''\\'''\\'''\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&socket=/s/sock",
    openName: "qemu:///system",
    socket: "/s/sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /s/sock'\\'''",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&netcat=/my%20nc",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''if '\\'''\\'''\\''\\'\\'''\\''/my nc'\\''\\'\\'''\\'''\\'''\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\'''\\'''\\''\\'\\'''\\''/my nc'\\''\\'\\'''\\'''\\'''\\'' $ARG -U /var/run/libvirt/libvirt-sock'\\'''",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&proxy=native&mode=legacy&x=a%20b",
    openName: "qemu:///system?x=a%20b",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''virt-ssh-helper '\\'''\\'''\\''\\'\\'''\\''qemu:///system?x=a%20b'\\''\\'\\'''\\'''\\'''\\'''\\'''",
  },
  {
    uri: "qemu+ssh://h/session?command=/tmp/urioracle/fake-ssh",
    openName: "qemu:///session",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\''qemu:///session'\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
  },
  {
    uri: "qemu+ssh://h?command=/tmp/urioracle/fake-ssh",
    openName: "qemu://",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\''qemu://'\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
  },
  {
    uri: "remote+ssh://h/?command=/tmp/urioracle/fake-ssh",
    openName: "",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\'''\\'''\\''\\'\\'''\\'''\\''\\'\\'''\\'''\\'''\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&name=qemu:///x",
    openName: "qemu:///x",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\''qemu:///x'\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&x=it's",
    openName: "qemu:///system?x=it%27s",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\'''\\'''\\''\\'\\'''\\''qemu:///system?x=it%27s'\\''\\'\\'''\\'''\\'''\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
  },
  {
    uri: "qemu+ssh://[::1]:22/system?command=/tmp/urioracle/fake-ssh&netcat=",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -p 22 -T -e none -- ::1 'sh -c '\\''if '\\'''\\'''\\''\\'\\'''\\'''\\''\\'\\'''\\'''\\'''\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\'''\\'''\\''\\'\\'''\\'''\\''\\'\\'''\\'''\\'''\\'' $ARG -U /var/run/libvirt/libvirt-sock'\\'''",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&proxy=netcat&netcat=nc%20-x",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''if '\\'''\\'''\\''\\'\\'''\\''nc -x'\\''\\'\\'''\\'''\\'''\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\'''\\'''\\''\\'\\'''\\''nc -x'\\''\\'\\'''\\'''\\'''\\'' $ARG -U /var/run/libvirt/libvirt-sock'\\'''",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&proxy=auto&netcat=ncat",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''if '\\''ncat'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''ncat'\\'' $ARG -U /var/run/libvirt/libvirt-sock'\\'''",
  },
  { uri: "qemu+tcp://[::1]:16510/system", openName: "qemu:///system" },
  { uri: "qemu+tcp://[::1]/system", openName: "qemu:///system" },
  { uri: "QEMU+TCP://u%40x@H%2eexample/system", openName: "QEMU:///system" },
  { uri: "qemu+tcp://h:0/system", openName: "qemu:///system" },
  { uri: "qemu+tls://h/system?x=1&no_verify=1", openName: "qemu:///system?x=1" },
  {
    uri: "qemu+unix:///system",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
  },
  {
    uri: "qemu+unix:///system?mode=direct",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/virtqemud-sock",
  },
  {
    uri: "qemu+unix:///session",
    openName: "qemu:///session",
    socket: "/var/run/libvirt/libvirt-sock",
  },
  {
    uri: "test+unix:///default",
    openName: "test:///default",
    socket: "/var/run/libvirt/libvirt-sock",
  },
  { uri: "remote+unix:///", openName: "", socket: "/var/run/libvirt/libvirt-sock" },
  { uri: "remote:///", openName: "", socket: "/var/run/libvirt/libvirt-sock" },
  { uri: "qemu:///system", openName: "qemu:///system", socket: "/var/run/libvirt/libvirt-sock" },
  {
    uri: "qemu+unix:///system?socket=/x/y&mode=direct",
    openName: "qemu:///system",
    socket: "/x/y",
  },
  {
    uri: "lxc+unix:///?mode=direct",
    openName: "lxc:///",
    socket: "/var/run/libvirt/virtlxcd-sock",
  },
  {
    uri: "xen+ssh://rjones@towada/system?command=/tmp/urioracle/fake-ssh",
    openName: "xen:///system",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -l rjones -T -e none -- towada 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\''xen:///system'\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
  },
  { uri: "xen://towada/system", openName: "xen:///system" },
  { uri: "xen://towada/system?no_verify=1", openName: "xen:///system" },
  {
    uri: "qemu+unix:///system?socket=/opt/libvirt/run/libvirt/libvirt-sock",
    openName: "qemu:///system",
    socket: "/opt/libvirt/run/libvirt/libvirt-sock",
  },
  { uri: "test+tcp://localhost:5000/default", openName: "test:///default" },
  {
    uri: "qemu+libssh2://user@host/system?known_hosts=/home/user/.ssh/known_hosts",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
  },
  {
    uri: "qemu+libssh://user@host/system?known_hosts=/home/user/.ssh/known_hosts",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
  },
];
const ROOTRefused: string[] = [
  "qemu+ext:///system?", // invalid argument: remote_open: for 'ext' transport, command is required
  "qemu+tcp://h:/system", // internal error: Unable to parse URI qemu+tcp://h:/system
  "qemu+ext:///system?command=/bin/false&a=%zz", // internal error: Unable to parse URI qemu+ext:///system?command=/bin/false&a=%zz
  "qemu+ext:///system?command=/bin/false&a=b c", // internal error: Unable to parse URI qemu+ext:///system?command=/bin/false&a=b c
  "qemu+ext:///system?command=/bin/false&a=é", // internal error: Unable to parse URI qemu+ext:///system?command=/bin/false&a=é
  "q_x+ext:///system?command=/bin/false", // internal error: Unable to parse URI q_x+ext:///system?command=/bin/false
  "1q+ext:///system?command=/bin/false", // internal error: Unable to parse URI 1q+ext:///system?command=/bin/false
  "qemu+ext:///sys[tem?command=/bin/false", // internal error: Unable to parse URI qemu+ext:///sys[tem?command=/bin/false
  "qemu+ext://h[x]/system?command=/bin/false", // internal error: Unable to parse URI qemu+ext://h[x]/system?command=/bin/false
  "qemu+ext://h%zz/system?command=/bin/false", // internal error: Unable to parse URI qemu+ext://h%zz/system?command=/bin/false
  "qemu+tcp://h:99999999999/system", // internal error: Unable to parse URI qemu+tcp://h:99999999999/system
  "qemu+foo://h/system", // invalid argument: remote_open: transport in URL not recognised (should be tls|unix|ssh|ext|tcp|libssh2|libssh)
  "qemu+unix://h/system", // invalid argument: using unix socket and remote server 'h' is not supported.
  "qemu+ext:///system", // invalid argument: remote_open: for 'ext' transport, command is required
  "qemu+tcp://h/system?mode=bogus", // invalid argument: Unknown remote mode 'bogus'
  "qemu+tcp://h/system?proxy=bogus", // invalid argument: Unnkown proxy type 'bogus'
  "qemu+tcp://h/system?no_verify=yes", // invalid argument: Failed to parse value of URI component no_verify
  "qemu+tcp://h/system?no_verify", // invalid argument: Failed to parse value of URI component no_verify
  "qemu+ext:///system?command=/bin/false&no_verify=1x", // invalid argument: Failed to parse value of URI component no_verify
  "qemu+ext:///system?command=/bin/false&no_verify=0x1", // invalid argument: Failed to parse value of URI component no_verify
  "qemu+ext:///system?command=/bin/false&mode=DIRECT", // invalid argument: Unknown remote mode 'DIRECT'
  "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&mode=direct", // Operation not supported: Cannot use direct socket mode for ssh transport
  "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&proxy=native&netcat=nc", // invalid argument: netcat path not valid with native proxy mode
];
const ROOT_RO: OracleRow[] = [
  {
    uri: "qemu+unix:///system",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock-ro",
  },
  {
    uri: "qemu+unix:///system?mode=direct",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/virtqemud-sock-ro",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&x=1",
    openName: "qemu:///system?x=1",
    socket: "/var/run/libvirt/libvirt-sock-ro",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper -r '\\'''\\'''\\''\\'\\'''\\''qemu:///system?x=1'\\''\\'\\'''\\'''\\'''\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock-ro; fi'\\'''",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh&proxy=native",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock-ro",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''virt-ssh-helper -r '\\''qemu:///system'\\'''\\'''",
  },
];
const NOBODY: OracleRow[] = [
  {
    uri: "qemu+unix:///session",
    openName: "qemu:///session",
    socket: "/run/user/65534/libvirt/libvirt-sock",
    xdgRuntimeDir: true,
  },
  {
    uri: "qemu+unix:///session",
    openName: "qemu:///session",
    socket: "/nonexistent/.cache/libvirt/libvirt-sock",
  },
  {
    uri: "qemu+unix:///session?mode=direct",
    openName: "qemu:///session",
    socket: "/run/user/65534/libvirt/virtqemud-sock",
    xdgRuntimeDir: true,
  },
  {
    uri: "qemu+unix:///session?mode=direct",
    openName: "qemu:///session",
    socket: "/nonexistent/.cache/libvirt/virtqemud-sock",
  },
  {
    uri: "test+unix:///default",
    openName: "test:///default",
    socket: "/run/user/65534/libvirt/libvirt-sock",
    xdgRuntimeDir: true,
  },
  {
    uri: "test+unix:///default",
    openName: "test:///default",
    socket: "/nonexistent/.cache/libvirt/libvirt-sock",
  },
  {
    uri: "qemu+ssh://h/session?command=/tmp/urioracle/fake-ssh",
    openName: "qemu:///session",
    socket: "/run/user/65534/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''virt-ssh-helper '\\''qemu:///session'\\'''\\'''",
    xdgRuntimeDir: true,
  },
  {
    uri: "qemu+ssh://h/session?command=/tmp/urioracle/fake-ssh",
    openName: "qemu:///session",
    socket: "/nonexistent/.cache/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''virt-ssh-helper '\\''qemu:///session'\\'''\\'''",
  },
  {
    uri: "qemu+ssh://h/session?command=/tmp/urioracle/fake-ssh&proxy=auto",
    openName: "qemu:///session",
    socket: "/run/user/65534/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\''qemu:///session'\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /run/user/65534/libvirt/libvirt-sock; fi'\\'''",
    xdgRuntimeDir: true,
  },
  {
    uri: "qemu+ssh://h/session?command=/tmp/urioracle/fake-ssh&proxy=auto",
    openName: "qemu:///session",
    socket: "/nonexistent/.cache/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\''qemu:///session'\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /nonexistent/.cache/libvirt/libvirt-sock; fi'\\'''",
  },
  {
    uri: "qemu:///session",
    openName: "qemu:///session",
    socket: "/run/user/65534/libvirt/libvirt-sock",
    xdgRuntimeDir: true,
  },
  {
    uri: "qemu:///session",
    openName: "qemu:///session",
    socket: "/nonexistent/.cache/libvirt/libvirt-sock",
  },
  {
    uri: "qemu+unix:///system",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
    xdgRuntimeDir: true,
  },
  {
    uri: "qemu+unix:///system",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\''qemu:///system'\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
    xdgRuntimeDir: true,
  },
  {
    uri: "qemu+ssh://h/system?command=/tmp/urioracle/fake-ssh",
    openName: "qemu:///system",
    socket: "/var/run/libvirt/libvirt-sock",
    ssh:
      "/tmp/urioracle/fake-ssh -T -e none -- h 'sh -c '\\''which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper '\\''qemu:///system'\\''; else    if '\\''nc'\\'' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'\\''nc'\\'' $ARG -U /var/run/libvirt/libvirt-sock; fi'\\'''",
  },
];

function socketOptions(row: OracleRow, readonly: boolean, uid: number) {
  return {
    readonly,
    uid,
    exists: () => false,
    env: (name: string) =>
      name === "HOME"
        ? "/nonexistent"
        : name === "XDG_RUNTIME_DIR" && row.xdgRuntimeDir
        ? "/run/user/65534"
        : undefined,
  };
}

function checkRows(rows: OracleRow[], readonly: boolean, uid: number): void {
  for (const row of rows) {
    const uri = parseUri(row.uri);
    assert.equal(uri.openName, row.openName, row.uri);
    const options = socketOptions(row, readonly, uid);
    if (row.socket !== undefined) assert.equal(unixSocketPath(uri, options), row.socket, row.uri);
    if (row.ssh !== undefined) {
      assert.equal(sshArgv(uri, options).map(escapeShell).join(" "), row.ssh, row.uri);
    }
  }
}

Deno.test("open names, sockets and ssh commands match libvirt 9.0 as root", () => {
  checkRows(ROOT, false, 0);
});

Deno.test("read-only connections use the -ro sockets and virt-ssh-helper -r", () => {
  checkRows(ROOT_RO, true, 0);
});

Deno.test("session URIs of a non-root user use the user runtime directory", () => {
  checkRows(NOBODY, false, 65534);
});

Deno.test("URIs libvirt 9.0 refuses throw UriError naming the URI", () => {
  for (const text of ROOTRefused) {
    assert.throws(() => parseUri(text), (error: unknown) => {
      assert.ok(error instanceof UriError, text);
      assert.ok(error instanceof SyntaxError);
      assert.ok(error.message.startsWith(`Cannot parse URI "${text}": `), error.message);
      assert.ok(!error.message.endsWith("."), error.message);
      return true;
    });
  }
});

Deno.test("error messages say why", () => {
  const cases: Array<[string, string]> = [
    ["qemu+foo://h/system", `transport "foo" is not supported`],
    ["qemu+unix://h/system", `the unix transport cannot be used with remote host "h"`],
    ["qemu+ext:///system", `the ext transport needs a "command" parameter`],
    ["qemu+tcp://h/system?mode=bogus", `mode "bogus" is not one of "auto", "legacy", "direct"`],
    ["qemu+tcp://h/system?proxy=x", `proxy "x" is not one of "auto", "netcat", "native"`],
    ["qemu+tcp://h/system?no_verify=yes", `value "yes" of parameter "no_verify" is not an integer`],
    ["qemu+tcp://h:/system", "the port is empty"],
    ["qemu+tcp://h:99999/system", `port "99999" is out of range`],
    ["qemu+tcp://h:x/system", `character "x" at offset 13 is not allowed there`],
    ["qemu+ext:///s?a=%zz", `"%zz" is not a valid percent-escape`],
    ["qemu+ssh://h/system?mode=direct", `mode "direct" cannot be used with the ssh transport`],
    [
      "qemu+ssh://h/system?proxy=native&netcat=nc",
      `the "netcat" parameter cannot be used with proxy "native"`,
    ],
    ["qemu+ssh://@h/system", `the user name before "@" is empty`],
    ["hv1", `it has no driver name before ":"`],
    ["", "it is empty"],
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseUri(text), {
      name: "UriError",
      message: `Cannot parse URI "${text}": ${reason}`,
    });
  }
});

Deno.test("the examples of libvirt's remote URI documentation parse as documented", () => {
  const ssh = parseUri("xen+ssh://rjones@towada/system");
  assert.deepEqual([ssh.driver, ssh.transport, ssh.user, ssh.host, ssh.path], [
    "xen",
    "ssh",
    "rjones",
    "towada",
    "/system",
  ]);
  assert.equal(ssh.openName, "xen:///system");
  const tls = parseUri("xen://towada/system");
  assert.deepEqual([tls.transport, tls.host, tls.port, defaultPort(tls)], [
    "tls",
    "towada",
    undefined,
    16514,
  ]);
  assert.equal(parseUri("xen://towada/system?no_verify=1").options.noVerify, true);
  const unix = parseUri("qemu+unix:///system?socket=/opt/libvirt/run/libvirt/libvirt-sock");
  assert.equal(unixSocketPath(unix, { readonly: false }), "/opt/libvirt/run/libvirt/libvirt-sock");
  const tcp = parseUri("test+tcp://localhost:5000/default");
  assert.deepEqual([tcp.transport, tcp.host, tcp.port, tcp.openName], [
    "tcp",
    "localhost",
    5000,
    "test:///default",
  ]);
  for (const transport of ["libssh2", "libssh"]) {
    const uri = parseUri(
      `qemu+${transport}://user@host/system?known_hosts=/home/user/.ssh/known_hosts`,
    );
    assert.equal(uri.transport, transport);
    assert.equal(uri.options.knownHosts, "/home/user/.ssh/known_hosts");
    assert.equal(defaultPort(uri), 22);
  }
  const examples: Array<[string, Partial<Record<string, unknown>>]> = [
    ["qemu+ssh://h/system?name=qemu:///system", { name: "qemu:///system" }],
    ["qemu+ssh://h/system?command=/opt/openssh/bin/ssh", { command: "/opt/openssh/bin/ssh" }],
    ["qemu+ssh://h/system?netcat=/opt/netcat/bin/nc", { netcat: "/opt/netcat/bin/nc" }],
    ["qemu+ssh://h/system?keyfile=/root/.ssh/example_key", { keyfile: "/root/.ssh/example_key" }],
    ["qemu+ssh://h/system?no_tty=1", { noTty: true }],
    ["qemu+libssh2://h/system?known_hosts_verify=ignore", { knownHostsVerify: "ignore" }],
    ["qemu+libssh://h/system?sshauth=privkey,agent", { sshauth: "privkey,agent" }],
    ["qemu+tls://h/system?tls_priority=NORMAL:-VERS-SSL3.0", {
      tlsPriority: "NORMAL:-VERS-SSL3.0",
    }],
    ["qemu+tls://h/system?pkipath=/tmp/pki/client", { pkipath: "/tmp/pki/client" }],
    ["qemu+unix:///system?mode=direct", { mode: "direct" }],
    ["qemu+ssh://h/system?proxy=native", { proxy: "native" }],
    ["qemu+tls://h/system?auth=sasl.gssapi&no_sanity=1", { auth: "sasl.gssapi", noSanity: true }],
  ];
  for (const [text, expected] of examples) {
    const uri = parseUri(text);
    for (const [key, value] of Object.entries(expected)) {
      assert.equal(uri.options[key as keyof typeof uri.options], value, text);
    }
    assert.equal(uri.openName, key(expected) === "name" ? "qemu:///system" : uri.openName);
  }
});

function key(record: Record<string, unknown>): string {
  return Object.keys(record)[0];
}

Deno.test("the URI parts are split, decoded and defaulted as libvirt does", () => {
  const uri = parseUri(
    "QEMU+TCP://u%40x@H%2eexample:16510/sys%20tem?a=x+y%2b%26z&b&c=&=d&&e=1;f=2",
  );
  assert.equal(uri.driver, "QEMU");
  assert.equal(uri.transport, "tcp");
  assert.equal(uri.user, "u@x");
  assert.equal(uri.host, "H.example");
  assert.equal(uri.port, 16510);
  assert.equal(uri.path, "/sys tem");
  assert.deepEqual(uri.params, [["a", "x+y+&z"], ["b", ""], ["c", ""], ["e", "1"], ["f", "2"]]);
  assert.equal(uri.openName, "QEMU:///sys%20tem?a=x%2By%2B%26z&b=&c=&e=1&f=2");
  assert.deepEqual(parseUri("qemu+ext:///s?command=c;a=1;b=2").params, [["command", "c"], [
    "a",
    "1",
  ], ["b", "2"]]);
});

Deno.test("the transport defaults to tls with a host and unix without", () => {
  assert.equal(parseUri("qemu://h/system").transport, "tls");
  assert.equal(parseUri("qemu:///system").transport, "unix");
  assert.equal(parseUri("test:///default").transport, "unix");
  assert.equal(parseUri("remote:///").openName, "");
  assert.equal(parseUri("qemu+EXT:///system?COMMAND=/bin/false").options.command, "/bin/false");
});

Deno.test("IPv6 hosts lose their brackets and keep their port", () => {
  const withPort = parseUri("qemu+tcp://[::1]:16509/system");
  assert.deepEqual([withPort.host, withPort.port, withPort.path], ["::1", 16509, "/system"]);
  const bare = parseUri("qemu+tcp://[::1]/system");
  assert.deepEqual([bare.host, bare.port, defaultPort(bare)], ["::1", undefined, 16509]);
  assert.equal(parseUri("qemu+tcp://[fe80::1%25eth0]/").host, "fe80::1%eth0");
});

Deno.test("a URI without a path has an empty path and the open name driver://", () => {
  const uri = parseUri("qemu+tcp://host");
  assert.deepEqual([uri.host, uri.path, uri.openName], ["host", "", "qemu://"]);
  assert.equal(parseUri("qemu+tcp://host:16509").port, 16509);
  assert.equal(parseUri("qemu+tcp://host:0/system").port, undefined);
});

Deno.test("repeated parameters are all kept and the last consumed one wins", () => {
  const uri = parseUri("qemu+ext:///system?command=/a&x=1&x=2&command=/b");
  assert.equal(uri.options.command, "/b");
  assert.deepEqual(uri.params, [["command", "/a"], ["x", "1"], ["x", "2"], ["command", "/b"]]);
  assert.equal(uri.openName, "qemu:///system?x=1&x=2");
});

Deno.test("flags take any decimal integer and mean set unless 0", () => {
  const uri = parseUri("qemu+tls://h/?no_sanity=0&no_verify=%201&no_tty=-1");
  assert.deepEqual([uri.options.noSanity, uri.options.noVerify, uri.options.noTty], [
    false,
    true,
    true,
  ]);
  assert.throws(() => parseUri("qemu+tls://h/?no_tty=0x1"), UriError);
  assert.throws(() => parseUri("qemu+tls://h/?no_tty"), UriError);
});
