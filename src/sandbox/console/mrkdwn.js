/* global document */
// Slack's mrkdwn, as a person reads it in Slack: *bold*, _italics_, ~strike~, `code`, ```blocks```,
// > quotes, line breaks, <links|labels>, <@U…> mentions shown as @name, <!subteam^S…> as @group,
// <!date^…> in the reader's own time zone, and the escapes &lt; &gt; &amp; shown as < > &.
// `parseMrkdwn` is pure (tested in Node); `mrkdwnToNodes` builds DOM nodes from it, never HTML
// strings, so message text cannot inject markup.
// Reference: https://api.slack.com/reference/surfaces/formatting

/**
 * @typedef {{ t: 'text', v: string } | { t: 'br' } | { t: 'code', v: string } | { t: 'pre', v: string }
 *   | { t: 'b' | 'i' | 's' | 'quote', c: Node[] } | { t: 'link', href: string | null, c: Node[] }
 *   | { t: 'user', id: string, label?: string } | { t: 'group', id: string, label?: string }
 *   | { t: 'channel', id: string, label?: string } | { t: 'special', v: string }
 *   | { t: 'date', ts: number, format: string, link: string | null, fallback: string }} Node
 */

const ENTITIES = { '&lt;': '<', '&gt;': '>', '&amp;': '&' };

/** Slack's three escapes back to the characters they stand for. */
export function decodeEntities(text) {
  return text.replace(/&(lt|gt|amp);/g, (m) => ENTITIES[m]);
}

/** A few emoji shortcodes apps commonly send; Ferry itself writes Unicode emoji. */
const EMOJI = {
  white_check_mark: '✅',
  heavy_check_mark: '✔️',
  x: '❌',
  warning: '⚠️',
  rocket: '🚀',
  hourglass: '⌛',
  hourglass_flowing_sand: '⏳',
  tada: '🎉',
  no_entry: '⛔',
  no_entry_sign: '🚫',
  raised_hand: '✋',
  bust_in_silhouette: '👤',
  leftwards_arrow_with_hook: '↩️',
  memo: '📝',
  red_circle: '🔴',
  large_green_circle: '🟢',
  checkered_flag: '🏁',
  eyes: '👀',
  fire: '🔥',
  thumbsup: '👍',
  '+1': '👍',
  repeat: '🔁',
  black_right_pointing_double_triangle_with_vertical_bar: '⏭️',
  arrow_forward: '▶️',
  octagonal_sign: '🛑',
};

export function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] ?? m);
}

const isWordChar = (ch) => ch !== undefined && /[\p{L}\p{N}]/u.test(ch);

/** Index of the marker closing one opened at `open`, or -1 (Slack: no space inside the markers, none across lines). */
function findClose(s, open, marker) {
  if (open + 1 >= s.length || /\s/.test(s[open + 1])) return -1;
  for (let j = open + 2; j < s.length; j++) {
    if (s[j] === '<') {
      const end = s.indexOf('>', j);
      if (end !== -1) j = end;
      continue;
    }
    if (s[j] === marker && !/\s/.test(s[j - 1]) && !isWordChar(s[j + 1])) return j;
  }
  return -1;
}

