import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { WebClient } from '@slack/web-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { SLACK_EVENTS_PATH } from '../../src/http/server.ts';
import { CallbackId } from '../../src/slack/action-ids.ts';
import { usage, usageHint } from '../../src/slack/command-table.ts';

// manifest.yml against Slack's manifest limits (reference/slack.md §8) and against the code: the
// commands, listeners and Web API methods in src/ decide which scopes, events and URLs it may have.

const root = path.resolve(import.meta.dirname, '../..');

/** Bot scopes each Web API method needs. A method the code calls that is missing here fails a test. */
const scopesFor: Record<string, readonly string[]> = {
  'auth.test': [],
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'chat.delete': ['chat:write'],
  'chat.getPermalink': [],
  'files.uploadV2': ['files:write'],
  'files.getUploadURLExternal': ['files:write'],
  'files.completeUploadExternal': ['files:write'],
  'usergroups.users.list': ['usergroups:read'],
  'usergroups.list': ['usergroups:read'],
  'users.info': ['users:read'],
  'users.list': ['users:read'],
  'users.lookupByEmail': ['users:read', 'users:read.email'],
  'conversations.info': ['channels:read', 'groups:read'],
  'conversations.history': ['channels:history', 'groups:history'],
  'conversations.replies': ['channels:history', 'groups:history'],
  'conversations.open': ['im:write'],
  'reactions.add': ['reactions:write'],
  'reactions.get': ['reactions:read'],
  'pins.add': ['pins:write'],
  'views.open': [],
  'views.push': [],
  'views.update': [],
  'views.publish': [],
};

/** Bot scopes each Events API event needs to be delivered. */
const scopesForEvent: Record<string, readonly string[]> = {
  app_home_opened: [],
  app_mention: ['app_mentions:read'],
  reaction_added: ['reactions:read'],
  reaction_removed: ['reactions:read'],
};

const https = z.url({ protocol: /^https$/ });
const manifestSchema = z.strictObject({
  _metadata: z.strictObject({ major_version: z.int(), minor_version: z.int() }).optional(),
  display_information: z.strictObject({
    name: z.string().min(1).max(35),
    description: z.string().max(140).optional(),
    long_description: z.string().min(174).max(4000).optional(),
    background_color: z
      .string()
      .regex(/^#(?:[0-9a-fA-F]{3}){1,2}$/)
      .optional(),
  }),
  features: z.strictObject({
    app_home: z
      .strictObject({
        home_tab_enabled: z.boolean().optional(),
        messages_tab_enabled: z.boolean().optional(),
        messages_tab_read_only_enabled: z.boolean().optional(),
      })
      .optional(),
    bot_user: z.strictObject({
      display_name: z
        .string()
        .max(80)
        .regex(/^[a-z0-9._-]+$/),
      always_online: z.boolean().optional(),
    }),
    shortcuts: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          type: z.enum(['message', 'global']),
          callback_id: z.string().max(255),
          description: z.string().max(150),
        }),
      )
      .max(10)
      .optional(),
    slash_commands: z
      .array(
        z.strictObject({
          command: z
            .string()
            .max(32)
            .regex(/^\/[a-z0-9_-]+$/),
          url: https,
          description: z.string().min(1).max(2000),
          usage_hint: z.string().max(1000).optional(),
          should_escape: z.boolean().optional(),
        }),
      )
      .max(50),
  }),
  oauth_config: z.strictObject({
    scopes: z.strictObject({ bot: z.array(z.string()).max(255) }),
    redirect_urls: z.array(https).optional(),
  }),
  settings: z.strictObject({
    event_subscriptions: z
      .strictObject({ request_url: https, bot_events: z.array(z.string()).max(100).optional() })
      .optional(),
    interactivity: z.strictObject({
      is_enabled: z.boolean(),
      request_url: https.optional(),
      message_menu_options_url: https.optional(),
    }),
    org_deploy_enabled: z.boolean().optional(),
    socket_mode_enabled: z.boolean().optional(),
    token_rotation_enabled: z.boolean().optional(),
  }),
});
type Manifest = z.infer<typeof manifestSchema>;

interface CodeFacts {
  /** The Web API methods src/ calls, with the files that call them. */
  methods: Map<string, string[]>;
  commands: Set<string>;
  events: Set<string>;
  /** The callback ids of the shortcuts the code listens for. */
  shortcuts: Set<string>;
  interactive: boolean;
}

