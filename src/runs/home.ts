import {
  claimHomePublish,
  readCampaign,
  recordHomeOpened,
  releaseHomePublish,
  type Campaign,
  type CampaignRun,
} from '../store/home.ts';
import type { RunsDeps } from './deps.ts';

// The campaign across services and environments, for the App Home tab and `/migrate list`, and who
// is shown it: someone who opens the tab gets it then, and again whenever it changes (the publisher
// republishes it for recent viewers).

export type { Campaign, CampaignRun };

/** The latest run of every service and environment, active ad hoc toggles, locks and scheduled starts. */
export function campaign(deps: Pick<RunsDeps, 'db'>): Promise<Campaign> {
  return readCampaign(deps.db);
}

/** Someone opened the App Home tab: remember them, for refreshes, and give them the campaign now. */
export async function homeOpened(deps: Pick<RunsDeps, 'db' | 'clock'>, user: string): Promise<Campaign> {
  await recordHomeOpened(deps.db, user, new Date(deps.clock.now()));
  return readCampaign(deps.db);
}

/** What each viewer was last shown, so the same campaign is published to a person once. */
export function homeBook(deps: Pick<RunsDeps, 'db' | 'clock'>) {
  return {
    claim: (user: string, digest: string) =>
      claimHomePublish(deps.db, user, digest, new Date(deps.clock.now())),
    release: (user: string, digest: string) => releaseHomePublish(deps.db, user, digest),
  };
}
