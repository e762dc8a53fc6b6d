/**
 * The commands the bench's figures run: a missing one stops the bench before it starts, with the
 * apt-get line that installs it.
 *
 * @module
 */

/** Commands the figures run, and the Debian package each comes from. */
const TOOLS: readonly [string, string][] = [
  ["libvirtd", "libvirt-daemon"],
  ["virsh", "libvirt-clients"],
  ["virt-admin", "libvirt-clients"],
  ["socat", "socat"],
  ["haproxy", "haproxy"],
  ["sshd", "openssh-server"],
  ["taskset", "util-linux"],
  ["prlimit", "util-linux"],
  ["saslpasswd2", "sasl2-bin"],
];

/** Stops with the apt-get line to run when a command the figures need is missing. */
export function requireTools(): void {
  const missing = TOOLS.filter(([command]) => {
    const found = new Deno.Command("sh", {
      args: ["-c", `command -v ${command} || test -x /usr/sbin/${command}`],
      stdout: "null",
    }).outputSync();
    return !found.success;
  });
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(" ");
  console.error(
    `bench: missing ${missing.map(([command]) => command).join(", ")}; install them with:\n` +
      `  apt-get install -y --no-install-recommends ${packages}`,
  );
  Deno.exit(2);
}
