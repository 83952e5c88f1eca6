import { randomBytes } from 'node:crypto';
import { FakeSlack, type SlackMessage } from '../../src/sandbox/fake-slack.ts';
import {
  buildBlockActionPayload,
  newTriggerId,
  sendSigned,
  sendSlashCommand,
  type SendOptions,
  type SignedResponse,
} from '../../src/sandbox/signed-request.ts';

// People in Slack, as Ferry meets them: a fake Slack Web API that records what Ferry posts, and
// signed requests (slash commands, button clicks) sent exactly as Slack sends them.

export const ALICE = 'U01ALICE';
export const BOB = 'U02BOB';
export const CHANNEL = 'C0DRILLS';
const names: Record<string, string> = { [ALICE]: 'alice', [BOB]: 'bob' };

/** What a request that never got an answer (the process died under it) looks like. */
export interface Delivery {
  status: number;
  text: string;
  error?: string;
}

export class SlackDriver {
  readonly slack: FakeSlack;
  readonly secret = randomBytes(16).toString('hex');
  readonly channel: string;
  #apiUrl = '';
  #close: (() => Promise<void>) | undefined;

  constructor(channel = CHANNEL) {
    this.channel = channel;
    this.slack = new FakeSlack({
      rateLimits: false,
      users: Object.entries(names).map(([id, name]) => ({ id, name, real_name: name })),
    });
  }

  async listen(): Promise<void> {
    const listening = await this.slack.listen();
    this.#apiUrl = listening.apiUrl;
    this.#close = () => listening.close();
  }

  async close(): Promise<void> {
    await this.#close?.();
  }

  /** The environment Ferry needs to be this workspace's app. */
  ferryEnv(): Record<string, string> {
    return {
      SLACK_BOT_TOKEN: 'xoxb-drill',
      SLACK_SIGNING_SECRET: this.secret,
      SLACK_API_URL: this.#apiUrl,
      FERRY_CHANNEL: this.channel,
    };
  }

  /** `/migrate <text>` typed by `user`, sent to `baseUrl`. Never throws: a dead process is an answer too. */
  command(baseUrl: string, user: string, text: string, opts: SendOptions = {}): Promise<Delivery> {
    return delivered(
      sendSlashCommand(
        baseUrl,
        this.secret,
        {
          command: '/migrate',
          text,
          user_id: user,
          user_name: names[user] ?? user,
          channel_id: this.channel,
          team_id: 'T0FERRY',
          response_url: this.slack.responseUrlFor({ channel: this.channel, user }),
          trigger_id: newTriggerId(),
        },
        opts,
      ),
    );
  }

  /**
   * The form body of a click on a button of `message` (undefined when it has no such button), to
   * send once or, the very same bytes, to several replicas at once.
   */
  clickBody(user: string, message: SlackMessage, actionId: string): string | undefined {
    const button = findButton(message, actionId);
    if (!button) return undefined;
    const payload = buildBlockActionPayload({
      user: { id: user, username: names[user] ?? user, name: names[user] ?? user, team_id: 'T0FERRY' },
      channel: this.channel,
      message: {
        ts: message.ts,
        blocks: message.blocks,
        text: message.text,
        ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      },
      action: { action_id: actionId, block_id: button.blockId, value: button.value, text: button.text },
      response_url: this.slack.responseUrlFor({ channel: this.channel, user, messageTs: message.ts }),
    });
    return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  }

  /** A click by `user` on a button of `message`, sent to `baseUrl`. */
  click(baseUrl: string, user: string, message: SlackMessage, actionId: string): Promise<Delivery> {
    const body = this.clickBody(user, message, actionId);
    if (body === undefined) return Promise.resolve({ status: 0, text: '', error: `no ${actionId} button` });
    return this.sendBody(baseUrl, body);
  }

  /** Sends an already-built interaction body (the very same bytes, freshly signed) to `baseUrl`. */
  sendBody(baseUrl: string, body: string): Promise<Delivery> {
    return delivered(sendSigned(baseUrl, this.secret, body, 'application/x-www-form-urlencoded'));
  }

  /** Status messages of runs, oldest first (one per run unless a post was repeated). */
  statusMessages(runId?: string): SlackMessage[] {
    return this.slack
      .messages(this.channel)
      .filter(
        (m) => (!m.thread_ts || m.thread_ts === m.ts) && (!runId || (m.text ?? '').includes(`${runId}:`)),
      );
  }

  /** Replies in the threads of a run's status messages (more than one when a post was repeated), oldest first. */
  thread(runId: string): SlackMessage[] {
    return this.statusMessages(runId)
      .flatMap((status) => this.slack.thread(this.channel, status.ts).filter((m) => m.ts !== status.ts))
      .sort((a, b) => Number(a.ts) - Number(b.ts));
  }

  /** The run ids whose status messages are in the channel, in order. */
  runIds(): string[] {
    const ids = this.statusMessages().map((m) => /\b(r\d+):/.exec(m.text ?? '')?.[1]);
    return [...new Set(ids.filter((id): id is string => id !== undefined))];
  }
}

async function delivered(sent: Promise<SignedResponse>): Promise<Delivery> {
  try {
    const res = await sent;
    return { status: res.status, text: res.text };
  } catch (error) {
    return { status: 0, text: '', error: error instanceof Error ? error.message : String(error) };
  }
}

export function findButton(
  message: SlackMessage | undefined,
  actionId: string,
): { blockId: string; value: string; text: string } | undefined {
  for (const block of (message?.blocks ?? []) as Array<{
    type: string;
    block_id?: string;
    elements?: Array<Record<string, unknown>>;
  }>) {
    if (block.type !== 'actions') continue;
    for (const el of block.elements ?? []) {
      if (el.action_id === actionId)
        return {
          blockId: block.block_id ?? '',
          value: typeof el.value === 'string' ? el.value : '',
          text: (el.text as { text?: string } | undefined)?.text ?? actionId,
        };
    }
  }
  return undefined;
}

/** Everything a person reads in a message: its text and every text in its blocks. */
export function readable(message: SlackMessage | undefined): string {
  if (!message) return '';
  const texts: string[] = [message.text ?? ''];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'text' && typeof v === 'string') texts.push(v);
        else walk(v);
      }
    }
  };
  walk(message.blocks);
  return texts.join('\n').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
