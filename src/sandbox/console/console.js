/* global document, window, localStorage, EventSource, fetch, requestAnimationFrame, setTimeout, clearTimeout, setInterval, ResizeObserver, URLSearchParams, Element */
import { formValues, renderBlocks, showInputErrors, textObject } from './blocks.js';
import { mrkdwnToNodes, refreshAgo, textNodes } from './mrkdwn.js';

// The sandbox console: a #migrations channel as Slack shows it, a person to act as, the faults
// panel and the systems Ferry is changing. Everything typed or clicked goes to the server, which
// signs it as Slack would and sends it to Ferry; what Ferry posts comes back over server-sent events.

const state = {
  user: localStorage.getItem('ferry-sandbox-user') ?? 'U01ALICE',
  channel: 'C0MIGRATIONS',
  users: [],
  usergroups: [],
  channels: [],
  bot: null,
  /** @type {Map<string, any>} channel messages and thread replies, by ts */
  messages: new Map(),
  /** @type {Map<string, any>} the current user's ephemerals, by ts */
  ephemerals: new Map(),
  dismissed: new Set(),
  /** The thread shown in the thread pane (a root message's ts). */
  thread: null,
  /** follow: the newest thread; chosen: the one the person opened (or their own run); closed: none. */
  threadMode: 'follow',
  /**
   * After this person sends a command: the newest message then (`after`), so that the first thread
   * Ferry starts in the channel after it (their run's status message) opens in the thread pane.
   */
  followNext: null,
  /** What the middle shows: the channel, or Ferry's App Home tab. */
  pane: 'channel',
  /** Ferry's App Home tab as last published for this person (views.publish), or null. */
  home: null,
  /** The modal open for this person (views.open), or null. */
  modal: null,
  /** Names the world the page shows; another one after a reconnect means the world was reset. */
  session: null,
  canReset: false,
  resetting: false,
  faults: [],
  world: [],
  redis: null,
  seq: 0,
  loaded: false,
};

const $ = (selector) => document.querySelector(selector);

function el(tag, className, children = []) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  for (const child of children) if (child !== null && child !== undefined && child !== false) e.append(child);
  return e;
}

// ---- talking to the server ---------------------------------------------------------------------

async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.error ?? `${res.status} ${res.statusText}`);
  return json;
}

let source = null;
let pending = [];

function connect() {
  source?.close();
  state.loaded = false;
  pending = [];
  setConnection('connecting');
  source = new EventSource(`/sandbox/events?user=${encodeURIComponent(state.user)}`);
  source.addEventListener('hello', (e) => {
    setConnection('live');
    const hello = JSON.parse(e.data);
    if (state.session !== null && hello.session !== state.session) startOver();
    void loadState();
  });
  source.addEventListener('reset', () => {
    state.resetting = true;
    renderReset();
  });
  source.addEventListener('slack', (e) => {
    const event = JSON.parse(e.data);
    if (!state.loaded) pending.push(event);
    else applySlack(event);
  });
  source.addEventListener('faults', (e) => {
    state.faults = JSON.parse(e.data);
    renderFaults();
    renderWorld();
  });
  source.addEventListener('world', (e) => {
    state.world = JSON.parse(e.data);
    renderWorld();
  });
  source.addEventListener('redis', (e) => {
    state.redis = JSON.parse(e.data);
    renderRedis();
  });
  source.addEventListener('error', () => setConnection('reconnecting'));
}

async function loadState() {
  const res = await fetch(
    `/sandbox/state?user=${encodeURIComponent(state.user)}&channel=${encodeURIComponent(state.channel)}`,
  );
  const data = await res.json();
  if (state.session !== null && data.session !== state.session) startOver();
  state.session = data.session;
  state.canReset = data.canReset === true;
  state.resetting = false;
  state.users = data.users;
  state.usergroups = data.usergroups;
  state.channels = data.channels;
  state.bot = data.bot;
  state.seq = data.seq;
  state.messages = new Map(data.messages.map((m) => [m.ts, m]));
  state.ephemerals = new Map(data.ephemerals.map((m) => [m.ts, m]));
  state.home = data.home ?? null;
  state.faults = data.faults;
  state.world = data.world;
  state.redis = data.redis;
  state.loaded = true;
  for (const event of pending.splice(0)) applySlack(event);
  renderAll();
}

/** A new world (Reset the world): nothing the page kept from the old one means anything now. */
function startOver() {
  state.messages = new Map();
  state.ephemerals = new Map();
  state.dismissed = new Set();
  state.thread = null;
  state.threadMode = 'follow';
  state.followNext = null;
  state.pane = 'channel';
  state.home = null;
  closeModal();
  state.seq = 0;
  rendered.clear();
  for (const list of [$('#messages'), $('#thread-messages')]) stuck.set(list, true);
}

