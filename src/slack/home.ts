import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { LoadedPlan } from '../plan/load.ts';
import type { Campaign } from '../runs/home.ts';
import type { Permalinks } from './permalinks.ts';
import { linkedRuns } from './views/campaign.ts';
import { homeDigest, renderHome } from './views/home.ts';

/** What each viewer was last shown (runs/home.ts `homeBook`, or the store for the publisher). */
export interface HomeBook {
  /** True when `user` was last shown something else: this caller publishes `digest` to them. */
  claim(user: string, digest: string): Promise<boolean>;
  release(user: string, digest: string): Promise<void>;
}

/**
 * Publishes the campaign to people's App Home tabs, each once per version of it: the view is claimed
 * for a person before views.publish (so replicas and the opening listener do not both publish it),
 * and released if Slack refused it, so the next refresh tries again. Returns how many were published.
 */
export async function publishHome(
  options: {
    client: WebClient;
    permalinks: Permalinks;
    book: HomeBook;
    log: Logger;
    plans: readonly LoadedPlan[];
    now: number;
  },
  campaign: Campaign,
  users: readonly string[],
): Promise<number> {
  const { client, permalinks, book, log } = options;
  if (users.length === 0) return 0;
  const links = await permalinks.forRuns(
    linkedRuns(campaign).map((e) => ({ runId: e.record.state.id, statusMessage: e.statusMessage })),
  );
  const view = renderHome(options.plans, campaign, options.now, links);
  const digest = homeDigest(view);
  let published = 0;
  for (const user of users) {
    if (!(await book.claim(user, digest))) continue;
    try {
      await client.views.publish({ user_id: user, view });
      published += 1;
    } catch (error) {
      log.warn({ err: error, user }, 'could not publish the App Home tab; the next refresh tries again');
      await book
        .release(user, digest)
        .catch((releaseError: unknown) =>
          log.warn({ err: releaseError, user }, 'could not forget a failed App Home publish'),
        );
    }
  }
  return published;
}
