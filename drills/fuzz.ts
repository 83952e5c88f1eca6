import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import pg from 'pg';
import pino from 'pino';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config.ts';
import { startFerry, type RunningFerry } from '../src/ferry.ts';
import { formatProblem, parsePlan } from '../src/plan/load.ts';
import { FakeSlack, type SlackMessage } from '../src/sandbox/fake-slack.ts';
import {
  buildBlockActionPayload,
  buildEventEnvelope,
  newTriggerId,
  sendInteraction,
  sendSigned,
  sendSlashCommand,
  type SignedResponse,
} from '../src/sandbox/signed-request.ts';
import { parseCommand } from '../src/slack/command-parser.ts';
import type { Drill, DrillContext, DrillResult } from './types.ts';

// Fuzzing with fast-check: what people type after /migrate, plan files, and signed Slack requests
// (slash commands, button clicks, events) to a running Ferry. Whatever comes in, Ferry must answer
// with a value or a clear error: the parser and the plan loader never throw, and over HTTP every
// request gets a 2xx or 4xx within Slack's patience, no promise is left rejected, and Ferry still
// answers afterwards. A failure is reported with the input fast-check shrank it to.

/** What one fuzzed surface gave: inputs tried, distinct failures, and a line for each. */
export interface FuzzOutcome {
  cases: number;
  crashes: number;
  findings: string[];
}

/** At most this many distinct failures per surface: past that, one fix is what is needed. */
const MAX_FAILURES = 8;

function describeInput(value: unknown): string {
  const text = fc.stringify(value);
  return text.length > 1200 ? `${text.slice(0, 1200)}… (${text.length} characters)` : text;
}

/** A failure's kind, without the numbers (ports, ids, times) that differ from one input to the next. */
function kindOf(reason: string): string {
  return reason.replace(/\d+/g, '#').slice(0, 300);
}

/**
 * What is wrong with how Ferry handled one input (null: nothing). `batch` lists the inputs sent
 * together with it, for failures that show only after all of them (a rejection, a log line).
 */
export type Judge<T> = (inputs: readonly T[]) => Promise<Array<string | null>> | Array<string | null>;

/**
 * Generates inputs until `numRuns` property runs or `timeLimitMs` are used up, `batch` inputs at a
 * time (at most). A failure of a new kind is shrunk to its smallest input and recorded; later
 * inputs failing the same way are only counted, so one defect does not hide the next.
 */
export async function explore<T>(
  surface: string,
  arbitrary: fc.Arbitrary<T>,
  judge: Judge<T>,
  options: { numRuns: number; timeLimitMs: number; batch?: number },
): Promise<FuzzOutcome> {
  const inputs = fc.array(arbitrary, { minLength: 1, maxLength: options.batch ?? 1 });
  const known = new Map<string, { line: string; count: number }>();
  let cases = 0;
  const property = fc.asyncProperty(inputs, async (batch) => {
    cases += batch.length;
    let verdicts: Array<string | null>;
    try {
      verdicts = await judge(batch);
    } catch (error) {
      verdicts = batch.map(() => `threw ${String((error as Error)?.message ?? error)}`);
    }
    for (const reason of verdicts) {
      if (reason === null) continue;
      const entry = known.get(kindOf(reason));
      if (entry) entry.count += 1;
      else throw new Error(reason);
    }
  });
  const until = Date.now() + options.timeLimitMs;
  let seed = firstSeed();
  let runs = 0;
  while (runs < options.numRuns && Date.now() < until && known.size < MAX_FAILURES) {
    const found = await fc.check(property, {
      seed,
      numRuns: options.numRuns - runs,
      interruptAfterTimeLimit: Math.max(1, until - Date.now()),
      markInterruptAsFailure: false,
      endOnFailure: true,
    });
    runs += found.numRuns;
    if (!found.failed || found.counterexamplePath === null) break;
    // Shrinking re-sends its candidates, so it gets a bounded share of the time: past it, the
    // smallest failing input so far is what is reported.
    const shrunk = await fc.check(property, {
      seed,
      path: found.counterexamplePath,
      interruptAfterTimeLimit: Math.max(1, Math.min(10_000, (until - Date.now()) / 4)),
      markInterruptAsFailure: false,
    });
    const best = shrunk.failed && shrunk.counterexample ? shrunk : found;
    const example = best.counterexample?.[0];
    const reason =
      best.errorInstance instanceof Error ? best.errorInstance.message : String(best.errorInstance);
    const shown = example && example.length === 1 ? example[0] : example;
    known.set(kindOf(reason), {
      line: `${surface}: ${reason.split('\n')[0]}; shrunk to ${describeInput(shown)} (seed ${seed})`,
      count: 1,
    });
    seed = (seed + 7919) & 0x7fffffff;
  }
  const failures = [...known.values()];
  return {
    cases,
    crashes: failures.length,
    findings: failures.map((f) => (f.count > 1 ? `${f.line}; ${f.count} inputs failed this way` : f.line)),
  };
}

