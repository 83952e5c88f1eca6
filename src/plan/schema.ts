import { z } from 'zod';
import { windowsSchema } from './windows.ts';
import { formatDuration } from '../duration.ts';

// Plan files (docs/plans.md). Every object is strict: an unknown key is an error that the
// loader reports as file:line:column with the key's path.

const durationPattern = /^(\d+)(ms|s|m|h)$/;
/** "30m" -> 1_800_000. Plans write durations the way people say them. */
export function parseDuration(text: string): number {
  const match = durationPattern.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}
export const duration = z
  .string()
  .regex(durationPattern, 'expected a duration such as "90s", "30m" or "1h"')
  .transform(parseDuration);

// Short enough for Slack: ids go into block ids (255) and confirm titles (100) with other text.
const stepId = z
  .string()
  .max(64, 'expected at most 64 characters')
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lowercase letters, digits and dashes');
const onOff = z.enum(['on', 'off']);
const slackUser = z.string().regex(/^[UW][A-Z0-9]+$/, 'expected a Slack user id such as U01ALICE');
const slackGroup = z.string().regex(/^S[A-Z0-9]+$/, 'expected a Slack user group id such as S0PLATFORM');
const whereChannelIds = "in Slack, the channel's details show it";
/**
 * A public (C…) or private (G…) channel id. Slack takes a `#name` for posting, but buttons come
 * back with the id, so a plan naming the channel would refuse every click as "another channel".
 */
const slackChannel = z.string().superRefine((value, ctx) => {
  if (/^[CG][A-Z0-9]{2,}$/.test(value) || value.includes('${')) return; // ${…}: reported by the loader
  const shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  const mention = /^<#([CG][A-Z0-9]{2,})(?:\|[^>]*)?>$/.exec(value)?.[1];
  ctx.addIssue({
    code: 'custom',
    message: value.startsWith('#')
      ? `${shown} is a channel name; use the channel id, e.g. C0123ABCD: ${whereChannelIds}`
      : mention
        ? `${shown} is a channel mention; use the id alone: ${mention}`
        : `expected a channel id such as C0123ABCD (C or G, then capital letters and digits; got ${shown}): ${whereChannelIds}`,
  });
});

/** Redis connection options shared by every Redis-backed provider. */
const redisUrl = {
  url: z.string().min(1),
  /** Heroku Redis serves TLS with self-signed certificates. */
  tls_insecure: z.boolean().optional(),
};

export const httpToggleProvider = z.strictObject({
  type: z.literal('http'),
  url: z.string().min(1),
  token: z.string().optional(),
  timeout: duration.optional(),
});
export const redisToggleProvider = z.strictObject({
  type: z.literal('redis'),
  ...redisUrl,
  key: z.string().min(1),
  value: z.string().default('1'),
});
export const herokuMaintenanceProvider = z.strictObject({
  type: z.literal('heroku'),
  app: z.string().min(1),
});
export const sidekiqCronProvider = z.strictObject({
  type: z.literal('sidekiq-cron'),
  ...redisUrl,
  jobs: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]),
  namespace: z.string().optional(),
});
export const herokuFormationProvider = z.strictObject({
  type: z.literal('heroku-formation'),
  app: z.string().min(1),
  process_types: z.array(z.string().min(1)).min(1),
});
export const kubernetesCronProvider = z.strictObject({
  type: z.literal('kubernetes'),
  namespace: z.string().min(1),
  cronjobs: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]),
  context: z.string().optional(),
});
export const sidekiqProvider = z.strictObject({
  type: z.literal('sidekiq'),
  ...redisUrl,
  queues: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]).default('all'),
  /** redis-namespace prefix used by Sidekiq <= 6 apps, without the trailing colon. */
  namespace: z.string().optional(),
});
export const route53Provider = z.strictObject({
  type: z.literal('route53'),
  hosted_zone_id: z.string().min(1),
  record: z.string().min(1),
  record_type: z.enum(['CNAME', 'A', 'AAAA', 'TXT']).default('CNAME'),
  value: z.string().min(1),
  ttl: z.number().int().positive().max(172_800),
  max_ttl: z.number().int().positive().default(300),
  verify: z
    .strictObject({ resolvers: z.array(z.string().min(1)).min(1), timeout: duration.optional() })
    .optional(),
});

export const httpCheck = z.strictObject({
  url: z.string().min(1),
  expect_status: z.number().int().default(200),
  body_contains: z.string().optional(),
  max_latency_ms: z.number().positive().optional(),
  samples: z.number().int().positive().max(1000).default(1),
  timeout: duration.optional(),
});
export const latencyCheck = z.strictObject({
  url: z.string().min(1),
  samples: z.number().int().positive().max(10_000).default(10),
  max_p95_ms: z.number().positive().optional(),
  tls_insecure: z.boolean().optional(),
});
export const check = z.union([
  z.strictObject({ http: httpCheck }),
  z.strictObject({ postgres: latencyCheck }),
  z.strictObject({ redis: latencyCheck }),
]);

