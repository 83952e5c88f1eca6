import type pg from 'pg';
import type { StepSpec } from '../support/plans.ts';
import { until, type ApproveButton } from '../support/slack.ts';
import { CHANNEL, type OpenStage } from '../support/stage.ts';
import { ms, peakInWindow, percentile } from '../support/stats.ts';
import { bestSchedule, fewestPosts, p95Floor } from '../support/post-schedule.ts';
import { DEFAULT_RATE_LIMITS } from '../../src/sandbox/fake-slack/rate-limit.ts';

// A cutover night: ten services, staging and production, all started at once in one channel,
// against the Slack stand-in with Slack's own limits (about one message a second per channel, about
// fifty chat.update a minute per workspace). Each run pauses writes and jobs, moves DNS (production
// waits for an approval, given at once) and resumes; each maintenance or flag write takes a second.
// What is judged is the thread of each run: every timeline event in it, in order, soon.

export const PORTFOLIO_SERVICES = Array.from({ length: 10 }, (_, i) => `pf${String(i + 1).padStart(2, '0')}`);
export const PORTFOLIO_ENVIRONMENTS = ['staging', 'production'] as const;
export const portfolioSteps = (env: string): StepSpec[] => [
  { kind: 'maintenance', id: 'maintenance-on', action: 'on' },
  { kind: 'flag', id: 'writes-paused', action: 'on' },
  { kind: 'dns', id: 'cutover', approval: env === 'production' },
  { kind: 'flag', id: 'writes-resumed', action: 'off' },
  { kind: 'maintenance', id: 'maintenance-off', action: 'off' },
];

export interface PortfolioFigures {
  runs: number;
  events: number;
  delivered: number;
  order_violations: number;
  p95_event_to_slack_ms: number;
  /**
   * The lowest p95 a few simple schedules of the same events reach in the channel under the fake's
   * post limit (`bench/support/post-schedule.ts`): what Ferry's p95 is read against. A schedule
   * shows what is reachable, not that nothing better is.
   */
  p95_schedule_ms: number;
  /** How long that schedule held a run's reply back for more events to join it. */
  schedule_hold_ms: number;
  /** How long that schedule takes from the first event to its last post. */
  schedule_span_ms: number;
  /** The fewest posts any publisher needs for these events (status messages, approvals, replies). */
  fewest_posts: number;
  /**
   * A lower bound on the p95 of any publisher with these events under the fake's post limit: every
   * run's first reply needs its status message and, before it, those of the runs served earlier.
   */
  p95_floor_ms: number;
  /**
   * From each production run's approval request to that request showing in Slack (ms), at most:
   * the run is in maintenance, writes paused, until someone sees the request and approves.
   */
  approval_request_to_slack_max_ms: number;
  /**
   * How long each production run's service was in maintenance (maintenance on to off, ms): the
   * downtime its users saw. The approvals are given the moment their requests show, so a request
   * waiting for its post is downtime.
   */
  maintenance_p50_ms: number;
  maintenance_max_ms: number;
  slack_calls: number;
  /** Of those, chat.postMessage calls: what the channel's limit is spent on. */
  slack_posts: number;
  http_429: number;
}

export interface PortfolioOutcome {
  figures: PortfolioFigures;
  /** When each chat.update reached Slack (its clock, ms), answered or refused. */
  updateTimes: number[];
  /** How long the whole portfolio took, from the starts to the last event in Slack. */
  wallMs: number;
}

/**
 * Starts the portfolio through the stage's replicas in turn and waits until Slack shows every event,
 * or, with `watchMs`, until that long has passed (enough to see a minute of Slack calls).
 */
export async function publishPortfolio(
  stage: OpenStage,
  db: pg.Pool,
  timeoutMs: number,
  watchMs?: number,
): Promise<PortfolioOutcome> {
  const fake = stage.slack.fake;
  const callsBefore = fake.calls.length;
  const clicked = new Set<string>();
  let replica = 0;
  const next = () => stage.ferries[replica++ % stage.ferries.length]!.url;
  const click = (button: ApproveButton) => {
    if (button.message.channel !== CHANNEL || clicked.has(button.value)) return;
    clicked.add(button.value);
    void stage.slack.send(`${next()}/slack/events`, stage.secret, stage.slack.approveBody(button, CHANNEL));
  };
  stage.slack.onApproveButton.add(click);
  const began = Date.now();
  try {
    const starts = PORTFOLIO_SERVICES.flatMap((service) =>
      PORTFOLIO_ENVIRONMENTS.map((env) =>
        stage.slack.send(
          `${next()}/slack/events`,
          stage.secret,
          stage.slack.commandBody(`start ${service} ${env}`, CHANNEL),
        ),
      ),
    );
    const statuses = await Promise.all(starts);
    if (statuses.some((s) => s !== 200)) throw new Error(`starts were answered ${statuses.join(', ')}`);
    const runs = PORTFOLIO_SERVICES.length * PORTFOLIO_ENVIRONMENTS.length;
    if (watchMs !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, watchMs));
      return {
        figures: await judge(stage, db, callsBefore),
        updateTimes: updateTimes(stage, callsBefore),
        wallMs: Date.now() - began,
      };
    }
    // Done when every run has ended and every event of its timeline has a reply in Slack.
    await until(
      async () => {
        const { rows } = await db.query<{ finished: number; unposted: number; failed: number }>(
          `select count(*) filter (where finished_at is not null)::int as finished,
                  count(*) filter (where status = 'failed')::int as failed,
                  (select count(*)::int from timeline_events e
                    where not exists (select 1 from slack_messages m
                                       where m.run_id = e.run_id and m.kind = 'event' and m.key = e.seq::text)) as unposted
             from runs`,
        );
        const row = rows[0]!;
        if (row.failed > 0) throw new Error(`${row.failed} portfolio run(s) failed`);
        return row.finished === runs && row.unposted === 0;
      },
      'the portfolio to finish and reach Slack',
      timeoutMs,
    );
    const wallMs = Date.now() - began;
    return {
      figures: await judge(stage, db, callsBefore),
      updateTimes: updateTimes(stage, callsBefore),
      wallMs,
    };
  } finally {
    stage.slack.onApproveButton.delete(click);
  }
}

