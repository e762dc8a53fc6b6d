/**
 * A listener's procedure policy, decided from a frame's header alone (program and procedure).
 * The daemon never sees a refused call; the client gets VIR_ERR_OPERATION_DENIED naming the
 * listener and the procedure. Which programs a listener accepts is checked earlier, with the
 * frame (src/wire/frame_check.ts).
 *
 * @module
 */

import { Program, programIndex, RemoteProc } from "../wire/constants.ts";
import { procedureName, type ProcedureRef } from "../wire/procedure_names.ts";

/** What a listener allows. */
export interface PolicyOptions {
  /** The listener's socket path, named in refusals. */
  listener: string;
  /** Procedures refused. */
  deny: readonly ProcedureRef[];
  /** When non-empty, only these procedures (and the connection-level ones) are allowed. */
  allow: readonly ProcedureRef[];
}

/** Calls every client needs to connect at all; an allow list always includes them. */
const CONNECTION_PROCEDURES: readonly number[] = [
  RemoteProc.CONNECT_OPEN,
  RemoteProc.CONNECT_CLOSE,
  RemoteProc.AUTH_LIST,
  RemoteProc.CONNECT_SUPPORTS_FEATURE,
  RemoteProc.CONNECT_REGISTER_CLOSE_CALLBACK,
  RemoteProc.CONNECT_UNREGISTER_CLOSE_CALLBACK,
  RemoteProc.AUTH_SASL_INIT,
  RemoteProc.AUTH_SASL_START,
  RemoteProc.AUTH_SASL_STEP,
  RemoteProc.AUTH_POLKIT,
];

/** ADMIN_PROC_CONNECT_OPEN and ADMIN_PROC_CONNECT_CLOSE (src/admin/admin_protocol.x). */
const ADMIN_CONNECTION_PROCEDURES: readonly number[] = [1, 2];

/** One integer per (program, procedure), so a lookup per call allocates nothing. */
function key(program: number, procedure: number): number {
  return (programIndex(program) + 1) * 0x1000000 + (procedure & 0xffffff);
}

/**
 * A compiled policy. {@linkcode Policy.refusal} is called for every CALL and costs one or two
 * set lookups.
 */
export class Policy {
  readonly #listener: string;
  readonly #deny: ReadonlySet<number>;
  readonly #allow: ReadonlySet<number> | undefined;

  /** Compiles `options`. */
  constructor(options: PolicyOptions) {
    this.#listener = options.listener;
    this.#deny = new Set(options.deny.map((p) => key(p.program, p.procedure)));
    this.#allow = options.allow.length === 0 ? undefined : new Set([
      ...options.allow.map((p) => key(p.program, p.procedure)),
      ...CONNECTION_PROCEDURES.map((procedure) => key(Program.REMOTE, procedure)),
      ...ADMIN_CONNECTION_PROCEDURES.map((procedure) => key(Program.ADMIN, procedure)),
    ]);
  }

  /** Why a CALL of `procedure` in `program` is refused, or undefined when it is allowed. */
  refusal(program: number, procedure: number): string | undefined {
    const k = key(program, procedure);
    if (this.#deny.has(k) || (this.#allow !== undefined && !this.#allow.has(k))) {
      return `Procedure ${procedureName(program, procedure)} is denied by the policy of ` +
        `listener "${this.#listener}"`;
    }
    return undefined;
  }
}