function angle(inner) {
  const bar = inner.indexOf('|');
  const target = bar === -1 ? inner : inner.slice(0, bar);
  const label = bar === -1 ? undefined : inner.slice(bar + 1);
  let m;
  if ((m = /^@([UW][A-Z0-9]+)$/.exec(target))) return { t: 'user', id: m[1], ...(label ? { label } : {}) };
  if ((m = /^#(C[A-Z0-9]+)$/.exec(target))) return { t: 'channel', id: m[1], ...(label ? { label } : {}) };
  if ((m = /^!subteam\^(S[A-Z0-9]+)$/.exec(target)))
    return { t: 'group', id: m[1], ...(label ? { label } : {}) };
  if ((m = /^!(here|channel|everyone)$/.exec(target))) return { t: 'special', v: m[1] };
  if ((m = /^!date\^(\d+)\^([^^]*)(?:\^(.*))?$/.exec(target))) {
    const link = m[3] === undefined ? null : decodeEntities(m[3]);
    return {
      t: 'date',
      ts: Number(m[1]),
      format: decodeEntities(m[2]),
      link: link !== null && /^https?:/i.test(link) ? link : null,
      fallback: decodeEntities(label ?? ''),
    };
  }
  if (/^!date\^/.test(target)) return { t: 'text', v: decodeEntities(label ?? target) };
  const url = decodeEntities(target);
  const safe = /^(https?:|mailto:)/i.test(url) ? url : null;
  return { t: 'link', href: safe, c: label === undefined ? [{ t: 'text', v: url }] : inline(label) };
}

/** One line of inline formatting. */
export function inline(s) {
  /** @type {Node[]} */
  const out = [];
  let buf = '';
  const flush = () => {
    if (buf !== '') out.push({ t: 'text', v: emojify(decodeEntities(buf)) });
    buf = '';
  };
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === '<') {
      const end = s.indexOf('>', i + 1);
      const inner = end === -1 ? '' : s.slice(i + 1, end);
      if (end !== -1 && inner !== '' && !inner.includes('<')) {
        flush();
        out.push(angle(inner));
        i = end + 1;
        continue;
      }
    } else if (ch === '`') {
      const end = s.indexOf('`', i + 1);
      if (end > i + 1) {
        flush();
        out.push({ t: 'code', v: decodeEntities(s.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    } else if ((ch === '*' || ch === '_' || ch === '~') && !isWordChar(s[i - 1])) {
      const close = findClose(s, i, ch);
      if (close !== -1) {
        flush();
        out.push({ t: ch === '*' ? 'b' : ch === '_' ? 'i' : 's', c: inline(s.slice(i + 1, close)) });
        i = close + 1;
        continue;
      }
    }
    buf += ch;
    i++;
  }
  flush();
  return out;
}

/** mrkdwn text to a tree of nodes. */
export function parseMrkdwn(text) {
  /** @type {Node[]} */
  const out = [];
  const parts = String(text ?? '').split(/```/);
  parts.forEach((part, index) => {
    // Odd parts sit between ``` fences (an unclosed fence stays literal text).
    if (index % 2 === 1 && index < parts.length - 1) {
      out.push({ t: 'pre', v: decodeEntities(part.replace(/^\n/, '').replace(/\n$/, '')) });
      return;
    }
    // A line break just before a fence belongs to the block it opens.
    const text = index < parts.length - 1 && index % 2 === 0 ? part.replace(/\n$/, '') : part;
    const chunk = index % 2 === 1 ? `\`\`\`${text}` : text;
    const lines = chunk.split('\n');
    let quote = null;
    lines.forEach((line, n) => {
      const quoted = /^>\s?(.*)$/.exec(line);
      if (quoted) {
        if (!quote) {
          quote = { t: 'quote', c: [] };
          out.push(quote);
        } else quote.c.push({ t: 'br' });
        quote.c.push(...inline(quoted[1]));
        return;
      }
      quote = null;
      if (n > 0 && out.length > 0 && out[out.length - 1].t !== 'quote' && out[out.length - 1].t !== 'pre')
        out.push({ t: 'br' });
      out.push(...inline(line));
    });
  });
  return out;
}

/**
 * DOM nodes for a mrkdwn string. `ctx.userName(id)`, `ctx.groupName(id)`, `ctx.channelName(id)` name
 * mentions; `ctx.me` is highlighted as Slack highlights mentions of you.
 */
export function mrkdwnToNodes(text, ctx = {}) {
  return treeToNodes(parseMrkdwn(text), ctx);
}

export function treeToNodes(tree, ctx = {}) {
  return tree.map((node) => toNode(node, ctx));
}

function el(tag, className, children = []) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  for (const child of children) e.append(child);
  return e;
}

function toNode(node, ctx) {
  switch (node.t) {
    case 'text':
      return textNode(node.v);
    case 'br':
      return document.createElement('br');
    case 'code':
      return el('code', 'md-code', [textNode(node.v)]);
    case 'pre':
      return el('pre', 'md-pre', [node.v]);
    case 'b':
      return el('strong', '', treeToNodes(node.c, ctx));
    case 'i':
      return el('em', '', treeToNodes(node.c, ctx));
    case 's':
      return el('s', '', treeToNodes(node.c, ctx));
    case 'quote':
      return el('blockquote', 'md-quote', treeToNodes(node.c, ctx));
    case 'link': {
      if (!node.href) return el('span', 'md-link-unsafe', treeToNodes(node.c, ctx));
      const a = el('a', 'md-link', treeToNodes(node.c, ctx));
      a.href = node.href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      return a;
    }
    case 'user': {
      const name = ctx.userName?.(node.id) ?? node.label ?? node.id;
      return el('span', `mention${ctx.me === node.id ? ' mention-me' : ''}`, [`@${name}`]);
    }
    case 'group': {
      const name = ctx.groupName?.(node.id) ?? node.label?.replace(/^@/, '') ?? node.id;
      return el('span', 'mention mention-group', [`@${name}`]);
    }
    case 'channel': {
      const name = ctx.channelName?.(node.id) ?? node.label ?? node.id;
      return el('span', 'mention mention-channel', [`#${name}`]);
    }
    case 'special':
      return el('span', 'mention mention-special', [`@${node.v}`]);
    case 'date':
      return dateNode(node, ctx);
    default:
      return document.createTextNode('');
  }
}

// ---- dates ---------------------------------------------------------------------------------------

const MONTHS = { long: 'long', short: 'short' };

function ordinal(day) {
  const tens = day % 100;
  if (tens >= 11 && tens <= 13) return `${day}th`;
  return `${day}${{ 1: 'st', 2: 'nd', 3: 'rd' }[day % 10] ?? 'th'}`;
}

/** The calendar day of `ms` in `timeZone`, as a number of days, to say today, yesterday or tomorrow. */
function dayNumber(ms, timeZone) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(ms));
  return Math.round(Date.parse(`${parts}T00:00:00Z`) / 86_400_000);
}

