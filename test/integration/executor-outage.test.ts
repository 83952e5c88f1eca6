import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db.ts';
import { dropSchema, randomSchemaName, silentLog, startTestRun } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';
import { ExecutorRig, gate, RecordingHandlers, waitFor } from '../support/executor.ts';
import type { Database } from '../../src/store/db.ts';

// The database goes away while a step works (a restart, a failover): the step's outcome is kept and
// recorded once the database is back, and the step does not act again.

/** A TCP hop to the test Postgres that can cut every connection and refuse new ones, like a restart. */
class Outage {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private down = false;

  async start(): Promise<number> {
    this.server = createServer((client) => {
      if (this.down) {
        client.destroy();
        return;
      }
      const upstream = connect(5432, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

let outage: Outage;
let db: Database;
let schema: string;
let handlers: RecordingHandlers;
let rig: ExecutorRig;

beforeEach(async () => {
  outage = new Outage();
  const port = await outage.start();
  schema = randomSchemaName('exec_outage');
  db = await openDatabase({
    databaseUrl: `postgres://root@127.0.0.1:${port}/test`,
    schema,
    dataDir: '.ferry-test-unused',
    log: silentLog,
  });
  handlers = new RecordingHandlers();
  rig = new ExecutorRig(db, handlers, {
    leaseMs: 60_000,
    idlePollMs: 50,
    planEnv: { SOURCE_REDIS_URL: 'redis://127.0.0.1:6379/8', TARGET_REDIS_URL: 'redis://127.0.0.1:6379/7' },
  });
});

afterEach(async () => {
  await rig.stopAll();
  outage.restore();
  await db.close().catch(() => undefined);
  await outage.stop();
  await dropSchema(schema);
});

describe('a database outage while a step works', () => {
  it('keeps the outcome until the database is back, records it once, and does not act again', async () => {
    const finish = gate();
    let runs = 0;
    handlers.set('flag', {
      run: async () => {
        runs += 1;
        await finish.promise;
        return { summary: `set on run ${runs}` };
      },
    });
    const { state } = await startTestRun(db, { steps: [stepSpec('flag', 'flag')] });
    rig.startExecutor();
    await waitFor(() => runs === 1, 'the step to start');
    outage.cut();
    finish.open(); // the change is made; its outcome cannot be recorded now
    await new Promise((r) => setTimeout(r, 1_500));
    outage.restore();
    const done = await rig.until(
      state.id,
      (s) => s.status === 'succeeded',
      'the outcome to be recorded',
      20_000,
    );
    expect(done.steps[0]!.summary).toBe('set on run 1');
    expect(runs).toBe(1);
  });

  it('lets a step go on when its progress cannot be saved', async () => {
    const reported = gate();
    handlers.set('flag', {
      run: async (_step, _captured, ctx) => {
        await db.pool.query('alter table step_progress rename to step_progress_gone');
        await ctx.progress({ text: 'halfway', fraction: 0.5 });
        reported.open();
        return { summary: 'done despite the progress' };
      },
    });
    const { state } = await startTestRun(db, { steps: [stepSpec('flag', 'flag')] });
    rig.startExecutor();
    await reported.promise;
    const done = await rig.until(state.id, (s) => s.status !== 'running', 'the step to finish');
    await db.pool.query('alter table step_progress_gone rename to step_progress');
    expect(done.status).toBe('succeeded');
    expect(done.steps[0]!.summary).toBe('done despite the progress');
  });
});
