// The benchmarks: `npm run bench`. Ferry as it is deployed (src/main.ts in its own process, in HTTP
// mode, on PostgreSQL unless said otherwise) against a local Slack stand-in, with the bare Bolt app
// it is compared with measured in the same run, on the same machine, in alternating rounds. Writes
// bench/results.json and docs/benchmarks.md (with its chart). At most five minutes on two cores.
//
// BENCH_PARTS=ack,portfolio runs some parts only, and then writes nothing but the JSON it prints.
import { cpus, loadavg } from 'node:os';
import { memoryOf, MemoryWatch } from './support/memory.ts';
import { planYaml } from './support/plans.ts';
import { ackStage, openStage, type OpenStage } from './support/stage.ts';
import { BenchWorld } from './support/world.ts';
import {
  CLICK_ENVIRONMENTS,
  CLICK_SERVICES,
  CLICK_STEPS,
  measureClicks,
  measureCommands,
  summarise,
} from './parts/ack.ts';
import { A2E_STEPS, a2eServices, measureApprovalToEffect } from './parts/approval-to-effect.ts';
import { measureEmbedded, STATUS_PLAN, STATUS_SERVICE, startStatusRun } from './parts/footprint.ts';
import {
  PORTFOLIO_ENVIRONMENTS,
  PORTFOLIO_SERVICES,
  portfolioSteps,
  publishPortfolio,
  updatesPerMinuteMax,
} from './parts/portfolio.ts';
import {
  measureSingleRun,
  SINGLE_SERVICE,
  type SingleRunFigures,
  SINGLE_STEPS,
  WARMUP_CHANNEL,
  WARMUP_SERVICE,
} from './parts/single-run.ts';
import { writeReport, type BenchResults } from './report.ts';

/** Measured runs of the single-run part, after its warm-up: the median is reported. */
const SINGLE_RUNS = 5;
const COMMANDS = { requests: 2_000, concurrency: 32, rounds: 8, warmup: 200 };
const CLICKS = { requests: 2_000, concurrency: 32, rounds: 2, warmup: 100 };
const APPROVAL_SAMPLES = 50;
const PORTFOLIO_TIMEOUT_MS = 150_000;
const REPLICAS_WATCH_MS = 65_000;

const only = process.env.BENCH_PARTS?.split(',').map((p) => p.trim());
const runs = (part: string) => !only || only.includes(part);
const log = (line: string) =>
  process.stderr.write(`[bench ${((Date.now() - began) / 1000).toFixed(0)}s] ${line}\n`);
const began = Date.now();
const results: Partial<BenchResults> = {};

