import { ConfigError, loadConfig } from './config.ts';
import { startFerry } from './ferry.ts';
import { createLogger } from './log.ts';
import { ferryCredentials, Redactor } from './redact.ts';

// The process: configuration from the environment, Ferry, and a graceful shutdown on SIGTERM.

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

const redactor = new Redactor(ferryCredentials(config));
const log = createLogger({ level: config.logLevel, redactor });
const ferry = await startFerry(config, { log, redactor }).catch((error: unknown) => {
  log.fatal({ err: error }, 'Ferry could not start');
  process.exit(1);
});
if (config.mode === 'local') {
  // The sandbox's code (its fakes, the Kubernetes client they bring) is loaded in local mode only.
  const { sandboxBanner } = await import('./sandbox/index.ts');
  process.stdout.write(sandboxBanner(config.host, config.consoleToken, ferry.port));
}

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight work');
    ferry.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
