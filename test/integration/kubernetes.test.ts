import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, BatchV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kubernetesCronHandler } from '../../src/adapters/kubernetes.ts';
import type { KubernetesCronCaptured, KubernetesCronStep } from '../../src/adapters/kubernetes.ts';
import { StepError } from '../../src/errors.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import { FakeKubernetes } from '../../src/sandbox/fakes/kubernetes.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

const TOKEN = 'kube-sa-token-abcdef0123456789';
const NS = 'billing';

let fake: FakeKubernetes;
let server: ListeningFake;

beforeAll(async () => {
  fake = new FakeKubernetes({ token: TOKEN, pageSize: 2 });
  server = await fake.listen();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  fake.patches.length = 0;
  fake.requests.length = 0;
  fake.seed(NS, [
    { name: 'invoices-nightly', schedule: '0 2 * * *' },
    { name: 'dunning', schedule: '0 * * * *' },
    { name: 'legacy-export', suspend: true },
    'reminders',
    'usage-rollup',
  ]);
  fake.seed('other', ['unrelated']);
});

const env = makeAdapterEnv({ httpTimeoutMs: 2_000 });
const handler = () =>
  kubernetesCronHandler(env, () => fake.kubeConfig(server.url), { baseDelayMs: 1, maxDelayMs: 5 });

function cronStep(
  id: string,
  action: 'disable' | 'enable',
  cronjobs: 'all' | string[] = 'all',
): KubernetesCronStep {
  return stepSchema.parse({
    id,
    kind: 'crons',
    action,
    provider: { type: 'kubernetes', namespace: NS, cronjobs },
  }) as KubernetesCronStep;
}

async function stepError(promise: Promise<unknown>): Promise<StepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}

