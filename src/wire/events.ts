/**
 * Which procedures register and deregister event callbacks, and how an event message names its
 * recipient, as lookups over the tables generated from libvirt's .x files
 * (./event_procedures.ts). Callback registrations reply `{ int callbackID; }` and their
 * deregistrations take it; every event message whose struct begins with `int callbackID` is routed
 * by it; the legacy domain events (structs beginning with `remote_nonnull_domain dom`) go to every
 * client that registered the legacy way, by their VIR_DOMAIN_EVENT_ID_*.
 *
 * @example Classify procedures
 * ```ts
 * import assert from "node:assert/strict";
 * import { Program } from "./constants.ts";
 * import { deregisterFor, isCallbackEvent, legacyEventId } from "./events.ts";
 *
 * assert.equal(deregisterFor(Program.REMOTE, 316), 317);
 * assert.ok(isCallbackEvent(Program.REMOTE, 318));
 * assert.equal(legacyEventId(Program.REMOTE, 107), 0);
 * ```
 *
 * @module
 */

import { Program } from "./constants.ts";
import {
  CALLBACK_EVENTS,
  CALLBACK_REGISTRATIONS,
  LEGACY_DOMAIN_EVENTS,
  LEGACY_EVENT_REGISTRATIONS,
} from "./event_procedures.ts";

/** Legacy registrations (no callbackID) and their deregistrations (remote_protocol.x). */
export const LegacyEventProc = {
  REGISTER: LEGACY_EVENT_REGISTRATIONS.CONNECT_DOMAIN_EVENT_REGISTER,
  DEREGISTER: LEGACY_EVENT_REGISTRATIONS.CONNECT_DOMAIN_EVENT_DEREGISTER,
  REGISTER_ANY: LEGACY_EVENT_REGISTRATIONS.CONNECT_DOMAIN_EVENT_REGISTER_ANY,
  DEREGISTER_ANY: LEGACY_EVENT_REGISTRATIONS.CONNECT_DOMAIN_EVENT_DEREGISTER_ANY,
} as const;

/** Per program: callback registration procedure → its deregistration procedure. */
const REGISTER = new Map<number, ReadonlyMap<number, number>>(
  Object.entries(CALLBACK_REGISTRATIONS).map(([program, pairs]) => [
    Number(program),
    new Map(Object.entries(pairs).map(([register, deregister]) => [Number(register), deregister])),
  ]),
);

/** Per program: the callback deregistration procedures. */
const DEREGISTER = new Map<number, ReadonlySet<number>>(
  [...REGISTER].map(([program, pairs]) => [program, new Set(pairs.values())]),
);

/** Per program: event messages whose body begins with `int callbackID`. */
const EVENTS = new Map<number, ReadonlySet<number>>(
  Object.entries(CALLBACK_EVENTS).map(([program, events]) => [Number(program), new Set(events)]),
);

/** REMOTE legacy domain event message → its VIR_DOMAIN_EVENT_ID_*. */
const LEGACY_IDS = new Map<number, number>(LEGACY_DOMAIN_EVENTS.map((event, id) => [event, id]));

/**
 * The deregistration procedure that undoes the callback registration `procedure`, or undefined
 * when `procedure` registers no callback.
 */
export function deregisterFor(program: number, procedure: number): number | undefined {
  return REGISTER.get(program)?.get(procedure);
}

/** Whether `procedure` deregisters a callback by its callbackID. */
export function isCallbackDeregister(program: number, procedure: number): boolean {
  return DEREGISTER.get(program)?.has(procedure) ?? false;
}

/**
 * Whether the event message `procedure` begins with the `int callbackID` its registration
 * returned. False for the legacy domain events and for CONNECT_EVENT_CONNECTION_CLOSED, whose
 * first int is a reason.
 */
export function isCallbackEvent(program: number, procedure: number): boolean {
  return EVENTS.get(program)?.has(procedure) ?? false;
}

/**
 * The VIR_DOMAIN_EVENT_ID_* of the legacy domain event message `procedure`, or -1 when it is not
 * one (callback-style events then carry their callbackID first).
 */
export function legacyEventId(program: number, procedure: number): number {
  return program === Program.REMOTE ? LEGACY_IDS.get(procedure) ?? -1 : -1;
}
