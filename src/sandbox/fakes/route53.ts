import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';

// A local Route 53 that speaks the REST-XML wire protocol the real @aws-sdk/client-route-53 sends, so
// Ferry's adapter runs unchanged against it (its middleware, retries and error parsing included). Tests
// and the local sandbox both serve it. It implements what Ferry uses: ChangeResourceRecordSets
// (a batch is validated, then applied all or nothing; DELETE's exact-match rule; CREATE of an existing
// record refused; one change per record set, DELETE then CREATE excepted; CNAME conflicts),
// ListResourceRecordSets (the seek, not a filter), GetChange (PENDING for a while, then INSYNC), plus
// fault injection, a record of calls and, per record, the changes applied to it.

const API_PREFIX = '/2013-04-01/';
const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const MAX_BODY_BYTES = 1_000_000;

export type Route53Operation = 'ChangeResourceRecordSets' | 'ListResourceRecordSets' | 'GetChange';
export type ChangeAction = 'CREATE' | 'UPSERT' | 'DELETE';

export interface FakeAliasTarget {
  hostedZoneId: string;
  dnsName: string;
  evaluateTargetHealth: boolean;
}

/** A resource record set. `name` is canonical when read back: lowercase, trailing dot, `*` unescaped. */
export interface FakeRecord {
  name: string;
  type: string;
  /** Absent for alias records. */
  ttl?: number;
  /** Values as Route 53 stores them, e.g. `"v=spf1 -all"` with its quotes for TXT. Empty for aliases. */
  values: string[];
  aliasTarget?: FakeAliasTarget;
  setIdentifier?: string;
  weight?: number;
}

export interface RecordedChange {
  action: ChangeAction;
  name: string;
  type: string;
  ttl?: number;
  values: string[];
}

/** One change Route 53 applied to a record set; the changes of one batch share its `changeId`. */
export interface AppliedChange {
  changeId: string;
  action: ChangeAction;
  /** The record set as the change named it (name canonical). */
  record: FakeRecord;
  comment: string | undefined;
}

/** One request the fake answered, in arrival order. */
export interface RecordedCall {
  operation: Route53Operation | 'Unknown';
  method: string;
  path: string;
  zoneId?: string;
  changeId?: string;
  /** ChangeResourceRecordSets only: the batch as sent. */
  changes?: RecordedChange[];
  status: number;
  /** Set when the answer was an error, injected or not. */
  errorCode?: string;
}

export interface FaultOptions {
  /** Only this operation fails; others pass. Default: the next request of any operation. */
  operation?: Route53Operation;
  message?: string;
}

export interface Propagation {
  /** GetChange answers PENDING at least this many times per change. `Infinity` never syncs. */
  polls: number;
  /** ...and for at least this long after the change was submitted. */
  ms: number;
}

interface Zone {
  id: string;
  name: string;
  records: Map<string, FakeRecord>;
  /** Changes applied through ChangeResourceRecordSets, per record key, oldest first. */
  history: Map<string, AppliedChange[]>;
}

interface Change {
  id: string;
  submittedAt: Date;
  comment: string | undefined;
  pendingAnswers: number;
  insync: boolean;
}

interface Fault {
  code: string;
  status: number;
  message: string;
  operation: Route53Operation | undefined;
}

class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export class FakeRoute53 {
  /** Every request answered, in order. Assert on it (e.g. how many change batches were applied). */
  readonly calls: RecordedCall[] = [];
  private readonly zones = new Map<string, Zone>();
  private readonly changes = new Map<string, Change>();
  private readonly faults: Fault[] = [];
  private readonly interceptions: Array<{ operation: Route53Operation; run: () => void }> = [];
  private propagation: Propagation;
  private readonly now: () => number;

  constructor(options: { propagation?: Partial<Propagation>; now?: () => number } = {}) {
    this.propagation = { polls: 1, ms: 0, ...options.propagation };
    this.now = options.now ?? Date.now;
  }

  // ---- seeding and inspection (typed, no HTTP) ----

