import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
  type ResourceRecordSet,
  type Route53ClientConfig,
  type RRType,
} from '@aws-sdk/client-route-53';
import type { StepSpec } from '../plan/schema.ts';
import type { AdapterEnv, StepContext, StepHandler, StepResult } from './types.ts';
import { formatDuration } from '../duration.ts';
import { StepError } from '../errors.ts';
import { redactText } from '../redact.ts';
import { withRetry } from './retry.ts';
import { waitForResolvers } from './dns-verify.ts';

// DNS cutover on Route 53: replace one record, wait for INSYNC. User documentation:
// docs/adapters/route53.md.
//
// Every change is a compare-and-set: one batch that DELETEs the record exactly as Ferry last read it
// and CREATEs the new one. Route 53 applies a batch all or nothing and refuses a DELETE whose values
// differ (and a CREATE of a record that exists), so a change someone made after Ferry's read is
// never overwritten: the step fails and shows the record as it is now. UPSERT would overwrite it.
//
// Retries: the SDK's own retry is switched off (maxAttempts 1) and every call goes through withRetry
// instead, so exactly one layer retries (no 3 x 5 multiplication), waits are abortable with the run, and
// each retry is logged. Throttling, PriorRequestNotComplete, 5xx, timeouts and connection errors are
// retried; everything else fails the step at once with a message naming the zone and record.

export type DnsStep = Extract<StepSpec, { kind: 'dns' }>;

export interface DnsAliasTarget {
  hostedZoneId: string;
  dnsName: string;
  evaluateTargetHealth: boolean;
}

/** A record set as Route 53 holds it. `name` as Route 53 returns it (FQDN, trailing dot). */
export interface DnsRecord {
  name: string;
  type: string;
  /** Absent for alias records, which take the target's TTL. */
  ttl?: number;
  values: string[];
  aliasTarget?: DnsAliasTarget;
  /** Set for weighted, latency, failover... records, which this adapter refuses to change. */
  setIdentifier?: string;
}

/** What `capture` saves before the cutover, and `undo` restores exactly. */
export interface Route53Captured {
  existed: boolean;
  record?: DnsRecord;
}

export interface SubmittedChange {
  /** Without the `/change/` prefix. */
  id: string;
  status: string;
}

type CallContext = Pick<StepContext, 'signal' | 'log' | 'now' | 'sleep'>;

/** One record set going from `from` (exactly as Route 53 holds it, or null: none) to `to` (null: none). */
export interface RecordReplacement {
  from: DnsRecord | null;
  to: DnsRecord | null;
}

/** The three things Ferry needs from Route 53. */
export interface Route53Records {
  /** The record set with exactly this name and type, or null (ListResourceRecordSets seeks; this checks). */
  readRecord(zoneId: string, name: string, type: string, ctx: CallContext): Promise<DnsRecord | null>;
  /**
   * One batch: DELETE `from` as given, CREATE `to`. Route 53 refuses it (a StepError with reason
   * InvalidChangeBatch) when `from` is no longer exactly what it holds, or `to` already exists.
   */
  replaceRecord(
    zoneId: string,
    change: RecordReplacement,
    ctx: CallContext,
    comment?: string,
  ): Promise<SubmittedChange>;
  /** Polls GetChange every pollIntervalMs until INSYNC; throws a StepError at `deadline` (epoch ms). */
  waitInSync(
    change: SubmittedChange,
    options: { deadline: number; what: string; onPoll?: (poll: InSyncPoll) => Promise<void> },
    ctx: CallContext,
  ): Promise<InSyncPoll>;
}

export interface InSyncPoll {
  status: string;
  polls: number;
  elapsedMs: number;
}

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

/** 5 tries over ~7 s: Route 53 allows about 5 requests per second per account, shared by every tool. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 500, maxMs: 8_000 };
/** How long run and undo wait for INSYNC when the step has no `timeout`. */
export const DEFAULT_STEP_TIMEOUT_MS = 5 * 60_000;

