import type { IncomingMessage, ServerResponse } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { listenFake, readBody, sendJson } from './fake-http.ts';
import type { ListeningFake } from './fake-http.ts';

// A stand-in for the slice of the Kubernetes API server Ferry uses (integrations.md §5):
//   GET   /apis/batch/v1/namespaces/{ns}/cronjobs[?limit=&continue=]
//   GET   /apis/batch/v1/namespaces/{ns}/cronjobs/{name}
//   PATCH /apis/batch/v1/namespaces/{ns}/cronjobs/{name}
// PATCH accepts only `application/merge-patch+json`. A json-patch Content-Type with an object body
// gets the API server's 400 ("cannot unmarshal object into Go value of type []handlers.jsonPatchOp"),
// any other type 415: the pitfall of @kubernetes/client-node's default Content-Type is caught here.

export interface FakeCronJobSeed {
  name: string;
  schedule?: string;
  suspend?: boolean;
}

export interface FakeCronJobState {
  name: string;
  namespace: string;
  schedule: string;
  suspend: boolean;
  resourceVersion: number;
}

export interface FakeKubernetesPatch {
  namespace: string;
  name: string;
  contentType: string;
  body: unknown;
  status: number;
}

export interface FakeKubernetesOptions {
  /** Bearer token the requests must carry; undefined accepts any. */
  token?: string;
  /** Largest page for list calls (the client's `limit` can only lower it). */
  pageSize?: number;
}

type CronJobObject = Record<string, unknown> & {
  spec: Record<string, unknown>;
  metadata: Record<string, unknown>;
};

const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';

