// Block Kit validation with Slack's limits (reference/slack.md §7). Problems read the way Slack
// words them in `response_metadata.messages`:
//   "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
// so code that logs Slack's messages shows the same thing against the fake.

export type BlockSurface = 'message' | 'modal' | 'home';

const MAX_BLOCKS: Record<BlockSurface, number> = { message: 50, modal: 100, home: 100 };

const BLOCK_TYPES = new Set([
  'section',
  'divider',
  'image',
  'actions',
  'context',
  'header',
  'input',
  'file',
  'rich_text',
  'video',
  'markdown',
  'table',
  'context_actions',
  'call',
]);

const SELECT_TYPES = new Set([
  'static_select',
  'multi_static_select',
  'external_select',
  'multi_external_select',
  'users_select',
  'multi_users_select',
  'conversations_select',
  'multi_conversations_select',
  'channels_select',
  'multi_channels_select',
]);

type Problems = string[];

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function problem(list: Problems, message: string, pointer: string): void {
  list.push(`[ERROR] ${message} [json-pointer:${pointer}]`);
}

function checkLength(list: Problems, value: unknown, max: number, pointer: string, min = 0): void {
  if (value === undefined) return;
  if (typeof value !== 'string') {
    problem(list, 'must be a string', pointer);
    return;
  }
  if (value.length > max) problem(list, `must be less than ${max + 1} characters`, pointer);
  if (value.length < min) problem(list, `must be more than ${min - 1} characters`, pointer);
}

function checkText(
  list: Problems,
  value: unknown,
  pointer: string,
  { max, plainOnly = false, required = true }: { max: number; plainOnly?: boolean; required?: boolean },
): void {
  if (value === undefined) {
    if (required) problem(list, 'missing required field: text', pointer);
    return;
  }
  if (!isObject(value)) {
    problem(list, 'must be a text object', pointer);
    return;
  }
  const allowed = plainOnly ? ['plain_text'] : ['plain_text', 'mrkdwn'];
  if (typeof value.type !== 'string' || !allowed.includes(value.type)) {
    problem(list, `must be one of ${allowed.join(', ')}`, `${pointer}/type`);
  }
  if (typeof value.text !== 'string') {
    problem(list, 'missing required field: text', `${pointer}/text`);
    return;
  }
  checkLength(list, value.text, max, `${pointer}/text`, 1);
}

function checkConfirm(list: Problems, confirm: unknown, pointer: string): void {
  if (confirm === undefined) return;
  if (!isObject(confirm)) {
    problem(list, 'must be a confirmation dialog object', pointer);
    return;
  }
  checkText(list, confirm.title, `${pointer}/title`, { max: 100, plainOnly: true });
  checkText(list, confirm.text, `${pointer}/text`, { max: 300 });
  checkText(list, confirm.confirm, `${pointer}/confirm`, { max: 30, plainOnly: true });
  checkText(list, confirm.deny, `${pointer}/deny`, { max: 30, plainOnly: true });
  if (confirm.style !== undefined && confirm.style !== 'primary' && confirm.style !== 'danger') {
    problem(list, 'must be one of primary, danger', `${pointer}/style`);
  }
}

function checkOptions(list: Problems, options: unknown, pointer: string, maxItems: number): void {
  if (options === undefined) return;
  if (!Array.isArray(options)) {
    problem(list, 'must be an array', pointer);
    return;
  }
  if (options.length > maxItems) problem(list, `no more than ${maxItems} items allowed`, pointer);
  options.forEach((option, i) => {
    const at = `${pointer}/${i}`;
    if (!isObject(option)) {
      problem(list, 'must be an option object', at);
      return;
    }
    checkText(list, option.text, `${at}/text`, { max: 75 });
    checkLength(list, option.value, 150, `${at}/value`, 1);
  });
}

/** Checks one interactive element; `actionIds` collects ids to catch duplicates within a block. */
function checkElement(
  list: Problems,
  element: unknown,
  pointer: string,
  actionIds: Map<string, string>,
): void {
  if (!isObject(element)) {
    problem(list, 'must be an element object', pointer);
    return;
  }
  if (typeof element.type !== 'string') {
    problem(list, 'missing required field: type', `${pointer}/type`);
    return;
  }
  if (element.action_id !== undefined) {
    checkLength(list, element.action_id, 255, `${pointer}/action_id`, 1);
    if (typeof element.action_id === 'string') {
      if (actionIds.has(element.action_id)) {
        problem(list, `duplicate action_id '${element.action_id}' in the same block`, `${pointer}/action_id`);
      }
      actionIds.set(element.action_id, pointer);
    }
  }
  checkConfirm(list, element.confirm, `${pointer}/confirm`);
  switch (element.type) {
    case 'button':
      checkText(list, element.text, `${pointer}/text`, { max: 75, plainOnly: true });
      checkLength(list, element.value, 2000, `${pointer}/value`);
      checkLength(list, element.url, 3000, `${pointer}/url`);
      checkLength(list, element.accessibility_label, 75, `${pointer}/accessibility_label`);
      if (element.style !== undefined && element.style !== 'primary' && element.style !== 'danger') {
        problem(list, 'must be one of primary, danger', `${pointer}/style`);
      }
      return;
    case 'overflow':
      if (!Array.isArray(element.options) || element.options.length < 1) {
        problem(list, 'missing required field: options', `${pointer}/options`);
      }
      checkOptions(list, element.options, `${pointer}/options`, 5);
      return;
    case 'checkboxes':
    case 'radio_buttons':
      checkOptions(list, element.options, `${pointer}/options`, 10);
      return;
    default:
      if (SELECT_TYPES.has(element.type)) {
        checkText(list, element.placeholder, `${pointer}/placeholder`, {
          max: 150,
          plainOnly: true,
          required: false,
        });
        checkOptions(list, element.options, `${pointer}/options`, 100);
      }
  }
}