function applySlack(event) {
  if (event.seq <= state.seq) return;
  state.seq = event.seq;
  // Views are this person's alone (the server sends only theirs): a modal, or their Home tab.
  if (event.type === 'view_opened') return openModal(event.view);
  if (event.type === 'view_updated') {
    if (state.modal?.id === event.view.id) openModal(event.view);
    return;
  }
  if (event.type === 'home_published') {
    state.home = event.view;
    renderHome();
    return;
  }
  if (event.type === 'channel_created') {
    if (!state.channels.some((c) => c.id === event.channel.id)) state.channels.push(event.channel);
    renderChannels();
    return;
  }
  if (event.channel !== state.channel) return;
  switch (event.type) {
    case 'message_posted':
    case 'message_updated':
      state.messages.set(event.message.ts, event.message);
      break;
    case 'message_deleted':
      state.messages.delete(event.ts);
      break;
    case 'ephemeral_posted':
    case 'ephemeral_updated':
      if (event.message.visible_to === state.user) state.ephemerals.set(event.message.ts, event.message);
      break;
    case 'ephemeral_deleted':
      state.ephemerals.delete(event.message.ts);
      break;
  }
  scheduleRender();
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderMessages();
  });
}

// ---- people ------------------------------------------------------------------------------------

const userById = (id) => state.users.find((u) => u.id === id);
const me = () => userById(state.user);

function mrkdwnContext() {
  return {
    me: state.user,
    userName: (id) => (id === state.bot?.userId ? 'ferry' : userById(id)?.realName),
    groupName: (id) => state.usergroups.find((g) => g.id === id)?.handle,
    channelName: (id) => state.channels.find((c) => c.id === id)?.name,
  };
}

function switchUser(id) {
  if (id === state.user) return;
  state.user = id;
  localStorage.setItem('ferry-sandbox-user', id);
  state.ephemerals = new Map();
  // Each person sees their own: mentions of them highlighted, their modal, their Home tab.
  rendered.clear();
  closeModal();
  state.home = null;
  if (state.pane === 'home') void requestHome();
  renderPeople();
  renderComposer();
  connect();
}

function avatar(name, id) {
  const palette = ['av-a', 'av-b', 'av-c', 'av-d', 'av-e'];
  const index = [...(id ?? name)].reduce((n, ch) => n + ch.charCodeAt(0), 0) % palette.length;
  return el('span', `avatar ${palette[index]}`, [(name ?? '?').slice(0, 1).toUpperCase()]);
}

// ---- rendering: the channel ----------------------------------------------------------------------

/** ts -> { sig, node } for what is on screen, so a message edited in place is the only one redrawn. */
const rendered = new Map();

