import type { Context } from '@slack/bolt';

// Slack retries an event it thinks was lost, and a person can send the same command twice: each
// delivery key (event id, else trigger id) is acted on once. A request Slack waits on (a command, a
// click, a form) is acknowledged first; its listener then calls isFirstDelivery, which waits for the
// request's turn in the after-ack queue (slack/after-ack.ts) and records the key, before anything
// changes. The ack costs no database round trip, and a repeat still changes nothing: only one insert
// of a key wins.

const FIRST_DELIVERY = 'ferryFirstDelivery';

/**
 * Leaves where its listener finds it what waits for this request's turn and then records its
 * delivery key (called once, after the ack).
 */
export function deferDeliveryCheck(context: Context, afterAck: () => Promise<boolean>): void {
  context[FIRST_DELIVERY] = afterAck;
}

/**
 * After the ack: waits for this request's turn to work, then tells whether this is the first
 * delivery of its key. A listener that gets false stops there (the request was handled when it
 * first came). A request with no key is always first.
 */
export async function isFirstDelivery(context: Context): Promise<boolean> {
  const afterAck = context[FIRST_DELIVERY] as (() => Promise<boolean>) | undefined;
  return afterAck ? afterAck() : true;
}
