/**
 * What a dedicated session does with each frame its client sends, decided from the header: forward
 * it (noting calls so that they can be answered if the upstream goes), answer it with an error
 * (policy, shutdown, file descriptors, a gone upstream), or drop it (stream data for a gone
 * upstream). One instance per session, so that nothing is allocated per frame.
 *
 * @module
 */

import { ErrorCode, MessageType, Program, RemoteProc } from "../../wire/constants.ts";
import { frameProcedure, frameProgram, frameSerial, frameType } from "../../wire/header.ts";
import { patchOpenReadOnly } from "../../wire/open_args.ts";
import { errorMessage } from "../../log/error_message.ts";
import type { ClientClock } from "../client_clock.ts";
import type { InflightCalls } from "../inflight.ts";
import type { Policy } from "../policy.ts";

/** The proxy answers the frame with this error instead of forwarding it. */
export interface Refusal {
  /** The error message. */
  message: string;
  /** virErrorNumber. */
  code: number;
}

/** A frame's fate: forwarded (undefined), refused, or dropped. */
export type Verdict = Refusal | "drop" | undefined;

/** Options for {@linkcode CallInspector}. */
export interface CallInspectorOptions {
  /** Set VIR_CONNECT_RO in CONNECT_OPEN. */
  readonly: boolean;
  /** Procedures the client may call. */
  policy: Policy | undefined;
  /** Where calls are recorded. */
  inflight: InflightCalls;
  /** Notes the client's CONNECT_OPEN (open_timeout). */
  clock: ClientClock;
}

/** Looks at a dedicated client's frames; the session flips its fields as its state changes. */
export class CallInspector {
  readonly #options: CallInspectorOptions;
  /** New calls are refused: the proxy is shutting down. */
  draining = false;
  /** Set when the upstream ended: calls get this message, stream data is dropped. */
  upstreamGone: string | undefined;
  /** The client sent CONNECT_CLOSE: the daemon closing the connection next is expected. */
  clientClosing = false;
  /** Serial of the client's CONNECT_OPEN while its reply is awaited, else -1. */
  openSerial = -1;

  /** Inspects for one session. */
  constructor(options: CallInspectorOptions) {
    this.#options = options;
  }

  /**
   * Looks at a client frame's header: records calls, patches the read-only flag into
   * CONNECT_OPEN, and says whether the proxy must answer or drop it instead of forwarding it.
   */
  inspect(frame: Uint8Array): Verdict {
    const type = frameType(frame);
    if (this.upstreamGone !== undefined) {
      return type === MessageType.CALL || type === MessageType.CALL_WITH_FDS
        ? { message: this.upstreamGone, code: ErrorCode.RPC }
        : "drop";
    }
    if (type === MessageType.CALL) {
      if (this.draining) return { message: "virtmux is shutting down", code: ErrorCode.RPC };
      const program = frameProgram(frame);
      const procedure = frameProcedure(frame);
      const denied = this.#options.policy?.refusal(program, procedure);
      if (denied !== undefined) return { message: denied, code: ErrorCode.OPERATION_DENIED };
      // ADMIN's CONNECT_OPEN has the same number: either one counts for open_timeout (procedure 1
      // of QEMU or LXC is something else). So does the start of a login: a person may be typing
      // a SASL password, or polkit asking.
      if (
        (procedure === RemoteProc.CONNECT_OPEN &&
          (program === Program.REMOTE || program === Program.ADMIN)) ||
        (program === Program.REMOTE &&
          (procedure === RemoteProc.AUTH_SASL_INIT || procedure === RemoteProc.AUTH_POLKIT))
      ) {
        this.#options.clock.opened = true;
        // Its reply lifts the pre-open frame limit.
        if (procedure === RemoteProc.CONNECT_OPEN) this.openSerial = frameSerial(frame);
      }
      if (program === Program.REMOTE) {
        if (procedure === RemoteProc.CONNECT_OPEN && this.#options.readonly) {
          // The flags word is found by decoding, not taken as the last word: libvirt ignores
          // bytes after the arguments, so a padded open would otherwise dodge the flag.
          try {
            patchOpenReadOnly(frame);
          } catch (error) {
            return { message: errorMessage(error), code: ErrorCode.RPC };
          }
        } else if (procedure === RemoteProc.CONNECT_CLOSE) {
          this.clientClosing = true;
        }
      }
      this.#options.inflight.add(program, procedure, frameSerial(frame));
      return undefined;
    }
    if (type === MessageType.CALL_WITH_FDS) {
      return {
        message: "Passing file descriptors is not supported through virtmux",
        code: ErrorCode.NO_SUPPORT,
      };
    }
    return undefined;
  }
}
