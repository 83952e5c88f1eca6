import { firstDelivery as recordDelivery } from '../store/runs.ts';
import type { RunsDeps } from './deps.ts';

/**
 * False when this Slack delivery (an event id or a trigger id) was already handled: Slack retries
 * an event it thinks was lost, and a person can send the same command twice.
 */
export function firstDelivery(deps: Pick<RunsDeps, 'db'>, key: string): Promise<boolean> {
  return recordDelivery(deps.db, key);
}
