import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
} from '@aws-sdk/client-route-53';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeRoute53 } from '../../src/sandbox/fakes/route53.ts';

// FakeRoute53 speaks Route 53's wire protocol: checked here with the real SDK client (and raw HTTP where
// the SDK would hide what is sent), so the adapter tests rest on the same rules as the real service.

const ZONE = 'ZFAKE1';
let fake: FakeRoute53;
let url: string;
let close: () => Promise<void>;
let client: Route53Client;

beforeEach(async () => {
  fake = new FakeRoute53();
  fake.addZone(ZONE, 'example.com');
  ({ url, close } = await fake.listen());
  client = new Route53Client({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
});
afterEach(async () => {
  client.destroy();
  await close();
});

const cname = (name: string, value: string, ttl = 300) => ({
  Name: name,
  Type: 'CNAME' as const,
  TTL: ttl,
  ResourceRecords: [{ Value: value }],
});

function change(changes: Change[]) {
  return client.send(
    new ChangeResourceRecordSetsCommand({ HostedZoneId: ZONE, ChangeBatch: { Changes: changes } }),
  );
}

async function errorOf(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: Error) => e,
  );
}

describe('FakeRoute53', () => {
  it('applies a change batch all or nothing', async () => {
    fake.setRecord(ZONE, { name: 'old.example.com', type: 'CNAME', ttl: 300, values: ['a.example.net'] });
    const error = await errorOf(
      change([
        { Action: 'UPSERT', ResourceRecordSet: cname('new.example.com', 'b.example.net') },
        { Action: 'DELETE', ResourceRecordSet: cname('old.example.com', 'a.example.net', 60) },
      ]),
    );
    expect(error.name).toBe('InvalidChangeBatch');
    expect(error.message).toBe(
      "[Tried to delete resource record set [name='old.example.com.', type='CNAME'] but the values provided do not match the current values]",
    );
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(fake.getRecord(ZONE, 'new.example.com', 'CNAME')).toBeUndefined();
    expect(fake.getRecord(ZONE, 'old.example.com', 'CNAME')?.values).toEqual(['a.example.net']);
  });

  it('accepts DELETE then CREATE of the same record in one batch, but not two DELETEs', async () => {
    fake.setRecord(ZONE, { name: 'api.example.com', type: 'CNAME', ttl: 300, values: ['a.example.net'] });
    await change([
      { Action: 'DELETE', ResourceRecordSet: cname('api.example.com', 'a.example.net') },
      { Action: 'CREATE', ResourceRecordSet: cname('api.example.com', 'b.example.net', 60) },
    ]);
    expect(fake.getRecord(ZONE, 'api.example.com', 'CNAME')).toMatchObject({
      ttl: 60,
      values: ['b.example.net'],
    });

    const twice = await errorOf(
      change([
        { Action: 'DELETE', ResourceRecordSet: cname('api.example.com', 'b.example.net', 60) },
        { Action: 'DELETE', ResourceRecordSet: cname('api.example.com', 'b.example.net', 60) },
      ]),
    );
    expect(twice.name).toBe('InvalidChangeBatch');
    expect(fake.getRecord(ZONE, 'api.example.com', 'CNAME')).toBeDefined();
  });

  it('refuses CREATE of an existing record, DELETE of a missing one, and names outside the zone', async () => {
    fake.setRecord(ZONE, { name: 'api.example.com', type: 'CNAME', ttl: 300, values: ['a.example.net'] });
    const create = await errorOf(
      change([{ Action: 'CREATE', ResourceRecordSet: cname('api.example.com', 'x.net') }]),
    );
    expect(create.message).toBe(
      "[Tried to create resource record set [name='api.example.com.', type='CNAME'] but it already exists]",
    );
    const del = await errorOf(
      change([{ Action: 'DELETE', ResourceRecordSet: cname('nope.example.com', 'x.net') }]),
    );
    expect(del.message).toBe(
      "[Tried to delete resource record set [name='nope.example.com.', type='CNAME'] but it was not found]",
    );
    const outside = await errorOf(
      change([{ Action: 'UPSERT', ResourceRecordSet: cname('api.example.org', 'x.net') }]),
    );
    expect(outside.message).toBe(
      '[RRSet with DNS name api.example.org. is not permitted in zone example.com.]',
    );
  });

  it('keeps, per record, the changes it applied, and nothing of a refused batch', async () => {
    fake.setRecord(ZONE, { name: 'api.example.com', type: 'CNAME', ttl: 300, values: ['a.example.net'] });
    const first = await change([
      { Action: 'DELETE', ResourceRecordSet: cname('api.example.com', 'a.example.net') },
      { Action: 'CREATE', ResourceRecordSet: cname('api.example.com', 'b.example.net', 60) },
    ]);
    const refused = await errorOf(
      change([
        { Action: 'CREATE', ResourceRecordSet: cname('www.example.com', 'c.example.net') },
        { Action: 'CREATE', ResourceRecordSet: cname('www.example.com', 'c.example.net') },
      ]),
    );
    expect(refused.message).toBe(
      "[The request contains an invalid set of changes for a resource record set 'CNAME www.example.com.']",
    );
    await errorOf(
      change([
        { Action: 'CREATE', ResourceRecordSet: cname('www.example.com', 'c.example.net') },
        { Action: 'DELETE', ResourceRecordSet: cname('api.example.com', 'a.example.net') },
      ]),
    );

    const id = first.ChangeInfo?.Id?.replace('/change/', '');
    expect(fake.history(ZONE, 'API.example.com.', 'cname')).toEqual([
      {
        changeId: id,
        action: 'DELETE',
        record: { name: 'api.example.com.', type: 'CNAME', ttl: 300, values: ['a.example.net'] },
        comment: undefined,
      },
      {
        changeId: id,
        action: 'CREATE',
        record: { name: 'api.example.com.', type: 'CNAME', ttl: 60, values: ['b.example.net'] },
        comment: undefined,
      },
    ]);
    expect(fake.history(ZONE, 'www.example.com', 'CNAME')).toEqual([]);
    expect(fake.getRecord(ZONE, 'www.example.com', 'CNAME')).toBeUndefined();
  });

  it('lets a test act just before the next request of one operation, after its faults', async () => {
    fake.setRecord(ZONE, { name: 'api.example.com', type: 'CNAME', ttl: 300, values: ['a.example.net'] });
    fake.throttleNext(1, { operation: 'ChangeResourceRecordSets' });
    fake.beforeNext('ChangeResourceRecordSets', () =>
      fake.setRecord(ZONE, { name: 'api.example.com', type: 'CNAME', ttl: 300, values: ['p.example.net'] }),
    );
    const replace = () =>
      change([
        { Action: 'DELETE', ResourceRecordSet: cname('api.example.com', 'a.example.net') },
        { Action: 'CREATE', ResourceRecordSet: cname('api.example.com', 'b.example.net') },
      ]);
    await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE }));
    expect((await errorOf(replace())).name).toBe('Throttling');
    expect(fake.getRecord(ZONE, 'api.example.com', 'CNAME')?.values).toEqual(['a.example.net']);
    const stale = await errorOf(replace());
    expect(stale.message).toContain(
      "Tried to delete resource record set [name='api.example.com.', type='CNAME'] but the values provided do not match the current values",
    );
    expect(fake.getRecord(ZONE, 'api.example.com', 'CNAME')?.values).toEqual(['p.example.net']);
  });

  it('answers a change with PENDING, then GetChange with PENDING until the configured polls, then INSYNC', async () => {
    fake.setPropagation({ polls: 2 });
    const out = await change([
      { Action: 'UPSERT', ResourceRecordSet: cname('api.example.com', 'b.example.net') },
    ]);
    expect(out.ChangeInfo?.Status).toBe('PENDING');
    expect(out.ChangeInfo?.Id).toMatch(/^\/change\/C[0-9A-F]{13}$/);
    const statuses: string[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (await client.send(new GetChangeCommand({ Id: out.ChangeInfo!.Id }))).ChangeInfo!.Status!,
      );
    }
    expect(statuses).toEqual(['PENDING', 'PENDING', 'INSYNC']);
    const missing = await errorOf(client.send(new GetChangeCommand({ Id: 'CNOSUCHCHANGE' })));
    expect([missing.name, missing.$metadata?.httpStatusCode]).toEqual(['NoSuchChange', 404]);
  });

  it('lists in reversed-label order, seeks to the next record, and pages with NextRecordName', async () => {
    for (const [name, type, value] of [
      ['www.example.com', 'CNAME', 'w.example.net'],
      ['api.example.com', 'TXT', '"t"'],
      ['api.example.com', 'A', '192.0.2.1'],
      ['a.api.example.com', 'A', '192.0.2.2'],
      ['*.example.com', 'CNAME', 'star.example.net'],
    ] as const) {
      fake.setRecord(ZONE, { name, type, ttl: 60, values: [value] });
    }
    const all = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE }));
    expect(all.ResourceRecordSets?.map((r) => `${r.Name} ${r.Type}`)).toEqual([
      'example.com. NS',
      'example.com. SOA',
      '\\052.example.com. CNAME',
      'api.example.com. A',
      'api.example.com. TXT',
      'a.api.example.com. A',
      'www.example.com. CNAME',
    ]);
    const seek = await client.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        StartRecordName: 'api.example.com',
        StartRecordType: 'CNAME',
        MaxItems: 2,
      }),
    );
    expect(seek.ResourceRecordSets?.map((r) => `${r.Name} ${r.Type}`)).toEqual([
      'api.example.com. TXT',
      'a.api.example.com. A',
    ]);
    expect([seek.IsTruncated, seek.NextRecordName, seek.NextRecordType]).toEqual([
      true,
      'www.example.com.',
      'CNAME',
    ]);
    const rest = await client.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        StartRecordName: seek.NextRecordName,
        StartRecordType: seek.NextRecordType,
      }),
    );
    expect(rest.ResourceRecordSets?.map((r) => r.Name)).toEqual(['www.example.com.']);
    expect(rest.IsTruncated).toBe(false);
  });

  it('refuses a type without a name, and an unknown hosted zone with 404 NoSuchHostedZone', async () => {
    const res = await fetch(`${url}/2013-04-01/hostedzone/${ZONE}/rrset?type=CNAME`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>InvalidInput</Code>');
    const missing = await errorOf(client.send(new ListResourceRecordSetsCommand({ HostedZoneId: 'ZNONE' })));
    expect([missing.name, missing.$metadata?.httpStatusCode]).toEqual(['NoSuchHostedZone', 404]);
  });

  it('accepts the trailing-slash path botocore sends and answers errors in the current ErrorResponse format', async () => {
    const body = (action: string) =>
      `<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Comment>cutover &amp; more</Comment><Changes><Change><Action>${action}</Action><ResourceRecordSet><Name>cli.example.com</Name><Type>CNAME</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>b.example.net</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`;
    const post = (action: string) =>
      fetch(`${url}/2013-04-01/hostedzone/${ZONE}/rrset/`, {
        method: 'POST',
        headers: { 'content-type': 'application/xml' },
        body: body(action),
      });
    const ok = await post('UPSERT');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('<Comment>cutover &amp; more</Comment>');
    expect(fake.getRecord(ZONE, 'cli.example.com', 'CNAME')?.values).toEqual(['b.example.net']);
    const again = await post('CREATE');
    const text = await again.text();
    expect(again.status).toBe(400);
    expect(text).toMatch(
      /<ErrorResponse xmlns="https:\/\/route53\.amazonaws\.com\/doc\/2013-04-01\/"><Error><Type>Sender<\/Type><Code>InvalidChangeBatch<\/Code><Message>.*<\/Message><\/Error><RequestId>[0-9a-f-]+<\/RequestId><\/ErrorResponse>$/,
    );
  });

  it('injects throttling, PriorRequestNotComplete and arbitrary failures, and records every call', async () => {
    fake.throttleNext(1);
    fake.priorRequestNotCompleteNext(1);
    fake.failNext('ServiceUnavailable', 503, { operation: 'ListResourceRecordSets' });
    const list = () => client.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE }));
    const upsert = () =>
      change([{ Action: 'UPSERT', ResourceRecordSet: cname('api.example.com', 'b.example.net') }]);
    const throttled = await errorOf(list());
    expect([throttled.name, throttled.message, throttled.$metadata?.httpStatusCode]).toEqual([
      'Throttling',
      'Rate exceeded',
      400,
    ]);
    expect((await errorOf(list())).$metadata?.httpStatusCode).toBe(503);
    expect((await errorOf(upsert())).name).toBe('PriorRequestNotComplete');
    await upsert();
    await list();
    expect(fake.calls.map((c) => [c.operation, c.status])).toEqual([
      ['ListResourceRecordSets', 400],
      ['ListResourceRecordSets', 503],
      ['ChangeResourceRecordSets', 400],
      ['ChangeResourceRecordSets', 200],
      ['ListResourceRecordSets', 200],
    ]);
    expect(fake.callsOf('ChangeResourceRecordSets')[1]?.changes).toEqual([
      { action: 'UPSERT', name: 'api.example.com', type: 'CNAME', ttl: 300, values: ['b.example.net'] },
    ]);
  });

  it('mounts into another server, leaving other paths to it', async () => {
    const host = createServer((req, res) => {
      void fake.handle(req, res).then((handled) => {
        if (!handled) res.end('console');
      });
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
    try {
      expect(await (await fetch(`${base}/console`)).text()).toBe('console');
      const mounted = new Route53Client({
        endpoint: base,
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      });
      const out = await mounted.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE, MaxItems: 1 }));
      expect(out.ResourceRecordSets?.[0]?.Type).toBe('NS');
      mounted.destroy();
    } finally {
      host.closeAllConnections();
      host.close();
    }
  });
});
