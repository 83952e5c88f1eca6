import type { App } from '@slack/bolt';
import type { Logger } from 'pino';
import type { RunsDeps } from '../../runs/deps.ts';
import { homeBook, homeOpened } from '../../runs/home.ts';
import { publishHome } from '../home.ts';
import type { Permalinks } from '../permalinks.ts';

export interface HomeDeps {
  runs: RunsDeps;
  log: Logger;
  permalinks: Permalinks;
  now: () => number;
}

/**
 * The App Home tab: published when someone opens it, and remembered so the publisher republishes it
 * for them while runs change (publisher.ts `refreshHome`).
 */
export function registerHome(app: App, deps: HomeDeps): void {
  app.event('app_home_opened', async ({ event, client }) => {
    if (event.tab !== 'home') return;
    try {
      const campaign = await homeOpened(deps.runs, event.user);
      await publishHome(
        {
          client,
          permalinks: deps.permalinks,
          book: homeBook(deps.runs),
          log: deps.log,
          plans: deps.runs.plans(),
          now: deps.now(),
        },
        campaign,
        [event.user],
      );
    } catch (error) {
      deps.log.warn({ err: error, user: event.user }, 'could not show the App Home tab');
    }
  });
}
