import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  LogLevel,
  WebClient,
  type ChatPostMessageArguments,
  type FetchFunction,
  type Logger as SlackLogger,
} from '@slack/web-api';
import type { KnownBlock } from '@slack/types';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { noFailpoints, type Failpoints } from '../failpoints.ts';
import type { RunState } from '../engine/types.ts';
import { isActive } from '../engine/policy.ts';
import type { Waker } from '../store/wake.ts';
import type { Database } from '../store/db.ts';
import { readRun, readTimeline, type TimelineEvent } from '../store/runs.ts';
import {
  completeIntent,
  dropIntent,
  intentsOf,
  keepDue,
  markRendered,
  messagesOf,
  progressOf,
  recordIntent,
  releasePublisherLeases,
  renewPublisherLeases,
  runsToPublish,
  runVersion,
  takePublisherLease,
  type MessageRef,
  type PostIntent,
} from '../store/slack-messages.ts';
import { takeSlackEdit } from '../store/edit-budget.ts';
import { pauseChannelPosts, takeChannelPost, type ChannelRate } from '../store/post-budget.ts';
import type { LoadedPlan } from '../plan/load.ts';
import { claimHomePublish, readCampaign, recentHomeViewers, releaseHomePublish } from '../store/home.ts';
import { publishHome } from '../slack/home.ts';
import { Permalinks } from '../slack/permalinks.ts';
import { renderApprovalDecided, renderApprovalRequest } from '../slack/views/approval-message.ts';
import { renderProgress } from '../slack/views/progress-message.ts';
import { renderStatusMessage } from '../slack/views/status-message.ts';
import { renderReminder, renderTimelineReply, withEarlierEvents } from '../slack/views/timeline-reply.ts';

// The timeline publisher: an outbox per run that renders Postgres' truth into Slack, in order.
// The status message is edited in place (coalesced: at most one edit per interval, always the
// latest state); each timeline event becomes a thread reply, several in one reply when behind;
// nothing is dropped, and after a restart it resumes from the message references in Postgres.
// Each post is made exactly once: its intent is recorded before the call and cleared with the ts
// it got; an intent left without a ts is looked up in Slack (by the key in the message's metadata)
// before anything is posted again.

export interface PublisherDeps {
  db: Database;
  /**
   * Must not retry calls by itself: a post retried after its answer was lost shows twice. Use
   * `publisherClient`; rate limits are waited out here, lost answers resolved by the intents.
   */
  client: WebClient;
  waker: Waker;
  clock: Clock;
  log: Logger;
  /** Slack allows about fifty chat.update calls a minute per workspace (Tier 3). */
  minEditIntervalMs: number;
  /**
   * chat.update calls a minute across all runs and every replica (the budget is kept in the
   * database): Slack's Tier 3 allows about 50 per workspace.
   */
  editsPerMinute?: number;
  /**
   * chat.postMessage calls a second per channel across every replica (the bucket is kept in the
   * database): Slack allows about one a second per channel. Default 1.
   */
  postsPerSecond?: number;
  /** Posts a channel may take at once after a quiet spell. Default 3, one under Slack's burst of 4. */
  postBurst?: number;
  /** How long a run's publisher lease lasts without a heartbeat: what a crash costs the thread. */
  leaseMs?: number;
  idlePollMs?: number;
  failpoints?: Failpoints;
  /** The loaded plans: with them, the App Home tab of recent viewers is republished as runs change. */
  plans?: () => readonly LoadedPlan[];
  /** At most one App Home refresh this often after runs changed (default 2 s). */
  homeRefreshMs?: number;
}

/**
 * A publisher's lease on a run is short and renewed every second while it works on the run, apart
 * from the step leases: a crashed replica's runs move on within seconds of another being ready,
 * while a live one keeps its lease through a long Slack call (a 429 pause).
 */
export const PUBLISHER_LEASE_MS = 3_000;
/** How long a stopping publisher's last pass may take (a deployment's grace period allows for it). */
export const LAST_PUBLISH_MS = 5_000;
const HEARTBEAT_MS = 1_000;

/** An approval request's message once decided; an open one records the approvals it shows. */
const APPROVAL_CLOSED = -1;

/** App Home: refreshed at most this often after runs changed, at least this often regardless. */
const HOME_REFRESH_MS = 2_000;
const HOME_IDLE_REFRESH_MS = 30_000;
/** Who counts as a recent viewer of the App Home tab: opened it within a day. */
const HOME_VIEWERS_WITHIN_MS = 24 * 3_600_000;

/** The least time between the starts of two passes of a publisher. */
const SETTLE_MS = 100;
/** Slack's post limit per channel: about one a second, with bursts of about 4. */
const POSTS_PER_SECOND = 1;
/**
 * One under Slack's burst: a post granted here reaches Slack a little later, and the spare token
 * absorbs up to a second of that jitter.
 */
const POST_BURST = 3;
/**
 * A channel whose posts ran short coalesces its runs' waiting events for this long; one where Slack
 * answered 429 paces every post, a lone run's too, for as long.
 */
const CONTENDED_FOR_MS = 60_000;
/** Beyond this many unposted events, they go out together in one reply. */
const COALESCE_BACKLOG = 3;
/** At most this many events in one reply, so it stays within Slack's 50 blocks. */
const MAX_BATCH = 40;
/**
 * Events someone waits on, whose runs post first in a busy channel: an approval request (the
 * service stays in maintenance until an approver sees it), an incident, a reminder.
 */
