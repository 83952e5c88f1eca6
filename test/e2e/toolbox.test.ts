import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeHeroku } from '../../src/sandbox/fakes/heroku.ts';
import { FakeRoute53 } from '../../src/sandbox/fakes/route53.ts';
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
import {
  addCronJobV1,
  cronStatuses,
  enqueueJobs,
  openTestRedis,
  redisUrlForDb,
} from '../support/sidekiq-fixtures.ts';
import { listRuns } from '../../src/runs/lookup.ts';

// The cutover toolbox driven through Slack: a dry run, a run with Route 53, sidekiq-cron, a Sidekiq
// drain and Heroku formation against local servers speaking their protocols and a real Redis, then
// a rollback that restores each system exactly. Redis DB 8 belongs to this file.
const REDIS_DB = 8;

const plan = `
service: billing
approvers: { users: [U02BOB] }
environments:
  production:
    steps:
      - { id: disable-crons, kind: crons, action: disable,
          provider: { type: sidekiq-cron, url: "\${OLD_REDIS_URL}", jobs: all } }
      - { id: pause-workers, kind: jobs, action: pause,
          provider: { type: heroku-formation, app: billing-production, process_types: [worker, clock] } }
      - { id: cutover, kind: dns, approval: required,
          provider: { type: route53, hosted_zone_id: Z0FERRY, record: api.billing.example.com.,
                      record_type: CNAME, value: billing.eu-central.example.net., ttl: 60 } }
      - { id: drain-old-queues, kind: drain, timeout: 20s,
          provider: { type: sidekiq, url: "\${OLD_REDIS_URL}", queues: all } }
`;