/** Instant queries against a Prometheus HTTP API, each with the limits its value must stay within. */
export const prometheusWatch = z.strictObject({
  url: z.string().min(1),
  token: z.string().optional(),
  timeout: duration.optional(),
  queries: z
    .array(
      z.strictObject({
        name: z
          .string()
          .regex(/^[a-z][a-z0-9_]*$/, 'expected a name in lowercase letters, digits and underscores'),
        query: z.string().min(1),
        max: z.number().optional(),
        min: z.number().optional(),
      }),
    )
    .min(1),
});

/** What a watch step's keys say together that no single key can: each problem at the key to edit. */
function watchProblems(watch: {
  for: number;
  every: number;
  summary_every: number;
  timeout?: number | undefined;
  checks?: unknown[] | undefined;
  prometheus?: { queries: Array<{ name: string }> } | undefined;
  thresholds?: { error_rate?: number | undefined } | undefined;
}): Array<{ path: Array<string | number>; message: string }> {
  const problems: Array<{ path: Array<string | number>; message: string }> = [];
  const say = (path: Array<string | number>, message: string) => problems.push({ path, message });
  if (!watch.checks && !watch.prometheus)
    say([], 'a watch needs something to sample: `checks`, `prometheus` queries, or both');
  if (watch.for <= 0) say(['for'], 'expected a duration above zero, such as "10m"');
  if (watch.every <= 0) say(['every'], 'expected a duration above zero, such as "15s"');
  else if (watch.every > watch.for)
    say(
      ['every'],
      `expected at most \`for\` (${formatDuration(watch.for)}): the watch would take one sample`,
    );
  if (watch.summary_every <= 0) say(['summary_every'], 'expected a duration above zero, such as "1m"');
  if (watch.timeout !== undefined && watch.timeout <= watch.for)
    say(
      ['timeout'],
      `expected longer than \`for\` (${formatDuration(watch.for)}), or no timeout: Ferry then allows \`for\` and 5 minutes`,
    );
  const rate = watch.thresholds?.error_rate;
  if (rate !== undefined && rate > 1)
    say(['thresholds', 'error_rate'], `expected a share from 0 to 1, where 0.01 is 1% (got ${rate})`);
  if (watch.thresholds && !watch.checks)
    say(
      ['thresholds'],
      'thresholds judge the samples of `checks`, and this watch has none: limit Prometheus queries with their own `max` and `min`',
    );
  const names = (watch.prometheus?.queries ?? []).map((q) => q.name);
  for (const [index, name] of names.entries())
    if (names.indexOf(name) !== index)
      say(
        ['prometheus', 'queries', index, 'name'],
        `"${name}" names an earlier query too: names must differ`,
      );
  return problems;
}

export const envDiffSource = z.strictObject({ type: z.literal('heroku'), app: z.string().min(1) });
export const envDiffTarget = z.union([
  z.strictObject({ type: z.literal('file'), path: z.string().min(1) }),
  z.strictObject({
    type: z.literal('qovery'),
    application_id: z.string().min(1),
    token: z.string().min(1),
    url: z.string().optional(),
  }),
]);

/** Distinct approvers a step needs: more than a handful would never gather at 2 a.m. */
const approvalCount = z
  .number({ error: 'expected a whole number of approvers, 1 to 5' })
  .int('expected a whole number of approvers, 1 to 5')
  .min(1, 'expected a whole number of approvers, 1 to 5')
  .max(5, 'expected a whole number of approvers, 1 to 5');

const common = {
  id: stepId,
  description: z.string().optional(),
  /** required: a person approves before the step runs. */
  approval: z.enum(['required', 'none']).optional(),
  /** How many distinct people must approve it (M of N); overrides the environment's `approvals`. */
  approvals: approvalCount.optional(),
  timeout: duration.optional(),
  /** The point of no return: once the step ran, the run can no longer be rolled back. */
  irreversible: z.boolean().optional(),
  /** What to do instead of rolling back once an irreversible step ran; shown where Roll back was. */
  forward_fix: z.string().min(1).optional(),
};

/** What turns maintenance mode or a flag on and off: the two kinds share their providers. */
const toggleProvider = z.discriminatedUnion('type', [
  httpToggleProvider,
  redisToggleProvider,
  herokuMaintenanceProvider,
]);

/** Where a DNS cutover is made. A new DNS provider joins this union, and `adapters/registry.ts`. */
const dnsProvider = z.discriminatedUnion('type', [route53Provider]);

