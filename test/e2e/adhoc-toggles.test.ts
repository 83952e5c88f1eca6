import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  CHANNEL,
  hasButton,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';
import { addCronJobV1, cronStatuses, openTestRedis, redisUrlForDb } from '../support/sidekiq-fixtures.ts';
import { listRuns } from '../../src/runs/lookup.ts';

// `/migrate maintenance|crons`: one-step runs beside the runbook's run, approved like a step.
// Redis DB 7 belongs to this file.
const REDIS_DB = 7;

const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  production:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - { id: disable-crons, kind: crons, action: disable, provider: { type: sidekiq-cron, url: "\${CRON_REDIS}", jobs: all } }
      - { id: watch, kind: manual, instructions: "Watch the dashboards, then press Done." }
`;

describe('ad hoc maintenance and cron toggles', () => {
  let h: Harness;
  let redis: Redis;
  beforeAll(async () => {
    redis = openTestRedis(REDIS_DB);
    await redis.flushdb();
    await addCronJobV1(redis, { name: 'nightly_invoices' });
    await addCronJobV1(redis, { name: 'hourly_sync' });
    h = await startHarness({ plan, env: { CRON_REDIS: redisUrlForDb(REDIS_DB) } });
  });
  afterAll(async () => {
    await h?.stop();
    await redis?.flushdb();
    redis?.disconnect();
  });

  const approvalFor = (runId: string) => {
    const status = h.slack
      .messages(CHANNEL)
      .find((m) => (m.text ?? '').startsWith(`billing production ${runId}:`));
    return status
      ? h.slack.thread(CHANNEL, status.ts).find((m) => hasButton(m, ActionId.approve))
      : undefined;
  };

  it('lifts maintenance during a run after a second person approves, and keeps the runbook run going', async () => {
    await h.command(ALICE, 'start billing production');
    await h.waitFor(
      () => hasButton(h.statusMessage(), ActionId.done),
      'the runbook run to wait at its manual step',
    );
    expect(h.maintenance.state('billing').enabled).toBe(true);

    await h.command(BOB, 'lock billing production incident in progress');
    await h.waitFor(() => h.responses(BOB).some((t) => t.startsWith('🔒')), 'the lock');
    await h.command(ALICE, 'maintenance billing production off');
    const reply = await h.waitFor(
      () =>
        h.responses(ALICE).find((t) => / maintenance off for billing production waits for approval/.test(t)),
      'the toggle reply',
    );
    const runId = /^(r\d+):/.exec(reply)![1]!;
    const approval = await h.waitFor(() => approvalFor(runId), 'the toggle approval');
    // With the toggle waiting beside it, a command that leaves out the run id still means the migration.
    await h.command(BOB, 'note lifting maintenance for the incident');
    const [runbook] = (await listRuns(h.ferry.runs)).filter((r) => r.id !== runId);
    await h.waitFor(
      () => h.responses(BOB).some((t) => t.includes(`📝 Noted on ${runbook!.id}.`)),
      'the note on the runbook run',
    );

    await h.click(ALICE, approval, ActionId.approve);
    await h.waitFor(
      () => h.responses(ALICE).some((t) => t.includes('You are not an approver for billing production')),
      'the starter refused',
    );
    await h.click(BOB, approval, ActionId.approve);
    await h.waitFor(() => !h.maintenance.state('billing').enabled, 'maintenance off');
    const status = await h.waitFor(
      () =>
        h.slack
          .messages(CHANNEL)
          .find(
            (m) =>
              readable(m).includes(`billing · production · ${runId} · ad hoc`) &&
              readable(m).includes('All 1 steps done'),
          ),
      'the toggle run to finish',
    );
    expect(readable(status)).toContain('maintenance-off');
    const runs = await listRuns(h.ferry.runs);
    expect(runs.find((r) => r.id !== runId)).toMatchObject({ status: 'waiting' });
  });

  it('re-enables the crons the runbook disabled, ad hoc, and rolls the toggle back exactly', async () => {
    // The runbook run disabled both jobs; during the incident someone needs them back.
    expect(Object.values(await cronStatuses(redis))).toEqual(['disabled', 'disabled']);
    await h.command(ALICE, 'crons billing production enable');
    const reply = await h.waitFor(
      () => h.responses(ALICE).find((t) => / crons enable for billing production/.test(t)),
      'the toggle reply',
    );
    const runId = /^(r\d+):/.exec(reply)![1]!;
    await h.click(BOB, await h.waitFor(() => approvalFor(runId), 'the approval'), ActionId.approve);
    await h.waitFor(
      async () => Object.values(await cronStatuses(redis)).every((s) => s === 'enabled'),
      'the crons to be enabled',
    );

    await h.command(ALICE, `rollback ${runId}`);
    await h.waitFor(
      async () => Object.values(await cronStatuses(redis)).every((s) => s === 'disabled'),
      'the crons to be disabled again',
    );
  });
});
