import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = join(root, 'test/fixtures/plans');

async function run(...argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli(argv, {
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
  });
  return { code, stdout, stderr };
}

describe('ferry validate', () => {
  it('exits 0 and names the valid plans', async () => {
    const result = await run('validate', join(fixtures, 'billing.yml'));
    expect(result).toEqual({ code: 0, stdout: ['1 plan valid: billing (staging, production).'], stderr: [] });
  });

  it('prints every problem in a folder, one a line, then a summary, and exits 1', async () => {
    const folder = join(fixtures, 'broken');
    const result = await run('validate', folder);
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([]);
    expect(result.stdout).toHaveLength(10);
    expect(result.stdout).toContain(
      `${folder}/typo-key.yml:8:9 environments.staging.steps[0]: unknown key "provder" (did you mean "provider"?)`,
    );
    expect(result.stdout).toContain(
      `${folder}/bad-enum.yml:5:59 environments.staging.steps[0].action: expected one of on, off (got "of")`,
    );
    for (const line of result.stdout.slice(0, -1)) expect(line).toMatch(/^\/.+\.yml:\d+:\d+:? /);
    expect(result.stdout.at(-1)).toBe('9 problems in 6 of 6 files.');
  });

  it('exits 1 when the path does not exist', async () => {
    const result = await run('validate', join(fixtures, 'nope'));
    expect(result).toEqual({
      code: 1,
      stdout: [`${fixtures}/nope: no such file or folder`, '1 problem in 1 of 1 file.'],
      stderr: [],
    });
  });

  it('exits 2 on usage errors, saying what was wrong', async () => {
    for (const [argv, reason] of [
      [[], 'ferry: no command given'],
      [['deploy'], 'ferry: unknown command "deploy"'],
      [['validate'], 'ferry: validate takes exactly one file or folder, such as "ferry validate plans/"'],
      [
        ['validate', 'a', 'b'],
        'ferry: validate takes exactly one file or folder, such as "ferry validate plans/"',
      ],
      [['validate', '--strict', 'plans'], 'ferry: validate takes no option "--strict"'],
    ] as const) {
      const result = await run(...argv);
      expect(result.code).toBe(2);
      expect(result.stdout).toEqual([]);
      expect(result.stderr[0]).toBe(reason);
      expect(result.stderr[1]).toMatch(/^Usage: ferry <command>/);
    }
  });

  it('prints help and exits 0', async () => {
    for (const argv of [['help'], ['--help'], ['validate', '--help']]) {
      const result = await run(...argv);
      expect(result.code).toBe(0);
      expect(result.stdout.join('\n')).toContain('validate <file-or-folder>');
    }
  });
});

describe('bin/ferry.js', () => {
  const exec = promisify(execFile);

  it('runs validate as a command, with its exit status', async () => {
    const ok = await exec(process.execPath, ['bin/ferry.js', 'validate', 'test/fixtures/plans'], {
      cwd: root,
    });
    expect(ok.stdout).toBe('1 plan valid: billing (staging, production).\n');

    const failed = await exec(
      process.execPath,
      ['bin/ferry.js', 'validate', 'test/fixtures/plans/broken/bad-enum.yml'],
      {
        cwd: root,
      },
    ).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toBe(
      'test/fixtures/plans/broken/bad-enum.yml:5:59 environments.staging.steps[0].action: expected one of on, off (got "of")\n' +
        '1 problem in 1 of 1 file.\n',
    );
  });
});