export const stepSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...common, kind: z.literal('maintenance'), action: onOff, provider: toggleProvider }),
  z.strictObject({ ...common, kind: z.literal('flag'), action: onOff, provider: toggleProvider }),
  z.strictObject({
    ...common,
    kind: z.literal('crons'),
    action: z.enum(['disable', 'enable']),
    provider: z.discriminatedUnion('type', [
      sidekiqCronProvider,
      herokuFormationProvider,
      kubernetesCronProvider,
    ]),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('jobs'),
    action: z.enum(['pause', 'resume']),
    provider: z.discriminatedUnion('type', [herokuFormationProvider, sidekiqProvider]),
  }),
  z.strictObject({ ...common, kind: z.literal('dns'), provider: dnsProvider }),
  z.strictObject({
    ...common,
    kind: z.literal('drain'),
    provider: sidekiqProvider,
    /** How long "drained" must hold; at least one Sidekiq heartbeat (10 s). */
    settle: duration.optional(),
  }),
  z.strictObject({ ...common, kind: z.literal('check'), checks: z.array(check).min(1) }),
  z.strictObject({
    ...common,
    kind: z.literal('env-diff'),
    source: envDiffSource,
    target: envDiffTarget,
    rename: z.record(z.string(), z.string()).optional(),
    ignore: z.array(z.string()).optional(),
    fail_on_missing: z.boolean().default(true),
  }),
  z.strictObject({ ...common, kind: z.literal('manual'), instructions: z.string().min(1) }),
  z
    .strictObject({
      ...common,
      kind: z.literal('watch'),
      /** How long to observe. */
      for: duration,
      /** How often to sample. */
      every: duration.default(15_000),
      /** How often the run's thread gets a summary of the samples so far (the live line shows each sample). */
      summary_every: duration.default(60_000),
      /** The same checks as `kind: check`, each sampled once an interval. */
      checks: z.array(check).min(1).optional(),
      prometheus: prometheusWatch.optional(),
      /** Limits over the samples so far: the share of failed check samples, and their p95 latency. */
      thresholds: z
        .strictObject({
          error_rate: z.number().min(0).optional(),
          p95_ms: z.number().positive().optional(),
        })
        .optional(),
      /** Breaching samples tolerated; one more fails the watch (as Argo Rollouts' failureLimit). */
      failure_limit: z.number().int().min(0).default(0),
    })
    .superRefine((watch, ctx) => {
      for (const problem of watchProblems(watch))
        ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
    }),
]);

/** Service and environment names, as typed in `/migrate start billing production`. */
const nameRule = /^[a-z0-9][a-z0-9-_]*$/;
const nameMessage = 'expected lowercase letters, digits, dashes and underscores';

export const environmentSchema = z.strictObject({
  /** Steps that need approval need someone other than the starter. Default: true for "production". */
  four_eyes: z.boolean().optional(),
  /** Distinct approvers each approval-gated step needs (M of N). Default 1. */
  approvals: approvalCount.optional(),
  /** How long an approval request stays valid; overrides the plan's. */
  approval_expires_after: duration.optional(),
  /** How long an approval or a Done waits before one reminder; overrides the plan's. */
  approval_reminder: duration.optional(),
  /** Another environment whose latest run must have succeeded at least `soak` ago, with no open incident. */
  requires: z
    .strictObject({ environment: z.string().regex(nameRule, nameMessage), soak: duration })
    .optional(),
  channel: slackChannel.optional(),
  /** When a run may start: allowed weekly windows and blackouts (plan/windows.ts). */
  windows: windowsSchema.optional(),
  steps: z.array(stepSchema).min(1),
});

export const planSchema = z.strictObject({
  service: z.string().regex(nameRule, nameMessage),
  channel: slackChannel.optional(),
  starters: z.array(slackUser).optional(),
  /** How long an approval request stays valid before it must be asked again. Default 30m. */
  approval_expires_after: duration.optional(),
  /** How long an approval, or a manual step's Done, waits before one reminder. Default 10m. */
  approval_reminder: duration.optional(),
  /** Whether a rollback locks the service and environment, naming the run. Default true. */
  lock_after_rollback: z.boolean().optional(),
  /** How old a lock grows before it reminds its owner in the channel. Default 24h. */
  lock_reminder: duration.optional(),
  approvers: z
    .strictObject({ users: z.array(slackUser).default([]), usergroups: z.array(slackGroup).default([]) })
    .default({ users: [], usergroups: [] }),
  environments: z.record(z.string().regex(nameRule, nameMessage), environmentSchema),
});

export type Plan = z.infer<typeof planSchema>;
export type PlanEnvironment = z.infer<typeof environmentSchema>;
export type StepSpec = z.infer<typeof stepSchema>;
export type StepKind = StepSpec['kind'];
export type Check = z.infer<typeof check>;
export type Route53Provider = z.infer<typeof route53Provider>;
export type SidekiqProvider = z.infer<typeof sidekiqProvider>;
export type SidekiqCronProvider = z.infer<typeof sidekiqCronProvider>;
export type HerokuFormationProvider = z.infer<typeof herokuFormationProvider>;
export type KubernetesCronProvider = z.infer<typeof kubernetesCronProvider>;
export type HttpToggleProvider = z.infer<typeof httpToggleProvider>;
export type RedisToggleProvider = z.infer<typeof redisToggleProvider>;
export type HerokuMaintenanceProvider = z.infer<typeof herokuMaintenanceProvider>;
