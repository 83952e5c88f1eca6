import type { Database } from './db.ts';

// Each channel's chat.postMessage budget, shared by every replica's publisher (migration 019): a
// token bucket per channel. Taking a post is one statement whose condition is checked again on the
// locked row, so two replicas taking the channel's last token at once get it once.

export interface ChannelRate {
  /** Posts a second the bucket refills with. */
  perSecond: number;
  /** Posts that may go at once after a quiet spell. */
  burst: number;
}

/**
 * What bucket `b` holds at `at`: its tokens then, refilled at `$3` a second since, up to the burst
 * `$2`. Every statement here binds the burst and the rate as `$2` and `$3`.
 */
function refilled(at: string): string {
  return `least($2::float8, b.tokens + greatest(0, extract(epoch from ${at} - b.updated_at)) * $3::float8)`;
}

export type PostTaken = { taken: true } | { taken: false; retryInMs: number };

/**
 * Spends one post in `channel` when its bucket holds a whole token; otherwise says how long until
 * it will. A channel not seen before starts with a full bucket. `anyway`: the post goes whatever the
 * bucket holds (a lone run's burst); the bucket is then left empty, or as far below as a pause put it.
 */
export async function takeChannelPost(
  db: Database,
  channel: string,
  rate: ChannelRate,
  anyway = false,
): Promise<PostTaken> {
  const { rowCount } = await db.pool.query(
    `insert into slack_post_budget as b (channel, tokens, updated_at)
     values ($1, $2::float8 - 1, clock_timestamp())
     on conflict (channel) do update
        set tokens = (select greatest(least(0, t), t - 1) from (select ${refilled('excluded.updated_at')} as t) r),
            updated_at = excluded.updated_at
      where $4 or ${refilled('excluded.updated_at')} >= 1`,
    [channel, rate.burst, rate.perSecond, anyway],
  );
  if (rowCount === 1) return { taken: true };
  // Read in a statement of its own: the one above saw the bucket as it was before the posts that
  // emptied it were committed, and would say a token is there already.
  const { rows } = await db.pool.query<{ retry_in_ms: number | null }>(
    `select ceil((1 - ${refilled('clock_timestamp()')}) / $3::float8 * 1000)::int as retry_in_ms
       from slack_post_budget b where channel = $1`,
    [channel, rate.burst, rate.perSecond],
  );
  return { taken: false, retryInMs: Math.max(10, rows[0]?.retry_in_ms ?? 1_000) };
}

/**
 * Slack answered 429 in `channel` (another app posting there, or a limit lower than assumed): no
 * replica posts there again before `pauseMs` has passed, and then at the bucket's rate.
 */
export async function pauseChannelPosts(
  db: Database,
  channel: string,
  pauseMs: number,
  rate: ChannelRate,
): Promise<void> {
  // A bucket holding 1 - rate × pause tokens now holds its next whole token when the pause ends.
  await db.pool.query(
    `insert into slack_post_budget as b (channel, tokens, updated_at)
     values ($1, 1 - $3::float8 * $4::float8 / 1000, clock_timestamp())
     on conflict (channel) do update
        set tokens = least(excluded.tokens, ${refilled('excluded.updated_at')}),
            updated_at = excluded.updated_at`,
    [channel, rate.burst, rate.perSecond, pauseMs],
  );
}