/** The PostgreSQL stage: ack load against the baseline, the single run, approval to effect, memory. */
async function postgresParts(): Promise<void> {
  const world = new BenchWorld();
  await world.listen();
  const a2e = a2eServices(APPROVAL_SAMPLES);
  for (const service of [...a2e, SINGLE_SERVICE]) world.seedRecord(service, 'staging');
  const plans: Record<string, string> = {
    [STATUS_SERVICE]: STATUS_PLAN(),
    [SINGLE_SERVICE]: planYaml(SINGLE_SERVICE, { staging: SINGLE_STEPS }),
    [WARMUP_SERVICE]: planYaml(WARMUP_SERVICE, { staging: SINGLE_STEPS }),
    ...Object.fromEntries(a2e.map((s) => [s, planYaml(s, { staging: A2E_STEPS })])),
    ...Object.fromEntries(
      CLICK_SERVICES.map((s) => [
        s,
        planYaml(s, Object.fromEntries(CLICK_ENVIRONMENTS.map((e) => [e, CLICK_STEPS]))),
      ]),
    ),
  };
  const stage = await openStage({ name: 'ack', plans, world, rateLimits: false, baseline: true });
  try {
    const pid = stage.ferry.child.pid!;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const idle = memoryOf(pid).rssMb;
    const startPeak = memoryOf(pid).hwmMb;
    log(`Ferry on PostgreSQL idles at ${idle} MB (${startPeak} MB at most while starting)`);
    if (runs('single')) {
      const cold = await measureSingleRun(stage, stage.db!, WARMUP_SERVICE, WARMUP_CHANNEL);
      log(`single run, the process's first: ${cold.wall_ms} ms for ${cold.steps} steps`);
      // Its last messages go out after it ends: the measured run starts once they are out.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // One run is one sample of a few hundred milliseconds: the median of several says more.
      const measured: SingleRunFigures[] = [];
      for (let i = 0; i < SINGLE_RUNS; i++) {
        measured.push(await measureSingleRun(stage, stage.db!));
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      const single = measured.toSorted((a, b) => a.wall_ms - b.wall_ms)[Math.floor(SINGLE_RUNS / 2)]!;
      results.single_run = {
        steps: single.steps,
        wall_ms: single.wall_ms,
        overhead_ms_per_step: single.overhead_ms_per_step,
      };
      results.details = {
        ...results.details,
        single_run_approval_request_to_slack_ms: single.approval_request_to_slack_ms,
        single_run_first_wall_ms: cold.wall_ms,
        single_run_walls_ms: measured.map((m) => m.wall_ms),
      };
      log(
        `single run: ${single.wall_ms} ms for ${single.steps} steps (median of ${measured.map((m) => m.wall_ms).join(', ')})`,
      );
    }
    if (runs('approval')) {
      const { figures } = await measureApprovalToEffect(stage, world, a2e);
      results.approval_to_effect = figures;
      log(`approval to effect: p50 ${figures.p50_ms} ms, p95 ${figures.p95_ms} ms`);
    }
    if (runs('ack')) {
      const watch = new MemoryWatch(pid);
      await startStatusRun(stage.slack, stage.ferry.url, stage.secret);
      const commands = await measureCommands(ackStage(stage), COMMANDS);
      results.ack_command = summarise(commands, COMMANDS);
      log(`commands: p50 ${results.ack_command.p50_ms} vs ${results.ack_command.baseline_p50_ms} ms`);
      const ackOnly = summarise(await measureCommands(ackStage(stage), COMMANDS, 'help'), COMMANDS);
      log(`help, answered in the ack: p50 ${ackOnly.p50_ms} vs ${ackOnly.baseline_p50_ms} ms`);
      const clicks = await measureClicks(ackStage(stage), stage.db!, CLICKS);
      results.ack_click = summarise(clicks, CLICKS);
      log(`clicks: p50 ${results.ack_click.p50_ms} vs ${results.ack_click.baseline_p50_ms} ms`);
      const { peakMb } = watch.stop();
      results.footprint = { ...results.footprint, idle_rss_mb: idle, peak_rss_mb_under_ack_load: peakMb };
      results.details = {
        ...results.details,
        start_peak_rss_mb: startPeak,
        baseline_idle_rss_mb: memoryOf(stage.baseline!.child.pid!).rssMb,
        ack_only_command: ackOnly,
        ack_command_samples: { ferry: commands.ferry, baseline: commands.baseline },
        ack_click_samples: { ferry: clicks.ferry, baseline: clicks.baseline },
      };
    } else {
      results.footprint = { ...results.footprint, idle_rss_mb: idle };
    }
  } finally {
    await stage.close();
    await world.close();
  }
}

/** One Ferry (or two replicas) publishing the cutover night, Slack's limits on. */
async function portfolioPart(replicas: number): Promise<void> {
  const world = new BenchWorld({ writeMs: 1_000 });
  await world.listen();
  for (const service of PORTFOLIO_SERVICES)
    for (const env of PORTFOLIO_ENVIRONMENTS) world.seedRecord(service, env);
  const plans = Object.fromEntries(
    PORTFOLIO_SERVICES.map((s) => [
      s,
      planYaml(s, Object.fromEntries(PORTFOLIO_ENVIRONMENTS.map((e) => [e, portfolioSteps(e)]))),
    ]),
  );
  let stage: OpenStage | undefined;
  try {
    stage = await openStage({
      name: replicas > 1 ? 'replicas' : 'portfolio',
      plans,
      world,
      rateLimits: true,
      baseline: false,
      replicas,
    });
    const watch = new MemoryWatch(stage.ferry.child.pid!);
    // Two replicas are watched for a minute and a little: what is judged there is the edits' rate.
    const outcome = await publishPortfolio(
      stage,
      stage.db!,
      PORTFOLIO_TIMEOUT_MS,
      replicas > 1 ? REPLICAS_WATCH_MS : undefined,
    );
    const { peakMb } = watch.stop();
    const perMinute = updatesPerMinuteMax(outcome.updateTimes);
    if (replicas > 1) {
      results.replicas = { replicas, chat_update_per_minute_max: perMinute };
      results.details = {
        ...results.details,
        replicas_watched_ms: outcome.wallMs,
        replicas_portfolio_when_watch_ended: outcome.figures,
      };
      log(`replicas: at most ${perMinute} chat.update a minute`);
    } else {
      results.portfolio = { ...outcome.figures, peak_rss_mb: peakMb };
      results.details = {
        ...results.details,
        portfolio_wall_ms: outcome.wallMs,
        portfolio_chat_update_per_minute_max: perMinute,
      };
      log(
        `portfolio: ${outcome.figures.delivered}/${outcome.figures.events} events, p95 ${outcome.figures.p95_event_to_slack_ms} ms, ${outcome.figures.slack_calls} calls`,
      );
    }
  } finally {
    await stage?.close();
    await world.close();
  }
}

async function embeddedPart(): Promise<void> {
  const world = new BenchWorld();
  await world.listen();
  try {
    const embedded = await measureEmbedded(world, COMMANDS);
    results.footprint = {
      ...results.footprint,
      embedded_idle_rss_mb: embedded.idleRssMb,
      embedded_peak_rss_mb: embedded.peakRssMb,
      embedded_ack_p50_ratio: embedded.ackP50Ratio,
    };
    results.details = {
      ...results.details,
      embedded_ack_p50_ms: embedded.ackP50Ms,
      embedded_baseline_p50_ms: embedded.baselineP50Ms,
      embedded_first_start: embedded.firstStart,
    };
    log(
      `embedded: idle ${embedded.idleRssMb} MB, peak ${embedded.peakRssMb} MB, ack p50 x${embedded.ackP50Ratio}`,
    );
  } finally {
    await world.close();
  }
}

const parts: Array<[string, () => Promise<void>]> = [
  ['postgres', postgresParts],
  ['portfolio', () => portfolioPart(1)],
  ['replicas', () => portfolioPart(2)],
  ['embedded', embeddedPart],
];
const failures: string[] = [];
for (const [name, part] of parts) {
  const wanted = name === 'postgres' ? ['ack', 'single', 'approval'].some(runs) : runs(name);
  if (!wanted) continue;
  log(`${name}…`);
  try {
    await part();
  } catch (error) {
    failures.push(`${name}: ${(error as Error).message}`);
    log(`${name} failed: ${(error as Error).stack ?? String(error)}`);
  }
}
results.meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  load_average_at_end: loadavg().map((l) => Math.round(l * 100) / 100),
  duration_s: Math.round((Date.now() - began) / 1000),
  failures,
};
if (only) {
  const { details: _details, ...shown } = results;
  process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
} else {
  await writeReport(results as BenchResults);
  log(`wrote bench/results.json and docs/benchmarks.md in ${results.meta.duration_s} s`);
}
process.exitCode = failures.length > 0 ? 1 : 0;
