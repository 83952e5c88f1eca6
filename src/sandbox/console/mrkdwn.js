/* global document */
// Slack's mrkdwn, as a person reads it in Slack: *bold*, _italics_, ~strike~, `code`, ```blocks```,
// > quotes, line breaks, <links|labels>, <@U…> mentions shown as @name, <!subteam^S…> as @group,
// and the escapes &lt; &gt; &amp; shown as < > &. `parseMrkdwn` is pure (tested in Node);
// `mrkdwnToNodes` builds DOM nodes from it, never HTML strings, so message text cannot inject markup.
// Reference: https://api.slack.com/reference/surfaces/formatting

/**
 * @typedef {{ t: 'text', v: string } | { t: 'br' } | { t: 'code', v: string } | { t: 'pre', v: string }
 *   | { t: 'b' | 'i' | 's' | 'quote', c: Node[] } | { t: 'link', href: string | null, c: Node[] }
 *   | { t: 'user', id: string, label?: string } | { t: 'group', id: string, label?: string }
 *   | { t: 'channel', id: string, label?: string } | { t: 'special', v: string }} Node
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
      return document.createTextNode(node.v);
    case 'br':
      return document.createElement('br');
    case 'code':
      return el('code', 'md-code', [node.v]);
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
    default:
      return document.createTextNode('');
  }
}