function timeOf(ts) {
  return new Date(Number(ts) * 1000).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

function authorOf(message) {
  if (message.bot_id || message.user === state.bot?.userId)
    return { name: 'Ferry', app: true, id: message.user };
  const user = userById(message.user);
  return { name: user?.realName ?? message.user, app: false, id: message.user };
}

function messageNode(message, options = {}) {
  const ephemeral = options.ephemeral === true;
  const author = ephemeral ? { name: 'Ferry', app: true, id: state.bot?.userId } : authorOf(message);
  const ctx = { ...mrkdwnContext(), onAction: (action) => onAction(message, action, ephemeral) };
  const content =
    Array.isArray(message.blocks) && message.blocks.length > 0
      ? renderBlocks(message.blocks, ctx)
      : el('div', 'message-text', mrkdwnToNodes(message.text ?? '', ctx));
  if (message.subtype === 'tombstone') content.classList.add('tombstone');
  const compact = options.compact === true;
  const header = compact
    ? null
    : el('div', 'message-header', [
        el('span', 'author', [author.name]),
        author.app ? el('span', 'app-badge', ['APP']) : null,
        el('time', 'time', [timeOf(message.ts)]),
        message.edited ? el('span', 'edited', ['(edited)']) : null,
      ]);
  const body = el('div', 'message-body', [header, content, filesNode(message)]);
  if (compact && message.edited) body.append(el('span', 'edited', ['(edited)']));
  if (ephemeral) {
    const dismiss = el('button', 'link-button', ['Dismiss']);
    dismiss.type = 'button';
    dismiss.addEventListener('click', () => {
      state.dismissed.add(message.ts);
      scheduleRender();
    });
    body.append(el('div', 'ephemeral-note', [...textNodes('👁 Only visible to you · '), dismiss]));
  }
  if (options.replies) body.append(repliesLink(message, options.replies));
  const gutter = compact
    ? el('time', 'gutter-time', [timeOf(message.ts).replace(/\s?[AP]M$/i, '')])
    : avatar(author.name, author.id);
  const classes = ['message'];
  if (ephemeral) classes.push('ephemeral');
  if (options.reply) classes.push('reply');
  if (options.parent) classes.push('thread-parent');
  if (compact) classes.push('compact');
  const node = el('article', classes.join(' '), [gutter, body]);
  node.dataset.ts = message.ts;
  if (ephemeral) node.setAttribute('aria-label', `Only visible to you: ${message.text ?? ''}`);
  return node;
}

function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Files shared with a message (a report's Markdown, JSON and charts): by name, images shown. */
function filesNode(message) {
  const files = Array.isArray(message.files) ? message.files : [];
  if (files.length === 0) return null;
  return el(
    'div',
    'files',
    files.map((file) => {
      const link = el('a', 'file-name', [file.name ?? file.title ?? file.id]);
      link.href = file.url_private;
      link.target = '_blank';
      link.rel = 'noopener';
      const card = el('div', 'file', [
        el('div', 'file-head', [
          el('span', 'file-type', [String(file.filetype ?? 'file').toUpperCase()]),
          link,
          el('span', 'file-size', [fileSize(Number(file.size ?? 0))]),
        ]),
      ]);
      if (/^image\/(png|jpeg|gif)$/.test(file.mimetype ?? '')) {
        const img = document.createElement('img');
        img.className = 'file-image';
        img.src = file.url_private;
        img.alt = file.alt_text ?? file.title ?? file.name ?? 'an image';
        // The picture arrives after the message is drawn: a list at its newest message stays there.
        img.addEventListener('load', keepNewest);
        card.append(img);
      }
      card.dataset.file = file.name ?? '';
      card.setAttribute('aria-label', `File: ${file.name ?? file.title ?? file.id}`);
      return card;
    }),
  );
}

function repliesLink(message, replies) {
  const open = state.thread === message.ts;
  const last = replies[replies.length - 1];
  const link = el('button', `replies-link${open ? ' open' : ''}`, [
    ...textNodes(`💬 ${replies.length} ${replies.length === 1 ? 'reply' : 'replies'}`),
    el('span', 'replies-last', [last ? ` · last at ${timeOf(last.ts)}` : '']),
  ]);
  link.type = 'button';
  link.setAttribute('aria-label', `Open the thread (${replies.length} replies)`);
  link.addEventListener('click', () => openThread(message.ts));
  return link;
}

/** Reuses the node of an unchanged message; a changed one is redrawn and flashes, as an edit in place. */
function keyed(key, value, make) {
  const sig = JSON.stringify(value);
  const previous = rendered.get(key);
  if (previous && previous.sig === sig) return previous.node;
  const node = make();
  if (previous) {
    node.classList.add('flash');
    node.addEventListener('animationend', () => node.classList.remove('flash'), { once: true });
  }
  rendered.set(key, { sig, node });
  return node;
}

/** Slack shows a run of messages from one author within a few minutes without repeating the name. */
function continues(previous, item) {
  if (!previous || previous.ephemeral || item.ephemeral) return false;
  if (previous.message.user !== item.message.user) return false;
  return (
    Number(item.ts) - Number(previous.ts) < 300 && !item.message.blocks?.some((b) => b.type === 'header')
  );
}

/** Scrolls each list that is at its newest message back there, after something grew. */
function keepNewest() {
  for (const list of [$('#messages'), $('#thread-messages')]) {
    if (stuck.get(list) !== false) list.scrollTop = list.scrollHeight;
  }
}

/** Lists stick to their newest message unless the person scrolled up (layout changes do not unstick them). */
const stuck = new WeakMap();
function trackScroll(container) {
  stuck.set(container, true);
  container.addEventListener('scroll', () => {
    stuck.set(container, container.scrollHeight - container.scrollTop - container.clientHeight < 40);
  });
}

function renderList(container, items, seen, options = {}) {
  const nodes = [];
  let previous = null;
  for (const item of items) {
    const compact = options.group !== false && continues(previous, item) && !item.parent;
    const replies = options.replies?.(item) ?? null;
    const key = `${options.prefix ?? ''}${item.ephemeral ? `e:${item.ts}:${state.user}` : `m:${item.ts}`}`;
    seen.add(key);
    const signature = {
      m: item.message,
      compact,
      replies: replies?.map((r) => r.ts),
      open: state.thread === item.ts,
    };
    nodes.push(
      keyed(key, signature, () =>
        messageNode(item.message, {
          ephemeral: item.ephemeral,
          reply: options.reply === true && !item.parent,
          parent: item.parent === true,
          compact,
          ...(replies && replies.length > 0 ? { replies } : {}),
        }),
      ),
    );
    previous = item;
  }
  container.replaceChildren(...(nodes.length > 0 ? nodes : options.empty ? [options.empty()] : []));
  if (options.forceBottom) stuck.set(container, true);
  if (stuck.get(container) !== false) container.scrollTop = container.scrollHeight;
}

function renderMessages() {
  const all = [...state.messages.values()].sort((a, b) => Number(a.ts) - Number(b.ts));
  const ephemerals = [...state.ephemerals.values()].filter(
    (m) => !m.deleted && m.visible_to === state.user && !state.dismissed.has(m.ts),
  );
  const repliesOf = (ts) => all.filter((r) => r.thread_ts === ts && r.ts !== ts);
  const roots = all.filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.subtype === 'thread_broadcast');
  const channelItems = [
    ...roots.map((m) => ({ ts: m.ts, message: m, ephemeral: false })),
    ...ephemerals
      .filter((m) => !m.thread_ts || !state.messages.has(m.thread_ts))
      .map((m) => ({ ts: m.ts, message: m, ephemeral: true })),
  ].sort((a, b) => Number(a.ts) - Number(b.ts));

  // Follow the newest thread (where Ferry asks for approvals) unless the person chose or closed one;
  // after their own command, the thread Ferry starts for it (their run) opens whatever they had.
  const threaded = roots.filter((m) => repliesOf(m.ts).length > 0);
  const follow = state.followNext;
  if (follow) {
    const theirs = threaded.find(
      (m) => Number(m.ts) > Number(follow.after) && authorOf(m).app && m.subtype !== 'thread_broadcast',
    );
    if (theirs) {
      state.thread = theirs.ts;
      state.threadMode = 'chosen';
      state.followNext = null;
    } else if (Date.now() > follow.until) state.followNext = null;
  }
  if (state.threadMode === 'closed') state.thread = null;
  else if (state.threadMode === 'follow' || !state.messages.has(state.thread)) {
    state.thread = threaded.at(-1)?.ts ?? null;
  }

  const seen = new Set();
  renderList($('#messages'), channelItems, seen, {
    replies: (item) => (item.ephemeral ? null : repliesOf(item.ts)),
    empty: welcomeNode,
  });

  const pane = $('#thread');
  // The Home tab takes the middle, as in Slack, and the thread pane closes with the channel.
  const parent = state.pane === 'channel' && state.thread ? state.messages.get(state.thread) : undefined;
  $('.layout').classList.toggle('with-thread', Boolean(parent));
  pane.hidden = !parent;
  if (parent) {
    const header = parent.blocks?.find((b) => b.type === 'header');
    $('#thread-title').textContent = header?.text?.text ?? (parent.text ?? '').slice(0, 60);
    const items = [
      { ts: parent.ts, message: parent, ephemeral: false, parent: true },
      ...repliesOf(parent.ts).map((m) => ({ ts: m.ts, message: m, ephemeral: false })),
      ...ephemerals
        .filter((e) => e.thread_ts === parent.ts)
        .map((m) => ({ ts: m.ts, message: m, ephemeral: true })),
    ].sort((a, b) => (a.parent ? -1 : b.parent ? 1 : Number(a.ts) - Number(b.ts)));
    const switched = pane.dataset.thread !== parent.ts;
    pane.dataset.thread = parent.ts;
    renderList($('#thread-messages'), items, seen, { reply: true, prefix: 't:', forceBottom: switched });
  }
  for (const key of [...rendered.keys()]) if (!seen.has(key)) rendered.delete(key);
}

function openThread(ts) {
  state.thread = ts;
  state.threadMode = 'chosen';
  scheduleRender();
}

function closeThread() {
  state.thread = null;
  state.threadMode = 'closed';
  scheduleRender();
}

function welcomeNode() {
  const start = el('button', 'btn btn-primary', ['Type /migrate start billing staging']);
  start.type = 'button';
  start.addEventListener('click', () => fillComposer('/migrate start billing staging'));
  const strong = (text) => el('strong', '', [text]);
  return el('div', 'welcome', [
    el('h2', '', ['Welcome to the Ferry sandbox']),
    el('p', '', [
      'This is a #migrations channel with Ferry in it. Nothing here touches Slack, AWS or Heroku: Route 53, Heroku, ',
      'the maintenance page and the new platform are local stand-ins, and the old Sidekiq workers are simulated.',
    ]),
    el('ol', '', [
      el('li', '', [
        'As ',
        strong('Alice'),
        ', start a migration of the example plan: ',
        el('code', 'md-code', ['/migrate start billing staging']),
      ]),
      el('li', '', [
        'When Ferry asks for approval in the thread, switch to ',
        strong('Mallory'),
        ' (top left) and press ',
        strong('Approve'),
        ': Ferry refuses her, and only she sees why.',
      ]),
      el('li', '', [
        'Switch to ',
        strong('Bob'),
        ' and press ',
        strong('Approve'),
        '. Watch the Systems panel.',
      ]),
      el('li', '', [
        'At ',
        el('code', 'md-code', ['watch-new-platform']),
        ' press ',
        strong('Looks good'),
        ' (or let it watch a minute); at ',
        el('code', 'md-code', ['decommission-old-redis']),
        ', the point of no return, press ',
        strong('Done'),
        '.',
      ]),
      el('li', '', [
        'Press ',
        strong('Reset the world'),
        ' (right), start again, arm a fault before Bob approves, watch a step fail, then ',
        strong('Roll back'),
        '.',
      ]),
    ]),
    start,
  ]);
}

// ---- actions -------------------------------------------------------------------------------------

async function onAction(message, { block, element }, ephemeral) {
  if (element.confirm) {
    const ok = await confirmDialog(element.confirm);
    if (!ok) return;
  }
  if (element.url) window.open(element.url, '_blank', 'noopener');
  try {
    const result = await post('/sandbox/action', {
      user: state.user,
      channel: state.channel,
      ts: message.ts,
      action_id: element.action_id,
      ...(block.block_id ? { block_id: block.block_id } : {}),
      ...(ephemeral ? { ephemeral: true } : {}),
    });
    if (!result.ok) toast(`Ferry did not acknowledge the click (${result.error})`);
  } catch (error) {
    toast(error.message);
  }
}

function confirmDialog(confirm) {
  return new Promise((resolve) => {
    const dialog = $('#confirm');
    const title = $('#confirm-title');
    const text = $('#confirm-text');
    const yes = $('#confirm-yes');
    const no = $('#confirm-no');
    title.replaceChildren(
      ...textObject(confirm.title ?? { type: 'plain_text', text: 'Are you sure?' }, mrkdwnContext()),
    );
    text.replaceChildren(...textObject(confirm.text ?? { type: 'plain_text', text: '' }, mrkdwnContext()));
    yes.textContent = confirm.confirm?.text ?? 'Yes';
    no.textContent = confirm.deny?.text ?? 'Cancel';
    yes.className = `btn ${confirm.style === 'danger' ? 'btn-danger' : 'btn-primary'}`;
    const finish = (value) => {
      dialog.close();
      yes.onclick = null;
      no.onclick = null;
      dialog.oncancel = null;
      resolve(value);
    };
    yes.onclick = () => finish(true);
    no.onclick = () => finish(false);
    dialog.oncancel = () => finish(false);
    dialog.showModal();
    no.focus();
  });
}

let toastTimer;
function toast(text) {
  const node = $('#toast');
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, 6000);
}

