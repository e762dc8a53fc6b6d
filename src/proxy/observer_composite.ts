/**
 * Several session observers as one: when both the audit log and the metrics are on, each
 * session gets one observer that calls both, so the sessions keep their single `undefined` check
 * per frame.
 *
 * @module
 */

import type {
  ClientIdentity,
  ObservedUpstream,
  SessionObserver,
  SessionObservers,
} from "./observer.ts";

/**
 * Combines `list` (entries may be undefined: left out). Returns undefined when none is left, the
 * one itself when only one is, else an observer factory that calls each in order.
 *
 * @example Audit and metrics together
 * ```ts
 * import assert from "node:assert/strict";
 * import { composeObservers } from "./observer_composite.ts";
 *
 * assert.equal(composeObservers([undefined, undefined]), undefined);
 * ```
 */
export function composeObservers(
  list: (SessionObservers | undefined)[],
): SessionObservers | undefined {
  const present = list.filter((o) => o !== undefined);
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return {
    observe(identity: ClientIdentity, upstream: ObservedUpstream): SessionObserver | undefined {
      const observers = present.map((o) => o.observe(identity, upstream)).filter((o) =>
        o !== undefined
      );
      if (observers.length === 0) return undefined;
      if (observers.length === 1) return observers[0];
      return new CompositeObserver(observers);
    },
  };
}

/** Calls each observer in turn; waits for those that ask to be waited for. */
class CompositeObserver implements SessionObserver {
  readonly #observers: SessionObserver[];

  constructor(observers: SessionObserver[]) {
    this.#observers = observers;
  }

  fromClient(frame: Uint8Array): Promise<void> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const observer of this.#observers) {
      const wait = observer.fromClient(frame);
      if (wait !== undefined) (waits ??= []).push(wait);
    }
    return settle(waits);
  }

  toClient(frame: Uint8Array): Promise<void> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const observer of this.#observers) {
      const wait = observer.toClient(frame);
      if (wait !== undefined) (waits ??= []).push(wait);
    }
    return settle(waits);
  }

  closed(reason: string): void {
    for (const observer of this.#observers) observer.closed(reason);
  }
}

function settle(waits: Promise<void>[] | undefined): Promise<void> | undefined {
  if (waits === undefined) return undefined;
  return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => {});
}
