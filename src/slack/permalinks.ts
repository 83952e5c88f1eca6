import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';

/** At most this many permalinks are kept; a campaign links one run per service and environment. */
const MAX_CACHED = 2_000;

/**
 * Links to messages (a run's status message: its thread) from chat.getPermalink. A permalink never
 * changes, so each is asked for once per process. A message Slack gives no link for is shown
 * without one: a missing link must not keep the App Home or `/migrate list` from showing.
 */
export class Permalinks {
  private readonly cache = new Map<string, string>();
  private readonly client: WebClient;
  private readonly log: Logger;

  constructor(client: WebClient, log: Logger) {
    this.client = client;
    this.log = log;
  }

  async of(channel: string, ts: string): Promise<string | undefined> {
    const key = `${channel}/${ts}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    try {
      const res = await this.client.chat.getPermalink({ channel, message_ts: ts });
      if (!res.permalink) return undefined;
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, res.permalink);
      return res.permalink;
    } catch (error) {
      this.log.warn(
        { err: error, channel, ts },
        'Slack gave no permalink for a message; shown without a link',
      );
      return undefined;
    }
  }

  /** Links for runs, by run id, from their status messages. */
  async forRuns(
    runs: ReadonlyArray<{ runId: string; statusMessage: { channel: string; ts: string } | null }>,
  ): Promise<Map<string, string>> {
    const links = new Map<string, string>();
    for (const { runId, statusMessage } of runs) {
      if (!statusMessage) continue;
      const link = await this.of(statusMessage.channel, statusMessage.ts);
      if (link) links.set(runId, link);
    }
    return links;
  }
}