// ---------------------------------------------------------------------------------------------
// /migrate text

const WORDS = [
  'help',
  'list',
  'plan',
  'start',
  'status',
  'note',
  'incident',
  'resolve',
  'rollback',
  'abort',
  'report',
  'lock',
  'unlock',
  'maintenance',
  'crons',
  'billing',
  'search',
  'staging',
  'production',
  'r1',
  'r2',
  'r0',
  'r99999999999999999999',
  's1',
  's3',
  '--at',
  '--all',
  '2030-01-01T02:00:00Z',
  '2026-02-31T00:00Z',
  'tomorrow',
  'sev1',
  'sev2',
  'sev4',
  'on',
  'off',
  'enable',
  'disable',
  '<@U01ALICE>',
  '<#C0MIGRATIONS|migrations>',
  '&amp;',
  '&lt;',
  '*',
  '`',
  '\u0000',
  '\u200b',
];
const SEPARATORS = [' ', '  ', '\t', '\n', '\u00a0', '\u3000', ''];

/** Text shaped like the grammar: known words, separators, and now and then anything at all. */
export const commandText: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 400 }) },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...WORDS) }, fc.string({ maxLength: 30 })),
          fc.constantFrom(...SEPARATORS),
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.map(([word, sep]) => word + sep).join('')),
  },
);

/** parseCommand answers every text with a command or a non-empty error, and never throws. */
export const judgeCommand: Judge<string> = (texts) =>
  texts.map((text) => {
    let result: ReturnType<typeof parseCommand>;
    try {
      result = parseCommand(text);
    } catch (error) {
      return `parseCommand threw ${(error as Error).message}`;
    }
    if (result.ok) {
      const name: unknown = result.command?.name;
      return typeof name === 'string' && name !== '' ? null : 'parseCommand said ok without naming a command';
    }
    return typeof result.error === 'string' && result.error.trim() !== ''
      ? null
      : 'parseCommand refused the text without saying why';
  });

export function fuzzCommands(numRuns: number, timeLimitMs: number): Promise<FuzzOutcome> {
  return explore('/migrate text (parseCommand)', commandText, judgeCommand, { numRuns, timeLimitMs });
}

// ---------------------------------------------------------------------------------------------
// Plan files

const EXAMPLE_PLAN = readFileSync(new URL('../examples/plans/billing.yml', import.meta.url), 'utf8');
const EXAMPLE_LINES = EXAMPLE_PLAN.split('\n');

type Mutation =
  | { op: 'delete'; line: number }
  | { op: 'duplicate'; line: number }
  | { op: 'swap'; line: number; other: number }
  | { op: 'indent'; line: number; by: number }
  | { op: 'insert'; offset: number; text: string }
  | { op: 'replace-value'; line: number; value: unknown }
  | { op: 'truncate'; offset: number };

const lineIndex = fc.nat({ max: EXAMPLE_LINES.length - 1 });
const offset = fc.nat({ max: EXAMPLE_PLAN.length });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), line: lineIndex }),
  fc.record({ op: fc.constant('duplicate' as const), line: lineIndex }),
  fc.record({ op: fc.constant('swap' as const), line: lineIndex, other: lineIndex }),
  fc.record({ op: fc.constant('indent' as const), line: lineIndex, by: fc.integer({ min: -6, max: 6 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    offset,
    text: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom(
        '&a ',
        '*a',
        '<<: *x',
        '${',
        '$${X}',
        '${A-B}',
        '\t',
        ': ',
        '- ',
        '? ',
        '!!binary ',
        '%YAML 1.1\n',
      ),
    ),
  }),
  fc.record({
    op: fc.constant('replace-value' as const),
    line: lineIndex,
    value: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom('#migrations', 'C0', 'on', 'yes', '1e999'),
    ),
  }),
  fc.record({ op: fc.constant('truncate' as const), offset }),
);