function checkBlock(list: Problems, block: unknown, pointer: string, blockIds: Set<string>): void {
  if (!isObject(block)) {
    problem(list, 'must be a block object', pointer);
    return;
  }
  if (typeof block.type !== 'string' || !BLOCK_TYPES.has(block.type)) {
    problem(list, `unsupported type: ${String(block.type)}`, `${pointer}/type`);
    return;
  }
  if (block.block_id !== undefined) {
    checkLength(list, block.block_id, 255, `${pointer}/block_id`, 1);
    if (typeof block.block_id === 'string') {
      if (blockIds.has(block.block_id))
        problem(list, `duplicate block_id '${block.block_id}'`, `${pointer}/block_id`);
      blockIds.add(block.block_id);
    }
  }
  const actionIds = new Map<string, string>();
  switch (block.type) {
    case 'section': {
      if (block.text === undefined && block.fields === undefined) {
        problem(list, 'must provide either text or fields', pointer);
      }
      checkText(list, block.text, `${pointer}/text`, { max: 3000, required: false });
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields)) problem(list, 'must be an array', `${pointer}/fields`);
        else {
          if (block.fields.length > 10) problem(list, 'no more than 10 items allowed', `${pointer}/fields`);
          block.fields.forEach((field, i) => checkText(list, field, `${pointer}/fields/${i}`, { max: 2000 }));
        }
      }
      if (block.accessory !== undefined)
        checkElement(list, block.accessory, `${pointer}/accessory`, actionIds);
      return;
    }
    case 'header':
      checkText(list, block.text, `${pointer}/text`, { max: 150, plainOnly: true });
      return;
    case 'context': {
      if (!Array.isArray(block.elements) || block.elements.length < 1) {
        problem(list, 'missing required field: elements', `${pointer}/elements`);
        return;
      }
      if (block.elements.length > 10) problem(list, 'no more than 10 items allowed', `${pointer}/elements`);
      block.elements.forEach((el, i) => {
        if (isObject(el) && el.type === 'image') return;
        checkText(list, el, `${pointer}/elements/${i}`, { max: 3000 });
      });
      return;
    }
    case 'actions': {
      if (!Array.isArray(block.elements) || block.elements.length < 1) {
        problem(list, 'missing required field: elements', `${pointer}/elements`);
        return;
      }
      if (block.elements.length > 25) problem(list, 'no more than 25 items allowed', `${pointer}/elements`);
      block.elements.forEach((el, i) => checkElement(list, el, `${pointer}/elements/${i}`, actionIds));
      return;
    }
    case 'image':
      if (block.image_url === undefined && block.slack_file === undefined) {
        problem(list, 'must provide either image_url or slack_file', pointer);
      }
      checkLength(list, block.image_url, 3000, `${pointer}/image_url`);
      checkLength(list, block.alt_text, 2000, `${pointer}/alt_text`, 1);
      if (block.alt_text === undefined)
        problem(list, 'missing required field: alt_text', `${pointer}/alt_text`);
      checkText(list, block.title, `${pointer}/title`, { max: 2000, plainOnly: true, required: false });
      return;
    case 'markdown':
      if (typeof block.text !== 'string') problem(list, 'missing required field: text', `${pointer}/text`);
      else checkLength(list, block.text, 12000, `${pointer}/text`, 1);
      return;
    case 'input':
      checkText(list, block.label, `${pointer}/label`, { max: 2000, plainOnly: true });
      checkText(list, block.hint, `${pointer}/hint`, { max: 2000, plainOnly: true, required: false });
      if (block.element === undefined) problem(list, 'missing required field: element', `${pointer}/element`);
      else checkElement(list, block.element, `${pointer}/element`, actionIds);
      return;
    case 'rich_text':
      if (!Array.isArray(block.elements))
        problem(list, 'missing required field: elements', `${pointer}/elements`);
      return;
    default:
      return;
  }
}

/**
 * Validates `blocks` for a message (≤50 blocks) or a modal / Home tab (≤100). Returns Slack-style
 * problem lines; an empty list means Slack would accept them.
 */
export function validateBlocks(blocks: unknown, surface: BlockSurface = 'message'): string[] {
  const list: Problems = [];
  if (!Array.isArray(blocks)) {
    problem(list, 'must be an array', '/blocks');
    return list;
  }
  const max = MAX_BLOCKS[surface];
  if (blocks.length > max) problem(list, `no more than ${max} items allowed`, '/blocks');
  const blockIds = new Set<string>();
  blocks.forEach((block, i) => checkBlock(list, block, `/blocks/${i}`, blockIds));
  return list;
}