// ---- composer ------------------------------------------------------------------------------------

function fillComposer(text) {
  const input = $('#composer-input');
  input.value = text;
  input.focus();
}

async function send() {
  const input = $('#composer-input');
  const text = input.value.trim();
  if (text === '') return;
  input.value = '';
  // As Slack does when you send: back to the newest message, where the answer is about to appear.
  const list = $('#messages');
  stuck.set(list, true);
  list.scrollTop = list.scrollHeight;
  try {
    if (text.startsWith('/')) {
      const newest = [...state.messages.keys()].reduce((a, b) => (Number(b) > Number(a) ? b : a), '0');
      state.followNext = { after: newest, until: Date.now() + FOLLOW_WINDOW_MS };
      await post('/sandbox/command', { user: state.user, channel: state.channel, text });
    } else await post('/sandbox/message', { user: state.user, channel: state.channel, text });
  } catch (error) {
    input.value = text;
    toast(error.message);
  }
}

/** How long after a command its run's thread may still appear and take over the thread pane. */
const FOLLOW_WINDOW_MS = 30_000;

function renderComposer() {
  const channel = state.channels.find((c) => c.id === state.channel);
  const input = $('#composer-input');
  input.placeholder = `Message #${channel?.name ?? 'migrations'} as ${me()?.realName ?? state.user} — try /migrate help`;
  input.setAttribute('aria-label', `Message #${channel?.name ?? 'migrations'}`);
}