export interface Route53HandlerOptions {
  /** Merged over the client settings built from AdapterEnv (tests pass static credentials here). */
  clientConfig?: Partial<Route53ClientConfig>;
  retry?: Partial<RetryPolicy>;
}

/**
 * A Route53Client with Ferry's settings: credentials from the SDK's chain (or `env.route53.credentials`),
 * `env.route53.endpoint` when set, region from env or the SDK's chain else us-east-1, the SDK's retries off
 * (see top of file), and a connection and request timeout of `env.httpTimeoutMs`.
 */
export function createRoute53Client(
  env: AdapterEnv,
  overrides: Partial<Route53ClientConfig> = {},
): Route53Client {
  return new Route53Client({
    region: env.route53.region ?? sdkRegionOrDefault,
    ...(env.route53.endpoint ? { endpoint: env.route53.endpoint } : {}),
    ...(env.route53.credentials ? { credentials: env.route53.credentials } : {}),
    maxAttempts: 1,
    requestHandler: { connectionTimeout: env.httpTimeoutMs, requestTimeout: env.httpTimeoutMs },
    ...overrides,
  });
}

let sdkRegion: Promise<string> | undefined;
/** Route 53 is global; the region only picks the partition. Use the SDK's own lookup, else us-east-1. */
function sdkRegionOrDefault(): Promise<string> {
  sdkRegion ??= new Route53Client({}).config.region().catch(() => 'us-east-1');
  return sdkRegion;
}