function mutate(mutations: readonly Mutation[]): string {
  let lines = [...EXAMPLE_LINES];
  for (const m of mutations) {
    const at = (i: number) => Math.min(i, Math.max(lines.length - 1, 0));
    switch (m.op) {
      case 'delete':
        lines.splice(at(m.line), 1);
        break;
      case 'duplicate':
        lines.splice(at(m.line), 0, lines[at(m.line)] ?? '');
        break;
      case 'swap': {
        const [a, b] = [at(m.line), at(m.other)];
        [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
        break;
      }
      case 'indent': {
        const i = at(m.line);
        const text = lines[i] ?? '';
        lines[i] = m.by >= 0 ? ' '.repeat(m.by) + text : text.replace(new RegExp(`^ {0,${-m.by}}`), '');
        break;
      }
      case 'insert': {
        const text = lines.join('\n');
        const o = Math.min(m.offset, text.length);
        lines = (text.slice(0, o) + m.text + text.slice(o)).split('\n');
        break;
      }
      case 'replace-value': {
        const i = at(m.line);
        const text = lines[i] ?? '';
        const colon = text.indexOf(': ');
        const rendered = JSON.stringify(m.value) ?? 'null';
        lines[i] = colon >= 0 ? `${text.slice(0, colon + 2)}${rendered}` : `${text}${rendered}`;
        break;
      }
      case 'truncate':
        lines = lines.join('\n').slice(0, m.offset).split('\n');
        break;
    }
  }
  return lines.join('\n');
}

/** Plan text: the example plan mutated, any YAML document, or anything at all. */
export const planText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }).map(mutate) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => stringify(value)) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        service: fc.oneof(fc.constant('billing'), fc.jsonValue({ maxDepth: 1 })),
        channel: fc.oneof(
          fc.constantFrom('C0123ABCD', '#migrations', '<#C1|x>'),
          fc.jsonValue({ maxDepth: 1 }),
        ),
        environments: fc.dictionary(
          fc.string({ maxLength: 12 }),
          fc.record({
            steps: fc.array(
              fc.dictionary(
                fc.constantFrom('id', 'kind', 'action', 'provider', 'approval', 'timeout'),
                fc.jsonValue({ maxDepth: 2 }),
              ),
              { maxLength: 3 },
            ),
          }),
          { maxKeys: 2 },
        ),
      })
      .map((plan) => stringify(plan)),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 2000 }) },
);

const PLAN_FILE = 'plans/billing.yml';
const problemLine = /^plans\/billing\.yml:[1-9]\d*:[1-9]\d*[ :]/;

/** The loader gives a plan, or problems that each say file:line:column and what is wrong. */
export const judgePlan: Judge<string> = (texts) =>
  texts.map((text) => {
    let result: ReturnType<typeof parsePlan>;
    try {
      result = parsePlan(text, PLAN_FILE);
    } catch (error) {
      return `parsePlan threw ${(error as Error).message}`;
    }
    if (result.ok)
      return typeof result.plan.service === 'string' ? null : 'a plan was loaded without a service';
    if (result.problems.length === 0) return 'the plan was refused without a problem';
    for (const problem of result.problems) {
      const line = formatProblem(problem);
      if (!problemLine.test(line)) return `a problem without file:line:column: ${line}`;
      if (problem.message.trim() === '') return `a problem without a message: ${line}`;
    }
    return null;
  });

export function fuzzPlans(numRuns: number, timeLimitMs: number): Promise<FuzzOutcome> {
  return explore('plan files (parsePlan)', planText, judgePlan, { numRuns, timeLimitMs });
}

// ---------------------------------------------------------------------------------------------
// Signed requests to a running Ferry

const ALICE = 'U01ALICE';
const BOB = 'U02BOB';
const CHANNEL = 'C0MIGRATIONS';
/** Slack waits 3 s for an ack; past 5 s a request counts as hung. */
const HANG_MS = 5_000;

/**
 * Where the search starts. CI runs a fixed seed, so a run that passed passes again and a finding can
 * be replayed; `FUZZ_SEED=random` explores anew (each finding names its seed, to replay with
 * `FUZZ_SEED=<seed>`).
 */
