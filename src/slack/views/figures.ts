import { formatDuration } from '../../duration.ts';

// A step's figures as a person reads them in the thread: "p95 1.3 ms over 3 samples", "33 polls",
// "worker dynos 2 → 0", not `http.latency.p95_ms 1.3, polls 33`. The report keeps the raw figures.

type Figures = Readonly<Record<string, number | string>>;

const subjects: Record<string, string> = {
  http: 'HTTP',
  redis: 'Redis',
  postgres: 'Postgres',
  dns: 'DNS',
  checks: 'checks',
  cronjobs: 'CronJobs',
  prometheus: 'Prometheus',
};

/** "peakJobs" -> "peak jobs", "insync_seconds" -> "insync seconds". */
function humanize(key: string): string {
  return key
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/[_.]+/g, ' ')
    .toLowerCase()
    .trim();
}

/** One figure as a phrase: the number first where it counts something ("33 polls"). */
function phrase(key: string, value: number | string): string {
  const name = humanize(key);
  if (typeof value === 'string') return `${name} ${value}`;
  if (/(?:^|_|\b)ms$|Ms$/.test(key)) return `${name.replace(/ ms$/, '')} ${formatDuration(value)}`;
  if (/_seconds$|Seconds$/.test(key))
    return `${name.replace(/ seconds$/, '')} ${formatDuration(value * 1_000)}`;
  return `${value} ${name}`;
}

/**
 * The figures as phrases, grouped the way people say them: latencies with their samples, dyno
 * counts before and after. Phrases whose every number the step's summary already states are left
 * out (`alreadySaid`), so the thread does not say the same thing twice.
 */
export function figurePhrases(figures: Figures, alreadySaid = ''): string[] {
  const left = new Map(Object.entries(figures));
  const out: string[] = [];
  const take = (key: string) => {
    const value = left.get(key);
    left.delete(key);
    return value;
  };

  // Latency: `[subject.]latency.p50_ms` … and `[subject.]samples` -> "HTTP p50 1.4 ms, p95 2.2 ms over 3 samples".
  const prefixes = new Set(
    [...left.keys()].flatMap((k) => {
      const m = /^(?:(.+)\.)?latency\.(?:p50|p95|p99|max)_ms$/.exec(k);
      return m ? [m[1] ?? ''] : [];
    }),
  );
  for (const prefix of prefixes) {
    const at = (k: string) => (prefix ? `${prefix}.${k}` : k);
    const parts = ['p50', 'p95', 'p99', 'max'].flatMap((q) => {
      const v = take(at(`latency.${q}_ms`));
      return v === undefined ? [] : [`${q} ${v} ms`];
    });
    const samples = take(at('samples'));
    const subject = prefix ? `${subjects[prefix] ?? humanize(prefix)} ` : '';
    out.push(`${subject}${parts.join(', ')}${samples === undefined ? '' : ` over ${samples} samples`}`);
  }

  // Counts before and after: `dynos.worker.before 2`, `dynos.worker.after 0` -> "worker dynos 2 → 0".
  for (const key of [...left.keys()]) {
    const m = /^(.+)\.(.+)\.before$/.exec(key);
    if (!m || !left.has(`${m[1]}.${m[2]}.after`)) continue;
    out.push(`${m[2]} ${humanize(m[1]!)} ${take(key)} → ${take(`${m[1]}.${m[2]}.after`)}`);
  }

  // Checks: `checks.total 2`, `checks.failed 0` -> "2 checks, none failed".
  const total = take('checks.total');
  const failedChecks = take('checks.failed');
  if (total !== undefined)
    out.push(
      `${total} check${total === 1 ? '' : 's'}${failedChecks === undefined ? '' : failedChecks === 0 ? ', none failed' : `, ${failedChecks} failed`}`,
    );
  else if (failedChecks !== undefined) out.push(`${failedChecks} checks failed`);

  for (const [key, value] of left) {
    // "0 missing" says nothing a person needs; a value the summary names is said already.
    if (value === 0 || (typeof value === 'string' && alreadySaid.includes(value))) continue;
    const [head, ...rest] = key.split('.');
    const subject = rest.length > 0 && head && subjects[head] ? `${subjects[head]} ` : '';
    out.push(`${subject}${phrase(rest.length > 0 && subject ? rest.join('.') : key, value)}`);
  }
  return out.filter((p) => !saysAlready(alreadySaid, p));
}

/** Every number in the phrase already appears in the text (as a number of its own). */
function saysAlready(text: string, phrase: string): boolean {
  const numbers = phrase.match(/\d+(?:\.\d+)?/g);
  if (!numbers) return text.includes(phrase);
  const said = new Set(text.match(/\d+(?:\.\d+)?/g) ?? []);
  return numbers.every((n) => said.has(n));
}

/** The phrases as one clause for a thread line ("33 polls; change id C27…"), or '' when all were said. */
export function figureSentence(figures: Figures | undefined, alreadySaid = ''): string {
  return figures ? figurePhrases(figures, alreadySaid).join('; ') : '';
}