/** Every Web API method name the real WebClient knows, e.g. `usergroups.users.list`. */
function webApiMethods(): Set<string> {
  const found = new Set<string>();
  const walk = (value: unknown, at: string[]): void => {
    if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype)
      return;
    for (const [key, child] of Object.entries(value)) {
      if (typeof child === 'function') found.add([...at, key].join('.'));
      else if (at.length < 4) walk(child, [...at, key]);
    }
  };
  for (const [key, value] of Object.entries(new WebClient())) walk(value, [key]);
  return found;
}

/** Reads src/ (not the sandbox: it is Slack's stand-in and never calls Slack) for what Slack must allow. */
async function readCode(): Promise<CodeFacts> {
  const known = webApiMethods();
  const facts: CodeFacts = {
    methods: new Map(),
    commands: new Set(),
    events: new Set(),
    shortcuts: new Set(),
    interactive: false,
  };
  const files = (await readdir(path.join(root, 'src'), { recursive: true }))
    .filter((f) => f.endsWith('.ts') && !f.startsWith(`sandbox${path.sep}`))
    .map((f) => path.join('src', f));
  const calls = (method: string, file: string) =>
    facts.methods.set(method, [...(facts.methods.get(method) ?? []), file]);
  for (const file of files) {
    const code = await readFile(path.join(root, file), 'utf8');
    // `a.b.chat.postMessage(`: the longest dotted suffix that is a Web API method, so that
    // `client.usergroups.users.list(` counts as usergroups.users.list and not as users.list.
    for (const [chain] of code.matchAll(/[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+(?=\s*(?:<[^>]*>)?\()/g)) {
      const parts = chain.split('.');
      for (let i = 0; i < parts.length - 1; i++) {
        const candidate = parts.slice(i).join('.');
        if (known.has(candidate)) {
          calls(candidate, file);
          break;
        }
      }
    }
    for (const [, method] of code.matchAll(/apiCall\(\s*['"`]([\w.]+)['"`]/g)) calls(method!, file);
    // Bolt's say() is chat.postMessage; respond() posts to a response_url and needs no scope.
    if (/[{,]\s*say\s*[,}]/.test(code)) calls('chat.postMessage', file);
    for (const [, command] of code.matchAll(/\bapp\.command\(\s*['"]([^'"]+)['"]/g))
      facts.commands.add(command!);
    for (const [, event] of code.matchAll(/\bapp\.event\(\s*['"]([^'"]+)['"]/g)) facts.events.add(event!);
    if (/\bapp\.message\(/.test(code)) facts.events.add('message');
    // A shortcut names its callback id as a string or as one of the CallbackId constants.
    for (const [, constant, literal] of code.matchAll(
      /\bapp\.shortcut(?:<[^>]*>)?\(\s*(?:CallbackId\.(\w+)|['"]([^'"]+)['"])/g,
    ))
      facts.shortcuts.add(
        literal ?? CallbackId[constant as keyof typeof CallbackId] ?? `CallbackId.${constant}`,
      );
    if (/\bapp\.(?:action|view|shortcut|options)\b/.test(code)) facts.interactive = true;
  }
  return facts;
}

describe('manifest.yml', () => {
  let manifest: Manifest;
  let code: CodeFacts;

  beforeAll(async () => {
    const raw: unknown = parse(await readFile(path.join(root, 'manifest.yml'), 'utf8'));
    const parsed = manifestSchema.safeParse(raw);
    if (!parsed.success)
      throw new Error(`manifest.yml is not a valid manifest:\n${z.prettifyError(parsed.error)}`);
    manifest = parsed.data;
    code = await readCode();
  });

  it('fits the shape and limits of a Slack app manifest', () => {
    expect(manifest.display_information.name).toBe('Ferry');
    expect(manifest.display_information.name.length).toBeLessThanOrEqual(35);
    expect(manifest.display_information.description?.length ?? 0).toBeGreaterThan(0);
    expect(manifest.display_information.description!.length).toBeLessThanOrEqual(140);
    expect(new Set(manifest.oauth_config.scopes.bot).size).toBe(manifest.oauth_config.scopes.bot.length);
  });

  it('has a bot user called ferry that is always online', () => {
    expect(manifest.features.bot_user).toEqual({ display_name: 'ferry', always_online: true });
  });

  it('declares /migrate, exactly the slash commands the code registers', () => {
    expect(code.commands).toEqual(new Set(['/migrate']));
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual([...code.commands]);
    const migrate = manifest.features.slash_commands[0]!;
    expect(migrate.command).toBe('/migrate');
    expect(migrate.should_escape).toBe(false);
    expect(migrate.description.length).toBeLessThanOrEqual(2000);
    expect(migrate.usage_hint?.length ?? 0).toBeGreaterThan(0);
    expect(migrate.usage_hint!.length).toBeLessThanOrEqual(1000);
  });

  it('hints only at subcommands the /migrate parser knows', () => {
    const hinted = migrateHint(manifest)
      .split('|')
      .map((alternative) => alternative.trim().split(/\s+/)[0]!);
    expect(hinted).toContain('start');
    for (const sub of hinted) expect(Object.keys(usage), `usage_hint names "${sub}"`).toContain(sub);
  });

  it('hints at every subcommand, exactly as the command table writes them', () => {
    expect(migrateHint(manifest)).toBe(usageHint());
  });

  it('sends every request URL to /slack/events, the one path the HTTP receiver serves', () => {
    expect(SLACK_EVENTS_PATH).toBe('/slack/events');
    const urls = [
      ...manifest.features.slash_commands.map((c) => c.url),
      manifest.settings.interactivity.request_url,
      manifest.settings.event_subscriptions?.request_url,
    ].filter((u): u is string => u !== undefined);
    expect(urls.length).toBeGreaterThanOrEqual(2);
    for (const url of urls) {
      expect(url, url).toMatch(/^https:\/\//);
      expect(new URL(url).pathname, url).toBe(SLACK_EVENTS_PATH);
    }
    expect(new Set(urls.map((u) => new URL(u).host)).size).toBe(1);
  });

  it('turns interactivity on because the code listens for button clicks', () => {
    expect(code.interactive).toBe(true);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
  });

  it('subscribes to exactly the events the code handles', () => {
    expect([...(manifest.settings.event_subscriptions?.bot_events ?? [])].sort()).toEqual(
      [...code.events].sort(),
    );
  });

  it('declares exactly the message shortcuts the code listens for, by callback id', () => {
    expect(code.shortcuts).toEqual(new Set([CallbackId.addToTimeline]));
    const declared = manifest.features.shortcuts ?? [];
    expect(new Set(declared.map((s) => s.callback_id))).toEqual(code.shortcuts);
    // A message shortcut: the listener reads the message it was used on.
    for (const shortcut of declared) expect(shortcut.type).toBe('message');
  });

  it('turns the Home tab on because the code publishes it when someone opens it', () => {
    expect(code.events.has('app_home_opened')).toBe(true);
    expect(code.methods.has('views.publish')).toBe(true);
    expect(manifest.features.app_home?.home_tab_enabled).toBe(true);
  });

  it('has a scope for every Web API method the code calls', () => {
    expect([...code.methods.keys()]).toContain('chat.postMessage');
    for (const [method, files] of code.methods) {
      const scopes = scopesFor[method];
      expect(scopes, `${method} (called in ${files.join(', ')}) needs an entry in scopesFor`).toBeDefined();
      for (const scope of scopes!) {
        expect(manifest.oauth_config.scopes.bot, `${method} needs the ${scope} scope`).toContain(scope);
      }
    }
  });

  it('asks for no scope the code does not need', () => {
    const needed = new Set<string>();
    if (code.commands.size > 0) needed.add('commands');
    for (const method of code.methods.keys()) for (const scope of scopesFor[method] ?? []) needed.add(scope);
    for (const event of code.events) {
      const scopes = scopesForEvent[event];
      expect(scopes, `the ${event} event needs an entry in scopesForEvent`).toBeDefined();
      for (const scope of scopes!) needed.add(scope);
    }
    // Status messages go to the plan's channel, which the bot may not have been invited to.
    if (code.methods.has('chat.postMessage')) needed.add('chat:write.public');
    for (const scope of manifest.oauth_config.scopes.bot) {
      expect(needed, `the ${scope} scope is not used by any code in src/`).toContain(scope);
    }
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...needed].sort());
  });

  it('is in Socket Mode with a bot token that does not rotate', () => {
    expect(manifest.settings.socket_mode_enabled).toBe(true);
    expect(manifest.settings.token_rotation_enabled).toBe(false);
  });
});

function migrateHint(manifest: Manifest): string {
  return manifest.features.slash_commands.find((c) => c.command === '/migrate')?.usage_hint ?? '';
}