function firstSeed(): number {
  const asked = process.env.FUZZ_SEED;
  if (asked === 'random') return Date.now() & 0x7fffffff;
  return asked && /^\d+$/.test(asked) ? Number(asked) & 0x7fffffff : 20_261_205;
}

const PLANS = [
  `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: watch, kind: manual, approval: required, instructions: "Watch the dashboards, then press Done." }
      - { id: confirm, kind: manual, instructions: "Press Done." }
`,
  `
service: search
environments:
  staging:
    steps:
      - { id: look, kind: manual, instructions: "Look, then press Done." }
`,
];

export interface FuzzTarget {
  ferry: RunningFerry;
  slack: FakeSlack;
  /** Buttons Ferry posted before the fuzzing began: real action ids and values to start from. */
  buttons: Array<{ actionId: string; value: string; blockId: string; ts: string; threadTs?: string }>;
  /** Ferry's log lines at level error or above, as they came. */
  errors: string[];
  stop(): Promise<void>;
}

function buttonsOf(messages: readonly SlackMessage[]): FuzzTarget['buttons'] {
  const found: FuzzTarget['buttons'] = [];
  for (const message of messages) {
    for (const block of (message.blocks ?? []) as Array<{ block_id?: string; elements?: unknown[] }>) {
      for (const element of (block.elements ?? []) as Array<{ action_id?: unknown; value?: unknown }>) {
        if (typeof element.action_id !== 'string') continue;
        found.push({
          actionId: element.action_id,
          value: typeof element.value === 'string' ? element.value : '',
          blockId: block.block_id ?? '',
          ts: message.ts,
          ...(message.thread_ts ? { threadTs: message.thread_ts } : {}),
        });
      }
    }
  }
  return found;
}

