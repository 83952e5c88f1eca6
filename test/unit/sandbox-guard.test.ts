import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { foreignRequest } from '../../src/sandbox/console-routes.ts';

const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('the sandbox console only serves pages on this machine', () => {
  it('serves a page on localhost, 127.0.0.1 or [::1], with or without its own Origin', () => {
    expect(foreignRequest(request({ host: 'localhost:3000' }))).toBeNull();
    expect(foreignRequest(request({ host: '127.0.0.1:41235', origin: 'http://127.0.0.1:41235' }))).toBeNull();
    expect(foreignRequest(request({ host: '[::1]:3000' }))).toBeNull();
  });

  it('refuses a rebound host name, and a page from another origin', () => {
    expect(foreignRequest(request({ host: 'attacker.example:3000' }))).toMatch(/answers only on localhost/);
    expect(foreignRequest(request({ host: 'localhost:3000', origin: 'http://attacker.example' }))).toMatch(
      /requests from http:\/\/attacker.example are not accepted/,
    );
  });
});