export function route53DnsHandler(
  env: AdapterEnv,
  options: Route53HandlerOptions = {},
): StepHandler<DnsStep, Route53Captured> {
  const client = createRoute53Client(env, options.clientConfig);
  const records = createRoute53Records(client, {
    httpTimeoutMs: env.httpTimeoutMs,
    pollIntervalMs: env.pollIntervalMs,
    retry: { ...DEFAULT_RETRY, ...options.retry },
  });

  /**
   * One read shared by everything an attempt does before it writes (blocker, describe, capture and the
   * decision in run or undo), or by a dry run: the record is read once, and what the step captured is
   * what the compare-and-set deletes. Should anyone change it in between, Route 53 refuses the batch.
   */
  function readOnce(step: DnsStep, ctx: StepContext): Promise<DnsRecord | null> {
    const p = step.provider;
    const key = `route53:${p.hosted_zone_id}:${normaliseName(p.record)}:${p.record_type}`;
    return ctx.remember(key, () => records.readRecord(p.hosted_zone_id, p.record, p.record_type, ctx));
  }

  /** A fresh read, after Route 53 refused a batch: the decision is made again from what is there now. */
  function readNow(step: DnsStep, ctx: StepContext): Promise<DnsRecord | null> {
    const p = step.provider;
    return records.readRecord(p.hosted_zone_id, p.record, p.record_type, ctx);
  }

  /**
   * Decides from the record as it is now, submits the batch `plan` calls for, and waits for INSYNC.
   * When Route 53 refuses the batch it reads once more and decides again, never submitting twice: a
   * record changed meanwhile fails the step showing it as it is now; a record still as expected
   * means the refusal had another cause, shown in Route 53's own words.
   */
  async function compareAndSet(
    step: DnsStep,
    ctx: StepContext,
    deadline: number,
    plan: (current: DnsRecord | null) => Plan,
  ): Promise<{ done: Extract<Plan, { kind: 'done' }> } | { submitted: Submitted }> {
    const p = step.provider;
    const what = `${displayName(p.record)} ${p.record_type}`;
    const first = plan(await readOnce(step, ctx));
    if (first.kind === 'done') return { done: first };
    if (first.kind === 'changed') throw first.error();
    await ctx.progress({ text: first.progress });
    let change: SubmittedChange;
    try {
      change = await records.replaceRecord(p.hosted_zone_id, first.change, ctx, first.comment);
    } catch (error) {
      if (!(error instanceof StepError) || error.reason !== 'InvalidChangeBatch') throw error;
      const again = plan(await readNow(step, ctx));
      if (again.kind === 'done') return { done: again };
      if (again.kind === 'changed') throw again.error(error);
      throw error;
    }
    ctx.log.info(
      { changeId: change.id, record: p.record, type: p.record_type, actions: actionsOf(first.change) },
      'route53 change submitted',
    );
    const synced = await records.waitInSync(change, { deadline, what, onPoll: reportPoll(ctx, change) }, ctx);
    return { submitted: { change, synced, summary: first.summary } };
  }

  return {
    async describe(step, ctx) {
      const p = step.provider;
      const desired = desiredRecord(step);
      const current = await readOnce(step, ctx);
      const from = current ? valuesText(current) : '(new record)';
      const ttl =
        current?.ttl !== undefined && current.ttl !== p.ttl
          ? `TTL ${current.ttl} -> ${p.ttl}`
          : `TTL ${p.ttl}`;
      const already = isDesired(current, step) ? ', already set' : '';
      const verify = p.verify ? `; then wait until ${p.verify.resolvers.length} resolvers see it` : '';
      return `${displayName(p.record)} ${p.record_type} ${from} -> ${valuesText(desired)} (${ttl}${already})${verify}`;
    },

    async blocker(step, ctx) {
      const p = step.provider;
      const current = await readOnce(step, ctx);
      if (!current) return null;
      const routing = routingPolicyProblem(current);
      if (routing) return routing;
      if (current.ttl === undefined || current.ttl <= p.max_ttl) return null;
      const lowerTo = Math.min(p.ttl, p.max_ttl);
      return (
        `${readableName(current.name)} has TTL ${current.ttl} s, above max_ttl ${p.max_ttl} s: ` +
        `lower the TTL to ${lowerTo} first and wait out the old TTL (${formatDuration(current.ttl * 1000)}) before the cutover`
      );
    },

    async capture(step, ctx) {
      const current = await readOnce(step, ctx);
      if (!current) return { existed: false };
      const routing = routingPolicyProblem(current);
      if (routing) throw new StepError(routing, { retryable: false, reason: 'RoutingPolicy' });
      return { existed: true, record: current };
    },

    async run(step, captured, ctx) {
      const p = step.provider;
      const deadline = ctx.now() + (step.timeout ?? DEFAULT_STEP_TIMEOUT_MS);
      const desired = desiredRecord(step);
      const what = `${displayName(p.record)} ${p.record_type}`;
      const before = captured.existed ? (captured.record ?? null) : null;
      // Read fresh: after a crash between the change and its recorded outcome, run is called again
      // and must find its own change rather than make it twice, or someone else's and keep it.
      const outcome = await compareAndSet(step, ctx, deadline, (current) => {
        if (isDesired(current, step)) {
          return {
            kind: 'done',
            summary: `${what} already points at ${recordText(current)}: no change submitted`,
          };
        }
        if (!sameRecord(current, before)) {
          return {
            kind: 'changed',
            error: (cause) =>
              new StepError(
                `${what} changed since Ferry read it: Ferry captured ${recordText(before)}, it is now ${recordText(current)}. ` +
                  `Ferry changed nothing. Find out who changed it and why; to cut over anyway, ` +
                  (before
                    ? `set it back to ${recordText(before)} in hosted zone ${p.hosted_zone_id} and Retry`
                    : `delete it in hosted zone ${p.hosted_zone_id} and Retry`) +
                  `, or Skip this step to keep it as it is.`,
                { retryable: false, reason: 'ChangedSinceRead', cause },
              ),
          };
        }
        return {
          kind: 'submit',
          change: { from: before, to: desired },
          comment: changeComment(ctx, 'cutover'),
          progress: `Setting ${what} to ${recordText(desired)}`,
          summary: `${what} ${before ? valuesText(before) : '(new record)'} -> ${valuesText(desired)} (TTL ${p.ttl})`,
        };
      });
      const figures: Record<string, number | string> = {};
      let summary: string;
      if ('done' in outcome) {
        summary = outcome.done.summary;
      } else {
        const { change, synced } = outcome.submitted;
        summary = `${outcome.submitted.summary}, INSYNC after ${formatDuration(synced.elapsedMs)}`;
        figures.change_id = change.id;
        figures.insync_seconds = Math.round(synced.elapsedMs / 100) / 10;
        figures.polls = synced.polls;
      }
      if (p.verify) {
        const answers = await waitForResolvers(
          {
            name: p.record,
            type: p.record_type,
            expected: [expectedAnswer(p.record_type, p.value)],
            resolvers: p.verify.resolvers,
            timeoutMs: p.verify.timeout ?? Math.max(0, deadline - ctx.now()),
            pollIntervalMs: env.pollIntervalMs,
            queryTimeoutMs: env.httpTimeoutMs,
            hint:
              before?.ttl !== undefined
                ? `Route 53 is updated (INSYNC); resolvers may keep the old answer for up to its TTL (${formatDuration(before.ttl * 1000)}). `
                : 'Route 53 is updated (INSYNC); resolvers may still hold a cached answer. ',
          },
          ctx,
        );
        summary += `; ${answers.length} of ${answers.length} resolvers see it`;
        figures.resolvers = answers.length;
      }
      return Object.keys(figures).length > 0 ? { summary, figures } : { summary };
    },

    async undo(step, captured, ctx) {
      const p = step.provider;
      const deadline = ctx.now() + (step.timeout ?? DEFAULT_STEP_TIMEOUT_MS);
      const what = `${displayName(p.record)} ${p.record_type}`;
      const before = captured.existed ? (captured.record ?? null) : null;
      const desired = desiredRecord(step);
      const outcome = await compareAndSet(step, ctx, deadline, (current) => {
        if (sameRecord(current, before)) {
          return {
            kind: 'done',
            summary: before
              ? `${what} is already ${recordText(before)}, as before the cutover: nothing to restore`
              : `${what} does not exist, as before the cutover: nothing to delete`,
          };
        }
        if (!current || !isDesired(current, step)) {
          return {
            kind: 'changed',
            error: (cause) =>
              new StepError(
                before
                  ? `${what} changed since the cutover: the cutover set ${recordText(desired)}, it is now ${recordText(current)}. ` +
                      `Ferry did not restore ${recordText(before)}, so as not to overwrite that change. Find out who changed it and why; ` +
                      `to restore it anyway, set it in hosted zone ${p.hosted_zone_id} by hand and Skip this undo, ` +
                      `or set it back to ${recordText(desired)} and Retry.`
                  : `${what} did not exist before the cutover, and it now points at ${recordText(current)}, not ${recordText(desired)} ` +
                      `as the cutover set it: someone changed it since. Ferry leaves it alone; delete it in hosted zone ` +
                      `${p.hosted_zone_id} if it should go, then Skip this undo.`,
                { retryable: false, reason: 'ChangedSinceCutover', cause },
              ),
          };
        }
        // DELETE the record exactly as read just now: Route 53 refuses it if it changes before the write.
        return before
          ? {
              kind: 'submit',
              change: { from: current, to: before },
              comment: changeComment(ctx, 'rollback'),
              progress: `Restoring ${what} to ${recordText(before)}`,
              summary: `restored ${what} ${recordText(before)}`,
            }
          : {
              kind: 'submit',
              change: { from: current, to: null },
              comment: changeComment(ctx, 'rollback'),
              progress: `Deleting ${what}, which the cutover created`,
              summary: `deleted ${what} (${valuesText(current)}), which the cutover created`,
            };
      });
      if ('done' in outcome) return { summary: outcome.done.summary };
      const { change, synced, summary } = outcome.submitted;
      return {
        summary: `${summary}, INSYNC after ${formatDuration(synced.elapsedMs)}`,
        figures: { change_id: change.id, polls: synced.polls },
      } satisfies StepResult;
    },
  };
}

