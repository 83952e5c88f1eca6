import { describe, expect, it } from 'vitest';
import { fewestPosts, schedulePosts, type ScheduledEvent } from '../../bench/support/post-schedule.ts';

// The benchmark's model of one channel's posts, which Ferry's portfolio figures are read against:
// an approval request ends its post (it may carry the events before it), an incident goes alone.

const event = (run: string, seq: number, at: number, kind?: 'alone' | 'last'): ScheduledEvent => ({
  run,
  seq,
  at,
  alone: kind === 'alone',
  last: kind === 'last',
});

describe('fewestPosts', () => {
  it('counts an approval request with the events before it as one post, and what follows apart', () => {
    const events = [event('r1', 1, 0), event('r1', 2, 0), event('r1', 3, 0, 'last'), event('r1', 4, 0)];
    // The status message, the request with events 1 and 2, then event 4.
    expect(fewestPosts(events, 40)).toBe(3);
  });

  it('keeps an event that must be alone apart from the events on either side', () => {
    const events = [event('r1', 1, 0), event('r1', 2, 0, 'alone'), event('r1', 3, 0)];
    expect(fewestPosts(events, 40)).toBe(4);
  });

  it('splits a long stretch before a request into posts of maxBatch', () => {
    const events = [...[1, 2, 3, 4].map((seq) => event('r1', seq, 0)), event('r1', 5, 0, 'last')];
    // The status message, then 1-3, then 4 with the request.
    expect(fewestPosts(events, 3)).toBe(3);
  });
});

describe('schedulePosts', () => {
  it('posts a request with the events waiting before it, and nothing after it in the same post', () => {
    const events = [event('r1', 1, 0), event('r1', 2, 0, 'last'), event('r1', 3, 0)];
    const schedule = schedulePosts(events, { perSecond: 1, burst: 10, maxBatch: 40 });
    expect(schedule.posts).toBe(3);
    expect(schedule.delays).toHaveLength(3);
  });
});
