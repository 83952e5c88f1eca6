import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenFake, type ListeningFake } from '../src/sandbox/fakes/fake-http.ts';
import { FakeHeroku } from '../src/sandbox/fakes/heroku.ts';
import { FakeRoute53 } from '../src/sandbox/fakes/route53.ts';
import { ActionId } from '../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  hasButton,
  readable,
  sleep,
  startDrillFerry,
  type DrillFerry,
} from './support/h5-ferry.ts';
import {
  startPrivatePostgres,
  startPrivateRedis,
  type PrivatePostgres,
  type PrivateRedis,
} from './support/h5-services.ts';
import type { Drill, DrillContext, DrillResult } from './types.ts';

// The systems Ferry depends on fail while runs go on: its own PostgreSQL restarts (while a run
// waits for approval, while a step waits on Route 53, and while a step's outcome is being
// recorded), the Redis a step writes to goes away (briefly, then for a whole retry streak),
// Route 53 throttles and answers PriorRequestNotComplete, Heroku answers 429, and Slack answers
// 429 and 5xx. Each run must complete (or fail clearly and complete after Retry) with each change
// made once, and /readyz must say "not ready" while PostgreSQL is down.
//
// PostgreSQL and Redis here are private servers the drill starts, stops and deletes: the machine's
// shared ones (127.0.0.1:5432, :6379) are never touched.

const ZONE = 'Z0DRILL';
// As short as the kill drill's: an outcome lost while Postgres is down costs one lease.
const LEASE_SECONDS = 5;

const dnsStep = (name: string, approval: boolean) =>
  `{ id: cutover, kind: dns${approval ? ', approval: required' : ''},
          provider: { type: route53, hosted_zone_id: ${ZONE}, record: ${name}.example.com.,
                      record_type: CNAME, value: ${name}.new.example.net., ttl: 60 } }`;
const maintenanceStep = (id: string, action: 'on' | 'off', app: string) =>
  `{ id: ${id}, kind: maintenance, action: ${action},
          provider: { type: http, url: "\${MAINT_BASE}/${app}", token: "\${MAINT_TOKEN}" } }`;

const plans = [
  `
service: ledger
channel: C0LEDGER
approvers: { users: [U02BOB] }
environments:
${['one', 'two', 'three']
  .map(
    (env) => `  ${env}:
    steps:
      - ${maintenanceStep('maintenance-on', 'on', `ledger-${env}`)}
      - ${dnsStep(`${env}.ledger`, env === 'one')}
      - ${maintenanceStep('maintenance-off', 'off', `ledger-${env}`)}`,
  )
  .join('\n')}
`,
  `
service: webhooks
channel: C0WEBHOOKS
environments:
${['blip', 'outage']
  .map(
    (env) => `  ${env}:
    steps:
      - { id: pause-webhooks, kind: flag, action: on,
          provider: { type: redis, url: "\${TARGET_REDIS_URL}", key: "webhooks:${env}:paused" } }`,
  )
  .join('\n')}
`,
  `
service: dns
channel: C0DNS
approvers: { users: [U02BOB] }
environments:
  throttled:
    steps:
      - ${dnsStep('throttled', true)}
  overthrottled:
    steps:
      - ${dnsStep('overthrottled', true)}
`,
  `
service: workers
channel: C0WORKERS
approvers: { users: [U02BOB] }
environments:
  production:
    four_eyes: false
    steps:
      - { id: stop-workers, kind: jobs, action: pause, approval: required,
          provider: { type: heroku-formation, app: workers-prod, process_types: [worker, clock] } }
`,
  `
service: slacky
channel: C0SLACKY
environments:
  staging:
    steps:
      - ${maintenanceStep('maintenance-on', 'on', 'slacky')}
      - ${maintenanceStep('maintenance-off', 'off', 'slacky')}
`,
];

interface Scenario {
  name: string;
  recovered: boolean;
  extraEffects: number;
}

interface World {
  f: DrillFerry;
  pg: PrivatePostgres;
  redis: PrivateRedis;
  route53: FakeRoute53;
  heroku: FakeHeroku;
  herokuAnswers: Array<{ method: string; path: string; status: number }>;
  ctx: DrillContext;
  findings: string[];
  scenarios: Scenario[];
  restarts: { count: number; completed: number; readyz503: number };
  /** Status messages beyond one per run, and thread replies posted twice. */
  duplicatePosts: number;
}

