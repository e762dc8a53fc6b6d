/**
 * Waiting in tests: a plain delay, and polling a condition with a deadline that names what was
 * awaited when it fails.
 *
 * @module
 */

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every few ms; rejects naming `what` after `ms`. */
export async function waitUntil(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await delay(2);
  }
}

/** "settled" when `promise` settles within `ms`, else "pending"; never rejects, leaves no timer. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => timer = setTimeout(() => resolve("pending"), ms));
  try {
    return await Promise.race([promise.then(() => "settled", () => "settled"), late]);
  } finally {
    clearTimeout(timer);
  }
}
