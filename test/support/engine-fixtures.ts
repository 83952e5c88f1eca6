import { expect } from 'vitest';
import { decide } from '../../src/engine/decide.ts';
import { newRunState } from '../../src/engine/new-run.ts';
import { stepContent } from '../../src/plan/content.ts';
import { mrkdwn } from '../../src/slack/views/format.ts';
import type {
  Actor,
  Decision,
  Direction,
  Effect,
  Policy,
  RunEvent,
  RunState,
  StepStatus,
  TimelineEntry,
  TimelineType,
} from '../../src/engine/types.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import type { StepKind, StepSpec } from '../../src/plan/schema.ts';

// Builders for engine tests: real plan steps (parsed by the plan schema), a run made by
// `newRunState`, and a Scenario that feeds events through `decide` with deep-frozen inputs, so every
// test also proves that `decide` never mutates what it is given.

export const T0 = Date.UTC(2025, 0, 6, 2, 0, 0);

/** Starts runs (the plan's only starter). */
export const alice: Actor = { user: 'U01ALICE', groups: [] };
/** A named approver. */
export const bob: Actor = { user: 'U02BOB', groups: [] };
/** Approves through the S0PLATFORM user group. */
export const carol: Actor = { user: 'U03CAROL', groups: ['S0OTHER', 'S0PLATFORM'] };
/** In the channel, neither a starter nor an approver. */
export const mallory: Actor = { user: 'U09MALLORY', groups: ['S0SALES'] };

export const defaultPolicy = (environment: string): Policy => ({
  starters: [alice.user],
  approverUsers: [bob.user],
  approverGroups: ['S0PLATFORM'],
  fourEyes: environment === 'production',
  approvalExpiresMs: 30 * 60_000,
  approvalReminderMs: 10 * 60_000,
  lockAfterRollback: true,
});

/** A step: its kind alone (id = kind), or with an id and `approval: true` for `approval: required`. */
export type StepInput = StepKind | { id?: string; kind: StepKind; approval?: boolean; approvals?: number };

/** The variables steps resolve against when their content (what an approval is of) is computed. */
export const contentEnv = {
  SOURCE_REDIS_URL: 'redis://127.0.0.1:6379/8',
  TARGET_REDIS_URL: 'redis://127.0.0.1:6379/7',
};

/** A valid plan step of `kind`, as the plan loader would hand it over. */
export function stepSpec(kind: StepKind, id: string, approval = false): StepSpec {
  const common = { id, ...(approval ? { approval: 'required' } : {}) };
  const redis = { type: 'redis', url: '${SOURCE_REDIS_URL}', key: 'billing:webhooks:paused' };
  const raw = {
    maintenance: { kind, action: 'on', provider: { type: 'heroku', app: 'billing-production' } },
    flag: { kind, action: 'on', provider: redis },
    crons: {
      kind,
      action: 'disable',
      provider: { type: 'sidekiq-cron', url: '${TARGET_REDIS_URL}', jobs: 'all' },
    },
    jobs: {
      kind,
      action: 'pause',
      provider: { type: 'heroku-formation', app: 'billing', process_types: ['worker'] },
    },
    dns: {
      kind,
      provider: {
        type: 'route53',
        hosted_zone_id: 'Z0123456789ABC',
        record: 'api.billing.example.com.',
        value: 'billing.eu-central.example.net.',
        ttl: 60,
      },
    },
    drain: { kind, provider: { type: 'sidekiq', url: '${SOURCE_REDIS_URL}' } },
    check: { kind, checks: [{ http: { url: 'https://billing.new.example.com/healthz' } }] },
    'env-diff': {
      kind,
      source: { type: 'heroku', app: 'billing-production' },
      target: { type: 'file', path: 'env.target' },
    },
    manual: { kind, instructions: 'Watch the dashboards for five minutes, then press Done.' },
    watch: { kind, for: '10m', checks: [{ http: { url: 'https://billing.new.example.com/healthz' } }] },
  }[kind];
  return stepSchema.parse({ ...common, ...raw });
}

