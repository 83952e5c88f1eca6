import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import type { FakeRoute53 } from '../../src/sandbox/fakes/route53.ts';
import { startDnsServer, type TestDnsServer } from './route53-dns-server.ts';
import { dnsStep, makeContext, makeEnv, makeHandler, startFake, ZONE } from './route53-support.ts';

// verify.resolvers: after INSYNC, ask resolvers (tiny UDP DNS servers on 127.0.0.1) until all agree.

const NAME = 'api.billing.example.com';
const OLD_TARGET = 'billing-prod.herokudns.com';
const NEW_TARGET = 'billing.eu-central.example.net';

let fake: FakeRoute53;
let url: string;
let close: () => Promise<void>;
let servers: TestDnsServer[] = [];

beforeEach(async () => {
  ({ fake, url, close } = await startFake());
  fake.setRecord(ZONE, { name: NAME, type: 'CNAME', ttl: 60, values: [OLD_TARGET] });
  servers = await Promise.all([startDnsServer(), startDnsServer(), startDnsServer()]);
  for (const s of servers) s.set(NAME, 'CNAME', [OLD_TARGET]);
});
afterEach(async () => {
  await close();
  await Promise.all(servers.map((s) => s.close()));
});

describe('route53 resolver verification', () => {
  it('waits until every resolver answers the new value, reporting how many do', async () => {
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({ verify: { resolvers: servers.map((s) => s.address), timeout: '10s' } });
    const ctx = makeContext();
    // Each report flips one more resolver to the new answer, as caches expire one by one.
    const lines: string[] = [];
    ctx.progress = (report) => {
      lines.push(report.text);
      if (report.text.includes('resolvers see'))
        servers[lines.filter((l) => l.includes('resolvers see')).length - 1]?.set(NAME, 'CNAME', [
          `${NEW_TARGET}.`,
        ]);
      return Promise.resolve();
    };
    const captured = await handler.capture(step, ctx);
    const result = await handler.run(step, captured, ctx);

    const counts = lines.filter((l) => l.includes('resolvers see')).map((l) => l.split(' (')[0]);
    expect(counts).toEqual([
      '0 of 3 resolvers see the new value',
      '1 of 3 resolvers see the new value',
      '2 of 3 resolvers see the new value',
      '3 of 3 resolvers see the new value',
    ]);
    expect(result.summary).toMatch(/; 3 of 3 resolvers see it$/);
    expect(result.figures?.resolvers).toBe(3);
  });

  it('fails at its timeout naming each resolver that still sees something else', async () => {
    const [fresh, stale, silent] = servers as [TestDnsServer, TestDnsServer, TestDnsServer];
    fresh.set(NAME, 'CNAME', [NEW_TARGET]);
    silent.silent(true);
    const handler = makeHandler(makeEnv(url, { httpTimeoutMs: 100 }));
    const step = dnsStep({ verify: { resolvers: servers.map((s) => s.address), timeout: '300ms' } });
    const ctx = makeContext();

    const error = await handler.run(step, await handler.capture(step, ctx), ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    const { message, reason, retryable } = error as StepError;
    expect(reason).toBe('ResolverTimeout');
    expect(retryable).toBe(false);
    expect(message).toContain(`2 of 3 resolvers still do not see ${NAME} CNAME ${NEW_TARGET}:`);
    expect(message).toContain(`${stale.address} answers ${OLD_TARGET}`);
    expect(message).toContain(`${silent.address}: no answer (ETIMEOUT)`);
    expect(message).not.toContain(fresh.address);
    expect(message).toContain('up to its TTL (1m)');
    expect(ctx.reports.some((r) => r.text.startsWith('1 of 3 resolvers see the new value'))).toBe(true);
    // Route 53 itself was changed; only the resolvers lag.
    expect(fake.getRecord(ZONE, NAME, 'CNAME')?.values).toEqual([`${NEW_TARGET}.`]);
  });

  it('treats a resolver that finds no record as not seeing the new value yet', async () => {
    const [only] = servers as [TestDnsServer];
    only.set(NAME, 'CNAME', []);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({ verify: { resolvers: [only.address], timeout: '100ms' } });
    const ctx = makeContext();
    const error = await handler.run(step, await handler.capture(step, ctx), ctx).catch((e: unknown) => e);
    expect((error as StepError).message).toContain(`${only.address} finds no such record`);
  });

  it('refuses a resolver entry that is not an address before asking anything', async () => {
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({ verify: { resolvers: ['dns.google'] } });
    const ctx = makeContext();
    const error = await handler.run(step, await handler.capture(step, ctx), ctx).catch((e: unknown) => e);
    expect((error as StepError).reason).toBe('InvalidResolver');
    expect((error as StepError).message).toMatch(
      /^verify\.resolvers: "dns\.google" is not a resolver address/,
    );
  });

  it('verifies an A record through the resolvers too', async () => {
    fake.setRecord(ZONE, { name: 'app.example.com', type: 'A', ttl: 60, values: ['192.0.2.1'] });
    for (const s of servers) s.set('app.example.com', 'A', ['203.0.113.10']);
    const handler = makeHandler(makeEnv(url));
    const step = dnsStep({
      record: 'app.example.com',
      record_type: 'A',
      value: '203.0.113.10',
      verify: { resolvers: servers.map((s) => s.address) },
    });
    const ctx = makeContext();
    const result = await handler.run(step, await handler.capture(step, ctx), ctx);
    expect(result.summary).toMatch(/3 of 3 resolvers see it$/);
    expect(servers.every((s) => s.queries > 0)).toBe(true);
  });
});
