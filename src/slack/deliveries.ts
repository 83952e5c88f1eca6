import type { Context } from '@slack/bolt';

// Slack retries an event it thinks was lost, and a person can send the same command twice: each
// delivery key (event id, else trigger id) is acted on once. A request Slack waits on (a command, a
// click, a form) is acknowledged first; its listener then calls isFirstDelivery, which waits for the
// request's turn in the after-ack queue (slack/after-ack.ts) and records the key, before anything
// changes. The ack costs no database round trip, and a repeat still changes nothing: only one insert
// of a key wins.

const FIRST_DELIVERY = 'ferryFirstDelivery';

/** What records a request's delivery key after its ack: after its turn comes, or at once. */
export interface DeliveryCheck {
  afterTurn: () => Promise<boolean>;
  withoutTurn: () => Promise<boolean>;
}

/** Leaves where its listener finds it what records this request's delivery key, after the ack. */
export function deferDeliveryCheck(context: Context, check: DeliveryCheck): void {
  context[FIRST_DELIVERY] = check;
}

/**
 * After the ack: waits for this request's turn to work, then tells whether this is the first
 * delivery of its key. A listener that gets false stops there (the request was handled when it
 * first came). A request with no key is always first.
 */
export async function isFirstDelivery(
  context: Context,
  /**
   * `withoutTurn`: for work with a deadline of its own that cannot wait behind other requests'
   * replies (a modal opens only within 3 s of its trigger); it is small, one Web API call.
   */
  options: { withoutTurn?: boolean } = {},
): Promise<boolean> {
  const check = context[FIRST_DELIVERY] as DeliveryCheck | undefined;
  if (!check) return true;
  return options.withoutTurn ? check.withoutTurn() : check.afterTurn();
}
