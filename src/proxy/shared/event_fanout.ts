/**
 * Event callbacks through a shared pool. libvirtd keeps one callback per (connection, event,
 * filter), so the pool registers each distinct event once upstream and fans its events out to
 * every client that asked: a second client's registration is answered here from the one held, a
 * client's deregistration is answered here while others still use it, and the last user's
 * deregistration (or its leaving) undoes it upstream. {@linkcode Registrations} is the index;
 * this is what the pool does with it.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import type { Logger } from "../../log/logger.ts";
import { ErrorCode, HEADER_BYTES, MessageType, PROGRAM_VERSION } from "../../wire/constants.ts";
import { encodeErrorReply } from "../../wire/error_reply.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  patchSerial,
  readHeader,
  writeU32,
} from "../../wire/header.ts";
import { encodeOkReply, encodeWords, readFirstInt } from "../../wire/message.ts";
import { isCallbackEvent, legacyEventId, LegacyEventProc } from "../../wire/events.ts";
import type { PoolClient } from "./pool_client.ts";
import {
  deregisterArgument,
  type Registration,
  type RegistrationCall,
  Registrations,
} from "./registrations.ts";
import type { UpstreamConnection } from "./upstream_connection.ts";

/** Options for {@linkcode EventFanout}. */
export interface EventFanoutOptions {
  /** Whether `client` is still attached to the pool. */
  attached: (client: PoolClient) => boolean;
  /**
   * Forwards a registering or deregistering call upstream, on `pinnedTo` when given; resolves
   * once written, rejects when no connection could take it.
   */
  forward: (
    client: PoolClient,
    frame: Uint8Array,
    registration: Registration | undefined,
    leaving: Registration | undefined,
    pinnedTo: UpstreamConnection | undefined,
  ) => Promise<void> | undefined;
  /**
   * Sends a call of the proxy's own on `connection`, nobody's reply: a deregistration
   * (`leaving`), or a registration made again after a daemon restart (`registration`).
   */
  callOwn: (
    connection: UpstreamConnection,
    program: number,
    procedure: number,
    body: Uint8Array | undefined,
    registration: Registration | undefined,
    leaving: Registration | undefined,
  ) => void;
  /** Closes clients that lost events for good (a registration the new daemon refused). */
  lose: (clients: Iterable<PoolClient>, reason: string) => void;
  /** Logger with the pool's context. */
  logger: Logger;
}

/** A pool's event registrations and the routing of its events. */
export class EventFanout {
  /** The index of registrations. */
  readonly registrations: Registrations = new Registrations();
  readonly #options: EventFanoutOptions;

  /** Fan-out for one pool. */
  constructor(options: EventFanoutOptions) {
    this.#options = options;
  }

  /**
   * Handles a client's registering or deregistering call: answered here when the pool already
   * holds (or is making) the same registration, else forwarded. Resolves once the frame may be
   * reused.
   */
  async submit(client: PoolClient, frame: Uint8Array, call: RegistrationCall): Promise<void> {
    const registrations = this.registrations;
    const program = frameProgram(frame);
    const procedure = frameProcedure(frame);
    if (call.action === "register") {
      let held = registrations.byKey(call.key);
      while (held?.leaving !== undefined) {
        await held.leaving; // a deregistration of the same events is on its way: let it land
        held = registrations.byKey(call.key);
      }
      if (held !== undefined && !held.connection?.closed) {
        if (!held.confirmed) {
          // Answered with the daemon's reply to the call already on its way.
          held.waiting.push({ client, serial: frameSerial(frame) });
          return;
        }
        registrations.join(held, client);
        return client.deliver(encodeOkReply(frame, registrationReply(held, procedure)));
      }
      const registration = registrations.begin(call, program, procedure);
      return this.#options.forward(client, frame, registration, undefined, undefined);
    }
    const held = registrations.named(call);
    if (held === undefined || !held.clients.has(client)) {
      return client.deliver(encodeErrorReply(
        readHeader(frame),
        call.legacyEventId >= 0
          ? `Domain event ${call.legacyEventId} is not registered on this connection`
          : `Event callback ${call.callbackId} is not registered on this connection`,
        { code: ErrorCode.INVALID_ARG },
      ));
    }
    registrations.part(held, client);
    if (held.clients.size > 0 || held.connection === undefined || held.replaying) {
      // Others still use it: the daemon keeps it; this client just stops getting its events.
      // Or it waits for a restarted daemon: then it is simply not registered again (an orphan),
      // or undone once the daemon confirms it again (being replayed).
      if (held.clients.size === 0 && held.connection === undefined) registrations.remove(held);
      return client.deliver(encodeOkReply(frame, deregistrationReply(held)));
    }
    if (held.daemonCallbackId !== held.callbackId && held.legacyEventId < 0) {
      writeU32(frame, HEADER_BYTES, held.daemonCallbackId); // the daemon's own ID goes upstream
    }
    registrations.beginLeaving(held);
    // The last user's call undoes it where it lives.
    return this.#options.forward(client, frame, undefined, held, held.connection);
  }

