import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listRuns } from '../../src/runs/lookup.ts';
import { ActionId, CallbackId } from '../../src/slack/action-ids.ts';
import { AFTER_ACK } from '../../src/slack/app.ts';
import { newTriggerId } from '../../src/sandbox/signed-request.ts';
import { ALICE, BOB, startHarness, type Harness } from '../support/ferry-harness.ts';

// What a person sees when Ferry is busy: every command is acknowledged at once, and the replies come
// in turn, a few at a time, in the order the commands came. Replies go to a response_url served
// here, which holds each one until the test lets it through: a slow Slack, at the wire.

const plan = `
service: billing
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
`;

/** A response_url endpoint that holds every reply until released, and notes the order they came in. */
class HeldReplies {
  readonly arrived: Array<{ path: string; text: string }> = [];
  readonly #held: ServerResponse[] = [];
  readonly #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const { text } = JSON.parse(body) as { text?: string };
        this.arrived.push({ path: req.url ?? '', text: text ?? '' });
        this.#held.push(res);
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Lets the oldest held reply through. */
  releaseOne(): void {
    const res = this.#held.shift();
    res?.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  }

  releaseAll(): void {
    while (this.#held.length > 0) this.releaseOne();
  }

  async close(): Promise<void> {
    this.releaseAll();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

async function until(probe: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the work after an ack waits its turn; the acks do not', () => {
  let h: Harness | undefined;
  let replies: HeldReplies | undefined;
  afterEach(async () => {
    await replies?.close();
    await h?.stop();
    h = undefined;
    replies = undefined;
  });

  /** `/migrate <text>` from Alice, its reply to the held endpoint under `/<name>`; resolves with the ack. */
  const command = (name: string, text: string, opts: { triggerId?: string; retryNum?: number } = {}) => {
    const started = Date.now();
    return h!
      .command(ALICE, text, { ...opts, responseUrl: `${replies!.url}/${name}` })
      .then((res) => ({ status: res.status, ms: Date.now() - started }));
  };

  /** Fills every working place with a `/migrate list` whose reply is held. */
  const fillWorkingPlaces = async () => {
    const acks = await Promise.all(
      Array.from({ length: AFTER_ACK.working }, (_, i) => command(`busy${i + 1}`, 'list')),
    );
    expect(acks.map((a) => a.status)).toEqual(acks.map(() => 200));
    await until(() => replies!.arrived.length === AFTER_ACK.working, 'the busy replies to be held');
  };

  it('acknowledges commands at once while earlier replies are held, then answers them in the order they came', async () => {
    h = await startHarness({ plan });
    replies = new HeldReplies();
    await replies.listen();
    await fillWorkingPlaces();

    const triggerId = newTriggerId();
    const acks = [
      await command('start', 'start billing staging', { triggerId }),
      // Slack delivers the same command again while the first still waits its turn.
      await command('start-again', 'start billing staging', { triggerId, retryNum: 1 }),
      await command('list', 'list'),
    ];
    expect(acks.map((a) => a.status)).toEqual([200, 200, 200]);
    // Acknowledged well within Slack's 3 s, although no listener could work on them yet.
    for (const ack of acks) expect(ack.ms).toBeLessThan(2_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(replies.arrived).toHaveLength(AFTER_ACK.working);
    expect(await listRuns(h.ferry.runs)).toEqual([]);

    // One place frees: the first command waiting starts, and only it.
    replies.releaseOne();
    await until(() => replies!.arrived.length === AFTER_ACK.working + 1, 'the start reply');
    expect(replies.arrived.at(-1)).toMatchObject({ path: '/start' });
    expect(replies.arrived.at(-1)!.text).toMatch(/^Started r\d+: billing staging/);
    expect(await listRuns(h.ferry.runs)).toHaveLength(1);

    // Then the repeat, which changes nothing and says nothing, and the list after it.
    replies.releaseAll();
    await until(() => replies!.arrived.some((r) => r.path === '/list'), 'the list reply');
    replies.releaseAll();
    const paths = replies.arrived.map((r) => r.path);
    // The busy ones were sent together, in no set order; the rest in the order they came.
    expect(paths.slice(0, AFTER_ACK.working).sort()).toEqual(
      Array.from({ length: AFTER_ACK.working }, (_, i) => `/busy${i + 1}`),
    );
    expect(paths.slice(AFTER_ACK.working)).toEqual(['/start', '/list']);
    expect(await listRuns(h.ferry.runs)).toHaveLength(1);
  });

  it('opens the Add note modal at once while every working place is taken (Slack allows 3 s)', async () => {
    h = await startHarness({ plan });
    replies = new HeldReplies();
    await replies.listen();
    await h.command(ALICE, 'start billing staging');
    const status = await h.waitFor(() => h!.statusMessage('r1'), 'the status message of r1');
    await fillWorkingPlaces();

    const clicked = Date.now();
    await h.click(BOB, status, ActionId.addNote, { triggerId: h.slack.mintTriggerId(BOB) });
    await h.waitFor(
      () => h!.slack.views().find((v) => v.type === 'modal' && v.callback_id === CallbackId.noteModal),
      'the Add note modal',
      2_000,
    );
    expect(Date.now() - clicked).toBeLessThan(2_000);
    // The held replies are still held: the modal did not wait for a turn among them.
    expect(replies.arrived).toHaveLength(AFTER_ACK.working);
  });

  it('waits at shutdown for the replies still waiting their turn', async () => {
    h = await startHarness({ plan });
    replies = new HeldReplies();
    await replies.listen();
    await fillWorkingPlaces();
    expect((await command('queued', 'start billing staging')).status).toBe(200);

    let stopped = false;
    const stopping = h.ferry.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(stopped).toBe(false);

    replies.releaseAll();
    await until(() => replies!.arrived.some((r) => r.path === '/queued'), 'the queued reply');
    replies.releaseAll();
    await stopping;
    expect(replies.arrived.find((r) => r.path === '/queued')!.text).toMatch(/^Started r\d+/);
  });
});
