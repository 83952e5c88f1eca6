import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import { withRedis } from '../../src/adapters/redis-client.ts';
import { redisLatencyCheck } from '../../src/adapters/redis-latency.ts';
import { hex, openTestRedis, REDIS_HOST, REDIS_PORT } from '../support/sidekiq-fixtures.ts';

// Redis DB 14 (see test/support/sidekiq-fixtures.ts). Keys written here carry a random suffix and
// are deleted, so nothing is flushed. Proxies in front of the real Redis stand in for a TLS endpoint
// with a self-signed certificate (Heroku Redis), a slow link and a server that never answers.

const DB = 14;
let raw: Redis;
const servers: net.Server[] = [];
let certDir: string;

function listen(server: net.Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Pipes each connection to the real Redis; `delayMs` holds every chunk from Redis that long. */
function proxyTo(socket: net.Socket, delayMs = 0): void {
  const upstream = net.connect(REDIS_PORT, REDIS_HOST);
  socket.pipe(upstream);
  if (delayMs > 0) upstream.on('data', (chunk) => setTimeout(() => socket.write(chunk), delayMs));
  else upstream.pipe(socket);
  const end = () => {
    socket.destroy();
    upstream.destroy();
  };
  socket.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
}

async function caught(promise: Promise<unknown>): Promise<StepError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StepError);
    return error as StepError;
  }
  throw new Error('expected a StepError');
}

