import { signRequest, slashCommandBody } from '../src/sandbox/signed-request.ts';
import { ActionId } from '../src/slack/action-ids.ts';
import { ALICE, BOB, hasButton, sleep, startDrillFerry, type DrillFerry } from './support/h5-ferry.ts';
import type { Drill, DrillContext, DrillResult } from './types.ts';

// Forged and stale requests against a real Ferry process: requests whose signature Slack did not
// make (wrong secret, no headers, a signature over another timestamp or another body), requests
// older than Slack's five minutes (one of them a replay of a request Ferry accepted), and signed
// bodies Bolt cannot parse. Each would change something if it were let through (start a run,
// approve a waiting step, record a delivery); each must be refused and leave no row and no Slack call.

const plan = `
service: billing
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_BASE}/billing", token: "\${MAINT_TOKEN}" } }
  production:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_BASE}/billing-production", token: "\${MAINT_TOKEN}" } }
`;

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
/** Tables a request that got through would write to. */
const TABLES = ['runs', 'timeline_events', 'slack_deliveries', 'approvals', 'step_attempts'] as const;

interface Case {
  name: string;
  body: string;
  contentType: string;
  headers: Record<string, string>;
  /** What Ferry must answer: 401, except where Slack's protocol says otherwise (see `why`). */
  expect: number;
  why?: string;
}

export const drill: Drill = {
  name: 'forged and stale requests',
  async run(ctx: DrillContext): Promise<DrillResult> {
    const findings: string[] = [];
    const figures = { forged_requests: 0, forged_accepted: 0, replayed_requests: 0, replay_effects: 0 };
    let ferry: DrillFerry | undefined;
    try {
      ferry = await startDrillFerry({ name: 'forged', pgUrl: ctx.pgUrl, plans: [plan] });
      await play(ferry, figures, findings, ctx);
    } catch (error) {
      findings.push(`the drill stopped early: ${(error as Error).message}`);
    } finally {
      if (ferry && !ferry.alive()) findings.push('the Ferry process exited during the drill');
      await ferry?.stop();
    }
    return { figures, findings };
  },
};

