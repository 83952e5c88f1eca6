import type { Context } from '@slack/bolt';

// Slack retries an event it thinks was lost, and a person can send the same command twice: each
// delivery key (event id, else trigger id) is acted on once. app.ts records the key as a request
// arrives; a request Slack waits on (a command, a click, a form) is acknowledged without waiting for
// that record, and its listener waits for it after the ack, before anything changes. The ack then
// costs no database round trip, and a repeat still changes nothing: only one insert of a key wins.

const FIRST_DELIVERY = 'ferryFirstDelivery';

/** Leaves the pending record of this request's delivery key where its listener finds it. */
export function deferDeliveryCheck(context: Context, first: Promise<boolean>): void {
  context[FIRST_DELIVERY] = first;
}

/**
 * After the ack: whether this is the first delivery of its key. A listener that gets false stops
 * there (the request was handled when it first came). A request with no key is always first.
 */
export async function isFirstDelivery(context: Context): Promise<boolean> {
  const first = context[FIRST_DELIVERY] as Promise<boolean> | undefined;
  return first ?? true;
}
