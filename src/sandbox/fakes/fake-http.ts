import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// What the HTTP fakes (Heroku, maintenance endpoint, Kubernetes, Qovery) share: reading a body,
// answering JSON, and listening on 127.0.0.1 with a port the OS picks.

export type FakeHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export interface ListeningFake {
  /** Base URL, e.g. http://127.0.0.1:54321 (no trailing slash). */
  url: string;
  close(): Promise<void>;
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

/** Serves `handle` on 127.0.0.1:0; requests it does not claim get 404. */
export async function listenFake(handle: FakeHandler): Promise<ListeningFake> {
  const server = createServer((req, res) => {
    handle(req, res)
      .then((handled) => {
        if (!handled && !res.headersSent)
          sendJson(res, 404, { message: `no route for ${req.method} ${req.url}` });
      })
      .catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { message: String(error) });
        else res.destroy();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
