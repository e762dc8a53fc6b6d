import assert from "node:assert/strict";
import type { SessionObserver, SessionObservers } from "../../src/proxy/observer.ts";
import { composeObservers } from "../../src/proxy/observer_composite.ts";

function recording(name: string, log: string[], wait?: Promise<void>): SessionObservers {
  return {
    observe(identity) {
      if (identity.client === "none") return undefined;
      const observer: SessionObserver = {
        fromClient: (frame) => {
          log.push(`${name} from ${frame.length}`);
          return wait;
        },
        toClient: (frame) => {
          log.push(`${name} to ${frame.length}`);
          return undefined;
        },
        closed: (reason) => void log.push(`${name} closed ${reason}`),
      };
      return observer;
    },
  };
}

const UPSTREAM = { name: "hv1", uri: "test:///default", shared: false };

Deno.test("no observers make none; one is passed through as it is", () => {
  assert.equal(composeObservers([]), undefined);
  assert.equal(composeObservers([undefined]), undefined);
  const one = recording("a", []);
  assert.equal(composeObservers([undefined, one]), one);
});

Deno.test("two observers are both called, in order, and their waits joined", async () => {
  const log: string[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  const both = composeObservers([recording("audit", log, gate), recording("metrics", log)])!;
  const observer = both.observe({ listener: "/s", client: 1 }, UPSTREAM)!;
  const wait = observer.fromClient(new Uint8Array(28));
  assert.ok(wait instanceof Promise);
  assert.equal(observer.toClient(new Uint8Array(32)), undefined);
  observer.closed("finished");
  assert.deepEqual(log, [
    "audit from 28",
    "metrics from 28",
    "audit to 32",
    "metrics to 32",
    "audit closed finished",
    "metrics closed finished",
  ]);
  release();
  await wait;
});

Deno.test("a session neither observer watches gets none", () => {
  const both = composeObservers([recording("a", []), recording("b", [])])!;
  assert.equal(both.observe({ listener: "/s", client: "none" }, UPSTREAM), undefined);
});