  /**
   * The daemon answered a registering call: confirm or drop the registration, and answer the
   * clients that asked for the same events meanwhile (copies of the reply with their serials).
   * `client` is the caller, if still attached. Returns deliveries to wait for.
   */
  replied(
    registration: Registration,
    ok: boolean,
    frame: Uint8Array,
    client: PoolClient | undefined,
    deliveries: (Promise<void> | undefined)[],
  ): void {
    const registrations = this.registrations;
    if (registration.replaying) return this.#replayed(registration, ok, frame);
    if (ok) registrations.confirm(registration, readFirstInt(frame) ?? -1);
    else registrations.remove(registration);
    for (const waiter of registration.waiting) {
      if (!this.#options.attached(waiter.client)) continue;
      const copy = frame.slice();
      patchSerial(copy, waiter.serial);
      if (ok) registrations.join(registration, waiter.client);
      deliveries.push(waiter.client.deliver(copy));
    }
    registration.waiting = [];
    if (ok && client !== undefined) registrations.join(registration, client);
    if (ok && registration.clients.size === 0) this.#undo(registration); // everyone left
  }

  /** Routes an event MESSAGE to the clients registered for it. */
  deliver(frame: Uint8Array): Promise<void> | undefined {
    const program = frameProgram(frame);
    const procedure = frameProcedure(frame);
    const eventId = legacyEventId(program, procedure);
    // Only callback-style events start with a callbackID (CONNECT_EVENT_CONNECTION_CLOSED starts
    // with a reason, and goes with the connection, which every client then sees die).
    const callbackId = eventId < 0 && isCallbackEvent(program, procedure)
      ? readFirstInt(frame)
      : undefined;
    const registration = eventId >= 0
      ? this.registrations.byLegacyEventId(eventId)
      : callbackId === undefined
      ? undefined
      : this.registrations.byDaemonCallbackId(callbackId);
    if (registration === undefined || registration.clients.size === 0) {
      this.#options.logger.debug("Dropped an event nobody registered for", {
        callback: callbackId,
      });
      return undefined;
    }
    if (callbackId !== undefined && registration.callbackId !== callbackId) {
      writeU32(frame, HEADER_BYTES, registration.callbackId); // the ID its clients know
    }
    if (registration.clients.size === 1) {
      for (const client of registration.clients) return client.deliver(frame);
    }
    return Promise.all([...registration.clients].map((c) => c.deliver(frame))).then(() => {});
  }

  /** `client` left: registrations it was the last user of are undone upstream. */
  leave(client: PoolClient): void {
    for (const registration of this.registrations.partAll(client)) {
      if (registration.clients.size === 0 && registration.confirmed) this.#undo(registration);
    }
  }

  /**
   * A connection opened after the pool lost its last one (a daemon restart): register every
   * orphaned registration again on it, with the same arguments. Returns how many.
   */
  replay(connection: UpstreamConnection): number {
    const orphans = this.registrations.orphans();
    for (const registration of orphans) {
      this.registrations.replaying(registration, connection);
      this.#options.callOwn(
        connection,
        registration.program,
        registration.procedure,
        registration.args,
        registration,
        undefined,
      );
    }
    return orphans.length;
  }

  /** The daemon answered a registration made again after a restart. */
  #replayed(registration: Registration, ok: boolean, frame: Uint8Array): void {
    if (ok) {
      this.registrations.adopt(registration, readFirstInt(frame) ?? -1);
      if (registration.clients.size === 0) this.#undo(registration); // everyone left meanwhile
      return;
    }
    const clients = [...registration.clients];
    for (const client of clients) this.registrations.part(registration, client);
    this.registrations.remove(registration);
    this.#options.logger.warning("The restarted daemon refused an event registration", {
      procedure: registration.procedure,
      clients: clients.length,
    });
    this.#options.lose(
      clients,
      "The restarted daemon refused to register the client's event callback again",
    );
  }

  /** A registering call never reached the daemon: its waiters get the error too. */
  abandon(registration: Registration, error: unknown): void {
    this.registrations.remove(registration);
    const message = errorMessage(error);
    for (const waiter of registration.waiting) {
      if (!this.#options.attached(waiter.client)) continue;
      waiter.client.deliver(encodeErrorReply({
        length: 0,
        program: registration.program,
        version: PROGRAM_VERSION,
        procedure: registration.procedure,
        type: MessageType.CALL,
        serial: waiter.serial,
        status: 0,
      }, message))?.catch(() => {});
    }
    registration.waiting = [];
  }

  /** Deregisters a registration upstream; its key stays taken until the daemon answers. */
  #undo(registration: Registration): void {
    const connection = registration.connection;
    if (connection === undefined || connection.closed) {
      this.registrations.remove(registration);
      return;
    }
    this.registrations.beginLeaving(registration);
    const argument = deregisterArgument(registration);
    this.#options.callOwn(
      connection,
      registration.program,
      registration.deregister,
      argument === undefined ? undefined : encodeWords(argument),
      undefined,
      registration,
    );
  }
}

/** The reply body of a registering call answered from a held registration. */
function registrationReply(registration: Registration, procedure: number): Uint8Array | undefined {
  if (registration.legacyEventId < 0) return encodeWords(registration.callbackId);
  // CONNECT_DOMAIN_EVENT_REGISTER returns { int cb_registered }; REGISTER_ANY returns nothing.
  return procedure === LegacyEventProc.REGISTER ? encodeWords(1) : undefined;
}

/** The reply body of a deregistering call answered locally. */
function deregistrationReply(registration: Registration): Uint8Array | undefined {
  // CONNECT_DOMAIN_EVENT_DEREGISTER returns { int cb_registered }; the others return nothing.
  return registration.deregister === LegacyEventProc.DEREGISTER ? encodeWords(0) : undefined;
}