/** What run or undo does with the record as it is now. */
type Plan =
  | { kind: 'done'; summary: string }
  | { kind: 'changed'; error: (cause?: unknown) => StepError }
  | { kind: 'submit'; change: RecordReplacement; comment: string; progress: string; summary: string };

interface Submitted {
  change: SubmittedChange;
  synced: InSyncPoll;
  summary: string;
}

/** The honest little interface over the SDK, with timeouts, retries and Ferry's errors. */
export function createRoute53Records(
  client: Route53Client,
  settings: { httpTimeoutMs: number; pollIntervalMs: number; retry: RetryPolicy },
): Route53Records {
  async function send<T>(
    operation: Operation,
    target: Target,
    ctx: CallContext,
    call: (signal: AbortSignal) => Promise<T>,
  ) {
    let attempts = 0;
    try {
      return await withRetry(
        async () => {
          attempts++;
          const timeout = AbortSignal.timeout(settings.httpTimeoutMs);
          try {
            return await call(AbortSignal.any([ctx.signal, timeout]));
          } catch (error) {
            if (timeout.aborted && !ctx.signal.aborted) throw new CallTimeout(settings.httpTimeoutMs, error);
            throw error;
          }
        },
        {
          ...settings.retry,
          signal: ctx.signal,
          isRetryable: isTransient,
          sleep: (ms) => ctx.sleep(ms),
          onRetry: ({ attempt, delayMs, error }) => {
            ctx.log.warn(
              {
                operation,
                ...target,
                attempt,
                delayMs,
                error: errorName(error),
                requestId: requestIdOf(error),
              },
              'route53 call failed, retrying',
            );
          },
        },
      );
    } catch (error) {
      if (ctx.signal.aborted || error instanceof StepError) throw error;
      ctx.log.error(
        {
          operation,
          ...target,
          attempts,
          error: errorName(error),
          requestId: requestIdOf(error),
          message: errorMessage(error),
        },
        'route53 call failed',
      );
      throw toStepError(error, operation, target, attempts);
    }
  }

  async function replaceRecord(
    zoneId: string,
    replacement: RecordReplacement,
    ctx: CallContext,
    comment: string | undefined,
  ): Promise<SubmittedChange> {
    const changes: Change[] = [];
    if (replacement.from)
      changes.push({ Action: 'DELETE', ResourceRecordSet: toResourceRecordSet(replacement.from) });
    if (replacement.to)
      changes.push({ Action: 'CREATE', ResourceRecordSet: toResourceRecordSet(replacement.to) });
    const named = replacement.to ?? replacement.from;
    if (!named) throw new Error('replaceRecord needs a record to delete or to create');
    const target = { zoneId, record: named.name, type: named.type };
    const out = await send('ChangeResourceRecordSets', target, ctx, (abortSignal) =>
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { ...(comment ? { Comment: comment.slice(0, 256) } : {}), Changes: changes },
        }),
        { abortSignal },
      ),
    );
    const info = out.ChangeInfo;
    if (!info?.Id)
      throw new StepError(
        `Route 53 accepted the change to ${displayName(named.name)} ${named.type} but returned no change id`,
        { retryable: true },
      );
    return { id: info.Id.replace(/^\/?change\//, ''), status: info.Status ?? 'PENDING' };
  }

  return {
    async readRecord(zoneId, name, type, ctx) {
      const out = await send('ListResourceRecordSets', { zoneId, record: name, type }, ctx, (abortSignal) =>
        client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            StartRecordName: name,
            StartRecordType: type as RRType,
            MaxItems: 1,
          }),
          { abortSignal },
        ),
      );
      const found = out.ResourceRecordSets?.[0];
      // A seek, not a filter: when the record is missing Route 53 returns the next one in its order.
      if (!found?.Name || !sameName(found.Name, name) || found.Type !== type) return null;
      return fromResourceRecordSet(found);
    },

    replaceRecord: (zoneId, replacement, ctx, comment) => replaceRecord(zoneId, replacement, ctx, comment),

    async waitInSync(submitted, options, ctx) {
      const started = ctx.now();
      let status = submitted.status;
      let polls = 0;
      for (;;) {
        if (status === 'INSYNC') return { status, polls, elapsedMs: ctx.now() - started };
        const remaining = options.deadline - ctx.now();
        if (remaining <= 0) {
          throw new StepError(
            `Route 53 change ${submitted.id} for ${options.what} is still ${status} after ${formatDuration(ctx.now() - started)} ` +
              `(Route 53 usually applies a change within 60 s). The change is accepted and will apply; ` +
              `retry the step to wait again, or roll back.`,
            { retryable: false, reason: 'InSyncTimeout' },
          );
        }
        await ctx.sleep(Math.min(settings.pollIntervalMs, remaining));
        const out = await send('GetChange', { changeId: submitted.id }, ctx, (abortSignal) =>
          client.send(new GetChangeCommand({ Id: submitted.id }), { abortSignal }),
        );
        status = out.ChangeInfo?.Status ?? 'PENDING';
        polls++;
        await options.onPoll?.({ status, polls, elapsedMs: ctx.now() - started });
      }
    },
  };
}

