import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebClient } from '@slack/web-api';
import { afterEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../src/redact.ts';
import { FakeSlack, type ListeningFakeSlack } from '../../src/sandbox/fake-slack.ts';
import { redactingFetch } from '../../src/slack/redacting-fetch.ts';

// The real @slack/web-api WebClient with Ferry's fetch, against the fake Slack at the wire: what
// Slack receives (form bodies with Block Kit as JSON, uploadV2's multipart bytes, a response_url's
// JSON) carries no known secret and no credential, and still works.

const SECRET = 'CANARY-slack-5e4d3c2b1a';
const open: ListeningFakeSlack[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function start(fetchFn?: typeof fetch) {
  const fake = new FakeSlack({ rateLimits: false });
  const server = await fake.listen();
  open.push(server);
  const client = new WebClient('xoxb-test', {
    slackApiUrl: server.apiUrl,
    retryConfig: { retries: 0 },
    ...(fetchFn ? { fetch: fetchFn } : {}),
  });
  return { fake, client };
}

const withSecret = {
  channel: 'C0MIGRATIONS',
  text: `cutover failed: redis://ferry:${SECRET}@cache:6379 said Authorization: Bearer abc123`,
  blocks: [
    { type: 'section', text: { type: 'mrkdwn', text: `*cutover* failed: ${SECRET}` } },
    {
      type: 'actions',
      block_id: 'run-actions',
      elements: [
        {
          type: 'button',
          action_id: 'ferry_retry',
          value: 'r12:cutover',
          text: { type: 'plain_text', text: 'Retry' },
        },
      ],
    },
  ],
  metadata: { event_type: 'ferry_run', event_payload: { run_id: 'r12', note: SECRET } },
};

describe('redactingFetch', () => {
  it('is needed: without it, what Ferry posts reaches Slack as it is', async () => {
    const { fake, client } = await start();
    await client.chat.postMessage(withSecret);
    expect(JSON.stringify(fake.calls)).toContain(SECRET);
  });

  it('redacts a posted message (text, blocks, metadata) and keeps its ids and buttons working', async () => {
    const redactor = new Redactor([SECRET]);
    const { fake, client } = await start(redactingFetch(redactor) as typeof fetch);
    const posted = await client.chat.postMessage(withSecret);
    expect(posted.ok).toBe(true);
    expect(JSON.stringify(fake.calls)).not.toContain(SECRET);
    const [message] = fake.messages('C0MIGRATIONS');
    expect(message!.text).toBe('cutover failed: redis://***@cache:6379 said Authorization: Bearer ***');
    expect(JSON.stringify(message!.blocks)).toContain('"value":"r12:cutover"');
    expect(JSON.stringify(message!.blocks)).toContain('*cutover* failed: ***');
  });

  it('redacts uploaded files, keeps the JSON one valid and the announced length true', async () => {
    const redactor = new Redactor([SECRET]);
    const { fake, client } = await start(redactingFetch(redactor) as typeof fetch);
    const markdown = `# Report r12\n\n- cutover failed: ${SECRET}\n`;
    const json = `${JSON.stringify({ id: 'r12', error: `echo ${SECRET}`, token: 'plain-token' }, null, 2)}\n`;
    await client.files.uploadV2({
      channel_id: 'C0MIGRATIONS',
      file_uploads: [
        { filename: 'ferry-r12-report.md', title: `Report ${SECRET}`, content: markdown },
        { filename: 'ferry-r12-report.json', title: 'Report r12 (JSON)', content: json },
      ],
    });
    const files = fake.files();
    expect(files).toHaveLength(2);
    for (const file of files) {
      expect(file.content!.toString('utf8')).not.toContain(SECRET);
      expect(file.title).not.toContain(SECRET);
    }
    const md = files.find((f) => f.name.endsWith('.md'))!;
    const js = files.find((f) => f.name.endsWith('.json'))!;
    expect(md.content!.length).toBe(Buffer.byteLength(markdown));
    expect(md.content!.toString('utf8').trimEnd()).toBe('# Report r12\n\n- cutover failed: ***');
    expect(js.content!.length).toBe(Buffer.byteLength(json));
    expect(JSON.parse(js.content!.toString('utf8'))).toEqual({ id: 'r12', error: 'echo ***', token: '***' });
  });

  it("redacts a response_url's JSON, which is how Bolt's respond() posts", async () => {
    const redactor = new Redactor([SECRET]);
    const { fake } = await start();
    const url = fake.responseUrlFor({ channel: 'C0MIGRATIONS', user: 'U01ALICE' });
    const post = redactingFetch(redactor);
    const res = await post(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', text: `⚠️ ${SECRET}`, replace_original: false }),
    });
    expect(res.ok).toBe(true);
    expect(fake.ephemerals('U01ALICE').map((e) => e.text)).toEqual(['⚠️ ***']);
  });

  it('gives up on a response_url that never answers, and keeps the deadline a caller set', async () => {
    // A Slack that takes the reply and never answers: without a deadline respond() would wait for good.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/respond`;
      const started = Date.now();
      const error = await redactingFetch(
        new Redactor([]),
        globalThis.fetch,
        200,
      )(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"text":"hi"}',
      }).catch((e: unknown) => e as Error);
      expect((error as Error).name).toBe('TimeoutError');
      expect(Date.now() - started).toBeLessThan(5_000);
      // The WebClient sets its own deadline: that one is kept.
      const seen: Array<AbortSignal | null | undefined> = [];
      const own = AbortSignal.timeout(60_000);
      const inner = (_url: string | URL | Request, init?: RequestInit) => {
        seen.push(init?.signal);
        return Promise.resolve(new Response('{}'));
      };
      await redactingFetch(new Redactor([]), inner, 200)(url, { method: 'GET', signal: own });
      expect(seen).toEqual([own]);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
