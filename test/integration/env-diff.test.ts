import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvDiffFailedError, envDiffHandler } from '../../src/adapters/env-diff.ts';
import type { EnvDiffStep } from '../../src/adapters/env-diff.ts';
import { HerokuClient } from '../../src/adapters/heroku.ts';
import { StepError } from '../../src/errors.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import { FakeHeroku } from '../../src/sandbox/fakes/heroku.ts';
import { FakeQovery } from '../../src/sandbox/fakes/qovery.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

const HEROKU_TOKEN = 'heroku-token-for-env-diff-0001';
/** What `printf %s "$VALUE" | sha256sum | cut -c1-8` prints. */
const sha8 = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 8);
const QOVERY_TOKEN = 'qovery-api-token-0002-abcdef';

// Every value here is a secret that must never appear in any output.
const SECRETS = {
  db: 'postgres://u:db-password-31337@ec2-1.eu-west-1.compute.amazonaws.com:5432/d8abc',
  redisOld: 'rediss://:redis-password-heroku-9f9f@ec2-2.compute.amazonaws.com:6380',
  redisNew: 'rediss://:redis-password-new-7e7e@billing-redis.eu-central.example.net:6380/1',
  stripeOld: 'sk_live_heroku_51HxYzAbCdEf0001',
  stripeNew: 'sk_live_newplat_51HxYzAbCdEf0002',
  sessionSecret: 'session-secret-value-deadbeefcafe',
};

let heroku: FakeHeroku;
let qovery: FakeQovery;
let herokuServer: ListeningFake;
let qoveryServer: ListeningFake;
let dir: string;

beforeAll(async () => {
  heroku = new FakeHeroku({ token: HEROKU_TOKEN });
  heroku.addApp('billing-staging', {
    configVars: {
      HEROKU_POSTGRESQL_AMBER_URL: SECRETS.db,
      REDIS_URL: SECRETS.redisOld,
      STRIPE_SECRET_KEY: SECRETS.stripeOld,
      SESSION_SECRET: SECRETS.sessionSecret,
      RAILS_ENV: 'production',
      HEROKU_APP_NAME: 'billing-staging',
    },
  });
  qovery = new FakeQovery({ token: QOVERY_TOKEN });
  qovery.addApplication('app-123', {
    variables: {
      DATABASE_URL: SECRETS.db,
      REDIS_URL: SECRETS.redisNew,
      STRIPE_SECRET_KEY: SECRETS.stripeNew,
      RAILS_ENV: 'production',
      QOVERY_EXTRA: 'x',
    },
    secrets: { SESSION_SECRET: 'stored-secret' },
  });
  herokuServer = await heroku.listen();
  qoveryServer = await qovery.listen();
  dir = await mkdtemp(join(tmpdir(), 'ferry-env-diff-'));
});
afterAll(async () => {
  await herokuServer.close();
  await qoveryServer.close();
  await rm(dir, { recursive: true, force: true });
});

function makeEnv() {
  return makeAdapterEnv({ heroku: { apiUrl: herokuServer.url, token: HEROKU_TOKEN } });
}

function handlerFor() {
  const env = makeEnv();
  return envDiffHandler(env, {
    heroku: new HerokuClient(env, { retry: { baseDelayMs: 1 } }),
    retry: { baseDelayMs: 1 },
    cwd: dir,
  });
}

function step(target: unknown, extra: Record<string, unknown> = {}): EnvDiffStep {
  return stepSchema.parse({
    id: 'env-diff',
    kind: 'env-diff',
    source: { type: 'heroku', app: 'billing-staging' },
    target,
    rename: { HEROKU_POSTGRESQL_AMBER_URL: 'DATABASE_URL' },
    ignore: ['HEROKU_*'],
    ...extra,
  }) as EnvDiffStep;
}

/** A context whose logger writes everything (trace level) somewhere the test can read. */
function loggedContext() {
  const lines: string[] = [];
  const log = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  return { ctx: makeStepContext({ log }), lines };
}

function expectNoSecrets(...outputs: unknown[]) {
  const text = outputs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n');
  for (const secret of [
    ...Object.values(SECRETS),
    'db-password-31337',
    'redis-password',
    HEROKU_TOKEN,
    QOVERY_TOKEN,
  ]) {
    expect(text).not.toContain(secret);
  }
}

