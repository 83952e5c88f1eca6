import type { SlackMessage } from '../../src/sandbox/fake-slack.ts';
import type { FerryDb, TimelineRow } from './ferry-db.ts';
import { readable, type SlackDriver } from './slack-driver.ts';
import type { Transition } from './world.ts';

// What "exactly once" means to a drill, in one place: each state change once, each timeline event
// once, no failure a crash caused, every event in Slack and no message posted twice.

/** Events a run records once, whatever happens to the processes running it. */
export const ONCE_PER_RUN = new Set([
  'run_started',
  'approval_requested',
  'approved',
  'step_started',
  'step_succeeded',
  'waiting_for_person',
  'rollback_started',
  'undo_started',
  'undo_succeeded',
  'run_succeeded',
  'run_rolled_back',
]);

/** Events a crash or a second replica must never cause in a drill's run. */
export const FAILURES = new Set(['step_failed', 'step_retrying', 'undo_failed', 'run_aborted']);

/** Transitions beyond what is expected of each target, and any of a target no step changes. */
export function extraTransitions(
  transitions: readonly Transition[],
  expected: Readonly<Record<string, number>>,
): { extra: Transition[]; lines: string[] } {
  const extra: Transition[] = [];
  const lines: string[] = [];
  for (const [target, count] of Object.entries(expected)) {
    const seen = transitions.filter((t) => t.target === target);
    if (seen.length <= count) continue;
    extra.push(...seen.slice(count));
    lines.push(
      `${target} changed ${seen.length} times, not ${count}: ${seen.map((t) => `${t.from} -> ${t.to}`).join(', ')}`,
    );
  }
  for (const t of transitions.filter((t) => !(t.target in expected))) {
    extra.push(t);
    lines.push(`${t.target} changed (${t.from} -> ${t.to}), which no step of the run changes`);
  }
  return { extra, lines };
}

/** Second and later copies of events that happen once per run, and failures. */
export function timelineProblems(timeline: readonly TimelineRow[]): {
  repeated: TimelineRow[];
  failures: TimelineRow[];
  lines: string[];
} {
  const byKey = new Map<string, TimelineRow[]>();
  const failures = timeline.filter((e) => FAILURES.has(e.type));
  for (const event of timeline) {
    if (!ONCE_PER_RUN.has(event.type)) continue;
    const key = `${event.type} ${event.stepId ?? ''}`.trim();
    byKey.set(key, [...(byKey.get(key) ?? []), event]);
  }
  const repeated: TimelineRow[] = [];
  const lines = failures.map((e) => `the timeline has ${e.type} ${e.stepId ?? ''}: ${e.detail ?? ''}`);
  for (const [key, events] of byKey) {
    if (events.length < 2) continue;
    repeated.push(...events.slice(1));
    lines.push(
      `the timeline has "${key}" ${events.length} times (seq ${events.map((e) => e.seq).join(', ')})`,
    );
  }
  if (timeline.some((e, i) => e.seq !== i + 1))
    lines.push(`timeline seqs are not 1..n: ${timeline.map((e) => e.seq).join(',')}`);
  return { repeated, failures, lines };
}

/**
 * Events of these runs that never reached Slack, and messages in the channel Ferry holds no
 * reference to: a post repeated because the first copy's ts was never stored. An event counts as
 * posted when its reference names a reply that Slack has in a thread and that reads as the event
 * (it names the event's step), not merely any message.
 */
export async function slackCoverage(
  db: FerryDb,
  driver: SlackDriver,
  runIds: readonly string[],
): Promise<{ lost: Array<{ runId: string; event: TimelineRow }>; orphans: SlackMessage[] }> {
  const inSlack = driver.slack.store.allMessages(driver.channel);
  const byTs = new Map(inSlack.map((m) => [m.ts, m]));
  const known = new Set<string>();
  const lost: Array<{ runId: string; event: TimelineRow }> = [];
  for (const runId of runIds) {
    const refs = await db.messages(runId);
    for (const ref of refs) known.add(ref.ts);
    const eventTs = new Map(refs.filter((r) => r.kind === 'event').map((r) => [Number(r.key), r.ts]));
    for (const event of await db.timeline(runId)) {
      const message = byTs.get(eventTs.get(event.seq) ?? '');
      const reads =
        message !== undefined &&
        !isTopLevel(message) &&
        (!event.stepId || readable(message).includes(event.stepId));
      if (!reads) lost.push({ runId, event });
    }
  }
  return { lost, orphans: inSlack.filter((m) => !known.has(m.ts)) };
}

export function isTopLevel(message: SlackMessage): boolean {
  return !message.thread_ts || message.thread_ts === message.ts;
}