/** A run before its `start` event: production, started by Alice, with the default policy. */
export function makeRun(
  options: {
    steps: StepInput[];
    policy?: Partial<Policy>;
    environment?: string;
    startedBy?: Actor;
    id?: string;
  } = { steps: ['flag'] },
): RunState {
  const environment = options.environment ?? 'production';
  const seen = new Map<string, number>();
  const steps = options.steps.map((input) => {
    const { kind, id, approval, approvals } =
      typeof input === 'string' ? { kind: input, id: undefined, approval: false, approvals: 1 } : input;
    const n = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, n);
    const stepId = id ?? (n === 1 ? kind : `${kind}-${n}`);
    const spec = stepSpec(kind, stepId, approval ?? false);
    return {
      spec,
      title: `${kind} ${stepId}`,
      approvalsNeeded: approvals ?? 1,
      content: stepContent(spec, contentEnv),
    };
  });
  return newRunState({
    id: options.id ?? 'r12',
    service: 'billing',
    environment,
    startedBy: (options.startedBy ?? alice).user,
    startedAt: T0,
    policy: { ...defaultPolicy(environment), ...options.policy },
    steps,
  });
}

/** Freezes a value and everything it reaches, so any write inside `decide` throws. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** `decide` on frozen inputs; also checks that the inputs still equal their snapshots afterwards. */
export function decideFrozen(state: RunState, event: RunEvent, now: number): Decision {
  const stateBefore = structuredClone(state);
  const eventBefore = structuredClone(event);
  const decision = decide(deepFreeze(state), deepFreeze(event), now);
  expect(state, 'decide mutated the run it was given').toEqual(stateBefore);
  expect(event, 'decide mutated the event it was given').toEqual(eventBefore);
  return decision;
}

/**
 * A run fed event by event. `now` starts at T0 and moves only when a test says so (`tick`).
 * `last` is the latest decision; `log` keeps every decision for tests about whole sequences.
 */
export class Scenario {
  state: RunState;
  now: number;
  last: Decision;
  readonly log: Decision[] = [];
  /** Every event sent, in order, accepted or refused. */
  readonly events: RunEvent[] = [];

  constructor(state: RunState, now = T0) {
    this.state = state;
    this.now = now;
    this.last = { state, effects: [] };
  }

  static of(options: Parameters<typeof makeRun>[0]): Scenario {
    return new Scenario(makeRun(options));
  }

  send(event: RunEvent): Decision {
    this.events.push(event);
    this.last = decideFrozen(this.state, event, this.now);
    this.log.push(this.last);
    this.state = this.last.state;
    return this.last;
  }

  /** Feeds events in order; returns every effect they produced. */
  feed(...events: RunEvent[]): Effect[] {
    return events.flatMap((event) => this.send(event).effects);
  }

  tick(ms: number): this {
    this.now += ms;
    return this;
  }

  step(id: string) {
    const step = this.state.steps.find((s) => s.id === id);
    if (!step) throw new Error(`no step ${id} in ${this.state.steps.map((s) => s.id).join(', ')}`);
    return step;
  }

  start(): Decision {
    return this.send({ type: 'start' });
  }

  /** The outcome of the step's current attempt, in its current direction. */
  succeed(stepId: string, summary = `${stepId} done`, figures?: Record<string, number | string>): Decision {
    const { attempt, direction } = this.step(stepId);
    return this.send({
      type: 'step_succeeded',
      stepId,
      attempt,
      direction,
      summary,
      ...(figures ? { figures } : {}),
    });
  }

  fail(stepId: string, error = `${stepId} broke`, retryable = false): Decision {
    const { attempt, direction } = this.step(stepId);
    return this.send({ type: 'step_failed', stepId, attempt, direction, error, retryable });
  }

  /** A transient failure of the current attempt. */
  flake(stepId: string, error = `${stepId} timed out`): Decision {
    return this.fail(stepId, error, true);
  }

