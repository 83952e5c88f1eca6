import {
  ApiException,
  BatchV1Api,
  KubeConfig,
  Observable,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { ConfigurationOptions, V1CronJob } from '@kubernetes/client-node';
import { StepError } from '../errors.ts';
import type { KubernetesCronProvider, StepSpec } from '../plan/schema.ts';
import { redactText } from '../redact.ts';
import { withRetry } from './retry.ts';
import type { AdapterEnv, EarlierStep, StepContext, StepHandler, StepResult } from './types.ts';

// Kubernetes CronJobs (integrations.md §5): disable = `spec.suspend: true` on those not already
// suspended; enable = unsuspend exactly those. Patches are JSON merge patches: without the explicit
// Content-Type the client sends application/json-patch+json, and an object body then fails.

export type KubernetesCronStep = Extract<StepSpec, { kind: 'crons' }> & { provider: KubernetesCronProvider };

export interface KubernetesCronCaptured {
  namespace: string;
  /** CronJobs this step changes (disable: the ones not suspended; enable: the ones to unsuspend). */
  changed: string[];
  /** Selected CronJobs already in the state the step wants. */
  unchanged: string[];
  /** Enable only: CronJobs the disable step suspended that no longer exist. */
  gone?: string[];
}

export type KubeConfigFactory = (provider: KubernetesCronProvider) => KubeConfig;

export interface KubernetesCronOptions {
  /** Attempts for transient failures (throttling, 5xx, timeouts, connection errors). */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** In-cluster service account, else KUBECONFIG / ~/.kube/config; `context` picks a kubeconfig context. */
export const defaultKubeConfig: KubeConfigFactory = (provider) => {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (provider.context !== undefined) selectContext(kc, provider.context);
  return kc;
};

function selectContext(kc: KubeConfig, context: string): void {
  if (kc.getContextObject(context) === null) {
    const known = kc
      .getContexts()
      .map((c) => c.name)
      .join(', ');
    throw new StepError(
      `The kubeconfig has no context "${context}" (it has: ${known || 'none'}): fix provider.context in the plan`,
      { retryable: false, reason: 'unknown_context' },
    );
  }
  kc.setCurrentContext(context);
}

interface Status {
  message?: string;
  reason?: string;
  code?: number;
}

function statusOf(error: ApiException<unknown>): Status {
  const raw: unknown = error.body;
  let body: unknown = raw;
  if (typeof raw === 'string') {
    try {
      body = JSON.parse(raw);
    } catch {
      return { message: raw.slice(0, 200) };
    }
  }
  return typeof body === 'object' && body !== null ? body : {};
}

const transientCodes = new Set([408, 429, 500, 502, 503, 504]);

/** Errors reaching withRetry are already StepErrors (see `call`), which say whether they are transient. */
function isTransient(error: unknown): boolean {
  return error instanceof StepError && error.retryable;
}

function toStepError(error: unknown, doing: string, namespace: string, server: string): StepError {
  if (error instanceof StepError) return error;
  if (error instanceof ApiException) {
    const status = statusOf(error);
    const said = `${error.code}${status.reason ? ` ${status.reason}` : ''}: ${redactText(status.message ?? 'no message')}`;
    const reason = status.reason ?? String(error.code);
    switch (error.code) {
      case 401:
        return new StepError(
          `Kubernetes at ${server} refused Ferry's credentials (${said}): check the kubeconfig user or the service account token`,
          { retryable: false, reason, cause: error },
        );
      case 403:
        return new StepError(
          `Kubernetes forbids Ferry to ${doing} in namespace ${namespace} (${said}): grant get, list and patch on cronjobs (API group batch) in that namespace`,
          { retryable: false, reason, cause: error },
        );
      case 404:
        return new StepError(
          `Kubernetes could not ${doing} in namespace ${namespace} (${said}): check the namespace and CronJob names`,
          {
            retryable: false,
            reason,
            cause: error,
          },
        );
      default:
        return new StepError(
          `Kubernetes could not ${doing} in namespace ${namespace} (${said})${transientCodes.has(error.code) ? ': Ferry retries the step' : ''}`,
          { retryable: transientCodes.has(error.code), reason, cause: error },
        );
    }
  }
  const name = error instanceof Error ? error.name : '';
  const timedOut = name === 'TimeoutError' || name === 'AbortError';
  const detail =
    error instanceof Error
      ? `${error.message}${error.cause instanceof Error ? `: ${error.cause.message}` : ''}`
      : String(error);
  // undici reports connection failures as TypeError("fetch failed") with the socket error as cause.
  const network =
    name === 'TypeError' && /fetch failed|ECONN|ENOTFOUND|EAI_AGAIN|socket|network/i.test(detail);
  if (timedOut) {
    return new StepError(
      `Kubernetes at ${server} did not answer in time while Ferry tried to ${doing} in namespace ${namespace}: Ferry retries the step`,
      { retryable: true, reason: 'timeout', cause: error },
    );
  }
  if (network) {
    return new StepError(
      `Kubernetes at ${server} could not be reached while Ferry tried to ${doing} in namespace ${namespace} (${redactText(detail)}): check the cluster address and the network`,
      { retryable: true, reason: 'network', cause: error },
    );
  }
  return new StepError(
    `The Kubernetes client could not ${doing} in namespace ${namespace} (${redactText(detail)}): check the kubeconfig (cluster, user, TLS settings)`,
    { retryable: false, reason: 'client', cause: error },
  );
}

/** Per-call options: a deadline and the step's abort signal, and for patches the merge-patch Content-Type. */
function callOptions(signal: AbortSignal, mergePatch: boolean): ConfigurationOptions {
  const withSignal: ConfigurationOptions = {
    middleware: [
      {
        pre: (request) => {
          request.setSignal(signal);
          return new Observable(Promise.resolve(request));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
  return mergePatch ? setHeaderOptions('Content-Type', PatchStrategy.MergePatch, withSignal) : withSignal;
}

interface Cluster {
  api: BatchV1Api;
  server: string;
}

function isKubernetesCapture(value: unknown): value is KubernetesCronCaptured {
  return (
    typeof value === 'object' && value !== null && Array.isArray((value as { changed?: unknown }).changed)
  );
}

/** The latest earlier disable step on the same namespace (and context) with a capture. */
function findDisableStep(
  provider: KubernetesCronProvider,
  earlier: ReadonlyArray<EarlierStep>,
): { id: string; captured: KubernetesCronCaptured } | undefined {
  for (let i = earlier.length - 1; i >= 0; i--) {
    const e = earlier[i];
    if (!e || e.step.kind !== 'crons' || e.step.action !== 'disable') continue;
    const p = e.step.provider;
    if (p.type !== 'kubernetes' || p.namespace !== provider.namespace || p.context !== provider.context)
      continue;
    if (isKubernetesCapture(e.captured)) return { id: e.step.id, captured: e.captured };
  }
  return undefined;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function kubernetesCronHandler(
  env: AdapterEnv,
  kubeConfigFactory: KubeConfigFactory = defaultKubeConfig,
  options: KubernetesCronOptions = {},
): StepHandler<KubernetesCronStep, KubernetesCronCaptured> {
  const connect = (provider: KubernetesCronProvider): Cluster => {
    let kc: KubeConfig;
    try {
      kc = kubeConfigFactory(provider);
    } catch (error) {
      if (error instanceof StepError) throw error;
      throw new StepError(
        `No usable Kubernetes configuration (${redactText(String(error instanceof Error ? error.message : error))}): run Ferry in the cluster or set KUBECONFIG`,
        {
          retryable: false,
          reason: 'kubeconfig',
          cause: error,
        },
      );
    }
    const server = kc.getCurrentCluster()?.server ?? '(no cluster)';
    return { api: kc.makeApiClient(BatchV1Api), server };
  };

  const call = async <T>(
    cluster: Cluster,
    namespace: string,
    doing: string,
    ctx: StepContext,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> => {
    try {
      return await retrying(cluster, namespace, doing, ctx, fn);
    } catch (error) {
      if (!ctx.signal.aborted) throw error;
      throw new StepError(
        `Ferry stopped trying to ${doing} in namespace ${namespace}: the step was aborted or timed out`,
        {
          retryable: true,
          reason: 'aborted',
          cause: error,
        },
      );
    }
  };

  const retrying = <T>(
    cluster: Cluster,
    namespace: string,
    doing: string,
    ctx: StepContext,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> =>
    withRetry(
      async () => {
        try {
          return await fn(AbortSignal.any([ctx.signal, AbortSignal.timeout(env.httpTimeoutMs)]));
        } catch (error) {
          if (ctx.signal.aborted) throw error;
          throw toStepError(error, doing, namespace, cluster.server);
        }
      },
      {
        attempts: options.attempts ?? 4,
        baseMs: options.baseDelayMs ?? 250,
        maxMs: options.maxDelayMs ?? 5_000,
        signal: ctx.signal,
        isRetryable: isTransient,
        onRetry: ({ attempt, delayMs, error }) =>
          ctx.log.warn(
            { attempt, delayMs, err: error instanceof Error ? error.message : String(error) },
            'retrying Kubernetes call',
          ),
        sleep: (ms) => ctx.sleep(ms),
      },
    );

  const listCronJobs = async (
    cluster: Cluster,
    namespace: string,
    ctx: StepContext,
  ): Promise<V1CronJob[]> => {
    const items: V1CronJob[] = [];
    let cont: string | undefined;
    do {
      const page = await call(cluster, namespace, 'list CronJobs', ctx, (signal) =>
        cluster.api.listNamespacedCronJob(
          { namespace, limit: 100, ...(cont ? { _continue: cont } : {}) },
          callOptions(signal, false),
        ),
      );
      items.push(...page.items);
      cont = page.metadata?._continue || undefined;
    } while (cont !== undefined);
    return items;
  };

  const setSuspend = async (
    cluster: Cluster,
    namespace: string,
    names: readonly string[],
    suspend: boolean,
    ctx: StepContext,
  ) => {
    for (const name of names) {
      await call(cluster, namespace, `${suspend ? 'suspend' : 'unsuspend'} CronJob ${name}`, ctx, (signal) =>
        cluster.api.patchNamespacedCronJob(
          { name, namespace, body: { spec: { suspend } } },
          callOptions(signal, true),
        ),
      );
    }
  };

  /** The selected CronJobs by name with their suspend flag; unknown names are an error. */
  const select = async (
    provider: KubernetesCronProvider,
    cluster: Cluster,
    ctx: StepContext,
  ): Promise<Map<string, boolean>> => {
    const all = await listCronJobs(cluster, provider.namespace, ctx);
    const state = new Map<string, boolean>();
    for (const job of all) {
      const name = job.metadata?.name;
      if (name !== undefined) state.set(name, job.spec?.suspend === true);
    }
    if (provider.cronjobs === 'all') return state;
    const unknown = provider.cronjobs.filter((name) => !state.has(name));
    if (unknown.length > 0) {
      throw new StepError(
        `Namespace ${provider.namespace} has no CronJob ${unknown.join(', ')}; it has: ${[...state.keys()].sort().join(', ') || 'none'}. Fix cronjobs in the plan`,
        { retryable: false, reason: 'unknown_cronjob' },
      );
    }
    return new Map(provider.cronjobs.map((name) => [name, state.get(name) === true]));
  };

  const captureDisable = async (
    step: KubernetesCronStep,
    ctx: StepContext,
  ): Promise<KubernetesCronCaptured> => {
    const provider = step.provider;
    const state = await select(provider, connect(provider), ctx);
    const names = [...state.keys()].sort();
    return {
      namespace: provider.namespace,
      changed: names.filter((n) => state.get(n) !== true),
      unchanged: names.filter((n) => state.get(n) === true),
    };
  };

  const captureEnable = async (
    step: KubernetesCronStep,
    ctx: StepContext,
  ): Promise<KubernetesCronCaptured> => {
    const provider = step.provider;
    const disabled = findDisableStep(provider, ctx.earlier);
    let wanted: string[];
    if (disabled) {
      wanted =
        provider.cronjobs === 'all'
          ? disabled.captured.changed
          : disabled.captured.changed.filter((name) => (provider.cronjobs as string[]).includes(name));
    } else if (provider.cronjobs !== 'all') {
      // The plan names them: enabling exactly those is what it asks, not a guess.
      wanted = [...provider.cronjobs];
    } else {
      throw new StepError(
        `No earlier disable step of this run recorded which CronJobs in namespace ${provider.namespace} it suspended, so which ones to unsuspend is unknown: name them in cronjobs, or unsuspend by hand (kubectl patch cronjob <name> -n ${provider.namespace} --type=merge -p '{"spec":{"suspend":false}}')`,
        { retryable: false, reason: 'nothing_captured' },
      );
    }
    const cluster = connect(provider);
    const all = await listCronJobs(cluster, provider.namespace, ctx);
    const suspended = new Map(all.map((job) => [job.metadata?.name ?? '', job.spec?.suspend === true]));
    const names = [...new Set(wanted)].sort();
    return {
      namespace: provider.namespace,
      changed: names.filter((n) => suspended.get(n) === true),
      unchanged: names.filter((n) => suspended.get(n) === false),
      gone: names.filter((n) => !suspended.has(n)),
    };
  };

  const requireKubernetes = (step: KubernetesCronStep) => {
    if (step.provider.type !== 'kubernetes') {
      throw new StepError(
        `step ${step.id} has provider ${String(step.provider.type)}, but was given to the kubernetes adapter`,
        {
          retryable: false,
          reason: 'wrong_provider',
        },
      );
    }
  };

  return {
    async describe(step, ctx) {
      requireKubernetes(step);
      const ns = step.provider.namespace;
      try {
        if (step.action === 'disable') {
          const c = await captureDisable(step, ctx);
          const total = c.changed.length + c.unchanged.length;
          return `suspend ${c.changed.length} of ${plural(total, 'CronJob')} in namespace ${ns}${c.changed.length > 0 ? `: ${c.changed.join(', ')}` : ''}${c.unchanged.length > 0 ? ` (${c.unchanged.length} already suspended)` : ''}`;
        }
        if (!findDisableStep(step.provider, ctx.earlier) && step.provider.cronjobs === 'all') {
          return `unsuspend the CronJobs in namespace ${ns} that the disable step suspends`;
        }
        const c = await captureEnable(step, ctx);
        return `unsuspend ${plural(c.changed.length, 'CronJob')} in namespace ${ns}${c.changed.length > 0 ? `: ${c.changed.join(', ')}` : ''}`;
      } catch (error) {
        return `${step.action === 'disable' ? 'suspend' : 'unsuspend'} CronJobs in namespace ${ns} (current state unknown: ${error instanceof Error ? error.message : String(error)})`;
      }
    },

    async capture(step, ctx) {
      requireKubernetes(step);
      return step.action === 'disable' ? captureDisable(step, ctx) : captureEnable(step, ctx);
    },

    async run(step, captured, ctx): Promise<StepResult> {
      requireKubernetes(step);
      const suspend = step.action === 'disable';
      await setSuspend(connect(step.provider), captured.namespace, captured.changed, suspend, ctx);
      const total = captured.changed.length + captured.unchanged.length;
      const verb = suspend ? 'suspended' : 'unsuspended';
      const already = captured.unchanged.length > 0 ? ` (${captured.unchanged.length} already ${verb})` : '';
      const gone =
        (captured.gone ?? []).length > 0 ? `; gone since: ${(captured.gone ?? []).join(', ')}` : '';
      return {
        summary: `${captured.changed.length} of ${plural(total, 'CronJob')} in namespace ${captured.namespace} ${verb}${already}${captured.changed.length > 0 ? `: ${captured.changed.join(', ')}` : ''}${gone}`,
        figures: { [`cronjobs.${verb}`]: captured.changed.length, 'cronjobs.total': total },
      };
    },

    async undo(step, captured, ctx): Promise<StepResult> {
      requireKubernetes(step);
      const suspend = step.action !== 'disable';
      await setSuspend(connect(step.provider), captured.namespace, captured.changed, suspend, ctx);
      return {
        summary: `${plural(captured.changed.length, 'CronJob')} in namespace ${captured.namespace} ${suspend ? 'suspended' : 'unsuspended'} again${captured.changed.length > 0 ? `: ${captured.changed.join(', ')}` : ''}`,
      };
    },
  };
}
