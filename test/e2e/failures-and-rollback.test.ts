import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  hasButton,
  MALLORY,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';
import { listRuns } from '../../src/runs/lookup.ts';

const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: go, kind: manual, instructions: "Press Done when the team is ready." }
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - { id: pause-webhooks, kind: flag, action: on,
          provider: { type: http, url: "\${MAINT_URL}-webhooks", token: "\${MAINT_TOKEN}" } }
      - { id: cutover, kind: flag, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_URL}-cutover", token: "\${MAINT_TOKEN}" } }
      - { id: smoke, kind: check, checks: [ { http: { url: "\${MAINT_URL}", expect_status: 200 } } ] }
  production:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}-prod", token: "\${MAINT_TOKEN}" } }
  qa:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${QA_MAINTENANCE_URL}", token: "\${QA_ADMIN_TOKEN}" } }
`;

describe('failures, rejections and rollbacks', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('explains a malformed command, an unknown service or environment, and a second active run', async () => {
    const unknown = await h.command(ALICE, 'frobnicate billing');
    expect(unknown.text).toContain('Unknown subcommand \\"frobnicate\\"');

    await h.command(ALICE, 'start payroll staging');
    await h.waitFor(
      () =>
        h
          .responses(ALICE)
          .find((t) => t.includes('There is no plan for service "payroll". Known services: billing.')),
      'the unknown service error',
    );
    await h.command(ALICE, 'start billing uat');
    await h.waitFor(
      () =>
        h
          .responses(ALICE)
          .find(
            (t) =>
              t.includes('The billing plan has no environment "uat".') &&
              t.includes('Its environments: staging, production, qa'),
          ),
      'the unknown environment error',
    );
    await h.command(ALICE, 'start billing qa');
    await h.waitFor(
      () =>
        h
          .responses(ALICE)
          .find((t) =>
            t.includes(
              "billing qa needs `QA_MAINTENANCE_URL`, `QA_ADMIN_TOKEN` set in Ferry's environment before a run can start.",
            ),
          ),
      'the unset variables error',
    );
    await h.command(MALLORY, 'start billing production');
    await h.waitFor(
      () => h.responses(MALLORY).find((t) => t.includes('Only <@U01ALICE> may start billing runs.')),
      'the starter error',
    );
    expect(await listRuns(h.ferry.runs)).toEqual([]);
  });

  it('shows a failed step with its error and Retry / Skip / Roll back, and retries it', async () => {
    await h.command(ALICE, 'start billing staging');
    const ready = await h.waitFor(() => {
      const m = h.statusMessage();
      return hasButton(m, ActionId.done) && m;
    }, 'the Done button');
    // Refuse the step's next two calls: its fresh title read (which falls back quietly) and its capture.
    h.maintenance.failNext(403).failNext(403);
    await h.click(ALICE, ready, ActionId.done);
    const failed = await h.waitFor(() => {
      const m = h.statusMessage();
      return hasButton(m, ActionId.retry) && m;
    }, 'the failure');
    expect(readable(failed)).toMatch(/maintenance-on\* failed: .*403/);
    expect(hasButton(failed, ActionId.skip)).toBe(true);
    expect(hasButton(failed, ActionId.rollback)).toBe(true);

    await h.command(ALICE, 'start billing staging');
    await h.waitFor(
      () =>
        h.responses(ALICE).find((t) => /billing staging already has an active run \(r\d+, failed\)/.test(t)),
      'the second-run error',
    );

    await h.click(ALICE, failed, ActionId.retry);
    await h.waitFor(
      () => h.thread().find((t) => hasButton(t, ActionId.approve)),
      'the cutover approval request',
    );
    expect(h.maintenance.state('billing').enabled).toBe(true);
  });

  it('stops at a rejection, then rolls back what went through, newest first', async () => {
    const approval = h.thread().find((t) => hasButton(t, ActionId.approve))!;
    await h.click(BOB, approval, ActionId.reject);
    const rejected = await h.waitFor(() => {
      const m = h.statusMessage();
      return readable(m).includes('Rejected by <@U02BOB>') && hasButton(m, ActionId.rollback) && m;
    }, 'the rejection');
    await h.waitFor(
      () => readable(h.slack.message('C0MIGRATIONS', approval.ts)).includes('Rejected by <@U02BOB>'),
      'the approval message to close',
    );
    expect(h.maintenance.state('billing-cutover').enabled).toBe(false);

    await h.click(MALLORY, rejected, ActionId.rollback);
    await h.waitFor(
      () =>
        h.responses(MALLORY).some((t) => t.includes('Only the people who may start or approve billing runs')),
      'Mallory refused',
    );

    await h.click(ALICE, rejected, ActionId.rollback);
    await h.waitFor(() => readable(h.statusMessage()).includes('Rolled back'), 'the rollback');
    expect(h.maintenance.state('billing').enabled).toBe(false);
    expect(h.maintenance.state('billing-webhooks').enabled).toBe(false);
    // The status message may show the newest state a pass before the last events reach the thread.
    await h.waitFor(
      () => h.thread().map(readable).join('\n').includes('run rolled back'),
      'the rollback events in the thread',
    );
    const thread = h.thread().map(readable).join('\n');
    expect(thread.indexOf('`pause-webhooks` undone')).toBeLessThan(thread.indexOf('`maintenance-on` undone'));
    expect(thread).toContain('run rolled back');
  });

  it('rolls back a finished run with /migrate rollback, and aborts with /migrate abort', async () => {
    await h.command(ALICE, 'start billing production');
    await h.waitFor(() => readable(h.statusMessage()).includes('All 1 steps done'), 'the production run');
    expect(h.maintenance.state('billing-prod').enabled).toBe(true);
    const run = (await listRuns(h.ferry.runs)).find((r) => r.environment === 'production')!;
    // Changing a run is done in its channel, where its thread tells everyone.
    await h.command(ALICE, `rollback ${run.id}`, { channel: 'C0ELSEWHERE' });
    await h.waitFor(
      () => h.responses(ALICE).some((t) => t.includes(`${run.id} runs in <#C0MIGRATIONS>`)),
      'the other-channel refusal',
    );
    expect(h.maintenance.state('billing-prod').enabled).toBe(true);
    await h.command(ALICE, `rollback ${run.id}`);
    await h.waitFor(() => readable(h.statusMessage(run.id)).includes('Rolled back'), 'the rollback');
    expect(h.maintenance.state('billing-prod').enabled).toBe(false);

    await h.command(ALICE, 'abort');
    await h.waitFor(
      () => h.responses(ALICE).some((t) => t.includes('There is no active run in this channel')),
      'nothing to abort',
    );

    await h.command(ALICE, `note ${run.id} DNS looked fine from three resolvers`);
    await h.waitFor(
      () =>
        h.thread().length > 0 &&
        h.slack
          .thread('C0MIGRATIONS', h.statusMessage(run.id)!.ts)
          .some((m) => readable(m).includes('DNS looked fine')),
      'the note',
    );
    await h.command(ALICE, 'status');
    await h.waitFor(
      () => h.responses(ALICE).some((t) => t.includes(`billing production ${run.id}: rolled back`)),
      'the status reply',
    );
    await h.command(ALICE, 'list');
    await h.waitFor(() => h.responses(ALICE).some((t) => t.includes('active run')), 'the list reply');
  });
});