async function play(
  f: DrillFerry,
  figures: {
    forged_requests: number;
    forged_accepted: number;
    replayed_requests: number;
    replay_effects: number;
  },
  findings: string[],
  ctx: DrillContext,
): Promise<void> {
  // A run waiting for Bob's approval, so a forged Approve has something to approve.
  await f.command(ALICE, 'start billing staging');
  const run = await f.waitFor(() => f.latestRun('billing'), 'the run to start');
  const request = await f.waitFor(
    async () => (await f.thread(run.id)).find((m) => hasButton(m, ActionId.approve)),
    'the approval request',
  );

  const now = () => Math.floor(Date.now() / 1000);
  const command = (text: string) => slashCommandBody(f.commandFields(BOB, text)); // a fresh trigger_id each time
  const approve = () =>
    new URLSearchParams({
      payload: JSON.stringify(f.clickPayload(BOB, request, ActionId.approve)),
    }).toString();
  const event = () => JSON.stringify(f.eventEnvelope('start billing production'));
  const signed = (body: string, secret = f.secret, ts = now()) => signRequest(body, secret, ts);

  // A request Slack really sent 294 s ago, delivered and handled: replayed later, it is older
  // than Slack's five minutes and must be refused.
  const genuineBody = command('status');
  const genuineHeaders = signed(genuineBody, f.secret, now() - 294);
  const genuine = await post(f.url, genuineBody, FORM, genuineHeaders);
  if (genuine !== 200) findings.push(`a genuine request signed 294 s ago was answered ${genuine}, not 200`);
  await f.waitFor(() => f.ephemerals(BOB).length > 0, 'the answer to the genuine request');

  // The genuine request again at once (Slack's own retry looks like this): handled once already,
  // so it is answered and changes nothing.
  figures.replayed_requests += 1;
  {
    const before = await snapshotCounts(f);
    const status = await post(f.url, genuineBody, FORM, genuineHeaders);
    await sleep(250);
    const changed = differences(before, await snapshotCounts(f));
    if (status !== 200 || changed.length > 0) {
      figures.replay_effects += changed.length > 0 ? 1 : 0;
      findings.push(
        `a replay within five minutes was answered ${status}${changed.length ? ` and ${changed.join(', ')}` : ''}`,
      );
    }
    ctx.log(
      `replay within five minutes: ${status}, ${changed.length ? changed.join(', ') : 'nothing recorded'}`,
    );
  }

  await quiet(f);

  const wrong = 'not-the-signing-secret-0123456789';
  const startProd = command('start billing production');
  const t = now();
  const cases: Case[] = [
    {
      name: 'slash command signed with the wrong secret',
      body: startProd,
      contentType: FORM,
      headers: signed(startProd, wrong),
      expect: 401,
    },
    ...[approve()].map((body) => ({
      name: 'Approve click signed with the wrong secret',
      body,
      contentType: FORM,
      headers: signed(body, wrong),
      expect: 401,
    })),
    ...[event()].map((body) => ({
      name: 'event signed with the wrong secret',
      body,
      contentType: JSON_TYPE,
      headers: signed(body, wrong),
      expect: 401,
    })),
    ...[approve()].map((body) => ({
      name: 'Approve click signed 6 minutes ago',
      body,
      contentType: FORM,
      headers: signed(body, f.secret, t - 360),
      expect: 401,
    })),
    ...[command('start billing production')].map((body) => ({
      name: 'slash command signed 5 min 1 s ago',
      body,
      contentType: FORM,
      headers: signed(body, f.secret, t - 301),
      expect: 401,
    })),
    ...[command('status')].map((signedBody) => ({
      name: 'slash command altered after signing (status signed, start sent)',
      body: signedBody.replace('text=status', 'text=start+billing+production'),
      contentType: FORM,
      headers: signed(signedBody),
      expect: 401,
    })),
    ...[approve()].map((body) => ({
      name: 'click altered after signing (Reject signed, Approve sent)',
      body,
      contentType: FORM,
      headers: signed(
        body.replace(encodeURIComponent(ActionId.approve), encodeURIComponent(ActionId.reject)),
      ),
      expect: 401,
    })),
    { name: 'no signature headers at all', body: startProd, contentType: FORM, headers: {}, expect: 401 },
    {
      name: 'timestamp without a signature',
      body: startProd,
      contentType: FORM,
      headers: { 'x-slack-request-timestamp': String(t) },
      expect: 401,
    },
    {
      name: 'signature without a timestamp',
      body: startProd,
      contentType: FORM,
      headers: { 'x-slack-signature': signed(startProd)['x-slack-signature'] },
      expect: 401,
    },
    {
      name: 'timestamp that is not a number',
      body: startProd,
      contentType: FORM,
      headers: { ...signed(startProd), 'x-slack-request-timestamp': 'now' },
      expect: 401,
    },
    {
      name: 'signature over a different timestamp',
      body: startProd,
      contentType: FORM,
      headers: {
        'x-slack-request-timestamp': String(t),
        'x-slack-signature': signed(startProd, f.secret, t - 30)['x-slack-signature'],
      },
      expect: 401,
    },
    {
      name: 'signature of another version (v1=)',
      body: startProd,
      contentType: FORM,
      headers: {
        ...signed(startProd),
        'x-slack-signature': signed(startProd)['x-slack-signature'].replace(/^v0=/, 'v1='),
      },
      expect: 401,
    },
    ...['payload=%7Bnot%20json', `payload=${encodeURIComponent('{"type":"block_actions"')}`].map((body) => ({
      name: `valid signature, interaction body Bolt cannot parse (${decodeURIComponent(body).slice(0, 30)})`,
      body,
      contentType: FORM,
      headers: signed(body),
      expect: 400,
      why: 'the signature is right, so Bolt answers 400 Bad Request (malformed body), not 401',
    })),
    ...['{"type":"event_callback",', 'token=x&team_id=T0FERRY'].map((body) => ({
      name: `valid signature, JSON body Bolt cannot parse (${body.slice(0, 30)})`,
      body,
      contentType: JSON_TYPE,
      headers: signed(body),
      expect: 400,
      why: 'the signature is right, so Bolt answers 400 Bad Request (malformed body), not 401',
    })),
    ...[`ssl_check=1&${approve()}`].map((body) => ({
      name: 'unsigned ssl_check carrying an Approve payload',
      body,
      contentType: FORM,
      headers: {},
      expect: 200,
      why: "Slack's SSL check is unsigned by design: Bolt answers it 200 and drops everything else in the body",
    })),
  ];

  const counts = () => snapshotCounts(f);
  const overall = await counts();
  for (const c of cases) {
    figures.forged_requests += 1;
    const before = await counts();
    const status = await post(f.url, c.body, c.contentType, c.headers);
    await sleep(250); // an accepted request acks first and records right after
    const after = await counts();
    const changed = differences(before, after);
    const accepted = status !== c.expect || changed.length > 0;
    if (accepted) {
      figures.forged_accepted += 1;
      findings.push(
        `${c.name}: answered ${status} (expected ${c.expect})${changed.length ? `, and ${changed.join(', ')}` : ''}`,
      );
    }
    ctx.log(
      `${c.name}: ${status}${changed.length ? `, ${changed.join(', ')}` : ', nothing recorded'}${c.why ? ` (${c.why})` : ''}`,
    );
  }

  // The same bytes once they are more than five minutes old: a replay Slack's timestamp rule refuses.
  const signedAt = Number(genuineHeaders['x-slack-request-timestamp']);
  await f.waitFor(() => now() - signedAt > 301, 'the genuine request to be older than five minutes', 30_000);
  figures.forged_requests += 1;
  {
    const before = await counts();
    const status = await post(f.url, genuineBody, FORM, genuineHeaders);
    await sleep(250);
    const changed = differences(before, await counts());
    if (status !== 401 || changed.length > 0) {
      figures.forged_accepted += 1;
      findings.push(
        `a replay of a request Ferry accepted, ${now() - signedAt} s after it was signed: answered ${status}${changed.length ? `, and ${changed.join(', ')}` : ''}`,
      );
    }
    ctx.log(
      `replay of an accepted request ${now() - signedAt} s after signing: ${status}, ${changed.length ? changed.join(', ') : 'nothing recorded'}`,
    );
  }

  await sleep(500);
  const changed = differences(overall, await counts());
  if (changed.length > 0) {
    // An effect that came too late to be pinned on one request still means one got through.
    if (figures.forged_accepted === 0) figures.forged_accepted = 1;
    findings.push(`after all forged requests: ${changed.join(', ')}`);
  }
  if ((await f.count(`select count(*) as n from runs where environment = 'production'`)) > 0)
    findings.push('a forged /migrate start started a production run');
  if (f.maintenance.state('billing').writes > 0) findings.push('a forged Approve let maintenance-on run');

  // The control: the same start, signed as Slack signs it, must be seen by these counts, or a
  // forged request that got through would not have been either.
  const before = await counts();
  const body = command('start billing production');
  const status = await post(f.url, body, FORM, signed(body));
  await f
    .waitFor(
      async () => differences(before, await counts()).some((d) => d.startsWith('runs rows')),
      'the signed start to be recorded',
      5_000,
    )
    .catch(() => undefined);
  const seen = differences(before, await counts());
  if (status !== 200 || !seen.some((d) => d.startsWith('runs rows')))
    findings.push(
      `the control (a properly signed /migrate start) was answered ${status} and changed ${seen.join(', ') || 'nothing'}: these counts cannot be trusted`,
    );
  ctx.log(`control, signed as Slack signs: ${status}, ${seen.join(', ')}`);
}

