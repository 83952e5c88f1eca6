import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { RetryOptions } from '@slack/web-api';
import type { Logger } from 'pino';
import type { RunService } from '../runs/service.ts';
import { registerActions } from './listeners/actions.ts';
import { registerCommands } from './listeners/commands.ts';
import { UserGroups } from './usergroups.ts';

export interface SlackAppOptions {
  botToken: string;
  signingSecret: string;
  appToken: string | undefined;
  apiUrl: string;
  log: Logger;
  runs: RunService;
  now: () => number;
  retryConfig?: RetryOptions;
}

export interface SlackApp {
  app: App;
  /** Set in HTTP mode: the listener for POST /slack/events. */
  receiver: HTTPReceiver | undefined;
  groups: UserGroups;
}

/** Bolt wiring: Socket Mode when an app token is set, else HTTP on POST /slack/events. */
export function createSlackApp(options: SlackAppOptions): SlackApp {
  const logger = boltLogger(options.log.child({ component: 'bolt' }));
  const clientOptions = {
    slackApiUrl: options.apiUrl,
    // Bounded: a listener must not hang for half an hour on Slack's default retry policy.
    retryConfig: options.retryConfig ?? { retries: 5, factor: 2, minTimeout: 500, maxTimeout: 30_000 },
    timeout: 10_000,
  };
  const receiver = options.appToken
    ? undefined
    : new HTTPReceiver({
        signingSecret: options.signingSecret,
        endpoints: '/slack/events',
        logger,
        processBeforeResponse: false,
        unhandledRequestTimeoutMillis: 3001,
      });
  const app = receiver
    ? new App({ token: options.botToken, receiver, logger, clientOptions })
    : new App({
        token: options.botToken,
        appToken: options.appToken,
        socketMode: true,
        logger,
        clientOptions,
      });

  const groups = new UserGroups(app.client, options.log, options.now);

  // Slack retries and repeated deliveries: handle each event or trigger once.
  app.use(async (args) => {
    const body = args.body as { event_id?: string; trigger_id?: string };
    const key = body.event_id
      ? `event:${body.event_id}`
      : body.trigger_id
        ? `trigger:${body.trigger_id}`
        : undefined;
    if (key && !(await options.runs.firstDelivery(key))) {
      options.log.info({ key, retry: args.context.retryNum }, 'duplicate Slack delivery ignored');
      if ('ack' in args && typeof args.ack === 'function') await args.ack();
      return;
    }
    await args.next();
  });

  registerCommands(app, {
    runs: options.runs,
    log: options.log,
    now: options.now,
    groups,
  });
  registerActions(app, { runs: options.runs, groups, log: options.log });
  app.error(async (error) => {
    options.log.error({ err: error }, 'Slack listener failed');
    return Promise.resolve();
  });
  return { app, receiver, groups };
}

function boltLogger(log: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const write =
    (fn: 'debug' | 'info' | 'warn' | 'error') =>
    (...msgs: unknown[]) =>
      log[fn](msgs.map(String).join(' '));
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
