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
        set tokens = (select greatest(least(0, t), t - 1) from (select least($2::float8,
                        b.tokens + greatest(0, extract(epoch from excluded.updated_at - b.updated_at)) * $3::float8) as t) refilled),
            updated_at = excluded.updated_at
      where $4 or least($2::float8, b.tokens + greatest(0, extract(epoch from excluded.updated_at - b.updated_at)) * $3::float8) >= 1`,
    [channel, rate.burst, rate.perSecond, anyway],
  );
  if (rowCount === 1) return { taken: true };
  // Read in a statement of its own: the one above saw the bucket as it was before the posts that
  // emptied it were committed, and would say a token is there already.
  const { rows } = await db.pool.query<{ retry_in_ms: number | null }>(
    `select ceil((1 - least($2::float8, tokens + greatest(0, extract(epoch from clock_timestamp() - updated_at)) * $3::float8))
                 / $3::float8 * 1000)::int as retry_in_ms
       from slack_post_budget where channel = $1`,
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
     values ($1, 1 - $3::float8 * $2::float8 / 1000, clock_timestamp())
     on conflict (channel) do update
        set tokens = least(excluded.tokens,
                           $4::float8, b.tokens + greatest(0, extract(epoch from excluded.updated_at - b.updated_at)) * $3::float8),
            updated_at = excluded.updated_at`,
    [channel, pauseMs, rate.perSecond, rate.burst],
  );
}