export const drill: Drill = {
  name: 'dependencies failing',
  async run(ctx: DrillContext): Promise<DrillResult> {
    const findings: string[] = [];
    const scenarios: Scenario[] = [];
    const restarts = { count: 0, completed: 0, readyz503: 0 };
    const closers: Array<() => Promise<unknown>> = [];
    let ferry: DrillFerry | undefined;
    let worldRef: World | undefined;
    try {
      const pg = await startPrivatePostgres();
      closers.push(() => pg.destroy());
      const redis = await startPrivateRedis();
      closers.push(() => redis.destroy());
      const route53 = new FakeRoute53({ propagation: { polls: 1 } });
      route53.addZone(ZONE, 'example.com.');
      for (const name of ['one.ledger', 'two.ledger', 'three.ledger', 'throttled', 'overthrottled'])
        route53.setRecord(ZONE, {
          name: `${name}.example.com.`,
          type: 'CNAME',
          ttl: 60,
          values: [`${name}.old.example.net.`],
        });
      const r53 = await route53.listen();
      closers.push(() => r53.close());
      const heroku = new FakeHeroku({ token: 'heroku-secret' });
      heroku.addApp('workers-prod', { formation: { web: 2, worker: 3, clock: 1 } });
      const herokuAnswers: World['herokuAnswers'] = [];
      const hk: ListeningFake = await listenFake((req: IncomingMessage, res: ServerResponse) => {
        res.once('finish', () =>
          herokuAnswers.push({ method: req.method ?? '', path: req.url ?? '', status: res.statusCode }),
        );
        return heroku.handle(req, res);
      });
      closers.push(() => hk.close());
      ferry = await startDrillFerry({
        name: 'deps',
        pgUrl: pg.url,
        plans,
        rateLimits: true,
        leaseSeconds: LEASE_SECONDS,
        env: {
          TARGET_REDIS_URL: redis.url,
          AWS_ENDPOINT_URL_ROUTE_53: r53.url,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIAFERRYDRILL000000',
          AWS_SECRET_ACCESS_KEY: 'not-a-secret',
          HEROKU_API_URL: hk.url,
          HEROKU_API_TOKEN: 'heroku-secret',
        },
      });
      const world: World = {
        f: ferry,
        pg,
        redis,
        route53,
        heroku,
        herokuAnswers,
        ctx,
        findings,
        scenarios,
        restarts,
        duplicatePosts: 0,
      };
      worldRef = world;
      await play(world);
    } catch (error) {
      findings.push(`the drill stopped early: ${(error as Error).message}`);
    } finally {
      if (ferry) {
        if (!ferry.alive()) findings.push('the Ferry process exited during the drill');
        const fatal = ferry.logs().filter((l) => /"level":60|unhandled/i.test(l));
        if (fatal.length > 0)
          findings.push(`Ferry logged ${fatal.length} fatal line(s): ${fatal[0]!.slice(0, 300)}`);
        await ferry.stop();
      }
      for (const close of closers.reverse()) await close().catch(() => undefined);
    }
    return {
      figures: {
        postgres_restarts: restarts.count,
        runs_completed_after_postgres_restart: restarts.completed,
        readyz_503_during_postgres_outage: restarts.readyz503,
        dependency_faults: scenarios.length,
        dependency_faults_recovered: scenarios.filter((s) => s.recovered).length,
        dependency_extra_effects: scenarios.reduce((n, s) => n + s.extraEffects, 0),
        slack_duplicate_posts: worldRef?.duplicatePosts ?? 0,
      },
      findings,
    };
  },
};

