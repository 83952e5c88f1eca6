import {
  channelRefusal,
  decide,
  holdingIncident,
  isActive,
  rollbackRefusal,
  stepInPlay,
} from '../engine/index.ts';
import type { Actor, Offer, RunEvent, RunState } from '../engine/types.ts';
import { stepContent } from '../plan/content.ts';
import { FerryError } from '../errors.ts';
import {
  insertIncident,
  openIncidents,
  overrideIncidents,
  resolveIncident,
} from '../store/locks-and-incidents.ts';
import { applyToRun, findRuns, readRunHeader, type RunHeader } from '../store/runs.ts';
import type { Words } from '../words.ts';
import { afterDecision, type RunsDeps } from './deps.ts';

// A person acting on a run (a button, `/migrate note|rollback|abort|incident`): who they are is
// resolved, the rules that need no run state are checked, then the engine decides on the locked run
// in one transaction. The run is loaded once, inside that transaction.

/** Events a person causes, before Ferry knows which groups they belong to. */
export type PersonEvent = RunEvent extends infer E
  ? E extends { actor: Actor }
    ? Omit<E, 'actor'>
    : never
  : never;

export interface ActInput {
  runId: string;
  user: string;
  /** The channel the person acted in; a run is changed only from its own. */
  channel: string;
  event: PersonEvent;
}

export interface Outcome {
  state: RunState;
  /** Why nothing changed (or not as they meant), for the person who acted and nobody else. */
  refusals: Array<{ message: Words; offer?: Offer }>;
}

export async function act(deps: RunsDeps, input: ActInput): Promise<Outcome> {
  const { header, actor } = await whoActs(deps, input);
  const event = { ...input.event, actor } as RunEvent;
  if (event.type === 'rollback') {
    const others = await findRuns(deps.db, {
      service: header.service,
      environment: header.environment,
      limit: 50,
    });
    const refusal = rollbackRefusal(
      header,
      others.map((r) => ({ ...r, startedAt: r.startedAt.getTime() })),
    );
    if (refusal) throw new FerryError('transition_refused', refusal);
  }
  const now = deps.clock.now();
  const { decision } = await applyToRun(deps.db, input.runId, now, (record) => {
    // An approval is of the step as it would run now: the engine compares it with what was shown.
    const spec = event.type === 'approve' ? record.specs.get(event.stepId) : undefined;
    const decided = spec ? { ...event, content: stepContent(spec, deps.planEnv) } : event;
    return decide(record.state, decided, now);
  });
  await afterDecision(deps, input.runId, decision.effects, event.type);
  return {
    state: decision.state,
    refusals: decision.effects.flatMap((e) =>
      e.type === 'refuse' ? [{ message: e.message, ...(e.offer ? { offer: e.offer } : {}) }] : [],
    ),
  };
}

/**
 * `/migrate incident`: recorded, bound to the step in play, broadcast to the channel and shown on the
 * status message until resolved. A sev1 or sev2 holds the run (engine: `holds`).
 */
export async function openIncident(
  deps: RunsDeps,
  input: Omit<ActInput, 'event'> & { severity: 'sev1' | 'sev2' | 'sev3'; summary: string },
): Promise<{ held: boolean }> {
  const { actor } = await whoActs(deps, input);
  const now = deps.clock.now();
  const { decision } = await applyToRun(deps.db, input.runId, now, async (record, client) => {
    const opened = {
      severity: input.severity,
      summary: input.summary,
      openedBy: actor.user,
      openedAt: now,
      stepId: stepInPlay(record.state),
    };
    const id = await insertIncident(client, { ...opened, runId: input.runId, openedAt: new Date(now) });
    return decide(record.state, { type: 'incident_opened', actor, incident: { id, ...opened } }, now);
  });
  await afterDecision(deps, input.runId, decision.effects, 'incident_opened');
  return { held: holdingIncident(decision.state) !== null && isActive(decision.state.status) };
}

/** Resolves the run's most recent open incident; returns it. A run it held moves on. */
export async function resolveLatestIncident(
  deps: RunsDeps,
  input: Omit<ActInput, 'event'>,
): Promise<{ severity: string; summary: string }> {
  const { actor } = await whoActs(deps, input);
  const now = deps.clock.now();
  let resolved: { severity: 'sev1' | 'sev2' | 'sev3'; summary: string } | undefined;
  const { decision } = await applyToRun(deps.db, input.runId, now, async (record, client) => {
    const incident = (await openIncidents(client, input.runId)).at(-1);
    if (!incident) throw new FerryError('command_invalid', `${input.runId} has no open incident.`);
    await resolveIncident(client, incident.id, actor.user, new Date(now));
    resolved = { severity: incident.severity, summary: incident.summary };
    return decide(record.state, { type: 'incident_resolved', actor, incidentId: incident.id }, now);
  });
  await afterDecision(deps, input.runId, decision.effects, 'incident_resolved');
  return resolved!;
}

/** "Go on despite the incident": the run moves on while its incidents stay open, recorded with who. */
export async function goOnDespiteIncidents(deps: RunsDeps, input: Omit<ActInput, 'event'>): Promise<Outcome> {
  const { actor } = await whoActs(deps, input);
  const now = deps.clock.now();
  const { decision } = await applyToRun(deps.db, input.runId, now, async (record, client) => {
    const decided = decide(record.state, { type: 'go_on', actor }, now);
    const overridden = decided.state.incidents.filter((i) => i.overridden?.at === now).map((i) => i.id);
    await overrideIncidents(client, overridden, actor.user, new Date(now));
    return decided;
  });
  await afterDecision(deps, input.runId, decision.effects, 'go_on');
  return {
    state: decision.state,
    refusals: decision.effects.flatMap((e) => (e.type === 'refuse' ? [{ message: e.message }] : [])),
  };
}

/** The run's header, checked to be acted on from `channel`, and the person with their approver groups. */
async function whoActs(
  deps: RunsDeps,
  input: { runId: string; user: string; channel: string },
): Promise<{ header: RunHeader; actor: Actor }> {
  const header = await readRunHeader(deps.db, input.runId);
  if (!header)
    throw new FerryError(
      'run_not_found',
      `There is no run ${input.runId}. \`/migrate list\` shows the runs.`,
    );
  const refusal = channelRefusal(header, input.channel);
  if (refusal) throw new FerryError('not_authorized', refusal);
  const groups = await deps.directory.groupsOf(input.user, header.policy.approverGroups);
  return { header, actor: { user: input.user, groups } };
}