  approve(stepId: string, actor: Actor = bob): Decision {
    return this.send({ type: 'approve', stepId, actor });
  }

  reject(stepId: string, actor: Actor = bob, reason?: string): Decision {
    return this.send({ type: 'reject', stepId, actor, ...(reason === undefined ? {} : { reason }) });
  }

  done(stepId: string, actor: Actor = alice): Decision {
    return this.send({ type: 'done', stepId, actor });
  }

  retry(stepId: string, actor: Actor = alice): Decision {
    return this.send({ type: 'retry', stepId, actor });
  }

  skip(stepId: string, actor: Actor = alice): Decision {
    return this.send({ type: 'skip', stepId, actor });
  }

  rollback(actor: Actor = alice): Decision {
    return this.send({ type: 'rollback', actor });
  }

  abort(actor: Actor = alice): Decision {
    return this.send({ type: 'abort', actor });
  }

  note(text: string, actor: Actor = bob): Decision {
    return this.send({ type: 'note', actor, text });
  }

  /** Each step's status, by id, for one-line assertions. */
  statuses(): Record<string, StepStatus> {
    return Object.fromEntries(this.state.steps.map((s) => [s.id, s.status]));
  }
}

/** A started run that has succeeded every step up to (not including) `upTo`, approving as needed. */
export function runUntil(scenario: Scenario, upTo: string | null): Scenario {
  if (scenario.state.steps.every((s) => s.status === 'pending')) scenario.start();
  for (const id of scenario.state.steps.map((s) => s.id)) {
    if (id === upTo) break;
    if (scenario.step(id).status === 'awaiting_approval') scenario.approve(id);
    const current = scenario.step(id);
    if (current.waitingForPerson) scenario.done(id);
    else if (current.status === 'running') scenario.succeed(id);
  }
  return scenario;
}

export function executes(effects: readonly Effect[]): Array<Extract<Effect, { type: 'execute' }>> {
  return effects.filter((e) => e.type === 'execute');
}

/** The (step, direction) pairs that were executed, in order: `['flag:undo', 'dns:do']`. */
export function executed(effects: readonly Effect[]): string[] {
  return executes(effects).map((e) => `${e.stepId}:${e.direction}`);
}

export function timeline(effects: readonly Effect[]): TimelineEntry[] {
  return effects.flatMap((e) => (e.type === 'timeline' ? [e.entry] : []));
}

/** Timeline entry types, with the step when there is one: `['run_started', 'step_started:flag']`. */
export function timelineTypes(effects: readonly Effect[]): string[] {
  return timeline(effects).map((t) => (t.stepId ? `${t.type}:${t.stepId}` : t.type));
}

/** The refusals among the effects, their words rendered as Slack shows them (mentions as `<@U…>`). */
export function refusals(
  effects: readonly Effect[],
): Array<{ type: 'refuse'; user: string; message: string }> {
  return effects.flatMap((e) =>
    e.type === 'refuse' ? [{ type: 'refuse', user: e.user, message: mrkdwn(e.message) }] : [],
  );
}

/** Asserts the decision is a refusal to `user` that changed nothing: same state, a refuse effect. */
export function expectRefused(
  decision: Decision,
  before: RunState,
  user: string,
  message: RegExp,
  timelineEntries: TimelineType[] = [],
): void {
  expect(decision.state).toEqual(before);
  expect(decision.effects.filter((e) => e.type !== 'timeline' && e.type !== 'refuse')).toEqual([]);
  expect(timeline(decision.effects).map((t) => t.type)).toEqual(timelineEntries);
  const refused = refusals(decision.effects);
  expect(refused).toHaveLength(1);
  expect(refused[0]!.user).toBe(user);
  expect(refused[0]!.message).toMatch(message);
}

/** An execute effect, as the engine should emit it. */
export const execute = (
  stepId: string,
  attempt: number,
  direction: Direction,
  notBefore: number,
): Effect => ({
  type: 'execute',
  stepId,
  attempt,
  direction,
  notBefore,
});
