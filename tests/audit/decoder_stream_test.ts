import assert from "node:assert/strict";
import { StreamSummary } from "../../src/audit/decoder_stream.ts";
import { MessageStatus, MessageType } from "../../src/wire/constants.ts";
import { concat, frame, words } from "../_helpers/frames.ts";

const UPLOAD = 208; // STORAGE_VOL_UPLOAD, a write stream

function stream(
  status: number,
  body: Uint8Array = new Uint8Array(0),
  type: number = MessageType.STREAM,
) {
  return frame({ procedure: UPLOAD, type, status, serial: 4, body });
}

Deno.test("an upload with holes, finished by the client and confirmed by the daemon", () => {
  const summary = new StreamSummary();
  summary.add(stream(MessageStatus.CONTINUE, new Uint8Array(1000)), true);
  summary.add(stream(MessageStatus.CONTINUE, words(0, 4096, 0), MessageType.STREAM_HOLE), true);
  summary.add(stream(MessageStatus.CONTINUE, new Uint8Array(24)), true);
  summary.add(stream(MessageStatus.CONTINUE), true);
  summary.add(stream(MessageStatus.OK), true);
  assert.equal(summary.done, false);
  summary.add(stream(MessageStatus.OK), false);
  assert.equal(summary.done, true);
  assert.deepEqual(summary.toJSON(), {
    from_client: { bytes: 1024, chunks: 2, holes: 1, hole_bytes: 4096, eof: true },
    from_daemon: { bytes: 0, chunks: 0, holes: 0, hole_bytes: 0, eof: false },
    outcome: "finished",
  });
});

Deno.test("a client abort, then the daemon's answer, ends the stream as aborted", () => {
  const summary = new StreamSummary();
  summary.add(stream(MessageStatus.CONTINUE, new Uint8Array(8)), true);
  summary.add(stream(MessageStatus.ERROR), true);
  assert.equal(summary.outcome, "aborted");
  assert.equal(summary.done, false);
  summary.add(stream(MessageStatus.OK), false);
  assert.equal(summary.done, true);
  assert.equal(summary.toJSON().outcome, "aborted");
});

Deno.test("a daemon error ends the stream with its remote_error", () => {
  const message = new TextEncoder().encode("no space");
  const error = concat(words(1, 18, 1, message.length), message, words(2, 0, 0, 0, 0, 0, 0, 0));
  const summary = new StreamSummary();
  summary.add(stream(MessageStatus.ERROR, error), false);
  assert.equal(summary.done, true);
  const record = summary.toJSON();
  assert.equal(record.outcome, "error");
  assert.equal((record.error as { message: string }).message, "no space");
});

Deno.test("frames that are not stream messages are counted as malformed, not thrown", () => {
  const summary = new StreamSummary();
  summary.add(new Uint8Array(5), false);
  summary.add(frame({ type: MessageType.REPLY }), false);
  summary.add(stream(MessageStatus.CONTINUE, words(1), MessageType.STREAM_HOLE), true);
  assert.deepEqual(summary.toJSON().malformed, { frames: 3, first: "a 5-byte frame" });
});
