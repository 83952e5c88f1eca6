import { formatDuration } from '../duration.ts';
import { Resolver } from 'node:dns/promises';
import type { StepContext } from './types.ts';
import { StepError } from '../errors.ts';

// After Route 53 reports INSYNC, the authoritative servers answer with the new value, but recursive
// resolvers (the ones people and other services use) keep the old answer until its TTL runs out. This
// asks chosen resolvers directly until they all give the new answer, or the time is up.

export type VerifiableType = 'CNAME' | 'A' | 'AAAA' | 'TXT';

export interface ResolverCheck {
  /** Name to resolve, with or without the trailing dot. */
  name: string;
  type: VerifiableType;
  /** Expected answers, as a resolver gives them (TXT: the text without quotes, chunks joined). */
  expected: string[];
  /** Servers as `ip`, `ip:port`, `[ipv6]` or `[ipv6]:port`. */
  resolvers: string[];
  timeoutMs: number;
  pollIntervalMs: number;
  /** Time one resolver gets to answer one query. */
  queryTimeoutMs: number;
  /** Added to the failure message, e.g. how long the old record may stay cached. */
  hint?: string;
}

export interface ResolverAnswer {
  resolver: string;
  /** Normalised answers; empty when the resolver says the record does not exist. */
  values: string[];
  /** Set when the resolver gave no usable answer (timeout, refused, SERVFAIL). */
  error?: string;
  agrees: boolean;
}

type VerifyContext = Pick<StepContext, 'signal' | 'now' | 'sleep' | 'progress'>;

/**
 * Polls every resolver each `pollIntervalMs` until all of them answer exactly `expected` (as a set),
 * reporting "k of n resolvers see the new value" through `ctx.progress`. Throws a non-retryable
 * StepError at `timeoutMs` naming each resolver that still disagrees and what it answered.
 */
export async function waitForResolvers(check: ResolverCheck, ctx: VerifyContext): Promise<ResolverAnswer[]> {
  for (const server of check.resolvers) validateServer(server);
  const deadline = ctx.now() + check.timeoutMs;
  const expected = normaliseAll(check.type, check.expected);
  const shown = `${displayName(check.name)} ${check.type} ${expected.join(', ')}`;
  for (let round = 1; ; round++) {
    const answers = await Promise.all(
      check.resolvers.map((server) => askResolver(server, check, expected, ctx.signal)),
    );
    const agreeing = answers.filter((a) => a.agrees).length;
    await ctx.progress({
      text: `${agreeing} of ${answers.length} resolvers see the new value (${shown})`,
      fraction: agreeing / answers.length,
      figures: { resolvers_agreeing: agreeing, resolvers: answers.length, rounds: round },
    });
    if (agreeing === answers.length) return answers;
    const remaining = deadline - ctx.now();
    if (remaining <= 0) {
      const stale = answers.filter((a) => !a.agrees).map(describeAnswer);
      throw new StepError(
        `After ${formatDuration(check.timeoutMs)}, ${stale.length} of ${answers.length} resolvers still do not see ${shown}: ${stale.join('; ')}. ` +
          `${check.hint ?? ''}Retry the step to check again, or roll back.`.trim(),
        { retryable: false, reason: 'ResolverTimeout' },
      );
    }
    await ctx.sleep(Math.min(check.pollIntervalMs, remaining));
  }
}

/** One question to one resolver, answered with what it sees. Never throws for DNS errors. */
async function askResolver(
  server: string,
  check: ResolverCheck,
  expected: string[],
  signal: AbortSignal,
): Promise<ResolverAnswer> {
  // A new Resolver per question: nothing is cached between rounds on Ferry's side.
  const resolver = new Resolver({ timeout: check.queryTimeoutMs, tries: 1 });
  resolver.setServers([server]);
  const cancel = () => resolver.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    const values = normaliseAll(check.type, await query(resolver, check.name, check.type));
    return { resolver: server, values, agrees: sameSet(values, expected) };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENODATA' || code === 'ENOTFOUND')
      return { resolver: server, values: [], agrees: expected.length === 0 };
    signal.throwIfAborted();
    return { resolver: server, values: [], error: code ?? String(error), agrees: false };
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}

async function query(resolver: Resolver, name: string, type: VerifiableType): Promise<string[]> {
  const host = displayName(name);
  switch (type) {
    case 'CNAME':
      return resolver.resolveCname(host);
    case 'A':
      return resolver.resolve4(host);
    case 'AAAA':
      return resolver.resolve6(host);
    case 'TXT':
      return (await resolver.resolveTxt(host)).map((chunks) => chunks.join(''));
  }
}

function validateServer(server: string): void {
  try {
    new Resolver().setServers([server]);
  } catch {
    throw new StepError(
      `verify.resolvers: "${server}" is not a resolver address; write an IP such as 1.1.1.1, or ip:port such as 10.0.0.2:53 ([::1]:53 for IPv6).`,
      { retryable: false, reason: 'InvalidResolver' },
    );
  }
}

function describeAnswer(answer: ResolverAnswer): string {
  if (answer.error !== undefined) return `${answer.resolver}: no answer (${answer.error})`;
  if (answer.values.length === 0) return `${answer.resolver} finds no such record`;
  return `${answer.resolver} answers ${answer.values.join(', ')}`;
}

/** Resolvers answer names without the trailing dot and in any case; IPv6 in its shortest form. */
export function normaliseAnswer(type: VerifiableType, value: string): string {
  switch (type) {
    case 'CNAME':
      return value.toLowerCase().replace(/\.$/, '');
    case 'AAAA':
      try {
        return new URL(`http://[${value}]/`).hostname.slice(1, -1);
      } catch {
        return value.toLowerCase();
      }
    case 'A':
    case 'TXT':
      return value;
  }
}

function normaliseAll(type: VerifiableType, values: string[]): string[] {
  return values.map((v) => normaliseAnswer(type, v));
}

function sameSet(a: string[], b: string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((v) => sb.has(v));
}

function displayName(name: string): string {
  return name.replace(/\.$/, '');
}
