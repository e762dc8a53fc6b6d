/**
 * Event registrations of a shared pool. libvirtd keeps one callback per (connection, event,
 * filter): a second identical registration on the same connection fails with "event callback
 * already tracked" (src/conf/object_event.c). So, like libvirt's own client, the pool registers
 * each distinct event once upstream and fans its events out to every client that asked for it;
 * each client gets the daemon's callbackID (client-side callbackIDs are per connection, so sharing
 * one is invisible to them), and the last client to leave deregisters upstream.
 *
 * @module
 */

import { HEADER_BYTES, Program } from "../../wire/constants.ts";
import { frameProcedure, frameProgram } from "../../wire/header.ts";
import { readFirstInt } from "../../wire/message.ts";
import { deregisterFor, isCallbackDeregister, LegacyEventProc } from "../../wire/events.ts";
import type { PoolClient } from "./pool_client.ts";
import type { UpstreamConnection } from "./upstream_connection.ts";

/** What a CALL does to event registrations, read from its header and first argument. */
export type RegistrationCall =
  | {
    action: "register";
    key: string;
    legacyEventId: number;
    deregister: number;
    /** The call's arguments, to register again after a daemon restart. */
    args: Uint8Array;
  }
  | { action: "deregister"; callbackId: number; legacyEventId: number };

/** A client that asked to register while the same registration was on its way upstream. */
export interface WaitingClient {
  /** The client. */
  client: PoolClient;
  /** Its call's serial, for the reply. */
  serial: number;
}

/** One registration upstream, shared by every client that asked for the same events. */
export interface Registration {
  /** The program, procedure and arguments of the registering call. */
  readonly key: string;
  /**
   * Where it lives: its events arrive there and its deregistration must go there. Undefined while
   * the registering call waits for a connection.
   */
  connection: UpstreamConnection | undefined;
  /** Program of the registering call. */
  readonly program: number;
  /** Procedure of the registering call. */
  readonly procedure: number;
  /** The procedure that undoes it. */
  readonly deregister: number;
  /** VIR_DOMAIN_EVENT_ID_* for legacy registrations, -1 for callback-style ones. */
  readonly legacyEventId: number;
  /**
   * The callbackID its clients know, once confirmed (callback-style), else -1: the daemon's first
   * answer, kept when the pool registers again with a restarted daemon.
   */
  callbackId: number;
  /** The callbackID the daemon behind the pool uses now; events carry it. */
  daemonCallbackId: number;
  /** The registering call's arguments (replayed after a daemon restart). */
  readonly args: Uint8Array;
  /** Whether the daemon has confirmed it. */
  confirmed: boolean;
  /** Being registered again on `connection` after a daemon restart; not confirmed there yet. */
  replaying: boolean;
  /** Clients receiving its events. */
  readonly clients: Set<PoolClient>;
  /** Clients waiting for the daemon's answer to the registering call. */
  waiting: WaitingClient[];
  /**
   * Set while its deregistration is on the way: a new registration of the same events must wait
   * for it, or the daemon (which may run the two calls in any order) could refuse it.
   */
  leaving: Promise<void> | undefined;
  /** Resolves {@linkcode Registration.leaving}. */
  left: () => void;
}

/** Classifies a CALL frame; undefined when it neither registers nor deregisters events. */
export function classifyRegistrationCall(frame: Uint8Array): RegistrationCall | undefined {
  const program = frameProgram(frame);
  const procedure = frameProcedure(frame);
  if (program === Program.REMOTE) {
    switch (procedure) {
      case LegacyEventProc.REGISTER:
        return {
          action: "register",
          key: "legacy:0",
          legacyEventId: 0,
          deregister: LegacyEventProc.DEREGISTER,
          args: frame.slice(HEADER_BYTES),
        };
      case LegacyEventProc.REGISTER_ANY: {
        const eventId = readFirstInt(frame) ?? 0;
        return {
          action: "register",
          key: `legacy:${eventId}`,
          legacyEventId: eventId,
          deregister: LegacyEventProc.DEREGISTER_ANY,
          args: frame.slice(HEADER_BYTES),
        };
      }
      case LegacyEventProc.DEREGISTER:
        return { action: "deregister", callbackId: -1, legacyEventId: 0 };
      case LegacyEventProc.DEREGISTER_ANY:
        return { action: "deregister", callbackId: -1, legacyEventId: readFirstInt(frame) ?? 0 };
    }
  }
  const deregister = deregisterFor(program, procedure);
  if (deregister !== undefined) {
    let key = `${program}:${procedure}:`;
    for (let i = HEADER_BYTES; i < frame.length; i++) key += frame[i].toString(16).padStart(2, "0");
    return {
      action: "register",
      key,
      legacyEventId: -1,
      deregister,
      args: frame.slice(HEADER_BYTES),
    };
  }
  if (isCallbackDeregister(program, procedure)) {
    return { action: "deregister", callbackId: readFirstInt(frame) ?? -1, legacyEventId: -1 };
  }
  return undefined;
}

