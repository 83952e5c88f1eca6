import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatProblem, loadPlans } from './plan/index.ts';

// The `ferry` command line, for work that needs no Slack: `ferry validate plans/` in a plan
// repository's CI. Exit codes: 0 fine, 1 problems found, 2 the command itself was wrong.

export type CliOutput = { stdout(line: string): void; stderr(line: string): void };

const usage = `Usage: ferry <command>

Commands:
  validate <file-or-folder>   Check plan files: one file, or every *.yml and *.yaml in a folder.
                              Prints each problem as file:line:column path: message.
  help                        Show this help.

Exit status: 0 when every plan is valid, 1 when there is a problem, 2 on a usage error.`;

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

async function validate(target: string, out: CliOutput): Promise<number> {
  const { plans, problems, files } = await loadPlans(target);
  for (const problem of problems) out.stdout(formatProblem(problem));
  if (problems.length > 0) {
    const failing = new Set(problems.map((problem) => problem.file)).size;
    const checked = Math.max(files.length, failing);
    out.stdout(`${plural(problems.length, 'problem')} in ${failing} of ${plural(checked, 'file')}.`);
    return 1;
  }
  const summary = plans.map(({ plan }) => `${plan.service} (${Object.keys(plan.environments).join(', ')})`);
  out.stdout(`${plural(plans.length, 'plan')} valid: ${summary.join('; ')}.`);
  return 0;
}

/** Runs one `ferry` command; resolves to the exit status. */
export async function runCli(argv: readonly string[], out: CliOutput): Promise<number> {
  const [command, ...rest] = argv;
  const usageError = (message: string): number => {
    out.stderr(`ferry: ${message}`);
    out.stderr(usage);
    return 2;
  };
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      out.stdout(usage);
      return 0;
    case 'validate': {
      if (rest.includes('--help') || rest.includes('-h')) {
        out.stdout(usage);
        return 0;
      }
      const option = rest.find((arg) => arg.startsWith('-') && arg !== '-');
      if (option !== undefined) return usageError(`validate takes no option "${option}"`);
      if (rest.length !== 1 || rest[0] === undefined) {
        return usageError('validate takes exactly one file or folder, such as "ferry validate plans/"');
      }
      return validate(rest[0], out);
    }
    case undefined:
      return usageError('no command given');
    default:
      return usageError(`unknown command "${command}"`);
  }
}

/** True when this process was started as `node src/cli.ts` or through `bin/ferry.js`. */
function startedAsCommand(): boolean {
  if (import.meta.main) return true;
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    const bin = fileURLToPath(new URL('../bin/ferry.js', import.meta.url));
    return realpathSync(script) === realpathSync(bin);
  } catch {
    return false;
  }
}

if (startedAsCommand()) {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  });
}
