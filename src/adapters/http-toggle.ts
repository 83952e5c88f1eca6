import { StepError } from '../errors.ts';
import type { HttpToggleProvider, StepSpec } from '../plan/schema.ts';
import { displayUrl, httpCall, systemWords } from './http-client.ts';
import type { HttpContext, HttpFailure, HttpMethod, RetryPolicy } from './http-client.ts';
import type { AdapterEnv, StepHandler } from './types.ts';

// The `http` maintenance/flag provider: an endpoint the app itself serves.
//   GET  <url>  -> {"enabled": bool}
//   PUT  <url>  {"enabled": bool}, Authorization: Bearer <token>

export type HttpToggleStep = Extract<StepSpec, { kind: 'maintenance' | 'flag' }> & {
  provider: HttpToggleProvider;
};

export interface HttpToggleCaptured {
  enabled: boolean;
}

export interface HttpToggleOptions {
  retry?: Partial<RetryPolicy>;
}

const onOff = (on: boolean) => (on ? 'on' : 'off');

export function httpToggleHandler(
  env: AdapterEnv,
  options: HttpToggleOptions = {},
): StepHandler<HttpToggleStep, HttpToggleCaptured> {
  const call = async (
    step: HttpToggleStep,
    method: HttpMethod,
    ctx: HttpContext,
    enabled?: boolean,
  ): Promise<boolean> => {
    const provider = step.provider;
    if (provider.type !== 'http') {
      throw new StepError(
        `step ${step.id} has provider ${String(provider.type)}, but was given to the http adapter`,
        {
          retryable: false,
          reason: 'wrong_provider',
        },
      );
    }
    const shown = displayUrl(provider.url);
    const system = `the ${step.kind} endpoint ${shown}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (provider.token !== undefined && provider.token !== '')
      headers.Authorization = `Bearer ${provider.token}`;
    const res = await httpCall(
      env.fetch,
      provider.url,
      {
        method,
        headers,
        json: enabled === undefined ? undefined : { enabled },
        timeoutMs: provider.timeout ?? env.httpTimeoutMs,
        system,
        secrets: provider.token === undefined ? [] : [provider.token],
        retry: options.retry,
        describeFailure: (f) => describeToggleFailure(f, system, provider.token !== undefined),
      },
      ctx,
    );
    const value = (res.body as { enabled?: unknown } | undefined)?.enabled;
    if (typeof value === 'boolean') return value;
    if (method === 'PUT' && enabled !== undefined && res.body === undefined) return enabled;
    throw new StepError(
      `${system} answered ${method} with ${systemWords(res)}, not {"enabled": true|false}: check that the URL is the toggle endpoint itself`,
      { retryable: false, reason: 'bad_response' },
    );
  };

  return {
    async describe(step, ctx) {
      const shown = displayUrl(step.provider.url);
      try {
        const current = await call(step, 'GET', ctx);
        return `${shown}: ${onOff(current)} -> ${step.action}`;
      } catch (error) {
        return `${shown}: -> ${step.action} (current state unknown: ${error instanceof Error ? error.message : String(error)})`;
      }
    },
    async capture(step, ctx) {
      return { enabled: await call(step, 'GET', ctx) };
    },
    async run(step, captured, ctx) {
      const after = await call(step, 'PUT', ctx, step.action === 'on');
      return {
        summary: `${displayUrl(step.provider.url)}: ${onOff(after)} (was ${onOff(captured.enabled)})`,
      };
    },
    async undo(step, captured, ctx) {
      const after = await call(step, 'PUT', ctx, captured.enabled);
      return { summary: `${displayUrl(step.provider.url)}: back ${onOff(after)}` };
    },
  };
}

function describeToggleFailure(f: HttpFailure, system: string, hasToken: boolean): StepError | undefined {
  const said = `${f.status}: ${f.words}`;
  if (f.status === 401) {
    return new StepError(
      hasToken
        ? `${system} refused the token (${said}): check the token the plan gives in provider.token`
        : `${system} wants a token (${said}): add provider.token to the plan, e.g. token: "\${BILLING_ADMIN_TOKEN}"`,
      { retryable: false, reason: 'unauthorized' },
    );
  }
  if (f.status === 403) {
    return new StepError(
      `${system} refused the token (${said}): check the token the plan gives in provider.token`,
      {
        retryable: false,
        reason: 'forbidden',
      },
    );
  }
  if (f.status === 404) {
    return new StepError(`${system} was not found (${said}): check provider.url in the plan`, {
      retryable: false,
      reason: 'not_found',
    });
  }
  return undefined;
}
