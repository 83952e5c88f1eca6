import { FakeSlack, type ListeningFakeSlack, type SlackMessage } from '../../src/sandbox/fake-slack.ts';
import {
  buildBlockActionPayload,
  newTriggerId,
  sendSigned,
  slashCommandBody,
} from '../../src/sandbox/signed-request.ts';
import { ALICE, BOB } from './plans.ts';

// The Slack side of a benchmark: the fake Web API Ferry and the baseline talk to, and requests as
// Slack sends them (slash commands, button clicks) built as raw bodies, signed when sent.

export const FORM = 'application/x-www-form-urlencoded';

export interface ApproveButton {
  runId: string;
  message: SlackMessage;
  blockId: string;
  value: string;
}

export class BenchSlack {
  readonly fake: FakeSlack;
  server: ListeningFakeSlack | undefined;
  /** Approve buttons as they are posted or edited in, by the run they belong to (the newest one). */
  readonly approveButtons = new Map<string, ApproveButton>();
  /** Called with each Approve button as it is posted or edited in (a person who clicks at once). */
  readonly onApproveButton = new Set<(button: ApproveButton) => void>();
  /** When each message was posted (Date.now() of this process), by its ts. */
  readonly postedAt = new Map<string, number>();

  constructor(options: { rateLimits: boolean }) {
    this.fake = new FakeSlack({
      rateLimits: options.rateLimits,
      users: [
        { id: ALICE, name: 'alice' },
        { id: BOB, name: 'bob' },
      ],
    });
    this.fake.on('change', (change) => {
      if (change.type !== 'message_posted' && change.type !== 'message_updated') return;
      if (change.type === 'message_posted') this.postedAt.set(change.message.ts, Date.now());
      const button = approveButtonOf(change.message);
      if (button) {
        this.approveButtons.set(button.runId, button);
        for (const listener of this.onApproveButton) listener(button);
      } else if (change.type === 'message_updated') {
        // An approval request closed: its run waits for nothing any more.
        for (const [runId, b] of this.approveButtons)
          if (b.message.ts === change.message.ts) this.approveButtons.delete(runId);
      }
    });
  }

  async listen(): Promise<ListeningFakeSlack> {
    this.server = await this.fake.listen();
    return this.server;
  }

  get apiUrl(): string {
    return this.server!.apiUrl;
  }

  /** A signed `/migrate <text>` body from Alice in `channel`. */
  commandBody(text: string, channel: string, user = ALICE): string {
    return slashCommandBody({
      command: '/migrate',
      text,
      user_id: user,
      user_name: user === ALICE ? 'alice' : 'bob',
      channel_id: channel,
      team_id: 'T0FERRY',
      response_url: this.fake.responseUrlFor({ channel, user }),
      trigger_id: newTriggerId(),
    });
  }

  /** Bob's click on Approve, as Slack sends it (the whole message in the payload). */
  approveBody(button: ApproveButton, channel: string): string {
    const payload = buildBlockActionPayload({
      user: BOB,
      channel,
      message: { ...button.message },
      action: { action_id: 'ferry_approve', block_id: button.blockId, value: button.value },
      response_url: this.fake.responseUrlFor({ channel, user: BOB, messageTs: button.message.ts }),
    });
    return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  }

  async send(url: string, secret: string, body: string): Promise<number> {
    return (await sendSigned(url, secret, body, FORM)).status;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}

function approveButtonOf(message: SlackMessage): ApproveButton | undefined {
  for (const block of (message.blocks ?? []) as Array<{
    type: string;
    block_id?: string;
    elements?: Array<Record<string, unknown>>;
  }>) {
    const el = block.elements?.find((e) => e.action_id === 'ferry_approve');
    if (block.type === 'actions' && el && typeof el.value === 'string') {
      const runId = el.value.split(':')[0]!;
      return { runId, message, blockId: block.block_id ?? '', value: el.value };
    }
  }
  return undefined;
}

/** Polls `probe` every 20 ms until it is truthy; throws naming `what` after `timeoutMs`. */
export async function until<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