// ---- records ----

function desiredRecord(step: DnsStep): DnsRecord {
  const p = step.provider;
  return { name: p.record, type: p.record_type, ttl: p.ttl, values: [recordValue(p.record_type, p.value)] };
}

/** Route 53 wants TXT values quoted, in strings of at most 255 characters. Plans may write them bare. */
function recordValue(type: string, value: string): string {
  if (type !== 'TXT' || /^".*"$/s.test(value)) return value;
  const chunks = value.match(/[\s\S]{1,255}/g) ?? [''];
  return chunks.map((c) => `"${c.replace(/(["\\])/g, '\\$1')}"`).join(' ');
}

/** What a resolver answers for the plan's value: TXT strings unquoted and joined. */
function expectedAnswer(type: string, value: string): string {
  if (type !== 'TXT' || !/^".*"$/s.test(value)) return value;
  return [...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)]
    .map((m) => (m[1] ?? '').replace(/\\(.)/g, '$1'))
    .join('');
}

function toResourceRecordSet(record: DnsRecord): ResourceRecordSet {
  const set: ResourceRecordSet = { Name: record.name, Type: record.type as RRType };
  if (record.aliasTarget) {
    set.AliasTarget = {
      HostedZoneId: record.aliasTarget.hostedZoneId,
      DNSName: record.aliasTarget.dnsName,
      EvaluateTargetHealth: record.aliasTarget.evaluateTargetHealth,
    };
  } else {
    set.TTL = record.ttl;
    set.ResourceRecords = record.values.map((Value) => ({ Value }));
  }
  return set;
}

