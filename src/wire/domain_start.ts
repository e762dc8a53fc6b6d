/**
 * The flags of the calls that start a domain, read from their arguments: the proxy must see
 * VIR_DOMAIN_START_AUTODESTROY, which ties a domain's life to the connection that started it.
 *
 * remote_protocol.x:
 * - `remote_domain_create_xml_args { remote_nonnull_string xml_desc; unsigned int flags; }`
 * - `remote_domain_create_with_flags_args { remote_nonnull_domain dom; unsigned int flags; }`,
 *   where `remote_nonnull_domain { remote_nonnull_string name; remote_uuid uuid; int id; }`
 *
 * @module
 */

import { HEADER_BYTES, Program, RemoteProc, STRING_MAX } from "./constants.ts";
import { frameProcedure, frameProgram, readU32 } from "./header.ts";

/** VIR_DOMAIN_START_AUTODESTROY (include/libvirt/libvirt-domain.h): destroy on disconnect. */
export const DOMAIN_START_AUTODESTROY = 2;

/** VIR_UUID_BUFLEN: a remote_uuid is 16 opaque bytes. */
const UUID_BYTES = 16;

/**
 * The start flags of a DOMAIN_CREATE_XML or DOMAIN_CREATE_WITH_FLAGS call, or undefined for any
 * other frame.
 *
 * @throws {RangeError} when the arguments are shorter than they declare.
 */
export function domainStartFlags(frame: Uint8Array): number | undefined {
  if (frameProgram(frame) !== Program.REMOTE) return undefined;
  const procedure = frameProcedure(frame);
  let at = HEADER_BYTES;
  if (procedure === RemoteProc.DOMAIN_CREATE_XML) {
    at = skipString(frame, at);
  } else if (procedure === RemoteProc.DOMAIN_CREATE_WITH_FLAGS) {
    at = skipString(frame, at) + UUID_BYTES + 4;
  } else {
    return undefined;
  }
  if (at + 4 > frame.length) {
    throw new RangeError("Cannot read the start flags: arguments are truncated");
  }
  return readU32(frame, at);
}

/** The offset after the XDR string at `at`. */
function skipString(frame: Uint8Array, at: number): number {
  if (at + 4 > frame.length) throw new RangeError("Cannot read a string: arguments are truncated");
  const length = readU32(frame, at);
  if (length > STRING_MAX) {
    throw new RangeError(`Cannot read a string of ${length} bytes: the limit is ${STRING_MAX}`);
  }
  return at + 4 + ((length + 3) & ~3);
}