/**
 * A Slack date token's format (`{date_short_pretty} {time}`, `{ago}`, …) filled in for a reader in
 * `options.timeZone` (default: this browser's), as Slack shows it to each reader in their own zone.
 * Unknown tokens stay as written. Reference: https://api.slack.com/reference/surfaces/formatting#date-formatting
 */
export function formatSlackDate(seconds, format, options = {}) {
  const ms = seconds * 1000;
  const now = options.now ?? Date.now();
  const timeZone = options.timeZone;
  const locale = options.locale;
  const date = new Date(ms);
  const part = (opts) => new Intl.DateTimeFormat(locale, { timeZone, ...opts }).format(date);
  // A 24-hour clock reads 07:13, a 12-hour one 7:13 AM, as the reader's locale writes them.
  const hour = () =>
    new Intl.DateTimeFormat(locale, { hour: 'numeric' }).resolvedOptions().hour12 ? 'numeric' : '2-digit';
  const pieces = () =>
    Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone,
        year: 'numeric',
        month: 'long',
        day: 'numeric',
        weekday: 'long',
      })
        .formatToParts(date)
        .map((p) => [p.type, p.value]),
    );
  const written = {
    date_num: () =>
      new Intl.DateTimeFormat('en-CA', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      }).format(date),
    date: () => {
      const p = pieces();
      return `${p.month} ${ordinal(Number(p.day))}, ${p.year}`;
    },
    date_short: () => part({ year: 'numeric', month: MONTHS.short, day: 'numeric' }),
    date_long: () => {
      const p = pieces();
      return `${p.weekday}, ${p.month} ${ordinal(Number(p.day))}, ${p.year}`;
    },
    time: () => part({ hour: hour(), minute: '2-digit' }),
    time_secs: () => part({ hour: hour(), minute: '2-digit', second: '2-digit' }),
    ago: () => {
      const diff = Math.round((ms - now) / 1000);
      const abs = Math.abs(diff);
      const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
      if (abs < 60) return rtf.format(diff, 'second');
      if (abs < 3600) return rtf.format(Math.round(diff / 60), 'minute');
      if (abs < 86_400) return rtf.format(Math.round(diff / 3600), 'hour');
      return rtf.format(Math.round(diff / 86_400), 'day');
    },
  };
  const pretty = (plain) => () => {
    const days = dayNumber(ms, timeZone) - dayNumber(now, timeZone);
    if (days === 0) return 'today';
    if (days === -1) return 'yesterday';
    if (days === 1) return 'tomorrow';
    return written[plain]();
  };
  written.date_pretty = pretty('date');
  written.date_short_pretty = pretty('date_short');
  written.date_long_pretty = pretty('date_long');
  return format.replace(/\{([a-z_]+)\}/g, (whole, token) => (written[token] ? written[token]() : whole));
}