// ---- sidebar: people and channels ------------------------------------------------------------------

function renderPeople() {
  const list = $('#people');
  list.replaceChildren(
    ...state.users.map((u) => {
      const button = el('button', `person${u.id === state.user ? ' selected' : ''}`, [
        avatar(u.realName, u.id),
        el('span', 'person-text', [
          el('span', 'person-name', [u.realName]),
          el('span', 'person-role', [u.role]),
        ]),
      ]);
      button.type = 'button';
      button.setAttribute('role', 'radio');
      button.setAttribute('aria-checked', String(u.id === state.user));
      button.setAttribute('aria-label', `Act as ${u.realName}`);
      button.dataset.user = u.id;
      button.addEventListener('click', () => switchUser(u.id));
      return button;
    }),
  );
  $('#acting-as').textContent = me()?.realName ?? state.user;
}

function renderChannels() {
  const list = $('#channels');
  list.replaceChildren(
    ...state.channels.map((c) => {
      const selected = state.pane === 'channel' && c.id === state.channel;
      const button = el('button', `channel${selected ? ' selected' : ''}`, [`# ${c.name}`]);
      button.type = 'button';
      button.addEventListener('click', () => showChannel(c.id));
      return button;
    }),
  );
  $('#home-link').classList.toggle('selected', state.pane === 'home');
  const current = state.channels.find((c) => c.id === state.channel);
  $('#channel-name').textContent = state.pane === 'home' ? 'Ferry' : `# ${current?.name ?? state.channel}`;
  $('#channel-topic').textContent = state.pane === 'home' ? 'Home' : (current?.topic ?? '');
}