const URGENT_EVENTS: readonly TimelineEvent['type'][] = ['approval_requested', 'incident_opened', 'reminder'];

/** Rate-limit answers (nothing done) waited out for one call before the run is backed off instead. */
const MAX_RATE_LIMIT_WAITS = 5;
/** Slack's clock is not the database's: a post is looked for from this long before its intent. */
const SEARCH_MARGIN_MS = 60_000;
/** Messages per page when looking for a post: Slack recommends no more than 200. */
const SEARCH_PAGE = 200;

/**
 * The publisher's own WebClient. It makes each call once: a network error or a 5xx leaves the
 * post's outcome unknown, and retrying it blindly would post twice, so the intent's recovery looks
 * in Slack instead. A 429 is thrown rather than waited out inside the client (which would pause
 * every call), and the publisher waits it out for that run: Slack did nothing, so calling again
 * is safe.
 */
export function publisherClient(options: {
  token: string;
  apiUrl: string;
  log: Logger;
  fetch?: FetchFunction;
  timeoutMs?: number;
}): WebClient {
  return new WebClient(options.token, {
    slackApiUrl: options.apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: options.timeoutMs ?? 10_000,
    logger: slackLogger(options.log),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

export class Publisher {
  private readonly deps: PublisherDeps;
  private readonly owner = `publisher-${randomUUID().slice(0, 8)}`;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly backoff = new Map<string, { failures: number; until: number }>();
  /** Runs this publisher is publishing right now, whose leases the heartbeat keeps alive. */
  private readonly publishing = new Set<string>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly failpoints: Failpoints;
  /** When the shared edit budget next has room, as it said when it had none (ms since the epoch). */
  private editsRefillAt = 0;
  /** What this publisher learned of each channel's posts lately (`ChannelPace`). */
  private readonly channels = new Map<string, ChannelPace>();
  /** The same for live figures, which leave the last quarter of the budget to changes. */
  private liveRefillAt = 0;
  /** What each run's status message last showed apart from live figures: a change edits first. */
  private readonly shownShape = new Map<string, string>();
  /** App Home: when it was last refreshed, and whether runs changed since. */
  private homeRefreshedAt = 0;
  private homeBehind = true;
  private permalinks: Permalinks | undefined;

  constructor(deps: PublisherDeps) {
    this.deps = deps;
    this.failpoints = deps.failpoints ?? noFailpoints;
  }

  start(): void {
    this.heartbeat ??= setInterval(() => {
      renewPublisherLeases(this.deps.db, this.owner, [...this.publishing], this.leaseMs()).catch(
        (error: unknown) => this.deps.log.warn({ err: error }, 'renewing publisher leases failed'),
      );
    }, HEARTBEAT_MS);
    this.loop ??= this.run();
  }

  private leaseMs(): number {
    return this.deps.leaseMs ?? PUBLISHER_LEASE_MS;
  }

  /** Stops, after one last pass (bounded) so events recorded during shutdown reach Slack now. */
  async stop(finalPassMs = LAST_PUBLISH_MS): Promise<void> {
    this.stopping.abort();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.pass(0), new Promise((resolve) => (timer = setTimeout(resolve, finalPassMs)))]);
    clearTimeout(timer);
    clearInterval(this.heartbeat);
    // The next process need not wait for these to lapse.
    await releasePublisherLeases(this.deps.db, this.owner).catch((error: unknown) =>
      this.deps.log.warn({ err: error }, 'releasing publisher leases failed'),
    );
  }

  private async run(): Promise<void> {
    const idle = this.deps.idlePollMs ?? 5_000;
    while (!this.stopping.signal.aborted) {
      const began = Date.now();
      const wait = await this.pass(idle);
      await this.deps.waker.wait('publish', wait, this.stopping.signal);
      // Passes start at most every SETTLE_MS: in a busy spell a decision's events (an approval, the
      // step it starts, that step's end) go out together, and the steps' own work goes first (the
      // executor shares this process); a pass that took longer let its successor's events gather.
      // After a quiet spell the first change goes out at once: someone may be waiting on it (an
      // approval request is a post the approver waits for).
      const settle = SETTLE_MS - (Date.now() - began);
      if (settle > 0) await delay(settle, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  /** One pass over the runs Slack is behind on; returns how long to wait before the next. */
  private async pass(idle: number): Promise<number> {
    const { log } = this.deps;
    let wait = idle;
    let runsChanged = false;
    try {
      // A post someone waits on first, then the oldest waiting: a channel's posts go to the run whose
      // approver or reader has waited longest.
      const due = await runsToPublish(this.deps.db, 100, URGENT_EVENTS);
      runsChanged = due.length > 0;
      if (due.length > 0) log.debug({ runs: due }, 'publishing');
      const posting = new Map<string, number>();
      for (const r of due) if (r.posts) posting.set(r.channel, (posting.get(r.channel) ?? 0) + 1);
      for (const { id: runId, posts, channel, urgentSeq } of due) {
        // With the edit budget spent, a run that only waits for edits is left until it refills.
        if (!posts && Date.now() < this.editsRefillAt) {
          wait = Math.min(wait, this.nextEditInMs());
          continue;
        }
        // With the channel's posts spent, its runs keep their place in line until the next token.
        if (posts && this.nextPostInMs(channel) > 0) {
          wait = Math.min(wait, this.nextPostInMs(channel, SETTLE_MS));
          continue;
        }
        const backoff = this.backoff.get(runId);
        if (backoff && backoff.until > Date.now()) {
          wait = Math.min(wait, backoff.until - Date.now());
          continue;
        }
        const lease = await this.takeLease(runId);
        if (!lease.taken) {
          // Another replica publishes it; should that replica have died, come back as its lease lapses.
          log.debug({ run: runId }, 'another publisher holds the lease');
          wait = Math.min(wait, Math.max(10, lease.until.getTime() - Date.now() + 10));
          continue;
        }
        this.publishing.add(runId);
        try {
          // Where other runs wait to post in the same channel, a run posts once a turn (its status
          // message and first reply together), each post carrying all it has waiting, at the
          // channel's rate. A run with a post someone waits on has its turn first, and that turn
          // lasts until that post is out.
          const shared = (posting.get(channel) ?? 0) > 1;
          const { deferred, postsWait } = await this.publishTurn(runId, {
            postsLeft: !shared ? Number.POSITIVE_INFINITY : urgentSeq === null ? 1 : 0,
            urgentSeq: shared ? urgentSeq : null,
            waitForPosts: false,
            coalesce: shared,
            paced: shared,
          });
          this.backoff.delete(runId);
          if (deferred) wait = Math.min(wait, this.nextEditInMs());
          if (postsWait) wait = Math.min(wait, this.nextPostInMs(channel, SETTLE_MS));
        } catch (error) {
          if (error instanceof LeaseLost) continue; // another replica publishes this run now
          // One run Slack refuses (a channel the bot cannot post in) must not hold up the others.
          const failures = (backoff?.failures ?? 0) + 1;
          const delay = Math.min(1_000 * 2 ** failures, 300_000);
          this.backoff.set(runId, { failures, until: Date.now() + delay });
          log.error(
            { err: error, run: runId, retryInMs: delay },
            'publishing a run to Slack failed; will retry',
          );
          wait = Math.min(wait, delay);
        } finally {
          this.publishing.delete(runId);
        }
      }
    } catch (error) {
      log.error({ err: error }, 'publishing to Slack failed; will retry');
      wait = Math.min(wait, 2_000);
    }
    return Math.min(wait, await this.refreshHome(runsChanged));
  }

  /**
   * Republishes the App Home tab for the people who opened it in the last day, when runs changed
   * (at most every `homeRefreshMs`) and at least every 30 s (a lock, a scheduled start). Slack has
   * no "publish to everyone": each viewer gets views.publish, once per version of the campaign.
   * Returns how long until the next refresh is due.
   */
  private async refreshHome(runsChanged: boolean): Promise<number> {
    const plans = this.deps.plans;
    if (!plans) return Number.POSITIVE_INFINITY;
    this.homeBehind ||= runsChanged;
    const every = this.deps.homeRefreshMs ?? HOME_REFRESH_MS;
    const since = Date.now() - this.homeRefreshedAt;
    const dueIn = this.homeBehind ? every - since : HOME_IDLE_REFRESH_MS - since;
    if (dueIn > 0) return dueIn;
    this.homeRefreshedAt = Date.now();
    this.homeBehind = false;
    const { db, clock, log } = this.deps;
    try {
      const viewers = await recentHomeViewers(db, new Date(clock.now() - HOME_VIEWERS_WITHIN_MS), 100);
      if (viewers.length === 0) return HOME_IDLE_REFRESH_MS;
      this.permalinks ??= new Permalinks(this.deps.client, log);
      await publishHome(
        {
          client: this.deps.client,
          permalinks: this.permalinks,
          book: {
            claim: (user, digest) => claimHomePublish(db, user, digest, new Date(clock.now())),
            release: (user, digest) => releaseHomePublish(db, user, digest),
          },
          log,
          plans: plans(),
          now: clock.now(),
        },
        await readCampaign(db),
        viewers,
      );
    } catch (error) {
      this.homeBehind = true;
      log.warn({ err: error }, 'refreshing the App Home tab failed; will retry');
    }
    return this.homeBehind ? every : HOME_IDLE_REFRESH_MS;
  }

  private takeLease(runId: string) {
    return takePublisherLease(this.deps.db, runId, this.owner, this.leaseMs());
  }

  /**
   * A Slack call on behalf of a run, made only while this publisher still holds the run's lease
   * (renewed first): a pass slowed by Slack's rate limits must not overlap another replica's. A
   * 429 means Slack did nothing, so the call is made again after `Retry-After` (a few times).
   * `kind` names a post or an edit for the failpoints; a read has none.
   */
  private async slack<T>(
    runId: string,
    kind: SlackCall | undefined,
    call: () => Promise<T>,
    /** A post's channel: a 429 there pauses every replica's posts to it (`pauseChannel`). */
    channel?: string,
  ): Promise<T> {
    if (kind) this.failpoints.hit('post.before', kind);
    for (let waits = 0; ; waits += 1) {
      if (!(await this.takeLease(runId)).taken) throw new LeaseLost();
      try {
        const result = await call();
        if (kind) this.failpoints.hit('post.after', kind);
        return result;
      } catch (error) {
        const retryAfter = rateLimitedFor(error);
        if (retryAfter === undefined || waits >= MAX_RATE_LIMIT_WAITS || this.stopping.signal.aborted)
          throw error;
        this.deps.log.info(
          { run: runId, retryAfterSeconds: retryAfter },
          'Slack asked the publisher to slow down; calling again after Retry-After',
        );
        // A post waits out Retry-After through the channel's bucket, where every replica sees it.
        if (channel) await this.pauseChannel(channel, retryAfter * 1_000);
        else
          await delay(retryAfter * 1_000, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }

  /**
   * Posts one message exactly once. The intent is recorded first and cleared, with the ts, in the
   * statement that stores it; whatever happens in between (a crash, a database outage, an answer
   * lost on the network) leaves the intent for `recover` to resolve from what Slack holds.
   */
  private async post(
    intent: Omit<PostIntent, 'createdAt'>,
    kind: SlackCall,
    message: { text: string; blocks: KnownBlock[]; unfurl_links?: boolean; reply_broadcast?: boolean },
    turn: Turn,
  ): Promise<{ ts: string; channel: string }> {
    const { db, client, log } = this.deps;
    if (!(await this.takeLease(intent.runId)).taken) throw new LeaseLost();
    // The run's status message comes with its first reply: after it, the run's oldest waiting event
    // is still the channel's oldest, so the reply would have the next post anyway. So do the posts
    // up to the one someone waits on.
    if (kind !== 'status' && !upToUrgent(intent.refs, turn)) {
      if (turn.postsLeft < 1) throw new TurnOver();
      turn.postsLeft -= 1;
    }
    await this.takePost(intent.channel, turn);
    await recordIntent(db, intent);
    let res;
    try {
      res = await this.slack(
        intent.runId,
        kind,
        () =>
          // Slack's types tie reply_broadcast to thread_ts; only thread replies set it here.
          client.chat.postMessage({
            ...message,
            channel: intent.channel,
            ...(intent.threadTs ? { thread_ts: intent.threadTs } : {}),
            metadata: { event_type: 'ferry_run', event_payload: { run_id: intent.runId, key: intent.key } },
          } as ChatPostMessageArguments),
        intent.channel,
      );
    } catch (error) {
      // Slack refused it, kept rate limiting, or the call was never made: nothing to look for.
      if (notPosted(error)) {
        await dropIntent(db, intent.runId, intent.key).catch((dropError: unknown) =>
          log.warn(
            { err: dropError, run: intent.runId, key: intent.key },
            'could not forget a post Slack did not take; the next pass looks for it in Slack first',
          ),
        );
      }
      throw error;
    }
    const posted = { ts: res.ts!, channel: res.channel ?? intent.channel };
    const stored = await completeIntent(db, intent.runId, intent.key, posted.ts, posted.channel);
    if (stored === 0)
      log.warn(
        { run: intent.runId, key: intent.key, ts: posted.ts },
        'a post reached Slack after its intent was already resolved elsewhere; it may show twice',
      );
    return posted;
  }

  /**
   * Resolves the run's posts that have no stored ts (the process died, Postgres refused the ts, or
   * the answer was lost): a message Slack holds with the intent's key is adopted, one it does not
   * hold is forgotten so the pass posts it. Only this path reads Slack.
   */
  private async recover(runId: string): Promise<void> {
    const { db, log } = this.deps;
    for (const intent of await intentsOf(db, runId)) {
      const found = await this.findInSlack(intent);
      if (found.ts) {
        await completeIntent(db, runId, intent.key, found.ts, intent.channel);
        log.info(
          { run: runId, key: intent.key, ts: found.ts },
          'found an interrupted post in Slack; adopted it instead of posting again',
        );
        continue;
      }
      await dropIntent(db, runId, intent.key);
      if (found.uncheckable)
        log.warn(
          { run: runId, key: intent.key, channel: intent.channel, slackError: found.uncheckable },
          `could not look in Slack for an interrupted post (${found.uncheckable}), so it is posted again and may show twice; ` +
            'invite the bot to the channel (/invite @ferry) and make sure the app has the channels:history and groups:history scopes',
        );
      else
        log.info({ run: runId, key: intent.key }, 'an interrupted post never reached Slack; posting it now');
    }
  }

  /** Looks for the message carrying the intent's key, from a little before the intent was recorded. */
  private async findInSlack(intent: PostIntent): Promise<{ ts?: string; uncheckable?: string }> {
    const { client } = this.deps;
    const oldest = slackTs(intent.createdAt.getTime() - SEARCH_MARGIN_MS);
    let cursor: string | undefined;
    do {
      const page = { channel: intent.channel, oldest, include_all_metadata: true, limit: SEARCH_PAGE };
      const paged = cursor ? { ...page, cursor } : page;
      let res;
      try {
        res = await this.slack(intent.runId, undefined, () =>
          intent.threadTs
            ? client.conversations.replies({ ...paged, ts: intent.threadTs })
            : client.conversations.history(paged),
        );
      } catch (error) {
        const refusal = platformError(error);
        // A thread whose parent is gone holds no reply either.
        if (refusal === 'thread_not_found') return {};
        if (refusal) return { uncheckable: refusal };
        throw error; // the network or Slack failed: look again on the next pass, post nothing yet
      }
      const hit = (res.messages ?? []).find(({ metadata }) => {
        const payload: Record<string, unknown> | undefined = metadata?.event_payload;
        return (
          metadata?.event_type === 'ferry_run' &&
          payload?.run_id === intent.runId &&
          payload.key === intent.key
        );
      });
      if (hit?.ts) return { ts: hit.ts };
      cursor = res.response_metadata?.next_cursor || undefined;
    } while (cursor);
    return {};
  }

  /**
   * Brings one run's Slack messages up to date, waiting for the channel's posts as they come. True
   * when an edit was held back by the rate budget.
   */
  async publishRun(runId: string): Promise<boolean> {
    const turn = {
      postsLeft: Number.POSITIVE_INFINITY,
      urgentSeq: null,
      waitForPosts: true,
      coalesce: false,
      paced: false,
    };
    return (await this.publishTurn(runId, turn)).deferred;
  }

  /**
   * One run's turn: its posts as far as the turn and the channel's bucket allow, then, once nothing
   * is left to post, its edits. `postsWait`: posts are left for a later turn.
   */
  private async publishTurn(runId: string, turn: Turn): Promise<{ deferred: boolean; postsWait: boolean }> {
    const { db, client } = this.deps;
    await this.recover(runId);
    // Read in this order. The version first: anything committed after it keeps the run marked as
    // behind, so it is published next time. Then the timeline, then the state, which is then at
    // least as new as every event read: an approval request is never judged by a state from before it.
    const version = await runVersion(db, runId);
    const timeline = await readTimeline(db, runId);
    const record = await readRun(db, runId);
    if (!record) return { deferred: false, postsWait: false };
    const { state, channel } = record;
    // A channel whose bucket ran dry lately packs each post; one Slack refused lately also paces a
    // lone run's posts, since Slack's own limit is what it met.
    if (this.isContended(channel)) turn.coalesce = true;
    if (this.isRefused(channel)) turn.paced = true;
    const now = this.deps.clock.now();
    const messages = await messagesOf(db, runId);
    const progress = await progressOf(db, runId);
    const liveProgress = progress.map((p) => ({ stepId: p.stepId, text: p.text, fraction: p.fraction }));
    const incidents = record.incidents.map((i) => ({ ...i, openedAt: i.openedAt.getTime() }));
    let deferred = false;

    const renderStatus = () =>
      renderStatusMessage(state, now, {
        progress: liveProgress,
        incidents,
        specs: record.specs,
        timeline,
        forecast: record.forecast ?? null,
      });
    let status: MessageRef;
    try {
      status = await this.postAll(
        { state, channel, version, messages, timeline, progress, renderStatus },
        turn,
      );
    } catch (error) {
      if (!(error instanceof TurnOver)) throw error;
      // Nothing is edited while posts wait: the status message stays behind, so the run stays due.
      await keepDue(db, runId, version);
      return { deferred: true, postsWait: true };
    }

    // An approval request left open for want of an edit keeps the status message behind too, so
    // the run stays due until the request is closed.
    const approvalsDeferred = await this.refreshApprovals(state, await messagesOf(db, runId), timeline);

    // The status message before the live figures in the thread: a change there (a Done button, a
    // failure, Roll back) is what people act on, and live figures must never starve it of edits.
    if (status.renderedVersion < version) {
      const shape = shapeOf(state);
      const priority = this.shownShape.get(runId) === shape ? 'live' : 'change';
      // Slack paces edits in real time, and rendered_at is the database's: the run's clock (injected
      // in tests and the sandbox) must not hold edits back.
      if (
        !approvalsDeferred &&
        Date.now() - status.renderedAt.getTime() >= this.deps.minEditIntervalMs &&
        (await this.takeEdit(priority))
      ) {
        const view = renderStatus();
        await this.slack(state.id, 'edit', () =>
          client.chat.update({ channel: status.channel, ts: status.ts, ...view }),
        );
        await markRendered(db, runId, 'status', '', version);
        if (isActive(state.status)) this.shownShape.set(runId, shape);
        else this.shownShape.delete(runId);
      } else {
        deferred = true;
      }
    }
    deferred = (await this.publishProgress(state, messages, progress)) || approvalsDeferred || deferred;
    return { deferred, postsWait: false };
  }

  /**
   * Everything the run has to post, in order: its status message, its timeline replies, the first
   * message of each long step's progress. Throws `TurnOver` when the turn or the channel's bucket
   * ends before they are all posted; what was posted stays posted.
   */
  private async postAll(
    run: {
      state: RunState;
      channel: string;
      version: number;
      messages: MessageRef[];
      timeline: TimelineEvent[];
      progress: Array<{ stepId: string; text: string; fraction: number | null; version: number }>;
      renderStatus: () => { text: string; blocks: KnownBlock[] };
    },
    turn: Turn,
  ): Promise<MessageRef> {
    const { state, channel, version, messages, timeline } = run;
    let status = messages.find((m) => m.kind === 'status');
    if (!status) {
      const posted = await this.post(
        {
          runId: state.id,
          key: 'status',
          channel,
          threadTs: null,
          refs: [{ kind: 'status', key: '', renderedVersion: version }],
        },
        'status',
        { ...run.renderStatus(), unfurl_links: false },
        turn,
      );
      status = {
        runId: state.id,
        kind: 'status',
        key: '',
        channel: posted.channel,
        ts: posted.ts,
        renderedVersion: version,
        renderedAt: new Date(),
      };
    }
    const postedSeqs = new Set(messages.filter((m) => m.kind === 'event').map((m) => Number(m.key)));
    const pending = timeline.filter((e) => !postedSeqs.has(e.seq));
    await this.postEvents(state, status, pending, timeline, turn);
    for (const p of run.progress) {
      if (messages.some((m) => m.kind === 'progress' && m.key === p.stepId)) continue;
      const finished = progressOutcome(state, p.stepId) !== 'running';
      // In a channel other runs wait in, a step that ended before its turn gets no live message:
      // its end is in the thread already (its timeline reply), and the post would cost them a turn.
      if (finished && turn.coalesce) continue;
      await this.post(
        {
          runId: state.id,
          key: `progress:${p.stepId}`,
          channel: status.channel,
          threadTs: status.ts,
          refs: [{ kind: 'progress', key: p.stepId, renderedVersion: progressVersion(p.version, finished) }],
        },
        'progress',
        renderProgress(p.stepId, p.text, p.fraction, progressOutcome(state, p.stepId)),
        turn,
      );
    }
    return status;
  }

  /** The channel post rate every replica keeps to (Slack: about one a second per channel). */
  private postRate(): ChannelRate {
    return {
      perSecond: this.deps.postsPerSecond ?? POSTS_PER_SECOND,
      burst: this.deps.postBurst ?? POST_BURST,
    };
  }

  /**
   * Spends one post of the channel's bucket, shared with every other replica through the database,
   * so posts go out at the channel's rate without Slack having to refuse any. With none left it
   * waits for the next token (`waitForPosts`) or ends the run's turn, and the channel counts as
   * contended: its runs' waiting events go out together, since each post is worth all it can carry.
   * A lone run's posts are not held back (Slack allows bursts, and nobody waits behind them): they
   * spend what the bucket holds, so the runs that come next keep to the rate.
   */
  private async takePost(channel: string, turn: Turn): Promise<void> {
    if (!turn.paced) {
      await takeChannelPost(this.deps.db, channel, this.postRate(), true);
      return;
    }
    for (;;) {
      let retryInMs = this.nextPostInMs(channel);
      if (retryInMs === 0) {
        const budget = await takeChannelPost(this.deps.db, channel, this.postRate());
        if (budget.taken) return;
        retryInMs = budget.retryInMs;
        const pace = this.paceOf(channel);
        pace.postsRefillAt = Date.now() + retryInMs;
        pace.contendedUntil = Date.now() + CONTENDED_FOR_MS;
      }
      if (!turn.waitForPosts || this.stopping.signal.aborted) throw new TurnOver();
      await delay(retryInMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  /** Slack answered 429 to a post: every replica holds the channel's posts for `ms`, then this one takes a token. */
  private async pauseChannel(channel: string, ms: number): Promise<void> {
    await pauseChannelPosts(this.deps.db, channel, ms, this.postRate());
    const pace = this.paceOf(channel);
    pace.postsRefillAt = Math.max(pace.postsRefillAt, Date.now() + ms);
    pace.contendedUntil = Date.now() + CONTENDED_FOR_MS;
    pace.refusedUntil = Date.now() + CONTENDED_FOR_MS;
    await this.takePost(channel, {
      postsLeft: 1,
      urgentSeq: null,
      waitForPosts: true,
      coalesce: true,
      paced: true,
    });
  }

  /**
   * How long until the channel's bucket holds a token, as far as this publisher knows: 0 when it
   * may. A pass comes back `early` before that, since a woken publisher lets changes settle first.
   */
  private nextPostInMs(channel: string, early = 0): number {
    return Math.max(0, (this.channels.get(channel)?.postsRefillAt ?? 0) - Date.now() - early);
  }

  private isContended(channel: string): boolean {
    return (this.channels.get(channel)?.contendedUntil ?? 0) > Date.now();
  }

  private isRefused(channel: string): boolean {
    return (this.channels.get(channel)?.refusedUntil ?? 0) > Date.now();
  }

  private paceOf(channel: string): ChannelPace {
    let pace = this.channels.get(channel);
    if (!pace) this.channels.set(channel, (pace = { postsRefillAt: 0, contendedUntil: 0, refusedUntil: 0 }));
    return pace;
  }

  /**
   * Spends one edit of the workspace's budget (about 50 a minute), shared with every other replica
   * through the database, or says there is none left. Once the budget said it is spent until some
   * time, it is not asked again before then: a backlog of runs does not ask once per run.
   */
  private async takeEdit(priority: 'change' | 'live' = 'change'): Promise<boolean> {
    const perMinute = this.deps.editsPerMinute ?? 40;
    const live = priority === 'live';
    if (Date.now() < (live ? Math.max(this.liveRefillAt, this.editsRefillAt) : this.editsRefillAt))
      return false;
    // Live figures (a drain's count, a watch's samples) take at most three quarters of the minute's
    // edits: the rest is kept for what changed, so a new button never waits behind a counter.
    const budget = await takeSlackEdit(
      this.deps.db,
      live ? perMinute - Math.max(1, Math.floor(perMinute / 4)) : perMinute,
    );
    if (budget.taken) return true;
    if (live) this.liveRefillAt = Date.now() + budget.retryInMs;
    else this.editsRefillAt = Date.now() + budget.retryInMs;
    return false;
  }

  /** How long until an edit is possible again: the interval between edits, or the budget's next refill. */
  private nextEditInMs(): number {
    return Math.max(this.deps.minEditIntervalMs, this.editsRefillAt - Date.now(), 10);
  }

  private async postEvents(
    state: RunState,
    status: MessageRef,
    pending: TimelineEvent[],
    timeline: TimelineEvent[],
    turn: Turn,
  ): Promise<void> {
    const coalesce = pending.length > COALESCE_BACKLOG || turn.coalesce;
    let batch: TimelineEvent[] = [];
    /** A reply in the run's thread; once posted, its events are never posted again. */
    const reply = (key: string, refs: PostIntent['refs']) => ({
      runId: state.id,
      key,
      channel: status.channel,
      threadTs: status.ts,
      refs,
    });
    const eventRef = (event: TimelineEvent) => ({
      kind: 'event' as const,
      key: String(event.seq),
      renderedVersion: 1,
    });
    const flush = async () => {
      if (batch.length === 0) return;
      await this.post(
        reply(`event:${batch[0]!.seq}`, batch.map(eventRef)),
        'event',
        renderTimelineReply(batch),
        turn,
      );
      batch = [];
    };
    for (const event of pending) {
      const step = event.stepId ? state.steps.find((s) => s.id === event.stepId) : undefined;
      if (event.type === 'approval_requested' && step) {
        // In a channel other runs wait in, the events packed before it go in the request's own
        // message rather than a reply of their own: one post fewer before the approver sees it.
        if (!turn.coalesce) await flush();
        const carried = batch;
        batch = [];
        const open =
          step.status === 'awaiting_approval' && (step.approvalRequestedAt ?? 0) <= event.at.getTime();
        const view = open
          ? renderApprovalRequest(state, step)
          : renderApprovalDecided(
              state,
              step,
              event.at.getTime(),
              nextRequestAt(timeline, step.id, event.seq),
            );
        await this.post(
          reply(`approval:${step.id}:${event.seq}`, [
            ...carried.map(eventRef),
            eventRef(event),
            {
              kind: 'approval',
              key: `${step.id}:${event.seq}`,
              renderedVersion: open ? step.votes.length : APPROVAL_CLOSED,
            },
          ]),
          'approval',
          withEarlierEvents(carried, view),
          turn,
        );
        continue;
      }
      if (event.type === 'incident_opened') {
        // An incident is for the whole channel: its reply is also shown there (reply_broadcast).
        await flush();
        await this.post(
          reply(`event:${event.seq}`, [eventRef(event)]),
          'event',
          {
            ...renderTimelineReply([event]),
            reply_broadcast: true,
          },
          turn,
        );
        continue;
      }
      if (event.type === 'reminder') {
        // A reminder mentions the people it waits on, so it is a message of its own, never folded
        // into a batch of timeline lines where the mention would be lost among them.
        await flush();
        await this.post(
          reply(`event:${event.seq}`, [eventRef(event)]),
          'event',
          renderReminder(state, event),
          turn,
        );
        continue;
      }
      batch.push(event);
      if (!coalesce || batch.length >= MAX_BATCH) await flush();
    }
    await flush();
  }

  /**
   * Brings open approval requests up to date: one that gathered another approval (M of N) shows the
   * new count; one that was decided, withdrawn or replaced gives way to who decided what. True when
   * an edit waits for the budget.
   */
  private async refreshApprovals(
    state: RunState,
    messages: MessageRef[],
    timeline: TimelineEvent[],
  ): Promise<boolean> {
    const open = messages.filter((m) => m.kind === 'approval' && m.renderedVersion !== APPROVAL_CLOSED);
    for (const ref of open) {
      const [stepId, seqText] = ref.key.split(':');
      const seq = Number(seqText);
      const step = state.steps.find((s) => s.id === stepId);
      const requested = timeline.find((e) => e.seq === seq);
      if (!step || !requested) continue;
      const later = messages.some(
        (m) => m.kind === 'approval' && m.key.startsWith(`${stepId}:`) && Number(m.key.split(':')[1]) > seq,
      );
      // The events the request's message carries before it stay in every edit (read only for one).
      const carried = () => {
        const inMessage = new Set(
          messages.filter((m) => m.kind === 'event' && m.ts === ref.ts).map((m) => Number(m.key)),
        );
        return timeline.filter((e) => e.seq !== seq && inMessage.has(e.seq));
      };
      if (step.status === 'awaiting_approval' && !later) {
        if (step.votes.length === ref.renderedVersion) continue;
        if (!(await this.takeEdit())) return true;
        const view = withEarlierEvents(carried(), renderApprovalRequest(state, step));
        await this.slack(state.id, 'edit', () =>
          this.deps.client.chat.update({ channel: ref.channel, ts: ref.ts, ...view }),
        );
        await markRendered(this.deps.db, state.id, 'approval', ref.key, step.votes.length);
        continue;
      }
      if (!(await this.takeEdit())) return true;
      const view = withEarlierEvents(
        carried(),
        renderApprovalDecided(state, step, requested.at.getTime(), nextRequestAt(timeline, step.id, seq)),
      );
      await this.slack(state.id, 'edit', () =>
        this.deps.client.chat.update({ channel: ref.channel, ts: ref.ts, ...view }),
      );
      await markRendered(this.deps.db, state.id, 'approval', ref.key, APPROVAL_CLOSED);
    }
    return false;
  }

  /** Edits each long step's progress message (posted by `postAll`). True when an edit waits for the budget. */
  private async publishProgress(
    state: RunState,
    messages: MessageRef[],
    progress: Array<{ stepId: string; text: string; fraction: number | null; version: number }>,
  ): Promise<boolean> {
    const { db, client } = this.deps;
    let deferred = false;
    for (const p of progress) {
      const outcome = progressOutcome(state, p.stepId);
      const finished = outcome !== 'running';
      const ref = messages.find((m) => m.kind === 'progress' && m.key === p.stepId);
      const renderedVersion = progressVersion(p.version, finished);
      // A message posted in this pass shows the latest already.
      if (!ref || ref.renderedVersion >= renderedVersion) continue;
      if (
        Date.now() - ref.renderedAt.getTime() < this.deps.minEditIntervalMs ||
        !(await this.takeEdit(finished ? 'change' : 'live'))
      ) {
        deferred = true;
        continue;
      }
      const view = renderProgress(p.stepId, p.text, p.fraction, outcome);
      await this.slack(state.id, 'edit', () =>
        client.chat.update({ channel: ref.channel, ts: ref.ts, ...view }),
      );
      await markRendered(db, state.id, 'progress', p.stepId, renderedVersion);
    }
    return deferred;
  }
}

/** How a long step's progress message ends, or that it is still running. */
function progressOutcome(state: RunState, stepId: string): 'running' | 'succeeded' | 'failed' | 'stopped' {
  const status = state.steps.find((s) => s.id === stepId)?.status;
  if (status === 'running') return 'running';
  return status === 'succeeded' ? 'succeeded' : status === 'failed' ? 'failed' : 'stopped';
}

/** The version a progress message records: a finished step's final rendering outranks every live one. */
function progressVersion(version: number, finished: boolean): number {
  return finished ? version + 1_000_000 : version;
}

/**
 * What the status message shows of a run apart from its live figures: the run's and its steps'
 * states, approvals gathered, incidents. An edit that changes it is a change; one that does not
 * only refreshes figures.
 */
function shapeOf(state: RunState): string {
  return JSON.stringify([
    state.status,
    state.steps.map((s) => [s.status, s.undo, s.attempt, s.votes.length, s.waitingForPerson]),
    state.incidents.map((i) => [i.id, i.overridden !== null]),
  ]);
}

/** When the step was next asked for approval after the request at `seq`: decisions from then on are not that request's. */
function nextRequestAt(timeline: readonly TimelineEvent[], stepId: string, seq: number): number | undefined {
  return timeline
    .find((e) => e.type === 'approval_requested' && e.stepId === stepId && e.seq > seq)
    ?.at.getTime();
}

/** What a Slack call does, as failpoints name it: a post of one kind of message, or an edit. */
type SlackCall = 'status' | 'event' | 'approval' | 'progress' | 'edit';

/** Seconds Slack asked to wait, when it answered 429: then the call did nothing. */
function rateLimitedFor(error: unknown): number | undefined {
  const e = error as { code?: string; retryAfter?: number };
  return e.code === 'slack_webapi_rate_limited_error' ? (e.retryAfter ?? 1) : undefined;
}

/** Slack's error code when it answered `ok: false`: it did not do what was asked. */
function platformError(error: unknown): string | undefined {
  const e = error as { code?: string; data?: { error?: string } };
  return e.code === 'slack_webapi_platform_error' ? (e.data?.error ?? 'unknown_error') : undefined;
}

/** Whether a failed post is known not to be in Slack: refused, rate limited, or never sent. */
function notPosted(error: unknown): boolean {
  return (
    error instanceof LeaseLost ||
    error instanceof TurnOver ||
    platformError(error) !== undefined ||
    rateLimitedFor(error) !== undefined
  );
}

/** A time as Slack writes message timestamps ("1700000000.000100"). */
function slackTs(ms: number): string {
  return (Math.max(0, ms) / 1_000).toFixed(6);
}

/** The WebClient's logger, writing to Ferry's (redacting) log. */
function slackLogger(log: Logger): SlackLogger {
  let level = LogLevel.INFO;
  const write =
    (fn: 'debug' | 'info' | 'warn' | 'error') =>
    (...msgs: unknown[]) =>
      log[fn]({ component: 'publisher-webclient' }, msgs.map(String).join(' '));
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** What one run may post in one turn: a channel is shared by its runs, so a run posts in turns. */
/** What a publisher learned of one channel's posts lately (ms since the epoch). */
interface ChannelPace {
  /** When the channel's post bucket next holds a token, as it said when it had none. */
  postsRefillAt: number;
  /** Until when its posts ran short lately: there, every post carries all a run has waiting. */
  contendedUntil: number;
  /** Until when Slack answered a post there with 429 lately: there, every post is paced. */
  refusedUntil: number;
}

interface Turn {
  /** Replies left in this turn (the status message comes with the first). */
  postsLeft: number;
  /**
   * An event someone waits on: the replies carrying it and the events before it go in this turn,
   * whatever `postsLeft` says.
   */
  urgentSeq: number | null;
  /** Wait for the channel's next token when its bucket is empty, or end the turn. */
  waitForPosts: boolean;
  /** Every post carries all the run has waiting: other runs wait in the channel too. */
  coalesce: boolean;
  /** Posts keep to the channel's rate: other runs wait there, or Slack refused a post there lately. */
  paced: boolean;
}

/** A post carrying only events up to the turn's urgent one (a progress message carries none). */
function upToUrgent(refs: PostIntent['refs'], turn: Turn): boolean {
  const seqs = refs.filter((r) => r.kind === 'event').map((r) => Number(r.key));
  return turn.urgentSeq !== null && seqs.length > 0 && Math.max(...seqs) <= turn.urgentSeq;
}

/** The run's turn ended with posts still waiting: they go in a later turn, oldest waiting first. */
class TurnOver extends Error {
  constructor() {
    super('the run posts again in a later turn');
    this.name = 'TurnOver';
  }
}

/** Another publisher took the run's lease: this one stops posting for it. */
class LeaseLost extends Error {
  constructor() {
    super('publisher lease lost');
    this.name = 'LeaseLost';
  }
}
