import { App, HTTPReceiver, LogLevel } from '@slack/bolt';
import { WebClient } from '@slack/web-api';

// The baseline: a Bolt app whose only listeners ack, in HTTP mode like Ferry, checking signatures
// the same way and asking the same Slack stand-in who it is at start (then telling Bolt, as Ferry
// does, so no request waits for that). What answering costs any Bolt app shows here; what Ferry
// adds shows as the difference.
//
// Environment: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL. Prints "listening on port N".

const token = process.env.SLACK_BOT_TOKEN ?? '';
const slackApiUrl = process.env.SLACK_API_URL ?? '';
const auth = await new WebClient(token, { slackApiUrl }).auth.test();
const receiver = new HTTPReceiver({
  signingSecret: process.env.SLACK_SIGNING_SECRET ?? '',
  endpoints: '/slack/events',
  processBeforeResponse: false,
  logLevel: LogLevel.ERROR,
});
const app = new App({
  token,
  botId: auth.bot_id!,
  botUserId: auth.user_id!,
  receiver,
  logLevel: LogLevel.ERROR,
  clientOptions: { slackApiUrl },
});
app.command(/.*/, async ({ ack }) => ack());
app.action(/.*/, async ({ ack }) => ack());
const server = await receiver.start(Number(process.env.PORT ?? 0));
const address = server.address();
process.stdout.write(
  `listening on port ${typeof address === 'object' && address ? address.port : String(address)}\n`,
);
process.on('SIGTERM', () => {
  void receiver.stop().then(() => process.exit(0));
});
