import { channelRefusal, decide } from '../engine/index.ts';
import type { NoteSource } from '../engine/types.ts';
import { FerryError } from '../errors.ts';
import { insertNote, noteOfMessage, runOfThread, type NoteRecord } from '../store/notes.ts';
import { applyToRun, findRuns, readRunHeader, type RunSummary } from '../store/runs.ts';
import { afterDecision, type RunsDeps } from './deps.ts';
import { resolveRunId } from './lookup.ts';

// Notes from every door: `/migrate note` (act.ts), the status message's Add note modal, the "Add to
// migration timeline" message shortcut and a 📌 reaction. A note from a message keeps the message's
// author and time and links to it; the same message is one note however often it is pinned.

/** A Slack message a note quotes. */
export interface NoteMessage {
  channel: string;
  ts: string;
  /** The thread it is in, when it is a reply. */
  threadTs?: string;
  /** Who wrote it (a user id; a bot's id when a bot did). */
  author: string;
  /** Its permalink, when Slack gave one. */
  link?: string;
}

export interface NoteInput {
  /** Who adds the note. */
  user: string;
  /** Where they did it; a run takes notes only from its own channel. */
  channel: string;
  text: string;
  /** The run, when the person chose it (the modal, the run picker); else the message decides. */
  runId?: string;
  source?: NoteMessage;
}

export type NoteOutcome =
  | { added: true; runId: string }
  /** The message was already a note: nothing new was recorded. */
  | { added: false; runId: string; already: NoteRecord };

/** A Slack message ts ("1700000000.000100") as epoch milliseconds. */
export function tsToMs(ts: string): number {
  const [seconds = '0', micros = '0'] = ts.split('.');
  return Number(seconds) * 1_000 + Math.floor(Number(micros.padEnd(6, '0').slice(0, 6)) / 1_000);
}

/**
 * The run a message belongs to: the run whose thread it is in, else the channel's only active run.
 * Throws `run_not_found` or `run_ambiguous` (with the runs named) when the person has to choose.
 */
export async function runForMessage(
  deps: Pick<RunsDeps, 'db'>,
  message: { channel: string; threadTs?: string },
): Promise<string> {
  if (message.threadTs) {
    const run = await runOfThread(deps.db, message.channel, message.threadTs);
    if (run) return run;
  }
  return resolveRunId(deps, message.channel, undefined);
}

/** The runs a person may pick for a note in `channel`: the active ones, else the latest few. */
export async function runsToNoteIn(deps: Pick<RunsDeps, 'db'>, channel: string): Promise<RunSummary[]> {
  const active = await findRuns(deps.db, { channel, active: true, limit: 20 });
  return active.length > 0 ? active : findRuns(deps.db, { channel, limit: 10 });
}

/** Adds a note to a run's timeline, once per source message. */
export async function addNote(deps: RunsDeps, input: NoteInput): Promise<NoteOutcome> {
  const { source } = input;
  if (source) {
    const already = await noteOfMessage(deps.db, source.channel, source.ts);
    if (already) return { added: false, runId: already.runId, already };
  }
  const runId = input.runId ?? (source ? await runForMessage(deps, source) : undefined);
  if (!runId) throw new FerryError('run_not_found', 'Name the run the note is for.');
  const header = await readRunHeader(deps.db, runId);
  if (!header)
    throw new FerryError('run_not_found', `There is no run ${runId}. \`/migrate list\` shows the runs.`);
  const refusal = channelRefusal(header, input.channel);
  if (refusal) throw new FerryError('not_authorized', refusal);
  const groups = await deps.directory.groupsOf(input.user, header.policy.approverGroups);
  const now = deps.clock.now();
  const noted: NoteSource | undefined = source
    ? { author: source.author, at: tsToMs(source.ts), ...(source.link ? { link: source.link } : {}) }
    : undefined;
  let added = true;
  const { decision } = await applyToRun(deps.db, runId, now, async (record, client) => {
    added = await insertNote(client, {
      runId,
      sourceChannel: source?.channel ?? null,
      sourceTs: source?.ts ?? null,
      author: source?.author ?? input.user,
      writtenAt: new Date(noted?.at ?? now),
      link: source?.link ?? null,
      addedBy: input.user,
      addedAt: new Date(now),
    });
    // Pinned twice at once: the second finds the first's row and records nothing.
    if (!added) return { state: record.state, effects: [] };
    const event = { type: 'note' as const, actor: { user: input.user, groups }, text: input.text };
    return decide(record.state, noted ? { ...event, source: noted } : event, now);
  });
  if (!added && source) {
    const already = await noteOfMessage(deps.db, source.channel, source.ts);
    if (already) return { added: false, runId: already.runId, already };
  }
  await afterDecision(deps, runId, decision.effects, 'note');
  return { added: true, runId };
}
