import { describe, expect, it } from 'vitest';
import { ActionId, buttonValue, parseButtonValue } from '../../src/slack/action-ids.ts';
import { parseCommand, type Command } from '../../src/slack/command-parser.ts';
import { usage } from '../../src/slack/command-table.ts';

function parsed(text: string): Command {
  const result = parseCommand(text);
  if (!result.ok) throw new Error(`expected "${text}" to parse, got: ${result.error}`);
  return result.command;
}

function refused(text: string): string {
  const result = parseCommand(text);
  if (result.ok) throw new Error(`expected "${text}" to be refused, got ${JSON.stringify(result.command)}`);
  return result.error;
}

describe('parseCommand: every form of the /migrate grammar', () => {
  const forms: Array<[string, Command]> = [
    ['', { name: 'help' }],
    ['help', { name: 'help' }],
    ['list', { name: 'list' }],
    ['plan billing production', { name: 'plan', service: 'billing', environment: 'production' }],
    // Without an environment: the service's environments, to pick one.
    ['plan billing', { name: 'plan', service: 'billing' }],
    ['start billing staging', { name: 'start', service: 'billing', environment: 'staging' }],
    [
      'start billing production --at 2026-12-01T02:00:00Z',
      { name: 'start', service: 'billing', environment: 'production', at: '2026-12-01T02:00:00Z' },
    ],
    [
      'start billing production --at 2026-12-01T03:00+01:00',
      { name: 'start', service: 'billing', environment: 'production', at: '2026-12-01T03:00+01:00' },
    ],
    [
      'start billing production --override billing is down,   the fix cannot wait',
      {
        name: 'start',
        service: 'billing',
        environment: 'production',
        override: 'billing is down, the fix cannot wait',
      },
    ],
    [
      'start billing production --at 2026-12-01T02:00:00Z --override INC-42 needs it tonight',
      {
        name: 'start',
        service: 'billing',
        environment: 'production',
        at: '2026-12-01T02:00:00Z',
        override: 'INC-42 needs it tonight',
      },
    ],
    ['status', { name: 'status' }],
    ['status r12', { name: 'status', run: 'r12' }],
    ['note cutover looks good', { name: 'note', text: 'cutover looks good' }],
    ['note r12 cutover looks good', { name: 'note', run: 'r12', text: 'cutover looks good' }],
    [
      'incident sev2 random nginx 502s on the admin panel',
      { name: 'incident', severity: 'sev2', summary: 'random nginx 502s on the admin panel' },
    ],
    [
      'incident r7 sev1 checkout down',
      { name: 'incident', run: 'r7', severity: 'sev1', summary: 'checkout down' },
    ],
    ['incident resolve', { name: 'incident-resolve' }],
    ['incident resolve r7', { name: 'incident-resolve', run: 'r7' }],
    ['rollback', { name: 'rollback' }],
    ['rollback r12', { name: 'rollback', run: 'r12' }],
    ['abort', { name: 'abort' }],
    ['abort r12', { name: 'abort', run: 'r12' }],
    ['report', { name: 'report', all: false }],
    ['report r12', { name: 'report', run: 'r12', all: false }],
    ['report --all', { name: 'report', all: true }],
    [
      'lock billing production quarter-end freeze',
      { name: 'lock', service: 'billing', environment: 'production', reason: 'quarter-end freeze' },
    ],
    ['unlock billing production', { name: 'unlock', service: 'billing', environment: 'production' }],
    [
      'maintenance billing staging on',
      { name: 'maintenance', service: 'billing', environment: 'staging', state: 'on' },
    ],
    [
      'maintenance billing staging off',
      { name: 'maintenance', service: 'billing', environment: 'staging', state: 'off' },
    ],
    [
      'crons billing production disable',
      { name: 'crons', service: 'billing', environment: 'production', action: 'disable' },
    ],
    [
      'crons billing production enable',
      { name: 'crons', service: 'billing', environment: 'production', action: 'enable' },
    ],
  ];

  it.each(forms)('parses "/migrate %s"', (text, command) => {
    expect(parsed(text)).toEqual(command);
  });

  it('covers every subcommand in the usage table', () => {
    const names = new Set(forms.map(([, command]) => command.name));
    expect([...names].sort()).toEqual(Object.keys(usage).sort());
  });

  it('ignores surrounding and repeated whitespace and the case of the subcommand', () => {
    expect(parsed('  START   billing\tproduction  ')).toEqual({
      name: 'start',
      service: 'billing',
      environment: 'production',
    });
  });

  it('keeps a note exactly as written after the run id, line breaks included', () => {
    expect(parsed('note r3 first line\n  second   line')).toEqual({
      name: 'note',
      run: 'r3',
      text: 'first line\n  second   line',
    });
    expect(parsed('note  DNS <is> fine & dandy')).toEqual({ name: 'note', text: 'DNS <is> fine & dandy' });
  });

  it('accepts service and environment names with digits, dashes and underscores', () => {
    expect(parsed('plan billing-api2 prod_eu')).toEqual({
      name: 'plan',
      service: 'billing-api2',
      environment: 'prod_eu',
    });
  });
});

