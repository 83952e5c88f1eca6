// The shape every drill shares, so `npm run drills` can run them one after another and publish
// their figures side by side (drills/results.json, docs/reliability.md).

export interface DrillContext {
  /** PostgreSQL for Ferry's tables; each drill uses schemas of its own under it. */
  pgUrl: string;
  /** Redis for Sidekiq-shaped drills; each drill uses a database index or key prefix of its own. */
  redisUrl: string;
  /** Epoch ms by which the drill should have finished (the whole suite has 5 minutes on two cores). */
  deadline: number;
  /** A progress line for the person watching. */
  log(line: string): void;
}

export interface DrillResult {
  /** Figures for drills/results.json, named as the published keys (`kill_points`, `forged_accepted`, …). */
  figures: Record<string, number>;
  /** What went wrong, one readable line each: a failing drill is a finding, reported as it is. */
  findings: string[];
}

export interface Drill {
  /** Short name shown in the report, e.g. "kill at every boundary". */
  name: string;
  run(ctx: DrillContext): Promise<DrillResult>;
}