async function play(w: World): Promise<void> {
  const { f, ctx } = w;

  // Redis away for a moment: the first attempt fails, the automatic retry finds it back.
  await scenario(w, 'target Redis stopped for a moment', async () => {
    await w.redis.stop();
    const run = await start(w, 'webhooks blip');
    await f.waitFor(() => timelineHas(w, run, 'step_retrying'), 'the step to be retried', 20_000);
    await w.redis.start();
    await waitStatus(w, run, 'succeeded', 30_000);
    return redisEffects(w, 'webhooks:blip:paused');
  });

  // Redis away for a whole retry streak, in the background while the other faults play out.
  await w.redis.stop();
  const outage = scenario(w, 'target Redis stopped for a whole retry streak, then Retry', async () => {
    const run = await start(w, 'webhooks outage');
    await waitStatus(w, run, 'failed', 60_000);
    // PostgreSQL restarts in the other scenarios meanwhile: the drill's own read may meet a
    // connection the restart ended, and reads again (waitStatus does the same).
    const error = await readAgainAfterRestart(
      async () =>
        (await f.query<{ error: string }>(`select error from steps where run_id = $1`, [run]))[0]?.error,
    );
    ctx.log(`Redis outage: the step failed with "${error}"`);
    if (!error || !/redis/i.test(error) || !error.includes('127.0.0.1'))
      w.findings.push(`the Redis outage's failure does not name Redis and its address: "${error}"`);
    await w.redis.start();
    const status = await f.waitFor(async () => {
      const m = await f.statusMessage(run);
      return hasButton(m, ActionId.retry) && m;
    }, 'the Retry button');
    await f.click(ALICE, status, ActionId.retry);
    await waitStatus(w, run, 'succeeded', 20_000);
    return redisEffects(w, 'webhooks:outage:paused');
  });

  // Route 53, Heroku and Slack fail independently of each other: play them side by side.
  const route53Faults = async () => {
    await scenario(w, 'Route 53 throttling and PriorRequestNotComplete', async () => {
      const run = await start(w, 'dns throttled');
      const request = await approvalRequest(w, run);
      const from = w.route53.calls.length;
      w.route53.throttleNext(2);
      w.route53.priorRequestNotCompleteNext(2);
      await f.click(BOB, request, ActionId.approve);
      await waitStatus(w, run, 'succeeded', 40_000);
      return dnsEffects(w, 'throttled', from);
    });
    await scenario(w, "Route 53 throttling beyond one attempt's retries", async () => {
      const run = await start(w, 'dns overthrottled');
      const request = await approvalRequest(w, run);
      const from = w.route53.calls.length;
      // The adapter tries each call 5 times; the sixth answer comes on the engine's next attempt.
      w.route53.throttleNext(5);
      await f.click(BOB, request, ActionId.approve);
      await waitStatus(w, run, 'succeeded', 40_000);
      return dnsEffects(w, 'overthrottled', from);
    });
  };
  const herokuFaults = () =>
    scenario(w, 'Heroku 429 rate_limit', async () => {
      const run = await start(w, 'workers production');
      const request = await approvalRequest(w, run);
      w.heroku.rateLimitNext(3);
      await f.click(BOB, request, ActionId.approve);
      await waitStatus(w, run, 'succeeded', 40_000);
      const patches = w.herokuAnswers.filter((a) => a.method === 'PATCH' && a.status < 300).length;
      const formation = w.heroku.app('workers-prod')?.formation;
      ctx.log(
        `Heroku: ${w.herokuAnswers.filter((a) => a.status === 429).length} answers 429, ${patches} formation update(s) applied`,
      );
      const ok = formation?.worker?.quantity === 0 && formation.clock?.quantity === 0;
      return { effects: patches, expected: 1, ok };
    });
  const slackFaults = () =>
    scenario(w, 'Slack 429 and 5xx', async () => {
      const from = w.f.slack.calls.length;
      w.f.slack.failNext('chat.postMessage', { retryAfter: 1 });
      w.f.slack.failNext('chat.postMessage', { status: 503 });
      w.f.slack.failNext('chat.postMessage', { error: 'internal_error' });
      w.f.slack.failNext('chat.update', { status: 500 });
      w.f.slack.failNext('chat.update', { retryAfter: 1 });
      const run = await start(w, 'slacky staging');
      await waitStatus(w, run, 'succeeded', 30_000);
      await f.waitFor(() => rendered(w, run), 'the status message to show the finished run', 30_000);
      const faults = w.f.slack.calls.slice(from).filter((c) => c.status !== 200 || c.response.ok !== true);
      const named = faults.map((c) => `${c.method} ${c.status} ${String(c.response.error)}`);
      ctx.log(
        `Slack answered ${[...new Set(named)].map((n) => `${n} x${named.filter((m) => m === n).length}`).join(', ')}`,
      );
      return { effects: w.f.maintenance.state('slacky').writes, expected: 2, ok: true };
    });
  await Promise.all([route53Faults(), herokuFaults(), slackFaults()]);

  // PostgreSQL restarts. Each run touches DNS and the maintenance endpoint once each way.
  await scenario(w, 'PostgreSQL restarted while a run waits for approval', async () => {
    const run = await start(w, 'ledger one');
    const request = await approvalRequest(w, run);
    await restartPostgres(w, 1_000);
    await approveAfterRestart(w, run, request);
    return ledgerEffects(w, run, 'one');
  });

  await scenario(w, 'PostgreSQL restarted while a step waits for Route 53', async () => {
    w.route53.setPropagation({ polls: 1, ms: 4_000 });
    const run = await start(w, 'ledger two');
    await f.waitFor(
      () => w.route53.history(ZONE, 'two.ledger.example.com.', 'CNAME').length > 0,
      'the change',
    );
    await restartPostgres(w, 1_000);
    return ledgerEffects(w, run, 'two');
  });

  await scenario(w, "PostgreSQL down when a step's outcome is recorded", async () => {
    // maintenance-off's PUT is applied at once and answered 1.5 s later, while Postgres is down.
    w.route53.setPropagation({ polls: 1, ms: 0 });
    f.holdAnswers('ledger-three', 1_500);
    const run = await start(w, 'ledger three');
    await f.waitFor(() => f.maintenance.state('ledger-three').writes >= 2, 'maintenance-off to be applied');
    await restartPostgres(w, 2_500);
    f.holdAnswers('ledger-three', 0);
    return ledgerEffects(w, run, 'three');
  });
  w.route53.setPropagation({ polls: 1, ms: 0 });

  await outage;
  slackDuplicates(w);
}