function updateTimes(stage: OpenStage, callsBefore: number): number[] {
  return stage.slack.fake.calls
    .slice(callsBefore)
    .filter((c) => c.method === 'chat.update')
    .map((c) => c.at);
}

/** The most chat.update calls Slack received in any minute. */
export function updatesPerMinuteMax(times: readonly number[]): number {
  return peakInWindow(times, 60_000);
}

/** Events Ferry posts as messages of their own (an incident, a reminder). */
const ALONE = new Set(['incident_opened', 'reminder']);
/** Events whose message may carry the events waiting before it, but none after (an approval request). */
const LAST = new Set(['approval_requested']);
/** Events one reply carries at most, so it stays within Slack's 50 blocks. */
const MAX_BATCH = 40;

/**
 * Every timeline event against what Slack holds: delivered when the reply its reference names is
 * in the run's thread; in order when each reply carries only events later than the one before it;
 * its delay from the event's time to the reply being posted.
 */
async function judge(stage: OpenStage, db: pg.Pool, callsBefore: number): Promise<PortfolioFigures> {
  const fake = stage.slack.fake;
  const { rows: events } = await db.query<{
    run_id: string;
    seq: number;
    at: Date;
    type: string;
    step_id: string | null;
  }>(`select run_id, seq, at, type, step_id from timeline_events order by run_id, seq`);
  const { rows: refs } = await db.query<{ run_id: string; key: string; ts: string }>(
    `select run_id, key, ts from slack_messages where kind = 'event'`,
  );
  const { rows: statusRefs } = await db.query<{ run_id: string; channel: string; ts: string }>(
    `select run_id, channel, ts from slack_messages where kind = 'status'`,
  );
  const tsOf = new Map(refs.map((r) => [`${r.run_id}:${r.key}`, r.ts]));
  const delays: number[] = [];
  const approvalWaits: number[] = [];
  let delivered = 0;
  let violations = 0;
  for (const status of statusRefs) {
    const thread = new Set(fake.thread(status.channel, status.ts).map((m) => m.ts));
    const runEvents = events.filter((e) => e.run_id === status.run_id);
    // The replies in the order Slack shows them, each with the events it carries.
    const replies = new Map<string, number[]>();
    for (const event of runEvents) {
      const ts = tsOf.get(`${event.run_id}:${event.seq}`);
      if (!ts || !thread.has(ts)) continue;
      delivered += 1;
      replies.set(ts, [...(replies.get(ts) ?? []), event.seq]);
      const posted = stage.slack.postedAt.get(ts);
      if (posted === undefined) continue;
      delays.push(posted - event.at.getTime());
      if (event.type === 'approval_requested') approvalWaits.push(posted - event.at.getTime());
    }
    let latest = 0;
    for (const ts of [...replies.keys()].sort()) {
      const seqs = replies.get(ts)!;
      if (Math.min(...seqs) < latest) violations += 1;
      latest = Math.max(latest, ...seqs);
    }
  }
  const calls = fake.calls.slice(callsBefore).filter((c) => c.method !== 'auth.test');
  const scheduled = events.map((e) => ({
    run: e.run_id,
    seq: e.seq,
    at: e.at.getTime(),
    alone: ALONE.has(e.type),
    last: LAST.has(e.type),
  }));
  const limit = { ...DEFAULT_RATE_LIMITS['chat.postMessage']!, maxBatch: MAX_BATCH };
  const schedule = bestSchedule(scheduled, limit);
  const approving = new Set(events.filter((e) => e.type === 'approval_requested').map((e) => e.run_id));
  const maintenance = [...approving].flatMap((run) => {
    const at = (step: string) =>
      events.find((e) => e.run_id === run && e.step_id === step && e.type === 'step_succeeded')?.at.getTime();
    const on = at('maintenance-on');
    const off = at('maintenance-off');
    return on === undefined || off === undefined ? [] : [off - on];
  });
  return {
    runs: statusRefs.length,
    events: events.length,
    delivered,
    order_violations: violations,
    p95_event_to_slack_ms: ms(percentile(delays, 95)),
    p95_schedule_ms: ms(schedule.p95Ms),
    schedule_hold_ms: schedule.holdMs,
    schedule_span_ms: ms(schedule.spanMs),
    fewest_posts: fewestPosts(scheduled, MAX_BATCH),
    p95_floor_ms: ms(p95Floor(scheduled, limit)),
    approval_request_to_slack_max_ms: ms(Math.max(0, ...approvalWaits)),
    maintenance_p50_ms: ms(percentile(maintenance, 50)),
    maintenance_max_ms: ms(Math.max(0, ...maintenance)),
    slack_calls: calls.length,
    slack_posts: calls.filter((c) => c.method === 'chat.postMessage').length,
    http_429: calls.filter((c) => c.status === 429).length,
  };
}
