import type { Logger } from 'pino';
import { rememberer, type StepContext, type StepHandler } from '../adapters/types.ts';
import type { Clock } from '../clock.ts';
import { decide, isActive, lockRefusal } from '../engine/index.ts';
import type { Actor, Effect, Policy, RunEvent, RunState } from '../engine/types.ts';
import { FerryError, toFerryError } from '../errors.ts';
import { noFailpoints, type Failpoints } from '../failpoints.ts';
import { untilAborted } from '../abortable.ts';
import type { Executor } from '../executor/executor.ts';
import type { Waker } from '../store/wake.ts';
import { openingStep, stepTitle } from '../plan/describe.ts';
import type { LoadedPlan } from '../plan/load.ts';
import type { Plan, PlanEnvironment, StepSpec } from '../plan/schema.ts';
import { findVarRefs, missingVars, resolveVars } from '../plan/vars.ts';
import { redactText, secretValues } from '../redact.ts';
import { buildReport, renderMarkdown, renderSummaryMarkdown, type RunReport } from '../report/report.ts';
import { messagesOf } from '../store/slack-messages.ts';
import {
  closeScheduledStart,
  findScheduledStart,
  insertScheduledStart,
  pendingScheduledStarts,
  type ScheduledStart,
} from '../store/scheduled-starts.ts';
import {
  deleteLock,
  findLock,
  lockedError,
  insertIncident,
  insertLock,
  openIncidents,
  resolveIncident,
  type Lock,
} from '../store/locks-and-incidents.ts';
import type { Database } from '../store/db.ts';
import {
  applyToRun,
  createRun,
  findRuns,
  firstDelivery,
  readRun,
  readTimeline,
  type RunRecord,
  type TimelineEvent,
} from '../store/runs.ts';

// What the Slack layer asks of Ferry. Handlers call these and never touch SQL; every method that
// changes a run goes through the engine's decide() inside one transaction.

export interface RunSummary {
  id: string;
  service: string;
  environment: string;
  status: RunState['status'];
  startedBy: string;
  startedAt: Date;
  channel: string;
}

export interface Outcome {
  state: RunState;
  /** Messages for the person who acted and nobody else (why nothing changed). */
  refusals: string[];
}

export interface RunServiceDeps {
  db: Database;
  clock: Clock;
  waker: Waker;
  log: Logger;
  plans: () => readonly LoadedPlan[];
  planEnv: Readonly<Record<string, string | undefined>>;
  defaultChannel: string | undefined;
  executor?: Pick<Executor, 'cancel'>;
  /** The adapters, for dry runs: what each step would change, read from the live systems. */
  handlerFor?: (spec: StepSpec) => StepHandler;
  /** How long one step's dry-run read may take before its plan-only title is shown instead. */
  describeTimeoutMs?: number;
  failpoints?: Failpoints;
}

/** One step of a dry run. */
export interface StepPreview {
  id: string;
  kind: StepSpec['kind'];
  needsApproval: boolean;
  /** What the step would change, e.g. "api.example.com CNAME old -> new (TTL 60)". */
  text: string;
  /** Why the step would not run now (a TTL above max_ttl, a variable unset). */
  blocker: string | null;
  /** Set when the live state could not be read; `text` is then the plan's own description. */
  readError: string | null;
}

export class RunService {
  private readonly deps: RunServiceDeps;
  private readonly failpoints: Failpoints;

  constructor(deps: RunServiceDeps) {
    this.deps = deps;
    this.failpoints = deps.failpoints ?? noFailpoints;
  }

  /** Finds a plan's environment, or a specific error naming what is known. */
  environment(
    service: string,
    environment: string,
  ): { loaded: LoadedPlan; plan: Plan; env: PlanEnvironment } {
    const plans = this.deps.plans();
    const loaded = plans.find((p) => p.plan.service === service);
    if (!loaded) {
      const known = plans.map((p) => p.plan.service).sort();
      throw new FerryError(
        'plan_not_found',
        `There is no plan for service "${service}". ${known.length ? `Known services: ${known.join(', ')}.` : 'No plans are loaded.'}`,
      );
    }
    const env = loaded.plan.environments[environment];
    if (!env) {
      throw new FerryError(
        'plan_not_found',
        `${service} has no environment "${environment}". Its environments: ${Object.keys(loaded.plan.environments).join(', ')}.`,
      );
    }
    return { loaded, plan: loaded.plan, env };
  }

