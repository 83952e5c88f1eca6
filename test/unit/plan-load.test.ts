import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatProblem, loadPlanFile, loadPlans, parsePlan } from '../../src/plan/index.ts';
import type { LoadResult, PlanProblem } from '../../src/plan/index.ts';

const fixtures = fileURLToPath(new URL('../fixtures/plans', import.meta.url));
const broken = join(fixtures, 'broken');

function problemsOf(result: LoadResult): PlanProblem[] {
  if (result.ok) throw new Error(`expected problems, but ${result.file} is valid`);
  return result.problems;
}

async function linesFor(name: string): Promise<string[]> {
  return problemsOf(await loadPlanFile(join(broken, name))).map(formatProblem);
}

/** A one-environment plan around `steps` (YAML text, indented for `steps:`). */
function planWith(steps: string): string {
  return `service: search\nenvironments:\n  staging:\n    steps:\n${steps}`;
}

describe('loadPlanFile', () => {
  it('loads the example plan, with production reusing the anchored steps', async () => {
    const result = await loadPlanFile(join(fixtures, 'billing.yml'));
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    const { plan } = result;
    expect(plan.service).toBe('billing');
    expect(plan.channel).toBe('C0MIGRATIONS');
    expect(plan.starters).toEqual(['U01ALICE']);
    expect(plan.approvers).toEqual({ users: ['U02BOB'], usergroups: ['S0PLATFORM'] });
    const staging = plan.environments.staging!;
    const production = plan.environments.production!;
    expect(staging.steps.map((step) => step.id)).toEqual([
      'maintenance-on',
      'pause-webhooks',
      'disable-crons',
      'pause-workers',
      'smoke',
      'cutover',
      'drain-old-queues',
      'watch-dashboards',
      'latency',
      'enable-crons',
      'maintenance-off',
    ]);
    expect(production.steps).toEqual(staging.steps);
    expect(production.four_eyes).toBe(true);
    expect(staging.four_eyes).toBeUndefined();
    // YAML 1.2: `on` and `off` are strings, not booleans.
    expect(staging.steps[0]).toMatchObject({ kind: 'maintenance', action: 'on' });
    expect(staging.steps[10]).toMatchObject({ kind: 'maintenance', action: 'off' });
    expect(staging.steps[6]).toMatchObject({ kind: 'drain', timeout: 30 * 60_000 });
    expect(staging.steps[5]).toMatchObject({
      kind: 'dns',
      approval: 'required',
      provider: { type: 'route53', record: 'api.billing.example.com.', ttl: 60, max_ttl: 300 },
    });
  });

  it('points an unknown key at the key itself, and a path through an alias at the anchored node', async () => {
    expect(await linesFor('unknown-key.yml')).toEqual([
      `${broken}/unknown-key.yml:19:11 environments.staging.steps[1].provider: unknown key "scael" (expected one of type, app, process_types)`,
      `${broken}/unknown-key.yml:19:11 environments.production.steps[1].provider: unknown key "scael" (expected one of type, app, process_types)`,
    ]);
  });

  it('suggests the key a typo meant, and does not also report that key as missing', async () => {
    expect(await linesFor('typo-key.yml')).toEqual([
      `${broken}/typo-key.yml:8:9 environments.staging.steps[0]: unknown key "provder" (did you mean "provider"?)`,
    ]);
  });

  it('names the allowed values of an enum and the value it got', async () => {
    expect(await linesFor('bad-enum.yml')).toEqual([
      `${broken}/bad-enum.yml:5:59 environments.staging.steps[0].action: expected one of on, off (got "of")`,
    ]);
  });

  it('reports wrong types and an unknown step kind at their values', async () => {
    expect(await linesFor('wrong-type.yml')).toEqual([
      `${broken}/wrong-type.yml:4:16 environments.staging.four_eyes: expected true or false (got "yes")`,
      `${broken}/wrong-type.yml:13:16 environments.staging.steps[0].provider.ttl: expected a number (got "60")`,
      `${broken}/wrong-type.yml:15:15 environments.staging.steps[1].kind: unknown step kind "dnss" ` +
        '(expected one of maintenance, flag, crons, jobs, dns, drain, check, env-diff, manual, watch; did you mean "dns"?)',
    ]);
  });

  it('reports a YAML syntax error at its position', async () => {
    expect(await linesFor('syntax-error.yml')).toEqual([
      `${broken}/syntax-error.yml:6:15: YAML: Nested mappings are not allowed in compact mappings`,
    ]);
  });

  it('refuses a step id used twice in one environment, at the second use', async () => {
    expect(await linesFor('duplicate-step.yml')).toEqual([
      `${broken}/duplicate-step.yml:7:15 environments.staging.steps[2].id: duplicate step id "smoke" ` +
        '(steps[0], line 5, has it too; step ids are unique in an environment)',
    ]);
  });

  it('says a plan file that does not exist cannot be read, without a position', async () => {
    const problems = problemsOf(await loadPlanFile(join(fixtures, 'missing.yml')));
    expect(problems).toEqual([
      {
        file: join(fixtures, 'missing.yml'),
        line: 0,
        column: 0,
        path: '',
        message: 'cannot read the plan: no such file',
      },
    ]);
    expect(formatProblem(problems[0]!)).toBe(`${fixtures}/missing.yml: cannot read the plan: no such file`);
  });
});