/** Runs one fault; a scenario recovers when its check passes with each change made once. */
async function scenario(
  w: World,
  name: string,
  body: () => Promise<{ effects: number; expected: number; ok: boolean }>,
): Promise<void> {
  const started = Date.now();
  const entry: Scenario = { name, recovered: false, extraEffects: 0 };
  w.scenarios.push(entry);
  try {
    const { effects, expected, ok } = await body();
    entry.extraEffects = Math.max(0, effects - expected);
    entry.recovered = ok && effects === expected;
    if (effects !== expected)
      w.findings.push(`${name}: ${effects} change(s) made where ${expected} were due`);
    if (!ok) w.findings.push(`${name}: the systems are not in the state the run should have left`);
    w.ctx.log(
      `${name}: ${entry.recovered ? 'recovered' : 'NOT recovered'}, ${effects} change(s) (${Date.now() - started} ms)`,
    );
  } catch (error) {
    w.findings.push(`${name}: ${(error as Error).message}`);
    w.ctx.log(`${name}: NOT recovered: ${(error as Error).message}`);
  }
}

async function start(w: World, what: string): Promise<string> {
  const [service, environment] = what.split(' ') as [string, string];
  const before = await w.f.count(`select count(*) as n from runs where service = $1 and environment = $2`, [
    service,
    environment,
  ]);
  await w.f.command(ALICE, `start ${what}`);
  const rows = await w.f.waitFor(async () => {
    const r = await w.f.query<{ id: string }>(
      `select id from runs where service = $1 and environment = $2 order by created_at`,
      [service, environment],
    );
    return r.length > before && r;
  }, `the ${what} run to start`);
  return rows.at(-1)!.id;
}

async function status(w: World, run: string): Promise<string | undefined> {
  return (await w.f.query<{ status: string }>(`select status from runs where id = $1`, [run]))[0]?.status;
}

