import { ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { route53DnsHandler } from '../../src/adapters/route53.ts';
import { StepError } from '../../src/errors.ts';
import type { FakeRoute53 } from '../../src/sandbox/fakes/route53.ts';
import {
  dnsStep,
  makeContext,
  makeEnv,
  makeHandler,
  startFake,
  ZONE,
  nextAttempt,
} from './route53-support.ts';

// The adapter with the real @aws-sdk/client-route-53 against FakeRoute53 on 127.0.0.1.

let fake: FakeRoute53;
let url: string;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ fake, url, close } = await startFake());
});
afterEach(async () => {
  await close();
});

const OLD = {
  name: 'api.billing.example.com',
  type: 'CNAME',
  ttl: 120,
  values: ['billing-prod.herokudns.com'],
};

const NEW = 'billing.eu-central.example.net.';

function appliedChanges() {
  return fake.callsOf('ChangeResourceRecordSets').filter((c) => c.status === 200);
}

async function stepErrorOf(promise: Promise<unknown>): Promise<StepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}

describe('route53 dns step', () => {
  it('captures, cuts over, and undo restores value, type and TTL exactly', async () => {
    fake.setRecord(ZONE, OLD);
    const before = fake.getRecord(ZONE, OLD.name, 'CNAME');
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const ctx = makeContext();

    expect(await handler.blocker!(step, ctx)).toBeNull();
    expect(await handler.describe(step, ctx)).toBe(
      'api.billing.example.com CNAME billing-prod.herokudns.com -> billing.eu-central.example.net (TTL 120 -> 60)',
    );
    const captured = await handler.capture(step, ctx);
    expect(captured).toEqual({
      existed: true,
      record: {
        name: 'api.billing.example.com.',
        type: 'CNAME',
        ttl: 120,
        values: ['billing-prod.herokudns.com'],
      },
    });

    const result = await handler.run(step, captured, ctx);
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')).toEqual({
      name: 'api.billing.example.com.',
      type: 'CNAME',
      ttl: 60,
      values: ['billing.eu-central.example.net.'],
    });
    expect(result.summary).toMatch(
      /^api\.billing\.example\.com CNAME billing-prod\.herokudns\.com -> billing\.eu-central\.example\.net \(TTL 60\), INSYNC after /,
    );
    // The fake answers PENDING once, so the adapter must have polled GetChange until INSYNC.
    expect(ctx.reports.map((r) => r.figures?.status).filter(Boolean)).toEqual(['PENDING', 'INSYNC']);
    expect(fake.callsOf('GetChange')).toHaveLength(2);

    const undone = await handler.undo!(step, captured, nextAttempt(ctx));
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')).toEqual(before);
    expect(undone.summary).toMatch(
      /^restored api\.billing\.example\.com CNAME billing-prod\.herokudns\.com \(TTL 120\)/,
    );
    const cutover = { name: 'api.billing.example.com.', type: 'CNAME', ttl: 60, values: [NEW] };
    const original = { name: 'api.billing.example.com.', type: 'CNAME', ttl: 120, values: [OLD.values[0]] };
    expect(appliedChanges().map((c) => c.changes)).toEqual([
      [
        { action: 'DELETE', ...original },
        { action: 'CREATE', ...cutover },
      ],
      [
        { action: 'DELETE', ...cutover },
        { action: 'CREATE', ...original },
      ],
    ]);
  });

  it('undo deletes the record when the cutover created it, and a second undo changes nothing', async () => {
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const ctx = makeContext();
    expect(await handler.describe(step, ctx)).toBe(
      'api.billing.example.com CNAME (new record) -> billing.eu-central.example.net (TTL 60)',
    );
    const captured = await handler.capture(step, ctx);
    expect(captured).toEqual({ existed: false });
    await handler.run(step, captured, ctx);
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')?.values).toEqual(['billing.eu-central.example.net.']);

    const undone = await handler.undo!(step, captured, nextAttempt(ctx));
    expect(undone.summary).toMatch(/^deleted api\.billing\.example\.com CNAME/);
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')).toBeUndefined();
    const again = await handler.undo!(step, captured, nextAttempt(ctx));
    expect(again.summary).toContain('nothing to delete');
    expect(appliedChanges().map((c) => c.changes?.map((change) => change.action))).toEqual([
      ['CREATE'],
      ['DELETE'],
    ]);
  });

  it('undo of a created record refuses to delete it when someone has changed it since', async () => {
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const ctx = makeContext();
    const captured = await handler.capture(step, ctx);
    await handler.run(step, captured, ctx);
    fake.setRecord(ZONE, { name: OLD.name, type: 'CNAME', ttl: 60, values: ['hotfix.example.net'] });

    const error = await stepErrorOf(handler.undo!(step, captured, nextAttempt(ctx)));
    expect(error.retryable).toBe(false);
    expect(error.reason).toBe('ChangedSinceCutover');
    expect(error.message).toContain('now points at hotfix.example.net (TTL 60)');
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')?.values).toEqual(['hotfix.example.net']);
  });

  it('captures existed: false when the asked record is missing even though Route 53 returns the next one', async () => {
    fake.setRecord(ZONE, {
      name: 'api.billing.example.com',
      type: 'TXT',
      ttl: 300,
      values: ['"owner=billing"'],
    });
    fake.setRecord(ZONE, {
      name: 'www.billing.example.com',
      type: 'CNAME',
      ttl: 300,
      values: ['x.example.net'],
    });
    // The pitfall is real: the API seeks to the next record instead of answering "none".
    const raw = await new Route53Client({
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    }).send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        StartRecordName: 'api.billing.example.com',
        StartRecordType: 'CNAME',
        MaxItems: 1,
      }),
    );
    expect(raw.ResourceRecordSets?.[0]).toMatchObject({ Name: 'api.billing.example.com.', Type: 'TXT' });

    const handler = makeHandler(makeEnv(url));
    expect(await handler.capture(dnsStep({}), makeContext())).toEqual({ existed: false });
  });

  it('matches a wildcard record that Route 53 returns as \\052, and restores it', async () => {
    fake.setRecord(ZONE, {
      name: '*.billing.example.com',
      type: 'CNAME',
      ttl: 60,
      values: ['old.example.net'],
    });
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({ record: '*.billing.example.com' });
    const ctx = makeContext();
    expect(await handler.describe(step, ctx)).toBe(
      '*.billing.example.com CNAME old.example.net -> billing.eu-central.example.net (TTL 60)',
    );
    const captured = await handler.capture(step, ctx);
    expect(captured.record?.name).toBe('\\052.billing.example.com.');
    await handler.run(step, captured, ctx);
    await handler.undo!(step, captured, nextAttempt(ctx));
    expect(fake.getRecord(ZONE, '*.billing.example.com', 'CNAME')?.values).toEqual(['old.example.net']);
  });

  it('restores an alias record that an A cutover replaced', async () => {
    const alias = {
      hostedZoneId: 'Z32O12XQLNTSW2',
      dnsName: 'old-alb-123.eu-west-1.elb.amazonaws.com.',
      evaluateTargetHealth: true,
    };
    fake.setRecord(ZONE, { name: 'billing.example.com', type: 'A', values: [], aliasTarget: alias });
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({ record: 'billing.example.com', record_type: 'A', value: '203.0.113.10' });
    const ctx = makeContext();
    expect(await handler.blocker!(step, ctx)).toBeNull();
    const captured = await handler.capture(step, ctx);
    await handler.run(step, captured, ctx);
    expect(fake.getRecord(ZONE, 'billing.example.com', 'A')).toMatchObject({
      ttl: 60,
      values: ['203.0.113.10'],
    });
    await handler.undo!(step, captured, nextAttempt(ctx));
    expect(fake.getRecord(ZONE, 'billing.example.com', 'A')).toEqual({
      name: 'billing.example.com.',
      type: 'A',
      values: [],
      aliasTarget: alias,
    });
  });

  it('blocks the cutover while the current TTL is above max_ttl, and not at it', async () => {
    fake.setRecord(ZONE, { ...OLD, ttl: 3600 });
    const handler = makeHandler(makeEnv(url));
    // A context per attempt: one attempt reads the record once, so each check here is a new attempt.
    expect(await handler.blocker!(dnsStep({}), makeContext())).toBe(
      'api.billing.example.com. has TTL 3600 s, above max_ttl 300 s: lower the TTL to 60 first and wait out the old TTL (1h) before the cutover',
    );
    fake.setRecord(ZONE, { ...OLD, ttl: 300 });
    expect(await handler.blocker!(dnsStep({}), makeContext())).toBeNull();
    expect(await handler.blocker!(dnsStep({ max_ttl: 120 }), makeContext())).toMatch(
      /has TTL 300 s, above max_ttl 120 s/,
    );
  });

  it('blocks a record with a routing policy, which a change without its set identifier would not replace', async () => {
    fake.setRecord(ZONE, { ...OLD, ttl: 60, setIdentifier: 'blue', weight: 100 });
    const handler = makeHandler(makeEnv(url));
    expect(await handler.blocker!(dnsStep({}), makeContext())).toMatch(
      /uses a routing policy \(set identifier "blue"\)/,
    );
  });

  it('retries throttling on the change and on GetChange, applying the change once', async () => {
    fake.setRecord(ZONE, { ...OLD, ttl: 60 });
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const ctx = makeContext();
    const captured = await handler.capture(step, ctx);
    fake.throttleNext(2, { operation: 'ChangeResourceRecordSets' });
    fake.throttleNext(1, { operation: 'GetChange' });

    await handler.run(step, captured, ctx);
    const changes = fake.callsOf('ChangeResourceRecordSets');
    expect(changes.map((c) => [c.status, c.errorCode])).toEqual([
      [400, 'Throttling'],
      [400, 'Throttling'],
      [200, undefined],
    ]);
    expect(appliedChanges()).toHaveLength(1);
    expect(fake.callsOf('GetChange').map((c) => c.errorCode)).toContain('Throttling');
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')?.values).toEqual(['billing.eu-central.example.net.']);
  });

  it('retries PriorRequestNotComplete until Route 53 takes the change', async () => {
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const ctx = makeContext();
    const captured = await handler.capture(step, ctx);
    fake.priorRequestNotCompleteNext(2);
    await handler.run(step, captured, ctx);
    expect(fake.callsOf('ChangeResourceRecordSets').map((c) => c.errorCode)).toEqual([
      'PriorRequestNotComplete',
      'PriorRequestNotComplete',
      undefined,
    ]);
    expect(appliedChanges()).toHaveLength(1);
  });

  it('fails retryable, naming the zone, when throttling outlasts the retries', async () => {
    const handler = makeHandler(makeEnv(url));
    fake.throttleNext(10);
    const error = await stepErrorOf(handler.capture(dnsStep({}), makeContext()));
    expect(error.retryable).toBe(true);
    expect(error.reason).toBe('Throttling');
    expect(error.message).toContain(
      `api.billing.example.com CNAME in hosted zone ${ZONE} (4 attempts): Throttling: Rate exceeded`,
    );
    expect(fake.calls).toHaveLength(4);
  });

  it('fails at once with Route 53 reason when the change batch is invalid', async () => {
    fake.setRecord(ZONE, { name: OLD.name, type: 'A', ttl: 60, values: ['192.0.2.1'] });
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const ctx = makeContext();
    const captured = await handler.capture(step, ctx);
    const error = await stepErrorOf(handler.run(step, captured, ctx));
    expect(error.retryable).toBe(false);
    expect(error.reason).toBe('InvalidChangeBatch');
    expect(error.message).toBe(
      `Route 53 refused the change to api.billing.example.com CNAME in hosted zone ${ZONE} (InvalidChangeBatch): ` +
        `[RRSet of type CNAME with DNS name api.billing.example.com. is not permitted because a conflicting RRSet of type A ` +
        `with the same DNS name already exists in zone example.com.]. Check record, record_type and value in the plan against what is in the zone.`,
    );
    expect(fake.callsOf('ChangeResourceRecordSets')).toHaveLength(1);
  });

  it('fails at once, naming the zone id and what to check, when the hosted zone does not exist', async () => {
    const handler = makeHandler(makeEnv(url));
    const error = await stepErrorOf(
      handler.capture(dnsStep({ hosted_zone_id: 'ZNOSUCHZONE' }), makeContext()),
    );
    expect(error.retryable).toBe(false);
    expect(error.reason).toBe('NoSuchHostedZone');
    expect(error.message).toMatch(
      /^Route 53 has no hosted zone ZNOSUCHZONE \(NoSuchHostedZone\): No hosted zone found with ID: ZNOSUCHZONE\. /,
    );
    expect(error.message).toContain('provider.hosted_zone_id');
    expect(fake.calls).toHaveLength(1);
  });

  it('names the IAM permission when AWS denies access', async () => {
    const handler = makeHandler(makeEnv(url));
    fake.failNext('AccessDenied', 403, {
      message:
        'User: arn:aws:iam::123456789012:user/ferry is not authorized to perform: route53:ChangeResourceRecordSets',
      operation: 'ChangeResourceRecordSets',
    });
    const step = dnsStep({});
    const ctx = makeContext();
    const error = await stepErrorOf(handler.run(step, { existed: false }, ctx));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(
      new RegExp(
        `^AWS denied route53:ChangeResourceRecordSets on arn:aws:route53:::hostedzone/${ZONE} \\(AccessDenied\\)`,
      ),
    );
  });

  it('replays a run after a crash as one effective change; undo still restores the original', async () => {
    fake.setRecord(ZONE, OLD);
    const original = fake.getRecord(ZONE, OLD.name, 'CNAME');
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    // Capture is committed before the crash; the replay runs with that same committed capture.
    const captured = JSON.parse(JSON.stringify(await handler.capture(step, makeContext()))) as Awaited<
      ReturnType<typeof handler.capture>
    >;
    await handler.run(step, captured, makeContext());
    const afterFirst = fake.getRecord(ZONE, OLD.name, 'CNAME');
    const replay = await handler.run(step, captured, makeContext({ attempt: 2 }));
    expect(replay.summary).toContain(
      'already points at billing.eu-central.example.net (TTL 60): no change submitted',
    );
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')).toEqual(afterFirst);
    expect(appliedChanges()).toHaveLength(1);

    await handler.undo!(step, captured, makeContext());
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')).toEqual(original);
  });

  it('fails with a timeout that says the change is accepted when GetChange stays PENDING past the deadline', async () => {
    fake.setPropagation({ polls: Infinity });
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({}, { timeout: '150ms' });
    const ctx = makeContext();
    const error = await stepErrorOf(handler.run(step, { existed: false }, ctx));
    expect(error.reason).toBe('InSyncTimeout');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(
      /^Route 53 change C\w+ for api\.billing\.example\.com CNAME is still PENDING after /,
    );
    expect(error.message).toContain('retry the step to wait again, or roll back');
    expect(fake.callsOf('GetChange').length).toBeGreaterThan(1);
    expect(fake.getRecord(ZONE, OLD.name, 'CNAME')?.values).toEqual(['billing.eu-central.example.net.']);
  });

  it('stops waiting for INSYNC as soon as the run is aborted', async () => {
    fake.setPropagation({ polls: Infinity });
    const handler = makeHandler(makeEnv(url));
    const ctx = makeContext();
    const aborted = new Error('run aborted by @alice');
    ctx.progress = (report) => {
      if (report.figures?.status === 'PENDING') ctx.controller.abort(aborted);
      return Promise.resolve();
    };
    await expect(handler.run(dnsStep({}), { existed: false }, ctx)).rejects.toBe(aborted);
  });

  it('fails retryable, after retries, when Route 53 cannot be reached', async () => {
    const handler = route53DnsHandler(makeEnv('http://127.0.0.1:9', { httpTimeoutMs: 500 }), {
      clientConfig: { credentials: { accessKeyId: 'x', secretAccessKey: 'x' } },
      retry: { attempts: 2, baseMs: 1, maxMs: 2 },
    });
    const error = await stepErrorOf(handler.capture(dnsStep({}), makeContext()));
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(
      /^Route 53 did not complete ListResourceRecordSets for api\.billing\.example\.com CNAME in hosted zone Z0123456789ABC \(2 attempts\)/,
    );
  });

  it('gives up on a call that gets no answer within httpTimeoutMs, and retries it', async () => {
    let requests = 0;
    const silent = createServer(() => {
      requests++; // never answers
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const handler = route53DnsHandler(makeEnv(`http://127.0.0.1:${port}`, { httpTimeoutMs: 100 }), {
        clientConfig: { credentials: { accessKeyId: 'x', secretAccessKey: 'x' } },
        retry: { attempts: 2, baseMs: 1, maxMs: 2 },
      });
      const error = await stepErrorOf(handler.capture(dnsStep({}), makeContext()));
      expect(error.retryable).toBe(true);
      expect(error.reason).toBe('TimeoutError');
      expect(requests).toBe(2);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('writes TXT values quoted, as Route 53 requires, and describes an unchanged record as already set', async () => {
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({
      record: '_ferry.billing.example.com',
      record_type: 'TXT',
      value: 'cutover to "eu-central"',
    });
    const ctx = makeContext();
    await handler.run(step, await handler.capture(step, ctx), ctx);
    expect(fake.getRecord(ZONE, '_ferry.billing.example.com', 'TXT')?.values).toEqual([
      '"cutover to \\"eu-central\\""',
    ]);
    expect(await handler.describe(step, makeContext())).toMatch(/\(TTL 60, already set\)$/);
  });
});
