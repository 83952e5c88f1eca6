import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startFerry } from '../../src/ferry.ts';
import { FakeSlack } from '../../src/sandbox/fake-slack.ts';
import { dropSchema, randomSchemaName, TEST_DATABASE_URL } from '../support/db.ts';

/** Starts Ferry with `env`, returns its log lines up to the moment it is ready, and stops it. */
async function startupLog(env: Record<string, string>): Promise<string[]> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const ferry = await startFerry(
    loadConfig({ PORT: '0', LOG_LEVEL: 'info', FERRY_PLANS: 'examples/plans', ...env }),
    {
      log: pino({ level: 'info' }, sink),
    },
  );
  await ferry.stop();
  return lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
}

describe('the first log line says where Ferry keeps its state', () => {
  it('names embedded PGlite and its data directory when DATABASE_URL is unset', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-first-line-'));
    try {
      const messages = await startupLog({ FERRY_DATA_DIR: dir });
      expect(messages[0]).toBe(`Ferry starting (local sandbox mode) on embedded PGlite under ${dir}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names PostgreSQL when DATABASE_URL is set', async () => {
    const schema = randomSchemaName('firstline');
    const slack = await new FakeSlack({ rateLimits: false }).listen();
    try {
      const messages = await startupLog({
        DATABASE_URL: TEST_DATABASE_URL,
        FERRY_DB_SCHEMA: schema,
        SLACK_BOT_TOKEN: 'xoxb-first-line',
        SLACK_SIGNING_SECRET: 'first-line-secret',
        SLACK_API_URL: slack.apiUrl,
      });
      expect(messages[0]).toBe('Ferry starting (Slack mode) on PostgreSQL');
    } finally {
      await slack.close();
      await dropSchema(schema);
    }
  });

  it('refuses to start with a bot token Slack rejects, saying which and why', async () => {
    const schema = randomSchemaName('badtoken');
    const slack = await new FakeSlack({ rateLimits: false, token: 'xoxb-the-real-one' }).listen();
    try {
      await expect(
        startupLog({
          DATABASE_URL: TEST_DATABASE_URL,
          FERRY_DB_SCHEMA: schema,
          SLACK_BOT_TOKEN: 'xoxb-a-revoked-one',
          SLACK_SIGNING_SECRET: 'first-line-secret',
          SLACK_API_URL: slack.apiUrl,
        }),
      ).rejects.toThrow('Slack refused SLACK_BOT_TOKEN (invalid_auth)');
    } finally {
      await slack.close();
      await dropSchema(schema);
    }
  });
});