  /** The channel a run of this service posts to: the plan's, else FERRY_CHANNEL, else where it was typed. */
  channelFor(service: string, environment: string, typedIn: string): string {
    const { plan, env } = this.environment(service, environment);
    return env.channel ?? plan.channel ?? this.deps.defaultChannel ?? typedIn;
  }

  async start(input: {
    service: string;
    environment: string;
    user: string;
    channel: string;
    /** Set when a scheduled start (`--at`) comes due. */
    scheduledStartId?: string;
  }): Promise<RunState> {
    const { loaded, plan, env } = this.environment(input.service, input.environment);
    // The lock is checked again inside the transaction that creates the run; this spares the live reads.
    await this.assertMayStart(plan, input.environment, input.user);
    const state = await this.launch(loaded, input, env.steps, {
      ...(input.scheduledStartId ? { scheduledStartId: input.scheduledStartId } : {}),
    });
    this.deps.log.info(
      { run: state.id, service: plan.service, environment: input.environment, by: input.user },
      'run started',
    );
    return state;
  }

  async act(runId: string, event: RunEvent): Promise<Outcome> {
    if (event.type === 'rollback') {
      const refusal = await this.laterRunRefusal(runId);
      if (refusal) return { state: (await readRun(this.deps.db, runId))!.state, refusals: [refusal] };
    }
    const now = this.deps.clock.now();
    const { decision } = await applyToRun(this.deps.db, runId, now, (record) =>
      decide(record.state, event, now),
    );
    await this.afterDecision(runId, decision.effects, event.type);
    return {
      state: decision.state,
      refusals: decision.effects.flatMap((e) => (e.type === 'refuse' ? [e.message] : [])),
    };
  }

  /**
   * `/migrate start … --at <time>`: checked now as a start would be (plan, starters, variables,
   * lock), started by the scheduler when due, on behalf of the person who asked.
   */
  async schedule(input: {
    service: string;
    environment: string;
    user: string;
    channel: string;
    at: Date;
  }): Promise<ScheduledStart> {
    const { plan } = this.environment(input.service, input.environment);
    const now = this.deps.clock.now();
    const when = input.at.getTime();
    if (when < now + 10_000) {
      throw new FerryError(
        'command_invalid',
        `${input.at.toISOString()} is not in the future: start now with \`/migrate start ${plan.service} ${input.environment}\`.`,
      );
    }
    if (when > now + 30 * 86_400_000)
      throw new FerryError('command_invalid', 'Ferry schedules starts at most 30 days ahead.');
    await this.assertMayStart(plan, input.environment, input.user);
    const scheduled = await insertScheduledStart(this.deps.db, {
      service: plan.service,
      environment: input.environment,
      requestedBy: input.user,
      channel: this.channelFor(plan.service, input.environment, input.channel),
      startAt: input.at,
    });
    this.deps.log.info(
      { scheduled: scheduled.id, service: plan.service, environment: input.environment },
      'start scheduled',
    );
    return scheduled;
  }

  /** `/migrate abort s3`: the person who asked, or anyone who may start or approve, cancels it. */
  async cancelScheduled(id: string, actor: Actor): Promise<ScheduledStart> {
    const scheduled = await findScheduledStart(this.deps.db, id);
    if (!scheduled) throw new FerryError('run_not_found', `There is no scheduled start ${id}.`);
    if (scheduled.status !== 'pending') {
      throw new FerryError(
        'transition_refused',
        `${id} is ${scheduled.status}${scheduled.runId ? ` (${scheduled.runId})` : ''}: there is nothing to cancel.`,
      );
    }
    if (actor.user !== scheduled.requestedBy) {
      const { plan } = this.environment(scheduled.service, scheduled.environment);
      if (lockRefusal(this.policyFor(plan, scheduled.environment), scheduled.service, actor)) {
        throw new FerryError(
          'not_authorized',
          `Only the person who scheduled ${id}, or someone who may start or approve ${scheduled.service} runs, can cancel it.`,
        );
      }
    }
    if (!(await closeScheduledStart(this.deps.db, id, { status: 'cancelled', by: actor.user }))) {
      throw new FerryError('transition_refused', `${id} started or was cancelled a moment ago.`);
    }
    return scheduled;
  }