/** The argument of the call that undoes `registration`, if it takes one. */
export function deregisterArgument(registration: Registration): number | undefined {
  if (registration.legacyEventId < 0) return registration.daemonCallbackId;
  return registration.deregister === LegacyEventProc.DEREGISTER
    ? undefined
    : registration.legacyEventId;
}

/** The registrations of one pool, indexed the ways routing needs. */
export class Registrations {
  readonly #byKey = new Map<string, Registration>();
  /** By the callbackID clients know. */
  readonly #byCallbackId = new Map<number, Registration>();
  /** By the callbackID the daemon uses now (differs after a restart). */
  readonly #byDaemonCallbackId = new Map<number, Registration>();
  readonly #byLegacyEventId = new Map<number, Registration>();
  /** Confirmed registrations per connection: a connection holding one stays open. */
  readonly #confirmedOn = new Map<UpstreamConnection, number>();
  /** The registrations each client receives events of; made on first use. */
  readonly #byClient = new Map<PoolClient, Set<Registration>>();

  /** Confirmed registrations living on `connection`. */
  countOn(connection: UpstreamConnection): number {
    return this.#confirmedOn.get(connection) ?? 0;
  }

  /** `client` receives the events of `registration` from now on. */
  join(registration: Registration, client: PoolClient): void {
    registration.clients.add(client);
    let mine = this.#byClient.get(client);
    if (mine === undefined) this.#byClient.set(client, mine = new Set());
    mine.add(registration);
  }

  /** `client` stops receiving the events of `registration`. */
  part(registration: Registration, client: PoolClient): void {
    registration.clients.delete(client);
    const mine = this.#byClient.get(client);
    mine?.delete(registration);
    if (mine?.size === 0) this.#byClient.delete(client);
  }