function fromResourceRecordSet(set: ResourceRecordSet): DnsRecord {
  const record: DnsRecord = {
    name: set.Name ?? '',
    type: set.Type ?? '',
    values: (set.ResourceRecords ?? []).map((r) => r.Value ?? ''),
  };
  if (set.TTL !== undefined) record.ttl = set.TTL;
  if (set.AliasTarget) {
    record.aliasTarget = {
      hostedZoneId: set.AliasTarget.HostedZoneId ?? '',
      dnsName: set.AliasTarget.DNSName ?? '',
      evaluateTargetHealth: set.AliasTarget.EvaluateTargetHealth ?? false,
    };
  }
  if (set.SetIdentifier !== undefined) record.setIdentifier = set.SetIdentifier;
  return record;
}

function routingPolicyProblem(record: DnsRecord): string | null {
  if (record.setIdentifier === undefined) return null;
  return (
    `${readableName(record.name)} ${record.type} uses a routing policy (set identifier "${record.setIdentifier}"); ` +
    `Ferry changes simple records only. Do this cutover in Route 53 by hand (a manual step), or make it a simple record first.`
  );
}

/** Route 53 names: FQDN with a trailing dot, case-insensitive, `*` and other specials as `\NNN` octal. */
export function normaliseName(name: string): string {
  return name
    .replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    .toLowerCase()
    .replace(/\.$/, '');
}

function sameName(a: string, b: string): boolean {
  return normaliseName(a) === normaliseName(b);
}

/**
 * Exactly the same record set, as Route 53 compares a DELETE with what it holds: TTL, every value
 * (in any order), alias target, set identifier. Null is "no record".
 */
