import { percentile } from './stats.ts';

// What a publisher could reach in one channel, given the times the events actually happened:
// simulations of a few schedules that respect what Slack and Ferry's threads require, against which
// Ferry's own event-to-Slack delays are read. Each is a schedule (earliest oldest waiting event
// first, possibly holding a run's reply back to let more events join it), not a proof that no
// publisher could do better; the floor on the posts needed is a bound.

/** One timeline event as the schedule sees it. */
export interface ScheduledEvent {
  run: string;
  seq: number;
  /** When it happened (ms). */
  at: number;
  /** A message of its own (an incident, a reminder), never part of a batch. */
  alone: boolean;
  /** Ends its post: it may carry the events waiting before it, none after it (an approval request). */
  last?: boolean;
}

export interface ChannelLimit {
  /** Posts the channel's bucket refills a second. */
  perSecond: number;
  /** The bucket's size: posts that may go at once after a quiet spell; full when the night starts. */
  burst: number;
  /** Events one reply may carry. */
  maxBatch: number;
}

export interface PostSchedule {
  /** How long a run's reply was held back for more events to join it (ms). */
  holdMs: number;
  /** Every event's delay from happening to its post, in the order the posts went out. */
  delays: number[];
  /** Posts made: the runs' status messages and their thread replies. */
  posts: number;
  /** When the last post went out, from the first event (ms). */
  spanMs: number;
  p95Ms: number;
}

/** Holds tried by `bestSchedule`, ms. */
const HOLDS = [0, 500, 1_000, 2_000, 3_000, 5_000, 8_000, 13_000];

/** The schedule with the lowest p95 among those `schedulePosts` makes with a few holds. */
export function bestSchedule(events: readonly ScheduledEvent[], limit: ChannelLimit): PostSchedule {
  return HOLDS.map((hold) => schedulePosts(events, limit, hold)).reduce((a, b) =>
    b.p95Ms < a.p95Ms ? b : a,
  );
}

/**
 * The fewest posts any publisher needs for these events: each run's status message, each event
 * that must be alone, and each stretch of events between them in replies of `maxBatch` at most, a
 * stretch ending with the event that ends its post.
 */
export function fewestPosts(events: readonly ScheduledEvent[], maxBatch: number): number {
  const runs = new Map<string, ScheduledEvent[]>();
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) runs.set(e.run, [...(runs.get(e.run) ?? []), e]);
  let posts = 0;
  for (const list of runs.values()) {
    posts += 1;
    let stretch = 0;
    for (const e of list) {
      if (e.last) {
        posts += Math.ceil((stretch + 1) / maxBatch);
        stretch = 0;
        continue;
      }
      if (!e.alone) {
        stretch += 1;
        continue;
      }
      posts += Math.ceil(stretch / maxBatch) + 1;
      stretch = 0;
    }
    posts += Math.ceil(stretch / maxBatch);
  }
  return posts;
}

/**
 * Posts every run's events to one channel whose posts spend a token bucket: each run's status
 * message first (it is the thread the replies go in; it becomes postable with the run's first
 * event), then its replies in order, each carrying all the run's waiting events up to `maxBatch`,
 * an event that must be alone going alone, one that ends its post ending it. Whenever a token is
 * there and something may go, the run whose oldest waiting item is oldest gets the post; a reply may
 * go once its oldest event has waited `holdMs` (more events join it meanwhile), a status message or
 * an event that goes alone at once.
 */
export function schedulePosts(
  events: readonly ScheduledEvent[],
  limit: ChannelLimit,
  holdMs = 0,
): PostSchedule {
  const runs = new Map<string, ScheduledEvent[]>();
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) runs.set(e.run, [...(runs.get(e.run) ?? []), e]);
  const queues = [...runs.values()].map((list) => ({ statusPosted: false, next: 0, list }));
  if (queues.length === 0) return { holdMs, delays: [], posts: 0, spanMs: 0, p95Ms: 0 };
  const start = Math.min(...events.map((e) => e.at));
  const perMs = limit.perSecond / 1_000;
  let tokens = limit.burst;
  let now = start;
  let posts = 0;
  const delays: number[] = [];
  const waitingSince = (q: (typeof queues)[number]) => q.list[q.statusPosted ? q.next : 0]!.at;
  /** When the run's next post may go: its status message or a lone event at once, a reply after the hold. */
  const readyAt = (q: (typeof queues)[number]) => {
    const next = q.list[q.next]!;
    return !q.statusPosted || next.alone ? waitingSince(q) : next.at + holdMs;
  };
  for (;;) {
    const open = queues.filter((q) => q.next < q.list.length);
    if (open.length === 0) break;
    // The next moment a post may go, and the next moment a token is there.
    const firstReady = Math.min(...open.map(readyAt));
    const tokenAt = tokens >= 1 ? now : now + (1 - tokens) / perMs;
    const at = Math.max(now, firstReady, tokenAt);
    tokens = Math.min(limit.burst, tokens + (at - now) * perMs) - 1;
    now = at;
    posts += 1;
    const q = open
      .filter((o) => readyAt(o) <= now)
      .reduce((a, b) => (waitingSince(b) < waitingSince(a) ? b : a));
    if (!q.statusPosted) {
      q.statusPosted = true;
      continue;
    }
    let taken = 0;
    while (q.next < q.list.length && taken < limit.maxBatch) {
      const e = q.list[q.next]!;
      if (e.at > now || (e.alone && taken > 0)) break;
      delays.push(now - e.at);
      q.next += 1;
      taken += 1;
      if (e.alone || e.last) break;
    }
  }
  return { holdMs, delays, posts, spanMs: now - start, p95Ms: percentile(delays, 95) };
}

/**
 * A lower bound on the p95 any publisher reaches with these events in one channel. The k-th run to
 * get its first reply has had at least 2k posts before it (the status messages and first replies
 * of k runs), so that reply is no earlier than the bucket allows the 2k-th post; every event of the
 * run that happened before then waits at least until then. For a delay D, whichever run takes rank
 * k, at least the fewest such events any run has that would wait longer than D are late; if the
 * sum over ranks exceeds the 5% a p95 may leave out, the p95 is above D.
 */
export function p95Floor(events: readonly ScheduledEvent[], limit: ChannelLimit): number {
  if (events.length === 0) return 0;
  const runs = new Map<string, number[]>();
  for (const e of events) runs.set(e.run, [...(runs.get(e.run) ?? []), e.at]);
  const times = [...runs.values()].map((list) => list.sort((a, b) => a - b));
  const start = Math.min(...events.map((e) => e.at));
  const firstReplyAt = (rank: number) =>
    start + (Math.max(0, 2 * rank - limit.burst) / limit.perSecond) * 1_000;
  const mayBeLate = events.length - Math.ceil(0.95 * events.length);
  /** Events that wait longer than `d` whichever run takes each rank, at the least. */
  const late = (d: number) => {
    let sum = 0;
    for (let rank = 1; rank <= times.length; rank++) {
      const before = firstReplyAt(rank) - d;
      sum += Math.min(...times.map((list) => list.filter((at) => at < before).length));
    }
    return sum;
  };
  let low = 0;
  let high = firstReplyAt(times.length) - start;
  while (high - low > 10) {
    const mid = (low + high) / 2;
    if (late(mid) > mayBeLate) low = mid;
    else high = mid;
  }
  return low;
}
