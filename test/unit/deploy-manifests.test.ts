import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.ts';
import { createHttpServer, listen } from '../../src/http/server.ts';
import { LAST_PUBLISH_MS } from '../../src/publisher/publisher.ts';
import { SLACK_TIERS } from '../../src/sandbox/fake-slack/rate-limit.ts';

// The Kubernetes manifests in deploy/kubernetes/, held to Ferry's own configuration so that they
// cannot drift from it: the variables they set exist and parse, the ports and probe paths are the
// ones Ferry serves, the grace period covers Ferry's shutdown, and the image runs as the Dockerfile's
// user.

const dir = path.join(import.meta.dirname, '../../deploy/kubernetes');

// Parsed YAML: its shape is what the assertions check.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

function load(file: string): Obj[] {
  return parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((doc) => {
    expect(doc.errors, `${file}: ${doc.errors.map(String).join('; ')}`).toEqual([]);
    return doc.toJS() as Obj;
  });
}

const kustomization = load('kustomization.yaml')[0]!;
const applied = (kustomization.resources as string[]).flatMap(load);
const byKind = (kind: string): Obj => {
  const found = applied.filter((o) => o.kind === kind);
  expect(found, `one ${kind} among the applied manifests`).toHaveLength(1);
  return found[0]!;
};
const deployment = byKind('Deployment');
const pod = deployment.spec.template.spec as Obj;
const container = (pod.containers as Obj[]).find((c) => c.name === 'ferry')!;
const env = container.env as Array<{ name: string; value?: string; valueFrom?: Obj }>;
const secret = load('secret.example.yaml')[0]!;

/** Values of the shape Ferry expects, for the variables the manifests take from the Secret. */
const sampleSecrets: Record<string, string> = {
  'slack-bot-token': 'xoxb-1-sample',
  'slack-signing-secret': 'sample-signing-secret',
  'database-url': 'postgres://ferry@postgres:5432/ferry',
  'metrics-token': '0123456789abcdef0123',
};

/** The environment the container gets, with sample values for the Secret's keys. */
function containerEnv(): Record<string, string> {
  return Object.fromEntries(
    env.map((e) => {
      const ref = e.valueFrom?.secretKeyRef as { name: string; key: string } | undefined;
      return [e.name, ref ? sampleSecrets[ref.key]! : e.value!];
    }),
  );
}

const port = (c: Obj, name: string): Obj => (c.ports as Obj[]).find((p) => p.name === name)!;