function sameRecord(a: DnsRecord | null, b: DnsRecord | null): boolean {
  if (!a || !b) return a === b;
  const values = (r: DnsRecord) => JSON.stringify([...r.values].sort());
  const alias = (r: DnsRecord) =>
    r.aliasTarget
      ? JSON.stringify([
          r.aliasTarget.hostedZoneId.replace(/^\/?hostedzone\//, ''),
          normaliseName(r.aliasTarget.dnsName),
          r.aliasTarget.evaluateTargetHealth,
        ])
      : '';
  return (
    sameName(a.name, b.name) &&
    a.type === b.type &&
    a.ttl === b.ttl &&
    a.setIdentifier === b.setIdentifier &&
    values(a) === values(b) &&
    alias(a) === alias(b)
  );
}

/** The record the plan asks for: its value (CNAME targets compared as names) and its TTL. */
function isDesired(current: DnsRecord | null, step: DnsStep): current is DnsRecord {
  if (!current || current.setIdentifier !== undefined) return false;
  return current.ttl === step.provider.ttl && sameValues(current, desiredRecord(step));
}

function sameValues(a: DnsRecord, b: DnsRecord): boolean {
  if (a.aliasTarget || b.aliasTarget) return false;
  const norm = (r: DnsRecord) =>
    r.values
      .map((v) => (r.type === 'CNAME' ? normaliseName(v) : v))
      .sort()
      .join('\n');
  return norm(a) === norm(b);
}

/** A record for people: its values and TTL, or "no record". */
function recordText(record: DnsRecord | null): string {
  if (!record) return 'no record';
  return record.ttl === undefined ? valuesText(record) : `${valuesText(record)} (TTL ${record.ttl})`;
}

function actionsOf(replacement: RecordReplacement): string {
  return [replacement.from ? 'DELETE' : '', replacement.to ? 'CREATE' : ''].filter(Boolean).join('+');
}

function valuesText(record: DnsRecord): string {
  if (record.aliasTarget) return `alias ${displayName(record.aliasTarget.dnsName)}`;
  return record.values.map((v) => (record.type === 'CNAME' ? displayName(v) : v)).join(', ');
}

/** For people: `\052` back to `*`, no trailing dot. */
function displayName(name: string): string {
  return readableName(name).replace(/\.$/, '');
}

function readableName(name: string): string {
  return name.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function changeComment(ctx: StepContext, what: string): string {
  return `Ferry run ${ctx.runId} step ${ctx.stepId} (${what})`;
}

function reportPoll(ctx: StepContext, change: SubmittedChange) {
  return (poll: InSyncPoll) =>
    ctx.progress({
      text: `Route 53 change ${change.id}: ${poll.status} after ${formatDuration(poll.elapsedMs)}`,
      figures: { change_id: change.id, status: poll.status, polls: poll.polls },
    });
}

// ---- errors ----

type Operation = 'ListResourceRecordSets' | 'ChangeResourceRecordSets' | 'GetChange';
interface Target {
  zoneId?: string;
  record?: string;
  type?: string;
  changeId?: string;
}

class CallTimeout extends Error {
  constructor(ms: number, cause: unknown) {
    super(`no answer within ${ms} ms`, { cause });
    this.name = 'TimeoutError';
  }
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
]);
const TRANSIENT = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  // Clock skew: the SDK corrects its clock offset from the failed response, so a retry can pass.
  'RequestTimeTooSkewed',
  'RequestExpired',
  'RequestInTheFuture',
]);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const CREDENTIALS = new Set([
  'CredentialsProviderError',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidAccessKeyId',
]);

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

function errorMessage(error: unknown): string {
  return redactText(error instanceof Error ? error.message : String(error));
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function requestIdOf(error: unknown): string | undefined {
  return (error as { $metadata?: { requestId?: string } } | undefined)?.$metadata?.requestId;
}

/** Worth another try: throttling, Route 53 busy with the zone, server errors, timeouts, network errors. */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.name;
  if (THROTTLING.has(name) || name === 'PriorRequestNotComplete' || TRANSIENT.has(name)) return true;
  const status = statusOf(error);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  const code = (error as { code?: string }).code;
  return code !== undefined && NETWORK_CODES.has(code);
}

