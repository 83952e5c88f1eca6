import type { Drill } from '../types.ts';

// Runs some of the drills on their own, outside `npm run drills`, and prints their figures and
// findings: `node drills/support/h5-run.ts slack-habits forged dependencies`.

const names = process.argv.slice(2);
if (names.length === 0) {
  process.stderr.write('usage: node drills/support/h5-run.ts <drill module name>...\n');
  process.exit(2);
}
let failed = false;
for (const name of names) {
  const { drill } = (await import(`../${name}.ts`)) as { drill: Drill };
  const started = Date.now();
  const result = await drill.run({
    pgUrl: process.env.DRILL_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
    redisUrl: process.env.DRILL_REDIS_URL ?? 'redis://127.0.0.1:6379/12',
    deadline: started + 5 * 60_000,
    log: (line) => process.stdout.write(`  [${name}] ${line}\n`),
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`${drill.name} (${seconds} s)\n${JSON.stringify(result.figures, null, 2)}\n`);
  for (const finding of result.findings) process.stdout.write(`  finding: ${finding}\n`);
  if (result.findings.length > 0) failed = true;
}
process.exit(failed ? 1 : 0);
