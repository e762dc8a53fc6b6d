/**
 * Writes captured frames as a pcap file (LINKTYPE_RAW IPv4/TCP on 127.0.0.1), one TCP segment per
 * frame, each connection with its handshake and a client port of its own, the daemon on `port`.
 * That is what Wireshark's libvirt dissector (Debian's libvirt-wireshark) reads, so tshark can
 * decode the same frames independently of virtmux.
 *
 * @module
 */

import type { CapturedFrame } from "./_fixture.ts";

const LINKTYPE_RAW = 101;
const SYN = 0x02;
const ACK = 0x10;
const PSH_ACK = 0x18;

/** Sequence numbers of one connection, per direction. */
interface Flow {
  clientSeq: number;
  serverSeq: number;
}

/**
 * The pcap bytes of `frames`, in order; frame i is pcap record i + 3 × (connections opened before
 * it, handshakes included), so callers match records by content, not by index.
 *
 * @param frames The captured frames.
 * @param port The daemon's TCP port (16509 is the one the dissector knows).
 */
export function framesToPcap(frames: readonly CapturedFrame[], port = 16509): Uint8Array {
  const records: Uint8Array[] = [];
  const flows = new Map<number, Flow>();
  let time = 1_700_000_000_000_000; // microseconds
  const segment = (
    connection: number,
    fromClient: boolean,
    flags: number,
    payload: Uint8Array,
    flow: Flow,
  ) => {
    const total = 40 + payload.length;
    const packet = new Uint8Array(total);
    const view = new DataView(packet.buffer);
    view.setUint8(0, 0x45);
    view.setUint16(2, total);
    view.setUint16(6, 0x4000); // don't fragment
    view.setUint8(8, 64);
    view.setUint8(9, 6); // TCP
    packet.set([127, 0, 0, 1], 12);
    packet.set([127, 0, 0, 1], 16);
    const clientPort = 40000 + connection;
    view.setUint16(20, fromClient ? clientPort : port);
    view.setUint16(22, fromClient ? port : clientPort);
    view.setUint32(24, fromClient ? flow.clientSeq : flow.serverSeq);
    view.setUint32(28, flags & ACK ? (fromClient ? flow.serverSeq : flow.clientSeq) : 0);
    view.setUint8(32, 5 << 4);
    view.setUint8(33, flags);
    view.setUint16(34, 65535);
    packet.set(payload, 40);
    const advance = payload.length + (flags & SYN ? 1 : 0);
    if (fromClient) flow.clientSeq = (flow.clientSeq + advance) >>> 0;
    else flow.serverSeq = (flow.serverSeq + advance) >>> 0;
    const header = new Uint8Array(16);
    const headerView = new DataView(header.buffer);
    time += 100;
    headerView.setUint32(0, Math.floor(time / 1e6), true);
    headerView.setUint32(4, time % 1e6, true);
    headerView.setUint32(8, total, true);
    headerView.setUint32(12, total, true);
    records.push(header, packet);
  };
  for (const { connection, direction, frame } of frames) {
    let flow = flows.get(connection);
    if (!flow) {
      flow = { clientSeq: 1000, serverSeq: 5000 };
      flows.set(connection, flow);
      const empty = new Uint8Array(0);
      segment(connection, true, SYN, empty, flow);
      segment(connection, false, SYN | ACK, empty, flow);
      segment(connection, true, ACK, empty, flow);
    }
    segment(connection, direction === "up", PSH_ACK, frame, flow);
  }
  const global = new Uint8Array(24);
  const view = new DataView(global.buffer);
  view.setUint32(0, 0xa1b2c3d4, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, 262144, true);
  view.setUint32(20, LINKTYPE_RAW, true);
  const size = records.reduce((sum, part) => sum + part.length, global.length);
  const out = new Uint8Array(size);
  out.set(global);
  let at = global.length;
  for (const part of records) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
