import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { toFerryError } from '../../errors.ts';
import { mrkdwn } from '../views/format.ts';

/**
 * What the person who acted reads when their command or click could not be carried out. Ferry's own
 * refusals say why in their words. Anything unexpected (a database error, a bug) is logged with an id
 * and never shown as it is: its raw text can name hosts, users or values that are not theirs to see.
 */
export function failureReply(error: unknown, log: Logger, context: Record<string, unknown>): string {
  const ferry = toFerryError(error);
  if (ferry.code !== 'unexpected') return `⚠️ ${mrkdwn(ferry.words)}`;
  const errorId = randomBytes(4).toString('hex');
  log.error({ err: error, errorId, ...context }, 'a Slack request failed unexpectedly');
  return `⚠️ Ferry could not finish this: something unexpected went wrong (error ${errorId}, in Ferry's log). Check \`/migrate status\` before trying again.`;
}
