/**
 * One-shot `virsh list --all` over ssh and over tls: virsh's own transport to the private
 * libvirtd, against virsh on virtmux's unix sockets whose upstream is the same URI, with virsh
 * straight to libvirtd's own unix socket as the floor.
 *
 * @module
 */

import type { Libvirtd } from "../../tests/integration/helpers/libvirtd.ts";
import type { Figure } from "../report.ts";
import type { Rig } from "../rig.ts";
import { measureVirsh } from "./virsh.ts";

/**
 * The figure's targets: virsh on libvirtd's unix socket (the floor), over `remoteUri` itself,
 * and on virtmux's dedicated and shared sockets (upstream `remoteUri`).
 */
function targets(daemon: Libvirtd, rig: Rig, remoteUri: string) {
  const sockets = rig.virtmux!.sockets;
  return [
    { id: "direct_unix", uri: daemon.uris.unix },
    { id: "direct", uri: remoteUri },
    { id: "dedicated", uri: `test+unix:///default?socket=${sockets.dedicated}` },
    { id: "shared", uri: `test+unix:///default?socket=${sockets.shared}` },
  ];
}

/** Times virsh over `sshUri` (the daemon behind a loopback sshd) and through `rig`'s virtmux. */
export function measureVirshSsh(
  daemon: Libvirtd,
  rig: Rig,
  sshUri: string,
  rounds: number,
): Promise<Figure> {
  return measureVirsh({
    id: "virsh_ssh",
    title: "One-shot `virsh list --all` over ssh",
    description: "libvirtd behind a loopback sshd (the harness's startSshd; its " +
      "ssh wrapper is libvirt's `command=`). direct: virsh's own ssh transport, " +
      "one ssh login per run. virtmux: virsh reaches virtmux's unix socket; " +
      "virtmux's upstream is the same ssh URI; the shared pool is warm (one run " +
      "before sampling), the dedicated one dials ssh per client.",
    targets: targets(daemon, rig, sshUri),
    rounds,
    ratios: [["direct", "direct_unix"], ["shared", "direct_unix"]],
    notes: [
      "direct, unix socket is virsh straight to libvirtd's own socket: the " +
      "floor any path has (virsh start-up, the test driver's work). direct / " +
      "floor is the most a proxy could ever save.",
    ],
    goals: [{
      text: "warm shared pool ≥ 10× faster than direct",
      metric: "ms",
      subject: "shared",
      reference: "direct",
      invert: true,
      op: ">=",
      threshold: 10,
    }],
  });
}

/** Times virsh over the daemon's TLS port and through `rig`'s virtmux (upstream that port). */
export function measureVirshTls(daemon: Libvirtd, rig: Rig, rounds: number): Promise<Figure> {
  const tlsUri = daemon.uris.tls!;
  return measureVirsh({
    id: "virsh_tls",
    title: "One-shot `virsh list --all` over tls",
    description: "libvirtd's TLS port with the harness's PKI (`pkipath=`). direct: " +
      "virsh's own TLS handshake per run. virtmux: virsh on virtmux's unix socket, " +
      "upstream the same tls URI; shared pool warm.",
    targets: targets(daemon, rig, tlsUri),
    rounds,
    ratios: [["direct", "direct_unix"], ["shared", "direct_unix"]],
    notes: [
      "direct, unix socket is virsh straight to libvirtd's own socket: the floor " +
      "any path has. direct (tls) / floor is the most a proxy could ever save: when " +
      "it is below 1.3 the goal cannot be met on this machine by any proxy.",
    ],
    goals: [{
      text: "warm shared pool ≥ 1.3× faster than direct",
      metric: "ms",
      subject: "shared",
      reference: "direct",
      invert: true,
      op: ">=",
      threshold: 1.3,
    }],
  });
}
