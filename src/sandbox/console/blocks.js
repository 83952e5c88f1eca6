/* global document */
import { emojify, mrkdwnToNodes, textNodes, treeToNodes } from './mrkdwn.js';

// A small Block Kit renderer for the blocks Ferry and apps like it send: header, section (text,
// fields, accessory), context, divider, actions (buttons with their styles and confirm dialogs),
// rich_text, image and input (real fields in a modal: `ctx.form`). Layout follows Slack's closely enough to read a message at a glance;
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
      return ctx.form ? renderInput(block, ctx) : inputPlaceholder(block);
    default:
      return el('div', 'block unsupported', [
        `[${String(block?.type ?? 'unknown')} block: not shown in the sandbox]`,
      ]);
  }
}

function inputPlaceholder(block) {
  return el('div', 'block block-input', [
    el('label', 'input-label', [plain(block.label)]),
    el('div', 'unsupported', ['(an input field: Slack shows these in modals)']),
  ]);
}

let inputCount = 0;

/**
 * An input block in a modal: the field itself (plain_text_input, static_select), its label, hint
 * and the place for an error Slack shows under it when the app answers `response_action: errors`.
 */
function renderInput(block, ctx) {
  const element = block.element ?? {};
  const id = `input-${++inputCount}`;
  let field;
  if (element.type === 'plain_text_input') {
    field = document.createElement(element.multiline ? 'textarea' : 'input');
    if (element.multiline) field.rows = 4;
    else field.type = 'text';
    field.value = element.initial_value ?? '';
    if (element.placeholder) field.placeholder = plain(element.placeholder);
    if (element.max_length) field.maxLength = element.max_length;
  } else if (element.type === 'static_select') {
    field = document.createElement('select');
    const none = el('option', '', [element.placeholder ? plain(element.placeholder) : 'Choose one']);
    none.value = '';
    field.append(none);
    for (const option of element.options ?? []) {
      const o = el('option', '', [plain(option.text)]);
      o.value = option.value ?? '';
      if (element.initial_option?.value === option.value) o.selected = true;
      field.append(o);
    }
  } else {
    return el('div', 'block block-input', [
      el('label', 'input-label', [plain(block.label)]),
      el('div', 'unsupported', [`[${String(element.type)} input: not shown in the sandbox]`]),
    ]);
  }
  field.id = id;
  field.className = 'input-field';
  field.dataset.blockId = block.block_id ?? '';
  field.dataset.actionId = element.action_id ?? '';
  field.dataset.type = element.type;
  if (element.focus_on_load) field.autofocus = true;
  const label = el('label', 'input-label', [
    plain(block.label),
    block.optional ? el('span', 'input-optional', [' (optional)']) : null,
  ]);
  label.htmlFor = id;
  const error = el('div', 'input-error');
  error.dataset.blockId = block.block_id ?? '';
  error.setAttribute('role', 'alert');
  // As in Slack, an error under a field goes once the person changes it.
  field.addEventListener(field.tagName === 'SELECT' ? 'change' : 'input', () => {
    error.textContent = '';
  });
  return el('div', 'block block-input', [
    label,
    field,
    block.hint ? el('div', 'input-hint', textObject(block.hint, ctx)) : null,
    error,
  ]);
}

/** A modal's inputs as Slack's `view.state.values`: block_id -> action_id -> the element's value. */
export function formValues(root) {
  const values = {};
  for (const field of root.querySelectorAll('.input-field')) {
    const { blockId, actionId, type } = field.dataset;
    values[blockId] ??= {};
    if (type === 'static_select') {
      const option = field.selectedOptions[0];
      values[blockId][actionId] = {
        type,
        selected_option:
          option && option.value !== ''
            ? { text: { type: 'plain_text', text: option.textContent }, value: option.value }
            : null,
      };
    } else {
      values[blockId][actionId] = { type, value: field.value === '' ? null : field.value };
    }
  }
  return values;
}

/** The errors an app answered with (`{ block_id: message }`), each under its input; the rest cleared. */
export function showInputErrors(root, errors) {
  for (const node of root.querySelectorAll('.input-error')) {
    const message = errors?.[node.dataset.blockId];
    node.textContent = typeof message === 'string' ? message : '';
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
