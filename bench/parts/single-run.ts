import type pg from 'pg';
import type { StepSpec } from '../support/plans.ts';
import { until, type ApproveButton } from '../support/slack.ts';
import type { OpenStage } from '../support/stage.ts';
import { ms } from '../support/stats.ts';

// What Ferry costs per step when nothing else takes time: one run of ten steps whose providers
// answer at once, its two approvals given the moment they are asked for. Every millisecond from the
// start command to the run's end is Ferry's (decisions, claims, captures, the publisher posting the
// approval requests the approver clicks on), so the wall time per step is its overhead per step.
// The same run goes once before, on a service of its own, so that what is measured is a Ferry that
// has run a step before (as on a cutover night), not the first call of each code path in a process.

export const SINGLE_SERVICE = 'single';
export const WARMUP_SERVICE = 'single-warmup';
export const SINGLE_CHANNEL = 'C0BENCHONE';
/** The warm-up's own channel: its last messages must not share a channel with the measured run. */
export const WARMUP_CHANNEL = 'C0BENCHWARM';
export const SINGLE_STEPS: StepSpec[] = [
  { kind: 'maintenance', id: 'maintenance-on', action: 'on', approval: true },
  ...[1, 2, 3, 4].map((i): StepSpec => ({ kind: 'flag', id: `pause-${i}`, action: 'on' })),
  // Instant like the rest: a Route 53 change is PENDING at first, and waiting for INSYNC is Route 53's time.
  { kind: 'flag', id: 'cutover', action: 'on', approval: true },
  ...[1, 2, 3].map((i): StepSpec => ({ kind: 'flag', id: `resume-${i}`, action: 'off' })),
  { kind: 'maintenance', id: 'maintenance-off', action: 'off' },
];

export interface SingleRunFigures {
  steps: number;
  wall_ms: number;
  overhead_ms_per_step: number;
  /** Of the wall time, from each approval being asked for to its request showing in Slack. */
  approval_request_to_slack_ms: number[];
}

export async function measureSingleRun(
  stage: OpenStage,
  db: pg.Pool,
  service = SINGLE_SERVICE,
  channel = SINGLE_CHANNEL,
): Promise<SingleRunFigures> {
  const clicked = new Set<string>();
  const shownAt: number[] = [];
  const click = (button: ApproveButton) => {
    if (button.message.channel !== channel || clicked.has(button.value)) return;
    clicked.add(button.value);
    shownAt.push(Date.now());
    void stage.slack.send(
      `${stage.ferry.url}/slack/events`,
      stage.secret,
      stage.slack.approveBody(button, channel),
    );
  };
  stage.slack.onApproveButton.add(click);
  try {
    const sent = Date.now();
    const status = await stage.slack.send(
      `${stage.ferry.url}/slack/events`,
      stage.secret,
      stage.slack.commandBody(`start ${service} staging`, channel),
    );
    if (status !== 200) throw new Error(`the start command was answered ${status}`);
    const run = await until(async () => {
      const { rows } = await db.query<{ id: string; status: string; finished_at: Date | null }>(
        `select id, status, finished_at from runs where service = $1 and started_at >= $2
          order by started_at desc limit 1`,
        [service, new Date(sent)],
      );
      const found = rows[0];
      if (!found?.finished_at) return undefined;
      if (found.status !== 'succeeded') throw new Error(`the single run ended ${found.status}`);
      return found;
    }, 'the single run to finish');
    const { rows: requested } = await db.query<{ at: Date }>(
      `select at from timeline_events where run_id = $1 and type = 'approval_requested' order by seq`,
      [run.id],
    );
    const wall = run.finished_at!.getTime() - sent;
    return {
      steps: SINGLE_STEPS.length,
      wall_ms: wall,
      overhead_ms_per_step: ms(wall / SINGLE_STEPS.length),
      approval_request_to_slack_ms: requested.map((r, i) => (shownAt[i] ?? 0) - r.at.getTime()),
    };
  } finally {
    stage.slack.onApproveButton.delete(click);
  }
}
