/**
 * Cross-check with an independent decoder: the captured frames of a real libvirtd, written as a
 * pcap on libvirt's tcp port, are read by tshark with Debian's libvirt-wireshark dissector
 * (generated from the same .x files by libvirt's own genxdrstub.pl), and every message must agree
 * with src/audit/decoder.ts: program, version, procedure, type, serial, status, and every value of
 * the args, ret, msg or error (by field name; the dissector leaves the ADMIN program undecoded,
 * so there only the header is compared). Two places where the dissector is the one that is wrong
 * are named below ({@linkcode dissectorMisreads}, stream data). Needs `tshark` and `libvirt-wireshark`; skipped without
 * them, failed without them when CI=true.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeFrame } from "../../src/audit/decoder.ts";
import { SCHEMA_PROGRAMS } from "../../src/audit/schema.ts";
import { MessageStatus, MessageType } from "../../src/wire/constants.ts";
import { readLibvirtdCapture } from "./_fixture.ts";
import { framesToPcap } from "./_pcap.ts";
import {
  bodyType,
  dissectorMisreads,
  HAVE_TSHARK as HAVE,
  HEADER,
  type Leaves,
  normal,
  ourLeaves,
  tsharkLeaves,
} from "./_tshark.ts";

Deno.test({
  name: "tshark's libvirt dissector agrees with the decoder on every captured message",
  ignore: !HAVE && Deno.env.get("CI") !== "true",
  async fn() {
    assert.ok(
      HAVE,
      "tshark and libvirt-wireshark are needed (apt-get install tshark libvirt-wireshark)",
    );
    const capture = await readLibvirtdCapture();
    const dir = await Deno.makeTempDir();
    try {
      const pcap = join(dir, "capture.pcap");
      await Deno.writeFile(pcap, framesToPcap(capture));
      const output = await new Deno.Command("tshark", {
        args: ["-r", pcap, "-T", "json", "--no-duplicate-keys", "-Y", "libvirt"],
        stdout: "piped",
        stderr: "piped",
        env: { LC_ALL: "C", HOME: dir },
      }).output();
      assert.ok(output.success, new TextDecoder().decode(output.stderr));
      const packets = JSON.parse(new TextDecoder().decode(output.stdout)) as {
        _source: { layers: { libvirt: Record<string, unknown> } };
      }[];
      assert.equal(packets.length, capture.length);
      let bodies = 0;
      const misread: string[] = [];
      for (const [index, packet] of packets.entries()) {
        const theirs = packet._source.layers.libvirt;
        const ours = decodeFrame(capture[index].frame);
        const what = `frame ${index}: ${JSON.stringify(ours).slice(0, 300)}`;
        const program = Number(theirs["libvirt.program"]);
        const schema = SCHEMA_PROGRAMS.get(program)!;
        assert.equal(schema.name, ours.program, what);
        assert.equal(Number(theirs["libvirt.version"]), ours.version, what);
        assert.equal(
          schema.procedures[Number(theirs["libvirt.procedure"])][0],
          ours.procedure,
          what,
        );
        assert.equal(
          Number(theirs["libvirt.type"]),
          MessageType[ours.type as keyof typeof MessageType],
          what,
        );
        assert.equal(Number(theirs["libvirt.serial"]), ours.serial, what);
        assert.equal(
          Number(theirs["libvirt.status"]),
          MessageStatus[ours.status as keyof typeof MessageStatus],
          what,
        );
        if (ours.program === "ADMIN") continue;
        if (ours.data !== undefined) {
          const stream = theirs["libvirt.stream"] as string | undefined;
          // libvirt-wireshark 9.0's `libvirt.stream` field stops 28 bytes (a header's worth)
          // short of the frame's end: for the screenshot it lacks the PNG's IEND trailer, which
          // the frame's last bytes hold. The decoder counts the whole payload.
          assert.equal(stream ? stream.split(":").length + 28 : 0, ours.data, what);
          continue;
        }
        const type = bodyType(ours, program);
        if (type && dissectorMisreads(type)) {
          misread.push(`${ours.procedure} ${ours.type}`);
          continue;
        }
        const body = Object.fromEntries(
          Object.entries(theirs).filter(([key]) => !HEADER.includes(key.slice("libvirt.".length))),
        );
        const their = [] as Leaves;
        tsharkLeaves(body, "", their);
        const our = ourLeaves(ours, program);
        if (our.length) bodies++;
        assert.deepEqual(normal(our), normal(their), what);
      }
      assert.ok(bodies > 300, `${bodies} bodies compared`);
      // Only these captured bodies hold a string named `type` (see dissectorMisreads).
      assert.deepEqual(misread, ["DOMAIN_GET_OS_TYPE REPLY", "DOMAIN_GET_SCHEDULER_TYPE REPLY"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
