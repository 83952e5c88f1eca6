import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RecordedCall } from '../src/sandbox/fake-slack.ts';
import { ActionId } from '../src/slack/action-ids.ts';
import { drillSchema, FerryDb } from './support/ferry-db.ts';
import { FerryProcess } from './support/ferry-process.ts';
import { extraTransitions, isTopLevel, slackCoverage, timelineProblems } from './support/judge.ts';
import { baseFerryEnv, planYaml, writePlans, type PlanShape } from './support/plans.ts';
import { ALICE, BOB, findButton, readable, SlackDriver } from './support/slack-driver.ts';
import { DrillWorld, newTarget, oldTarget, type Transition } from './support/world.ts';
import type { Drill, DrillContext, DrillResult } from './types.ts';

// Kill at every boundary. Ferry runs as a real process and is SIGKILLed at each named point of a
// run (claim, capture, act, record, a person's decision, a Slack post; forward and during a
// rollback), then started again on the same database. Each lane is one run, on a service of its
// own, chained through its kill points: the process is armed with every point the lane has not
// reached yet, dies at the first one it reaches, and the next process is armed with the rest.
// Lanes run side by side, since a kill with a step claimed costs a lease (5 s) before the next
// process may take the step over.
//
// Afterwards each run must have ended as planned, every fake must have seen each state change
// once, the timeline must hold each event once, and every event must be in the thread.

export interface LaneSpec {
  name: string;
  shape: PlanShape;
  /** Failpoint specs, each to be reached once. */
  points: string[];
  /** Points that may legitimately never come (nothing in these plans reports progress, say). */
  optional?: string[];
  /** SIGKILL from outside while the run waits for approval, then approve on the new process. */
  killWhileAwaitingApproval?: boolean;
  /** Roll the run back once it waits at its manual step. */
  rollBack?: boolean;
  /** Leave FERRY_LEASE_SECONDS unset (Ferry's default) instead of the drills' 5 s. */
  defaultLease?: boolean;
}

const doPoints = (points: readonly string[], steps: readonly string[]) =>
  steps.flatMap((step) => points.map((point) => `${point}:do:${step}`));
const undoPoints = (points: readonly string[], steps: readonly string[]) =>
  steps.flatMap((step) => points.map((point) => `${point}:undo:${step}`));

/**
 * Forty-one kills in seven runs, side by side (the most telling first, should
 * DRILL_KILL_CONCURRENCY hold some back): every step point of the first change through the http
 * maintenance endpoint and of the Route 53 cutover; the capture and the dangerous points (act
 * done, outcome not recorded) of the Heroku steps and the closing maintenance step; the undo
 * points of a rollback; each kind of decision; before and after each kind of Slack post. Each kill
 * restarts Ferry, and restarts are what the drill's time goes on, so this is a choice, not every
 * pair. Step points and posts are never armed in the same process: a post happens while a step
 * runs, so a kill at one would pass the other by unseen. No attempt is killed more than three
 * times before its outcome is recorded, below the claim limit (an attempt claimed more than five
 * times without an outcome fails on purpose).
 */
export const lanes: LaneSpec[] = [
  {
    // Defect 2's case as production has it: the default lease, killed while a person is awaited.
    name: 'approval-wait',
    shape: 'approved-toggle',
    points: [],
    killWhileAwaitingApproval: true,
    defaultLease: true,
  },
  {
    name: 'act-record',
    shape: 'full',
    points: doPoints(
      ['act.before', 'act.after', 'record.before', 'record.after'],
      ['maintenance-on', 'cutover'],
    ),
  },
  {
    name: 'claim-capture',
    shape: 'full',
    points: [
      'decision.after:start',
      ...doPoints(['claim.after', 'capture.before', 'capture.after'], ['maintenance-on', 'cutover']),
      'decision.after:approve',
    ],
  },
  {
    name: 'undo-1',
    shape: 'until-manual',
    points: [
      'decision.after:rollback',
      ...undoPoints(['claim.after', 'act.before', 'act.after'], ['cutover']),
      ...undoPoints(['act.after', 'record.after'], ['crons-disable']),
    ],
    rollBack: true,
  },
  {
    name: 'undo-2',
    shape: 'until-manual',
    points: [
      ...undoPoints(['record.before', 'record.after'], ['cutover']),
      ...undoPoints(['act.after', 'record.before'], ['maintenance-on']),
    ],
    rollBack: true,
  },
  {
    name: 'posts',
    shape: 'full',
    points: ['status', 'event', 'approval', 'edit'].flatMap((kind) => [
      `post.before:${kind}`,
      `post.after:${kind}`,
    ]),
  },
  {
    name: 'later-steps',
    shape: 'full',
    points: [
      ...doPoints(['capture.after', 'act.after', 'record.after'], ['crons-disable']),
      ...doPoints(['capture.after', 'act.after'], ['crons-enable']),
      'act.after:do:maintenance-off',
    ],
  },
];