/** Ferry in-process on a Postgres schema of its own and a fake Slack, with r1 waiting for Bob. */
export async function startFuzzTarget(pgUrl: string): Promise<FuzzTarget> {
  const schema = `fuzz_${randomBytes(5).toString('hex')}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-fuzz-'));
  for (const [i, plan] of PLANS.entries()) await writeFile(path.join(dir, `plan-${i + 1}.yml`), plan);
  const slack = new FakeSlack({ rateLimits: false });
  const slackServer = await slack.listen();
  const errors: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        try {
          const entry = JSON.parse(line) as {
            level: number;
            msg?: string;
            err?: { message?: string; originals?: Array<{ message?: string }> };
          };
          if (entry.level < 50) continue;
          // Bolt gathers the errors of several listeners into one; the first says what happened.
          const cause = entry.err?.originals?.[0]?.message ?? entry.err?.message;
          errors.push(`${entry.msg ?? ''}${cause ? `: ${cause}` : ''}`);
        } catch {
          errors.push(line);
        }
      }
      done();
    },
  });
  const config = loadConfig({
    SLACK_BOT_TOKEN: 'xoxb-fuzz',
    SLACK_SIGNING_SECRET: randomBytes(16).toString('hex'),
    SLACK_API_URL: slackServer.apiUrl,
    DATABASE_URL: pgUrl,
    FERRY_DB_SCHEMA: schema,
    FERRY_PLANS: dir,
    PORT: '0',
    FERRY_SHUTDOWN_GRACE_SECONDS: '0',
    FERRY_POLL_INTERVAL_MS: '50',
    FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
    FERRY_SLACK_EDITS_PER_MINUTE: '100000',
    LOG_LEVEL: 'error',
  });
  let ferry: RunningFerry | undefined;
  const cleanUp = async () => {
    await ferry?.stop();
    await slackServer.close();
    await rm(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  };
  try {
    ferry = await startFerry(config, { log: pino({ level: 'error' }, sink), host: '127.0.0.1' });
    const target: FuzzTarget = { ferry, slack, buttons: [], errors, stop: cleanUp };
    const started = await command(target, ALICE, 'start billing staging');
    if (started.status !== 200) throw new Error(`/migrate start answered ${started.status}`);
    const deadline = Date.now() + 20_000;
    while (!target.buttons.some((b) => b.actionId.includes('approve'))) {
      if (Date.now() > deadline) throw new Error('r1 never asked for approval within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
      target.buttons = buttonsOf(
        slack
          .messages(CHANNEL)
          .flatMap((m) => [m, ...slack.thread(CHANNEL, m.ts).filter((r) => r.ts !== m.ts)]),
      );
    }
    return target;
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

function command(target: FuzzTarget, user: string, text: string, channel = CHANNEL): Promise<SignedResponse> {
  return sendSlashCommand(
    target.ferry.url,
    target.ferry.signingSecret,
    {
      command: '/migrate',
      text,
      user_id: user,
      user_name: user.toLowerCase(),
      channel_id: channel,
      team_id: 'T0FERRY',
      response_url: target.slack.responseUrlFor({ channel: CHANNEL, user: ALICE }),
      trigger_id: newTriggerId(),
    },
    { timeoutMs: HANG_MS },
  );
}

/** One fuzzed request: what it is, for the finding, and how to send it. */
export type FuzzRequest =
  | {
      kind: 'command';
      command: string;
      text: string;
      user: string;
      channel: string;
      /** 'valid': one the fake Slack minted; otherwise sent as it is. */
      responseUrl: string;
    }
  | { kind: 'interaction'; payload: unknown }
  | { kind: 'event'; body: unknown }
  | { kind: 'raw'; contentType: string; body: string };

/**
 * `slack`: only what Slack itself sends (ids shaped like Slack's, Ferry's own action ids and its one
 * command, a response_url, known event types) with anything in the free fields. `any`: also shapes
 * Slack never sends (wrong types, unknown payload types, bodies that are not Slack's at all); the
 * signature makes them unlikely, not impossible (a leaked secret, a proxy that rewrites bodies).
 */
export type Shapes = 'slack' | 'any';

const slackId = (prefixes: string) =>
  fc
    .tuple(fc.constantFrom(...prefixes), fc.stringMatching(/^[A-Z0-9]{2,11}$/))
    .map(([prefix, rest]) => prefix + rest);

function requestArbitrary(target: FuzzTarget, shapes: Shapes): fc.Arbitrary<FuzzRequest> {
  const any = shapes === 'any';
  const userId = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(ALICE, BOB, 'U03MALLORY', 'W0ENTERPRISE') },
    any ? fc.string({ maxLength: 24 }) : slackId('UW'),
  );
  const channelId = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(CHANNEL, 'C0ELSEWHERE', 'D0DIRECT', 'G0PRIVATE') },
    any ? fc.string({ maxLength: 24 }) : slackId('CGD'),
  );
  const responseUrl = any
    ? fc.oneof(
        { weight: 5, arbitrary: fc.constant('valid') },
        fc.constantFrom('', 'not a url', 'http://127.0.0.1:1/nothing-listens'),
      )
    : fc.constant('valid');
  const real = target.buttons;
  const actionId = any
    ? fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...real.map((b) => b.actionId)) },
        fc.string({ maxLength: 300 }),
      )
    : fc.constantFrom(...real.map((b) => b.actionId));
  const value = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...real.map((b) => b.value)) },
    fc
      .tuple(fc.constantFrom(...real.map((b) => b.value)), fc.nat(), fc.string({ maxLength: 4 }))
      .map(([v, at, text]) => v.slice(0, at % (v.length + 1)) + text + v.slice((at % (v.length + 1)) + 1)),
    fc.string({ unit: 'binary', maxLength: 2100 }),
  );
  const messageTs = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...real.map((b) => b.ts)) },
    fc.constantFrom('1.000001', '', '99999999999.999999'),
  );
  const click = fc
    .record({
      user: userId,
      channel: channelId,
      actionId,
      value,
      ts: messageTs,
      ephemeral: fc.boolean(),
      responseUrl,
      // Fields Slack always sends, replaced now and then by anything (the payload is signed, but the
      // shape is not ours to trust).
      override: (any ? fc.option : () => fc.constant(null))(
        fc.record(
          {
            actions: fc.jsonValue({ maxDepth: 2 }),
            user: fc.jsonValue({ maxDepth: 2 }),
            channel: fc.jsonValue({ maxDepth: 2 }),
            container: fc.jsonValue({ maxDepth: 2 }),
            message: fc.jsonValue({ maxDepth: 2 }),
            trigger_id: fc.jsonValue({ maxDepth: 1 }),
          },
          { requiredKeys: [] },
        ),
        { freq: 4 },
      ),
    })
    .map(({ user, channel, actionId, value, ts, ephemeral, responseUrl, override }) => {
      const payload = buildBlockActionPayload({
        user,
        channel,
        message: { ts, text: '', blocks: [] },
        action: { action_id: actionId, value, block_id: 'b' },
        response_url:
          responseUrl === 'valid'
            ? target.slack.responseUrlFor({ channel: CHANNEL, user: ALICE })
            : responseUrl,
        is_ephemeral: ephemeral,
      });
      return { kind: 'interaction' as const, payload: { ...payload, ...(override ?? {}) } };
    });
  const otherInteraction = fc
    .record({
      type: fc.oneof(
        fc.constantFrom(
          'view_submission',
          'view_closed',
          'message_action',
          'shortcut',
          'block_suggestion',
          'interactive_message',
        ),
        fc.string({ maxLength: 20 }),
      ),
      rest: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }),
    })
    .map(({ type, rest }) => ({ kind: 'interaction' as const, payload: { ...rest, type } }));
  const slash = fc
    .record({
      command: any
        ? fc.oneof({ weight: 9, arbitrary: fc.constant('/migrate') }, fc.string({ maxLength: 20 }))
        : fc.constant('/migrate'),
      text: commandText,
      user: userId,
      channel: channelId,
      responseUrl,
    })
    .map((c) => ({ kind: 'command' as const, ...c }));
  const event = fc.oneof(
    fc
      .record({
        type: fc.oneof(
          fc.constantFrom(
            'app_mention',
            'message',
            'app_home_opened',
            'member_joined_channel',
            'reaction_added',
            'app_uninstalled',
            'tokens_revoked',
          ),
          ...(any ? [fc.string({ maxLength: 30 })] : []),
        ),
        rest: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }),
        eventId: fc.option(fc.string({ maxLength: 20 }), { freq: 5 }),
      })
      .map(({ type, rest, eventId }) => ({
        kind: 'event' as const,
        body: buildEventEnvelope({
          event: { ...rest, type },
          ...(eventId !== null ? { event_id: eventId } : {}),
        }),
      })),
    fc
      .record({ challenge: fc.string({ maxLength: 100 }), token: fc.string({ maxLength: 20 }) })
      .map((v) => ({ kind: 'event' as const, body: { type: 'url_verification', ...v } })),
    ...(any ? [fc.jsonValue({ maxDepth: 3 }).map((body) => ({ kind: 'event' as const, body }))] : []),
  );
  const raw = fc
    .oneof(
      fc.record({
        contentType: fc.constantFrom(
          'application/x-www-form-urlencoded',
          'application/json',
          'text/plain',
          '',
        ),
        body: fc.oneof(
          fc.string({ unit: 'binary', maxLength: 500 }),
          fc.constantFrom(
            'payload=',
            'payload=%7B',
            'ssl_check=1&token=x',
            'payload=null',
            'payload=%5B%5D',
            '{"type":',
          ),
          fc.jsonValue({ maxDepth: 2 }).map((v) => `payload=${encodeURIComponent(JSON.stringify(v))}`),
        ),
      }),
    )
    .map((r) => ({ kind: 'raw' as const, ...r }));
  if (!any) return fc.oneof({ weight: 2, arbitrary: slash }, { weight: 2, arbitrary: click }, event);
  return fc.oneof(
    { weight: 4, arbitrary: slash },
    { weight: 4, arbitrary: click },
    { weight: 1, arbitrary: otherInteraction },
    { weight: 2, arbitrary: event },
    { weight: 1, arbitrary: raw },
  );
}

function send(target: FuzzTarget, request: FuzzRequest): Promise<SignedResponse> {
  const { url, signingSecret } = target.ferry;
  const opts = { timeoutMs: HANG_MS };
  switch (request.kind) {
    case 'command':
      return sendSlashCommand(
        url,
        signingSecret,
        {
          command: request.command,
          text: request.text,
          user_id: request.user,
          user_name: request.user.toLowerCase(),
          channel_id: request.channel,
          team_id: 'T0FERRY',
          response_url:
            request.responseUrl === 'valid'
              ? target.slack.responseUrlFor({ channel: CHANNEL, user: ALICE })
              : request.responseUrl,
          trigger_id: newTriggerId(),
        },
        opts,
      );
    case 'interaction':
      return sendInteraction(url, signingSecret, request.payload as object, opts);
    case 'event':
      return sendSigned(url, signingSecret, JSON.stringify(request.body) ?? 'null', 'application/json', opts);
    case 'raw':
      return sendSigned(url, signingSecret, request.body, request.contentType, opts);
  }
}

/** Unhandled rejections and uncaught exceptions while fuzzing: each one is a crash. */
class ProcessFaults {
  readonly seen: string[] = [];
  readonly #onRejection = (reason: unknown) =>
    this.seen.push(`unhandled rejection: ${String((reason as Error)?.stack ?? reason)}`);
  readonly #onException = (error: Error) =>
    this.seen.push(`uncaught exception: ${error.stack ?? error.message}`);
  listen(): void {
    process.on('unhandledRejection', this.#onRejection);
    process.on('uncaughtException', this.#onException);
  }
  close(): void {
    process.off('unhandledRejection', this.#onRejection);
    process.off('uncaughtException', this.#onException);
  }
}

/** Every signed request gets a 2xx or a 4xx in time, and leaves no rejection and no error behind. */
export function requestJudge(
  target: FuzzTarget,
  faults: ProcessFaults,
  loggedErrors: boolean,
): Judge<FuzzRequest> {
  return async (requests) => {
    const faultsBefore = faults.seen.length;
    const errorsBefore = target.errors.length;
    // One at a time: a batch sent at once to the Ferry in this same process measures how loaded the
    // machine is (Bolt's 3 s ack timer), not whether Ferry handles the request.
    const verdicts: Array<string | null> = [];
    for (const request of requests) {
      verdicts.push(
        await (async (): Promise<string | null> => {
          let response: SignedResponse;
          try {
            response = await send(target, request);
          } catch (error) {
            const name = (error as Error).name;
            if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${HANG_MS} ms`;
            return `the request failed: ${(error as Error).message}`;
          }
          if (response.status >= 500) return `answered ${response.status}: ${response.text.slice(0, 200)}`;
          if (response.status < 200) return `answered ${response.status}`;
          return null;
        })(),
      );
    }
    // Bolt's listeners go on after the ack: wait until Ferry has logged nothing new for a moment.
    for (let quiet = 0, seen = target.errors.length, waited = 0; quiet < 2 && waited < 30; waited += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      quiet = target.errors.length === seen ? quiet + 1 : 0;
      seen = target.errors.length;
    }
    // A rejection or an error line cannot be told apart between requests sent together: it counts
    // against the batch, and shrinking brings it down to one request.
    const fault = faults.seen[faultsBefore];
    const logged = loggedErrors ? target.errors.slice(errorsBefore)[0] : undefined;
    const batchReason =
      fault !== undefined
        ? fault.split('\n').slice(0, 3).join(' | ')
        : logged !== undefined
          ? `Ferry logged an error: ${logged}`
          : null;
    return batchReason === null ? verdicts : verdicts.map((v) => v ?? batchReason);
  };
}