function showChannel(id, thread) {
  const switching = id !== state.channel;
  state.pane = 'channel';
  state.channel = id;
  if (thread) {
    state.thread = thread;
    state.threadMode = 'chosen';
  }
  renderPane();
  renderChannels();
  if (switching) {
    rendered.clear();
    void loadState();
  } else scheduleRender();
}

// ---- App Home ------------------------------------------------------------------------------------

/** Opening the Home tab is an event Slack sends Ferry (app_home_opened); Ferry publishes the tab. */
async function requestHome() {
  try {
    const result = await post('/sandbox/home', { user: state.user });
    if (!result.ok) toast(`Ferry did not answer app_home_opened (${result.error})`);
  } catch (error) {
    toast(error.message);
  }
}

function showHome() {
  state.pane = 'home';
  renderPane();
  renderChannels();
  renderHome();
  void requestHome();
}

/** The middle column: the channel (messages, composer, thread) or the Home tab. */
function renderPane() {
  const home = state.pane === 'home';
  $('#messages').hidden = home;
  $('#composer').hidden = home;
  $('#home').hidden = !home;
  if (home) {
    $('.layout').classList.remove('with-thread');
    $('#thread').hidden = true;
  }
}

function renderHome() {
  if (state.pane !== 'home') return;
  const container = $('#home');
  const view = state.home;
  container.replaceChildren(
    view
      ? renderBlocks(view.blocks, {
          ...mrkdwnContext(),
          onAction: () => toast('The Home tab has no buttons.'),
        })
      : el('p', 'home-waiting', ['Opening Ferry’s Home tab…']),
  );
}

/**
 * A link to a message in this workspace (a permalink, as Ferry's run ids in the Home tab and
 * `/migrate list` are) opens it here, as the Slack client does, instead of leaving the page.
 */
function permalinkTarget(href) {
  const m = /^https:\/\/[^/]+\.slack\.com\/archives\/([CGD][A-Z0-9]+)\/p(\d{10})(\d{6})(?:\?(.*))?$/.exec(
    href ?? '',
  );
  if (!m) return null;
  const thread = new URLSearchParams(m[4] ?? '').get('thread_ts');
  return { channel: m[1], ts: thread ?? `${m[2]}.${m[3]}` };
}

// ---- modals --------------------------------------------------------------------------------------

function openModal(view) {
  state.modal = view;
  const dialog = $('#modal');
  $('#modal-title').replaceChildren(
    ...textObject(view.title ?? { type: 'plain_text', text: 'Ferry' }, mrkdwnContext()),
  );
  $('#modal-blocks').replaceChildren(renderBlocks(view.blocks, { ...mrkdwnContext(), form: true }));
  $('#modal-submit').textContent = view.submit?.text ?? 'Submit';
  $('#modal-submit').hidden = !view.submit;
  $('#modal-close').textContent = view.close?.text ?? (view.submit ? 'Cancel' : 'Close');
  $('#modal-error').hidden = true;
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector('.input-field');
  first?.focus();
}

function closeModal() {
  state.modal = null;
  const dialog = $('#modal');
  if (dialog?.open) dialog.close();
}

async function submitModal() {
  const view = state.modal;
  if (!view) return;
  const root = $('#modal-blocks');
  // Slack itself refuses to send a modal with a required field empty.
  const missing = {};
  for (const field of root.querySelectorAll('.input-field')) {
    const block = view.blocks.find((b) => b.block_id === field.dataset.blockId);
    if (!block?.optional && field.value.trim() === '')
      missing[field.dataset.blockId] = 'Please complete this required field.';
  }
  showInputErrors(root, missing);
  if (Object.keys(missing).length > 0) return;
  const submit = $('#modal-submit');
  submit.disabled = true;
  try {
    const result = await post('/sandbox/view', {
      user: state.user,
      view_id: view.id,
      values: formValues(root),
    });
    if (!result.ok) {
      $('#modal-error').textContent = result.error;
      $('#modal-error').hidden = false;
    } else if (result.action === 'errors') showInputErrors(root, result.errors);
    else if (result.action === 'update' && result.view) openModal(result.view);
    else closeModal();
  } catch (error) {
    $('#modal-error').textContent = error.message;
    $('#modal-error').hidden = false;
  } finally {
    submit.disabled = false;
  }
}

// ---- right: faults and systems -----------------------------------------------------------------------

