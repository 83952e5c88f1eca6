import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Server } from 'node:http';
import pino, { type Logger } from 'pino';
import { createRegistry } from './adapters/registry.ts';
import type { AdapterEnv } from './adapters/types.ts';
import { systemClock, type Clock } from './clock.ts';
import { ConfigError, LOCAL_MODE_DATABASE_REFUSAL, type Config } from './config.ts';
import { Executor } from './executor/executor.ts';
import { Scheduler } from './runs/scheduler.ts';
import { killingFailpoints } from './failpoints.ts';
import { FerryMetrics } from './metrics.ts';
import { Waker } from './store/wake.ts';
import { createHttpServer, listen, type Route } from './http/server.ts';
import { formatProblem, loadPlans, type LoadedPlan } from './plan/load.ts';
import type { RunsDeps } from './runs/deps.ts';
import type { FakeSlack } from './sandbox/fake-slack.ts';
import type { Sandbox } from './sandbox/index.ts';
import { createSlackApp, verifyBotToken } from './slack/app.ts';
import { redactingFetch } from './slack/redacting-fetch.ts';
import { redactingLogger } from './log.ts';
import { ferryCredentials, planSecrets, Redactor } from './redact.ts';
import { Publisher, publisherClient } from './publisher/publisher.ts';
import { mrkdwn } from './slack/views/format.ts';
import { answers, openDatabase, type Database } from './store/db.ts';
import { countActiveRuns, pruneDeliveries } from './store/runs.ts';

// The composition root: config in, a running Ferry out. main.ts adds the process around it
// (signals, exit codes); tests start it in-process with their own config.

export interface RunningFerry {
  url: string;
  port: number;
  db: Database;
  /** The use cases' deps: what tests and the sandbox call `startRun`, `act`, … with. */
  runs: RunsDeps;
  executor: Executor;
  scheduler: Scheduler;
  plans: readonly LoadedPlan[];
  /** Local mode's Slack stand-in (the sandbox); undefined when connected to Slack. */
  fakeSlack: FakeSlack | undefined;
  signingSecret: string;
  /** `graceMs: 0` stops steps in flight at once (the sandbox's Reset the world discards their world). */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** The one redactor for logs and Slack; Ferry adds its credentials and the plans' secrets. */
  redactor?: Redactor;
  clock?: Clock;
  host?: string;
  /** Extra routes on Ferry's port (the sandbox console and protocol fakes). */
  routes?: Route[];
  /** Local mode: starts this Ferry over (the console's Reset the world). startFerry sets it itself. */
  sandboxReset?: () => void;
}