function toStepError(error: unknown, operation: Operation, target: Target, attempts: number): StepError {
  const name = errorName(error);
  const raw = errorMessage(error);
  const requestId = requestIdOf(error);
  // The SDK sometimes loses Route 53's message (aws-sdk-js-v3 #3092): say so rather than show "UnknownError".
  const detail =
    raw && raw !== name && !/^UnknownError$/i.test(raw)
      ? raw
      : `Route 53 gave no detail${requestId ? `; request id ${requestId}` : ''}`;
  const zone = target.zoneId ? `hosted zone ${target.zoneId}` : 'Route 53';
  const record = target.record ? `${displayName(target.record)} ${target.type ?? ''}`.trim() : undefined;
  const on = record ? `${record} in ${zone}` : target.changeId ? `change ${target.changeId}` : zone;
  const options = { reason: name, cause: error };
  const tries = attempts > 1 ? ` (${attempts} attempts)` : '';

  if (THROTTLING.has(name)) {
    return new StepError(
      `Route 53 kept rate-limiting ${operation} for ${on}${tries}: ${name}: ${detail}. The account's Route 53 limit ` +
        `(about 5 requests per second) is shared with every other tool and the console; Ferry retries the step later.`,
      { ...options, retryable: true },
    );
  }
  if (name === 'PriorRequestNotComplete') {
    return new StepError(
      `Route 53 was still processing an earlier change to ${zone}${tries} (PriorRequestNotComplete): ${detail}. Ferry retries the step later.`,
      { ...options, retryable: true },
    );
  }
  if (isTransient(error)) {
    return new StepError(
      `Route 53 did not complete ${operation} for ${on}${tries}: ${name}: ${detail}. ` +
        `Check that Ferry can reach Route 53 (network, proxy, AWS_ENDPOINT_URL_ROUTE_53); Ferry retries the step later.`,
      { ...options, retryable: true },
    );
  }
  switch (name) {
    case 'InvalidChangeBatch':
      return new StepError(
        `Route 53 refused the change to ${on} (InvalidChangeBatch): ${detail}. Check record, record_type and value in the plan against what is in the zone.`,
        { ...options, retryable: false },
      );
    case 'NoSuchHostedZone':
      return new StepError(
        `Route 53 has no hosted zone ${target.zoneId ?? ''} (NoSuchHostedZone): ${detail}. Check provider.hosted_zone_id in the plan ` +
          `(an id such as Z0123456789ABC, not the domain name) and that Ferry's AWS credentials belong to the account that owns the zone.`,
        { ...options, retryable: false },
      );
    case 'InvalidInput':
      return new StepError(
        `Route 53 rejected ${operation} for ${on} as invalid input: ${detail}. Check the record name, record_type and value in the plan.`,
        { ...options, retryable: false },
      );
    case 'NoSuchChange':
      return new StepError(
        `Route 53 does not know change ${target.changeId ?? ''} (NoSuchChange): ${detail}. Retry the step: it submits the change again.`,
        { ...options, retryable: false },
      );
    case 'AccessDenied':
    case 'AccessDeniedException': {
      const resource =
        operation === 'GetChange'
          ? 'arn:aws:route53:::change/*'
          : `arn:aws:route53:::hostedzone/${target.zoneId ?? ''}`;
      return new StepError(
        `AWS denied route53:${operation} on ${resource} (${name}): ${detail}. Grant it to the IAM identity Ferry runs as (docs/adapters/route53.md, "IAM").`,
        { ...options, retryable: false },
      );
    }
    default:
      if (CREDENTIALS.has(name)) {
        return new StepError(
          `AWS did not accept Ferry's credentials for Route 53 ${operation} on ${on} (${name}): ${detail}. ` +
            `Check the credentials Ferry runs with (environment, profile or role).`,
          { ...options, retryable: false },
        );
      }
      return new StepError(`Route 53 ${operation} failed for ${on}: ${name}: ${detail}.`, {
        ...options,
        retryable: false,
      });
  }
}
