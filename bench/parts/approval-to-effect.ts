import type { StepSpec } from '../support/plans.ts';
import { until, type ApproveButton } from '../support/slack.ts';
import type { OpenStage } from '../support/stage.ts';
import { ms, percentile } from '../support/stats.ts';
import type { BenchWorld } from '../support/world.ts';

// From an approver's click to the change it allows: the Approve request leaves for Ferry, and the
// clock stops when the Route 53 change request arrives at the local Route 53 endpoint. In between:
// the ack, the decision committed, the executor woken, the step claimed, the record read and its
// capture committed. One click at a time, each on a run of its own that waits for it.

/**
 * Each run in a channel of its own, as services often have: fifty in one channel would wait their
 * turns at Slack's one post a second there before their approval requests show (the portfolio's
 * subject, not this one's).
 */
const a2eChannel = (service: string) => `C0A2E${service.toUpperCase()}`;
export const A2E_STEPS: StepSpec[] = [{ kind: 'dns', id: 'cutover', approval: true }];
export const a2eServices = (n: number) =>
  Array.from({ length: n }, (_, i) => `a2e${String(i + 1).padStart(2, '0')}`);

export interface ApprovalToEffectFigures {
  samples: number;
  p50_ms: number;
  p95_ms: number;
}

export async function measureApprovalToEffect(
  stage: OpenStage,
  world: BenchWorld,
  services: readonly string[],
): Promise<{ figures: ApprovalToEffectFigures; samples: number[] }> {
  const events = `${stage.ferry.url}/slack/events`;
  // Started a few at a time: the runs are the setting, not what is measured.
  const queue = [...services];
  const starter = async () => {
    for (let service = queue.shift(); service; service = queue.shift()) {
      const status = await stage.slack.send(
        events,
        stage.secret,
        stage.slack.commandBody(`start ${service} staging`, a2eChannel(service)),
      );
      if (status !== 200) throw new Error(`starting ${service} was answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, starter));
  const buttons = await until(() => {
    const channels = new Set(services.map(a2eChannel));
    const found = [...stage.slack.approveButtons.values()].filter((b) => channels.has(b.message.channel));
    return found.length >= services.length ? found : undefined;
  }, `${services.length} approval requests`);
  // Let the starts' own work (the rest of their messages) settle before the first click.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const samples: number[] = [];
  for (const button of buttons) samples.push(await clickAndWait(stage, world, button));
  return {
    figures: {
      samples: samples.length,
      p50_ms: ms(percentile(samples, 50)),
      p95_ms: ms(percentile(samples, 95)),
    },
    samples,
  };
}

/** Milliseconds from sending the click to the change request arriving; fails after 10 s. */
async function clickAndWait(stage: OpenStage, world: BenchWorld, button: ApproveButton): Promise<number> {
  const body = stage.slack.approveBody(button, button.message.channel);
  let timer: NodeJS.Timeout | undefined;
  const arrived = new Promise<number>((resolve, reject) => {
    world.onChange = resolve;
    timer = setTimeout(
      () => reject(new Error(`no Route 53 change within 10 s of approving ${button.runId}`)),
      10_000,
    );
  });
  const sent = performance.now();
  const status = await stage.slack.send(`${stage.ferry.url}/slack/events`, stage.secret, body);
  if (status !== 200) throw new Error(`approving ${button.runId} was answered ${status}`);
  try {
    return (await arrived) - sent;
  } finally {
    clearTimeout(timer);
    world.onChange = undefined;
  }
}
