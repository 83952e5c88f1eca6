// Named points on Ferry's durable paths where a drill may kill the process outright (SIGKILL: no
// shutdown code runs), to prove that a crash at any of them resumes with each change made once and
// every event recorded once. Inert unless FERRY_FAILPOINTS names points (refused in production).
//
// A spec is `name[:key][@n]`, several separated by commas: `act.after:do:cutover`,
// `post.after:event@3`. The key must match exactly when given; `@n` kills at the nth matching hit
// (default the first). Keys: `<direction>:<step id>` for step points, the message kind for posts.

export const failpointNames = [
  /** A step attempt was claimed; nothing read or changed yet. */
  'claim.after',
  /** About to read the before-state. */
  'capture.before',
  /** The before-state is committed; nothing changed yet. */
  'capture.after',
  /** About to call the adapter's run or undo. */
  'act.before',
  /** The adapter changed the system; its outcome is not recorded yet. */
  'act.after',
  /** About to record the outcome and the engine's next decision. */
  'record.before',
  /** The outcome and the next decision are committed; no wake-up sent yet. */
  'record.after',
  /** A person's command or click is decided and committed; no wake-up or reply sent yet. */
  'decision.after',
  /** About to call Slack to post or edit a run's message. */
  'post.before',
  /** Slack took the post or edit; Ferry has not stored its reference yet. */
  'post.after',
] as const;

export type FailpointName = (typeof failpointNames)[number];

export interface Failpoints {
  /** Kills the process here when a configured point matches; otherwise does nothing. */
  hit(name: FailpointName, key?: string): void;
}

export const noFailpoints: Failpoints = { hit: () => undefined };

interface Point {
  spec: string;
  name: FailpointName;
  key: string | undefined;
  nth: number;
  seen: number;
}

/** Parses FERRY_FAILPOINTS; returns the problems instead when a spec names no known point. */
export function parseFailpoints(text: string): { ok: true; points: string[] } | { ok: false; error: string } {
  const specs = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const spec of specs) {
    const parsed = parseSpec(spec);
    if (!parsed)
      return {
        ok: false,
        error: `"${spec}" is not a failpoint: expected name[:key][@n] with a name among ${failpointNames.join(', ')}`,
      };
  }
  return { ok: true, points: specs };
}

function parseSpec(spec: string): Omit<Point, 'seen'> | null {
  const match = /^([a-z.]+)(?::([^@]+))?(?:@(\d+))?$/.exec(spec);
  if (!match || !(failpointNames as readonly string[]).includes(match[1]!)) return null;
  const nth = match[3] ? Number(match[3]) : 1;
  if (nth < 1) return null;
  return { spec, name: match[1] as FailpointName, key: match[2], nth };
}

/**
 * Failpoints that kill this process with SIGKILL at the configured hits. `onKill` runs first (the
 * drill reads which point fired from the line it writes).
 */
export function killingFailpoints(
  specs: readonly string[],
  onKill: (spec: string) => void = (spec) => process.stderr.write(`failpoint ${spec} reached: SIGKILL\n`),
): Failpoints {
  const points: Point[] = specs.flatMap((spec) => {
    const parsed = parseSpec(spec);
    return parsed ? [{ ...parsed, seen: 0 }] : [];
  });
  if (points.length === 0) return noFailpoints;
  return {
    hit(name, key) {
      for (const point of points) {
        if (point.name !== name || (point.key !== undefined && point.key !== key)) continue;
        point.seen += 1;
        if (point.seen === point.nth) {
          onKill(point.spec);
          process.kill(process.pid, 'SIGKILL');
        }
      }
    },
  };
}
