import type { Logger } from 'pino';
import type { AdapterEnv } from '../adapters/types.ts';
import type { Route } from '../http/server.ts';
import { FakeSlack } from './fake-slack.ts';

// Local mode: everything a rehearsal needs on Ferry's own port, with no Slack, AWS or Heroku.

export interface Sandbox {
  fakeSlack: FakeSlack;
  routes: Route[];
  /** Variables the example plans use (`${SANDBOX_URL}`, tokens); the real environment wins. */
  planEnv: Record<string, string>;
  /** Adapter settings that point Route 53 and Heroku at the local fakes. */
  adapterEnv: Partial<AdapterEnv>;
  stop(): Promise<void>;
}

export interface SandboxOptions {
  /** Ferry's own base URL, e.g. http://127.0.0.1:3000. */
  url: string;
  signingSecret: string;
  log: Logger;
}

export function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  const fakeSlack = new FakeSlack({ baseUrl: options.url });
  return Promise.resolve({
    fakeSlack,
    routes: [(req, res) => fakeSlack.handle(req, res)],
    planEnv: { SANDBOX_URL: options.url },
    adapterEnv: {},
    stop: () => Promise.resolve(),
  });
}