function status(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

export class FakeKubernetes {
  readonly token: string | undefined;
  readonly pageSize: number;
  readonly patches: FakeKubernetesPatch[] = [];
  readonly requests: Array<{ method: string; path: string }> = [];
  readonly #objects = new Map<string, CronJobObject>();
  readonly #faults: Array<{ code: number; reason: string; message: string } | 'hang'> = [];
  #resourceVersion = 1000;

  constructor(options: FakeKubernetesOptions = {}) {
    this.token = options.token;
    this.pageSize = options.pageSize ?? 500;
  }

  /** Adds (or replaces) CronJobs in a namespace. */
  seed(namespace: string, cronjobs: ReadonlyArray<FakeCronJobSeed | string>): this {
    for (const entry of cronjobs) {
      const seed = typeof entry === 'string' ? { name: entry } : entry;
      this.#objects.set(`${namespace}/${seed.name}`, this.#newObject(namespace, seed));
    }
    return this;
  }

  /** One CronJob's state, or undefined. */
  cronJob(namespace: string, name: string): FakeCronJobState | undefined {
    const obj = this.#objects.get(`${namespace}/${name}`);
    return obj ? toState(obj) : undefined;
  }

  /** Every CronJob of a namespace, by name. */
  cronJobs(namespace: string): FakeCronJobState[] {
    return [...this.#objects.values()]
      .filter((o) => o.metadata.namespace === namespace)
      .map(toState)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Names of the suspended CronJobs of a namespace. */
  suspended(namespace: string): string[] {
    return this.cronJobs(namespace)
      .filter((c) => c.suspend)
      .map((c) => c.name);
  }

  /** The next request gets this error Status. */
  failNext(code: number, reason = 'InternalError', message = `injected failure ${code}`): this {
    this.#faults.push({ code, reason, message });
    return this;
  }

  /** The next request is accepted and never answered. */
  hangNext(): this {
    this.#faults.push('hang');
    return this;
  }

  /** A KubeConfig pointing at this fake (what a test's kubeConfigFactory returns). */
  kubeConfig(
    url: string,
    options: { token?: string; context?: string; namespace?: string } = {},
  ): KubeConfig {
    const kc = new KubeConfig();
    const context = options.context ?? 'fake';
    kc.loadFromOptions({
      clusters: [{ name: 'fake-cluster', server: url, skipTLSVerify: true }],
      users: [{ name: 'ferry', token: options.token ?? this.token ?? 'fake-kube-token' }],
      contexts: [
        { name: context, cluster: 'fake-cluster', user: 'ferry', namespace: options.namespace ?? 'default' },
      ],
      currentContext: context,
    });
    return kc;
  }

  listen(): Promise<ListeningFake> {
    return listenFake((req, res) => this.handle(req, res));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const match = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/cronjobs(?:\/([^/]+))?$/.exec(url.pathname);
    if (!match) return false;
    const namespace = decodeURIComponent(match[1] ?? '');
    const name = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const method = req.method ?? 'GET';
    const text = await readBody(req);
    this.requests.push({ method, path: url.pathname });

    const fault = this.#faults.shift();
    if (fault === 'hang') return true;
    if (fault) {
      sendJson(res, fault.code, status(fault.code, fault.reason, fault.message));
      return true;
    }
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      sendJson(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return true;
    }

    if (name === undefined) {
      if (method !== 'GET') {
        sendJson(
          res,
          405,
          status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`),
        );
        return true;
      }
      this.#sendList(res, namespace, url.searchParams);
      return true;
    }

    const key = `${namespace}/${name}`;
    const obj = this.#objects.get(key);
    const notFound = () =>
      sendJson(
        res,
        404,
        status(404, 'NotFound', `cronjobs.batch "${name}" not found`, {
          name,
          group: 'batch',
          kind: 'cronjobs',
        }),
      );
    if (method === 'GET') {
      if (!obj) notFound();
      else sendJson(res, 200, obj);
      return true;
    }
    if (method !== 'PATCH') {
      sendJson(
        res,
        405,
        status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
      );
      return true;
    }

    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    let body: unknown;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      body = text;
    }
    const record = (code: number) => this.patches.push({ namespace, name, contentType, body, status: code });

    if (contentType === JSON_PATCH) {
      if (!Array.isArray(body)) {
        record(400);
        sendJson(
          res,
          400,
          status(
            400,
            'BadRequest',
            'json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp',
          ),
        );
        return true;
      }
      record(415);
      sendJson(
        res,
        415,
        status(415, 'UnsupportedMediaType', `this fake API server accepts only ${MERGE_PATCH} patches`),
      );
      return true;
    }
    if (contentType !== MERGE_PATCH) {
      record(415);
      sendJson(
        res,
        415,
        status(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: ${JSON_PATCH}, ${MERGE_PATCH}, application/apply-patch+yaml`,
        ),
      );
      return true;
    }
    if (!obj) {
      record(404);
      notFound();
      return true;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      record(400);
      sendJson(res, 400, status(400, 'BadRequest', 'error decoding patch: expected a JSON object'));
      return true;
    }
    const patched = mergePatch(obj, body) as CronJobObject;
    const suspend = patched.spec.suspend;
    if (suspend !== undefined && typeof suspend !== 'boolean') {
      record(422);
      sendJson(
        res,
        422,
        status(422, 'Invalid', `CronJob.batch "${name}" is invalid: spec.suspend: Invalid value`),
      );
      return true;
    }
    // Identity fields cannot change through a patch.
    patched.metadata = {
      ...patched.metadata,
      name,
      namespace,
      uid: obj.metadata.uid,
      resourceVersion: String(++this.#resourceVersion),
    };
    this.#objects.set(key, patched);
    record(200);
    sendJson(res, 200, patched);
    return true;
  }

  #sendList(res: ServerResponse, namespace: string, params: URLSearchParams): void {
    const all = [...this.#objects.values()]
      .filter((o) => o.metadata.namespace === namespace)
      .sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)));
    const limitParam = Number(params.get('limit') ?? '0');
    const limit = limitParam > 0 ? Math.min(limitParam, this.pageSize) : this.pageSize;
    const start = params.get('continue')
      ? Number(Buffer.from(params.get('continue') ?? '', 'base64url').toString())
      : 0;
    const items = all.slice(start, start + limit);
    const next =
      start + limit < all.length ? Buffer.from(String(start + limit)).toString('base64url') : undefined;
    sendJson(res, 200, {
      kind: 'CronJobList',
      apiVersion: 'batch/v1',
      metadata: { resourceVersion: String(this.#resourceVersion), ...(next ? { continue: next } : {}) },
      items,
    });
  }

  #newObject(namespace: string, seed: FakeCronJobSeed): CronJobObject {
    return {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: {
        name: seed.name,
        namespace,
        uid: `uid-${namespace}-${seed.name}`,
        resourceVersion: String(++this.#resourceVersion),
        creationTimestamp: '2024-01-01T00:00:00Z',
      },
      spec: {
        schedule: seed.schedule ?? '*/5 * * * *',
        suspend: seed.suspend ?? false,
        concurrencyPolicy: 'Forbid',
        jobTemplate: {
          spec: {
            template: {
              spec: {
                restartPolicy: 'OnFailure',
                containers: [
                  {
                    name: seed.name,
                    image: 'registry.example.com/billing:latest',
                    command: ['bin/rails', 'runner', seed.name],
                  },
                ],
              },
            },
          },
        },
      },
      status: {},
    };
  }
}

function toState(obj: CronJobObject): FakeCronJobState {
  return {
    name: String(obj.metadata.name),
    namespace: String(obj.metadata.namespace),
    schedule: String(obj.spec.schedule),
    suspend: obj.spec.suspend === true,
    resourceVersion: Number(obj.metadata.resourceVersion),
  };
}