beforeAll(() => {
  raw = openTestRedis(DB);
  certDir = mkdtempSync(join(tmpdir(), 'ferry-redis-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(certDir, 'key.pem'),
      '-out',
      join(certDir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { stdio: 'ignore' },
  );
});

afterAll(async () => {
  for (const server of servers) server.close();
  rmSync(certDir, { recursive: true, force: true });
  await raw.quit();
});

describe('withRedis', () => {
  it('runs the callback on the database from the URL and closes the connection afterwards', async () => {
    const key = `ferry-test:${hex(4)}`;
    let client: Redis | undefined;
    const result = await withRedis(
      `redis://${REDIS_HOST}:${REDIS_PORT}/${DB}`,
      { timeoutMs: 2000 },
      async (redis) => {
        client = redis;
        await redis.set(key, 'v');
        return redis.get(key);
      },
    );
    expect(result).toBe('v');
    expect(await raw.get(key)).toBe('v');
    expect(client?.status).toBe('end');
    await raw.del(key);
  });

  it('closes the connection when the callback throws, and passes the error on', async () => {
    let client: Redis | undefined;
    const boom = new TypeError('a bug in the caller');
    await expect(
      withRedis(`redis://${REDIS_HOST}:${REDIS_PORT}/${DB}`, { timeoutMs: 2000 }, async (redis) => {
        client = redis;
        await redis.ping();
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(client?.status).toBe('end');
  });

  it('prefixes keys with keyPrefix (redis-namespace)', async () => {
    const prefix = `ns${hex(3)}:`;
    await withRedis(
      `redis://${REDIS_HOST}:${REDIS_PORT}/${DB}`,
      { timeoutMs: 2000, keyPrefix: prefix },
      (redis) => redis.set('queues-probe', '1'),
    );
    expect(await raw.get(`${prefix}queues-probe`)).toBe('1');
    expect(await raw.get('queues-probe')).toBeNull();
    await raw.del(`${prefix}queues-probe`);
  });

  it('turns an unreachable Redis into a retryable StepError naming the host, without the password', async () => {
    const error = await caught(
      withRedis('redis://:sup3rs3cret@127.0.0.1:1/0', { timeoutMs: 1000 }, (redis) => redis.ping()),
    );
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).toMatch(/unreachable.*ECONNREFUSED/);
    expect(error.message).not.toContain('sup3rs3cret');
    expect(JSON.stringify(error.cause)).not.toContain('sup3rs3cret');
    expect(String((error.cause as Error).message)).not.toContain('sup3rs3cret');
  });

  it('gives up on a server that accepts connections but never answers, as a retryable error', async () => {
    const silent: net.Socket[] = [];
    const port = await listen(net.createServer((socket) => silent.push(socket)));
    const error = await caught(
      withRedis(`redis://:sup3rs3cret@127.0.0.1:${port}/0`, { timeoutMs: 300 }, (redis) => redis.ping()),
    );
    for (const socket of silent) socket.destroy();
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).not.toContain('sup3rs3cret');
  });

  it('reports refused credentials as a permanent error that does not repeat them', async () => {
    const error = await caught(
      withRedis(
        `redis://ferry-nobody:wr0ngpassw0rd@${REDIS_HOST}:${REDIS_PORT}/${DB}`,
        { timeoutMs: 2000 },
        (redis) => redis.ping(),
      ),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/refused the credentials \(WRONGPASS/);
    expect(error.message).not.toContain('wr0ngpassw0rd');
    expect(error.message).not.toContain('ferry-nobody');
    expect(JSON.stringify(error.cause)).not.toContain('wr0ngpassw0rd');
  });

  describe('rediss:// with a self-signed certificate (as Heroku Redis serves)', () => {
    let tlsPort: number;
    beforeAll(async () => {
      const server = tls.createServer(
        { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) },
        (socket) => proxyTo(socket),
      );
      tlsPort = await listen(server);
    });

    it('connects over TLS when tls_insecure is set', async () => {
      const pong = await withRedis(
        `rediss://127.0.0.1:${tlsPort}/${DB}`,
        { timeoutMs: 2000, tlsInsecure: true },
        (r) => r.ping(),
      );
      expect(pong).toBe('PONG');
    });

    it('refuses the certificate otherwise, with a permanent error that points at tls_insecure', async () => {
      const error = await caught(
        withRedis(`rediss://:sup3rs3cret@127.0.0.1:${tlsPort}/${DB}`, { timeoutMs: 2000 }, (r) => r.ping()),
      );
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/certificate/);
      expect(error.message).toContain('tls_insecure: true');
      expect(error.message).not.toContain('sup3rs3cret');
    });
  });
});

describe('redisLatencyCheck', () => {
  it('measures PING round trips and reports p50/p95 within a bound', async () => {
    const result = await redisLatencyCheck(`redis://${REDIS_HOST}:${REDIS_PORT}/${DB}`, {
      samples: 25,
      maxP95Ms: 10_000,
      timeoutMs: 2000,
    });
    expect(result.ok).toBe(true);
    expect(result.samples).toBe(25);
    expect(result.p50Ms).toBeGreaterThan(0);
    expect(result.p95Ms).toBeGreaterThanOrEqual(result.p50Ms);
    expect(result.maxMs).toBeGreaterThanOrEqual(result.p95Ms);
    expect(result.message).toMatch(
      /p50 [\d.]+ ms, p95 [\d.]+ ms, max [\d.]+ ms over 25 PINGs, within the p95 bound of 10000 ms/,
    );
  });

  it('fails when p95 is above the bound (every reply held back 30 ms by a slow link)', async () => {
    const port = await listen(net.createServer((socket) => proxyTo(socket, 30)));
    const result = await redisLatencyCheck(`redis://:pw-not-shown@127.0.0.1:${port}/${DB}`, {
      samples: 5,
      maxP95Ms: 5,
      timeoutMs: 2000,
    });
    expect(result.ok).toBe(false);
    expect(result.p95Ms).toBeGreaterThanOrEqual(30);
    expect(result.message).toMatch(/p95 [\d.]+ ms is above the bound of 5 ms/);
    expect(result.message).toContain(`redis://***@127.0.0.1:${port}/${DB}`);
    expect(result.message).not.toContain('pw-not-shown');
  });

  it('passes with figures when no bound is set', async () => {
    const result = await redisLatencyCheck(`redis://${REDIS_HOST}:${REDIS_PORT}/${DB}`, {
      samples: 3,
      timeoutMs: 2000,
    });
    expect(result.ok).toBe(true);
    expect(result.message).toMatch(/over 3 PINGs \(no bound set\)/);
  });

  it('throws a retryable StepError when Redis cannot be reached', async () => {
    const error = await caught(redisLatencyCheck('redis://127.0.0.1:1/0', { samples: 3, timeoutMs: 500 }));
    expect(error.retryable).toBe(true);
  });
});
