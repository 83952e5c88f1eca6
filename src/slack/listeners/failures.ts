import type { Logger } from 'pino';
import { toFerryError } from '../../errors.ts';
import { reportUnexpected } from '../../log.ts';
import { mrkdwn } from '../views/format.ts';

/**
 * What the person who acted reads when their command or click could not be carried out. Ferry's own
 * refusals say why in their words. Anything unexpected (a database error, a bug) is logged under a
 * reference and never shown as it is: its raw text can name hosts, users or values that are not
 * theirs to see.
 */
export function failureReply(error: unknown, log: Logger, doing: string): string {
  const ferry = toFerryError(error);
  return ferry.code === 'unexpected'
    ? `⚠️ ${reportUnexpected(log, error, doing)}`
    : `⚠️ ${mrkdwn(ferry.words)}`;
}
