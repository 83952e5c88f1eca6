import { StepError } from '../errors.ts';
import type { HerokuFormationProvider, HerokuMaintenanceProvider, StepSpec } from '../plan/schema.ts';
import { httpCall, pause } from './http-client.ts';
import type { HttpContext, HttpFailure, HttpMethod, HttpResponse, RetryPolicy } from './http-client.ts';
import type { AdapterEnv, EarlierStep, StepContext, StepHandler, StepResult } from './types.ts';

// Heroku Platform API (integrations.md §2): app maintenance, formation (dyno counts) and config vars.
// Maintenance only blocks HTTP at the router: workers and Scheduler jobs keep running, which is why
// maintenance, jobs and crons are separate steps.

export interface HerokuClientOptions {
  retry?: Partial<RetryPolicy>;
  /** When RateLimit-Remaining falls below this, Ferry waits before each call. */
  slowDownBelow?: number;
  /** The longest such wait (an empty pool); Heroku refills about one call every 0.8 s. */
  slowDownMs?: number;
}

export interface HerokuApp {
  name: string;
  maintenance: boolean;
}

export interface HerokuFormation {
  type: string;
  quantity: number;
  size: string;
}

export interface FormationUpdate {
  type: string;
  quantity: number;
}

interface CallSpec {
  method: HttpMethod;
  path: string;
  app: string;
  /** What Ferry was doing, for messages: "read the maintenance flag of". */
  doing: string;
  json?: unknown;
  range?: string;
  /** The message for a 404 when "app not found" is not what it means. */
  notFound?: (failure: HttpFailure) => StepError | undefined;
}

export class HerokuClient {
  readonly #apiUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #retry: Partial<RetryPolicy>;
  readonly #slowDownBelow: number;
  readonly #slowDownMs: number;
  /** The account's remaining calls as the last response said, shared by every step using this client. */
  rateLimitRemaining: number | undefined;

  constructor(
    env: Pick<AdapterEnv, 'heroku' | 'httpTimeoutMs' | 'fetch'>,
    options: HerokuClientOptions = {},
  ) {
    this.#apiUrl = env.heroku.apiUrl.replace(/\/+$/, '');
    this.#token = env.heroku.token;
    this.#timeoutMs = env.httpTimeoutMs;
    this.#fetch = env.fetch;
    this.#retry = options.retry ?? {};
    this.#slowDownBelow = options.slowDownBelow ?? 100;
    this.#slowDownMs = options.slowDownMs ?? 800;
  }

  async getApp(app: string, ctx: HttpContext): Promise<HerokuApp> {
    const res = await this.#call({ method: 'GET', path: `/apps/${enc(app)}`, app, doing: 'read app' }, ctx);
    return toApp(res, app);
  }