async function post(
  url: string,
  body: string,
  contentType: string,
  headers: Record<string, string>,
): Promise<number> {
  const res = await fetch(`${url}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...headers },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  await res.text();
  return res.status;
}

type Counts = Record<string, number>;

/** Rows in each table a request could write, and every call and change the fake Slack saw. */
async function snapshotCounts(f: DrillFerry): Promise<Counts> {
  const counts: Counts = {};
  for (const table of TABLES) counts[`${table} rows`] = await f.count(`select count(*) as n from ${table}`);
  counts['Slack calls'] = f.slackSeq();
  counts['maintenance writes'] = Object.values(f.maintenance.apps).reduce((n, app) => n + app.writes, 0);
  return counts;
}

function differences(before: Counts, after: Counts): string[] {
  return Object.keys(after)
    .filter((k) => after[k] !== before[k])
    .map((k) => `${k} ${before[k]} -> ${after[k]}`);
}

/** Waits until the publisher has nothing more to post: no Slack call for 400 ms. */
async function quiet(f: DrillFerry): Promise<void> {
  let seq = f.slackSeq();
  let since = Date.now();
  await f.waitFor(() => {
    const now = f.slackSeq();
    if (now !== seq) {
      seq = now;
      since = Date.now();
    }
    return Date.now() - since > 400;
  }, 'Slack to be quiet');
}
