import { Agent, request } from 'node:http';
import { slackSignature } from '../../src/slack/signature.ts';

// The load generator, in a process of its own so that what it measures is not slowed by the Slack
// stand-in answering Ferry (which lives in the benchmark's process). It receives one batch over IPC,
// sends the requests signed as Slack signs them (at send time) with at most `concurrency` in flight
// on kept-alive connections, and answers with each request's latency.

export interface LoadBatch {
  url: string;
  secret: string;
  concurrency: number;
  bodies: string[];
  contentType: string;
}

export interface LoadResult {
  /** Milliseconds from sending each request to reading its whole answer, in send order. */
  latencies: number[];
  statuses: number[];
  /** When each request was sent, ms after the batch began. */
  sentAt: number[];
  wallMs: number;
}

function send(agent: Agent, url: URL, secret: string, body: string, contentType: string): Promise<number> {
  const ts = String(Math.floor(Date.now() / 1000));
  const signature = slackSignature(secret, ts, body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': contentType,
          'content-length': Buffer.byteLength(body),
          'x-slack-request-timestamp': ts,
          'x-slack-signature': signature,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function runBatch(batch: LoadBatch): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: batch.concurrency });
  const url = new URL(batch.url);
  const latencies = new Array<number>(batch.bodies.length).fill(0);
  const statuses = new Array<number>(batch.bodies.length).fill(0);
  const sentAt = new Array<number>(batch.bodies.length).fill(0);
  let next = 0;
  const began = performance.now();
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= batch.bodies.length) return;
      const start = performance.now();
      sentAt[i] = start - began;
      statuses[i] = await send(agent, url, batch.secret, batch.bodies[i]!, batch.contentType).catch(() => 0);
      latencies[i] = performance.now() - start;
    }
  };
  await Promise.all(Array.from({ length: batch.concurrency }, lane));
  const wallMs = performance.now() - began;
  agent.destroy();
  return { latencies, statuses, sentAt, wallMs };
}

if (process.send) {
  process.on('message', (batch: LoadBatch) => {
    void runBatch(batch).then((result) => process.send!(result));
  });
  process.send('ready');
}