  /** Creates a public hosted zone with its apex NS and SOA records. `id` may carry `/hostedzone/`. */
  addZone(id: string, name: string): void {
    const zoneId = stripPrefix(id, 'hostedzone');
    const zoneName = canonicalName(name);
    const zone: Zone = { id: zoneId, name: zoneName, records: new Map(), history: new Map() };
    this.zones.set(zoneId, zone);
    const ns = ['ns-1.awsdns-01.org.', 'ns-2.awsdns-02.co.uk.', 'ns-3.awsdns-03.com.', 'ns-4.awsdns-04.net.'];
    putRecord(zone, { name: zoneName, type: 'NS', ttl: 172_800, values: ns });
    putRecord(zone, {
      name: zoneName,
      type: 'SOA',
      ttl: 900,
      values: [`${ns[0]} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400`],
    });
  }

  /** Creates or replaces a record without validation (seed data). The zone must exist. */
  setRecord(zoneId: string, record: FakeRecord): void {
    putRecord(this.zone(zoneId), {
      ...record,
      name: canonicalName(record.name),
      type: record.type.toUpperCase(),
    });
  }

  getRecord(zoneId: string, name: string, type: string, setIdentifier?: string): FakeRecord | undefined {
    const found = this.zone(zoneId).records.get(
      recordKey(canonicalName(name), type.toUpperCase(), setIdentifier),
    );
    return found && copyRecord(found);
  }

  removeRecord(zoneId: string, name: string, type: string, setIdentifier?: string): boolean {
    return this.zone(zoneId).records.delete(
      recordKey(canonicalName(name), type.toUpperCase(), setIdentifier),
    );
  }

  /**
   * The changes ChangeResourceRecordSets applied to one record set, oldest first (seed data and
   * `setRecord` are not changes). A cutover is a DELETE and a CREATE with the same `changeId`, so
   * counting distinct change ids counts the batches that touched the record.
   */
  history(zoneId: string, name: string, type: string, setIdentifier?: string): AppliedChange[] {
    const key = recordKey(canonicalName(name), type.toUpperCase(), setIdentifier);
    return (this.zone(zoneId).history.get(key) ?? []).map((c) => ({ ...c, record: copyRecord(c.record) }));
  }

  /** The zone's records in Route 53's order (labels reversed, then type). */
  listRecords(zoneId: string): FakeRecord[] {
    return sortedRecords(this.zone(zoneId)).map(copyRecord);
  }

  /** How long submitted changes stay PENDING; applies to changes submitted from now on and to pending ones. */
  setPropagation(propagation: Partial<Propagation>): void {
    this.propagation = { ...this.propagation, ...propagation };
  }

  /** The next `n` matching requests get 400 Throttling "Rate exceeded", as Route 53 answers. */
  throttleNext(n: number, options: FaultOptions = {}): void {
    this.failNext('Throttling', 400, { message: 'Rate exceeded', ...options }, n);
  }

  /**
   * The next `n` changes get 400 PriorRequestNotComplete, which Route 53 answers while it is still
   * processing an earlier request for the zone. Defaults to ChangeResourceRecordSets.
   */
  priorRequestNotCompleteNext(n: number, options: FaultOptions = {}): void {
    this.failNext(
      'PriorRequestNotComplete',
      400,
      {
        operation: 'ChangeResourceRecordSets',
        message: 'The request was rejected because Route 53 was still processing a prior request.',
        ...options,
      },
      n,
    );
  }