describe('parsePlan messages', () => {
  const lines = (text: string): string[] => problemsOf(parsePlan(text, 'p.yml')).map(formatProblem);

  it('reports a missing key at the mapping that lacks it', () => {
    const text = planWith(
      '      - id: pause\n        kind: jobs\n        provider: { type: sidekiq, url: x }\n',
    );
    expect(lines(text)).toEqual([
      'p.yml:5:9 environments.staging.steps[0]: missing required key "action" (expected one of pause, resume)',
    ]);
  });

  it('names the provider types a step kind accepts', () => {
    const text = planWith(
      '      - { id: quiet, kind: flag, action: off, provider: { type: htp, url: x } }\n',
    );
    expect(lines(text)).toEqual([
      'p.yml:5:65 environments.staging.steps[0].provider.type: unknown provider type "htp" for a flag step ' +
        '(expected one of http, redis, heroku; did you mean "http"?)',
    ]);
  });

  it('refuses a soak gate on an environment the plan does not have, or on itself', () => {
    const plan = (requires: string) =>
      'service: search\nenvironments:\n  staging:\n    steps:\n      - { id: m, kind: manual, instructions: x }\n' +
      `  production:\n    requires: { environment: ${requires}, soak: 24h }\n    steps:\n      - { id: m, kind: manual, instructions: x }\n`;
    expect(lines(plan('stagin'))).toEqual([
      'p.yml:7:30 environments.production.requires.environment: no environment "stagin" in this plan ' +
        '(it has staging; did you mean "staging"?)',
    ]);
    expect(lines(plan('production'))).toEqual([
      'p.yml:7:30 environments.production.requires.environment: an environment cannot require itself: ' +
        'name the one that must soak first, such as staging',
    ]);
    expect(parsePlan(plan('staging'), 'p.yml').ok).toBe(true);
  });

  it('reports each bad change window or blackout at its entry, and an empty windows mapping', () => {
    const plan = (windows: string) =>
      `service: search\nenvironments:\n  production:\n    windows: ${windows}\n    steps:\n      - { id: m, kind: manual, instructions: x }\n`;
    expect(
      lines(plan('{ allow: ["Sat 01:00-05:00 Europe/Berln", "Sun 1-5"], deny: ["xmas"], maybe: 1 }')),
    ).toEqual([
      'p.yml:4:24 environments.production.windows.allow[0]: unknown time zone "Europe/Berln" ' +
        '(expected an IANA name such as Europe/Berlin or UTC; did you mean "Europe/Berlin"?)',
      'p.yml:4:56 environments.production.windows.allow[1]: "1-5" is not a time range ' +
        '(expected "<days> HH:MM-HH:MM <IANA zone>" such as "Sat 01:00-05:00 Europe/Berlin"; times are 00:00 to 23:59, or 24:00 for an end)',
      'p.yml:4:75 environments.production.windows.deny[0]: expected a date such as 2026-12-24, a date range such as ' +
        '2026-12-24/2026-12-27, or an instant range such as 2026-12-24T18:00Z/2026-12-25T06:00Z; dates may be followed by an IANA zone (got "xmas")',
      'p.yml:4:84 environments.production.windows: unknown key "maybe" (expected one of allow, deny)',
    ]);
    expect(lines(plan('{}'))).toEqual([
      'p.yml:4:14 environments.production.windows: expected "allow" (the windows a start must fall in), ' +
        '"deny" (blackouts) or both, such as allow: ["Sat 01:00-05:00 Europe/Berlin"]',
    ]);
    const valid = parsePlan(
      plan('{ allow: ["Sat 01:00-05:00 Europe/Berlin"], deny: ["2026-12-24/2026-12-27"] }'),
      'p.yml',
    );
    expect(valid.ok && valid.plan.environments.production!.windows).toMatchObject({
      allow: [{ days: [6], start: 60, end: 300, zone: 'Europe/Berlin' }],
      deny: [{ kind: 'days', first: '2026-12-24', last: '2026-12-27', zone: 'UTC' }],
    });
  });

  it('refuses forward_fix on a step that is not irreversible', () => {
    const text = planWith(
      '      - { id: scale-down, kind: manual, instructions: x, forward_fix: restore from backup }\n',
    );
    expect(lines(text)).toEqual([
      'p.yml:5:58 environments.staging.steps[0].forward_fix: forward_fix is the guidance shown once an irreversible ' +
        'step went through: add irreversible: true, or remove it',
    ]);
    expect(parsePlan(text.replace('forward_fix', 'irreversible: true, forward_fix'), 'p.yml').ok).toBe(true);
  });

  it('reports a provider without a type at the provider mapping', () => {
    const text = planWith('      - { id: dr, kind: drain, provider: { url: x } }\n');
    expect(lines(text)).toEqual([
      'p.yml:5:42 environments.staging.steps[0].provider: missing required key "type" (expected "sidekiq")',
    ]);
  });

  it('explains a check that is none of http, postgres or redis', () => {
    const text = planWith('      - { id: smoke, kind: check, checks: [ { htp: { url: x } } ] }\n');
    expect(lines(text)).toEqual([
      'p.yml:5:47 environments.staging.steps[0].checks[0]: unknown key "htp" ' +
        '(expected one of http, postgres, redis; did you mean "http"?)',
    ]);
  });

  it('reports an unknown key inside a check at the key', () => {
    const text = planWith(
      '      - { id: smoke, kind: check, checks: [ { http: { url: x, expect_stats: 200 } } ] }\n',
    );
    expect(lines(text)).toEqual([
      'p.yml:5:63 environments.staging.steps[0].checks[0].http: unknown key "expect_stats" (did you mean "expect_status"?)',
    ]);
  });

  it('describes each alternative when a value fits none', () => {
    const text = planWith(
      '      - { id: crons, kind: crons, action: disable, provider: { type: sidekiq-cron, url: x, jobs: every } }\n',
    );
    expect(lines(text)).toEqual([
      'p.yml:5:98 environments.staging.steps[0].provider.jobs: expected "all" or a list (got "every")',
    ]);
  });

  it('reports a missing key that takes one of several forms at the mapping, with the forms', () => {
    const text = planWith(
      '      - { id: crons, kind: crons, action: disable, provider: { type: sidekiq-cron, url: x } }\n',
    );
    expect(lines(text)).toEqual([
      'p.yml:5:62 environments.staging.steps[0].provider: missing required key "jobs" (expected "all" or a list)',
    ]);
  });

  it('picks the env-diff target its type names and reports within it', () => {
    const text = planWith(
      '      - id: env\n        kind: env-diff\n        source: { type: heroku, app: search }\n' +
        '        target: { type: file, pth: env.json }\n',
    );
    expect(lines(text)).toEqual([
      'p.yml:8:31 environments.staging.steps[0].target: unknown key "pth" (did you mean "path"?)',
    ]);
  });

  it('tells a number written for a string to be quoted', () => {
    const text = planWith(
      '      - { id: w, kind: jobs, action: pause, provider: { type: heroku-formation, app: 42, process_types: [web] } }\n',
    );
    expect(lines(text)).toEqual([
      'p.yml:5:86 environments.staging.steps[0].provider.app: expected a string (got 42; write "42" in quotes)',
    ]);
  });

  it('reports an invalid environment name at the name', () => {
    const text =
      'service: search\nenvironments:\n  Production:\n    steps: [ { id: w, kind: manual, instructions: x } ]\n';
    expect(lines(text)).toEqual([
      'p.yml:3:3 environments: invalid environment name "Production": expected lowercase letters, digits, dashes and underscores',
    ]);
  });

  it('refuses a plan with no environments', () => {
    expect(lines('service: search\nenvironments: {}\n')).toEqual([
      'p.yml:2:15 environments: a plan needs at least one environment, such as staging',
    ]);
  });

  it('refuses a malformed variable reference and a variable outside the steps', () => {
    const text =
      'service: search\nchannel: ${CHANNEL}\nenvironments:\n  staging:\n    steps:\n' +
      '      - { id: w, kind: maintenance, action: on, provider: { type: http, url: x, token: "${admin-token}" } }\n';
    expect(lines(text)).toEqual([
      'p.yml:2:10 channel: ${CHANNEL} is not read here: variables are read only inside steps',
      'p.yml:6:88 environments.staging.steps[0].provider.token: malformed variable reference "${admin-token}": ' +
        'write ${NAME} (letters, digits and underscores), or $${ for a literal "${"',
    ]);
  });

  it('refuses a channel name where a channel id belongs, saying what an id looks like and where to find it', () => {
    const text =
      'service: search\nchannel: "#migrations"\nenvironments:\n  staging:\n    channel: migrations\n' +
      '    steps: [ { id: w, kind: manual, instructions: x } ]\n';
    expect(lines(text)).toEqual([
      'p.yml:2:10 channel: "#migrations" is a channel name; use the channel id, e.g. C0123ABCD: in Slack, the channel\'s details show it',
      'p.yml:5:14 environments.staging.channel: expected a channel id such as C0123ABCD (C or G, then capital letters and digits; got "migrations"): in Slack, the channel\'s details show it',
    ]);
  });

  it('accepts public and private channel ids, at the top and per environment', () => {
    const text =
      'service: search\nchannel: C0123ABCD\nenvironments:\n  staging:\n    channel: G01PRIVATE9\n' +
      '    steps: [ { id: w, kind: manual, instructions: x } ]\n';
    const result = parsePlan(text, 'p.yml');
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(result.plan.channel).toBe('C0123ABCD');
    expect(result.plan.environments.staging?.channel).toBe('G01PRIVATE9');
    expect(lines(text.replace('C0123ABCD', '"<#C0123ABCD|migrations>"'))).toEqual([
      'p.yml:2:10 channel: "<#C0123ABCD|migrations>" is a channel mention; use the id alone: C0123ABCD',
    ]);
    for (const bad of ['c0123abcd', 'D0123ABCD', 'C', 'C0123 ABCD', '<#C0123ABCD|migrations>']) {
      expect(parsePlan(text.replace('C0123ABCD', JSON.stringify(bad)), 'p.yml').ok, bad).toBe(false);
    }
  });

  it('reports a key that is a list or a mapping as a problem, without a process warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      expect(
        lines(
          'service: search\n? [a, b]\n: 1\nenvironments:\n  staging:\n    steps: [ { id: w, kind: manual, instructions: x } ]\n',
        ),
      ).toEqual([expect.stringMatching(/^p\.yml:1:1: unknown key "\[ a, b \]" \(expected one of service, /)]);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('accepts an escaped $${ and a well-formed reference', () => {
    const text = planWith(
      '      - { id: w, kind: maintenance, action: on, provider: { type: http, url: "$${literal}", token: "${TOKEN}" } }\n',
    );
    expect(parsePlan(text, 'p.yml').ok).toBe(true);
  });

  it('reports an alias with no anchor, an empty file and a list instead of a plan', () => {
    expect(lines('service: search\nenvironments: *envs\n')).toEqual([
      'p.yml:2:15: YAML: alias *envs has no anchor &envs before it',
    ]);
    expect(lines('# nothing yet\n')).toEqual([
      'p.yml:1:1: the file is empty; a plan needs service and environments',
    ]);
    expect(lines('- service: search\n')).toEqual(['p.yml:1:1: expected a mapping (got a list)']);
  });

  it('reports a duplicate key the way YAML does', () => {
    expect(lines('service: search\nservice: billing\nenvironments: {}\n')).toEqual([
      'p.yml:2:1: YAML: Map keys must be unique',
    ]);
  });
});

describe('loadPlans', () => {
  let empty: string;
  beforeAll(async () => {
    empty = await mkdtemp(join(tmpdir(), 'ferry-plans-'));
    await writeFile(join(empty, 'README.md'), 'not a plan\n');
  });
  afterAll(async () => {
    await rm(empty, { recursive: true, force: true });
  });

  it('loads every plan in a folder and refuses a second plan for the same service', async () => {
    const folder = join(fixtures, 'same-service');
    const { plans, problems, files } = await loadPlans(folder);
    expect(files).toEqual([join(folder, 'a-search.yml'), join(folder, 'b-search-again.yml')]);
    expect(plans.map((loaded) => loaded.file)).toEqual([join(folder, 'a-search.yml')]);
    expect(problems.map(formatProblem)).toEqual([
      `${folder}/b-search-again.yml:2:10 service: service "search" already has a plan in ${folder}/a-search.yml; ` +
        'a service has one plan file',
    ]);
  });

  it('loads a single file', async () => {
    const { plans, problems } = await loadPlans(join(fixtures, 'billing.yml'));
    expect(problems).toEqual([]);
    expect(plans.map((loaded) => loaded.plan.service)).toEqual(['billing']);
  });

  it('reads only the top of a folder, sorted by name', async () => {
    const { plans, files } = await loadPlans(fixtures);
    expect(files).toEqual([join(fixtures, 'billing.yml')]);
    expect(plans).toHaveLength(1);
  });

  it('keeps the valid plans of a folder and collects every problem of the others', async () => {
    const { plans, problems, files } = await loadPlans(broken);
    expect(plans).toEqual([]);
    expect(files).toHaveLength(6);
    expect(new Set(problems.map((problem) => problem.file)).size).toBe(6);
  });

  it('says when a folder holds no plan files, or the path does not exist', async () => {
    expect((await loadPlans(empty)).problems.map(formatProblem)).toEqual([
      `${empty}: no plan files (*.yml, *.yaml) in this folder`,
    ]);
    expect((await loadPlans(join(empty, 'nope'))).problems.map(formatProblem)).toEqual([
      `${empty}/nope: no such file or folder`,
    ]);
  });
});