  async setMaintenance(app: string, on: boolean, ctx: HttpContext): Promise<HerokuApp> {
    const res = await this.#call(
      {
        method: 'PATCH',
        path: `/apps/${enc(app)}`,
        app,
        doing: 'set maintenance mode on',
        json: { maintenance: on },
      },
      ctx,
    );
    return toApp(res, app);
  }

  async listFormation(app: string, ctx: HttpContext): Promise<HerokuFormation[]> {
    const items = await this.#list(
      { method: 'GET', path: `/apps/${enc(app)}/formation`, app, doing: 'list the dynos of' },
      ctx,
    );
    return items.map((item) => toFormation(item, app));
  }

  /** Batch update: every listed type is set to its quantity in one call. */
  async updateFormation(
    app: string,
    updates: readonly FormationUpdate[],
    ctx: HttpContext,
  ): Promise<HerokuFormation[]> {
    const res = await this.#call(
      {
        method: 'PATCH',
        path: `/apps/${enc(app)}/formation`,
        app,
        doing: 'scale the dynos of',
        json: { updates: updates.map(({ type, quantity }) => ({ type, quantity })) },
        notFound: (f) =>
          new StepError(
            `Heroku could not scale app ${app} (404 ${f.reason ?? 'not_found'}: ${f.words}): check the app name and process_types in the plan`,
            { retryable: false, reason: f.reason ?? 'not_found' },
          ),
      },
      ctx,
    );
    if (!Array.isArray(res.body)) throw badResponse(res, `scaling the dynos of ${app}`);
    return res.body.map((item) => toFormation(item, app));
  }

  /** The app's config vars, a flat object (values are secrets: never log or show them). */
  async readConfigVars(app: string, ctx: HttpContext): Promise<Record<string, string>> {
    const res = await this.#call(
      { method: 'GET', path: `/apps/${enc(app)}/config-vars`, app, doing: 'read the config vars of' },
      ctx,
    );
    if (typeof res.body !== 'object' || res.body === null || Array.isArray(res.body)) {
      throw badResponse(res, `reading the config vars of ${app}`);
    }
    const vars: Record<string, string> = {};
    for (const [key, value] of Object.entries(res.body as Record<string, unknown>)) {
      if (value === null || value === undefined) continue;
      vars[key] = typeof value === 'string' ? value : JSON.stringify(value);
    }
    return vars;
  }

  /** Follows Next-Range until the last page (206 Partial Content means more follow). */
  async #list(spec: CallSpec, ctx: HttpContext): Promise<unknown[]> {
    const items: unknown[] = [];
    let range: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const res = await this.#call({ ...spec, range }, ctx);
      if (!Array.isArray(res.body)) throw badResponse(res, `listing for ${spec.app}`);
      items.push(...(res.body as unknown[]));
      const next = res.headers.get('next-range');
      if (res.status !== 206 || next === null || next === '') return items;
      range = next;
    }
    throw new StepError(`Heroku kept paginating while Ferry tried to ${spec.doing} app ${spec.app}`, {
      retryable: false,
      reason: 'pagination',
    });
  }

  async #call(spec: CallSpec, ctx: HttpContext): Promise<HttpResponse> {
    const token = this.#token;
    if (token === undefined || token === '') {
      throw new StepError(
        `HEROKU_API_TOKEN is not set, so Ferry cannot ${spec.doing} app ${spec.app}: set it to a token from "heroku authorizations:create"`,
        { retryable: false, reason: 'no_token' },
      );
    }
    await this.#slowDownIfLow(ctx);
    const headers: Record<string, string> = {
      Accept: 'application/vnd.heroku+json; version=3',
      Authorization: `Bearer ${token}`,
    };
    if (spec.range !== undefined) headers.Range = spec.range;
    return httpCall(
      this.#fetch,
      `${this.#apiUrl}${spec.path}`,
      {
        method: spec.method,
        headers,
        json: spec.json,
        timeoutMs: this.#timeoutMs,
        system: 'Heroku',
        secrets: [token],
        retry: this.#retry,
        accept: (status) => status === 200 || status === 201 || status === 206,
        onResponse: (raw) => {
          const remaining = Number(raw.headers.get('ratelimit-remaining') ?? Number.NaN);
          if (Number.isFinite(remaining)) this.rateLimitRemaining = remaining;
        },
        describeFailure: (failure) =>
          (failure.status === 404 && spec.notFound?.(failure)) || describeHerokuFailure(failure, spec),
      },
      ctx,
    );
  }

  /** GCRA refills slowly: when the pool runs low, space calls out instead of hitting 429s. */
  async #slowDownIfLow(ctx: HttpContext): Promise<void> {
    const remaining = this.rateLimitRemaining;
    if (remaining === undefined || remaining >= this.#slowDownBelow) return;
    const delayMs = Math.max(
      1,
      Math.round((this.#slowDownMs * (this.#slowDownBelow - remaining)) / this.#slowDownBelow),
    );
    ctx.log.info({ remaining, delayMs }, 'Heroku rate limit low: slowing down');
    await pause(ctx, delayMs);
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function badResponse(res: HttpResponse, what: string): StepError {
  return new StepError(`Heroku answered ${res.status} with an unexpected body while ${what}`, {
    retryable: false,
    reason: 'bad_response',
  });
}

function describeHerokuFailure(f: HttpFailure, spec: CallSpec): StepError {
  const id = f.reason ?? String(f.status);
  const said = `${f.status} ${id}: ${f.words}`;
  switch (f.status) {
    case 401:
      return new StepError(
        `Heroku refused the API token (${said}): set HEROKU_API_TOKEN to a valid token ("heroku authorizations:create" makes one that does not expire)`,
        { retryable: false, reason: id },
      );
    case 403:
      return new StepError(
        `Heroku says the token's account may not ${spec.doing} app ${spec.app} (${said}): give that account access to the app, or use a token of an account that has it`,
        { retryable: false, reason: id },
      );
    case 404:
      return new StepError(
        `Heroku says app ${spec.app} was not found (404 ${id}): check the app name and that the token's account can see it`,
        { retryable: false, reason: id },
      );
    case 429:
      return new StepError(
        `Heroku's API rate limit is used up (${said}): Ferry retries the step after a pause; other tools using the same account share the limit`,
        { retryable: true, reason: id },
      );
    default:
      return new StepError(
        `Heroku could not ${spec.doing} app ${spec.app} (${said})${f.transient ? ': Ferry retries the step' : ''}`,
        {
          retryable: f.transient,
          reason: id,
        },
      );
  }
}

function toApp(res: HttpResponse, app: string): HerokuApp {
  const body = res.body as { name?: unknown; maintenance?: unknown } | undefined;
  if (typeof body !== 'object' || body === null || typeof body.maintenance !== 'boolean') {
    throw badResponse(res, `reading app ${app}`);
  }
  return { name: typeof body.name === 'string' ? body.name : app, maintenance: body.maintenance };
}

function toFormation(item: unknown, app: string): HerokuFormation {
  const f = item as { type?: unknown; quantity?: unknown; size?: unknown } | null;
  if (typeof f !== 'object' || f === null || typeof f.type !== 'string' || typeof f.quantity !== 'number') {
    throw new StepError(`Heroku returned a formation entry for ${app} without a type and quantity`, {
      retryable: false,
      reason: 'bad_response',
    });
  }
  return { type: f.type, quantity: f.quantity, size: typeof f.size === 'string' ? f.size : '' };
}

/** One client per AdapterEnv, so the rate-limit reading is shared by every Heroku step. */
const clients = new WeakMap<AdapterEnv, HerokuClient>();
export function herokuClientFor(env: AdapterEnv): HerokuClient {
  let client = clients.get(env);
  if (!client) {
    client = new HerokuClient(env);
    clients.set(env, client);
  }
  return client;
}

// ---------------------------------------------------------------------------------------------------
// Maintenance (kind maintenance | flag, provider heroku)

export type HerokuToggleStep = Extract<StepSpec, { kind: 'maintenance' | 'flag' }> & {
  provider: HerokuMaintenanceProvider;
};

export interface HerokuMaintenanceCaptured {
  maintenance: boolean;
}

function requireProvider<T extends string>(step: StepSpec, type: T): void {
  const actual = 'provider' in step ? step.provider.type : undefined;
  if (actual !== type) {
    throw new StepError(
      `step ${step.id} has provider ${actual ?? 'none'}, but was given to the ${type} adapter`,
      {
        retryable: false,
        reason: 'wrong_provider',
      },
    );
  }
}

const onOffWord = (on: boolean) => (on ? 'on' : 'off');

export function herokuMaintenanceHandler(
  env: AdapterEnv,
  client: HerokuClient = herokuClientFor(env),
): StepHandler<HerokuToggleStep, HerokuMaintenanceCaptured> {
  return {
    async describe(step, ctx) {
      requireProvider(step, 'heroku');
      const app = step.provider.app;
      try {
        const current = await client.getApp(app, ctx);
        return `Heroku ${app} maintenance ${onOffWord(current.maintenance)} -> ${step.action}`;
      } catch (error) {
        return `Heroku ${app} maintenance -> ${step.action} (current state unknown: ${messageOf(error)})`;
      }
    },
    async capture(step, ctx) {
      requireProvider(step, 'heroku');
      const current = await client.getApp(step.provider.app, ctx);
      return { maintenance: current.maintenance };
    },
    async run(step, captured, ctx) {
      requireProvider(step, 'heroku');
      const app = step.provider.app;
      const after = await client.setMaintenance(app, step.action === 'on', ctx);
      return {
        summary: `Heroku ${app} maintenance ${onOffWord(after.maintenance)} (was ${onOffWord(captured.maintenance)})`,
      };
    },
    async undo(step, captured, ctx) {
      requireProvider(step, 'heroku');
      const app = step.provider.app;
      const after = await client.setMaintenance(app, captured.maintenance, ctx);
      return { summary: `Heroku ${app} maintenance back ${onOffWord(after.maintenance)}` };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Formation (kind jobs pause|resume, kind crons disable|enable; provider heroku-formation)

export type HerokuFormationStep = Extract<StepSpec, { kind: 'jobs' | 'crons' }> & {
  provider: HerokuFormationProvider;
};

export interface HerokuFormationCaptured {
  app: string;
  /** Quantities of the step's process types before it ran; undo restores these. */
  quantities: Record<string, number>;
  /** What run scales to: 0 for pause/disable; for resume/enable, what the opening step captured. */
  target: Record<string, number>;
  /** The step whose capture the target came from (resume/enable only). */
  restoredFrom?: string;
}

function isOpening(step: HerokuFormationStep): boolean {
  return step.action === 'pause' || step.action === 'disable';
}

function isFormationCapture(value: unknown): value is HerokuFormationCaptured {
  if (typeof value !== 'object' || value === null) return false;
  const quantities = (value as { quantities?: unknown }).quantities;
  return typeof quantities === 'object' && quantities !== null;
}

/** For each type, the latest earlier pause/disable step on the same app that captured it. */
function findOpeningCaptures(
  app: string,
  types: readonly string[],
  earlier: ReadonlyArray<EarlierStep>,
): Map<string, { quantity: number; stepId: string }> {
  const found = new Map<string, { quantity: number; stepId: string }>();
  for (let i = earlier.length - 1; i >= 0; i--) {
    const e = earlier[i];
    if (!e) continue;
    const step = e.step;
    if (step.kind !== 'jobs' && step.kind !== 'crons') continue;
    if (step.provider.type !== 'heroku-formation' || step.provider.app !== app) continue;
    if (step.action !== 'pause' && step.action !== 'disable') continue;
    if (!isFormationCapture(e.captured)) continue;
    for (const type of types) {
      const quantity = e.captured.quantities[type];
      if (!found.has(type) && typeof quantity === 'number') found.set(type, { quantity, stepId: step.id });
    }
  }
  return found;
}

function checkTypes(app: string, types: readonly string[], formation: readonly HerokuFormation[]): void {
  const known = new Set(formation.map((f) => f.type));
  const unknown = types.filter((t) => !known.has(t));
  if (unknown.length === 0) return;
  const listed = [...known].sort().join(', ') || 'none';
  throw new StepError(
    `Heroku app ${app} has no process type ${unknown.map((t) => `"${t}"`).join(', ')}; its process types are: ${listed}. Fix process_types in the plan`,
    { retryable: false, reason: 'unknown_process_type' },
  );
}

function changes(
  app: string,
  from: Record<string, number>,
  to: Record<string, number>,
  types: readonly string[],
): string {
  return `${app} ${types.map((t) => `${t} ${from[t] ?? '?'} -> ${to[t] ?? '?'}`).join(', ')}`;
}

export function herokuFormationHandler(
  env: AdapterEnv,
  client: HerokuClient = herokuClientFor(env),
): StepHandler<HerokuFormationStep, HerokuFormationCaptured> {
  const scaleTo = async (
    app: string,
    target: Record<string, number>,
    types: readonly string[],
    ctx: StepContext,
  ): Promise<Record<string, number>> => {
    const updates = types.map((type) => ({ type, quantity: target[type] ?? 0 }));
    const after = await client.updateFormation(app, updates, ctx);
    const result: Record<string, number> = {};
    for (const f of after) if (types.includes(f.type)) result[f.type] = f.quantity;
    return result;
  };

  return {
    async describe(step, ctx) {
      requireProvider(step, 'heroku-formation');
      const { app, process_types: types } = step.provider;
      let current: Record<string, number>;
      try {
        const formation = await client.listFormation(app, ctx);
        checkTypes(app, types, formation);
        current = Object.fromEntries(formation.map((f) => [f.type, f.quantity]));
      } catch (error) {
        return `scale ${app} ${types.join(', ')} (current quantities unknown: ${messageOf(error)})`;
      }
      if (isOpening(step)) {
        return `scale ${changes(app, current, Object.fromEntries(types.map((t) => [t, 0])), types)}`;
      }
      const opening = findOpeningCaptures(app, types, ctx.earlier);
      return `scale ${app} ${types
        .map(
          (t) =>
            `${t} ${current[t] ?? '?'} -> ${opening.get(t)?.quantity ?? `the quantity the ${step.kind === 'jobs' ? 'pause' : 'disable'} step captured`}`,
        )
        .join(', ')}`;
    },

    async capture(step, ctx) {
      requireProvider(step, 'heroku-formation');
      const { app, process_types: types } = step.provider;
      const formation = await client.listFormation(app, ctx);
      checkTypes(app, types, formation);
      const quantities: Record<string, number> = {};
      for (const f of formation) if (types.includes(f.type)) quantities[f.type] = f.quantity;
      if (isOpening(step)) {
        return { app, quantities, target: Object.fromEntries(types.map((t) => [t, 0])) };
      }
      const opening = findOpeningCaptures(app, types, ctx.earlier);
      const missing = types.filter((t) => !opening.has(t));
      if (missing.length > 0) {
        const closer = step.kind === 'jobs' ? 'pause' : 'disable';
        throw new StepError(
          `No earlier ${closer} step of this run captured how many ${missing.join(', ')} dynos ${app} had, so how many to scale to is unknown: scale by hand (heroku ps:scale ${missing.map((t) => `${t}=N`).join(' ')} -a ${app}) and skip this step`,
          { retryable: false, reason: 'nothing_captured' },
        );
      }
      const target: Record<string, number> = {};
      for (const [type, { quantity }] of opening) target[type] = quantity;
      const sources = [...new Set([...opening.values()].map((o) => o.stepId))];
      return { app, quantities, target, restoredFrom: sources.join(', ') };
    },

    async run(step, captured, ctx): Promise<StepResult> {
      requireProvider(step, 'heroku-formation');
      const types = step.provider.process_types;
      const after = await scaleTo(captured.app, captured.target, types, ctx);
      const figures: Record<string, number> = {};
      for (const t of types) {
        figures[`dynos.${t}.before`] = captured.quantities[t] ?? 0;
        figures[`dynos.${t}.after`] = after[t] ?? captured.target[t] ?? 0;
      }
      return { summary: `scaled ${changes(captured.app, captured.quantities, after, types)}`, figures };
    },

    async undo(step, captured, ctx): Promise<StepResult> {
      requireProvider(step, 'heroku-formation');
      const types = step.provider.process_types;
      const after = await scaleTo(captured.app, captured.quantities, types, ctx);
      return { summary: `scaled ${changes(captured.app, captured.target, after, types)} (restored)` };
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