  scheduled(): Promise<ScheduledStart[]> {
    return pendingScheduledStarts(this.deps.db);
  }

  /**
   * Starts every scheduled start that is due. Returns those that could not start, with why, for the
   * channel to hear; a start another replica took is neither.
   */
  async startDue(): Promise<Array<{ scheduled: ScheduledStart; message: string }>> {
    const failures: Array<{ scheduled: ScheduledStart; message: string }> = [];
    const due = await pendingScheduledStarts(this.deps.db, { dueBy: new Date(this.deps.clock.now()) });
    for (const scheduled of due) {
      try {
        await this.start({
          service: scheduled.service,
          environment: scheduled.environment,
          user: scheduled.requestedBy,
          channel: scheduled.channel,
          scheduledStartId: scheduled.id,
        });
      } catch (error) {
        const ferry = toFerryError(error);
        if (ferry.code === 'transition_refused') continue;
        if (ferry.code === 'unexpected') {
          // A database or network blip: the start stays pending and the next tick tries again.
          this.deps.log.warn({ err: error, scheduled: scheduled.id }, 'scheduled start deferred');
          continue;
        }
        if (
          await closeScheduledStart(this.deps.db, scheduled.id, { status: 'failed', error: ferry.message })
        ) {
          failures.push({ scheduled, message: ferry.message });
        }
      }
    }
    return failures;
  }

  /**
   * Creates a run of `steps`, titled by a dry run, and lets the engine take its first decision, in
   * one transaction; then wakes the executor and the publisher.
   */
  private async launch(
    loaded: LoadedPlan,
    who: { environment: string; user: string; channel: string },
    steps: readonly StepSpec[],
    extra: { purpose?: RunState['purpose']; scheduledStartId?: string },
  ): Promise<RunState> {
    const { plan } = loaded;
    const previews = await this.preview(steps);
    const now = this.deps.clock.now();
    const { state, effects } = await createRun(
      this.deps.db,
      {
        service: plan.service,
        environment: who.environment,
        startedBy: who.user,
        channel: this.channelFor(plan.service, who.environment, who.channel),
        planFile: loaded.file,
        policy: this.policyFor(plan, who.environment),
        steps: steps.map((spec, i) => ({ spec, title: previews[i]?.text ?? stepTitle(spec) })),
        now,
        ...extra,
      },
      (initial) => decide(initial, { type: 'start' }, now),
    );
    await this.afterDecision(state.id, effects, 'start');
    return state;
  }