describe('deploy/kubernetes', () => {
  it('applies every manifest it ships apart from the documented optional ones', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    const optional = ['secret.example.yaml', 'servicemonitor.yaml'];
    expect([...kustomization.resources, ...optional].sort()).toEqual(files.sort());
  });

  it('names only variables that Ferry reads, and they parse as a Slack deployment in HTTP mode', () => {
    for (const { name } of env) expect(CONFIG_VARIABLES, `${name} is not read by Ferry`).toContain(name);
    const config = loadConfig(containerEnv());
    expect(config.mode).toBe('slack');
    expect(config.slack.appToken).toBeUndefined();
    expect(config.databaseUrl).toBeDefined();
    expect(config.metricsToken).toBeDefined();
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
  });

  it('takes every token from the Secret, whose example has exactly the keys it reads', () => {
    const refs = env.filter((e) => e.valueFrom).map((e) => e.valueFrom!.secretKeyRef as Obj);
    expect(refs.every((r) => r.name === secret.metadata.name)).toBe(true);
    expect(refs.map((r) => r.key as string).sort()).toEqual(Object.keys(secret.stringData as Obj).sort());
    const credentials = ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'DATABASE_URL', 'FERRY_METRICS_TOKEN'];
    for (const name of credentials) {
      const entry = env.find((e) => e.name === name);
      expect(entry?.valueFrom?.secretKeyRef, `${name} comes from the Secret`).toBeDefined();
      expect(entry?.value).toBeUndefined();
    }
  });

  it('exposes the port PORT says, through the Service to the Ingress', () => {
    const config = loadConfig(containerEnv());
    expect(port(container, 'http').containerPort).toBe(config.port);
    const service = byKind('Service');
    const servicePort = (service.spec.ports as Obj[]).find((p) => p.targetPort === 'http')!;
    expect(servicePort).toBeDefined();
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector as Obj);
    const ingress = byKind('Ingress');
    const paths = (ingress.spec.rules as Obj[]).flatMap((r) => r.http.paths as Obj[]);
    expect(paths.map((p) => p.path)).toEqual(['/slack/events']);
    for (const p of paths) {
      expect(p.backend.service.name).toBe(service.metadata.name);
      expect(p.backend.service.port.name).toBe(servicePort.name);
    }
  });

  describe('probes and the Ingress path against the server Ferry runs', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      server = createHttpServer({
        slack: () => 'unavailable',
        ready: () => Promise.resolve(true),
        metrics: new Registry(),
        routes: () => [],
      });
      url = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('probes paths Ferry answers 200 on the container port, with liveness never asking the database', async () => {
      const probes = ['startupProbe', 'livenessProbe', 'readinessProbe'] as const;
      for (const probe of probes) {
        const get = container[probe]?.httpGet as Obj | undefined;
        expect(get, `${probe} is an HTTP GET`).toBeDefined();
        expect(get!.port).toBe('http');
        const res = await fetch(`${url}${get!.path}`);
        expect(res.status, `${probe} ${get!.path}`).toBe(200);
      }
      expect(container.readinessProbe.httpGet.path).toBe('/readyz');
      // A database outage must take replicas out of the Service, not restart them.
      expect(container.livenessProbe.httpGet.path).toBe('/healthz');
      expect(container.readinessProbe.timeoutSeconds).toBeGreaterThan(2); // /readyz waits 2 s for the database
    });

    it('routes the one path Ferry takes Slack requests on', async () => {
      const res = await fetch(`${url}/slack/events`, { method: 'POST', body: '{}' });
      // Not 404: the path is Ferry's (503 here only because no Slack app is wired to this server).
      expect(res.status).toBe(503);
    });
  });

  it('gives Ferry longer to stop than preStop, the steps in flight and the last publish take', () => {
    const config = loadConfig(containerEnv());
    const command = container.lifecycle.preStop.exec.command as string[];
    expect(command[0]).toBe('sleep');
    const preStopMs = Number(command[1]) * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    const needed = preStopMs + config.shutdownGraceMs + LAST_PUBLISH_MS;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(needed);
  });

  it('starts Ferry in the image as `npm start` does, with the same node options', () => {
    const dockerfile = readFileSync(path.join(dir, '../../Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    const pkg = JSON.parse(readFileSync(path.join(dir, '../../package.json'), 'utf8')) as {
      scripts: { start: string };
    };
    expect(cmd).toEqual(pkg.scripts.start.split(' '));
  });

  it('runs as the non-root user the Dockerfile names, without privilege escalation', () => {
    const dockerfile = readFileSync(path.join(dir, '../../Dockerfile'), 'utf8');
    const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
    expect(user).toBe('node');
    // `node` is uid 1000 in the official Node images the Dockerfile builds on.
    expect(dockerfile).toMatch(/^FROM node:24-bookworm-slim AS runtime$/m);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
    });
    // What the image writes to must be writable despite the read-only root.
    const mounts = (container.volumeMounts as Obj[]).map((m) => m.mountPath as string);
    const config = loadConfig({
      ...containerEnv(),
      FERRY_DATA_DIR: /FERRY_DATA_DIR=(\S+)/.exec(dockerfile)![1],
    });
    expect(mounts).toContain(config.dataDir);
    expect(mounts).toContain(config.plansPath);
  });

  it("keeps one replica through a voluntary disruption, and the Slack edit budget within Slack's", () => {
    const pdb = byKind('PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    // Every replica spends one budget kept in the database: the whole deployment's, within Slack's.
    const config = loadConfig(containerEnv());
    expect(config.slack.editsPerMinute).toBeLessThanOrEqual(SLACK_TIERS.tier3.perSecond * 60);
  });

  it('scrapes /metrics with the token Ferry is started with', () => {
    const [monitor] = load('servicemonitor.yaml');
    const endpoint = (monitor!.spec.endpoints as Obj[])[0]!;
    expect(endpoint.port).toBe('http');
    expect(endpoint.path).toBe('/metrics');
    const token = env.find((e) => e.name === 'FERRY_METRICS_TOKEN')!.valueFrom!.secretKeyRef as Obj;
    expect(endpoint.authorization).toEqual({
      type: 'Bearer',
      credentials: { name: token.name, key: token.key },
    });
    expect(monitor!.spec.selector.matchLabels).toEqual(byKind('Service').metadata.labels);
  });
});