export interface RequestFuzzOptions {
  numRuns: number;
  timeLimitMs: number;
  /** Which payload shapes to send (default any). */
  shapes?: Shapes;
  /** Whether an error line in Ferry's log fails the request that caused it (default true). */
  loggedErrors?: boolean;
  /** Requests sent at once (default 64: Bolt takes 3 s to give up on a request nobody acks). */
  batch?: number;
}

export async function fuzzRequests(target: FuzzTarget, options: RequestFuzzOptions): Promise<FuzzOutcome> {
  const faults = new ProcessFaults();
  faults.listen();
  try {
    const shapes = options.shapes ?? 'any';
    return await explore(
      shapes === 'any' ? 'signed requests' : 'signed requests shaped as Slack sends them',
      requestArbitrary(target, shapes),
      requestJudge(target, faults, options.loggedErrors ?? true),
      { numRuns: options.numRuns, timeLimitMs: options.timeLimitMs, batch: options.batch ?? 64 },
    );
  } finally {
    faults.close();
  }
}

/** After the fuzzing, Ferry is still there: /healthz, and a valid command answered as usual. */
export async function stillAnswers(target: FuzzTarget): Promise<string[]> {
  const problems: string[] = [];
  try {
    const health = await fetch(`${target.ferry.url}/healthz`, { signal: AbortSignal.timeout(HANG_MS) });
    if (health.status !== 200) problems.push(`after the fuzzing, /healthz answered ${health.status}`);
    const help = await command(target, ALICE, 'help');
    if (help.status !== 200 || !help.text.includes('/migrate start'))
      problems.push(`after the fuzzing, /migrate help answered ${help.status}: ${help.text.slice(0, 200)}`);
  } catch (error) {
    problems.push(`after the fuzzing, Ferry did not answer: ${(error as Error).message}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The drill

/** For docs/reliability.md. */
export const description =
  'fast-check generates what people type after /migrate (grammar-shaped and arbitrary text), plan files ' +
  '(the example plan mutated line by line, any YAML, anything) and signed Slack requests to a Ferry ' +
  'started in-process on its own PostgreSQL schema with a fake Slack: slash commands with any text, ' +
  'block_actions clicks with any action_id, value, user and channel, events of any type, ' +
  'url_verification, then shapes Slack never sends. A case fails when the parser or the loader throws or ' +
  'refuses without a clear message (plan problems must say file:line:column), or when a request gets a ' +
  '5xx or no answer within 5 s, leaves an unhandled rejection or an uncaught exception, or makes Ferry ' +
  'log an error; afterwards Ferry must still answer /healthz and /migrate help. Each failure is shrunk ' +
  'to its smallest input; later inputs failing the same way are counted.';

export const drill: Drill = {
  name: 'fuzzing',
  async run(ctx: DrillContext): Promise<DrillResult> {
    const left = () => ctx.deadline - Date.now();
    // The pure surfaces are fast; the HTTP one gets what remains, less a few seconds to stop Ferry.
    const commands = await fuzzCommands(20_000, Math.min(5_000, left() * 0.12));
    ctx.log(`/migrate text: ${commands.cases} cases, ${commands.crashes} failures`);
    const plans = await fuzzPlans(5_000, Math.min(10_000, left() * 0.18));
    ctx.log(`plan files: ${plans.cases} cases, ${plans.crashes} failures`);
    const requests: FuzzOutcome = { cases: 0, crashes: 0, findings: [] };
    const findings: string[] = [];
    let target: FuzzTarget | undefined;
    try {
      target = await startFuzzTarget(ctx.pgUrl);
      const reserve = 4_000;
      // What Slack sends first (many cases a second), then any shape at all (slower: Bolt waits 3 s
      // before giving up on a request nobody acknowledges).
      for (const shapes of ['slack', 'any'] as const) {
        const share = shapes === 'slack' ? 0.4 : 1;
        const outcome = await fuzzRequests(target, {
          numRuns: 50_000,
          timeLimitMs: Math.max(1_000, (left() - reserve) * share),
          shapes,
        });
        ctx.log(`signed requests (${shapes} shapes): ${outcome.cases} cases, ${outcome.crashes} failures`);
        requests.cases += outcome.cases;
        requests.crashes += outcome.crashes;
        requests.findings.push(...outcome.findings);
      }
      const after = await stillAnswers(target);
      requests.crashes += after.length;
      findings.push(...after);
    } catch (error) {
      findings.push(`the request fuzzing stopped early: ${(error as Error).message}`);
    } finally {
      await target
        ?.stop()
        .catch((error: unknown) => findings.push(`stopping Ferry failed: ${(error as Error).message}`));
    }
    const all = [commands, plans, requests];
    const result: DrillResult & { details: string[] } = {
      details: [
        '| surface | cases | distinct failures |',
        '| --- | --- | --- |',
        `| /migrate text | ${commands.cases} | ${commands.crashes} |`,
        `| plan files | ${plans.cases} | ${plans.crashes} |`,
        `| signed requests | ${requests.cases} | ${requests.crashes} |`,
      ],
      figures: {
        fuzz_cases: all.reduce((sum, o) => sum + o.cases, 0),
        fuzz_crashes: all.reduce((sum, o) => sum + o.crashes, 0),
        fuzz_command_cases: commands.cases,
        fuzz_plan_cases: plans.cases,
        fuzz_request_cases: requests.cases,
      },
      findings: [...all.flatMap((o) => o.findings), ...findings],
    };
    return result;
  },
};

export default drill;
