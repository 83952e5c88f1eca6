import { createHmac } from 'node:crypto';

/**
 * Slack's v0 request signature: `v0=` + hex HMAC-SHA256, keyed with the signing secret, over
 * `v0:<timestamp>:<raw body>`. What Ferry checks each request against, and what the sandbox and the
 * benchmarks' load generator sign with, as Slack does.
 */
export function slackSignature(secret: string, timestamp: string, body: string | Buffer): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')}`;
}