describe('the cutover toolbox through Slack', () => {
  let h: Harness;
  let redis: Redis;
  const route53 = new FakeRoute53({ propagation: { polls: 1 } });
  const heroku = new FakeHeroku({ token: 'heroku-secret' });
  let closeFakes: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    // The SDK reads credentials from the environment itself; this file runs in its own process.
    process.env.AWS_ACCESS_KEY_ID = 'AKIAFERRYTEST0000000';
    process.env.AWS_SECRET_ACCESS_KEY = 'not-a-secret';
    redis = openTestRedis(REDIS_DB);
    await redis.flushdb();
    for (const [name, status] of [
      ['nightly_invoices', 'enabled'],
      ['hourly_sync', 'enabled'],
      ['old_report', 'disabled'],
    ] as const) {
      await addCronJobV1(redis, { name, status });
    }
    await enqueueJobs(redis, 'default', 3);
    route53.addZone('Z0FERRY', 'example.com.');
    route53.setRecord('Z0FERRY', {
      name: 'api.billing.example.com.',
      type: 'CNAME',
      ttl: 60,
      values: ['billing-prod.herokudns.com'],
    });
    heroku.addApp('billing-production', { formation: { web: 2, worker: 3, clock: 1 } });
    const r53 = await route53.listen();
    const hk = await heroku.listen();
    closeFakes = [() => r53.close(), () => hk.close()];
    h = await startHarness({
      plan,
      env: {
        OLD_REDIS_URL: redisUrlForDb(REDIS_DB),
        AWS_ENDPOINT_URL_ROUTE_53: r53.url,
        AWS_REGION: 'us-east-1',
        HEROKU_API_URL: hk.url,
        HEROKU_API_TOKEN: 'heroku-secret',
        FERRY_SIDEKIQ_HEARTBEAT_MS: '100',
      },
    });
  });

  afterAll(async () => {
    await h?.stop();
    for (const close of closeFakes) await close();
    await redis?.flushdb();
    redis?.disconnect();
  });

  it('shows what a run would change, reading each system, and changes nothing', async () => {
    await h.command(ALICE, 'plan billing production');
    const reply = await h.waitFor(
      () => h.slack.ephemerals(ALICE).find((e) => (e.text ?? '').startsWith('Dry run')),
      'the dry run',
    );
    const text = readable(reply as never);
    expect(text).toContain('disable 2 of 3 sidekiq-cron jobs (1 already disabled)');
    expect(text).toContain('billing-production worker 3 -> 0, clock 1 -> 0');
    expect(text).toMatch(
      /api\.billing\.example\.com\.? CNAME billing-prod\.herokudns\.com\.? -> billing\.eu-central\.example\.net\.? \(TTL 60\)/,
    );
    expect(text).toContain('needs approval');
    expect(await cronStatuses(redis)).toMatchObject({
      'cron_job:nightly_invoices': 'enabled',
      'cron_job:hourly_sync': 'enabled',
    });
    expect(heroku.app('billing-production')!.formation.worker!.quantity).toBe(3);
    expect(await listRuns(h.ferry.runs)).toEqual([]);
  });

  it('runs the cutover, waits for the old queues to drain with live progress, then rolls everything back', async () => {
    await h.command(ALICE, 'start billing production');
    const approval = await h.waitFor(
      () => h.thread().find((t) => hasButton(t, ActionId.approve)),
      'the DNS approval',
    );
    expect(readable(approval)).toContain('billing.eu-central.example.net');
    await h.waitFor(
      () =>
        // Since when, not for how long: a duration on a message would freeze between edits.
        /jobs paused since \d\d:\d\d UTC · crons off since \d\d:\d\d UTC/.test(readable(h.statusMessage())),
      'what is held, on the status message',
    );
    expect(await cronStatuses(redis)).toMatchObject({
      'cron_job:nightly_invoices': 'disabled',
      'cron_job:hourly_sync': 'disabled',
      'cron_job:old_report': 'disabled',
    });
    expect(heroku.app('billing-production')!.formation).toMatchObject({
      worker: { quantity: 0 },
      clock: { quantity: 0 },
      web: { quantity: 2 },
    });

    await h.click(BOB, approval, ActionId.approve);
    await h.waitFor(
      () =>
        route53
          .getRecord('Z0FERRY', 'api.billing.example.com.', 'CNAME')
          ?.values[0]?.startsWith('billing.eu-central'),
      'the CNAME',
    );
    const progress = await h.waitFor(
      () =>
        h.thread().find((m) => readable(m).includes('drain-old-queues') && readable(m).includes('enqueued')),
      'drain progress',
    );
    // A worker on the new platform would not touch the old Redis: empty it the way Sidekiq would.
    await redis.del('queue:default');
    await h.waitFor(() => readable(h.statusMessage()).includes('All 4 steps done'), 'the run to finish');
    await h.waitFor(
      () => readable(h.slack.message(CHANNEL, progress.ts)).includes('✅'),
      'the progress message to close',
    );

    const status = h.statusMessage()!;
    await h.click(ALICE, status, ActionId.rollback);
    await h.waitFor(() => readable(h.statusMessage()).includes('Rolled back'), 'the rollback');
    expect(route53.getRecord('Z0FERRY', 'api.billing.example.com.', 'CNAME')).toMatchObject({
      ttl: 60,
      values: ['billing-prod.herokudns.com'],
    });
    expect(await cronStatuses(redis)).toEqual({
      'cron_job:nightly_invoices': 'enabled',
      'cron_job:hourly_sync': 'enabled',
      'cron_job:old_report': 'disabled',
    });
    expect(heroku.app('billing-production')!.formation).toMatchObject({
      worker: { quantity: 3 },
      clock: { quantity: 1 },
    });
    const everything = [...h.slack.messages(CHANNEL), ...h.thread()].map(readable).join('\n');
    expect(everything).not.toContain('heroku-secret');
    const metrics = await (await fetch(`${h.ferry.url}/metrics`)).text();
    expect(metrics).toMatch(/ferry_step_attempts_total\{kind="dns",direction="do",outcome="succeeded"\} 1/);
    expect(metrics).toMatch(/ferry_step_attempts_total\{kind="dns",direction="undo",outcome="succeeded"\} 1/);
    expect(metrics).toMatch(/ferry_active_runs 0/);
  });
});
