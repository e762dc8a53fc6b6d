/**
 * Closing a client that is still sending, so that it reads the error it was just sent: libvirt
 * clients write a whole call before reading, and a socket closed under a writer fails its write
 * with EPIPE ("Cannot write data: Broken pipe") instead of showing the proxy's message.
 *
 * @module
 */

import type { Channel } from "../transport/channel.ts";

/**
 * Half-closes `channel` (the client sees EOF after what was written), then reads and discards
 * what it still sends, into one small buffer, until it hangs up or `ms` pass; then closes it.
 */
export async function lingerClose(channel: Channel, ms = 2000): Promise<void> {
  const timer = setTimeout(() => {
    try {
      channel.close();
    } catch { /* closed */ }
  }, ms);
  try {
    await channel.closeWrite();
    const scratch = new Uint8Array(16384);
    while ((await channel.read(scratch)) !== null) { /* discard */ }
  } catch {
    /* closed by the timer or the peer */
  } finally {
    clearTimeout(timer);
    try {
      channel.close();
    } catch { /* closed */ }
  }
}