function renderFaults() {
  const list = $('#faults');
  list.replaceChildren(
    ...state.faults.map((f) => {
      const toggle = el('button', `btn ${f.armed ? 'btn-danger' : ''}`, [f.armed ? 'Disarm' : 'Arm']);
      toggle.type = 'button';
      toggle.setAttribute('aria-label', `${f.armed ? 'Disarm' : 'Arm'} ${f.label}`);
      let count = null;
      if (f.name === 'route53-throttling') {
        count = el('input', 'fault-count');
        count.type = 'number';
        count.min = '1';
        count.max = '100';
        count.value = String(f.armed ? f.remaining : 8);
        count.disabled = f.armed;
        count.setAttribute('aria-label', 'Route 53 calls to throttle');
      }
      toggle.addEventListener('click', async () => {
        try {
          await post('/sandbox/faults', {
            name: f.name,
            armed: !f.armed,
            ...(count && !f.armed ? { count: Number(count.value) || 8 } : {}),
          });
        } catch (error) {
          toast(error.message);
        }
      });
      const status = f.armed
        ? el('span', 'badge badge-armed', [
            f.name === 'route53-throttling' ? `ARMED · ${f.remaining} left` : 'ARMED',
          ])
        : el('span', 'badge', ['off']);
      const card = el('div', `fault${f.armed ? ' armed' : ''}`, [
        el('div', 'fault-head', [el('span', 'fault-label', [f.label]), status]),
        el('div', 'fault-description', [f.description]),
        el('div', 'fault-controls', [
          count ? el('label', 'fault-count-label', ['calls ', count]) : null,
          toggle,
        ]),
      ]);
      card.dataset.fault = f.name;
      card.setAttribute('aria-label', `${f.label}: ${f.armed ? 'armed' : 'off'}`);
      return card;
    }),
  );
}

function row(label, value, className = '') {
  return el('div', `sys-row ${className}`, [
    el('span', 'sys-label', textNodes(label)),
    el('span', 'sys-value', textNodes(value)),
  ]);
}

/** A row whose label and value are long names (a DNS record and its target): one above the other. */
function stackedRow(label, value, className = '') {
  return el('div', `sys-row sys-stacked ${className}`, [
    el('span', 'sys-label', textNodes(label)),
    el('span', 'sys-value', textNodes(value)),
  ]);
}

const armed = (name) => state.faults.some((f) => f.name === name && f.armed);

function renderWorld() {
  const list = $('#systems');
  list.replaceChildren(
    ...state.world.map((app) => {
      const sk = app.sidekiq;
      const dns = app.dns.value === null ? 'no record' : app.dns.value.replace(/\.$/, '');
      const formation = Object.entries(app.formation)
        .map(([t, n]) => `${t} ${n}`)
        .join(' · ');
      const platform =
        app.dns.pointsAt === 'new' ? 'new platform' : app.dns.pointsAt === 'old' ? 'Heroku' : 'elsewhere';
      const rows = [
        row('Maintenance', app.maintenance ? 'ON' : 'off', app.maintenance ? 'warn' : ''),
        stackedRow(
          `DNS ${app.dns.record.replace(/\.$/, '')}`,
          `→ ${dns} (${platform})`,
          app.dns.pointsAt === 'new' ? 'good' : '',
        ),
        row('Heroku dynos', formation || 'none'),
        row(
          'New platform /healthz',
          // Said as the fault it is: a rollback does not disarm the faults panel.
          app.health === 'ok'
            ? '200 ok'
            : app.health === 'erring'
              ? `1 in 4 answer 503${armed('error-rate') ? ' (fault armed)' : ''}`
              : armed('health-check')
                ? '500 failing (fault armed)'
                : '500 failing',
          app.health === 'ok' ? '' : 'bad',
        ),
        row(
          '5xx, last minute',
          `${Math.round((app.errorRatio ?? 0) * 1000) / 10}%`,
          (app.errorRatio ?? 0) > 0.01 ? 'bad' : '',
        ),
      ];
      if (sk) {
        const queues = Object.entries(sk.queues)
          .map(([q, n]) => `${q} ${n}`)
          .join(', ');
        rows.push(
          row(
            'Old Sidekiq',
            `${sk.enqueued} queued · ${sk.busy} busy · ${sk.scheduled} scheduled`,
            sk.enqueued + sk.busy + sk.scheduled === 0 ? 'good' : '',
          ),
          row('Queues', queues || 'empty'),
          row(
            'Workers',
            `${sk.processes} process${sk.processes === 1 ? '' : 'es'}${sk.quiet ? ` (${sk.quiet} quiet)` : ''}`,
          ),
          row('Cron jobs', `${sk.cronsEnabled} of ${sk.cronsTotal} enabled`),
          row('Webhooks', sk.webhooksPaused ? 'paused' : 'flowing', sk.webhooksPaused ? 'warn' : ''),
        );
      } else {
        rows.push(row('Old Sidekiq', 'no Redis', 'bad'));
      }
      const card = el('section', 'system', [
        el('h4', '', textNodes(`${app.environment} · ${app.app}`)),
        ...rows,
      ]);
      if (app.dns.pointsAt === 'new') {
        // What a second run here meets: a cutover with nothing to change, and nothing for a
        // rollback to take back beyond what that run itself did.
        card.append(
          el('p', 'sys-note', [
            `Already migrated: a new run in ${app.environment} finds the DNS record set and the old workers stopped, and its rollback restores this. `,
            el('strong', '', ['Reset the world']),
            ' to rehearse from the start.',
          ]),
        );
      }
      card.dataset.app = app.app;
      return card;
    }),
  );
}

