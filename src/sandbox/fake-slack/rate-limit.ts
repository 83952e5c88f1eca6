import type { ApiArgs, Clock } from './types.ts';

// Slack's Web API limits, modelled as token buckets (reference/slack.md §5). Slack publishes tiers
// as "N+ per minute" and allows short bursts; a bucket of `burst` tokens refilled at `perSecond`
// reproduces both: a burst passes, a sustained rate above the tier gets 429 + Retry-After.

export interface RateLimitPolicy {
  /** Sustained rate. */
  perSecond: number;
  /** Bucket size: how many calls may arrive at once after a quiet period. */
  burst: number;
  /** Whose budget a call spends: the whole workspace's, or the target channel's. */
  scope: 'workspace' | 'channel';
}

const perMinute = (n: number, burst = n): RateLimitPolicy => ({
  perSecond: n / 60,
  burst,
  scope: 'workspace',
});

export const SLACK_TIERS = {
  tier1: perMinute(1, 1),
  tier2: perMinute(20),
  tier3: perMinute(50),
  tier4: perMinute(100),
} as const;

/**
 * Per-method policies. chat.postMessage is Slack's "special" limit: about one message per second
 * per channel with short bursts; the rest follow their documented tier (Tier 4 where Slack's page
 * does not say).
 */
export const DEFAULT_RATE_LIMITS: Readonly<Record<string, RateLimitPolicy>> = {
  'chat.postMessage': { perSecond: 1, burst: 4, scope: 'channel' },
  'chat.update': SLACK_TIERS.tier3,
  'chat.delete': SLACK_TIERS.tier3,
  'usergroups.users.list': SLACK_TIERS.tier2,
  'usergroups.list': SLACK_TIERS.tier2,
  'conversations.history': SLACK_TIERS.tier3,
  'conversations.replies': SLACK_TIERS.tier3,
  'conversations.info': SLACK_TIERS.tier3,
  'reactions.add': SLACK_TIERS.tier3,
  'reactions.get': SLACK_TIERS.tier3,
  'reactions.remove': SLACK_TIERS.tier3,
  'files.getUploadURLExternal': SLACK_TIERS.tier4,
  'files.completeUploadExternal': SLACK_TIERS.tier4,
};

/** Methods without an entry above. */
export const DEFAULT_POLICY: RateLimitPolicy = SLACK_TIERS.tier4;

export interface RateLimitOptions {
  /** Multiplies every sustained rate (bursts stay as they are): 10 makes the fake 10x more lenient. */
  scale?: number;
  /** Replaces the policy of the named methods. */
  policies?: Record<string, RateLimitPolicy>;
}

export type RateLimitDecision = { ok: true } | { ok: false; retryAfter: number };

/** A token bucket that starts full. Time only moves through `now`. */
export class TokenBucket {
  readonly #perMs: number;
  readonly #capacity: number;
  #tokens: number;
  #updatedAt: number;

  constructor(policy: { perSecond: number; burst: number }, now: number) {
    this.#perMs = policy.perSecond / 1000;
    this.#capacity = Math.max(1, policy.burst);
    this.#tokens = this.#capacity;
    this.#updatedAt = now;
  }

  take(now: number): RateLimitDecision {
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { ok: true };
    }
    const waitMs = (1 - this.#tokens) / this.#perMs;
    // Slack sends whole seconds; WebClient waits exactly that long, so never answer 0.
    return { ok: false, retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#perMs);
    this.#updatedAt = now;
  }
}

/** One bucket per (method, scope key); buckets appear on first use. */
export class RateLimiter {
  readonly #clock: Clock;
  readonly #scale: number;
  readonly #policies: Record<string, RateLimitPolicy>;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(clock: Clock, options: RateLimitOptions = {}) {
    if (options.scale !== undefined && !(options.scale > 0)) {
      throw new RangeError(`rate limit scale must be > 0, got ${options.scale}`);
    }
    this.#clock = clock;
    this.#scale = options.scale ?? 1;
    this.#policies = { ...DEFAULT_RATE_LIMITS, ...options.policies };
  }

  policyFor(method: string): RateLimitPolicy {
    return this.#policies[method] ?? DEFAULT_POLICY;
  }

  /** Spends one call of `method` with these arguments; says how long to wait when over. */
  take(method: string, args: ApiArgs): RateLimitDecision {
    const policy = this.policyFor(method);
    const channel = typeof args.channel === 'string' ? args.channel : '';
    const key = policy.scope === 'channel' ? `${method}:${channel}` : method;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(
        { perSecond: policy.perSecond * this.#scale, burst: policy.burst },
        this.#clock(),
      );
      this.#buckets.set(key, bucket);
    }
    return bucket.take(this.#clock());
  }

  reset(): void {
    this.#buckets.clear();
  }
}