/** Waits for the run's status; a query failing meanwhile (Postgres restarting) counts as not yet. */
/** A read of the drill's own, tried again while a PostgreSQL restart ends its connections. */
async function readAgainAfterRestart<T>(read: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await read();
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function waitStatus(w: World, run: string, wanted: string, timeoutMs: number): Promise<void> {
  let last: string | undefined;
  await w.f
    .waitFor(
      async () => {
        last = (await status(w, run).catch(() => last)) ?? last;
        return last === wanted;
      },
      `${run} to be ${wanted}`,
      timeoutMs,
    )
    .catch(() => {
      throw new Error(
        `${run} did not become ${wanted} within ${timeoutMs / 1000} s (it is ${last ?? 'unknown'})`,
      );
    });
}

async function timelineHas(w: World, run: string, type: string): Promise<boolean> {
  return (
    (await w.f.count(`select count(*) as n from timeline_events where run_id = $1 and type = $2`, [
      run,
      type,
    ])) > 0
  );
}

async function approvalRequest(w: World, run: string) {
  return w.f.waitFor(
    async () => (await w.f.thread(run)).find((m) => hasButton(m, ActionId.approve)),
    `the approval request of ${run}`,
    30_000,
  );
}

/** SETs the private Redis ran since it last started, and whether the flag is set. */
async function redisEffects(w: World, key: string) {
  const sets = await w.redis.calls('set');
  const value = await w.redis.get(key);
  return { effects: sets, expected: 1, ok: value === '1' };
}

/** Change batches Route 53 applied to the record, and whether it now holds the new value. */
function dnsEffects(w: World, name: string, fromCall?: number) {
  const history = w.route53.history(ZONE, `${name}.example.com.`, 'CNAME');
  const batches = new Set(history.map((c) => c.changeId)).size;
  const now = w.route53.getRecord(ZONE, `${name}.example.com.`, 'CNAME');
  if (fromCall !== undefined) {
    const errors = w.route53.calls.slice(fromCall).flatMap((c) => (c.errorCode ? [c.errorCode] : []));
    w.ctx.log(
      `Route 53 answered ${errors.join(', ') || 'no errors'}; ${batches} batch(es) applied to ${name}`,
    );
  }
  return { effects: batches, expected: 1, ok: now?.values[0] === `${name}.new.example.net.` };
}

async function ledgerEffects(w: World, run: string, env: string) {
  const back = Date.now();
  await waitStatus(w, run, 'succeeded', (LEASE_SECONDS + 30) * 1000);
  w.restarts.completed += 1;
  w.ctx.log(`${run} finished ${Date.now() - back} ms after PostgreSQL was back`);
  // What Ferry's log says happened to the run's step attempts meanwhile.
  const lines = ferryLog(w, run);
  const progressFailed = lines.filter(
    (l) => l.msg === 'step attempt failed' && (l.err?.stack ?? '').includes('saveProgress'),
  );
  for (const l of progressFailed)
    w.findings.push(
      `${run} ${l.step}: a progress report Postgres could not store failed the step's attempt (${l.err?.message ?? ''}), though the step's own work went on fine`,
    );
  const lost = lines.filter((l) => l.msg === 'recording the step outcome failed');
  for (const l of lost)
    w.findings.push(
      `${run} ${l.step}: its outcome could not be recorded while Postgres was down and was dropped; the attempt ran again only once its ${LEASE_SECONDS} s lease had lapsed`,
    );
  const dns = dnsEffects(w, `${env}.ledger`);
  const writes = w.f.maintenance.state(`ledger-${env}`);
  if (writes.writes !== 2)
    w.findings.push(`ledger ${env}: the maintenance endpoint was written ${writes.writes} times, not twice`);
  return {
    effects: dns.effects + writes.writes,
    expected: 3,
    ok: dns.ok && !writes.enabled,
  };
}

/**
 * Stops Postgres (`-m fast`) for `downMs`, watching /readyz every 100 ms: it must answer 503
 * while Postgres is down and 200 again after it is back.
 */
async function restartPostgres(w: World, downMs: number): Promise<void> {
  const answers: Array<{ sent: number; answered: number; status: number }> = [];
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const sent = Date.now();
      const status = await fetch(`${w.f.url}/readyz`, { signal: AbortSignal.timeout(5_000) })
        .then((r) => r.status)
        .catch(() => 0);
      answers.push({ sent, answered: Date.now(), status });
      await sleep(100);
    }
  })();
  await sleep(200);
  const stopping = Date.now();
  await w.pg.stop();
  const down = Date.now();
  await sleep(downMs);
  // From here Postgres may accept connections before pg_ctl says so: answers after this are not "down".
  const starting = Date.now();
  await w.pg.start();
  const back = Date.now();
  w.restarts.count += 1;
  await w.f
    .waitFor(() => answers.some((a) => a.sent > back && a.status === 200), '/readyz to answer 200', 15_000)
    .catch(() => w.findings.push('/readyz did not answer 200 within 15 s of PostgreSQL being back'));
  watching = false;
  await watch;
  const during = answers.filter((a) => a.sent > down && a.answered < starting);
  const ready = answers.find((a) => a.sent > back && a.status === 200);
  if (during.length > 0 && during.every((a) => a.status === 503)) w.restarts.readyz503 += 1;
  else
    w.findings.push(
      `/readyz while PostgreSQL was down answered ${[...new Set(during.map((a) => a.status))].join(', ') || 'nothing'}, not 503 each time`,
    );
  w.ctx.log(
    `PostgreSQL down ${back - stopping} ms: /readyz answered ${during.map((a) => a.status).join(',')} meanwhile; 200 again ${ready ? `${ready.answered - back} ms` : 'never'} after it was back`,
  );
}