  /** The next `times` (default 1) matching requests fail with this code and HTTP status. */
  failNext(code: string, status: number, options: FaultOptions = {}, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.faults.push({
        code,
        status,
        message: options.message ?? `Injected ${code}`,
        operation: options.operation,
      });
    }
  }

  /**
   * Runs `run` once, just before the next request of `operation` is processed (after its faults):
   * a person changing the zone at that instant, between a client's read and its write.
   */
  beforeNext(operation: Route53Operation, run: () => void): void {
    this.interceptions.push({ operation, run });
  }

  /** Calls of one operation, e.g. the ChangeResourceRecordSets that were applied (`status === 200`). */
  callsOf(operation: Route53Operation): RecordedCall[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  // ---- HTTP ----

  /** Answers requests under `/2013-04-01/`; returns false (and leaves `res` alone) for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://route53.local');
    if (!url.pathname.startsWith(API_PREFIX)) return false;
    const method = req.method ?? 'GET';
    const call: RecordedCall = { operation: 'Unknown', method, path: url.pathname, status: 200 };
    this.calls.push(call);
    const requestId = randomUUID();
    let status = 200;
    let body: string;
    try {
      const raw = await readBody(req);
      body = this.route(method, url, raw, call);
    } catch (error) {
      const apiError =
        error instanceof ApiError
          ? error
          : new ApiError(400, 'InvalidInput', error instanceof Error ? error.message : String(error));
      status = apiError.status;
      call.errorCode = apiError.code;
      body = errorXml(apiError, requestId);
    }
    call.status = status;
    res.writeHead(status, {
      'content-type': 'text/xml',
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': requestId,
    });
    res.end(body);
    return true;
  }

  /** Serves the fake on 127.0.0.1. */
  async listen(port = 0): Promise<{ url: string; close: () => Promise<void> }> {
    const server = createServer((req, res) => {
      this.handle(req, res)
        .then((handled) => {
          if (!handled) {
            res.writeHead(404, { 'content-type': 'text/plain' });
            res.end('not a Route 53 path\n');
          }
        })
        .catch((error: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(error instanceof Error ? error.message : String(error));
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('FakeRoute53: no TCP address');
    return {
      url: `http://127.0.0.1:${address.port}`,
      close: () =>
        new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeAllConnections();
        }),
    };
  }

  private route(method: string, url: URL, raw: string, call: RecordedCall): string {
    const parts = url.pathname.slice(API_PREFIX.length).split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'hostedzone' && parts.length === 3 && parts[2] === 'rrset' && parts[1] !== undefined) {
      call.zoneId = stripPrefix(parts[1], 'hostedzone');
      if (method === 'POST') {
        call.operation = 'ChangeResourceRecordSets';
        const batch = parseChangeBatch(raw);
        call.changes = batch.changes.map((c) => ({
          action: c.action,
          name: c.record.name,
          type: c.record.type,
          ...(c.record.ttl === undefined ? {} : { ttl: c.record.ttl }),
          values: [...c.record.values],
        }));
        this.injectFault(call.operation);
        return this.changeResourceRecordSets(call.zoneId, batch, call);
      }
      if (method === 'GET') {
        call.operation = 'ListResourceRecordSets';
        this.injectFault(call.operation);
        return this.listResourceRecordSets(call.zoneId, url.searchParams);
      }
    }
    if (parts[0] === 'change' && parts.length === 2 && parts[1] !== undefined && method === 'GET') {
      call.operation = 'GetChange';
      call.changeId = stripPrefix(parts[1], 'change');
      this.injectFault(call.operation);
      return this.getChange(call.changeId);
    }
    throw new ApiError(400, 'InvalidAction', `FakeRoute53 does not implement ${method} ${url.pathname}`);
  }

  private injectFault(operation: Route53Operation): void {
    const index = this.faults.findIndex((f) => f.operation === undefined || f.operation === operation);
    if (index >= 0) {
      const [fault] = this.faults.splice(index, 1);
      if (fault) throw new ApiError(fault.status, fault.code, fault.message);
    }
    const hook = this.interceptions.findIndex((i) => i.operation === operation);
    if (hook >= 0) this.interceptions.splice(hook, 1)[0]?.run();
  }

  private zone(id: string): Zone {
    const zone = this.zones.get(stripPrefix(id, 'hostedzone'));
    if (!zone) throw new ApiError(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${id}`);
    return zone;
  }

  private changeResourceRecordSets(zoneId: string, batch: ParsedBatch, call: RecordedCall): string {
    const zone = this.zone(zoneId);
    const working = new Map(zone.records);
    const problems: string[] = [];
    const applied: Array<{ key: string; action: ChangeAction; record: FakeRecord }> = [];
    const actionsByKey = new Map<string, ChangeAction[]>();
    for (const { action, record } of batch.changes) {
      const name = canonicalName(record.name);
      const shown = `[name='${encodeName(name)}', type='${record.type}'${
        record.setIdentifier === undefined ? '' : `, set-identifier='${record.setIdentifier}'`
      }]`;
      const key = recordKey(name, record.type, record.setIdentifier);
      const earlier = actionsByKey.get(key) ?? [];
      actionsByKey.set(key, [...earlier, action]);
      if (earlier.length > 0 && !(earlier.length === 1 && earlier[0] === 'DELETE' && action !== 'DELETE')) {
        problems.push(
          `The request contains an invalid set of changes for a resource record set '${record.type} ${encodeName(name)}'`,
        );
        continue;
      }
      if (name !== zone.name && !name.endsWith(`.${zone.name}`)) {
        problems.push(`RRSet with DNS name ${encodeName(name)} is not permitted in zone ${zone.name}`);
        continue;
      }
      const candidate: FakeRecord = { ...record, name };
      if (action === 'DELETE') {
        const current = working.get(key);
        if (!current) problems.push(`Tried to delete resource record set ${shown} but it was not found`);
        else if (!sameRecord(current, candidate))
          problems.push(
            `Tried to delete resource record set ${shown} but the values provided do not match the current values`,
          );
        else {
          working.delete(key);
          applied.push({ key, action, record: candidate });
        }
        continue;
      }
      if (action === 'CREATE' && working.has(key)) {
        problems.push(`Tried to create resource record set ${shown} but it already exists`);
        continue;
      }
      const invalid = recordProblem(candidate, zone, working);
      if (invalid) {
        problems.push(invalid);
        continue;
      }
      working.set(key, candidate);
      applied.push({ key, action, record: candidate });
    }
    if (problems.length > 0) throw new ApiError(400, 'InvalidChangeBatch', `[${problems.join(', ')}]`);
    zone.records.clear();
    for (const [key, record] of working) zone.records.set(key, record);
    const change: Change = {
      id: `C${randomBytes(10).toString('hex').toUpperCase().slice(0, 13)}`,
      submittedAt: new Date(this.now()),
      comment: batch.comment,
      pendingAnswers: 0,
      insync: false,
    };
    this.changes.set(change.id, change);
    call.changeId = change.id;
    for (const { key, action, record } of applied) {
      const entry = { changeId: change.id, action, record: copyRecord(record), comment: batch.comment };
      zone.history.set(key, [...(zone.history.get(key) ?? []), entry]);
    }
    return xmlDocument('ChangeResourceRecordSetsResponse', changeInfoXml(change));
  }

  private listResourceRecordSets(zoneId: string, query: URLSearchParams): string {
    const zone = this.zone(zoneId);
    const startName = query.get('name');
    const startType = query.get('type')?.toUpperCase();
    const startIdentifier = query.get('identifier');
    const maxItemsText = query.get('maxitems') ?? '300';
    const maxItems = Number(maxItemsText);
    if (!/^\d+$/.test(maxItemsText) || maxItems < 1) {
      throw new ApiError(
        400,
        'InvalidInput',
        `1 validation error detected: Value '${maxItemsText}' at 'maxItems'`,
      );
    }
    if (startType !== undefined && startName === null) {
      throw new ApiError(400, 'InvalidInput', 'The input is not valid: type is specified but name is not');
    }
    if (startIdentifier !== null && startType === undefined) {
      throw new ApiError(
        400,
        'InvalidInput',
        'The input is not valid: identifier is specified but type is not',
      );
    }
    const all = sortedRecords(zone);
    let start = 0;
    if (startName !== null) {
      const from = {
        name: canonicalName(startName),
        type: startType ?? '',
        setIdentifier: startIdentifier ?? '',
      };
      start = all.findIndex((r) => compareRecords(r, from) >= 0);
      if (start < 0) start = all.length;
    }
    const page = all.slice(start, start + Math.min(maxItems, 300));
    const next = all[start + page.length];
    const fields = [
      `<ResourceRecordSets>${page.map(recordXml).join('')}</ResourceRecordSets>`,
      `<IsTruncated>${next ? 'true' : 'false'}</IsTruncated>`,
    ];
    if (next) {
      fields.push(`<NextRecordName>${escapeXml(encodeName(next.name))}</NextRecordName>`);
      fields.push(`<NextRecordType>${next.type}</NextRecordType>`);
      if (next.setIdentifier !== undefined) {
        fields.push(`<NextRecordIdentifier>${escapeXml(next.setIdentifier)}</NextRecordIdentifier>`);
      }
    }
    fields.push(`<MaxItems>${maxItemsText}</MaxItems>`);
    return xmlDocument('ListResourceRecordSetsResponse', fields.join(''));
  }

  private getChange(id: string): string {
    const change = this.changes.get(id);
    if (!change)
      throw new ApiError(404, 'NoSuchChange', `A change with the specified change ID does not exist: ${id}`);
    if (!change.insync) {
      const elapsed = this.now() - change.submittedAt.getTime();
      if (change.pendingAnswers < this.propagation.polls || elapsed < this.propagation.ms)
        change.pendingAnswers++;
      else change.insync = true;
    }
    return xmlDocument('GetChangeResponse', changeInfoXml(change));
  }
}

// ---- records, names, ordering ----

function stripPrefix(id: string, kind: 'hostedzone' | 'change'): string {
  return id.replace(new RegExp(`^/?${kind}/`), '');
}

/** Lowercase FQDN with a trailing dot, `\NNN` escapes decoded: the fake's internal form of a name. */
export function canonicalName(name: string): string {
  const decoded = name.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  const lower = decoded.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

/** How Route 53 writes a name in responses: characters outside a-z 0-9 - _ . as `\NNN` octal (`*` -> `\052`). */
export function encodeName(name: string): string {
  return name.replace(/[^a-z0-9\-_.]/g, (ch) => `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function recordKey(name: string, type: string, setIdentifier: string | undefined): string {
  return `${name}|${type}|${setIdentifier ?? ''}`;
}

function putRecord(zone: Zone, record: FakeRecord): void {
  zone.records.set(recordKey(record.name, record.type, record.setIdentifier), copyRecord(record));
}

function copyRecord(record: FakeRecord): FakeRecord {
  return {
    ...record,
    values: [...record.values],
    ...(record.aliasTarget ? { aliasTarget: { ...record.aliasTarget } } : {}),
  };
}

function reversedLabels(name: string): string[] {
  return name.split('.').filter(Boolean).reverse();
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Route 53's order: DNS name with labels reversed (label by label), then type, then set identifier. */
function compareRecords(
  a: { name: string; type: string; setIdentifier?: string | undefined },
  b: { name: string; type: string; setIdentifier?: string | undefined },
): number {
  const la = reversedLabels(a.name);
  const lb = reversedLabels(b.name);
  for (let i = 0; i < Math.min(la.length, lb.length); i++) {
    const c = compareStrings(la[i] ?? '', lb[i] ?? '');
    if (c !== 0) return c;
  }
  if (la.length !== lb.length) return la.length - lb.length;
  return compareStrings(a.type, b.type) || compareStrings(a.setIdentifier ?? '', b.setIdentifier ?? '');
}

function sortedRecords(zone: Zone): FakeRecord[] {
  return [...zone.records.values()].sort(compareRecords);
}

/** DELETE must name the record exactly as it is: TTL, every value, alias target, routing fields. */
function sameRecord(a: FakeRecord, b: FakeRecord): boolean {
  const values = (r: FakeRecord) => JSON.stringify([...r.values].sort());
  const alias = (r: FakeRecord) =>
    r.aliasTarget
      ? JSON.stringify([
          stripPrefix(r.aliasTarget.hostedZoneId, 'hostedzone'),
          canonicalName(r.aliasTarget.dnsName),
          r.aliasTarget.evaluateTargetHealth,
        ])
      : '';
  return a.ttl === b.ttl && values(a) === values(b) && alias(a) === alias(b) && a.weight === b.weight;
}

/** What Route 53 would refuse about a record it is asked to create or upsert, or null. */
function recordProblem(record: FakeRecord, zone: Zone, working: Map<string, FakeRecord>): string | null {
  const { name, type } = record;
  const shownName = encodeName(name);
  if (type === 'CNAME' && name === zone.name) {
    return `RRSet of type CNAME with DNS name ${shownName} is not permitted at apex in zone ${zone.name}`;
  }
  for (const other of working.values()) {
    if (other.name !== name || other.type === type) continue;
    if (type === 'CNAME' || other.type === 'CNAME') {
      return `RRSet of type ${type} with DNS name ${shownName} is not permitted because a conflicting RRSet of type ${other.type} with the same DNS name already exists in zone ${zone.name}`;
    }
  }
  if (record.aliasTarget) return null;
  if (type === 'CNAME' && record.values.length > 1) {
    return `RRSet of type CNAME with DNS name ${shownName} is not permitted because it contains more than one resource record`;
  }
  for (const value of record.values) {
    const fatal = (code: string, why: string) =>
      `Invalid Resource Record: 'FATAL problem: ${code} (${why}) encountered with '${value}''`;
    if (type === 'A' && !isIPv4(value))
      return fatal('ARRDATAIllegalIPv4Address', 'Value is not a valid IPv4 address');
    if (type === 'AAAA' && !isIPv6(value))
      return fatal('AAAARRDATAIllegalIPv6Address', 'Value is not a valid IPv6 address');
    if ((type === 'TXT' || type === 'SPF') && !/^".*"$/s.test(value))
      return fatal('InvalidCharacterString', 'Value should be enclosed in quotation marks');
    if (type === 'CNAME' && !/^[A-Za-z0-9_*.-]+$/.test(value))
      return fatal('DomainLabelEmpty', 'Domain label is empty or contains invalid characters');
  }
  return null;
}

// ---- request parsing ----

interface ParsedBatch {
  comment: string | undefined;
  changes: Array<{ action: ChangeAction; record: FakeRecord }>;
}

function parseChangeBatch(raw: string): ParsedBatch {
  const root = parseXml(raw);
  if (root.name !== 'ChangeResourceRecordSetsRequest') {
    throw new ApiError(400, 'InvalidInput', `Unexpected request element ${root.name}`);
  }
  const batch = childOf(root, 'ChangeBatch');
  if (!batch) throw new ApiError(400, 'InvalidInput', 'ChangeBatch is required');
  const comment = childOf(batch, 'Comment')?.text;
  if (comment !== undefined && comment.length > 256) {
    throw new ApiError(400, 'InvalidInput', 'Comment must be at most 256 characters');
  }
  const changeElements = childrenOf(childOf(batch, 'Changes'), 'Change');
  if (changeElements.length === 0)
    throw new ApiError(400, 'InvalidInput', 'ChangeBatch must contain at least 1 change');
  if (changeElements.length > 100)
    throw new ApiError(400, 'InvalidInput', 'ChangeBatch has more than 100 changes');
  const changes = changeElements.map((el): ParsedBatch['changes'][number] => {
    const action = childOf(el, 'Action')?.text;
    if (action !== 'CREATE' && action !== 'UPSERT' && action !== 'DELETE') {
      throw new ApiError(
        400,
        'InvalidInput',
        `Invalid Action '${action ?? ''}': expected CREATE, UPSERT or DELETE`,
      );
    }
    const set = childOf(el, 'ResourceRecordSet');
    const name = set && childOf(set, 'Name')?.text;
    const type = set && childOf(set, 'Type')?.text;
    if (!set || !name || !type)
      throw new ApiError(400, 'InvalidInput', 'ResourceRecordSet needs Name and Type');
    const ttlText = childOf(set, 'TTL')?.text;
    const values = childrenOf(childOf(set, 'ResourceRecords'), 'ResourceRecord').map(
      (r) => childOf(r, 'Value')?.text ?? '',
    );
    const alias = childOf(set, 'AliasTarget');
    const setIdentifier = childOf(set, 'SetIdentifier')?.text;
    const weightText = childOf(set, 'Weight')?.text;
    const record: FakeRecord = { name, type: type.toUpperCase(), values };
    if (ttlText !== undefined) record.ttl = Number(ttlText);
    if (setIdentifier !== undefined) record.setIdentifier = setIdentifier;
    if (weightText !== undefined) record.weight = Number(weightText);
    if (alias) {
      record.aliasTarget = {
        hostedZoneId: stripPrefix(childOf(alias, 'HostedZoneId')?.text ?? '', 'hostedzone'),
        dnsName: childOf(alias, 'DNSName')?.text ?? '',
        evaluateTargetHealth: childOf(alias, 'EvaluateTargetHealth')?.text === 'true',
      };
    }
    const plain = record.ttl !== undefined && values.length > 0;
    if (plain === Boolean(alias) || (record.ttl !== undefined && !Number.isInteger(record.ttl))) {
      throw new ApiError(
        400,
        'InvalidInput',
        `Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found ${
          plain ? 'more than one' : 'none'
        } in Change with [Action=${action}, Name=${name}, Type=${type}, SetIdentifier=${setIdentifier ?? 'null'}]`,
      );
    }
    return { action, record };
  });
  return { comment, changes };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(400, 'InvalidInput', 'Request body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---- XML ----

interface XmlElement {
  name: string;
  children: XmlElement[];
  /** Decoded text directly inside the element. */
  text: string;
}

function childOf(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

function childrenOf(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const named = ENTITIES[ref];
    if (named === undefined)
      throw new ApiError(400, 'InvalidInput', `Malformed XML: unknown entity ${whole}`);
    return named;
  });
}

/**
 * A small strict XML parser for request bodies: elements, attributes (skipped), text, entities, CDATA,
 * comments and the XML declaration. DOCTYPE is refused (no entity expansion). Namespace prefixes are
 * dropped from element names.
 */
function parseXml(source: string): XmlElement {
  const malformed = (why: string) => new ApiError(400, 'InvalidInput', `Malformed XML: ${why}`);
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  while (i < source.length) {
    const lt = source.indexOf('<', i);
    const textEnd = lt < 0 ? source.length : lt;
    const text = source.slice(i, textEnd);
    if (text.length > 0) {
      const top = stack[stack.length - 1];
      if (top) top.text += decodeEntities(text);
      else if (text.trim() !== '') throw malformed('text outside the root element');
    }
    if (lt < 0) break;
    if (source.startsWith('<?', lt)) {
      const end = source.indexOf('?>', lt);
      if (end < 0) throw malformed('unterminated declaration');
      i = end + 2;
    } else if (source.startsWith('<!--', lt)) {
      const end = source.indexOf('-->', lt);
      if (end < 0) throw malformed('unterminated comment');
      i = end + 3;
    } else if (source.startsWith('<![CDATA[', lt)) {
      const end = source.indexOf(']]>', lt);
      const top = stack[stack.length - 1];
      if (end < 0 || !top) throw malformed('misplaced CDATA');
      top.text += source.slice(lt + 9, end);
      i = end + 3;
    } else if (source.startsWith('<!', lt)) {
      throw malformed('DOCTYPE is not allowed');
    } else if (source.startsWith('</', lt)) {
      const end = source.indexOf('>', lt);
      if (end < 0) throw malformed('unterminated closing tag');
      const name = localName(source.slice(lt + 2, end).trim());
      const open = stack.pop();
      if (!open || open.name !== name) throw malformed(`unexpected </${name}>`);
      i = end + 1;
    } else {
      const tag = /^<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(
        source.slice(lt),
      );
      if (!tag) throw malformed(`bad tag at offset ${lt}`);
      const element: XmlElement = { name: localName(tag[1] ?? ''), children: [], text: '' };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(element);
      else if (root) throw malformed('more than one root element');
      else root = element;
      if (tag[3] !== '/') stack.push(element);
      i = lt + tag[0].length;
    }
  }
  if (stack.length > 0) throw malformed(`<${stack[stack.length - 1]?.name ?? ''}> is not closed`);
  if (!root) throw malformed('no root element');
  return root;
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(':');
  return colon < 0 ? qualified : qualified.slice(colon + 1);
}

function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (ch) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[ch]};`,
  );
}

function xmlDocument(root: string, inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${XMLNS}">${inner}</${root}>`;
}

function changeInfoXml(change: Change): string {
  const comment = change.comment === undefined ? '' : `<Comment>${escapeXml(change.comment)}</Comment>`;
  return `<ChangeInfo><Id>/change/${change.id}</Id><Status>${change.insync ? 'INSYNC' : 'PENDING'}</Status><SubmittedAt>${change.submittedAt.toISOString()}</SubmittedAt>${comment}</ChangeInfo>`;
}

function recordXml(record: FakeRecord): string {
  const parts = [`<Name>${escapeXml(encodeName(record.name))}</Name>`, `<Type>${record.type}</Type>`];
  if (record.setIdentifier !== undefined)
    parts.push(`<SetIdentifier>${escapeXml(record.setIdentifier)}</SetIdentifier>`);
  if (record.weight !== undefined) parts.push(`<Weight>${record.weight}</Weight>`);
  if (record.aliasTarget) {
    const a = record.aliasTarget;
    parts.push(
      `<AliasTarget><HostedZoneId>${escapeXml(a.hostedZoneId)}</HostedZoneId><DNSName>${escapeXml(a.dnsName)}</DNSName><EvaluateTargetHealth>${a.evaluateTargetHealth}</EvaluateTargetHealth></AliasTarget>`,
    );
  } else {
    parts.push(`<TTL>${record.ttl ?? 300}</TTL>`);
    parts.push(
      `<ResourceRecords>${record.values.map((v) => `<ResourceRecord><Value>${escapeXml(v)}</Value></ResourceRecord>`).join('')}</ResourceRecords>`,
    );
  }
  return `<ResourceRecordSet>${parts.join('')}</ResourceRecordSet>`;
}

function errorXml(error: ApiError, requestId: string): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return `<?xml version="1.0"?>\n<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}
