import { App, LogLevel, SocketModeReceiver, type Logger as BoltLogger } from '@slack/bolt';
import { WebClient, type FetchFunction, type RetryOptions } from '@slack/web-api';
import { FerryError } from '../errors.ts';
import type { Logger } from 'pino';
import type { RunsDeps } from '../runs/deps.ts';
import { firstDelivery } from '../runs/deliveries.ts';
import { registerActions } from './listeners/actions.ts';
import { registerCommands } from './listeners/commands.ts';
import { AfterAckQueue, type AfterAckLimits, type Place } from './after-ack.ts';
import { deferDeliveryCheck, type DeliveryCheck } from './deliveries.ts';
import { answerTheUnknown } from './listeners/fallbacks.ts';
import { registerHome } from './listeners/home.ts';
import { registerNotes } from './listeners/notes.ts';
import { SlackHttpReceiver } from './http-receiver.ts';
import { Permalinks } from './permalinks.ts';
import { SocketModeLink } from './socket-mode.ts';
import { UserGroups } from './usergroups.ts';

/**
 * The after-ack queue's limits: a few listeners work at once, so their replies do not hold up the
 * acks of requests arriving meanwhile; far more may wait, more than Slack sends a bot in a burst,
 * and still a bound on the memory a flood can take (each holds what its work reads). Work waits for
 * a 20 ms pause in arrivals, which only a burst of over 50 requests a second fills, and never more
 * than 2 s.
 */
export const AFTER_ACK: AfterAckLimits = { working: 4, waiting: 1_024, quietMs: 20, overdueMs: 2_000 };

export interface SlackAppOptions {
  botToken: string;
  signingSecret: string;
  appToken: string | undefined;
  apiUrl: string;
  log: Logger;
  /** Everything but who belongs to which user group, which this app's WebClient answers. */
  runs: Omit<RunsDeps, 'directory'>;
  now: () => number;
  retryConfig?: RetryOptions;
  /** Who the bot is, from `verifyBotToken`. */
  identity: BotIdentity;
  /** Every Web API call and respond() goes through it (`redactingFetch`: bodies redacted). */
  fetch?: FetchFunction;
  /** How many listeners work after their ack at once, and how many requests may wait (tests). */
  afterAck?: AfterAckLimits;
}

export interface BotIdentity {
  botId: string;
  botUserId: string;
}

/**
 * Asks Slack who the bot token belongs to, before anything else talks to Slack: a token Slack
 * refuses stops start-up with a clear line instead of failing later, in the middle of a run.
 */