  /** What a start needs, checked when it is asked for: a starter, every variable set, no lock. */
  private async assertMayStart(plan: Plan, environment: string, user: string): Promise<void> {
    const starters = plan.starters ?? [];
    if (starters.length > 0 && !starters.includes(user)) {
      throw new FerryError(
        'not_authorized',
        `Only ${starters.map((u) => `<@${u}>`).join(', ')} may start ${plan.service} runs.`,
      );
    }
    const missing = missingVars(plan.environments[environment]?.steps ?? [], this.deps.planEnv);
    if (missing.length > 0) {
      throw new FerryError(
        'env_missing',
        `${plan.service} ${environment} needs ${missing.map((m) => `\`${m}\``).join(', ')} set in Ferry's environment before a run can start.`,
      );
    }
    const lock = await findLock(this.deps.db.pool, plan.service, environment);
    if (lock) throw lockedError(lock);
  }

  /** Who may do what in one environment of a plan. */
  policyFor(plan: Plan, environment: string): Policy {
    return {
      starters: plan.starters ?? [],
      approverUsers: plan.approvers.users,
      approverGroups: plan.approvers.usergroups,
      fourEyes: plan.environments[environment]?.four_eyes ?? environment === 'production',
    };
  }

  /** `/migrate lock`: no run may start for the service and environment until unlocked. */
  async lock(service: string, environment: string, reason: string, actor: Actor): Promise<Lock> {
    const { plan } = this.environment(service, environment);
    const refusal = lockRefusal(this.policyFor(plan, environment), service, actor);
    if (refusal) throw new FerryError('not_authorized', refusal);
    const lock = {
      service,
      environment,
      reason,
      lockedBy: actor.user,
      lockedAt: new Date(this.deps.clock.now()),
    };
    const existing = await insertLock(this.deps.db, lock);
    if (existing) {
      throw new FerryError(
        'run_locked',
        `${service} ${environment} is already locked by <@${existing.lockedBy}>: ${existing.reason}.`,
      );
    }
    this.deps.log.info({ service, environment, by: actor.user, reason }, 'locked');
    return lock;
  }

  async unlock(service: string, environment: string, actor: Actor): Promise<Lock> {
    const { plan } = this.environment(service, environment);
    const refusal = lockRefusal(this.policyFor(plan, environment), service, actor);
    if (refusal) throw new FerryError('not_authorized', refusal);
    const removed = await deleteLock(this.deps.db, service, environment);
    if (!removed) throw new FerryError('command_invalid', `${service} ${environment} is not locked.`);
    this.deps.log.info({ service, environment, by: actor.user }, 'unlocked');
    return removed;
  }

  /** `/migrate incident`: recorded in the timeline and shown on the status message until resolved. */
  async openIncident(
    runId: string,
    severity: 'sev1' | 'sev2' | 'sev3',
    summary: string,
    actor: Actor,
  ): Promise<void> {
    const now = this.deps.clock.now();
    const { decision } = await applyToRun(this.deps.db, runId, now, async (record, client) => {
      await insertIncident(client, {
        runId,
        severity,
        summary,
        openedBy: actor.user,
        openedAt: new Date(now),
      });
      return decide(record.state, { type: 'incident_opened', actor, severity, summary }, now);
    });
    await this.afterDecision(runId, decision.effects, 'incident_opened');
  }

  /** Resolves the run's most recent open incident; returns it. */
  async resolveIncident(runId: string, actor: Actor): Promise<{ severity: string; summary: string }> {
    const now = this.deps.clock.now();
    let resolved: { severity: 'sev1' | 'sev2' | 'sev3'; summary: string } | undefined;
    const { decision } = await applyToRun(this.deps.db, runId, now, async (record, client) => {
      const incident = (await openIncidents(client, runId)).at(-1);
      if (!incident) throw new FerryError('command_invalid', `${runId} has no open incident.`);
      await resolveIncident(client, incident.id, actor.user, new Date(now));
      resolved = { severity: incident.severity, summary: incident.summary };
      return decide(record.state, { type: 'incident_resolved', actor, ...resolved }, now);
    });
    await this.afterDecision(runId, decision.effects, 'incident_resolved');
    return resolved!;
  }

  /** `/migrate plan`: what each step would change, read from the live systems; nothing is changed. */
  async dryRun(service: string, environment: string): Promise<{ plan: Plan; steps: StepPreview[] }> {
    const { plan, env } = this.environment(service, environment);
    return { plan, steps: await this.preview(env.steps) };
  }

  private async preview(specs: readonly StepSpec[]): Promise<StepPreview[]> {
    return Promise.all(
      specs.map((spec, i) => {
        const opener = openingStep(specs, i);
        if (!opener || missingVars(spec, this.deps.planEnv).length > 0) return this.previewStep(spec);
        // What it will find depends on the opening step, which has not run yet.
        return Promise.resolve({
          id: spec.id,
          kind: spec.kind,
          needsApproval: spec.approval === 'required',
          text: `${this.plainTitle(spec)} (undoes what \`${opener.id}\` changed)`,
          blocker: null,
          readError: null,
        });
      }),
    );
  }

  /** The plan's own words for a step, with its variables filled in and secrets masked. */
  private plainTitle(spec: StepSpec): string {
    if (missingVars(spec, this.deps.planEnv).length > 0) return stepTitle(spec);
    const secrets = secretValues(findVarRefs(spec), this.deps.planEnv);
    return redactText(stepTitle(resolveVars(spec, this.deps.planEnv)), secrets);
  }

  private async previewStep(spec: StepSpec): Promise<StepPreview> {
    const base = { id: spec.id, kind: spec.kind, needsApproval: spec.approval === 'required' };
    const missing = missingVars(spec, this.deps.planEnv);
    if (missing.length > 0 || !this.deps.handlerFor) {
      return {
        ...base,
        text: this.plainTitle(spec),
        blocker: missing.length
          ? `needs ${missing.map((m) => `\`${m}\``).join(', ')} set in Ferry's environment`
          : null,
        readError: null,
      };
    }
    const secrets = secretValues(findVarRefs(spec), this.deps.planEnv);
    const signal = AbortSignal.timeout(this.deps.describeTimeoutMs ?? 8_000);
    const ctx: StepContext = {
      runId: 'dry-run',
      stepId: spec.id,
      attempt: 0,
      signal,
      now: () => this.deps.clock.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      progress: () => Promise.resolve(),
      log: this.deps.log.child({ dryRun: spec.id }),
      earlier: [],
      remember: rememberer(),
    };
    try {
      const handler = this.deps.handlerFor(spec);
      const resolved = resolveVars(spec, this.deps.planEnv);
      // Bounded even for an adapter that ignores its signal: a start and the scheduler wait on this.
      const [text, blocker] = await untilAborted(
        Promise.all([handler.describe(resolved, ctx), handler.blocker?.(resolved, ctx) ?? null]),
        signal,
      );
      return {
        ...base,
        text: redactText(text, secrets),
        blocker: blocker ? redactText(blocker, secrets) : null,
        readError: null,
      };
    } catch (error) {
      const reason = signal.aborted ? 'timed out reading the current state' : (error as Error).message;
      return { ...base, text: this.plainTitle(spec), blocker: null, readError: redactText(reason, secrets) };
    }
  }

  /** The run's report, with where its status message lives so the report can go into its thread. */
  async report(
    runId: string,
  ): Promise<{ report: RunReport; markdown: string; thread: { channel: string; ts: string } | null }> {
    const record = await readRun(this.deps.db, runId);
    if (!record) throw new FerryError('run_not_found', `There is no run ${runId}.`);
    const report = buildReport(
      record.state,
      record.specs,
      await readTimeline(this.deps.db, runId),
      this.deps.clock.now(),
    );
    const status = (await messagesOf(this.deps.db, runId)).find((m) => m.kind === 'status');
    return {
      report,
      markdown: renderMarkdown(report),
      thread: status ? { channel: status.channel, ts: status.ts } : null,
    };
  }

  /** `/migrate report --all`: every run, newest first, as one Markdown table. */
  async reportAll(channel: string): Promise<{ reports: RunReport[]; markdown: string }> {
    // Only this channel's runs: a private channel's runs must not surface wherever --all is typed.
    const reports: RunReport[] = [];
    for (const run of await findRuns(this.deps.db, { channel, limit: 200 }))
      reports.push((await this.report(run.id)).report);
    return { reports, markdown: renderSummaryMarkdown(reports) };
  }

  /**
   * `/migrate maintenance|crons`: an ad hoc toggle, run as a one-step run beside the runbook's own,
   * using the provider of the plan's first step of that kind. It needs approval like a gated step
   * (four eyes where the environment has them), is recorded in its own timeline, and rolls back.
   */
  async startAdhoc(input: {
    service: string;
    environment: string;
    kind: 'maintenance' | 'crons';
    action: 'on' | 'off' | 'disable' | 'enable';
    user: string;
    channel: string;
  }): Promise<RunState> {
    const { loaded, plan, env } = this.environment(input.service, input.environment);
    const template = env.steps.find((s) => s.kind === input.kind);
    if (!template || template.kind !== input.kind) {
      throw new FerryError(
        'plan_not_found',
        `${plan.service} ${input.environment} has no ${input.kind} step to take the provider from: add one to ${loaded.file}.`,
      );
    }
    const starters = plan.starters ?? [];
    if (starters.length > 0 && !starters.includes(input.user)) {
      throw new FerryError(
        'not_authorized',
        `Only ${starters.map((u) => `<@${u}>`).join(', ')} may change ${plan.service}.`,
      );
    }
    const spec = {
      ...template,
      id: `${input.kind}-${input.action}`,
      action: input.action,
      approval: 'required',
    } as StepSpec;
    const missing = missingVars(spec, this.deps.planEnv);
    if (missing.length > 0) {
      throw new FerryError(
        'env_missing',
        `This toggle needs ${missing.map((m) => `\`${m}\``).join(', ')} set in Ferry's environment.`,
      );
    }
    const state = await this.launch(loaded, input, [spec], { purpose: 'adhoc' });
    this.deps.log.info(
      { run: state.id, service: plan.service, environment: input.environment, toggle: spec.id },
      'ad hoc toggle started',
    );
    return state;
  }

  /**
   * A finished run's captures are the state before it; once a later run of the same service and
   * environment has changed things, restoring them would undo that run's work blindly.
   */
  private async laterRunRefusal(runId: string): Promise<string | null> {
    const record = await readRun(this.deps.db, runId);
    if (!record || record.state.status !== 'succeeded' || record.state.purpose !== 'runbook') return null;
    const later = (
      await findRuns(this.deps.db, {
        service: record.state.service,
        environment: record.state.environment,
        limit: 50,
      })
    )
      // A later run that was rolled back left things as this one did: then this one may roll back.
      .filter(
        (r) =>
          r.purpose === 'runbook' &&
          r.startedAt.getTime() > record.state.startedAt &&
          r.status !== 'rolled_back',
      )
      .at(-1);
    return later
      ? `${runId} was followed by ${later.id} on ${record.state.service} ${record.state.environment}: roll back ${later.id} first, or undo ${runId}'s changes by hand.`
      : null;
  }

  /**
   * A run by id, or, when `ref` is left out, the channel's only active run (with `latest`, its latest
   * run when none is active). Several active runs are ambiguous: the person names one.
   */
  async resolve(
    channel: string,
    ref: string | undefined,
    opts: { latest?: boolean; here?: boolean } = {},
  ): Promise<RunRecord> {
    if (ref) {
      const record = await readRun(this.deps.db, ref);
      if (!record)
        throw new FerryError('run_not_found', `There is no run ${ref}. \`/migrate list\` shows the runs.`);
      // Changing a run is for the people in its channel, where its thread tells everyone.
      if (opts.here && record.channel !== channel) {
        throw new FerryError(
          'not_authorized',
          `${ref} runs in <#${record.channel}>: use \`/migrate\` there.`,
        );
      }
      return record;
    }
    const active = await findRuns(this.deps.db, { channel, active: true, limit: 10 });
    // An ad hoc toggle waiting beside the migration does not make "the run" ambiguous.
    const runbooks = active.filter((r) => r.purpose === 'runbook');
    const candidates = active.length > 1 && runbooks.length === 1 ? runbooks : active;
    if (candidates.length === 0 && opts.latest) {
      // `status` and `report` with nothing active: the channel's latest run.
      const [latest] = await findRuns(this.deps.db, { channel, limit: 1 });
      if (latest) return (await readRun(this.deps.db, latest.id))!;
    }
    if (candidates.length === 0) {
      throw new FerryError(
        'run_not_found',
        'There is no active run in this channel: name one, e.g. `r12` (`/migrate list` shows them).',
      );
    }
    if (candidates.length > 1) {
      throw new FerryError(
        'run_ambiguous',
        `This channel has ${candidates.length} active runs (${candidates.map((c) => `${c.id} ${c.service} ${c.environment}`).join(', ')}): name one.`,
      );
    }
    const record = await readRun(this.deps.db, candidates[0]!.id);
    return record!;
  }

  get(runId: string): Promise<RunRecord | null> {
    return readRun(this.deps.db, runId);
  }

  list(filter: { active?: boolean; limit?: number } = {}): Promise<RunSummary[]> {
    return findRuns(this.deps.db, filter);
  }

  timeline(runId: string, afterSeq = 0): Promise<TimelineEvent[]> {
    return readTimeline(this.deps.db, runId, afterSeq);
  }

  /** False when this Slack delivery (event id or trigger id) was already handled. */
  firstDelivery(key: string): Promise<boolean> {
    return firstDelivery(this.deps.db, key);
  }

  plans(): readonly LoadedPlan[] {
    return this.deps.plans();
  }

  isActive(state: RunState): boolean {
    return isActive(state.status);
  }

  private async afterDecision(runId: string, effects: readonly Effect[], what: string): Promise<void> {
    this.failpoints.hit('decision.after', what);
    for (const effect of effects) {
      if (effect.type === 'cancel') this.deps.executor?.cancel(runId, effect.stepId);
    }
    await this.deps.waker.announce(this.deps.db, 'work', 'publish');
  }
}
