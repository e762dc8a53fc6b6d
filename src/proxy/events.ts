/**
 * Which procedures register and deregister event callbacks, and how an event message names its
 * recipient. Facts from libvirt 9.0's src/remote/remote_protocol.x and qemu_protocol.x: callback
 * registrations reply `{ int callbackID; }` and their deregistrations take it; every event message
 * whose struct begins with `int callbackID` is routed by it; the legacy domain events (structs
 * beginning with `remote_nonnull_domain dom`) go to every client that registered the legacy way.
 *
 * @module
 */

import { Program } from "../wire/constants.ts";

/** Key of a (program, procedure) pair in the tables below. */
function key(program: number, procedure: number): number {
  return program === Program.QEMU ? -procedure : procedure;
}

/** Callback registration procedure → its deregistration procedure. */
const CALLBACK_REGISTER = new Map<number, number>([
  [313, 314], // CONNECT_NETWORK_EVENT_REGISTER_ANY
  [316, 317], // CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY
  [368, 369], // CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY
  [374, 375], // CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY
  [380, 381], // CONNECT_SECRET_EVENT_REGISTER_ANY
  [key(Program.QEMU, 4), 5], // QEMU_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER
]);

const CALLBACK_DEREGISTER = new Set<number>(
  [...CALLBACK_REGISTER.entries()].map(([register, deregister]) =>
    register < 0 ? -deregister : deregister
  ),
);

/** Legacy registrations (no callbackID) and their deregistrations. */
export const LegacyEventProc = {
  REGISTER: 105,
  DEREGISTER: 106,
  REGISTER_ANY: 167,
  DEREGISTER_ANY: 168,
} as const;

/**
 * Legacy domain event messages (no callbackID), indexed by their VIR_DOMAIN_EVENT_ID_*: lifecycle
 * 0, reboot 1, rtc change 2, ... device removed 15.
 */
const LEGACY_EVENTS = [
  107,
  169,
  170,
  171,
  172,
  173,
  195,
  224,
  241,
  248,
  268,
  269,
  270,
  276,
  292,
  311,
];

/**
 * The deregistration procedure that undoes the callback registration `procedure`, or undefined
 * when `procedure` registers no callback.
 */
export function deregisterFor(program: number, procedure: number): number | undefined {
  if (program !== Program.REMOTE && program !== Program.QEMU) return undefined;
  return CALLBACK_REGISTER.get(key(program, procedure));
}

/** Whether `procedure` deregisters a callback by its callbackID. */
export function isCallbackDeregister(program: number, procedure: number): boolean {
  if (program !== Program.REMOTE && program !== Program.QEMU) return false;
  return CALLBACK_DEREGISTER.has(key(program, procedure));
}

/**
 * The VIR_DOMAIN_EVENT_ID_* of the legacy domain event message `procedure`, or -1 when it is not
 * one (callback-style events then carry their callbackID first).
 */
export function legacyEventId(program: number, procedure: number): number {
  return program === Program.REMOTE ? LEGACY_EVENTS.indexOf(procedure) : -1;
}
