import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { memoryOf, MemoryWatch } from '../support/memory.ts';
import { planYaml } from '../support/plans.ts';
import { ackStage, CHANNEL, openStage } from '../support/stage.ts';
import { ratio, ms, percentile } from '../support/stats.ts';
import type { BenchWorld } from '../support/world.ts';
import { measureCommands, type AckOptions } from './ack.ts';

// Ferry on its embedded database (PGlite, no DATABASE_URL): what it holds idle and at most, from the
// start to the end of a load of slash commands, and how fast it answers them beside the bare Bolt
// app. The first start on an empty folder creates the database (initdb) in a process of its own and
// is measured apart: it happens once per installation, and its memory leaves with that process.

export const STATUS_SERVICE = 'status01';
export const STATUS_PLAN = () =>
  planYaml(STATUS_SERVICE, {
    staging: [
      { kind: 'maintenance', id: 'maintenance-on', action: 'on' },
      { kind: 'maintenance', id: 'maintenance-off', action: 'off' },
    ],
  });

export interface EmbeddedFigures {
  idleRssMb: number;
  peakRssMb: number;
  ackP50Ratio: number;
  ackP50Ms: number;
  baselineP50Ms: number;
  firstStart: { ms: number; ownPeakMb: number; creationPeakMb: number };
}

export async function measureEmbedded(world: BenchWorld, ack: AckOptions): Promise<EmbeddedFigures> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-embedded-'));
  const plans = { [STATUS_SERVICE]: STATUS_PLAN() };
  try {
    // The first start: the database is created.
    let watch: MemoryWatch | undefined;
    const first = await openStage({
      name: 'embedded',
      plans,
      world,
      rateLimits: false,
      embedded: { dataDir },
      baseline: false,
      onSpawn: (pid) => (watch = new MemoryWatch(pid)),
    });
    const firstStartMs = first.ferry.readyAt! - first.ferry.launchedAt!;
    const firstOwn = memoryOf(first.ferry.child.pid!).hwmMb;
    const firstWatch = watch!.stop();
    await first.close();

    // Any later start, on the database made above, then idle, then the load.
    const stage = await openStage({
      name: 'embedded',
      plans,
      world,
      rateLimits: false,
      embedded: { dataDir },
      baseline: true,
    });
    try {
      const pid = stage.ferry.child.pid!;
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const idle = memoryOf(pid).rssMb;
      await startStatusRun(stage.slack, stage.ferry.url, stage.secret);
      const samples = await measureCommands(ackStage(stage), ack);
      const p50 = percentile(samples.ferry, 50);
      const b50 = percentile(samples.baseline, 50);
      return {
        idleRssMb: idle,
        // VmHWM: the most the process ever held, from its start through the load.
        peakRssMb: memoryOf(pid).hwmMb,
        ackP50Ratio: ratio(p50, b50),
        ackP50Ms: ms(p50),
        baselineP50Ms: ms(b50),
        firstStart: { ms: firstStartMs, ownPeakMb: firstOwn, creationPeakMb: firstWatch.childrenPeakMb },
      };
    } finally {
      await stage.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** A finished run in the channel, for `/migrate status` to show; its steps answer at once. */
export async function startStatusRun(
  slack: {
    send(url: string, secret: string, body: string): Promise<number>;
    commandBody(text: string, channel: string): string;
  },
  url: string,
  secret: string,
): Promise<void> {
  const status = await slack.send(
    `${url}/slack/events`,
    secret,
    slack.commandBody(`start ${STATUS_SERVICE} staging`, CHANNEL),
  );
  if (status !== 200) throw new Error(`starting ${STATUS_SERVICE} was answered ${status}`);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
}