/** Bob approves right after the restart, as a person would; a click that changed nothing is pressed again. */
async function approveAfterRestart(
  w: World,
  run: string,
  request: Awaited<ReturnType<typeof approvalRequest>>,
) {
  const seq = w.f.slackSeq();
  await w.f.click(BOB, request, ActionId.approve);
  const approved = () =>
    w.f.count(`select count(*) as n from approvals where run_id = $1 and decision = 'approved'`, [run]);
  const took = await w.f
    .waitFor(async () => (await approved()) > 0, 'the approval', 5_000)
    .then(() => true)
    .catch(() => false);
  if (!took) {
    const said = w.f.ephemerals(BOB, seq).map((e) => e.text);
    w.findings.push(
      `Approve pressed right after PostgreSQL came back changed nothing; Bob was told: ${said.join(' | ') || 'nothing'}`,
    );
    await w.f.click(BOB, request, ActionId.approve);
  }
}

/** Whether the run's status message shows its latest state. */
async function rendered(w: World, run: string): Promise<boolean> {
  const rows = await w.f.query<{ behind: boolean }>(
    `select m.rendered_version < r.version as behind from slack_messages m join runs r on r.id = m.run_id
     where m.run_id = $1 and m.kind = 'status'`,
    [run],
  );
  return rows.length === 1 && rows[0]!.behind === false;
}

/** One status message per run, and no thread reply posted twice, after all the Slack faults. */
function slackDuplicates(w: World): void {
  const top = w.f.slack
    .channels()
    .flatMap((c) => w.f.slack.messages(c.id))
    .filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const perRun = new Map<string, number>();
  for (const m of top) {
    const run = m.metadata?.event_payload.run_id;
    if (typeof run === 'string') perRun.set(run, (perRun.get(run) ?? 0) + 1);
  }
  for (const [run, n] of perRun) {
    if (n <= 1) continue;
    w.duplicatePosts += n - 1;
    w.findings.push(`${run} has ${n} status messages in Slack`);
  }
  for (const m of top) {
    const texts = w.f.slack
      .thread(m.channel, m.ts)
      .filter((r) => r.ts !== m.ts)
      .map(readable);
    const twice = texts.filter((t, i) => texts.indexOf(t) !== i);
    const runId = m.metadata?.event_payload.run_id;
    const run = typeof runId === 'string' ? runId : m.ts;
    w.duplicatePosts += twice.length;
    for (const t of new Set(twice))
      w.findings.push(`${run}'s thread holds this reply twice: "${t.split('\n')[0]!.slice(0, 120)}"`);
  }
  w.ctx.log(`Slack: ${perRun.size} status message(s) for ${perRun.size} run(s)`);
}

interface LogLine {
  msg?: string;
  run?: string;
  step?: string;
  err?: { message?: string; stack?: string };
}

/** Ferry's log lines about one run. */
function ferryLog(w: World, run: string): LogLine[] {
  return w.f.logs().flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as LogLine;
      return parsed.run === run ? [parsed] : [];
    } catch {
      return [];
    }
  });
}