function dateNode(node, ctx) {
  let text;
  try {
    text = formatSlackDate(node.ts, node.format, ctx.dates ?? {});
  } catch {
    text = node.fallback;
  }
  const time = el('time', 'md-date', [textNode(text)]);
  time.dateTime = new Date(node.ts * 1000).toISOString();
  // The token's own fallback (what a client that cannot format it shows): the UTC time, on hover.
  if (node.fallback) time.title = node.fallback;
  if (/\{ago\}/.test(node.format)) time.dataset.ago = `${node.ts}\u0000${node.format}`;
  if (!node.link) return time;
  const a = el('a', 'md-link', [time]);
  a.href = node.link;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

/** Brings every `{ago}` date on the page up to now (called on a timer: "2 minutes ago" moves on). */
export function refreshAgo(root, options = {}) {
  for (const time of root.querySelectorAll('time[data-ago]')) {
    const [ts, format] = time.dataset.ago.split('\u0000');
    time.replaceChildren(textNode(formatSlackDate(Number(ts), format, options)));
  }
}

// ---- glyphs and long names --------------------------------------------------------------------------

/**
 * What an emoji shows as where the machine has no emoji font (a bare Linux or a container), where
 * Chromium would draw an empty box: a symbol that ordinary fonts (DejaVu, Liberation) have, in a
 * colour that keeps its meaning. The emoji itself stays in the text (copying, searching, tests).
 */
const GLYPH_FALLBACK = {
  '✅': ['✔', 'good'],
  '✔️': ['✔', 'good'],
  '☑️': ['☑', 'good'],
  '🟢': ['●', 'good'],
  '👍': ['✔', 'good'],
  '🎉': ['★', 'good'],
  '🏁': ['⚑', 'good'],
  '❌': ['✘', 'bad'],
  '⛔': ['⊘', 'bad'],
  '🚫': ['⊘', 'bad'],
  '🛑': ['■', 'bad'],
  '🔴': ['●', 'bad'],
  '🔥': ['▲', 'bad'],
  '🚨': ['‼', 'bad'],
  '⚠️': ['⚠', 'warn'],
  '✋': ['◆', 'warn'],
  '⏳': ['◷', 'warn'],
  '⌛': ['◷', 'warn'],
  '⏰': ['◷', 'warn'],
  '📌': ['⚲', 'warn'],
  '🚧': ['⚠', 'warn'],
  '⏱️': ['◷', 'muted'],
  '🗓': ['▦', 'muted'],
  '🗓️': ['▦', 'muted'],
  '↩️': ['↩', 'info'],
  '🔁': ['↻', 'info'],
  '⏭️': ['»', 'info'],
  '▶️': ['▶', 'info'],
  '🚀': ['➚', 'info'],
  ℹ️: ['ℹ', 'info'],
  '▫️': ['○', 'muted'],
  '⏸️': ['‖', 'muted'],
  '⏹️': ['■', 'muted'],
  '📝': ['✎', 'muted'],
  '📄': ['▤', 'muted'],
  '🖼': ['▣', 'muted'],
  '🖼️': ['▣', 'muted'],
  '💬': ['❝', 'muted'],
  '👁': ['◉', 'muted'],
  '👁️': ['◉', 'muted'],
  '👀': ['◉', 'muted'],
  '👤': ['☺', 'muted'],
  '🔒': ['⊠', 'muted'],
  '🔓': ['⊡', 'muted'],
  '❤️': ['♥', 'bad'],
};

/**
 * An emoji as Slack would draw it, ZWJ sequences whole: default emoji presentation, text made emoji
 * by U+FE0F, or a pictograph beyond the Basic Multilingual Plane (👁, 🖼), which Slack draws as
 * emoji and ordinary text fonts do not have at all.
 */
const EMOJI_SEQUENCE =
  /(?:\p{Emoji_Presentation}|\p{Extended_Pictographic}\uFE0F|(?=\p{Extended_Pictographic})[\u{1F000}-\u{1FFFF}])(?:\u200D(?:\p{Emoji_Presentation}|\p{Extended_Pictographic}\uFE0F?))*/gu;

/**
 * Host names, URLs and Redis keys long enough to wrap: they wrap after a dot, a slash or a colon,
 * never inside a name, and an IP address with its port stays whole.
 */
const LONG_NAME =
  /(?:https?:\/\/[^\s<>()"']+|(?:[A-Za-z0-9-]+\.){2,}[A-Za-z][A-Za-z0-9-]*\.?(?::\d+)?(?:\/[^\s<>()"']*)?|[A-Za-z0-9_-]+(?::[A-Za-z0-9_-]+){2,})/g;
const LONG_NAME_MIN = 18;
/** Where a long name may wrap: after an IP address (with its port), or after a dot, slash or colon. */
const NAME_PART = /(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?[/:]*|[^./:]*[./:]+|[^./:]+$/g;
/** Words joined by hyphens (step ids, app names) and arrows: a browser would break them at the hyphen. */
const HYPHENATED = /[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)+|->/g;

/** What an emoji with no fallback of its own shows without an emoji font: a mark, not an empty box. */
const ANY_EMOJI_FALLBACK = ['◇', 'muted'];

function glyph(emoji) {
  const span = el('span', 'emoji', [emoji]);
  const fallback =
    GLYPH_FALLBACK[emoji] ?? GLYPH_FALLBACK[emoji.replace(/\uFE0F/g, '')] ?? ANY_EMOJI_FALLBACK;
  span.dataset.fallback = fallback[0];
  span.classList.add(`emoji-${fallback[1]}`);
  return span;
}

function nameNode(name) {
  const wrap = el('span', 'long-name');
  for (const segment of name.match(NAME_PART) ?? [name]) {
    wrap.append(el('span', 'name-part', [segment]), document.createElement('wbr'));
  }
  wrap.lastChild?.remove();
  return wrap;
}

/** Plain text (`String.split` keeps the captures), with each emoji and each long host name in its own span. */
function splitInto(text, pattern, make, rest) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) out.push(...rest(text.slice(last, match.index)));
    const made = make(match[0]);
    if (Array.isArray(made)) out.push(...made);
    else out.push(made);
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(...rest(text.slice(last)));
  return out;
}

/**
 * Text as DOM nodes: a plain text node, unless it holds emoji (each in a span that can show a
 * fallback glyph), a long host name, URL or key (in parts that wrap only after a dot, slash or
 * colon), or hyphenated words (kept whole).
 */
export function textNodes(text) {
  const value = String(text ?? '');
  if (value === '') return [];
  const words = (rest) =>
    splitInto(
      rest,
      HYPHENATED,
      (word) => el('span', 'nobreak', [word]),
      (plain) => [document.createTextNode(plain)],
    );
  return splitInto(value, EMOJI_SEQUENCE, glyph, (plain) =>
    splitInto(
      plain,
      LONG_NAME,
      (name) => (name.length >= LONG_NAME_MIN ? nameNode(name) : words(name)),
      words,
    ),
  );
}

function textNode(text) {
  const nodes = textNodes(text);
  if (nodes.length === 1) return nodes[0];
  const fragment = document.createDocumentFragment();
  fragment.append(...nodes);
  return fragment;
}