describe('env-diff against a dotenv file', () => {
  it('applies renames, compares Redis URLs by parts, shows no value and fails on missing keys', async () => {
    await writeFile(
      join(dir, '.env.staging'),
      [
        '# target platform',
        `export DATABASE_URL="${SECRETS.db}"`,
        `REDIS_URL='${SECRETS.redisNew}'`,
        `STRIPE_SECRET_KEY=${SECRETS.stripeNew}  # rotated`,
        'RAILS_ENV=production',
        'NEW_ONLY=1',
      ].join('\n'),
    );
    const { ctx, lines } = loggedContext();
    const s = step({ type: 'file', path: '.env.staging' });
    const handler = handlerFor();
    expect(await handler.describe(s, ctx)).toBe(
      'compare Heroku billing-staging config vars with file .env.staging (1 renamed, 1 ignored); fails if any key is missing',
    );
    const error = await handler.run(s, null, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvDiffFailedError);
    const failed = error as EnvDiffFailedError;
    expect(failed.retryable).toBe(false);
    expect(failed.message).toContain('1 config key is missing from the target');
    expect(failed.message).toContain('missing in the target: SESSION_SECRET');
    expect(failed.message).toContain('REDIS_URL: host differs, db 0 vs 1');
    expect(failed.message).toContain(
      `STRIPE_SECRET_KEY: 31 chars, sha256 ${sha8(SECRETS.stripeOld)} vs 32 chars, sha256 ${sha8(SECRETS.stripeNew)}`,
    );
    expect(failed.message).not.toContain('sk_');
    expect(failed.message).toContain('only in the target: NEW_ONLY');
    expect(failed.diff.same).toEqual(['DATABASE_URL', 'RAILS_ENV']);
    expect(failed.figures).toEqual({
      'env.missing': 1,
      'env.extra': 1,
      'env.changed': 2,
      'env.same': 2,
      'env.unverified': 0,
    });
    expectNoSecrets(failed.message, failed.diff, failed.figures, lines);
  });

  it('reports without failing when fail_on_missing is false', async () => {
    await writeFile(
      join(dir, 'target.json'),
      JSON.stringify({ DATABASE_URL: SECRETS.db, RAILS_ENV: 'production' }),
    );
    const { ctx, lines } = loggedContext();
    const result = await handlerFor().run(
      step({ type: 'file', path: 'target.json' }, { fail_on_missing: false }),
      null,
      ctx,
    );
    expect(result.summary.split('\n')[0]).toBe(
      'Heroku billing-staging vs file target.json: 3 missing, 0 extra, 0 different, 2 the same, 1 ignored',
    );
    expect(result.summary).toContain('missing in the target: REDIS_URL, SESSION_SECRET, STRIPE_SECRET_KEY');
    expectNoSecrets(result, lines);
  });

  it('says which file is missing', async () => {
    const error = await handlerFor()
      .run(step({ type: 'file', path: 'nope.env' }), null, makeStepContext())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).message).toContain('The env-diff target file nope.env does not exist');
  });

  it('reports a dotenv syntax error by line without quoting the value', async () => {
    await writeFile(join(dir, 'broken.env'), `OK=1\nSTRIPE_SECRET_KEY="${SECRETS.stripeNew}\n`);
    const error = await handlerFor()
      .run(step({ type: 'file', path: 'broken.env' }), null, makeStepContext())
      .catch((e: unknown) => e);
    expect((error as StepError).message).toBe(
      'The env-diff target file broken.env is not a valid dotenv file (line 2: the value of STRIPE_SECRET_KEY opens a " quote that never closes)',
    );
  });
});

describe('env-diff against Qovery', () => {
  it('reads variables and secret keys with Authorization: Token, masking values', async () => {
    qovery.requests.length = 0;
    const { ctx, lines } = loggedContext();
    const s = step(
      { type: 'qovery', application_id: 'app-123', token: QOVERY_TOKEN, url: qoveryServer.url },
      { ignore: ['HEROKU_*', 'QOVERY_*'] },
    );
    const result = await handlerFor().run(s, null, ctx);
    expect(qovery.requests.map((r) => r.authorization)).toEqual([
      `Token ${QOVERY_TOKEN}`,
      `Token ${QOVERY_TOKEN}`,
    ]);
    expect(qovery.requests.map((r) => r.path).sort()).toEqual([
      '/application/app-123/environmentVariable',
      '/application/app-123/secret',
    ]);
    expect(result.summary.split('\n')[0]).toBe(
      'Heroku billing-staging vs Qovery application app-123: 0 missing, 0 extra, 2 different, 2 the same, 1 present but unreadable, 2 ignored',
    );
    expect(result.summary).toContain('present, value not readable: SESSION_SECRET');
    expect(result.figures).toMatchObject({ 'env.unverified': 1, 'env.changed': 2 });
    expectNoSecrets(result, lines);
  });

  it('explains a refused Qovery token without showing it', async () => {
    const s = step({
      type: 'qovery',
      application_id: 'app-123',
      token: 'wrong-qovery-token-xyz',
      url: qoveryServer.url,
    });
    const error = await handlerFor()
      .run(s, null, makeStepContext())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    const message = (error as StepError).message;
    expect(message).toContain('Qovery refused the API token (401: Invalid or missing API token)');
    expect(message).not.toContain('wrong-qovery-token-xyz');
  });

  it('names an application Qovery does not know', async () => {
    const s = step({ type: 'qovery', application_id: 'app-404', token: QOVERY_TOKEN, url: qoveryServer.url });
    const error = await handlerFor()
      .run(s, null, makeStepContext())
      .catch((e: unknown) => e);
    expect((error as StepError).message).toContain('Qovery says application app-404 was not found');
  });
});