export async function startFerry(config: Config, options: StartOptions = {}): Promise<RunningFerry> {
  const redactor = (options.redactor ?? new Redactor()).add(ferryCredentials(config));
  const log = redactingLogger(options.log ?? pino({ level: config.logLevel }), redactor);
  const clock = options.clock ?? systemClock;
  const local = config.mode === 'local';
  // The sandbox's fakes must never act on a real database's runs, whoever built this Config.
  if (local && config.databaseUrl) throw new ConfigError([LOCAL_MODE_DATABASE_REFUSAL]);
  if (local && !options.sandboxReset) {
    const { resettable } = await import('./sandbox/index.ts');
    return resettable(
      (port, reset) =>
        startFerry({ ...config, port: port ?? config.port }, { ...options, sandboxReset: reset }),
      log,
    );
  }
  log.info(
    config.databaseUrl
      ? `Ferry starting (${local ? 'local sandbox' : 'Slack'} mode) on PostgreSQL`
      : `Ferry starting (${local ? 'local sandbox' : 'Slack'} mode) on embedded PGlite under ${config.dataDir}`,
  );

  // The sandbox keeps its database apart from a real embedded one, and starts it over with its
  // fakes: a run left from an earlier session would point at messages that no longer exist.
  const dataDir = local ? path.join(config.dataDir, 'sandbox') : config.dataDir;
  if (local && !config.databaseUrl)
    await rm(path.resolve(dataDir, 'pglite'), { recursive: true, force: true });
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    schema: config.dbSchema,
    dataDir,
    log,
    redactor,
  });
  const waker = new Waker();
  const stops: Array<() => Promise<void>> = [() => db.close(), () => waker.close()];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse())
      await stop().catch((error: unknown) => log.warn({ err: error }, 'shutdown step failed'));
  };
  try {
    await waker.listen(db.listenUrl, log);

    const plansPath = config.plansPath ?? (existsSync('plans') || !local ? 'plans' : 'examples/plans');
    const loaded = await loadPlans(plansPath);
    for (const problem of loaded.problems) log.error(`plan problem: ${formatProblem(problem)}`);
    const plans = loaded.plans;
    log.info(
      { path: plansPath, services: plans.map((p) => p.plan.service) },
      `${plans.length} plan(s) loaded`,
    );

    const metrics = new FerryMetrics(() => countActiveRuns(db));
    const signingSecret = config.slack.signingSecret ?? randomBytes(24).toString('hex');
    let slackListener: ReturnType<typeof createSlackApp> | undefined = undefined;
    let acceptingSlack = true;
    const routes: Route[] = [...(options.routes ?? [])];
    const server: Server = createHttpServer({
      slack: () =>
        config.slack.appToken
          ? 'socket-mode'
          : acceptingSlack
            ? (slackListener?.receiver?.handle ?? 'unavailable')
            : 'unavailable',
      ready: () => answers(db),
      ...(config.slack.appToken
        ? {
            slackSocket: () =>
              slackListener?.socket?.readiness(config.socketDownReadyMs) ?? {
                ready: true,
                state: 'connecting',
              },
          }
        : {}),
      metrics: metrics.registry,
      metricsToken: config.metricsToken,
      routes: () => routes,
      onError: (error) => log.error({ err: error }, 'HTTP request failed'),
    });
    const port = await listen(server, config.port, options.host ?? config.host);
    stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    server.closeIdleConnections();
    const url = `http://127.0.0.1:${port}`;
    let sandbox: Sandbox | undefined;
    if (local) {
      // Imported only in local mode: its fakes bring the Kubernetes client and more with them.
      const { createSandbox } = await import('./sandbox/index.ts');
      sandbox = await createSandbox({
        url,
        signingSecret,
        log: log.child({ component: 'sandbox' }),
        env: config.planEnv,
        consoleToken: config.consoleToken,
        ...(options.sandboxReset ? { reset: options.sandboxReset } : {}),
      });
      stops.push(() => sandbox!.stop());
      routes.push(...sandbox.routes);
    }
    const fakeSlack = sandbox?.fakeSlack;
    const planEnv = { ...sandbox?.planEnv, ...config.planEnv };
    const secrets = planSecrets(plans, planEnv);
    redactor.add([signingSecret, ...secrets.values]);
    if (secrets.shortNames.length > 0)
      log.warn(
        { variables: secrets.shortNames },
        'secret plan variables shorter than 4 characters are hidden only where they stand as a word of their own; use longer secrets',
      );

    const adapterEnv: AdapterEnv = {
      heroku: config.heroku,
      route53: { endpoint: config.aws.route53Endpoint, region: config.aws.region },
      sidekiqHeartbeatMs: config.sidekiqHeartbeatMs,
      pollIntervalMs: config.pollIntervalMs,
      httpTimeoutMs: config.httpTimeoutMs,
      fetch: globalThis.fetch,
      ...sandbox?.adapterEnv,
    };
    const handlerFor = createRegistry(adapterEnv);
    const failpoints = killingFailpoints(config.failpoints);
    const executor = new Executor({
      db,
      log: log.child({ component: 'executor' }),
      clock,
      waker,
      handlerFor,
      planEnv,
      leaseMs: config.leaseMs,
      concurrency: config.stepConcurrency,
      metrics,
      failpoints,
    });
    const useCases = {
      db,
      clock,
      waker,
      log,
      plans: () => plans,
      planEnv,
      defaultChannel: config.defaultChannel,
      cancel: (runId: string, stepId: string) => executor.cancel(runId, stepId),
      handlerFor,
      failpoints,
    };

    const botToken = config.slack.botToken ?? 'xoxb-ferry-sandbox';
    const slackApiUrl = fakeSlack ? `${url}/api/` : config.slack.apiUrl;
    const slackRetries = fakeSlack
      ? { retries: 3, factor: 1.5, minTimeout: 200, maxTimeout: 5_000 }
      : undefined;
    slackListener = createSlackApp({
      identity: await verifyBotToken(botToken, slackApiUrl, slackRetries),
      fetch: redactingFetch(redactor),
      botToken,
      signingSecret,
      appToken: config.slack.appToken,
      apiUrl: slackApiUrl,
      log,
      runs: useCases,
      now: () => clock.now(),
      ...(slackRetries ? { retryConfig: slackRetries } : {}),
    });
    const socket = slackListener.socket;
    if (socket)
      metrics.watchSlackSocket(
        () => socket.readings(),
        () => clock.now(),
      );
    if (config.slack.appToken) {
      await slackListener.app.start();
      stops.push(() => slackListener.app.stop().then(() => undefined));
    }

    const publisher = new Publisher({
      db,
      // Its own client: a post is never retried blindly (a lost answer would show it twice).
      client: publisherClient({ token: botToken, apiUrl: slackApiUrl, log, fetch: redactingFetch(redactor) }),
      waker,
      clock,
      log: log.child({ component: 'publisher' }),
      minEditIntervalMs: config.slack.minEditIntervalMs,
      editsPerMinute: config.slack.editsPerMinute,
      failpoints,
      plans: () => plans,
    });
    const { runs } = slackListener;
    const client = slackListener.app.client;
    const scheduler = new Scheduler({
      runs,
      onFailure: async (scheduled, error) => {
        await client.chat.postMessage({
          channel: scheduled.channel,
          text: `⚠️ The scheduled start ${scheduled.id} of ${scheduled.service} ${scheduled.environment} (for <@${scheduled.requestedBy}>) did not start: ${mrkdwn(error.words)}`,
        });
      },
      tell: async (channel, message) => {
        await client.chat.postMessage({ channel, text: mrkdwn(message) });
      },
    });
    executor.start();
    publisher.start();
    scheduler.start();
    // Slack delivery keys only need to outlive Slack's retries (the last comes after 5 minutes).
    const housekeeping = setInterval(() => {
      pruneDeliveries(db, 24 * 3_600_000).catch((error: unknown) =>
        log.warn({ err: error }, 'pruning deliveries failed'),
      );
    }, 3_600_000);
    housekeeping.unref();

    /**
     * In order: no new Slack requests, then the work they started, then no new runs or steps, steps
     * in flight finish (within the grace period), their events reach Slack, and only then the
     * sandbox, the LISTEN connection and the database close.
     */
    const shutdown = async (stopping: { graceMs?: number } = {}) => {
      const step = (what: string, fn: () => Promise<unknown>) =>
        fn().catch((error: unknown) => log.warn({ err: error }, `shutdown: ${what} failed`));
      // Slack gets 503 from here on (and retries events elsewhere); the port stays open for the
      // sandbox's fakes, which steps in flight and the last publish still talk to.
      acceptingSlack = false;
      if (config.slack.appToken) await step('Socket Mode', () => slackListener.app.stop());
      await step('Slack listeners', () => slackListener.drain());
      clearInterval(housekeeping);
      await step('scheduler', () => scheduler.stop());
      await step('executor', () => executor.stop(stopping.graceMs ?? config.shutdownGraceMs));
      await step('publisher', () => publisher.stop(stopping.graceMs));
      const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // the sandbox console's event streams never end by themselves
      await httpClosed;
      await step('sandbox', () => sandbox?.stop() ?? Promise.resolve());
      await step('LISTEN connection', () => waker.close());
      await step('database', () => db.close());
      stops.length = 0;
    };

    log.info(
      { port, mode: config.mode },
      local ? `Ferry sandbox: http://localhost:${port}` : `Ferry listening on port ${port}`,
    );
    return { url, port, db, runs, executor, scheduler, plans, fakeSlack, signingSecret, stop: shutdown };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
