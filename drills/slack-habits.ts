import type { SlackMessage } from '../src/sandbox/fake-slack.ts';
import { ActionId } from '../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  burst,
  CHANNEL,
  hasButton,
  sleep,
  snapshot,
  startDrillFerry,
  startHealthEndpoint,
  type DrillFerry,
} from './support/h5-ferry.ts';
import type { Drill, DrillContext, DrillResult } from './types.ts';

// Slack's habits, played against a real Ferry process through signed requests: Slack re-sending one
// delivery (X-Slack-Retry-Num), people pressing a button two or three times within 50 ms (each press
// its own trigger_id), and presses on buttons that no longer apply (a replaced approval request, a
// step already retried or done, a finished or rolled-back run). Each must have at most one effect
// (a change on a fake system or a decision recorded), and every press that changed nothing must get
// an ephemeral saying why.

const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_BASE}/billing", token: "\${MAINT_TOKEN}" } }
      - { id: go, kind: manual, instructions: "Press Done when the team is ready." }
      - { id: smoke, kind: check, checks: [ { http: { url: "\${HEALTH_URL}", expect_status: 200 } } ] }
      - { id: cutover, kind: flag, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_BASE}/billing-cutover", token: "\${MAINT_TOKEN}" } }
`;

/** Something a press can change; `allowed` is how much of it one accepted press may add. */
interface Counter {
  what: string;
  read: () => Promise<number>;
  allowed: number;
}

interface Tally {
  doubleClicks: number;
  doubleClickExtra: number;
  slackRetries: number;
  retryExtra: number;
  staleClicks: number;
  staleAccepted: number;
  unanswered: number;
}

export const drill: Drill = {
  name: "Slack's habits: retried deliveries, double clicks, stale buttons",
  async run(ctx: DrillContext): Promise<DrillResult> {
    const tally: Tally = {
      doubleClicks: 0,
      doubleClickExtra: 0,
      slackRetries: 0,
      retryExtra: 0,
      staleClicks: 0,
      staleAccepted: 0,
      unanswered: 0,
    };
    const findings: string[] = [];
    const health = await startHealthEndpoint();
    health.set(500);
    let ferry: DrillFerry | undefined;
    try {
      ferry = await startDrillFerry({
        name: 'habits',
        pgUrl: ctx.pgUrl,
        plans: [plan],
        env: { HEALTH_URL: health.url },
      });
      await play(ferry, health, tally, findings, ctx);
    } catch (error) {
      findings.push(`the drill stopped early: ${(error as Error).message}`);
    } finally {
      if (ferry && !ferry.alive()) findings.push('the Ferry process exited during the drill');
      await ferry?.stop();
      await health.close();
    }
    return {
      figures: {
        double_clicks: tally.doubleClicks,
        double_click_extra_effects: tally.doubleClickExtra,
        slack_retries: tally.slackRetries,
        retry_extra_effects: tally.retryExtra,
        stale_clicks: tally.staleClicks,
        stale_clicks_accepted: tally.staleAccepted,
        clicks_unanswered: tally.unanswered,
      },
      findings,
    };
  },
};

async function play(
  ferry: DrillFerry,
  health: Awaited<ReturnType<typeof startHealthEndpoint>>,
  tally: Tally,
  findings: string[],
  ctx: DrillContext,
): Promise<void> {
  const f = ferry;
  const timeline = (runId: string, type: string, step?: string) =>
    f.count(
      `select count(*) as n from timeline_events where run_id = $1 and type = $2 and ($3::text is null or step_id = $3)`,
      [runId, type, step ?? null],
    );
  const approvals = (runId: string, step: string, decision: string) =>
    f.count(`select count(*) as n from approvals where run_id = $1 and step_id = $2 and decision = $3`, [
      runId,
      step,
      decision,
    ]);
  const runStatus = async (runId: string) =>
    (await f.query<{ status: string }>(`select status from runs where id = $1`, [runId]))[0]?.status;
  const stepRow = async (runId: string, step: string) =>
    (
      await f.query<{ status: string; attempt: number }>(
        `select status, attempt from steps where run_id = $1 and step_id = $2`,
        [runId, step],
      )
    )[0];
  const writes = (app: string) => Promise.resolve(f.maintenance.state(app).writes);
  const statusWith = (runId: string, actionId: string, what: string) =>
    f.waitFor(async () => {
      const m = await f.statusMessage(runId);
      return hasButton(m, actionId) && m;
    }, what);
  const approvalRequest = (runId: string, step: string, other?: SlackMessage) =>
    f.waitFor(
      async () =>
        (await f.thread(runId)).find(
          (m) =>
            hasButton(m, ActionId.approve) &&
            JSON.stringify(m.blocks).includes(`"approval:${step}:`) &&
            m.ts !== other?.ts,
        ),
      `the approval request for ${step}`,
    );

  /**
   * Presses `actionId` on `message` `clicks` times, 20-25 ms apart, then counts what changed and
   * what the presser was told. A burst may be accepted once; a stale press not at all.
   */
  const press = async (p: {
    label: string;
    kind: 'burst' | 'stale';
    user: string;
    message: SlackMessage;
    actionId: string;
    clicks?: number;
    counters: Counter[];
    /** Waits for the accepted press's outcome before anything is counted. */
    settle?: () => Promise<unknown>;
    /** Words the refusal must contain. */
    answer?: RegExp;
  }) => {
    const clicks = p.clicks ?? 1;
    const before = await Promise.all(p.counters.map((c) => c.read()));
    const seq = f.slackSeq();
    const statuses = await burst(clicks, clicks === 3 ? 20 : 25, () =>
      f.click(p.user, p.message, p.actionId).then((r) => r.status),
    );
    if (statuses.some((s) => s !== 200))
      findings.push(`${p.label}: Ferry answered ${statuses.join(', ')} instead of 200 to each press`);
    await p.settle?.().catch((error: unknown) => findings.push(`${p.label}: ${(error as Error).message}`));
    // Presses that changed nothing should each be told so: wait for those answers, then a little
    // longer for a late second effect.
    const accepted = async () => {
      const now = await Promise.all(p.counters.map((c) => c.read()));
      return Math.max(0, ...now.map((n, i) => Math.min(1, n - before[i]!)));
    };
    const refusalsDue = async () => clicks - Math.min(clicks, await accepted());
    await f
      .waitFor(
        async () => f.ephemerals(p.user, seq).length >= (await refusalsDue()),
        `${p.label}: an answer to each press`,
        5_000,
      )
      .catch(() => undefined);
    await sleep(300);
    const after = await Promise.all(p.counters.map((c) => c.read()));
    const extra = p.counters.reduce(
      (sum, c, i) => sum + Math.max(0, after[i]! - before[i]! - (p.kind === 'stale' ? 0 : c.allowed)),
      0,
    );
    const changed = p.counters
      .map((c, i) => (after[i]! > before[i]! ? `${c.what} +${after[i]! - before[i]!}` : ''))
      .filter(Boolean);
    const answers = f.ephemerals(p.user, seq);
    const due = await refusalsDue();
    const unanswered = Math.max(0, due - answers.length);
    tally.unanswered += unanswered;
    if (p.kind === 'burst') {
      tally.doubleClicks += 1;
      tally.doubleClickExtra += extra;
      if (extra > 0)
        findings.push(`${p.label}: ${clicks} presses had ${extra} extra effect(s) (${changed.join(', ')})`);
    } else {
      tally.staleClicks += 1;
      if (extra > 0) {
        tally.staleAccepted += 1;
        findings.push(`${p.label}: the stale press was accepted (${changed.join(', ')})`);
      }
    }
    if (unanswered > 0)
      findings.push(`${p.label}: ${unanswered} press(es) that changed nothing got no answer`);
    if (p.answer && due > 0 && !answers.some((a) => p.answer!.test(a.text)))
      findings.push(
        `${p.label}: the answer does not say ${String(p.answer)}; it said: ${answers.map((a) => `"${a.text}"`).join(', ') || 'nothing'}`,
      );
    ctx.log(
      `${p.label}: ${clicks} press(es), ${changed.length ? changed.join(', ') : 'no change'}, ${answers.length} answer(s)${answers[0] ? ` ("${answers[0].text.slice(0, 90)}")` : ''}`,
    );
  };

  // ---- Slack re-sends a slash command ---------------------------------------------------------
  const fields = f.commandFields(ALICE, 'start billing staging');
  const aliceSeq = f.slackSeq();
  // The retry Slack sends while the first delivery is still being handled, then a later one.
  await burst(2, 20, (i) =>
    f.sendCommand(fields, i === 0 ? {} : { retryNum: 1, retryReason: 'http_timeout' }),
  );
  await f.sendCommand(fields, { retryNum: 2, retryReason: 'http_timeout' });
  tally.slackRetries += 2;
  const run = await f.waitFor(() => f.latestRun('billing'), 'the run to start');
  const approval1 = await approvalRequest(run.id, 'maintenance-on');
  await sleep(300);
  const runs = await f.count(`select count(*) as n from runs where service = 'billing'`);
  tally.retryExtra += Math.max(0, runs - 1);
  if (runs !== 1) findings.push(`a slash command Slack delivered 3 times started ${runs} runs`);
  const aliceSaw = f.ephemerals(ALICE, aliceSeq).map((e) => e.text);
  if (aliceSaw.some((t) => /already|active run|🚫|⚠️/.test(t)))
    findings.push(`Slack's retries of one /migrate start showed Alice: ${aliceSaw.join(' | ')}`);
  ctx.log(`slash command delivered 3 times (retry 1 concurrent): ${runs} run(s)`);

  // ---- Slack re-sends a click -----------------------------------------------------------------
  const approveOnce = f.clickPayload(BOB, approval1, ActionId.approve);
  const bobSeq = f.slackSeq();
  const approvedBefore = await approvals(run.id, 'maintenance-on', 'approved');
  await burst(2, 20, (i) => f.sendClick(approveOnce, i === 0 ? {} : { retryNum: 1 }));
  await f.sendClick(approveOnce, { retryNum: 2 });
  tally.slackRetries += 2;
  const afterGo = await statusWith(run.id, ActionId.done, 'the manual step after maintenance-on');
  await sleep(300);
  const approvedExtra = (await approvals(run.id, 'maintenance-on', 'approved')) - approvedBefore - 1;
  const writesExtra = f.maintenance.state('billing').writes - 1;
  tally.retryExtra += Math.max(0, approvedExtra) + Math.max(0, writesExtra);
  if (approvedExtra > 0 || writesExtra > 0)
    findings.push(
      `an Approve click Slack delivered 3 times recorded ${approvedExtra + 1} approvals and ${writesExtra + 1} writes`,
    );
  const bobSaw = f.ephemerals(BOB, bobSeq).map((e) => e.text);
  if (bobSaw.length > 0)
    findings.push(
      `Bob pressed Approve once (Slack delivered it 3 times) and was told: ${bobSaw.join(' | ')}`,
    );
  ctx.log(
    `Approve delivered 3 times: maintenance writes ${f.maintenance.state('billing').writes}, answers ${bobSaw.length}`,
  );

  // ---- Slack re-sends an event ----------------------------------------------------------------
  const envelope = f.eventEnvelope('status');
  const eventStatuses: number[] = [];
  for (const retryNum of [undefined, 1, 2]) {
    const res = await f.sendEvent(envelope, retryNum === undefined ? {} : { retryNum });
    eventStatuses.push(res.status);
  }
  tally.slackRetries += 2;
  // Bolt acks an event before its middleware runs, so the delivery is recorded just after the 200:
  // wait for it, then give a late duplicate the same time to show up.
  const countEvent = () =>
    f.count(`select count(*) as n from slack_deliveries where key = $1`, [
      `event:${String(envelope.event_id)}`,
    ]);
  await f
    .waitFor(async () => (await countEvent()) > 0, 'the event to be recorded', 5_000)
    .catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  const eventRows = await countEvent();
  tally.retryExtra += Math.max(0, eventRows - 1);
  if (eventStatuses.some((s) => s !== 200))
    findings.push(`an event delivered 3 times was answered ${eventStatuses.join(', ')}, not 200 each`);
  if (eventRows !== 1) findings.push(`an event delivered 3 times was recorded ${eventRows} times`);
  ctx.log(`event delivered 3 times: answered ${eventStatuses.join(', ')}, recorded ${eventRows} time(s)`);

  // ---- Done pressed twice ---------------------------------------------------------------------
  const goMessage = snapshot(afterGo);
  await press({
    label: 'Done pressed twice within 50 ms',
    kind: 'burst',
    user: ALICE,
    message: goMessage,
    actionId: ActionId.done,
    clicks: 2,
    counters: [{ what: 'step_done', read: () => timeline(run.id, 'step_done', 'go'), allowed: 1 }],
    settle: () => statusWith(run.id, ActionId.retry, 'the smoke check to fail'),
  });

  // ---- Retry pressed twice on a failed check, then a stale Retry ------------------------------
  const smokeFailed = snapshot(await statusWith(run.id, ActionId.retry, 'the smoke check to fail'));
  health.set(500, 400); // the retried check takes a moment, so both presses find it running
  const smokeFailures = () => timeline(run.id, 'step_failed', 'smoke');
  const failuresBefore = await smokeFailures();
  await press({
    label: 'Retry pressed twice within 50 ms',
    kind: 'burst',
    user: ALICE,
    message: smokeFailed,
    actionId: ActionId.retry,
    clicks: 2,
    counters: [{ what: 'step_retried', read: () => timeline(run.id, 'step_retried', 'smoke'), allowed: 1 }],
    settle: () =>
      f.waitFor(
        async () => (await smokeFailures()) > failuresBefore && (await runStatus(run.id)) === 'failed',
        'the retried check to fail again',
      ),
  });
  await press({
    label: 'Retry on a step already retried (its newer attempt failed too)',
    kind: 'stale',
    user: ALICE,
    message: smokeFailed,
    actionId: ActionId.retry,
    counters: [
      { what: 'step_retried', read: () => timeline(run.id, 'step_retried', 'smoke'), allowed: 0 },
      { what: 'attempts', read: async () => (await stepRow(run.id, 'smoke'))?.attempt ?? 0, allowed: 0 },
    ],
  });
  health.set(200);
  await f.waitFor(async () => (await runStatus(run.id)) === 'failed', 'the smoke check to stop');
  await f.click(ALICE, await statusWith(run.id, ActionId.retry, 'Retry on smoke'), ActionId.retry);

  // ---- Reject twice, Retry twice, Approve on the replaced request, Approve three times --------
  const cutoverRequest1 = snapshot(await approvalRequest(run.id, 'cutover'));
  await press({
    label: 'Reject pressed twice within 50 ms',
    kind: 'burst',
    user: BOB,
    message: cutoverRequest1,
    actionId: ActionId.reject,
    clicks: 2,
    counters: [{ what: 'rejections', read: () => approvals(run.id, 'cutover', 'rejected'), allowed: 1 }],
    settle: () => statusWith(run.id, ActionId.retry, 'the rejection'),
  });
  const cutoverRejected = snapshot(await statusWith(run.id, ActionId.retry, 'the rejection'));
  await press({
    label: 'Retry pressed twice within 50 ms on a rejected step',
    kind: 'burst',
    user: ALICE,
    message: cutoverRejected,
    actionId: ActionId.retry,
    clicks: 2,
    counters: [{ what: 'step_retried', read: () => timeline(run.id, 'step_retried', 'cutover'), allowed: 1 }],
    settle: () => approvalRequest(run.id, 'cutover', cutoverRequest1),
  });
  const cutoverRequest2 = snapshot(await approvalRequest(run.id, 'cutover', cutoverRequest1));
  const cutoverWrites = () => writes('billing-cutover');
  await press({
    label: 'Approve on the approval request a Reject and Retry replaced',
    kind: 'stale',
    user: BOB,
    message: cutoverRequest1,
    actionId: ActionId.approve,
    counters: [
      { what: 'approvals', read: () => approvals(run.id, 'cutover', 'approved'), allowed: 0 },
      { what: 'writes to billing-cutover', read: cutoverWrites, allowed: 0 },
    ],
    settle: () => sleep(300),
    answer: /replaced/i,
  });
  const stillAsking = (await stepRow(run.id, 'cutover'))?.status === 'awaiting_approval' ? 1 : 0;
  await press({
    label: 'Approve pressed three times within 50 ms',
    kind: 'burst',
    user: BOB,
    message: cutoverRequest2,
    actionId: ActionId.approve,
    clicks: 3,
    counters: [
      { what: 'approvals', read: () => approvals(run.id, 'cutover', 'approved'), allowed: stillAsking },
      { what: 'writes to billing-cutover', read: cutoverWrites, allowed: stillAsking },
    ],
    settle: () => f.waitFor(async () => (await runStatus(run.id)) === 'succeeded', 'the run to finish'),
  });

  // ---- Buttons of a finished run --------------------------------------------------------------
  await press({
    label: 'Approve on a finished run',
    kind: 'stale',
    user: BOB,
    message: cutoverRequest2,
    actionId: ActionId.approve,
    counters: [
      { what: 'approvals', read: () => approvals(run.id, 'cutover', 'approved'), allowed: 0 },
      { what: 'writes to billing-cutover', read: cutoverWrites, allowed: 0 },
    ],
  });
  await press({
    label: 'Retry on a step already retried (the run has finished)',
    kind: 'stale',
    user: ALICE,
    message: cutoverRejected,
    actionId: ActionId.retry,
    counters: [{ what: 'step_retried', read: () => timeline(run.id, 'step_retried', 'cutover'), allowed: 0 }],
  });
  await press({
    label: 'Done on a manual step already done',
    kind: 'stale',
    user: ALICE,
    message: goMessage,
    actionId: ActionId.done,
    counters: [{ what: 'step_done', read: () => timeline(run.id, 'step_done', 'go'), allowed: 0 }],
  });

  // ---- Roll back twice, then Roll back on the rolled-back run ---------------------------------
  const finished = snapshot(await statusWith(run.id, ActionId.rollback, 'Roll back on the finished run'));
  const undoCounters = (allowed: number): Counter[] => [
    { what: 'rollback_started', read: () => timeline(run.id, 'rollback_started'), allowed },
    { what: 'writes to billing', read: () => writes('billing'), allowed },
    { what: 'writes to billing-cutover', read: cutoverWrites, allowed },
  ];
  await press({
    label: 'Roll back pressed twice within 50 ms',
    kind: 'burst',
    user: ALICE,
    message: finished,
    actionId: ActionId.rollback,
    clicks: 2,
    counters: undoCounters(1),
    settle: () => f.waitFor(async () => (await runStatus(run.id)) === 'rolled_back', 'the rollback'),
  });
  await press({
    label: 'Roll back on a rolled-back run',
    kind: 'stale',
    user: ALICE,
    message: finished,
    actionId: ActionId.rollback,
    counters: undoCounters(0),
  });
  if (f.maintenance.state('billing').enabled || f.maintenance.state('billing-cutover').enabled)
    findings.push('after the rollback, maintenance or the cutover flag is still on');
  ctx.log(`channel ${CHANNEL} now holds ${f.slack.messages(CHANNEL).length} top-level message(s)`);
}
