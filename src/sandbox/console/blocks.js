/* global document */
import { emojify, mrkdwnToNodes, textNodes, treeToNodes } from './mrkdwn.js';

// A small Block Kit renderer for the blocks Ferry and apps like it send: header, section (text,
// fields, accessory), context, divider, actions (buttons with their styles and confirm dialogs),
// rich_text, image and input. Layout follows Slack's closely enough to read a message at a glance;
// anything else shows as a labelled placeholder rather than disappearing.
// Reference: https://api.slack.com/reference/block-kit/blocks

function el(tag, className, children = []) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  for (const child of children) if (child !== null && child !== undefined) e.append(child);
  return e;
}

/** A text object: plain_text (emoji shortcodes converted) or mrkdwn. */
export function textObject(text, ctx) {
  if (!text || typeof text !== 'object') return [];
  if (text.type === 'mrkdwn') return mrkdwnToNodes(text.text ?? '', ctx);
  const value = String(text.text ?? '');
  return textNodes(text.emoji === false ? value : emojify(value));
}

function plain(text) {
  return text && typeof text === 'object' ? String(text.text ?? '') : '';
}

/**
 * Renders `blocks` into a container. `ctx.onAction({ block, element })` is called when a button is
 * pressed (after its confirm dialog, if any: that is the caller's job via `ctx.confirm`).
 */
export function renderBlocks(blocks, ctx) {
  const root = el('div', 'blocks');
  for (const block of Array.isArray(blocks) ? blocks : []) root.append(renderBlock(block, ctx));
  return root;
}

function renderBlock(block, ctx) {
  switch (block?.type) {
    case 'header':
      return el('div', 'block block-header', textObject(block.text, ctx));
    case 'section':
      return renderSection(block, ctx);
    case 'context':
      return el(
        'div',
        'block block-context',
        (block.elements ?? []).map((e) =>
          e.type === 'image'
            ? imagePlaceholder(e, 'context-image')
            : el('span', 'context-item', textObject(e, ctx)),
        ),
      );
    case 'divider':
      return el('hr', 'block block-divider');
    case 'actions':
      return el(
        'div',
        'block block-actions',
        (block.elements ?? []).map((e) => renderElement(e, block, ctx)),
      );
    case 'rich_text':
      return el(
        'div',
        'block block-rich-text',
        (block.elements ?? []).map((e) => renderRichTextElement(e, ctx)),
      );
    case 'image':
      return el('div', 'block block-image', [
        block.title ? el('div', 'image-title', [plain(block.title)]) : null,
        imagePlaceholder(block, 'image'),
      ]);
    case 'input':
      return el('div', 'block block-input', [
        el('label', 'input-label', [plain(block.label)]),
        el('div', 'unsupported', ['(input fields work in modals, which the sandbox does not show yet)']),
      ]);
    default:
      return el('div', 'block unsupported', [
        `[${String(block?.type ?? 'unknown')} block: not shown in the sandbox]`,
      ]);
  }
}

function renderSection(block, ctx) {
  const body = el('div', 'section-body');
  if (block.text) body.append(el('div', 'section-text', textObject(block.text, ctx)));
  if (Array.isArray(block.fields) && block.fields.length > 0) {
    body.append(
      el(
        'div',
        'section-fields',
        block.fields.map((f) => el('div', 'section-field', textObject(f, ctx))),
      ),
    );
  }
  const section = el('div', 'block block-section', [body]);
  if (block.accessory) {
    section.append(
      el('div', 'section-accessory', [
        block.accessory.type === 'image'
          ? imagePlaceholder(block.accessory, 'accessory-image')
          : renderElement(block.accessory, block, ctx),
      ]),
    );
  }
  return section;
}

function imagePlaceholder(image, className) {
  // The page loads nothing from the internet; an image shows as its alt text.
  return el('span', `image-placeholder ${className}`, textNodes(`🖼 ${image.alt_text ?? 'image'}`));
}

function renderElement(element, block, ctx) {
  if (element?.type !== 'button') {
    const label = element?.placeholder ? plain(element.placeholder) : String(element?.type ?? 'element');
    return el('span', 'element-unsupported', [`[${label}]`]);
  }
  const style =
    element.style === 'primary' ? ' btn-primary' : element.style === 'danger' ? ' btn-danger' : '';
  const button = el('button', `btn${style}`, textObject(element.text, ctx));
  button.type = 'button';
  button.dataset.actionId = element.action_id ?? '';
  if (element.url) button.title = element.url;
  if (element.accessibility_label) button.setAttribute('aria-label', element.accessibility_label);
  button.addEventListener('click', () => ctx.onAction?.({ block, element, button }));
  return button;
}

// ---- rich_text ------------------------------------------------------------------------------------

function richInline(elements, ctx) {
  const tree = [];
  for (const e of elements ?? []) {
    let node;
    switch (e.type) {
      case 'text':
        node = e.style?.code ? { t: 'code', v: e.text ?? '' } : { t: 'text', v: e.text ?? '' };
        break;
      case 'link':
        node = {
          t: 'link',
          href: /^(https?:|mailto:)/i.test(e.url ?? '') ? e.url : null,
          c: [{ t: 'text', v: e.text ?? e.url ?? '' }],
        };
        break;
      case 'user':
        node = { t: 'user', id: e.user_id };
        break;
      case 'usergroup':
        node = { t: 'group', id: e.usergroup_id };
        break;
      case 'channel':
        node = { t: 'channel', id: e.channel_id };
        break;
      case 'emoji':
        node = {
          t: 'text',
          v: e.unicode
            ? String.fromCodePoint(
                ...String(e.unicode)
                  .split('-')
                  .map((h) => parseInt(h, 16)),
              )
            : emojify(`:${e.name}:`),
        };
        break;
      case 'broadcast':
        node = { t: 'special', v: e.range };
        break;
      case 'date':
        node = {
          t: 'date',
          ts: Number(e.timestamp ?? 0),
          format: String(e.format ?? '{date_short_pretty} {time}'),
          link: /^https?:/i.test(e.url ?? '') ? e.url : null,
          fallback: String(e.fallback ?? ''),
        };
        break;
      default:
        node = { t: 'text', v: `[${e.type}]` };
    }
    if (e.type !== 'text' || !e.style?.code) {
      if (e.style?.strike) node = { t: 's', c: [node] };
      if (e.style?.italic) node = { t: 'i', c: [node] };
      if (e.style?.bold) node = { t: 'b', c: [node] };
    }
    tree.push(node);
  }
  return treeToNodes(tree, ctx);
}

function renderRichTextElement(element, ctx) {
  switch (element?.type) {
    case 'rich_text_section':
      return el('div', 'rt-section', richInline(element.elements, ctx));
    case 'rich_text_preformatted':
      return el('pre', 'md-pre', richInline(element.elements, ctx));
    case 'rich_text_quote':
      return el('blockquote', 'md-quote', richInline(element.elements, ctx));
    case 'rich_text_list': {
      const list = el(
        element.style === 'ordered' ? 'ol' : 'ul',
        `rt-list rt-indent-${Math.min(element.indent ?? 0, 4)}`,
      );
      for (const item of element.elements ?? [])
        list.append(el('li', '', [renderRichTextElement(item, ctx)]));
      return list;
    }
    default:
      return el('div', 'unsupported', [`[${String(element?.type)}]`]);
  }
}
