import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A small round-robin load balancer in front of Ferry replicas, as Slack's requests reach a
// deployment: each request goes to the next replica in turn; one whose port refuses the
// connection (a dead replica) is skipped, as a load balancer's health check would.

export interface Forwarded {
  path: string;
  /** Index of the replica that answered, or -1 when none did. */
  upstream: number;
  status: number;
  at: number;
}

export class RoundRobinProxy {
  readonly forwarded: Forwarded[] = [];
  readonly #upstreams: string[];
  #next = 0;
  #server: Server | undefined;
  url = '';

  constructor(upstreams: string[]) {
    this.#upstreams = [...upstreams];
  }

  /** Points slot `index` at a replica's new address (after a restart). */
  setUpstream(index: number, url: string): void {
    this.#upstreams[index] = url;
  }

  async listen(): Promise<void> {
    this.#server = createServer((req, res) => {
      void this.#forward(req, res);
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

  async #forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const first = this.#next++ % this.#upstreams.length;
    for (let tried = 0; tried < this.#upstreams.length; tried++) {
      const index = (first + tried) % this.#upstreams.length;
      const answer = await this.#send(this.#upstreams[index]!, req, body).catch(
        (error: unknown) => error as Error,
      );
      if (answer instanceof Error) {
        // Refused: nothing reached that replica, so another may take the request. Anything else
        // (a reset mid-request) may have been acted on, and goes back to the caller as a 502.
        if ((answer as NodeJS.ErrnoException).code === 'ECONNREFUSED') continue;
        break;
      }
      this.forwarded.push({ path: req.url ?? '/', upstream: index, status: answer.status, at: Date.now() });
      res.writeHead(answer.status, answer.headers).end(answer.body);
      return;
    }
    this.forwarded.push({ path: req.url ?? '/', upstream: -1, status: 502, at: Date.now() });
    res.writeHead(502, { 'content-type': 'text/plain' }).end('no replica answered');
  }

  #send(
    base: string,
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const target = new URL(req.url ?? '/', base);
      const headers = { ...req.headers, host: target.host };
      const upstream = request(target, { method: req.method, headers }, (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => parts.push(chunk));
        answer.on('end', () => {
          const out: Record<string, string | string[]> = {};
          for (const [key, value] of Object.entries(answer.headers)) {
            if (value !== undefined && key !== 'transfer-encoding' && key !== 'connection') out[key] = value;
          }
          resolve({ status: answer.statusCode ?? 502, headers: out, body: Buffer.concat(parts) });
        });
        answer.on('error', reject);
      });
      upstream.on('error', reject);
      upstream.end(body);
    });
  }
}
