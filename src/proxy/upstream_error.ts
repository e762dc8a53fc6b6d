/**
 * The error a client gets when its call cannot be served upstream, with the libvirt code and
 * domain it should carry.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import { SaslError } from "../transport/sasl/authenticate.ts";
import { ErrorCode, ErrorDomain } from "../wire/constants.ts";

/** An error the daemon returned, kept whole so clients see the daemon's own code and text. */
export class UpstreamError extends Error {
  /** virErrorNumber. */
  readonly code: number;
  /** virErrorDomain. */
  readonly domain: number;

  /** Makes the error. */
  constructor(message: string, code: number = ErrorCode.RPC, domain: number = ErrorDomain.RPC) {
    super(message);
    this.name = "UpstreamError";
    this.code = code;
    this.domain = domain;
  }

  /**
   * `error` as an UpstreamError: itself when it is one, a failed SASL login with its own code
   * (VIR_ERR_AUTH_FAILED), else its message with VIR_ERR_RPC.
   */
  static from(error: unknown): UpstreamError {
    if (error instanceof UpstreamError) return error;
    if (error instanceof SaslError) {
      return new UpstreamError(error.message, error.code, error.domain);
    }
    return new UpstreamError(errorMessage(error));
  }
}

/** An error's message without the documentation link some TLS errors end with. */
export function describeError(error: unknown): string {
  return errorMessage(error).replace(/: https?:\/\/\S+$/, "");
}