describe('parseCommand: a specific error for each malformed form', () => {
  it('lists the known subcommands for an unknown one', () => {
    const error = refused('deploy billing production');
    expect(error).toContain('Unknown subcommand "deploy"');
    for (const name of [
      'help',
      'list',
      'plan',
      'start',
      'status',
      'note',
      'incident',
      'rollback',
      'abort',
      'report',
      'lock',
      'unlock',
      'maintenance',
      'crons',
    ]) {
      expect(error).toContain(name);
    }
    expect(error).not.toContain('incident-resolve');
    expect(error).toContain('/migrate help');
  });

  it.each(['start', 'unlock', 'lock', 'maintenance', 'crons'])(
    'shows the usage when "%s" is missing the environment',
    (sub) => {
      const error = refused(`${sub} billing`);
      expect(error).toBe(`Usage: \`${usage[sub as Command['name']]}\``);
    },
  );

  it('shows the usage when start has neither service nor environment', () => {
    expect(refused('start')).toBe(`Usage: \`${usage.start}\``);
  });

  it('names a service or environment that is not a name', () => {
    expect(refused('start Billing production')).toMatch(/^"Billing" is not a service name/);
    expect(refused('plan billing Prod!')).toMatch(/^"Prod!" is not an environment name/);
  });

  it.each(['status', 'rollback', 'abort'])('says a bad run id is not a run id for "%s"', (sub) => {
    expect(refused(`${sub} 12`)).toBe(
      `"12" is not a run id (like r12). Usage: \`${usage[sub as Command['name']]}\``,
    );
    expect(refused(`${sub} R12`)).toMatch(/^"R12" is not a run id/);
  });

  it.each(['status', 'rollback', 'abort'])('refuses words after the run id of "%s"', (sub) => {
    expect(refused(`${sub} r12 now please`)).toBe(
      `Unexpected "now please". Usage: \`${usage[sub as Command['name']]}\``,
    );
  });

  it('says a bad run id is not a run id for "incident resolve"', () => {
    expect(refused('incident resolve twelve')).toBe('"twelve" is not a run id (like r12).');
  });

  it('refuses words after "incident resolve <run>"', () => {
    expect(refused('incident resolve r12 it was DNS')).toMatch(/^Unexpected "it was DNS"/);
  });

  it.each([
    ['start billing production --at tomorrow', 'tomorrow'],
    ['start billing production --at 1', '1'],
    ['start billing production --at 2026', '2026'],
    ['start billing production --at 2026-12-01', '2026-12-01'],
    ['start billing production --at 2026-12-01T02:00:00', '2026-12-01T02:00:00'],
    ['start billing production --at 2026-02-31T02:00:00Z', '2026-02-31T02:00:00Z'],
    ['start billing production --at 2026-13-01T02:00:00Z', '2026-13-01T02:00:00Z'],
  ])('refuses "%s" as not an ISO time with a zone', (text, at) => {
    expect(refused(text)).toMatch(
      new RegExp(`^"${at}" is not an ISO time with a zone, such as 2026-12-01T02:00:00Z`),
    );
  });

  it('asks for the time when --at ends the command', () => {
    expect(refused('start billing production --at')).toMatch(/^Give a time after --at/);
    expect(refused('start billing production --at --override now')).toMatch(/^Give a time after --at/);
  });

  it('asks why when --override has no reason, and for --at before it', () => {
    expect(refused('start billing production --override')).toBe(
      `Say why after --override, such as \`--override the fix for the outage cannot wait\`: it goes in the run's timeline. Usage: \`${usage.start}\``,
    );
    expect(refused('start billing production --at 2026-12-01T02:00:00Z --override   ')).toMatch(
      /^Say why after --override/,
    );
    expect(refused('start billing production --override tonight --at 2026-12-01T02:00:00Z')).toBe(
      `Put --at before --override: everything after --override is the reason. Usage: \`${usage.start}\``,
    );
    expect(refused('start billing production --override-now')).toBe(
      `Unexpected "--override-now". Usage: \`${usage.start}\``,
    );
  });

  it('refuses extra words after start, plan, unlock and list', () => {
    expect(refused('start billing production now')).toBe(`Unexpected "now". Usage: \`${usage.start}\``);
    expect(refused('start billing production --at 2026-12-01T02:00:00Z sharp')).toMatch(/^Unexpected "--at/);
    expect(refused('plan billing production please')).toBe(`Unexpected "please". Usage: \`${usage.plan}\``);
    expect(refused('unlock billing production now')).toBe(`Unexpected "now". Usage: \`${usage.unlock}\``);
    expect(refused('list all')).toBe('`/migrate list` takes nothing after it.');
  });

  it('asks for the text of a note', () => {
    expect(refused('note')).toBe(`Write the note after the command. Usage: \`${usage.note}\``);
    expect(refused('note r12')).toBe(`Write the note after the command. Usage: \`${usage.note}\``);
  });

  it('asks for a severity and a summary of an incident', () => {
    expect(refused('incident')).toBe(`Give a severity: sev1, sev2 or sev3. Usage: \`${usage.incident}\``);
    expect(refused('incident r12 sev4 all bad')).toMatch(/^Give a severity: sev1, sev2 or sev3/);
    expect(refused('incident sev2')).toBe(
      `Describe the incident after the severity. Usage: \`${usage.incident}\``,
    );
  });

  it('refuses report with both a run and --all, or with a non-run', () => {
    expect(refused('report r12 --all')).toBe(`Usage: \`${usage.report}\``);
    expect(refused('report last')).toBe(`Usage: \`${usage.report}\``);
  });

  it('asks for a reason to lock', () => {
    expect(refused('lock billing production')).toBe(`Give a reason. Usage: \`${usage.lock}\``);
  });

  it('refuses a maintenance state other than on or off, and extra words', () => {
    expect(refused('maintenance billing production enable')).toBe(`Usage: \`${usage.maintenance}\``);
    expect(refused('maintenance billing production')).toBe(`Usage: \`${usage.maintenance}\``);
    expect(refused('maintenance billing production on now')).toBe(`Usage: \`${usage.maintenance}\``);
  });

  it('refuses a crons action other than disable or enable, and extra words', () => {
    expect(refused('crons billing production off')).toBe(`Usage: \`${usage.crons}\``);
    expect(refused('crons billing production disable all')).toBe(`Usage: \`${usage.crons}\``);
  });
});

describe('button values', () => {
  it('round-trips a run and a step through buttonValue and parseButtonValue', () => {
    expect(parseButtonValue(buttonValue('r12', 'cutover'))).toEqual({ runId: 'r12', stepId: 'cutover' });
    expect(parseButtonValue(buttonValue('r7', 'drain-old-queues-2'))).toEqual({
      runId: 'r7',
      stepId: 'drain-old-queues-2',
    });
  });

  it('round-trips a step with what its button was shown for', () => {
    expect(buttonValue('r12', 'cutover', 'q1a2b3')).toBe('r12:cutover:q1a2b3');
    expect(parseButtonValue('r12:cutover:q1a2b3')).toEqual({
      runId: 'r12',
      stepId: 'cutover',
      shownFor: 'q1a2b3',
    });
  });

  it('round-trips a run alone', () => {
    expect(buttonValue('r12')).toBe('r12');
    expect(parseButtonValue(buttonValue('r12'))).toEqual({ runId: 'r12' });
  });

  it.each([
    undefined,
    '',
    'r',
    '12',
    'r12:',
    ':cutover',
    'r12:Cutover',
    'r12:cut over',
    'r12:a:b:c',
    'r12:a:B',
    'r12:a:',
    'x12:cutover',
    ' r12',
    'r12 ',
    '<script>',
  ])('rejects %j', (value) => {
    expect(parseButtonValue(value)).toBeNull();
  });

  it('uses distinct action ids with a common prefix', () => {
    const ids = Object.values(ActionId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^ferry_[a-z_]+$/);
  });
});