describe('Kubernetes CronJob suspend', () => {
  it('suspends only the CronJobs that were running, with merge patches, across list pages', async () => {
    const h = handler();
    const disable = cronStep('disable-crons', 'disable');
    const ctx = makeStepContext();
    expect(await h.describe(disable, ctx)).toBe(
      'suspend 4 of 5 CronJobs in namespace billing: dunning, invoices-nightly, reminders, usage-rollup (1 already suspended)',
    );
    const captured = await h.capture(disable, ctx);
    expect(captured).toEqual({
      namespace: NS,
      changed: ['dunning', 'invoices-nightly', 'reminders', 'usage-rollup'],
      unchanged: ['legacy-export'],
    });
    const result = await h.run(disable, captured, ctx);
    expect(result.summary).toBe(
      '4 of 5 CronJobs in namespace billing suspended (1 already suspended): dunning, invoices-nightly, reminders, usage-rollup',
    );
    expect(result.figures).toEqual({ 'cronjobs.suspended': 4, 'cronjobs.total': 5 });
    expect(fake.suspended(NS)).toEqual([
      'dunning',
      'invoices-nightly',
      'legacy-export',
      'reminders',
      'usage-rollup',
    ]);
    expect(fake.cronJob('other', 'unrelated')?.suspend).toBe(false);
    expect(fake.patches.map((p) => [p.name, p.contentType, p.status])).toEqual([
      ['dunning', 'application/merge-patch+json', 200],
      ['invoices-nightly', 'application/merge-patch+json', 200],
      ['reminders', 'application/merge-patch+json', 200],
      ['usage-rollup', 'application/merge-patch+json', 200],
    ]);
    expect(fake.patches[0]?.body).toEqual({ spec: { suspend: true } });
    // pageSize 2: capture listed five CronJobs in three pages by following `continue`.
    expect(
      fake.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/cronjobs')).length,
    ).toBeGreaterThanOrEqual(3);
  });

  it('enable unsuspends exactly what the disable step suspended, leaving the already-suspended one alone', async () => {
    const h = handler();
    const disable = cronStep('disable-crons', 'disable');
    const captured = await h.capture(disable, makeStepContext());
    await h.run(disable, captured, makeStepContext());

    const enable = cronStep('enable-crons', 'enable');
    const ctx = makeStepContext({
      earlier: [{ step: disable, captured: JSON.parse(JSON.stringify(captured)) }],
    });
    expect(await h.describe(enable, ctx)).toBe(
      'unsuspend 4 CronJobs in namespace billing: dunning, invoices-nightly, reminders, usage-rollup',
    );
    const enableCaptured = await h.capture(enable, ctx);
    const result = await h.run(enable, enableCaptured, ctx);
    expect(result.summary).toBe(
      '4 of 4 CronJobs in namespace billing unsuspended: dunning, invoices-nightly, reminders, usage-rollup',
    );
    expect(fake.suspended(NS)).toEqual(['legacy-export']);

    // Undoing the enable suspends those four again, and only those.
    await h.undo!(enable, enableCaptured, ctx);
    expect(fake.suspended(NS)).toEqual([
      'dunning',
      'invoices-nightly',
      'legacy-export',
      'reminders',
      'usage-rollup',
    ]);
  });

  it('undo of disable unsuspends exactly the ones it suspended', async () => {
    const h = handler();
    const disable = cronStep('disable-crons', 'disable', ['dunning', 'legacy-export']);
    const captured = await h.capture(disable, makeStepContext());
    expect(captured.changed).toEqual(['dunning']);
    await h.run(disable, captured, makeStepContext());
    const undone = await h.undo!(disable, captured, makeStepContext());
    expect(undone.summary).toBe('1 CronJob in namespace billing unsuspended again: dunning');
    expect(fake.suspended(NS)).toEqual(['legacy-export']);
  });

  it('enable with a named list and the disable step restores only the named ones it suspended', async () => {
    const h = handler();
    const disable = cronStep('disable-crons', 'disable');
    const captured = await h.capture(disable, makeStepContext());
    await h.run(disable, captured, makeStepContext());
    const enable = cronStep('enable-crons', 'enable', ['dunning', 'legacy-export']);
    const ctx = makeStepContext({ earlier: [{ step: disable, captured }] });
    const enableCaptured = await h.capture(enable, ctx);
    expect(enableCaptured.changed).toEqual(['dunning']);
    await h.run(enable, enableCaptured, ctx);
    expect(fake.cronJob(NS, 'dunning')?.suspend).toBe(false);
    expect(fake.cronJob(NS, 'legacy-export')?.suspend).toBe(true);
  });

  it('refuses to enable "all" without an earlier disable step', async () => {
    const error = await stepError(handler().capture(cronStep('enable-crons', 'enable'), makeStepContext()));
    expect(error.message).toContain('which ones to unsuspend is unknown');
    expect(error.reason).toBe('nothing_captured');
  });

  it('ignores a disable step for another namespace', async () => {
    const other = stepSchema.parse({
      id: 'disable-other',
      kind: 'crons',
      action: 'disable',
      provider: { type: 'kubernetes', namespace: 'other', cronjobs: 'all' },
    }) as KubernetesCronStep;
    const captured: KubernetesCronCaptured = { namespace: 'other', changed: ['unrelated'], unchanged: [] };
    const error = await stepError(
      handler().capture(
        cronStep('enable-crons', 'enable'),
        makeStepContext({ earlier: [{ step: other, captured }] }),
      ),
    );
    expect(error.reason).toBe('nothing_captured');
  });

  it('names the CronJobs the namespace has when the plan names one it lacks', async () => {
    const error = await stepError(
      handler().capture(cronStep('d', 'disable', ['dunning', 'invoices']), makeStepContext()),
    );
    expect(error.message).toBe(
      'Namespace billing has no CronJob invoices; it has: dunning, invoices-nightly, legacy-export, reminders, usage-rollup. Fix cronjobs in the plan',
    );
  });

  it('the fake rejects an object body sent as json-patch, as the real API server does', async () => {
    // What happens without setHeaderOptions('Content-Type', PatchStrategy.MergePatch).
    const api = fake.kubeConfig(server.url).makeApiClient(BatchV1Api);
    const error = await api
      .patchNamespacedCronJob({ name: 'dunning', namespace: NS, body: { spec: { suspend: true } } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiException);
    expect((error as ApiException<unknown>).code).toBe(400);
    expect(String((error as ApiException<unknown>).body)).toContain(
      'cannot unmarshal object into Go value of type []handlers.jsonPatchOp',
    );
    expect(fake.patches.at(-1)?.contentType).toBe('application/json-patch+json');
    expect(fake.cronJob(NS, 'dunning')?.suspend).toBe(false);
  });

  it('retries a 503 from the API server and succeeds', async () => {
    fake.failNext(503, 'ServiceUnavailable', 'etcdserver: leader changed');
    const ctx = makeStepContext();
    const captured = await handler().capture(cronStep('d', 'disable'), ctx);
    expect(captured.changed).toHaveLength(4);
    expect(ctx.sleeps).toHaveLength(1);
  });

  it('explains a 403 with the RBAC it needs', async () => {
    fake.failNext(
      403,
      'Forbidden',
      'cronjobs.batch is forbidden: User "system:serviceaccount:ferry:ferry" cannot list resource "cronjobs"',
    );
    const error = await stepError(handler().capture(cronStep('d', 'disable'), makeStepContext()));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(
      'Kubernetes forbids Ferry to list CronJobs in namespace billing (403 Forbidden: cronjobs.batch is forbidden',
    );
    expect(error.message).toContain('grant get, list and patch on cronjobs (API group batch)');
  });

  it('reports refused credentials without the token', async () => {
    const h = kubernetesCronHandler(
      env,
      () => fake.kubeConfig(server.url, { token: 'wrong-token-zzzz9999' }),
      { attempts: 1 },
    );
    const error = await stepError(h.capture(cronStep('d', 'disable'), makeStepContext()));
    expect(error.message).toContain("refused Ferry's credentials (401");
    expect(error.message).not.toContain('wrong-token-zzzz9999');
  });

  it('times out on an API server that never answers, with a retryable error', async () => {
    fake.hangNext();
    const h = kubernetesCronHandler(
      makeAdapterEnv({ httpTimeoutMs: 100 }),
      () => fake.kubeConfig(server.url),
      { attempts: 1 },
    );
    const error = await stepError(h.capture(cronStep('d', 'disable'), makeStepContext()));
    expect(error.retryable).toBe(true);
    expect(error.reason).toBe('timeout');
    expect(error.message).toContain('did not answer in time');
  });

  it('reports an unreachable API server as retryable', async () => {
    const h = kubernetesCronHandler(env, () => fake.kubeConfig('http://127.0.0.1:1'), {
      attempts: 2,
      baseDelayMs: 1,
    });
    const error = await stepError(h.capture(cronStep('d', 'disable'), makeStepContext()));
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('Kubernetes at http://127.0.0.1:1 could not be reached');
  });

  it('treats a client configuration problem as permanent', async () => {
    const h = kubernetesCronHandler(env, () => {
      const kc = fake.kubeConfig(server.url);
      const cluster = kc.getCurrentCluster();
      if (cluster) Object.assign(cluster, { skipTLSVerify: false });
      return kc;
    });
    const error = await stepError(h.capture(cronStep('d', 'disable'), makeStepContext()));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('HTTP protocol is not allowed when skipTLSVerify is not set or false');
  });

  describe('default configuration (KUBECONFIG)', () => {
    let dir: string;
    let saved: string | undefined;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ferry-kube-'));
      const kubeconfig = [
        'apiVersion: v1',
        'kind: Config',
        'current-context: elsewhere',
        'clusters:',
        `- name: fake\n  cluster:\n    server: ${server.url}\n    insecure-skip-tls-verify: true`,
        '- name: nowhere\n  cluster:\n    server: http://127.0.0.1:1\n    insecure-skip-tls-verify: true',
        'users:',
        `- name: ferry\n  user:\n    token: ${TOKEN}`,
        'contexts:',
        '- name: fake-ctx\n  context:\n    cluster: fake\n    user: ferry',
        '- name: elsewhere\n  context:\n    cluster: nowhere\n    user: ferry',
      ].join('\n');
      await writeFile(join(dir, 'config'), kubeconfig);
      saved = process.env.KUBECONFIG;
      process.env.KUBECONFIG = join(dir, 'config');
    });
    afterAll(async () => {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
      await rm(dir, { recursive: true, force: true });
    });

    function withContext(context: string): KubernetesCronStep {
      return stepSchema.parse({
        id: 'd',
        kind: 'crons',
        action: 'disable',
        provider: { type: 'kubernetes', namespace: NS, cronjobs: 'all', context },
      }) as KubernetesCronStep;
    }

    it('loads KUBECONFIG and uses the context the plan names', async () => {
      const captured = await kubernetesCronHandler(env).capture(withContext('fake-ctx'), makeStepContext());
      expect(captured.changed).toHaveLength(4);
    });

    it('names the contexts it has when the plan names an unknown one', async () => {
      const error = await stepError(
        kubernetesCronHandler(env).capture(withContext('prod'), makeStepContext()),
      );
      expect(error.message).toBe(
        'The kubeconfig has no context "prod" (it has: fake-ctx, elsewhere): fix provider.context in the plan',
      );
    });
  });
});
