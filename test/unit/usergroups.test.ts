import { WebClient } from '@slack/web-api';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeSlack } from '../../src/sandbox/fake-slack.ts';
import { UserGroups } from '../../src/slack/usergroups.ts';

describe('approver user groups', () => {
  const slack = new FakeSlack({ rateLimits: false, usergroups: { S0PLATFORM: ['U02BOB'] } });
  let client: WebClient;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const listening = await slack.listen();
    close = () => listening.close();
    client = new WebClient('xoxb-groups', { slackApiUrl: listening.apiUrl, retryConfig: { retries: 0 } });
  });
  afterAll(async () => {
    await close();
  });

  it('asks Slack once for a burst of clicks, and again once the listing is a minute old', async () => {
    let now = 0;
    const groups = new UserGroups(client, pino({ level: 'silent' }), () => now);
    expect(await groups.groupsOf('U02BOB', ['S0PLATFORM'])).toEqual(['S0PLATFORM']);
    expect(await groups.groupsOf('U03MALLORY', ['S0PLATFORM'])).toEqual([]);
    expect(slack.callsTo('usergroups.users.list')).toHaveLength(1);
    now = 61_000;
    await groups.groupsOf('U02BOB', ['S0PLATFORM']);
    expect(slack.callsTo('usergroups.users.list')).toHaveLength(2);
  });

  it('fails closed: when Slack cannot list an expired group, nobody is approved through it', async () => {
    let now = 0;
    const groups = new UserGroups(client, pino({ level: 'silent' }), () => now);
    expect(await groups.groupsOf('U02BOB', ['S0PLATFORM'])).toEqual(['S0PLATFORM']);
    now = 61_000;
    slack.failNext('usergroups.users.list', { error: 'internal_error' });
    expect(await groups.groupsOf('U02BOB', ['S0PLATFORM'])).toEqual([]);
  });
});