/** How often each target must change in a run of this shape, and what it must hold at the end. */
function expectedEffects(
  service: string,
  shape: PlanShape,
): { transitions: Record<string, number>; final: ReturnType<DrillWorld['stateOf']> } {
  const dns = `dns:${service}.drill.example.com.`;
  const maintenance = `maintenance:${service}`;
  const clock = `heroku:${service}:clock`;
  switch (shape) {
    case 'full':
      return {
        transitions: { [maintenance]: 2, [clock]: 2, [dns]: 1 },
        final: { maintenance: false, flag: false, clock: 1, cname: newTarget(service) },
      };
    case 'until-manual':
      return {
        transitions: { [maintenance]: 2, [clock]: 2, [dns]: 2 },
        final: { maintenance: false, flag: false, clock: 1, cname: oldTarget(service) },
      };
    case 'approved-toggle':
      return {
        transitions: { [maintenance]: 2, [`maintenance:${service}-flag`]: 1 },
        final: { maintenance: false, flag: true, clock: 1, cname: oldTarget(service) },
      };
    case 'toggle':
      return {
        transitions: { [maintenance]: 2 },
        final: { maintenance: false, flag: false, clock: 1, cname: oldTarget(service) },
      };
  }
}

const EXTERNAL_KILL = 'awaiting-approval (SIGKILL from outside)';
/** A restart must move the thread on within this long of being ready (issue 7, defect 2). */
const RESTART_TARGET_MS = 5_000;

interface Kill {
  point: string;
  incarnation: number;
  at: number;
}

export interface Restart {
  incarnation: number;
  readyAt: number;
  /** Why a message was due: events not yet in Slack, or an approval clicked as soon as it was ready. */
  waitingFor: 'unposted events' | 'the approval just clicked' | undefined;
  firstMessageMs: number | undefined;
}

export interface LaneReport {
  lane: string;
  service: string;
  runId: string | undefined;
  /** How the run had to end, and how it did. */
  expectedStatus: string;
  status: string | undefined;
  /** False when the drill's time ran out or Ferry would not start: nothing below is judged then. */
  finished: boolean;
  kills: Kill[];
  unreached: string[];
  restarts: Restart[];
  transitions: Transition[];
  duplicateEffects: number;
  duplicateEvents: number;
  lostEvents: number;
  duplicatePosts: Array<{ ts: string; kind: string; point: string }>;
  /** Kill points after which something went wrong, by time, and what. */
  failedKills: Map<string, string[]>;
  /** The last kill of a run cut short by the drill's time: whether Ferry recovered from it is not known. */
  unjudgedKill: string | undefined;
  findings: string[];
  wallMs: number;
}

