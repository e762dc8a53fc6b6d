/**
 * A worker for tests/transport/sasl/cyrus_resident_test.ts: opens and closes one Cyrus SASL session in an
 * isolate of its own, then says so.
 *
 * @module
 */

import { CyrusSaslClient } from "../../../src/transport/sasl/cyrus.ts";

/** The worker's global scope (the project type-checks as a main module, not a worker). */
const scope = self as unknown as { onmessage: () => void; postMessage(message: string): void };

scope.onmessage = () => {
  const client = new CyrusSaslClient({ hostname: "localhost" });
  client.dispose();
  scope.postMessage("done");
};