  /** Takes `client` out of every registration; returns the ones it was in. */
  partAll(client: PoolClient): Registration[] {
    const mine = [...this.#byClient.get(client) ?? []];
    this.#byClient.delete(client);
    for (const registration of mine) registration.clients.delete(client);
    return mine;
  }

  /** Registrations known (confirmed or on their way). */
  get size(): number {
    return this.#byKey.size;
  }

  /** The registration for a registering call's key. */
  byKey(key: string): Registration | undefined {
    return this.#byKey.get(key);
  }

  /** The registration a deregistering call names. */
  named(call: RegistrationCall & { action: "deregister" }): Registration | undefined {
    return call.legacyEventId >= 0
      ? this.#byLegacyEventId.get(call.legacyEventId)
      : this.#byCallbackId.get(call.callbackId);
  }

  /** The registration clients know by this callbackID. */
  byCallbackId(id: number): Registration | undefined {
    return this.#byCallbackId.get(id);
  }

  /** The registration an event carrying the daemon's callbackID `id` belongs to. */
  byDaemonCallbackId(id: number): Registration | undefined {
    return this.#byDaemonCallbackId.get(id);
  }

  /** The legacy registration for a VIR_DOMAIN_EVENT_ID_*. */
  byLegacyEventId(id: number): Registration | undefined {
    return this.#byLegacyEventId.get(id);
  }

  /**
   * Records a registration before its call goes upstream (before any wait), so that clients
   * asking for the same events meanwhile queue behind it instead of registering again.
   */
  begin(
    call: RegistrationCall & { action: "register" },
    program: number,
    procedure: number,
  ): Registration {
    const registration: Registration = {
      key: call.key,
      connection: undefined,
      program,
      procedure,
      deregister: call.deregister,
      legacyEventId: call.legacyEventId,
      callbackId: -1,
      daemonCallbackId: -1,
      args: call.args,
      confirmed: false,
      replaying: false,
      clients: new Set(),
      waiting: [],
      leaving: undefined,
      left: () => {},
    };
    this.#byKey.set(call.key, registration);
    return registration;
  }

  /**
   * The daemon confirmed `registration`; `callbackId` is from its reply (callback-style). Its
   * clients know it by that ID too, unless another registration of the pool already has that
   * ID for its clients (possible after a daemon restart): then by a free one.
   */
  confirm(registration: Registration, callbackId: number): void {
    if (registration.connection === undefined) return;
    registration.confirmed = true;
    this.#countOn(registration.connection, 1);
    if (registration.legacyEventId >= 0) {
      this.#byLegacyEventId.set(registration.legacyEventId, registration);
      return;
    }
    let known = callbackId;
    while (this.#byCallbackId.has(known)) known = (known + 1) | 0;
    registration.callbackId = known;
    registration.daemonCallbackId = callbackId;
    this.#byCallbackId.set(known, registration);
    this.#byDaemonCallbackId.set(callbackId, registration);
  }

  /**
   * `connection` died and the pool will register its registrations again with the restarted
   * daemon: each confirmed one stays known to its clients, by the same IDs, with no connection
   * (an orphan) until {@linkcode Registrations.adopt}. Unconfirmed ones are forgotten. Returns
   * the orphans.
   */
  orphan(connection: UpstreamConnection): Registration[] {
    const orphans: Registration[] = [];
    for (const registration of this.on(connection)) {
      if (!registration.confirmed) {
        this.remove(registration);
        continue;
      }
      registration.connection = undefined;
      if (registration.replaying) {
        registration.replaying = false; // lost again before the daemon answered: still an orphan
        orphans.push(registration);
        continue;
      }
      this.#countOn(connection, -1);
      if (this.#byDaemonCallbackId.get(registration.daemonCallbackId) === registration) {
        this.#byDaemonCallbackId.delete(registration.daemonCallbackId);
      }
      registration.daemonCallbackId = -1;
      orphans.push(registration);
    }
    return orphans;
  }

  /** Confirmed registrations waiting for a connection to be registered on again. */
  orphans(): Registration[] {
    return [...this.#byKey.values()].filter((r) => r.confirmed && r.connection === undefined);
  }

  /** An orphan's registering call goes again on `connection`; it is no orphan from now on. */
  replaying(registration: Registration, connection: UpstreamConnection): void {
    registration.connection = connection;
    registration.replaying = true;
  }

  /** The daemon confirmed a registration made again; it calls it `callbackId` now. */
  adopt(registration: Registration, callbackId: number): void {
    registration.replaying = false;
    const connection = registration.connection!;
    this.#countOn(connection, 1);
    if (registration.legacyEventId >= 0) return;
    registration.daemonCallbackId = callbackId;
    this.#byDaemonCallbackId.set(callbackId, registration);
  }

  #countOn(connection: UpstreamConnection, change: number): void {
    const count = (this.#confirmedOn.get(connection) ?? 0) + change;
    if (count > 0) this.#confirmedOn.set(connection, count);
    else this.#confirmedOn.delete(connection);
  }

  /**
   * Its last user is leaving: events stop being routed to it, and the key stays taken until
   * {@linkcode Registrations.remove} (when the daemon has answered the deregistration).
   */
  beginLeaving(registration: Registration): void {
    this.#unindex(registration);
    registration.leaving = new Promise((resolve) => registration.left = resolve);
  }

  /** Forgets `registration` (refused, deregistered, or its connection died). */
  remove(registration: Registration): void {
    if (this.#byKey.get(registration.key) === registration) this.#byKey.delete(registration.key);
    this.#unindex(registration);
    registration.left();
  }

  #unindex(registration: Registration): void {
    if (!registration.confirmed) return;
    registration.confirmed = false;
    if (registration.connection !== undefined && !registration.replaying) {
      this.#countOn(registration.connection, -1);
    }
    registration.replaying = false;
    if (registration.legacyEventId >= 0) {
      if (this.#byLegacyEventId.get(registration.legacyEventId) === registration) {
        this.#byLegacyEventId.delete(registration.legacyEventId);
      }
      return;
    }
    if (this.#byCallbackId.get(registration.callbackId) === registration) {
      this.#byCallbackId.delete(registration.callbackId);
    }
    if (this.#byDaemonCallbackId.get(registration.daemonCallbackId) === registration) {
      this.#byDaemonCallbackId.delete(registration.daemonCallbackId);
    }
  }

  /** Every registration living on `connection`. */
  on(connection: UpstreamConnection): Registration[] {
    return [...this.#byKey.values()].filter((r) => r.connection === connection);
  }

  /**
   * `connection` died: forget every registration living there; returns the clients that
   * received events through one.
   */
  connectionLost(connection: UpstreamConnection): Set<PoolClient> {
    const clients = new Set<PoolClient>();
    for (const registration of this.on(connection)) {
      for (const client of [...registration.clients]) {
        clients.add(client);
        this.part(registration, client);
      }
      this.remove(registration);
    }
    return clients;
  }
}
