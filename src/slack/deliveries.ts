import type { Context } from '@slack/bolt';

// Slack retries an event it thinks was lost, and a person can send the same command twice: each
// delivery key (event id, else trigger id) is acted on once. A request Slack waits on (a command, a
// click, a form) is acknowledged first; its listener then calls isFirstDelivery, which waits for the
// request's turn in the after-ack queue (slack/after-ack.ts) and records the key, before anything
// changes, or hands its work over (handOverAfterAck) to run in that turn once the key is recorded.
// The ack costs no database round trip, and a repeat still changes nothing: only one insert of a key
// wins.

const FIRST_DELIVERY = 'ferryFirstDelivery';

/** What records a request's delivery key after its ack: after its turn comes, or at once. */
export interface DeliveryCheck {
  afterTurn: () => Promise<boolean>;
  withoutTurn: () => Promise<boolean>;
  /** Runs `work` in the request's turn if it is the first delivery; the listener returns at once. */
  handOver: (work: () => Promise<void>) => void;
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

/**
 * After the ack: hands the rest of a listener's work to the after-ack queue, to run in the request's
 * turn if this is the first delivery of its key, and lets the listener return at once. Bolt's
 * request (its payload, the message a button was on, every argument) is then let go of while the
 * work waits: in a burst hundreds wait, and what each holds is what `work` closes over, so a
 * listener reads what it needs from the payload before handing over, and awaits this before it
 * returns. Errors `work` throws after a hand-over are logged. A request that took its turn before
 * its listener ran (an event, which Bolt acknowledged itself) has no queue to wait in: its work
 * runs now, and its errors reach Bolt as a listener's would.
 */
export function handOverAfterAck(context: Context, work: () => Promise<void>): Promise<void> {
  const check = context[FIRST_DELIVERY] as DeliveryCheck | undefined;
  if (!check) return work();
  check.handOver(work);
  return Promise.resolve();
}