export async function verifyBotToken(
  token: string,
  apiUrl: string,
  retryConfig?: RetryOptions,
): Promise<BotIdentity> {
  const client = new WebClient(token, {
    slackApiUrl: apiUrl,
    timeout: 10_000,
    retryConfig: retryConfig ?? { retries: 3 },
  });
  try {
    const auth = await client.auth.test();
    if (!auth.bot_id || !auth.user_id)
      throw new FerryError('config_invalid', 'SLACK_BOT_TOKEN is not a bot token: auth.test named no bot.');
    return { botId: auth.bot_id, botUserId: auth.user_id };
  } catch (error) {
    if (error instanceof FerryError) throw error;
    const code = (error as { data?: { error?: string } }).data?.error;
    throw new FerryError(
      'config_invalid',
      code
        ? `Slack refused SLACK_BOT_TOKEN (${code}): check the Bot User OAuth Token of the installed app.`
        : `Could not reach Slack at ${apiUrl} to check SLACK_BOT_TOKEN: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

export interface SlackApp {
  app: App;
  /** The use cases' deps, with this app's user groups as the directory. */
  runs: RunsDeps;
  /** Set in HTTP mode: what answers POST /slack/events. */
  receiver: SlackHttpReceiver | undefined;
  /** Set in Socket Mode: the WebSocket to Slack, kept open and watched (readiness, metrics). */
  socket: SocketModeLink | undefined;
  groups: UserGroups;
  /** Waits for listeners still working after their ack, and those still waiting for their turn. */
  drain(): Promise<void>;
}

/** Bolt wiring: Socket Mode when an app token is set, else HTTP on POST /slack/events. */
export function createSlackApp(options: SlackAppOptions): SlackApp {
  const logger = boltLogger(options.log.child({ component: 'bolt' }));
  const clientOptions = {
    slackApiUrl: options.apiUrl,
    // Bounded: a listener must not hang for half an hour on Slack's default retry policy.
    retryConfig: options.retryConfig ?? { retries: 5, factor: 2, minTimeout: 500, maxTimeout: 30_000 },
    timeout: 10_000,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
  const receiver = options.appToken
    ? undefined
    : new SlackHttpReceiver({
        // Checks Slack's timestamps against the machine's clock (Date.now), never an injected one.
        signingSecret: options.signingSecret,
        log: options.log.child({ component: 'slack-http' }),
      });
  // Socket Mode: apps.connections.open goes through the same client options (SLACK_API_URL, the
  // redacting fetch). Bolt's client does not reconnect by itself: a reconnect that fails there is an
  // unhandled rejection, which stops the process; SocketModeLink reconnects with backoff instead.
  const socketReceiver = options.appToken
    ? new SocketModeReceiver({
        appToken: options.appToken,
        logger,
        autoReconnectEnabled: false,
        installerOptions: { clientOptions },
      })
    : undefined;
  // Bot ids from the auth.test Ferry made at start: Bolt then makes no unawaited check of its own.
  const identity = { botId: options.identity.botId, botUserId: options.identity.botUserId };
  const app = new App({
    token: options.botToken,
    ...identity,
    receiver: receiver ?? socketReceiver,
    logger,
    clientOptions,
    // Bolt's conversation store is a middleware on every request that keeps per-conversation state
    // in memory; Ferry's state is in Postgres and nothing reads context.conversation.
    convoStore: false,
  });
  const socket = socketReceiver
    ? new SocketModeLink(socketReceiver.client, {
        log: options.log.child({ component: 'socket-mode' }),
        now: options.now,
      })
    : undefined;

  const afterAck = new AfterAckQueue(options.afterAck ?? AFTER_ACK);
  const groups = new UserGroups(app.client, options.log, options.now);
  const runs: RunsDeps = { ...options.runs, directory: groups };

  /**
   * Slack retries and repeated deliveries: each event or trigger is handled once. The key is recorded
   * when the request's turn comes, after its ack: the ack waits for no database round trip.
   */
  const recordFirst = async (key: string | undefined, retry: number | undefined) => {
    if (!key) return true;
    // A database that cannot record the key does not block the request (a first delivery is assumed).
    const isFirst = await firstDelivery(options.runs, key).catch(() => true);
    if (!isFirst) options.log.info({ key, retry }, 'duplicate Slack delivery ignored');
    return isFirst;
  };

  // Every request takes a place in the after-ack queue before its listener runs; shutdown waits
  // for all of them, queued or working, and for work handed over, before closing the database.
  const pending = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };
  app.use(async (args) => {
    const place = await afterAck.admit();
    const check = deliveryCheck({
      place,
      key: deliveryKey(args.body),
      retry: args.context.retryNum,
      record: recordFirst,
      track,
      log: options.log,
    });
    const chain = (async () => {
      // Events were acknowledged by Bolt before any middleware: a repeat stops here. Anything else is
      // acknowledged by its listener, which waits for its turn and the record after its ack.
      if (!('ack' in args) || typeof args.ack !== 'function') {
        if (await check.afterTurn()) await args.next();
        return;
      }
      deferDeliveryCheck(args.context, check);
      await args.next();
    })();
    track(chain);
    try {
      await chain;
    } finally {
      // Work handed over leaves the place itself, once done.
      if (!check.handedOver()) place.leave();
    }
  });

  answerTheUnknown(app, options.log);
  const permalinks = new Permalinks(app.client, options.log);
  registerCommands(app, { runs, log: options.log, now: options.now, permalinks });
  registerActions(app, { runs, log: options.log });
  registerNotes(app, { runs, log: options.log, permalinks });
  registerHome(app, { runs, log: options.log, permalinks, now: options.now });
  // Passed on to the receiver, which answers 400 when nothing was acknowledged yet (a payload Bolt
  // could not take apart before any listener ran): swallowed here, the request would go unanswered.
  app.error((error) => {
    options.log.warn({ err: error }, 'a Slack request failed in Bolt or a listener');
    return Promise.reject(error);
  });
  return {
    app,
    runs,
    receiver,
    socket,
    groups,
    drain: async () => {
      await Promise.allSettled([...pending]);
    },
  };
}

/** Only ids Slack would send: a field of another type (an object with its own `toString`) is no key. */
function deliveryKey(body: unknown): string | undefined {
  const { event_id: eventId, trigger_id: triggerId } = body as { event_id?: unknown; trigger_id?: unknown };
  if (typeof eventId === 'string' && eventId) return `event:${eventId}`;
  if (typeof triggerId === 'string' && triggerId) return `trigger:${triggerId}`;
  return undefined;
}

/**
 * A request's delivery check, built apart from the request so that its closures hold the key and
 * the place, never Bolt's arguments: work handed over waits for its turn holding nothing else.
 */
function deliveryCheck(deps: {
  place: Place;
  key: string | undefined;
  retry: number | undefined;
  record: (key: string | undefined, retry: number | undefined) => Promise<boolean>;
  track: (work: Promise<void>) => void;
  log: Logger;
}): DeliveryCheck & { handedOver(): boolean } {
  const { place, key, retry, record } = deps;
  let first: Promise<boolean> | undefined;
  let handedOver = false;
  const afterTurn = () => (first ??= place.turn().then(() => record(key, retry)));
  return {
    afterTurn,
    withoutTurn: () => {
      place.skipTurn();
      return (first ??= record(key, retry));
    },
    handOver: (work) => {
      handedOver = true;
      deps.track(
        (async () => {
          try {
            if (await afterTurn()) await work();
          } catch (error) {
            deps.log.warn({ err: error }, 'a Slack request failed after its ack');
          } finally {
            place.leave();
          }
        })(),
      );
    },
    handedOver: () => handedOver,
  };
}

function boltLogger(log: Logger): BoltLogger {
  let level = LogLevel.INFO;
  // Bolt logs several debug lines per request (a body among them): below the level, not even
  // turned into text, which would cost every ack.
  const write =
    (fn: 'debug' | 'info' | 'warn' | 'error') =>
    (...msgs: unknown[]) => {
      if (log.isLevelEnabled(fn)) log[fn](msgs.map(String).join(' '));
    };
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
