import { describe, expect, it } from 'vitest';
import { scheduleRefusal } from '../../src/engine/policy.ts';
import { toFerryError } from '../../src/errors.ts';
import { parsePlan, type LoadedPlan } from '../../src/plan/index.ts';
import { planOf } from '../../src/runs/lookup.ts';
import { environmentOf } from '../../src/runs/plans.ts';
import { parseCommand } from '../../src/slack/command-parser.ts';
import { commandTable } from '../../src/slack/command-table.ts';
import { mrkdwn } from '../../src/slack/views/format.ts';
import { renderEnvironments } from '../../src/slack/views/plan.ts';
import { renderHelp } from '../../src/slack/views/replies.ts';

// What a person reads back from `/migrate` when they ask for help, mistype, or name too little:
// the help lists every command, a typo gets a guess, `plan <service>` lists its environments, and a
// start a few seconds ahead says so.

function loaded(yaml: string, file: string): LoadedPlan {
  const result = parsePlan(yaml, file);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return { file: result.file, plan: result.plan };
}

const billing = loaded(
  `service: billing
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: manual, instructions: "Turn maintenance on." }
      - { id: cutover, kind: manual, instructions: "Switch DNS.", approval: required }
  production:
    approvals: 2
    steps:
      - { id: cutover, kind: manual, instructions: "Switch DNS.", approval: required }
`,
  'plans/billing.yml',
);
const search = loaded(
  `service: search
environments:
  staging:
    steps: [ { id: w, kind: manual, instructions: x } ]
`,
  'plans/search.yml',
);
const deps = { plans: () => [billing, search] };

/** The message a use case refuses with, as the person reads it. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return mrkdwn(toFerryError(error).words);
  }
  throw new Error('expected a refusal');
}

/** Every text in a reply, as the person reads it. */
function shown(reply: { text: string; blocks?: unknown[] }): string {
  return [reply.text, JSON.stringify(reply.blocks ?? [])].join('\n');
}

describe('/migrate help', () => {
  it('lists every command of the command table, with its usage and what it does', () => {
    const help = renderHelp();
    const texts = (help.blocks ?? []).flatMap((b) =>
      'text' in b && b.text && typeof b.text === 'object' && 'text' in b.text ? [b.text.text] : [],
    );
    const body = texts.join('\n');
    for (const command of commandTable) {
      expect(body, command.name).toContain(`\`${command.usage}\`  ${command.does}`);
    }
    // One line per command, nothing else in between.
    const lines = body.split('\n').filter((l) => l.startsWith('`/migrate'));
    expect(lines).toHaveLength(commandTable.length);
  });
});

describe('did you mean', () => {
  it('guesses the subcommand a typo meant, with the rest of what was typed', () => {
    const result = parseCommand('strat billing staging');
    expect(result).toEqual({
      ok: false,
      error: 'Unknown subcommand "strat". Did you mean `/migrate start billing staging`?',
    });
    expect(parseCommand('stauts r12')).toEqual({
      ok: false,
      error: 'Unknown subcommand "stauts". Did you mean `/migrate status r12`?',
    });
    expect(parseCommand('rollbak')).toEqual({
      ok: false,
      error: 'Unknown subcommand "rollbak". Did you mean `/migrate rollback`?',
    });
  });

  it('lists the subcommands rather than guess when nothing is close', () => {
    const result = parseCommand('deploy billing');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).not.toContain('Did you mean');
    expect(result.error).toContain('Try one of: help, list, plan, start');
  });

  it('guesses the service a typo meant, for a start and for a plan', () => {
    const expected =
      'There is no plan for service "biling". Did you mean "billing"? Known services: billing, search.';
    expect(refusal(() => environmentOf(deps, 'biling', 'staging'))).toBe(expected);
    expect(refusal(() => planOf(deps, 'biling'))).toBe(expected);
  });

  it('guesses the environment a typo meant, naming the plan file', () => {
    expect(refusal(() => environmentOf(deps, 'billing', 'stagign'))).toBe(
      'The billing plan has no environment "stagign". Did you mean "staging"? Its environments: staging, production (plans/billing.yml).',
    );
  });
});

describe('/migrate plan <service>', () => {
  it("lists the service's environments, each with how to dry-run it, instead of a usage line", () => {
    expect(parseCommand('plan billing')).toEqual({ ok: true, command: { name: 'plan', service: 'billing' } });
    const reply = renderEnvironments(planOf(deps, 'billing'));
    expect(reply.text).toBe('billing environments: staging, production');
    const text = shown(reply);
    expect(text).toContain('*billing* has 2 environments (plans/billing.yml). Name one for a dry run:');
    expect(text).toContain('• `staging`: 2 steps, approvals · `/migrate plan billing staging`');
    expect(text).toContain(
      '• `production`: 1 step, four eyes, approvals · `/migrate plan billing production`',
    );
    expect(text).not.toContain('Usage');
  });
});

describe('/migrate start --at', () => {
  const now = Date.parse('2026-12-01T02:00:00Z');
  const say = (at: number) => {
    const words = scheduleRefusal(at, now, '/migrate start billing staging');
    return words === null ? null : mrkdwn(words);
  };

  it('says a time less than 10 s ahead is too close, and how to start now', () => {
    expect(say(now + 5_000)).toBe(
      '2026-12-01T02:00:05.000Z is less than 10 seconds ahead: start now with `/migrate start billing staging`.',
    );
    expect(say(now + 9_999)).toContain('less than 10 seconds ahead');
  });

  it('says a time in the past is not in the future', () => {
    expect(say(now)).toContain('is not in the future');
    expect(say(now - 60_000)).toBe(
      '2026-12-01T01:59:00.000Z is not in the future: start now with `/migrate start billing staging`.',
    );
  });

  it('takes a time 10 s or more ahead, up to 30 days', () => {
    expect(say(now + 10_000)).toBeNull();
    expect(say(now + 30 * 86_400_000)).toBeNull();
    expect(say(now + 30 * 86_400_000 + 1)).toBe('Ferry schedules starts at most 30 days ahead.');
  });
});
