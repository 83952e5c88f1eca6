import type { SectionBlock } from '@slack/types';
import type { RunStatus, StepState } from '../../engine/types.ts';
import { utcMinute } from '../../engine/policy.ts';
import { moment, type Words } from '../../words.ts';

// Small text helpers shared by the views. Times are Slack date tokens: responders sit in many zones
// and Slack shows each reader the time in their own, with UTC as the fallback text. One format
// everywhere (status message, thread, list, App Home): a time of day, or a day and a time for what
// may be days away. Durations only where they cannot go stale: a finished span, never "for 3m".

/** A moment of the run ("02:14" in the reader's zone); the same as the engine's `moment` in mrkdwn. */
export function timeOf(at: Date | number): string {
  return mrkdwn([moment(typeof at === 'number' ? at : at.getTime())]);
}

/** A day and a time ("Dec 5 02:14", "today 02:14") for what may be days away or ago. */
export function dayTimeOf(at: Date | number): string {
  const ms = typeof at === 'number' ? at : at.getTime();
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${utcMinute(ms)} UTC>`;
}

// Scheme, optional credentials, the host (kept), then the rest up to a space or punctuation.
const url = /\b[a-z][a-z0-9+.-]*:\/\/(?:[^\s/?#@]*@)?(\[[^\]]*\]|[^\s/?#:,;)>]+)(?:[^\s,;)>]*[^\s,;)>:.])?/gi;

/** Full URLs as their host names: "GET new-platform.example.net: 200" rather than a long path. */
export function hostsOnly(text: string): string {
  return text.replace(url, (_whole, host: string) => host);
}

/** The first line of `text`, URLs as host names, at most `max` characters: a step's line on the status message. */
export function oneLine(text: string, max = 80): string {
  const first = text.split('\n').find((line) => line.trim() !== '') ?? '';
  const more = text.trim().includes('\n') ? ' …' : '';
  return truncate(`${hostsOnly(first).trim()}${more}`, max);
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

/** Words from the engine as Slack shows them: text escaped, people, groups and channels as mentions. */
export function mrkdwn(sentence: Words | string): string {
  if (typeof sentence === 'string') return escapeMrkdwn(sentence);
  return sentence
    .map((part) =>
      typeof part === 'string'
        ? escapeMrkdwn(part)
        : 'user' in part
          ? `<@${part.user}>`
          : 'group' in part
            ? `<!subteam^${part.group}>`
            : 'channel' in part
              ? `<#${part.channel}>`
              : // Slack shows a date token in each reader's own time zone; the fallback is UTC.
                `<!date^${Math.floor(part.at / 1000)}^{time}|${new Date(part.at).toISOString().slice(11, 16)} UTC>`,
    )
    .join('');
}

const mention = /<(?:@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|#C[A-Z0-9]+)>/g;

/** Slack mrkdwn needs &, < and > escaped in text that came from elsewhere; mentions stay mentions. */
export function escapeMrkdwn(text: string): string {
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

/**
 * `escapeMrkdwn(text)` in at most `max` characters. Escaping can make text five times longer (`&` ->
 * `&amp;`), so it is cut after escaping, never inside an entity or a mention, which Slack would show
 * as debris (`&am…`, `<@U0…`).
 */
export function escapeTruncated(text: string, max: number): string {
  return cutMrkdwn(escapeMrkdwn(text), max);
}

/** Cuts already-escaped mrkdwn to `max` characters without leaving half an entity or mention. */
export function cutMrkdwn(mrkdwn: string, max: number): string {
  if (mrkdwn.length <= max) return mrkdwn;
  const cut = mrkdwn
    .slice(0, max - 1)
    .replace(/&[a-z]*$/, '')
    .replace(/<[^>]*$/, '');
  return `${cut}…`;
}

/** Slack's limit on a section's text. */
export const SECTION_MAX = 3000;

/**
 * Lines of mrkdwn as few section blocks as hold them (each at most 3000 characters), never cutting
 * a line in two unless it alone is longer than a section.
 */
export function sectionsOf(lines: readonly string[], maxSections = Infinity): SectionBlock[] {
  const chunks: Array<{ text: string; lines: number }> = [];
  for (const raw of lines) {
    const line = cutMrkdwn(raw, SECTION_MAX);
    const last = chunks.at(-1);
    if (last && last.text.length + 1 + line.length <= SECTION_MAX) {
      last.text = `${last.text}\n${line}`;
      last.lines += 1;
    } else {
      chunks.push({ text: line, lines: 1 });
    }
  }
  if (chunks.length <= maxSections) return chunks.map((c) => section(c.text));
  const kept = chunks.slice(0, Math.max(0, maxSections - 1));
  const left = chunks.slice(kept.length).reduce((n, c) => n + c.lines, 0);
  return [
    ...kept.map((c) => section(c.text)),
    section(`… and ${left} more, left out to stay within Slack's limits.`),
  ];
}

function section(text: string): SectionBlock {
  return { type: 'section', text: { type: 'mrkdwn', text } };
}
