import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlackMessage } from '../../src/sandbox/fake-slack.ts';
import {
  buildEventEnvelope,
  buildMessageShortcutPayload,
  buildViewSubmissionPayload,
  sendEvent,
  sendInteraction,
  type SendOptions,
  type SignedResponse,
} from '../../src/sandbox/signed-request.ts';
import { ActionId, CallbackId } from '../../src/slack/action-ids.ts';
import { showRun } from '../../src/runs/lookup.ts';
import { tsToMs } from '../../src/runs/notes.ts';
import {
  ALICE,
  BOB,
  CAROL,
  CHANNEL,
  MALLORY,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';

// Notes from every door but the slash command, each sent as Slack sends it: the status message's Add
// note button and the modal's view_submission, the "Add to migration timeline" message shortcut, and
// a 📌 reaction_added event. A note taken from a message keeps its author, its time and a link to it;
// the same message is one note however often it is pinned.

const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: watch, kind: manual, instructions: "Watch the dashboards, then press Done." }
  production:
    steps:
      - { id: watch, kind: manual, instructions: "Watch the dashboards, then press Done." }
`;

/** A channel where no run was ever started. */
const QUIET = 'C0QUIET';

describe('notes from every door', () => {
  let h: Harness;
  let status: SlackMessage;

  beforeAll(async () => {
    h = await startHarness({ plan, captureLog: true });
    await h.command(ALICE, 'start billing staging');
    status = await h.waitFor(() => {
      const m = h.statusMessage('r1');
      return m && readable(m).includes('waiting for a person to press Done') ? m : undefined;
    }, 'r1 waiting for Done');
  });
  afterAll(async () => {
    await h?.stop();
  });

  const interact = (payload: object): Promise<SignedResponse> =>
    sendInteraction(h.ferry.url, h.secret, payload);

  const shortcut = (user: string, message: SlackMessage, channel = CHANNEL) =>
    interact(
      buildMessageShortcutPayload({
        callback_id: CallbackId.addToTimeline,
        user,
        channel,
        message: {
          ts: message.ts,
          text: message.text,
          user: message.user,
          ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
        },
        response_url: h.slack.responseUrlFor({ channel, user }),
        trigger_id: h.slack.mintTriggerId(user),
      }),
    );

  /** A reaction as Slack delivers it: on the message in the fake Slack, then the event. */
  const react = async (
    user: string,
    message: SlackMessage,
    reaction = 'pushpin',
    eventId?: string,
    opts: SendOptions = {},
  ): Promise<SignedResponse> => {
    h.slack.store.addReaction(message.channel, message.ts, reaction, user);
    return sendEvent(
      h.ferry.url,
      h.secret,
      buildEventEnvelope({
        ...(eventId ? { event_id: eventId } : {}),
        event: {
          type: 'reaction_added',
          user,
          reaction,
          item: { type: 'message', channel: message.channel, ts: message.ts },
          item_user: message.user,
          event_ts: `${(Date.now() / 1000).toFixed(6)}`,
        },
      }),
      opts,
    );
  };

  /** A message a person typed, in the channel or in a thread. */
  const typed = (user: string, text: string, options: { channel?: string; thread_ts?: string } = {}) => {
    const posted = h.slack.store.addUserMessage(options.channel ?? CHANNEL, user, text, options);
    if (!posted.ok) throw new Error(posted.error);
    return posted.value;
  };

  /**
   * Ferry's replies in r1's thread (the harness's `thread()` follows the channel's latest top-level
   * message, a person's here; and people reply in the thread too).
   */
  const thread = () =>
    h.slack
      .thread(CHANNEL, status.ts)
      .filter((m) => m.ts !== status.ts && m.user === h.slack.store.bot.userId);

  const notes = async (runId: string) =>
    (await showRun(h.ferry.runs, runId)).timeline.filter((e) => e.type === 'note');

  const permalink = (message: SlackMessage) =>
    `https://ferry-sandbox.slack.com/archives/${message.channel}/p${message.ts.replace('.', '')}${
      message.thread_ts && message.thread_ts !== message.ts
        ? `?thread_ts=${message.thread_ts}&cid=${message.channel}`
        : ''
    }`;

  /** Waits for a new ephemeral to `user` that says `what`. */
  const told = (user: string, before: number, what: string | RegExp) =>
    h.waitFor(
      () =>
        h
          .responses(user)
          .slice(before)
          .find((t) => (typeof what === 'string' ? t.includes(what) : what.test(t))),
      `"${String(what)}" to ${user}`,
    );

  it("adds a note through the status message's Add note button and its modal", async () => {
    const opens = h.slack.callsTo('views.open').length;
    await h.click(BOB, status, ActionId.addNote, { triggerId: h.slack.mintTriggerId(BOB) });
    const modal = await h.waitFor(
      () =>
        h.slack
          .views()
          .find((v) => v.type === 'modal' && v.callback_id === CallbackId.noteModal && v.user === BOB),
      'the Add note modal',
    );
    expect(h.slack.callsTo('views.open')).toHaveLength(opens + 1);
    expect(readable({ text: '', blocks: modal.blocks } as unknown as SlackMessage)).toContain(
      "To *r1*'s timeline (billing staging)",
    );

    // Submitted empty: Slack shows the error under the input and keeps the modal open; nothing is added.
    const empty = await interact(
      buildViewSubmissionPayload({
        user: BOB,
        view: {
          id: modal.id,
          callback_id: modal.callback_id,
          private_metadata: modal.private_metadata,
          values: { note: { text: { type: 'plain_text_input', value: '   ' } } },
        },
      }),
    );
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({ response_action: 'errors', errors: { note: 'Write the note.' } });
    expect(await notes('r1')).toEqual([]);

    const before = h.responses(BOB).length;
    const submitted = await interact(
      buildViewSubmissionPayload({
        user: BOB,
        view: {
          id: modal.id,
          callback_id: modal.callback_id,
          private_metadata: modal.private_metadata,
          values: {
            note: { text: { type: 'plain_text_input', value: 'Error rate flat at 0.1% since the switch' } },
          },
        },
      }),
    );
    // A plain ack closes the modal.
    expect(submitted.status).toBe(200);
    expect(submitted.text).toBe('');
    await told(BOB, before, "📝 Added to r1's timeline");
    await h.waitFor(
      () =>
        thread().some((m) =>
          readable(m).includes('note by <@U02BOB>: Error rate flat at 0.1% since the switch'),
        ),
      'the note in the thread',
    );
    const [note] = await notes('r1');
    expect(note).toMatchObject({ actor: BOB, detail: 'Error rate flat at 0.1% since the switch' });
    expect(note!.source).toBeUndefined();
  });

  it('adds a message through the shortcut with its author, time and link, and a 📌 on it later adds nothing', async () => {
    // As Slack sends a message's text: its own escapes, a link, a broadcast.
    const message = typed(
      BOB,
      'Seeing 502s &amp; timeouts from <https://lb.example.com/status|the old LB>, <!here> checking',
    );
    const said = 'Seeing 502s & timeouts from the old LB (https://lb.example.com/status), @here checking';
    const before = h.responses(ALICE).length;
    const res = await shortcut(ALICE, message);
    expect(res.status).toBe(200);
    await told(ALICE, before, "📝 Added to r1's timeline");

    const added = (await notes('r1')).filter((n) => n.source);
    expect(added).toHaveLength(1);
    // Who wrote it and when they did, not who added it and when; and a link to it.
    expect(added[0]).toMatchObject({
      actor: ALICE,
      detail: said,
      source: { author: BOB, at: tsToMs(message.ts), link: permalink(message) },
    });
    const reply = await h.waitFor(
      () => thread().find((m) => readable(m).includes('Seeing 502s')),
      'the shortcut note in the thread',
    );
    const raw = reply.text + JSON.stringify(reply.blocks);
    expect(raw).toContain(`<${permalink(message)}|(the message)>`);
    // Shown once escaped (not "&amp;amp;"), and the note pings nobody's channel again.
    expect(raw).not.toContain('&amp;amp;');
    expect(raw).not.toContain('<!here>');
    expect(readable(reply)).toContain(
      `note by <@U02BOB> (written ${new Date(tsToMs(message.ts)).toISOString().slice(11, 16)} UTC, added by <@U01ALICE>): ${said}`,
    );
    // The time is a Slack date token, shown in each reader's own zone.
    expect(JSON.stringify(reply.blocks)).toContain(`<!date^${Math.floor(tsToMs(message.ts) / 1000)}^`);

    // The same message pinned afterwards, by someone else: one note, and they are told so.
    const carolBefore = h.responses(CAROL).length;
    await react(CAROL, message);
    await told(CAROL, carolBefore, "That message is already a note on r1's timeline (added by <@U01ALICE>");
    // And the shortcut again: still one.
    const aliceBefore = h.responses(ALICE).length;
    await shortcut(ALICE, message);
    await told(ALICE, aliceBefore, 'already a note');
    expect(
      (await notes('r1')).filter((n) => n.source?.author === BOB && n.source.at === tsToMs(message.ts)),
    ).toHaveLength(1);
  });

  it("adds a 📌'd reply in a run's thread to that run, once however often it is pinned", async () => {
    const reply = typed(CAROL, 'DB replication lag back under 1 s', { thread_ts: status.ts });
    const before = h.responses(BOB).length;
    const eventId = 'Ev0PIN0THREAD1';
    const res = await react(BOB, reply, 'pushpin', eventId);
    expect(res.status).toBe(200);
    await told(BOB, before, "📝 Added to r1's timeline");
    const pinned = () => notes('r1').then((all) => all.filter((n) => n.source?.at === tsToMs(reply.ts)));
    expect(await pinned()).toEqual([
      expect.objectContaining({
        actor: BOB,
        detail: 'DB replication lag back under 1 s',
        source: { author: CAROL, at: tsToMs(reply.ts), link: permalink(reply) },
      }),
    ]);

    // Slack delivers the same event again (no ack in time): handled once.
    const again = await react(BOB, reply, 'pushpin', eventId, { retryNum: 1 });
    expect(again.status).toBe(200);
    // Someone else pins it too: one note, and they hear it is one already.
    const aliceBefore = h.responses(ALICE).length;
    await react(ALICE, reply);
    await told(ALICE, aliceBefore, 'already a note');
    expect(await pinned()).toHaveLength(1);
    // Each reply's lines, once (a reply's text repeats in its blocks).
    const said = () =>
      thread()
        .flatMap((m) => (m.text ?? '').split('\n'))
        .filter((line) => line.includes('note by <@U04CAROL>')).length;
    await h.waitFor(() => said() === 1, 'the pinned note in the thread');
    // Every pin was handled before this point: a second note would have been published with the first.
    await new Promise((r) => setTimeout(r, 300));
    expect(said()).toBe(1);
    // The redelivery was dropped, not answered with "already a note".
    expect(
      h
        .responses(BOB)
        .slice(before)
        .filter((t) => t.includes('📝')),
    ).toHaveLength(1);
  });

  it('makes one note of a message two people pin at the same moment', async () => {
    const message = typed(BOB, 'Rolled the canary back to 0%', { thread_ts: status.ts });
    const before = { alice: h.responses(ALICE).length, carol: h.responses(CAROL).length };
    const [a, b] = await Promise.all([react(ALICE, message), react(CAROL, message)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const answers = await h.waitFor(() => {
      const alice = h.responses(ALICE).slice(before.alice);
      const carol = h.responses(CAROL).slice(before.carol);
      return alice.length > 0 && carol.length > 0 ? [...alice, ...carol] : undefined;
    }, 'both people to be told');
    expect(answers).toHaveLength(2);
    expect(answers.filter((t) => t.includes("📝 Added to r1's timeline"))).toHaveLength(1);
    expect(answers.filter((t) => t.includes("already a note on r1's timeline"))).toHaveLength(1);
    expect((await notes('r1')).filter((n) => n.source?.at === tsToMs(message.ts))).toHaveLength(1);
  });

  it("leaves other reactions, other channels' pins and Ferry's own messages alone", async () => {
    const count = (await notes('r1')).length;
    const posts = h.slack.callsTo('chat.postEphemeral').length;

    const message = typed(BOB, 'lunch?');
    expect((await react(MALLORY, message, 'eyes')).status).toBe(200);
    // A pin in a channel without a run is someone else's business: no note and no reply.
    const elsewhere = typed(BOB, 'Team offsite on Friday', { channel: QUIET });
    expect((await react(MALLORY, elsewhere)).status).toBe(200);
    // Ferry's own status message is the timeline already.
    expect((await react(MALLORY, status)).status).toBe(200);
    const shortcutBefore = h.responses(MALLORY).length;
    await shortcut(MALLORY, status);
    await told(MALLORY, shortcutBefore, 'one of Ferry’s own messages');

    // The events are acked at once and handled after: wait for Slack to have been asked about each.
    await h.waitFor(
      () =>
        h.slack
          .callsTo('reactions.get')
          .filter((c) => [elsewhere.ts, status.ts].includes(String(c.args.timestamp))).length === 2,
      'Ferry to read the pinned messages',
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(await notes('r1')).toHaveLength(count);
    expect(h.slack.callsTo('reactions.get').some((c) => c.args.timestamp === message.ts)).toBe(false);
    expect(h.slack.callsTo('chat.postEphemeral')).toHaveLength(posts);
    expect(h.responses(MALLORY).some((t) => t.includes('📝'))).toBe(false);
  });

  it('tells the person there is no run when the shortcut is used in a channel without one', async () => {
    const message = typed(BOB, 'Nothing to see here', { channel: QUIET });
    const before = h.responses(ALICE).length;
    await shortcut(ALICE, message, QUIET);
    await told(ALICE, before, 'There is no run in this channel to add the message to.');
  });

  it('lets the person choose the run in a modal when the channel has two active runs', async () => {
    await h.command(ALICE, 'start billing production');
    await h.waitFor(() => h.statusMessage('r2'), 'r2');
    const message = typed(BOB, 'Production traffic is on the new region');
    const opens = h.slack.callsTo('views.open').length;
    await shortcut(BOB, message);
    await h.waitFor(() => h.slack.callsTo('views.open').length > opens, 'the run picker');
    const modal = h.slack
      .views()
      .filter((v) => v.type === 'modal' && v.callback_id === CallbackId.noteModal && v.user === BOB)
      .at(-1)!;
    const shown = JSON.stringify(modal.blocks);
    expect(shown).toContain('Which run?');
    expect(shown).toContain('r1 billing staging (waiting)');
    expect(shown).toContain('r2 billing production (waiting)');
    // The message's text is filled in, to edit or keep.
    expect(shown).toContain('"initial_value":"Production traffic is on the new region"');

    const submit = (values: Record<string, Record<string, unknown>>) =>
      interact(
        buildViewSubmissionPayload({
          user: BOB,
          view: {
            id: modal.id,
            callback_id: modal.callback_id,
            private_metadata: modal.private_metadata,
            values,
          },
        }),
      );
    const text = {
      text: { type: 'plain_text_input', value: 'Production traffic is on the new region (eu-central)' },
    };
    const unpicked = await submit({
      note: text,
      run: { run: { type: 'static_select', selected_option: null } },
    });
    expect(unpicked.json).toEqual({
      response_action: 'errors',
      errors: { run: 'Choose the run the note is for.' },
    });

    const before = h.responses(BOB).length;
    const picked = await submit({
      note: text,
      run: {
        run: {
          type: 'static_select',
          selected_option: { value: 'r2', text: { type: 'plain_text', text: 'r2' } },
        },
      },
    });
    expect(picked.status).toBe(200);
    await told(BOB, before, "📝 Added to r2's timeline");
    expect(await notes('r2')).toEqual([
      expect.objectContaining({
        actor: BOB,
        detail: 'Production traffic is on the new region (eu-central)',
        source: { author: BOB, at: tsToMs(message.ts), link: permalink(message) },
      }),
    ]);
    expect((await notes('r1')).some((n) => n.source?.at === tsToMs(message.ts))).toBe(false);

    // With two runs here, a 📌 in the channel cannot tell which one: the person is told how to choose.
    const other = typed(CAROL, 'Which run is this for?');
    const carolBefore = h.responses(CAROL).length;
    await react(CAROL, other);
    await told(CAROL, carolBefore, 'Add to migration timeline');
    expect((await notes('r1')).concat(await notes('r2')).some((n) => n.source?.at === tsToMs(other.ts))).toBe(
      false,
    );
  });

  it('logged no warning or error along the way', () => {
    expect(h.logLines).toEqual([]);
  });
});
