import type pg from 'pg';
import { ms, percentile, ratio } from '../support/stats.ts';
import { CHANNEL, fire, type Stage } from '../support/stage.ts';
import { until, type ApproveButton } from '../support/slack.ts';
import type { StepSpec } from '../support/plans.ts';

// How fast Ferry answers Slack compared with a Bolt app that only acks: the same signed requests, at
// the same concurrency, in interleaved rounds (Ferry, baseline, baseline, Ferry, ...) so that a
// machine that gets busier or quieter during the run weighs on both alike.

export interface AckFigures {
  requests: number;
  concurrency: number;
  p50_ms: number;
  p99_ms: number;
  baseline_p50_ms: number;
  baseline_p99_ms: number;
  p50_ratio: number;
  p99_ratio: number;
}

export interface AckSamples {
  ferry: number[];
  baseline: number[];
}

export interface AckOptions {
  requests: number;
  concurrency: number;
  rounds: number;
  warmup: number;
}

export function summarise(samples: AckSamples, options: AckOptions): AckFigures {
  const p50 = percentile(samples.ferry, 50);
  const p99 = percentile(samples.ferry, 99);
  const b50 = percentile(samples.baseline, 50);
  const b99 = percentile(samples.baseline, 99);
  return {
    requests: samples.ferry.length,
    concurrency: options.concurrency,
    p50_ms: ms(p50),
    p99_ms: ms(p99),
    baseline_p50_ms: ms(b50),
    baseline_p99_ms: ms(b99),
    p50_ratio: ratio(p50, b50),
    p99_ratio: ratio(p99, b99),
  };
}

/** The order of the two targets in round `r`: ABBA, so neither is always first after a pause. */
function order(r: number): Array<'ferry' | 'baseline'> {
  return r % 2 === 0 ? ['ferry', 'baseline'] : ['baseline', 'ferry'];
}

/**
 * `/migrate status` in a channel with runs: Ferry reads the latest run and answers with its status.
 * With `text` another command: `help`, answered in the ack itself, leaves nothing to do after it,
 * so it measures the ack path alone.
 */
export async function measureCommands(
  stage: Stage,
  options: AckOptions,
  text = 'status',
): Promise<AckSamples> {
  const bodies = (n: number) => Array.from({ length: n }, () => stage.slack.commandBody(text, CHANNEL));
  for (const target of ['ferry', 'baseline'] as const)
    await fire(stage, target, bodies(options.warmup), options.concurrency);
  const samples: AckSamples = { ferry: [], baseline: [] };
  const perRound = Math.ceil(options.requests / options.rounds);
  for (let r = 0; r < options.rounds; r++) {
    for (const target of order(r)) {
      const result = await fire(stage, target, bodies(perRound), options.concurrency);
      samples[target].push(...result.latencies);
    }
  }
  return samples;
}

/** The channel of the n-th run the clicks part starts. */
const clickChannel = (n: number) => `C0CLICK${String(n).padStart(3, '0')}`;

/** Services whose runs wait for Bob's approval first: Approve runs two instant steps. */
export const CLICK_SERVICES = Array.from({ length: 25 }, (_, i) => `ack${String(i + 1).padStart(2, '0')}`);
export const CLICK_ENVIRONMENTS = ['staging', 'production'] as const;
export const CLICK_STEPS: StepSpec[] = [
  { kind: 'maintenance', id: 'maintenance-on', action: 'on', approval: true },
  { kind: 'maintenance', id: 'maintenance-off', action: 'off' },
];

/**
 * Button clicks: in each round, Approve on every pending approval (fifty runs, started before the
 * round) and, for the rest, Approve on runs that finished in earlier rounds (Ferry refuses those and
 * tells the clicker). The baseline answers the very same bodies.
 */
export async function measureClicks(stage: Stage, db: pg.Pool, options: AckOptions): Promise<AckSamples> {
  const finished: ApproveButton[] = [];
  const prepare = async (): Promise<ApproveButton[]> => {
    await until(async () => {
      const { rows } = await db.query<{ status: string; n: number }>(
        `select status, count(*)::int as n from runs where status not in ('succeeded', 'rolled_back', 'aborted') group by status`,
      );
      if (rows.some((r) => r.status === 'failed')) throw new Error('a benchmark run failed');
      return rows.length === 0;
    }, 'the previous round’s runs to finish');
    stage.slack.approveButtons.clear();
    // Each run in a channel of its own, as services often have: fifty runs in one channel would
    // wait their turns at Slack's one post a second there, which is the portfolio's subject.
    for (const [i, service] of CLICK_SERVICES.entries())
      for (const [j, env] of CLICK_ENVIRONMENTS.entries())
        await stage.slack.send(
          stage.ferry.url + '/slack/events',
          stage.secret,
          stage.slack.commandBody(`start ${service} ${env}`, clickChannel(i * CLICK_ENVIRONMENTS.length + j)),
        );
    const want = CLICK_SERVICES.length * CLICK_ENVIRONMENTS.length;
    await until(() => stage.slack.approveButtons.size >= want, `${want} approval requests`);
    return [...stage.slack.approveButtons.values()];
  };
  const round = (pending: ApproveButton[], n: number): string[] => {
    const every = Math.max(1, Math.floor(n / pending.length));
    const bodies: string[] = [];
    for (let i = 0; i < n; i++) {
      const real = i % every === 0 ? pending[i / every] : undefined;
      const button = real ?? finished[i % Math.max(1, finished.length)] ?? pending[i % pending.length]!;
      bodies.push(stage.slack.approveBody(button, button.message.channel));
    }
    return bodies;
  };
  const samples: AckSamples = { ferry: [], baseline: [] };
  const perRound = Math.ceil(options.requests / options.rounds);
  for (let r = -1; r < options.rounds; r++) {
    const pending = await prepare();
    const bodies = round(pending, r < 0 ? options.warmup : perRound);
    for (const target of order(r + 1)) {
      const result = await fire(stage, target, bodies, options.concurrency);
      if (r >= 0) samples[target].push(...result.latencies);
    }
    finished.push(...pending);
  }
  return samples;
}
