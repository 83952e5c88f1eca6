import type { KnownBlock } from '@slack/types';
import { escapeTruncated } from './format.ts';

/** A long step's live progress (jobs left, a bar, rate, time left), edited in place in the thread. */
export function renderProgress(
  stepId: string,
  text: string,
  fraction: number | null,
  /** The step's state now: the last progress line of a failed step must not look like success. */
  outcome: 'running' | 'succeeded' | 'failed' | 'stopped',
): { text: string; blocks: KnownBlock[] } {
  const bar = fraction === null ? '' : `${progressBar(fraction)} ${Math.round(fraction * 100)}%\n`;
  const icon = { running: '⏳', succeeded: '✅', failed: '❌', stopped: '⏹️' }[outcome];
  const head = `${icon} *${stepId}*\n${bar}`;
  return {
    text: `${stepId}: ${escapeTruncated(text, 1000)}`,
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `${head}${escapeTruncated(text, 3000 - head.length)}` },
      },
    ],
  };
}

export function progressBar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `${'▓'.repeat(filled)}${'░'.repeat(width - filled)}`;
}
