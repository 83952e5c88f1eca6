import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeMaintenance } from '../../src/sandbox/fakes/maintenance.ts';
import { FakeRoute53 } from '../../src/sandbox/fakes/route53.ts';

// What the benchmark's runs change, on one local port: the `http` maintenance protocol (answers at
// once: an instant provider) and Route 53, whose change requests are timed as they arrive.

export const ZONE_ID = 'ZBENCH0000001';
const ZONE_NAME = 'bench.example.com.';
export const MAINTENANCE_TOKEN = 'bench-maintenance-token';

export class BenchWorld {
  readonly maintenance = new FakeMaintenance({ token: MAINTENANCE_TOKEN });
  readonly route53: FakeRoute53;
  /** When each ChangeResourceRecordSets request arrived (performance.now() of this process). */
  readonly changeArrivals: number[] = [];
  /** Called as each change request arrives, before it is answered. */
  onChange: ((at: number) => void) | undefined;
  url = '';
  #server: Server | undefined;
  readonly #writeMs: number;

  /** `writeMs`: how long a maintenance or flag write takes to answer (0: an instant provider). */
  constructor(options: { propagationPolls?: number; writeMs?: number } = {}) {
    this.route53 = new FakeRoute53({ propagation: { polls: options.propagationPolls ?? 0, ms: 0 } });
    this.route53.addZone(ZONE_ID, ZONE_NAME);
    this.#writeMs = options.writeMs ?? 0;
  }

  /** The record a service's cutover moves, seeded with its old value. */
  seedRecord(service: string, environment: string): void {
    this.route53.setRecord(ZONE_ID, {
      name: recordName(service, environment),
      type: 'CNAME',
      ttl: 60,
      values: [`${service}-${environment}.old.example.net.`],
    });
  }

  async listen(): Promise<void> {
    this.#server = createServer((req, res) => {
      if (req.method === 'POST' && req.url?.endsWith('/rrset')) {
        const at = performance.now();
        this.changeArrivals.push(at);
        this.onChange?.(at);
      }
      void (async () => {
        if (this.#writeMs > 0 && req.method === 'PUT' && req.url?.startsWith(this.maintenance.prefix))
          await new Promise((resolve) => setTimeout(resolve, this.#writeMs));
        if (await this.maintenance.handle(req, res)) return;
        if (await this.route53.handle(req, res)) return;
        res.writeHead(404).end();
      })().catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** What Ferry needs to reach these fakes (plans name BENCH_MAINTENANCE_URL and the token). */
  ferryEnv(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_ROUTE_53: this.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIABENCH',
      AWS_SECRET_ACCESS_KEY: 'bench-secret-key',
      BENCH_MAINTENANCE_URL: `${this.url}${this.maintenance.prefix}`,
      BENCH_MAINTENANCE_TOKEN: MAINTENANCE_TOKEN,
    };
  }
}

export function recordName(service: string, environment: string): string {
  return `${service}-${environment}.${ZONE_NAME}`;
}
