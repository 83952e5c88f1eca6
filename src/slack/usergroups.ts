import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';

// Approver user groups, resolved with usergroups.users.list (Tier 2: ~20 calls a minute), cached
// briefly so a burst of clicks costs one call, yet a removed member loses the right within a minute.

const TTL_MS = 60_000;

export class UserGroups {
  private readonly cache = new Map<string, { members: Set<string>; at: number }>();
  private readonly client: WebClient;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(client: WebClient, log: Logger, now: () => number = Date.now) {
    this.client = client;
    this.log = log;
    this.now = now;
  }

  /** The groups among `candidates` that `user` belongs to. A group Slack will not list counts as not joined. */
  async groupsOf(user: string, candidates: readonly string[]): Promise<string[]> {
    const found: string[] = [];
    for (const group of candidates) {
      const members = await this.members(group);
      if (members.has(user)) found.push(group);
    }
    return found;
  }

  private async members(group: string): Promise<Set<string>> {
    const cached = this.cache.get(group);
    if (cached && this.now() - cached.at < TTL_MS) return cached.members;
    try {
      const res = await this.client.usergroups.users.list({ usergroup: group });
      const members = new Set(res.users ?? []);
      this.cache.set(group, { members, at: this.now() });
      return members;
    } catch (error) {
      // no_such_subteam, plan_upgrade_required, Slack down: nobody is approved through this group.
      // Fail closed: an expired listing could still name someone who was removed.
      this.log.warn({ err: error, group }, 'could not list user group members');
      return new Set();
    }
  }
}
