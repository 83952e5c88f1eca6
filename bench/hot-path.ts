// What one approval costs Ferry end to end, counted rather than timed (counts do not depend on how
// loaded the machine is): SQL statements sent to Postgres from the click until the run is done and
// Slack is up to date, how many of them load the whole run, and how many times the DNS step reads
// the record from Route 53 before it writes. Run with `npm run bench:hot-path`; it prints JSON.
//
// It drives a real Ferry in-process through signed requests, against a fake Slack and a fake
// Route 53, on a Postgres schema of its own (BENCH_DATABASE_URL, default the local test database).
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { startFerry } from '../src/ferry.ts';
import { FakeSlack, type SlackMessage } from '../src/sandbox/fake-slack.ts';
import { FakeRoute53 } from '../src/sandbox/fakes/route53.ts';
import {
  buildBlockActionPayload,
  newTriggerId,
  sendBlockAction,
  sendSlashCommand,
} from '../src/sandbox/signed-request.ts';

const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const CHANNEL = 'C0MIGRATIONS';
const ALICE = 'U01ALICE';
const BOB = 'U02BOB';

const counts = { statements: 0, runLoads: 0 };
let counting = false;
// Every statement goes through Client#query, pooled or not: count there.
// eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with apply below
const query = pg.Client.prototype.query as (this: pg.Client, ...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  if (counting) {
    counts.statements += 1;
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
    if (text && /select \* from runs where id = \$1/.test(text)) counts.runLoads += 1;
  }
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

async function main(): Promise<void> {
  const schema = `bench_hot_${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(16).toString('hex');
  const slack = new FakeSlack({
    rateLimits: false,
    users: [
      { id: ALICE, name: 'alice' },
      { id: BOB, name: 'bob' },
    ],
  });
  const slackServer = await slack.listen();
  const route53 = new FakeRoute53({ propagation: { polls: 0, ms: 0 } });
  route53.addZone('Z0FERRY', 'example.com.');
  route53.setRecord('Z0FERRY', {
    name: 'api.example.com.',
    type: 'CNAME',
    ttl: 60,
    values: ['old.example.net'],
  });
  const route53Server = await route53.listen();
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-'));
  await writeFile(
    path.join(dir, 'billing.yml'),
    `service: billing
approvers: { users: [${BOB}] }
environments:
  staging:
    steps:
      - id: cutover
        kind: dns
        approval: required
        provider: { type: route53, hosted_zone_id: Z0FERRY, record: api.example.com, record_type: CNAME, value: new.example.net, ttl: 60 }
`,
  );
  // The SDK reads its credentials itself; any will do for the fake.
  process.env.AWS_ACCESS_KEY_ID = 'AKIDBENCH';
  process.env.AWS_SECRET_ACCESS_KEY = 'bench-secret';
  const config = loadConfig({
    SLACK_BOT_TOKEN: 'xoxb-bench',
    SLACK_SIGNING_SECRET: secret,
    SLACK_API_URL: slackServer.apiUrl,
    DATABASE_URL: PG_URL,
    FERRY_DB_SCHEMA: schema,
    FERRY_PLANS: dir,
    PORT: '0',
    FERRY_POLL_INTERVAL_MS: '20',
    FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
    FERRY_SLACK_EDITS_PER_MINUTE: '100000',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_ROUTE_53: route53Server.url,
    LOG_LEVEL: 'silent',
  });
  const ferry = await startFerry(config, { log: pino({ level: 'silent' }), host: '127.0.0.1' });
  const until = async <T>(probe: () => T | undefined | false, what: string): Promise<T> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}; Alice was told: ${JSON.stringify(slack.ephemerals(ALICE).map((e) => e.text))}; the channel holds ${JSON.stringify(everything().map((m) => m.text))}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const buttonOf = (message: SlackMessage, actionId: string) => {
    for (const block of (message.blocks ?? []) as Array<{
      type: string;
      block_id?: string;
      elements?: Array<Record<string, unknown>>;
    }>) {
      const el = block.elements?.find((e) => e.action_id === actionId);
      if (block.type === 'actions' && el) return { blockId: block.block_id ?? '', value: el.value as string };
    }
    return undefined;
  };
  /** The channel's messages and every thread reply under them. */
  const everything = () =>
    slack.messages(CHANNEL).flatMap((m) => [m, ...slack.thread(CHANNEL, m.ts).filter((r) => r.ts !== m.ts)]);
  try {
    await sendSlashCommand(ferry.url, secret, {
      command: '/migrate',
      text: 'start billing staging',
      user_id: ALICE,
      user_name: 'alice',
      channel_id: CHANNEL,
      team_id: 'T0FERRY',
      response_url: slack.responseUrlFor({ channel: CHANNEL, user: ALICE }),
      trigger_id: newTriggerId(),
    });
    const approval = await until(
      () => everything().find((m) => buttonOf(m, 'ferry_approve')),
      'the approval request',
    );
    // Let the start settle (status message, first replies) before counting the approval alone.
    await new Promise((r) => setTimeout(r, 1_000));
    const listsBefore = route53.callsOf('ListResourceRecordSets').length;
    counts.statements = 0;
    counts.runLoads = 0;
    counting = true;
    const button = buttonOf(approval, 'ferry_approve')!;
    await sendBlockAction(
      ferry.url,
      secret,
      buildBlockActionPayload({
        user: BOB,
        channel: CHANNEL,
        message: { ts: approval.ts, blocks: approval.blocks, text: approval.text },
        action: { action_id: 'ferry_approve', block_id: button.blockId, value: button.value },
        response_url: slack.responseUrlFor({ channel: CHANNEL, user: BOB, messageTs: approval.ts }),
      }),
    );
    await until(() => /run succeeded/.test(JSON.stringify(everything())), 'the run to finish in Slack');
    // Whatever the publisher still does for this approval (a last edit) counts too.
    await new Promise((r) => setTimeout(r, 1_500));
    counting = false;
    const route53Reads = route53.callsOf('ListResourceRecordSets').length - listsBefore;
    process.stdout.write(
      `${JSON.stringify({ statements_per_approval: counts.statements, run_loads_per_approval: counts.runLoads, route53_reads_per_dns_step: route53Reads }, null, 2)}\n`,
    );
  } finally {
    await ferry.stop();
    await slackServer.close();
    await route53Server.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  }
}

await main();
