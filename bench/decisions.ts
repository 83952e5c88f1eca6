// Benchmark: what durability costs per decision. A decision locks the run row, runs decide(), writes
// the state and timeline and commits: one transaction per decision. Baselines measured
// in the same run: the pure decide() alone and a bare `select 1` round trip, on Postgres and PGlite.
// Run: npm run bench:decisions. Writes bench/results/decisions.json and .md.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { decide, newRunState } from '../src/engine/index.ts';
import type { RunEvent } from '../src/engine/types.ts';
import { stepSchema } from '../src/plan/schema.ts';
import { openDatabase, type Database } from '../src/store/db.ts';
import { applyToRun, createRun } from '../src/store/runs.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const STEPS = 20;
const log = pino({ level: 'silent' });
const policy = {
  starters: [],
  approverUsers: [],
  approverGroups: [],
  fourEyes: false,
  approvalExpiresMs: 1_800_000,
  approvalReminderMs: 600_000,
  lockAfterRollback: true,
};
const specs = Array.from({ length: STEPS }, (_, i) =>
  stepSchema.parse({
    id: `step-${i + 1}`,
    kind: 'flag',
    action: 'on',
    provider: { type: 'redis', url: 'redis://x', key: `k${i}` },
  }),
);
const note: RunEvent = { type: 'note', actor: { user: 'U01ALICE', groups: [] }, text: 'benchmark note' };

interface Figures {
  p50_us: number;
  p95_us: number;
  per_second: number;
}

function summarise(samples: number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const total = samples.reduce((a, b) => a + b, 0);
  return {
    p50_us: Math.round(at(50) * 1000),
    p95_us: Math.round(at(95) * 1000),
    per_second: Math.round((samples.length / total) * 1000),
  };
}

async function time(n: number, fn: () => unknown): Promise<number[]> {
  for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

async function measure(db: Database): Promise<Record<string, Figures>> {
  const now = Date.now();
  const { state } = await createRun(
    db,
    {
      service: `bench-${now}`,
      environment: 'staging',
      startedBy: 'U01ALICE',
      channel: 'C1',
      planFile: 'bench.yml',
      policy,
      steps: specs.map((spec) => ({ spec, title: spec.id })),
      now,
    },
    (initial) => decide(initial, { type: 'start' }, now),
  );
  return {
    'select 1 round trip (baseline)': summarise(await time(ITERATIONS, () => db.pool.query('select 1'))),
    'durable decision (lock, decide, persist, commit)': summarise(
      await time(ITERATIONS, () =>
        applyToRun(db, state.id, Date.now(), (record) => decide(record.state, note, Date.now())),
      ),
    ),
  };
}

const pure = newRunState({
  id: 'r1',
  service: 'bench',
  environment: 'staging',
  startedBy: 'U01ALICE',
  startedAt: 0,
  policy,
  steps: specs.map((spec) => ({ spec, title: spec.id })),
});
const started = decide(pure, { type: 'start' }, 0).state;
const results: Record<string, Record<string, Figures>> = {
  engine: {
    'pure decide() (baseline)': summarise(await time(ITERATIONS * 10, () => decide(started, note, 1))),
  },
};

const schema = `bench_${process.pid}`;
const pgDb = await openDatabase({
  databaseUrl: process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
  schema,
  dataDir: '',
  log,
});
try {
  results.postgres = await measure(pgDb);
} finally {
  await pgDb.pool.query(`drop schema ${schema} cascade`);
  await pgDb.close();
}
const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-'));
const lite = await openDatabase({ databaseUrl: undefined, schema: 'public', dataDir: dir, log });
try {
  results.pglite = await measure(lite);
} finally {
  await lite.close();
  await rm(dir, { recursive: true, force: true });
}

const meta = {
  date: new Date().toISOString(),
  node: process.version,
  iterations: ITERATIONS,
  steps_per_run: STEPS,
};
const rows = Object.entries(results).flatMap(([backend, figures]) =>
  Object.entries(figures).map(
    ([what, f]) => `| ${backend} | ${what} | ${f.p50_us} | ${f.p95_us} | ${f.per_second} |`,
  ),
);
const pgDecision = results.postgres['durable decision (lock, decide, persist, commit)']!;
const pgRoundTrip = results.postgres['select 1 round trip (baseline)']!;
const markdown = [
  '# Decisions benchmark',
  '',
  `${meta.date}, Node ${meta.node}, ${ITERATIONS} iterations, a run of ${STEPS} steps. Produced by \`npm run bench:decisions\`.`,
  '',
  '| backend | what | p50 µs | p95 µs | per second |',
  '|---|---|---|---|---|',
  ...rows,
  '',
  `A durable decision on Postgres costs ${(pgDecision.p50_us / pgRoundTrip.p50_us).toFixed(1)} round trips at the median.`,
  '',
].join('\n');
await writeFile(
  new URL('./results/decisions.json', import.meta.url),
  `${JSON.stringify({ meta, results }, null, 2)}\n`,
);
await writeFile(new URL('./results/decisions.md', import.meta.url), markdown);
process.stdout.write(markdown);