interface CallSeen {
  method: string;
  ts: string | undefined;
  at: number;
  incarnation: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Drives one lane's run through its kill points; then judges what the fakes, Slack and the timeline hold. */
async function runLane(
  spec: LaneSpec,
  world: DrillWorld,
  ctx: DrillContext,
  logDir: string,
  laneDeadline: number,
  /** Called once the run's first Ferry listens (or would not start), so the next run may start. */
  onStarted: () => void = () => undefined,
): Promise<LaneReport> {
  const started = Date.now();
  const service = `drill-kill-${spec.name}`;
  const findings: string[] = [];
  const say = (line: string) => findings.push(`${spec.name}: ${line}`);
  world.seedService(service);
  const driver = new SlackDriver();
  await driver.listen();
  const db = new FerryDb(ctx.pgUrl, drillSchema(`kill_${spec.name}`));
  const plansDir = await writePlans({ [service]: planYaml(service, spec.shape) });
  const env = {
    ...baseFerryEnv({
      pgUrl: ctx.pgUrl,
      schema: db.schema,
      plansDir,
      leaseSeconds: spec.defaultLease ? null : 5,
    }),
    ...driver.ferryEnv(),
    ...world.ferryEnv(),
  };
  const expectedStatus = spec.rollBack ? 'rolled_back' : 'succeeded';

  let incarnation = 0;
  const calls: CallSeen[] = [];
  driver.slack.on('call', (call: RecordedCall) => {
    if (call.method !== 'chat.postMessage' && call.method !== 'chat.update') return;
    const ts = typeof call.response.ts === 'string' ? call.response.ts : undefined;
    calls.push({ method: call.method, ts, at: Date.now(), incarnation });
  });

  const remaining = [...spec.points];
  const kills: Kill[] = [];
  const restarts: Restart[] = [];
  let ferry: FerryProcess | undefined;
  let failedStarts = 0;
  let unplannedExits = 0;
  const options = { env, logFile: path.join(logDir, `${spec.name}.log`) };
  /** The next process, its modules loaded while the current one runs. */
  let spare: FerryProcess | undefined;
  /** Launches Ferry armed with the points not reached yet; undefined when it will not start. */
  const startFerry = async (): Promise<FerryProcess | undefined> => {
    while (failedStarts < 3) {
      const next = spare ?? FerryProcess.prepare(options);
      spare = undefined;
      try {
        const started = await next.launch(remaining);
        if (started.readyAt !== undefined && incarnation > 0)
          restarts.push({
            incarnation,
            readyAt: started.readyAt,
            waitingFor: undefined,
            firstMessageMs: undefined,
          });
        spare = FerryProcess.prepare(options);
        return started;
      } catch (error) {
        failedStarts += 1;
        say(`Ferry did not start (${String(error).slice(0, 600)})`);
      }
    }
    return undefined;
  };

  let runId: string | undefined;
  let status: string | undefined;
  let startSentIn = -1;
  let approvedIn = -1;
  let rollbackSentIn = -1;
  let externalKillDone = false;
  let checkRestart: Restart | undefined;
  let finished = false;
  try {
    ferry = await startFerry().finally(onStarted);
    while (ferry) {
      if (Date.now() > laneDeadline) {
        say(
          `the run was still ${status ?? 'not started'} when the drill's time ran out (${kills.length} kills so far)`,
        );
        break;
      }
      if (!ferry.alive) {
        const exit = ferry.exit!;
        if (exit.failpoint) {
          kills.push({ point: exit.failpoint, incarnation, at: Date.now() });
          remaining.splice(remaining.indexOf(exit.failpoint), 1);
          ctx.log(`${spec.name}: killed at ${exit.failpoint} (${remaining.length} points left)`);
        } else {
          unplannedExits += 1;
          say(
            `Ferry exited by itself (code ${exit.code}, signal ${exit.signal}); its last lines:\n${ferry.tail().slice(-1500)}`,
          );
          if (unplannedExits > 3) break;
        }
        incarnation += 1;
        ferry = await startFerry();
        checkRestart = restarts.at(-1);
        continue;
      }

      runId ??= (await db.runIds())[0];
      // Was anything waiting to be posted when this process became ready?
      if (checkRestart && runId) {
        if (checkRestart.incarnation === incarnation && (await db.unpostedEvents(runId)) > 0)
          checkRestart.waitingFor ??= 'unposted events';
        checkRestart = undefined;
      }
      if (!runId && startSentIn !== incarnation) {
        startSentIn = incarnation;
        await driver.command(ferry.url, ALICE, `start ${service} staging`);
      }
      status = runId ? await db.runStatus(runId) : undefined;

      if (runId && status === 'waiting') {
        const approval = driver.thread(runId).findLast((m) => findButton(m, ActionId.approve) !== undefined);
        if (approval && spec.killWhileAwaitingApproval && !externalKillDone) {
          // A moment for the publisher to finish its pass, as a person takes to read the request.
          await sleep(500);
          externalKillDone = true;
          kills.push({ point: EXTERNAL_KILL, incarnation, at: Date.now() });
          ctx.log(`${spec.name}: killed while the run waits for approval`);
          await ferry.kill();
          incarnation += 1;
          ferry = await startFerry();
          if (ferry?.alive && ferry.readyAt !== undefined) {
            restarts.at(-1)!.waitingFor = 'the approval just clicked';
            approvedIn = incarnation;
            await driver.click(ferry.url, BOB, approval, ActionId.approve);
          }
          continue;
        }
        // A person clicks again when a click went unanswered (the process died under it).
        if (approval && approvedIn !== incarnation) {
          approvedIn = incarnation;
          await driver.click(ferry.url, BOB, approval, ActionId.approve);
        }
        const atManualStep = driver
          .statusMessages(runId)
          .some((m) => findButton(m, ActionId.done) !== undefined);
        if (spec.rollBack && atManualStep && rollbackSentIn !== incarnation) {
          rollbackSentIn = incarnation;
          await driver.command(ferry.url, ALICE, `rollback ${runId}`);
        }
      }

      if (runId && status === expectedStatus) {
        // Done once Slack shows all of it: a kill at the last edit must be recovered from too.
        const shown = driver
          .statusMessages(runId)
          .some((m) => /All \d+ steps done|Rolled back/.test(readable(m)));
        if (shown && (await db.caughtUp(runId)) && ferry.alive) {
          finished = true;
          break;
        }
      } else if (status && !['running', 'waiting', 'rolling_back'].includes(status)) {
        say(`run ${runId} ended ${status}, not ${expectedStatus}`);
        finished = true;
        break;
      }
      await sleep(100);
    }
  } finally {
    await spare?.kill();
    if (ferry?.alive) await ferry.stop(3_000);
  }

  const report: LaneReport = {
    lane: spec.name,
    service,
    runId,
    expectedStatus,
    status,
    finished,
    kills,
    unreached: remaining,
    restarts,
    transitions: world.transitionsOf(service),
    duplicateEffects: 0,
    duplicateEvents: 0,
    lostEvents: 0,
    duplicatePosts: [],
    failedKills: new Map(),
    unjudgedKill: undefined,
    findings,
    wallMs: 0,
  };
  if (runId) await judge(report, spec, world, driver, db, calls);
  if (finished)
    for (const point of remaining.filter((p) => !(spec.optional ?? []).includes(p)))
      say(`failpoint ${point} was never reached`);
  await driver.close();
  await rm(plansDir, { recursive: true, force: true });
  // A schema is kept when its run went wrong, to be read afterwards.
  if (findings.length === 0) await db.drop().catch(() => undefined);
  else say(`Ferry's tables are kept in schema ${db.schema}`);
  await db.close();
  report.wallMs = Date.now() - started;
  return report;
}

/** Each change once, each event once, every event in Slack; anything else is blamed on the kill before it. */
async function judge(
  report: LaneReport,
  spec: LaneSpec,
  world: DrillWorld,
  driver: SlackDriver,
  db: FerryDb,
  calls: readonly CallSeen[],
): Promise<void> {
  const runId = report.runId!;
  const say = (line: string) => report.findings.push(`${spec.name}: ${line}`);
  const blame = (at: number, what: string): void => {
    const kill = report.kills.findLast((k) => k.at <= at);
    const key = kill?.point ?? '(before any kill)';
    report.failedKills.set(key, [...(report.failedKills.get(key) ?? []), what]);
  };

  // A run cut short by the drill's time is judged on what happened so far; whether it would have
  // recovered from its last kill, and whether Slack would have caught up, is not known.
  if (!report.finished || report.status !== report.expectedStatus) {
    const last = report.kills.at(-1);
    if (last)
      blame(last.at, report.finished ? `the run ended ${report.status}` : 'the run did not finish in time');
  }

  const expected = expectedEffects(report.service, spec.shape);
  const effects = extraTransitions(report.transitions, expected.transitions);
  report.duplicateEffects = effects.extra.length;
  for (const t of effects.extra) blame(t.at, `${t.target} changed again (${t.from} -> ${t.to})`);
  effects.lines.forEach(say);
  const state = world.stateOf(report.service);
  if (
    report.finished &&
    report.status === report.expectedStatus &&
    JSON.stringify(state) !== JSON.stringify(expected.final)
  )
    say(
      `the run ended ${report.status} but left ${JSON.stringify(state)}, not ${JSON.stringify(expected.final)}`,
    );

  const problems = timelineProblems(await db.timeline(runId));
  report.duplicateEvents = problems.repeated.length;
  for (const e of [...problems.failures, ...problems.repeated])
    blame(e.at, `${e.type} ${e.stepId ?? ''} (seq ${e.seq})`);
  problems.lines.forEach(say);

  for (const restart of report.restarts) {
    if (!restart.waitingFor) continue;
    const first = calls.find(
      (c) =>
        c.incarnation === restart.incarnation && c.method === 'chat.postMessage' && c.at >= restart.readyAt,
    );
    if (first) restart.firstMessageMs = first.at - restart.readyAt;
    if ((restart.firstMessageMs ?? 0) > RESTART_TARGET_MS)
      say(
        `a restart took ${restart.firstMessageMs} ms from ready to the thread's next message (${restart.waitingFor}); the target is ${RESTART_TARGET_MS} ms`,
      );
  }

  if (!report.finished) return;
  const coverage = await slackCoverage(db, driver, [runId]);
  report.lostEvents = coverage.lost.length;
  for (const { event } of coverage.lost) {
    blame(event.at, `event ${event.seq} never posted`);
    say(`timeline event ${event.seq} (${event.type} ${event.stepId ?? ''}) never reached the thread`);
  }
  for (const message of coverage.orphans) {
    const call = calls.find((c) => c.ts === message.ts);
    const kill = report.kills.find((k) => k.incarnation === call?.incarnation);
    const kind = isTopLevel(message) ? 'status message' : 'thread reply';
    report.duplicatePosts.push({ ts: message.ts, kind, point: kill?.point ?? '(no kill)' });
  }
  if (report.duplicatePosts.length > 0)
    say(
      `${report.duplicatePosts.length} message(s) posted twice: ${report.duplicatePosts.map((d) => `a ${d.kind} after ${d.point}`).join('; ')}`,
    );
}

/**
 * Runs `tasks` with at most `limit` at once, in order, each started only once the one before has
 * its first Ferry listening: a dozen Ferry processes loading at the same instant starve each other.
 */
async function staggered<T>(tasks: Array<(started: () => void) => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  let previousStarted: Promise<void> = Promise.resolve();
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      const before = previousStarted;
      let started!: () => void;
      previousStarted = new Promise<void>((resolve) => (started = resolve));
      await before;
      results[index] = await tasks[index]!(started).finally(started);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

export async function runKillBoundaries(
  ctx: DrillContext,
  selected: LaneSpec[] = lanes,
): Promise<DrillResult & { details: string[]; lanes: LaneReport[] }> {
  const world = new DrillWorld();
  await world.listen();
  const logDir = await mkdtemp(path.join(tmpdir(), 'ferry-drill-kill-'));
  // All runs at once: most of a run's time is a lease running out, while starting Ferry again is
  // CPU; side by side, one run's restart uses the cores while the others wait.
  const concurrency = Number(process.env.DRILL_KILL_CONCURRENCY ?? selected.length);
  ctx.log(
    `kill at every boundary: ${selected.length} runs, ${concurrency} at a time; Ferry's logs in ${logDir}`,
  );
  // Leave time to judge what reached Slack after the last lane.
  const laneDeadline = ctx.deadline - 5_000;
  let reports: LaneReport[];
  try {
    reports = await staggered(
      selected.map((spec) => (started) => runLane(spec, world, ctx, logDir, laneDeadline, started)),
      concurrency,
    );
  } finally {
    await world.close();
  }
  // Ferry's logs are kept when something went wrong, to be read with the schemas kept.
  if (reports.every((r) => r.findings.length === 0)) await rm(logDir, { recursive: true, force: true });
  else ctx.log(`Ferry's logs are kept in ${logDir}`);

  const details = [
    'Each row is one run, its process killed at each of these points in turn, in the order they came:',
    '',
    '| run | plan | killed at | ended | slowest restart to next message |',
    '| --- | --- | --- | --- | --- |',
    ...reports.map((r) => {
      const spec = selected.find((s) => s.name === r.lane)!;
      const slowest = Math.max(0, ...r.restarts.map((x) => x.firstMessageMs ?? 0));
      const points = r.kills.map((k) => `\`${k.point}\``).join(', ') || 'none';
      return `| ${r.lane} | ${spec.shape}${spec.rollBack ? ', rolled back' : ''}${spec.defaultLease ? ', default lease' : ''} | ${points} | ${r.finished ? r.status : `unfinished (${r.status ?? 'not started'})`} | ${slowest} ms |`;
    }),
  ];
  const kills = reports.flatMap((r) => r.kills);
  const failed = reports.reduce((n, r) => n + r.kills.filter((k) => r.failedKills.has(k.point)).length, 0);
  const unjudged = reports.filter((r) => r.unjudgedKill !== undefined).length;
  const measured = reports.flatMap((r) => r.restarts).filter((r) => r.firstMessageMs !== undefined);
  return {
    figures: {
      kill_points: kills.length,
      kill_points_survived: kills.length - failed - unjudged,
      kill_points_unjudged: unjudged,
      duplicate_effects: reports.reduce((n, r) => n + r.duplicateEffects, 0),
      lost_events: reports.reduce((n, r) => n + r.lostEvents, 0),
      restart_to_first_message_ms:
        measured.length > 0 ? Math.max(...measured.map((r) => r.firstMessageMs!)) : 0,
      duplicate_posts: reports.reduce((n, r) => n + r.duplicatePosts.length, 0),
      duplicate_timeline_events: reports.reduce((n, r) => n + r.duplicateEvents, 0),
      restarts_measured: measured.length,
      kill_runs: reports.length,
      kill_runs_completed: reports.filter((r) => r.finished && r.status === r.expectedStatus).length,
    },
    findings: reports.flatMap((r) => r.findings),
    details,
    lanes: reports,
  };
}

export const description = [
  "Ferry runs as a real process (`src/main.ts` in Slack mode on PostgreSQL, leases of 5 s) and is SIGKILLed at named failpoints (`FERRY_FAILPOINTS`): after a step attempt is claimed, before and after its capture, before and after it acts, before and after its outcome is recorded, after a person's start, approval or rollback is committed, and before and after each kind of Slack post (status message, timeline reply, approval request, edit); then it is started again on the same database. It is driven only as Slack drives it (signed slash commands and clicks) against a fake Slack Web API, and its plans change fakes of the http maintenance protocol, Heroku (clock dynos) and Route 53 (a CNAME cutover Bob approves).",
  '',
  "Each run is chained through its kill points: the process is armed with every point the run has not reached yet and dies at the first it reaches; the next process, its modules loaded while the last one ran, is armed with the rest. Seven runs go side by side (a kill with a step claimed costs the 5 s lease before the next process may take the step over, while starting Ferry again costs CPU); two of them are rolled back from a manual step and killed at the undo points. One of them keeps Ferry's default lease and is killed from outside while it waits for approval, then approved on the new process: the case of issue 7's defect 2.",
  '',
  "Afterwards each run must have ended as planned (succeeded, or rolled back); each fake must have changed state exactly as often as the plan says (`duplicate_effects` counts transitions beyond that: a call repeated after a crash must not change anything twice); the timeline must hold each once-per-run event once (`duplicate_timeline_events`) and no failure; every timeline event must be in a thread reply that names its step (`lost_events`). A message in the channel that Ferry holds no reference to was posted twice (`duplicate_posts`, with the kill that caused it). A kill counts as survived when none of the above went wrong between it and the next kill, and the run went on past it (a message posted twice is counted apart); a run cut short by the drill's time is judged on what happened so far, and its last kill is counted apart (`kill_points_unjudged`). `restart_to_first_message_ms` is the longest time from a restarted process logging that it listens to the next message in the thread, over the restarts that had something to post.",
].join('\n');

export const drill: Drill = {
  name: 'kill at every boundary',
  run: (ctx) => runKillBoundaries(ctx),
};
