import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Route53Captured } from '../../src/adapters/route53.ts';
import { StepError } from '../../src/errors.ts';
import type { FakeRoute53 } from '../../src/sandbox/fakes/route53.ts';
import { dnsStep, makeContext, makeEnv, makeHandler, startFake, ZONE } from './route53-support.ts';

// Each DNS change is a compare-and-set: one batch that DELETEs the record exactly as Ferry last read
// it and CREATEs the new one. Route 53 refuses a DELETE whose values differ, so a change made by a
// person between Ferry's read and its write is never overwritten. Real SDK client, FakeRoute53 on
// 127.0.0.1.

const NAME = 'api.billing.example.com';
const OLD = { name: NAME, type: 'CNAME', ttl: 120, values: ['billing-prod.herokudns.com'] };
const HOTFIX = { name: NAME, type: 'CNAME', ttl: 60, values: ['hotfix.example.net'] };
const NEW_VALUE = 'billing.eu-central.example.net.';

let fake: FakeRoute53;
let url: string;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ fake, url, close } = await startFake());
});
afterEach(async () => {
  await close();
});

function applied() {
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

/** What the executor commits before `run`: the capture, through JSON, as Postgres stores it. */
async function committedCapture(): Promise<Route53Captured> {
  const captured = await makeHandler(makeEnv(url)).capture(dnsStep({}), makeContext());
  return JSON.parse(JSON.stringify(captured)) as Route53Captured;
}

describe('route53 cutover as compare-and-set', () => {
  it('replaces the record in one batch: DELETE exactly as captured, CREATE the new one', async () => {
    fake.setRecord(ZONE, OLD);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    await handler.run(step, await committedCapture(), makeContext());

    expect(applied().map((c) => c.changes)).toEqual([
      [
        { action: 'DELETE', name: 'api.billing.example.com.', type: 'CNAME', ttl: 120, values: OLD.values },
        { action: 'CREATE', name: 'api.billing.example.com.', type: 'CNAME', ttl: 60, values: [NEW_VALUE] },
      ],
    ]);
    expect(fake.history(ZONE, NAME, 'CNAME').map((h) => h.action)).toEqual(['DELETE', 'CREATE']);
  });

  it('fails without changing anything when a person changed the record between capture and run', async () => {
    fake.setRecord(ZONE, OLD);
    const captured = await committedCapture();
    fake.setRecord(ZONE, HOTFIX);

    const error = await stepErrorOf(makeHandler(makeEnv(url)).run(dnsStep({}), captured, makeContext()));
    expect(error.retryable).toBe(false);
    expect(error.reason).toBe('ChangedSinceRead');
    expect(error.message).toBe(
      `api.billing.example.com CNAME changed since Ferry read it: Ferry captured billing-prod.herokudns.com (TTL 120), ` +
        `it is now hotfix.example.net (TTL 60). Ferry changed nothing. Find out who changed it and why; to cut over ` +
        `anyway, set it back to billing-prod.herokudns.com (TTL 120) in hosted zone ${ZONE} and Retry, or Skip this step to keep it as it is.`,
    );
    expect(fake.getRecord(ZONE, NAME, 'CNAME')).toMatchObject({ ttl: 60, values: HOTFIX.values });
    expect(applied()).toEqual([]);
  });

  it('fails when a person created the record after Ferry found none', async () => {
    const captured = await committedCapture();
    expect(captured).toEqual({ existed: false });
    fake.setRecord(ZONE, HOTFIX);

    const error = await stepErrorOf(makeHandler(makeEnv(url)).run(dnsStep({}), captured, makeContext()));
    expect(error.reason).toBe('ChangedSinceRead');
    expect(error.message).toMatch(
      /^api\.billing\.example\.com CNAME changed since Ferry read it: Ferry captured no record, it is now hotfix\.example\.net \(TTL 60\)\. Ferry changed nothing\./,
    );
    expect(error.message).toContain('to cut over anyway, delete it in hosted zone');
    expect(fake.getRecord(ZONE, NAME, 'CNAME')?.values).toEqual(HOTFIX.values);
    expect(applied()).toEqual([]);
  });

  it('keeps a change that lands between its read and its write: Route 53 refuses the DELETE, the step shows the record as it is now', async () => {
    fake.setRecord(ZONE, OLD);
    const captured = await committedCapture();
    // The person's change arrives after run's own read, just before Ferry's batch.
    fake.beforeNext('ChangeResourceRecordSets', () => fake.setRecord(ZONE, HOTFIX));

    const error = await stepErrorOf(makeHandler(makeEnv(url)).run(dnsStep({}), captured, makeContext()));
    expect(error.reason).toBe('ChangedSinceRead');
    expect(error.message).toContain('it is now hotfix.example.net (TTL 60)');
    expect((error.cause as StepError).reason).toBe('InvalidChangeBatch');
    const refused = fake.callsOf('ChangeResourceRecordSets');
    expect(refused.map((c) => c.errorCode)).toEqual(['InvalidChangeBatch']);
    expect(fake.getRecord(ZONE, NAME, 'CNAME')).toMatchObject({ ttl: 60, values: HOTFIX.values });
    expect(fake.history(ZONE, NAME, 'CNAME')).toEqual([]);
  });

  it('refuses a CREATE when a record appears between its read and its write', async () => {
    const captured = await committedCapture();
    fake.beforeNext('ChangeResourceRecordSets', () => fake.setRecord(ZONE, HOTFIX));

    const error = await stepErrorOf(makeHandler(makeEnv(url)).run(dnsStep({}), captured, makeContext()));
    expect(error.reason).toBe('ChangedSinceRead');
    expect(error.message).toContain('Ferry captured no record, it is now hotfix.example.net (TTL 60)');
    expect(fake.getRecord(ZONE, NAME, 'CNAME')?.values).toEqual(HOTFIX.values);
  });

  it('run twice (a crash after the change, before the outcome) applies one change and succeeds both times', async () => {
    fake.setRecord(ZONE, OLD);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const captured = await committedCapture();

    await handler.run(step, captured, makeContext());
    const again = await handler.run(step, captured, makeContext({ attempt: 2 }));
    expect(again.summary).toBe(
      'api.billing.example.com CNAME already points at billing.eu-central.example.net (TTL 60): no change submitted',
    );
    expect(applied()).toHaveLength(1);
    expect(fake.getRecord(ZONE, NAME, 'CNAME')).toMatchObject({ ttl: 60, values: [NEW_VALUE] });

    // The undo after the replay still restores what was there before the first run.
    await handler.undo!(step, captured, makeContext());
    expect(fake.getRecord(ZONE, NAME, 'CNAME')).toMatchObject({ ttl: 120, values: OLD.values });
  });

  it('succeeds without a second change when another claimant sets the same value first', async () => {
    fake.setRecord(ZONE, OLD);
    const captured = await committedCapture();
    // A replica whose lease lapsed finishes the same cutover at this instant.
    fake.beforeNext('ChangeResourceRecordSets', () =>
      fake.setRecord(ZONE, { name: NAME, type: 'CNAME', ttl: 60, values: [NEW_VALUE] }),
    );
    const result = await makeHandler(makeEnv(url)).run(dnsStep({}), captured, makeContext());
    expect(result.summary).toMatch(/already points at billing\.eu-central\.example\.net \(TTL 60\)/);
    expect(applied()).toEqual([]);
  });
});

describe('route53 undo as compare-and-set', () => {
  it('puts the captured record back in one batch: DELETE the cutover value as it is now, CREATE the captured one', async () => {
    fake.setRecord(ZONE, OLD);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const captured = await committedCapture();
    await handler.run(step, captured, makeContext());

    const undone = await handler.undo!(step, captured, makeContext());
    expect(undone.summary).toMatch(
      /^restored api\.billing\.example\.com CNAME billing-prod\.herokudns\.com \(TTL 120\), INSYNC after /,
    );
    expect(applied().at(-1)?.changes).toEqual([
      { action: 'DELETE', name: 'api.billing.example.com.', type: 'CNAME', ttl: 60, values: [NEW_VALUE] },
      { action: 'CREATE', name: 'api.billing.example.com.', type: 'CNAME', ttl: 120, values: OLD.values },
    ]);
  });

  it('fails without overwriting anything when a person changed the record after the cutover', async () => {
    fake.setRecord(ZONE, OLD);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const captured = await committedCapture();
    await handler.run(step, captured, makeContext());
    fake.setRecord(ZONE, HOTFIX);

    const error = await stepErrorOf(handler.undo!(step, captured, makeContext()));
    expect(error.retryable).toBe(false);
    expect(error.reason).toBe('ChangedSinceCutover');
    expect(error.message).toBe(
      `api.billing.example.com CNAME changed since the cutover: the cutover set billing.eu-central.example.net (TTL 60), ` +
        `it is now hotfix.example.net (TTL 60). Ferry did not restore billing-prod.herokudns.com (TTL 120), so as not to ` +
        `overwrite that change. Find out who changed it and why; to restore it anyway, set it in hosted zone ${ZONE} by hand and ` +
        `Skip this undo, or set it back to billing.eu-central.example.net (TTL 60) and Retry.`,
    );
    expect(fake.getRecord(ZONE, NAME, 'CNAME')).toMatchObject({ ttl: 60, values: HOTFIX.values });
    expect(applied()).toHaveLength(1);
  });

  it('keeps a change that lands between the undo read and its write', async () => {
    fake.setRecord(ZONE, OLD);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const captured = await committedCapture();
    await handler.run(step, captured, makeContext());
    fake.beforeNext('ChangeResourceRecordSets', () => fake.setRecord(ZONE, HOTFIX));

    const error = await stepErrorOf(handler.undo!(step, captured, makeContext()));
    expect(error.reason).toBe('ChangedSinceCutover');
    expect(error.message).toContain('it is now hotfix.example.net (TTL 60)');
    expect(fake.getRecord(ZONE, NAME, 'CNAME')).toMatchObject({ ttl: 60, values: HOTFIX.values });
    expect(applied()).toHaveLength(1);
  });

  it('changes nothing when the record is already back as captured, and an undo run twice applies one change', async () => {
    fake.setRecord(ZONE, OLD);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const captured = await committedCapture();
    await handler.run(step, captured, makeContext());
    await handler.undo!(step, captured, makeContext());
    const again = await handler.undo!(step, captured, makeContext({ attempt: 2 }));
    expect(again.summary).toBe(
      'api.billing.example.com CNAME is already billing-prod.herokudns.com (TTL 120), as before the cutover: nothing to restore',
    );
    expect(applied()).toHaveLength(2);
  });

  it('fails rather than recreate a record someone deleted after the cutover', async () => {
    fake.setRecord(ZONE, OLD);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const captured = await committedCapture();
    await handler.run(step, captured, makeContext());
    fake.removeRecord(ZONE, NAME, 'CNAME');

    const error = await stepErrorOf(handler.undo!(step, captured, makeContext()));
    expect(error.reason).toBe('ChangedSinceCutover');
    expect(error.message).toContain('it is now no record');
    expect(fake.getRecord(ZONE, NAME, 'CNAME')).toBeUndefined();
  });

  it('deletes a record the cutover created with its exact current values, and keeps one a person re-pointed', async () => {
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const captured = await committedCapture();
    await handler.run(step, captured, makeContext());
    const undone = await handler.undo!(step, captured, makeContext());
    expect(undone.summary).toMatch(/^deleted api\.billing\.example\.com CNAME/);
    expect(applied().at(-1)?.changes).toEqual([
      { action: 'DELETE', name: 'api.billing.example.com.', type: 'CNAME', ttl: 60, values: [NEW_VALUE] },
    ]);

    await handler.run(step, captured, makeContext());
    fake.beforeNext('ChangeResourceRecordSets', () => fake.setRecord(ZONE, HOTFIX));
    const error = await stepErrorOf(handler.undo!(step, captured, makeContext()));
    expect(error.reason).toBe('ChangedSinceCutover');
    expect(fake.getRecord(ZONE, NAME, 'CNAME')?.values).toEqual(HOTFIX.values);
  });
});

describe('route53 reads before writing', () => {
  it('reads the record once for one attempt: blocker, describe, capture and the write all use that read', async () => {
    fake.setRecord(ZONE, { ...OLD, ttl: 60 });
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({});
    const ctx = makeContext();
    expect(await handler.blocker!(step, ctx)).toBeNull();
    expect(await handler.describe(step, ctx)).toContain('billing-prod.herokudns.com -> ');
    const captured = await handler.capture(step, ctx);
    expect(captured.record?.values).toEqual(OLD.values);
    expect(fake.callsOf('ListResourceRecordSets')).toHaveLength(1);

    // run decides from the same read: the batch deletes what was captured, so a change made since
    // that read would make Route 53 refuse it (tested above).
    await handler.run(step, captured, ctx);
    expect(fake.callsOf('ListResourceRecordSets')).toHaveLength(1);
    expect(fake.callsOf('ChangeResourceRecordSets')).toHaveLength(1);
  });

  it('makes one read for a dry run that asks describe and blocker at once', async () => {
    fake.setRecord(ZONE, { ...OLD, ttl: 60 });
    const handler = makeHandler(makeEnv(url));
    const ctx = makeContext();
    await Promise.all([handler.describe(dnsStep({}), ctx), handler.blocker!(dnsStep({}), ctx)]);
    expect(fake.callsOf('ListResourceRecordSets')).toHaveLength(1);
  });

  it('reads again on the next attempt, and after a failed read', async () => {
    fake.setRecord(ZONE, { ...OLD, ttl: 60 });
    const handler = makeHandler(makeEnv(url));
    fake.failNext('AccessDenied', 403, { operation: 'ListResourceRecordSets' });
    const ctx = makeContext();
    await expect(handler.blocker!(dnsStep({}), ctx)).rejects.toBeInstanceOf(StepError);
    expect(await handler.blocker!(dnsStep({}), ctx)).toBeNull();
    await handler.blocker!(dnsStep({}), makeContext({ attempt: 2 }));
    expect(fake.callsOf('ListResourceRecordSets')).toHaveLength(3);
  });
});
