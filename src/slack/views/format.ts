import type { RunStatus, StepState } from '../../engine/types.ts';

// Small text helpers shared by the views. Times are shown in UTC: responders sit in many zones.

export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export const stepIcon: Record<StepState['status'], string> = {
  pending: '▫️',
  awaiting_approval: '✋',
  running: '⏳',
  succeeded: '✅',
  failed: '❌',
  skipped: '⏭️',
  rolled_back: '↩️',
};

export const runLabel: Record<RunStatus, string> = {
  running: 'running',
  waiting: 'waiting',
  failed: 'failed: waiting for Retry, Skip or Roll back',
  rolling_back: 'rolling back',
  rolled_back: 'rolled back',
  succeeded: 'succeeded',
  aborted: 'aborted',
};

export const user = (id: string): string => `<@${id}>`;

const mention = /<(?:@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|#C[A-Z0-9]+)>/g;

/** Slack mrkdwn needs &, < and > escaped in text that came from elsewhere; mentions stay mentions. */
export function escape(text: string): string {
  const parts = text.split(mention);
  const mentions = text.match(mention) ?? [];
  return parts
    .map(
      (part, i) =>
        part.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;') + (mentions[i] ?? ''),
    )
    .join('');
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
