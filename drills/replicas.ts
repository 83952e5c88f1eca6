import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ActionId } from '../src/slack/action-ids.ts';
import { drillSchema, FerryDb } from './support/ferry-db.ts';
import { FerryProcess } from './support/ferry-process.ts';
import { extraTransitions, slackCoverage, timelineProblems } from './support/judge.ts';
import { baseFerryEnv, planYaml, writePlans } from './support/plans.ts';
import { RoundRobinProxy } from './support/proxy.ts';
import { ALICE, BOB, findButton, SlackDriver } from './support/slack-driver.ts';
import { DrillWorld } from './support/world.ts';
import type { Drill, DrillContext, DrillResult } from './types.ts';

// Two replicas. Two Ferry processes in HTTP mode on one PostgreSQL schema, behind a round-robin
// proxy as Slack's requests reach a deployment. Runs are started through the proxy, so both
// replicas take some; one replica is SIGKILLed while steps are in flight (each maintenance change
// takes 2.5 s to answer), and the other must finish every run, each change made once. Then the
// same Approve click is sent to both replicas directly at the same instant, and a double click
// lands one press on each: each must be decided once (one approval recorded, one change).

/** Runs that are in flight when a replica dies. */
const RUNS = 4;
const SLOW_MS = 2_500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runReplicas(ctx: DrillContext): Promise<DrillResult & { details: string[] }> {
  const findings: string[] = [];
  const details: string[] = [];
  const runServices = Array.from({ length: RUNS }, (_, i) => `drill-replica-${i + 1}`);
  const clickServices = ['drill-replica-same-click', 'drill-replica-double-click'];
  const world = new DrillWorld({ slowMaintenance: { apps: runServices, delayMs: SLOW_MS } });
  await world.listen();
  for (const service of [...runServices, ...clickServices]) world.seedService(service);
  const driver = new SlackDriver();
  await driver.listen();
  const db = new FerryDb(ctx.pgUrl, drillSchema('replicas'));
  const plansDir = await writePlans(
    Object.fromEntries([
      ...runServices.map((s) => [s, planYaml(s, 'toggle')]),
      ...clickServices.map((s) => [s, planYaml(s, 'approved-toggle')]),
    ]),
  );
  const env = {
    ...baseFerryEnv({ pgUrl: ctx.pgUrl, schema: db.schema, plansDir }),
    ...driver.ferryEnv(),
    ...world.ferryEnv(),
  };
  const logDir = await mkdtemp(path.join(tmpdir(), 'ferry-drill-replicas-'));
  const start = (name: string) => FerryProcess.start({ env, logFile: path.join(logDir, `${name}.log`) });

  ctx.log(`two replicas; Ferry's logs in ${logDir}`);

  const replicas: FerryProcess[] = [];
  const proxy = new RoundRobinProxy([]);
  let killedRuns: string[] = [];
  let completed = 0;
  let takeovers = 0;
  let doubleDecisions = 0;
  /** A wait of up to `ms`, cut to what the drill's share leaves (on a busy machine everything is slower). */
  const within = (ms: number) => Math.max(1_000, Math.min(ms, ctx.deadline - Date.now() - 10_000));
  try {
    // One first, so the other does not wait on the migration lock while its start is timed.
    replicas.push(await start('replica-a'));
    replicas.push(await start('replica-b'));
    if (replicas.some((r) => r.readyAt === undefined)) throw new Error('a replica exited while starting');
    replicas.forEach((r, i) => proxy.setUpstream(i, r.url));
    await proxy.listen();

    // Runs started through the proxy: alternately on each replica.
    for (const service of [...runServices, ...clickServices])
      await driver.command(proxy.url, ALICE, `start ${service} staging`);
    const served = proxy.forwarded.map((f) => f.upstream);
    const perReplica = [0, 1].map((i) => served.filter((u) => u === i).length);
    details.push(`- Starts answered by replica A: ${perReplica[0]}, by replica B: ${perReplica[1]}.`);
    if (perReplica.some((n) => n === 0))
      findings.push(`the proxy sent every start to one replica (${perReplica.join(' / ')})`);

    // Kill A while the first steps of the runs are in flight (each takes 2.5 s to answer).
    const runsBy = await waitFor(async () => {
      const runs = await db.runsByService();
      const running = (await db.attempts()).filter((a) => a.status === 'running').length;
      return runs.size === runServices.length + clickServices.length && running >= 2 ? runs : undefined;
    }, within(60_000));
    if (!runsBy) throw new Error('the runs had not started when the drill had to move on');
    await sleep(500);
    const before = await db.runsByService();
    killedRuns = runServices.filter(
      (s) => !['succeeded', 'rolled_back', 'aborted'].includes(before.get(s)?.status ?? ''),
    );
    const inFlight = (await db.attempts()).filter((a) => a.status === 'running').length;
    await replicas[0]!.kill();
    ctx.log(
      `replica A killed with ${inFlight} step attempts in flight and ${killedRuns.length} runs unfinished`,
    );

    // B alone finishes every run (A's leases lapse after 5 s).
    await waitFor(async () => {
      const runs = await db.runsByService();
      return runServices.every((s) => runs.get(s)?.status === 'succeeded') || undefined;
    }, within(90_000));
    const after = await db.runsByService();
    completed = killedRuns.filter((s) => after.get(s)?.status === 'succeeded').length;
    for (const s of runServices.filter((s) => after.get(s)?.status !== 'succeeded'))
      findings.push(
        `${s}: run ${after.get(s)?.id} is ${after.get(s)?.status} after replica A died, not succeeded`,
      );
    takeovers = (await db.attempts()).filter((a) => (a.claims ?? 1) > 1).length;
    details.push(
      `- Replica A was killed with ${inFlight} step attempts in flight; replica B claimed ${takeovers} attempt(s) again once their leases lapsed, and finished ${completed} of the ${killedRuns.length} unfinished runs.`,
    );
    if (takeovers === 0)
      details.push(
        '(Replica A held none of the attempts in flight when it died, so no takeover was needed this time.)',
      );

    // A comes back; the same click reaches both replicas at once, then a double click, one press each.
    replicas[0] = await start('replica-a-again');
    proxy.setUpstream(0, replicas[0].url);
    const [same, double] = clickServices.map((s) => after.get(s)!.id);
    for (const [service, runId, how] of [
      [clickServices[0]!, same!, 'same'],
      [clickServices[1]!, double!, 'double'],
    ] as const) {
      const approval = await waitFor(
        () =>
          Promise.resolve(
            driver.thread(runId).findLast((m) => findButton(m, ActionId.approve) !== undefined),
          ),
        within(60_000),
      );
      if (!approval) {
        findings.push(
          `${service}: no approval request for ${runId} appeared in Slack while the drill could wait`,
        );
        continue;
      }
      const bodies =
        how === 'same'
          ? [driver.clickBody(BOB, approval, ActionId.approve)!]
          : [
              driver.clickBody(BOB, approval, ActionId.approve)!,
              driver.clickBody(BOB, approval, ActionId.approve)!,
            ];
      const answers = await Promise.all(
        replicas.map((replica, i) => driver.sendBody(replica.url, bodies[i % bodies.length]!)),
      );
      for (const a of answers.filter((a) => a.status !== 200))
        findings.push(`${service}: a click was answered ${a.status} ${a.error ?? a.text}`);
      await waitFor(
        async () => ((await db.runStatus(runId)) === 'succeeded' ? true : undefined),
        within(60_000),
      );
      const approvals = (await db.approvals(runId, 'flag-on')).filter((a) => a.decision === 'approved');
      const flagChanges = world.transitionsOf(service).filter((t) => t.target.endsWith('-flag')).length;
      const extra = Math.max(0, approvals.length - 1) + Math.max(0, flagChanges - 1);
      doubleDecisions += extra;
      const what =
        how === 'same' ? 'the same click sent to both replicas' : 'a double click, one press on each replica';
      details.push(
        `- ${what[0]!.toUpperCase()}${what.slice(1)}: ${approvals.length} approval(s) recorded, the flag changed ${flagChanges} time(s), run ${(await db.runStatus(runId)) ?? '?'}.`,
      );
      if (extra > 0 || approvals.length === 0)
        findings.push(
          `${service}: ${what} recorded ${approvals.length} approvals and changed the flag ${flagChanges} times`,
        );
    }

    // Each change once, each event once, every event in the thread.
    const runIds = [...(await db.runsByService()).values()].map((r) => r.id);
    for (const service of [...runServices, ...clickServices]) {
      const expected: Record<string, number> = runServices.includes(service)
        ? { [`maintenance:${service}`]: 2 }
        : { [`maintenance:${service}`]: 2, [`maintenance:${service}-flag`]: 1 };
      for (const line of extraTransitions(world.transitionsOf(service), expected).lines)
        findings.push(`${service}: ${line}`);
    }
    for (const runId of runIds)
      for (const line of timelineProblems(await db.timeline(runId)).lines) findings.push(`${runId}: ${line}`);
    await waitFor(async () => {
      for (const runId of runIds) if (!(await db.caughtUp(runId))) return undefined;
      return true;
    }, within(30_000));
    const coverage = await slackCoverage(db, driver, runIds);
    for (const { runId, event } of coverage.lost)
      findings.push(
        `${runId}: timeline event ${event.seq} (${event.type} ${event.stepId ?? ''}) never reached Slack`,
      );
    if (coverage.orphans.length > 0) findings.push(`${coverage.orphans.length} message(s) posted twice`);
  } catch (error) {
    findings.push(`the drill could not go on: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await Promise.all(replicas.map((r) => r.stop(3_000)));
    await proxy.close();
    await driver.close();
    await world.close();
    await rm(plansDir, { recursive: true, force: true });
    if (findings.length === 0) {
      await db.drop().catch(() => undefined);
      await rm(logDir, { recursive: true, force: true });
    } else {
      findings.push(`Ferry's tables are kept in schema ${db.schema}`);
      ctx.log(`Ferry's logs are kept in ${logDir}`);
    }
    await db.close();
  }
  return {
    figures: {
      replicas: 2,
      replica_kill_runs: killedRuns.length,
      replica_kill_runs_completed: completed,
      replica_takeovers: takeovers,
      double_decisions: doubleDecisions,
    },
    findings,
    details,
  };
}

/** Polls `probe` every 100 ms until it gives a value, or undefined after `timeoutMs`. */
async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(100);
  }
}

export const description = [
  'Two Ferry processes in HTTP mode (leases of 5 s) share one PostgreSQL schema behind a small round-robin proxy, as Slack reaches a deployment; a replica that refuses connections is skipped, as a load balancer would. Four runs, each turning a maintenance flag on and off through an endpoint that takes 2.5 s to answer, and two runs that wait for approval are started through the proxy, so both replicas answer starts and claim steps.',
  '',
  "Replica A is SIGKILLed while steps are in flight; replica B must finish every run (`replica_kill_runs_completed` of `replica_kill_runs`), claiming again the attempts A held once their leases lapse (`replica_takeovers`). A is then started again, and Bob's Approve click is sent to both replicas directly at the same instant, the very same request, and on the second run as a double click with one press on each replica. Each must be decided once: one approval recorded and the flag changed once (`double_decisions` counts anything more). Every run must change each thing once, hold each timeline event once, and have every event in Slack.",
].join('\n');

export const drill: Drill = {
  name: 'two replicas',
  run: (ctx) => runReplicas(ctx),
};