function renderReset() {
  const button = $('#reset');
  button.hidden = !state.canReset;
  button.disabled = state.resetting;
  button.textContent = state.resetting ? 'Resetting…' : 'Reset the world';
  const banner = $('#reset-banner');
  banner.hidden = !state.resetting;
  banner.textContent = state.resetting
    ? 'Resetting the world: Ferry starts over with an empty database, and the fakes and Redis are seeded afresh. The page follows in a few seconds.'
    : '';
}

async function resetWorld() {
  const ok = await confirmDialog({
    title: { type: 'plain_text', text: 'Reset the world?' },
    text: {
      type: 'mrkdwn',
      text:
        'Ferry stops and starts again as `npm start` would: every run, lock and Slack message goes, ' +
        'DNS, Heroku, the maintenance pages and Redis go back to the old platform, and every fault is disarmed.',
    },
    confirm: { type: 'plain_text', text: 'Reset the world' },
    deny: { type: 'plain_text', text: 'Cancel' },
    style: 'danger',
  });
  if (!ok) return;
  try {
    await post('/sandbox/reset', {});
    state.resetting = true;
    renderReset();
  } catch (error) {
    toast(error.message);
  }
}

function renderRedis() {
  const banner = $('#redis-banner');
  const redis = state.redis;
  if (!redis || redis.state === 'ready') {
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
  banner.textContent = redis.state === 'connecting' ? redis.message : `⚠️ ${redis.message}`;
}

function setConnection(status) {
  const node = $('#connection');
  node.textContent =
    status === 'live' ? '● live' : status === 'connecting' ? '○ connecting…' : '○ reconnecting…';
  node.className = `connection ${status}`;
}

function renderAll() {
  renderReset();
  renderPeople();
  renderPane();
  renderHome();
  renderChannels();
  renderComposer();
  renderFaults();
  renderWorld();
  renderRedis();
  renderMessages();
}

// ---- start -------------------------------------------------------------------------------------------

/**
 * Whether this machine draws emoji in colour. Without an emoji font (a bare Linux, a container)
 * Chromium draws an empty box for ✅ or ❌; the page then shows each emoji's fallback glyph instead.
 */
function hasEmojiFont() {
  const canvas = document.createElement('canvas');
  canvas.width = 32;
  canvas.height = 32;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) return true;
  ctx.textBaseline = 'top';
  ctx.font = '24px sans-serif';
  ctx.fillStyle = '#000';
  ctx.fillText('✅', 2, 2);
  const { data } = ctx.getImageData(0, 0, 32, 32);
  // Black text (or a black box) has r = g = b; a colour emoji does not.
  for (let i = 0; i < data.length; i += 4) {
    if (
      data[i + 3] > 0 &&
      Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 48
    )
      return true;
  }
  return false;
}

document.documentElement.classList.toggle('no-emoji-font', !hasEmojiFont());
$('#thread-close').addEventListener('click', closeThread);
$('#home-link').addEventListener('click', showHome);
$('#modal-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void submitModal();
});
for (const id of ['#modal-close', '#modal-x']) $(id).addEventListener('click', closeModal);
$('#modal').addEventListener('cancel', () => {
  state.modal = null;
});
// Permalinks open the message here (the Slack client does the same), not on slack.com.
document.addEventListener('click', (e) => {
  const link = e.target instanceof Element ? e.target.closest('a[href]') : null;
  const target = link ? permalinkTarget(link.href) : null;
  if (!target) return;
  e.preventDefault();
  showChannel(target.channel, target.ts);
});
$('#reset').addEventListener('click', () => void resetWorld());
trackScroll($('#messages'));
trackScroll($('#thread-messages'));
// A list keeps to its newest message when its own box changes: the thread pane opening narrows the
// channel, and the same messages then need more height.
const keepBottom = new ResizeObserver(keepNewest);
for (const target of [$('.layout'), $('#messages'), $('#thread-messages')]) keepBottom.observe(target);
setInterval(() => refreshAgo(document), 30_000);
$('#composer').addEventListener('submit', (e) => {
  e.preventDefault();
  void send();
});
$('#composer-input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    void send();
  }
});
for (const chip of document.querySelectorAll('[data-fill]')) {
  chip.addEventListener('click', () => fillComposer(chip.dataset.fill));
}
connect();
