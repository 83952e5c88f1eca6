import type pg from 'pg';
import type { StepSpec } from '../support/plans.ts';
import { until, type ApproveButton } from '../support/slack.ts';
import { CHANNEL, type OpenStage } from '../support/stage.ts';
import { ms, peakInWindow, percentile } from '../support/stats.ts';

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
  slack_calls: number;
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

/**
 * Every timeline event against what Slack holds: delivered when the reply its reference names is
 * in the run's thread; in order when each reply carries only events later than the one before it;
 * its delay from the event's time to the reply being posted.
 */
async function judge(stage: OpenStage, db: pg.Pool, callsBefore: number): Promise<PortfolioFigures> {
  const fake = stage.slack.fake;
  const { rows: events } = await db.query<{ run_id: string; seq: number; at: Date }>(
    `select run_id, seq, at from timeline_events order by run_id, seq`,
  );
  const { rows: refs } = await db.query<{ run_id: string; key: string; ts: string }>(
    `select run_id, key, ts from slack_messages where kind = 'event'`,
  );
  const { rows: statusRefs } = await db.query<{ run_id: string; channel: string; ts: string }>(
    `select run_id, channel, ts from slack_messages where kind = 'status'`,
  );
  const tsOf = new Map(refs.map((r) => [`${r.run_id}:${r.key}`, r.ts]));
  const delays: number[] = [];
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
      if (posted !== undefined) delays.push(posted - event.at.getTime());
    }
    let latest = 0;
    for (const ts of [...replies.keys()].sort()) {
      const seqs = replies.get(ts)!;
      if (Math.min(...seqs) < latest) violations += 1;
      latest = Math.max(latest, ...seqs);
    }
  }
  const calls = fake.calls.slice(callsBefore).filter((c) => c.method !== 'auth.test');
  return {
    runs: statusRefs.length,
    events: events.length,
    delivered,
    order_violations: violations,
    p95_event_to_slack_ms: ms(percentile(delays, 95)),
    slack_calls: calls.length,
    http_429: calls.filter((c) => c.status === 429).length,
  };
}
