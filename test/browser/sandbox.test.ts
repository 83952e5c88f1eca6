import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startFerry, type RunningFerry } from '../../src/ferry.ts';

// The sandbox as a new user meets it: Ferry in local mode (embedded PGlite, the example plan), the
// console in real Chromium, walked in the order of the console's own guide. Alice starts a
// migration, Mallory is refused, Alice adds a note through its modal, Bob approves, ends the watch
// and passes the point of no return; the Home tab shows the campaign and a report's files show by name. Then Reset the world, a second
// run with a failing health check armed, and a rollback (through its confirm dialog) that undoes it.
// Last, production: four eyes refuse Alice's own approval, and an incident holds the run until Bob
// presses Go on. Screenshots go to test-results/sandbox/; with FERRY_UPDATE_SCREENSHOTS=1 also to
// docs/screenshots/ (the README's and docs/sandbox.md's).

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = [path.join(ROOT, 'test-results', 'sandbox')];
if (process.env.FERRY_UPDATE_SCREENSHOTS === '1') SHOTS.push(path.join(ROOT, 'docs', 'screenshots'));
const STEP_TIMEOUT = 30_000;
/** The page changes as Ferry's edits arrive (rate-limited, as Slack's): poll as long as a step may take. */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: STEP_TIMEOUT });

let ferry: RunningFerry;
let consoleToken: string;
let browser: Browser;
let page: Page;
let dataDir: string;

/**
 * A screenshot; `systems` first scrolls the right panel to the Systems it changes (below the faults).
 * By its heading: the cards under it are redrawn twice a second, so a handle to one goes stale.
 */
async function shot(name: string, options: { systems?: boolean } = {}): Promise<void> {
  if (options.systems) {
    await page.locator('#systems-heading').evaluate((heading) => heading.scrollIntoView({ block: 'start' }));
  }
  for (const dir of SHOTS) {
    await mkdir(dir, { recursive: true });
    await page.screenshot({ path: path.join(dir, name) });
  }
}

/** The run's status message in the channel (the thread pane shows it again above its replies). */
function statusMessage(run = 'r1'): Locator {
  return page
    .locator('#messages article.message:not(.ephemeral)')
    .filter({ hasText: `billing · staging · ${run}` });
}

/** A run's status message in any environment. */
function runMessage(environment: string, run: string): Locator {
  return page
    .locator('#messages article.message:not(.ephemeral)')
    .filter({ hasText: `billing · ${environment} · ${run}` });
}

/** Replies in the thread pane, which follows the newest run's thread. */
function replies(): Locator {
  return page.locator('#thread-messages article.message.reply');
}

/** Waits until the thread pane shows the thread of that run's status message (exactly). */
async function threadTitled(title: string): Promise<void> {
  await page
    .locator('#thread-title')
    .filter({ hasText: new RegExp(`^${title}$`) })
    .waitFor();
}

function ephemeral(text: string): Locator {
  return page.locator('article.message.ephemeral').filter({ hasText: text });
}

function approvalRequest(): Locator {
  return replies().filter({ hasText: 'needs approval' });
}

async function actAs(name: 'Alice' | 'Bob' | 'Mallory'): Promise<void> {
  await page.getByRole('radio', { name: `Act as ${name}` }).click();
  await poll(() => page.getByRole('radio', { name: `Act as ${name}` }).getAttribute('aria-checked')).toBe(
    'true',
  );
  await page.locator('#connection.live').waitFor();
}

async function type(text: string): Promise<void> {
  const input = page.getByRole('textbox', { name: 'Message #migrations' });
  await input.fill(text);
  await input.press('Enter');
}

describe('the sandbox console in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: the console's browser test needs Debian's chromium package ` +
          '(apt-get install chromium; .ci/run installs it).',
      );
    }
    dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-sandbox-browser-'));
    const config = loadConfig({
      PORT: '0',
      FERRY_DATA_DIR: dataDir,
      FERRY_PLANS: path.join(ROOT, 'examples', 'plans'),
      FERRY_POLL_INTERVAL_MS: '250',
      FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '300',
      LOG_LEVEL: 'silent',
    });
    expect(config.mode).toBe('local');
    consoleToken = config.consoleToken;
    // Every interface, as in the Docker image, so the console asks for the token Ferry prints.
    ferry = await startFerry(config, {
      log: pino({ level: process.env.FERRY_TEST_LOG ?? 'silent' }),
      host: '0.0.0.0',
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(STEP_TIMEOUT);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await ferry?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('asks for the token Ferry printed, and opens with it, leaving it out of the address bar', async () => {
    const refused = await page.goto(ferry.url);
    expect(refused?.status()).toBe(401);
    expect(await page.locator('body').textContent()).toContain('Open the address Ferry printed at start');
    await page.goto(`${ferry.url}/?token=${consoleToken}`);
    expect(page.url()).toBe(`${ferry.url}/`);
    // The cookie carries it from here: the event stream and the console's own calls.
    await page.locator('#connection.live').waitFor();
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name.startsWith('ferry_console_'))).toMatchObject({
      httpOnly: true,
      sameSite: 'Strict',
    });
  });

  it('opens on #migrations as Alice, with Reset the world, the faults panel and the systems the plan changes', async () => {
    await page.goto(ferry.url);
    await page.locator('#connection.live').waitFor();
    await poll(() => page.getByRole('radio', { name: 'Act as Alice' }).getAttribute('aria-checked')).toBe(
      'true',
    );
    await poll(() => page.locator('#channel-name').textContent()).toBe('# migrations');
    await page.getByRole('button', { name: 'Reset the world' }).waitFor();
    await page.locator('[data-fault="health-check"]').filter({ hasText: 'off' }).waitFor();
    const staging = page.locator('.system[data-app="billing-staging"]');
    await staging.filter({ hasText: 'billing-staging.herokudns.com' }).waitFor();
    await staging.filter({ hasText: 'Old Sidekiq' }).waitFor();
    expect(await staging.textContent()).toContain('Maintenance');
    // The guide's steps in the order they work: Mallory is refused before Bob approves, and the
    // second rehearsal starts from a world Reset.
    const guide = (await page.locator('.guide').textContent()) ?? '';
    expect(guide.indexOf('As Mallory')).toBeGreaterThan(-1);
    expect(guide.indexOf('As Mallory')).toBeLessThan(guide.indexOf('As Bob'));
    expect(guide.indexOf('As Bob')).toBeLessThan(guide.indexOf('Reset the world'));
  });

  it('renders mrkdwn and Block Kit as Slack shows them, and never turns message text into markup', async () => {
    // A string, so the test runner does not rewrite the browser's own import().
    await page.evaluate(
      "Promise.all([import('/sandbox/assets/mrkdwn.js'), import('/sandbox/assets/blocks.js')])" +
        '.then(([m, b]) => { window.sandboxModules = { ...m, ...b }; })',
    );
    const rendered = await page.evaluate(() => {
      type ToNodes = (text: string, ctx: object) => Node[];
      type Render = (blocks: unknown[], ctx: object) => HTMLElement;
      const { mrkdwnToNodes, renderBlocks } = (
        window as unknown as { sandboxModules: { mrkdwnToNodes: ToNodes; renderBlocks: Render } }
      ).sandboxModules;
      const ctx = {
        me: 'U02BOB',
        userName: (id: string) => ({ U02BOB: 'Bob', U01ALICE: 'Alice' })[id],
        groupName: (id: string) => ({ S0PLATFORM: 'platform' })[id],
      };
      const render = (text: string) => {
        const div = document.createElement('div');
        div.append(...mrkdwnToNodes(text, ctx));
        return { html: div.innerHTML, text: div.textContent, img: div.querySelector('img') !== null };
      };
      const blocks = renderBlocks(
        [
          { type: 'header', text: { type: 'plain_text', text: 'Cutover :rocket:' } },
          { type: 'divider' },
          {
            type: 'section',
            fields: [
              { type: 'mrkdwn', text: '*Env*' },
              { type: 'plain_text', text: 'staging' },
            ],
          },
          {
            type: 'rich_text',
            elements: [
              {
                type: 'rich_text_section',
                elements: [
                  { type: 'text', text: 'asked ', style: { italic: true } },
                  { type: 'user', user_id: 'U01ALICE' },
                  { type: 'text', text: ' x', style: { code: true } },
                ],
              },
              {
                type: 'rich_text_list',
                style: 'ordered',
                elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text: 'first' }] }],
              },
            ],
          },
          { type: 'video', title: { type: 'plain_text', text: 'x' } },
        ],
        ctx,
      );
      return {
        formatting: render('*bold* and _italic_ and ~gone~ and `code`'),
        escapes: render('a &lt;b&gt; &amp; c -&gt; d'),
        mentions: render(
          '<@U02BOB> and <@U01ALICE> and <!subteam^S0PLATFORM> and <!subteam^S9OPS|@ops> in <#C0X|migrations>',
        ),
        links: render('<https://example.com/runbook|the runbook> and <javascript:alert(1)|this>'),
        lines: render('one\ntwo\n> quoted\nafter\n```\nselect 1;\n```'),
        words: render('snake_case_name, 2*3*4 and *not bold*x'),
        markup: render('<img src=x onerror=alert(1)> <b>not bold</b>'),
        date: render('since <!date^1796477937^{date_num} {time}|2026-12-05 13:38 UTC>'),
        glyphs: render('✅ done, 👁 seen'),
        names: render(
          'scaled billing-staging worker 2 -> 0; GET http://127.0.0.1:3310/fake/new-platform/billing-staging/healthz',
        ),
        blocks: { html: blocks.innerHTML, text: blocks.textContent },
      };
    });
    expect(rendered.formatting.html).toBe(
      '<strong>bold</strong> and <em>italic</em> and <s>gone</s> and <code class="md-code">code</code>',
    );
    expect(rendered.escapes.text).toBe('a <b> & c -> d');
    expect(rendered.mentions.text).toBe('@Bob and @Alice and @platform and @ops in #migrations');
    expect(rendered.mentions.html).toContain('<span class="mention mention-me">@Bob</span>');
    expect(rendered.links.html).toContain(
      '<a class="md-link" href="https://example.com/runbook" target="_blank" rel="noopener noreferrer">the runbook</a>',
    );
    expect(rendered.links.html).not.toContain('javascript:');
    expect(rendered.lines.html).toBe(
      'one<br>two<blockquote class="md-quote">quoted</blockquote>after<pre class="md-pre">select 1;</pre>',
    );
    expect(rendered.words.html).toBe('snake_case_name, 2*3*4 and *not bold*x');
    expect(rendered.date.text).toMatch(/^since 2026-12-0[56] \d{1,2}:\d{2}/);
    expect(rendered.date.html).toContain('<time class="md-date" datetime="2026-12-05T13:38:57.000Z"');
    expect(rendered.date.html).toContain('title="2026-12-05 13:38 UTC"');
    expect(rendered.glyphs.html).toContain('<span class="emoji emoji-good" data-fallback="✔">✅</span>');
    expect(rendered.glyphs.html).toContain('<span class="emoji emoji-muted" data-fallback="◉">👁</span>');
    expect(rendered.names.html).toContain('<span class="nobreak">billing-staging</span>');
    expect(rendered.names.html).toContain('<span class="nobreak">-&gt;</span>');
    // A URL wraps after a slash, never inside the IP address and port.
    expect(rendered.names.html).toContain('<span class="name-part">127.0.0.1:3310/</span>');
    expect(rendered.markup.img).toBe(false);
    expect(rendered.markup.text).toBe('img src=x onerror=alert(1) bnot bold/b');
    expect(rendered.blocks.text).toContain('Cutover 🚀');
    expect(rendered.blocks.html).toContain('<hr class="block block-divider">');
    expect(rendered.blocks.html).toContain('<div class="section-field"><strong>Env</strong></div>');
    expect(rendered.blocks.text).toContain('asked @Alice x');
    expect(rendered.blocks.html).toContain('<ol class="rt-list rt-indent-0"><li>');
    expect(rendered.blocks.text).toContain('[video block: not shown in the sandbox]');
  });

  it('formats Slack date tokens for the reader, and draws a fallback glyph where no emoji font exists', async () => {
    const formatted = await page.evaluate(() => {
      type Format = (s: number, f: string, o: object) => string;
      const { formatSlackDate } = (window as unknown as { sandboxModules: { formatSlackDate: Format } })
        .sandboxModules;
      const at = 1796477937; // Saturday 2026-12-05T13:38:57Z
      const options = { timeZone: 'UTC', locale: 'en-US', now: at * 1000 + 120_000 };
      return {
        short: formatSlackDate(at, '{date_short} {time}', options),
        long: formatSlackDate(at, '{date_long}', options),
        pretty: formatSlackDate(at, '{date_short_pretty} at {time_secs}', options),
        ago: formatSlackDate(at, '{ago}', options),
        unknown: formatSlackDate(at, '{nope} {date_num}', options),
      };
    });
    expect(formatted).toEqual({
      short: 'Dec 5, 2026 1:38 PM',
      long: 'Saturday, December 5th, 2026',
      pretty: 'today at 1:38:57 PM',
      ago: '2 minutes ago',
      unknown: '{nope} 2026-12-05',
    });
    // Where the machine has no emoji font, the emoji's fallback is what shows; elsewhere the emoji.
    const glyph = await page.evaluate(() => {
      const span = document.createElement('span');
      span.className = 'emoji emoji-good';
      span.dataset.fallback = '✔';
      span.textContent = '✅';
      document.body.append(span);
      const shown = getComputedStyle(span, '::before').content;
      span.remove();
      return { shown, noEmojiFont: document.documentElement.classList.contains('no-emoji-font') };
    });
    expect(glyph.shown).toBe(glyph.noEmojiFont ? '"✔"' : 'none');
  });

  it('starts a run from /migrate typed as Alice; her confirmation is hers alone, and the thread pane follows her run', async () => {
    await type('/migrate start billing staging');
    await statusMessage().waitFor();
    const started = ephemeral('Started r1: billing staging');
    await started.waitFor();
    expect(await started.textContent()).toContain('Only visible to you');
    await threadTitled('billing · staging · r1');
  });

  it('asks for approval in the thread, with mentions shown as names, escapes decoded and times as date tokens', async () => {
    const request = approvalRequest();
    await request.getByRole('button', { name: 'Approve' }).waitFor();
    const text = (await request.textContent()) ?? '';
    expect(text).toContain('cutover needs approval (billing staging, started by @Alice)');
    expect(text).toContain('billing-staging.herokudns.com -> billing-staging.eu-central.example.net');
    expect(text).toContain('Approvers: @Bob, @Alice or @platform');
    expect(text).not.toMatch(/&gt;|<@U|subteam|<!date/);
    await request.getByRole('button', { name: 'Reject' }).waitFor();
    // The status message is edited in place as the run moves (rate-limited, so it may lag a moment).
    const status = statusMessage().filter({ hasText: 'waiting for approval from @Bob, @Alice or @platform' });
    await status.waitFor();
    // "Started by @Alice at 1:38 PM": Ferry sends a date token, the page shows the reader's time.
    const time = status.locator('time.md-date').first();
    expect(await time.getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await time.textContent()).toMatch(/\d{1,2}:\d{2}/);
    await page.locator('.system[data-app="billing-staging"]').filter({ hasText: 'MaintenanceON' }).waitFor();
    // Host names, keys and hyphenated step ids wrap between their parts, never inside one.
    const broken = await page.evaluate(() =>
      [...document.querySelectorAll('#messages .name-part, #messages .nobreak, #thread-messages .name-part')]
        .filter((node) => node.getClientRects().length > 1)
        .map((node) => node.textContent),
    );
    expect(broken).toEqual([]);
    expect(await page.locator('#messages .long-name').count()).toBeGreaterThan(0);
    await shot('sandbox-approval.png');
  });

  it('refuses Mallory, and only Mallory sees why', async () => {
    await actAs('Mallory');
    await approvalRequest().getByRole('button', { name: 'Approve' }).waitFor();
    expect(await ephemeral('Started r1').count()).toBe(0);
    // Mentions are drawn for whoever reads them: Alice's own mention is no longer hers to see.
    expect(await page.locator('.mention-me').filter({ hasText: '@Alice' }).count()).toBe(0);
    await approvalRequest().getByRole('button', { name: 'Approve' }).click();
    const refusal = ephemeral('You are not an approver for billing staging');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('Ask @Bob, @Alice or @platform');
    await replies().filter({ hasText: 'refused by @Mallory' }).first().waitFor();

    await actAs('Alice');
    await ephemeral('Started r1').waitFor();
    expect(await ephemeral('not an approver').count()).toBe(0);
    // Still waiting: the refusal changed nothing.
    await approvalRequest().getByRole('button', { name: 'Approve' }).waitFor();
  });

  it("adds Alice's note through the Add note modal, which asks for the text first", async () => {
    await statusMessage().getByRole('button', { name: 'Add note' }).click();
    const modal = page.getByRole('dialog', { name: 'Add a note' });
    await modal.waitFor();
    expect(await modal.textContent()).toContain("To r1's timeline (billing staging)");
    await modal.getByRole('button', { name: 'Add note' }).click();
    await modal.getByText('Please complete this required field.').waitFor();
    await modal.getByRole('textbox', { name: 'Note' }).fill('Paged the on-call DBA: replication lag is 2 s.');
    await shot('sandbox-note.png');
    await modal.getByRole('button', { name: 'Add note' }).click();
    await modal.waitFor({ state: 'hidden' });
    await replies()
      .filter({ hasText: 'note by @Alice: Paged the on-call DBA: replication lag is 2 s.' })
      .waitFor();
  });

  it('lets Bob approve; after the cutover, Looks good ends the watch and Done passes the point of no return', async () => {
    await actAs('Bob');
    const ts = await approvalRequest().getAttribute('data-ts');
    await approvalRequest().getByRole('button', { name: 'Approve' }).click();
    // The request is edited in place: its buttons give way to who decided.
    const decided = page.locator(`#thread-messages article.message[data-ts="${ts}"]`);
    await decided.filter({ hasText: '✅ Approved by @Bob at' }).waitFor();
    expect(await decided.getByRole('button').count()).toBe(0);
    await page
      .locator('.system[data-app="billing-staging"]')
      .filter({ hasText: 'billing-staging.eu-central.example.net' })
      .waitFor();

    // The old workers drain (10 to 20 s), their dynos stop, then Ferry watches the new platform.
    const status = statusMessage();
    await status.getByRole('button', { name: 'Looks good' }).waitFor({ timeout: 90_000 });
    await status.getByRole('button', { name: 'Looks good' }).click();
    // Crons, webhooks and traffic come back; then the one step that cannot be undone waits for Done.
    // The watch's live line spends edits too, but never the ones a change needs.
    await status.filter({ hasText: 'point of no return' }).getByRole('button', { name: 'Done' }).waitFor();
    await status.getByRole('button', { name: 'Done' }).click();
    await status.filter({ hasText: /All \d+ steps done/ }).waitFor();
    const staging = page.locator('.system[data-app="billing-staging"]');
    await poll(async () => (await staging.textContent()) ?? '').toContain('Maintenanceoff');
    // A second run here would find everything already done: the panel says so, and how to start over.
    await staging.filter({ hasText: 'Already migrated' }).filter({ hasText: 'Reset the world' }).waitFor();
  }, 240_000);

  it('shows the campaign in the App Home tab, whose run id opens the run in the channel', async () => {
    await page.getByRole('button', { name: 'Ferry · Home' }).click();
    const home = page.locator('#home');
    await home.filter({ hasText: 'Migrations: services × environments' }).waitFor();
    await home.filter({ hasText: 'r1 succeeded' }).waitFor();
    expect(await home.textContent()).toMatch(/production\s*▫️ no run yet/);
    expect(await page.locator('#composer').isVisible()).toBe(false);
    await shot('sandbox-home.png');
    await home.getByRole('link', { name: 'r1', exact: true }).click();
    await poll(() => page.locator('#channel-name').textContent()).toBe('# migrations');
    await threadTitled('billing · staging · r1');
    expect(page.url()).toBe(`${ferry.url}/`);
  });

  it("jumps to the answer of the person's own command, and shows a report's files by name", async () => {
    await type('/migrate help');
    await ephemeral('/migrate start').first().waitFor();
    const list = page.locator('#messages');
    // Long enough to scroll: the run's status message and the help.
    expect(await list.evaluate((node) => node.scrollHeight > node.clientHeight + 200)).toBe(true);
    await list.evaluate((node) => {
      node.scrollTop = 0;
      node.dispatchEvent(new Event('scroll'));
    });
    await type('/migrate report r1');
    const answer = ephemeral('Report r1');
    await answer.waitFor();
    await poll(() => answer.isVisible()).toBe(true);
    await poll(() =>
      list.evaluate((node) => node.scrollHeight - node.scrollTop - node.clientHeight),
    ).toBeLessThan(40);
    const files = page.locator('#thread-messages [data-file]');
    await poll(() => files.evaluateAll((nodes) => nodes.map((n) => (n as HTMLElement).dataset.file))).toEqual(
      expect.arrayContaining(['ferry-r1-report.md', 'ferry-r1-report.json']),
    );
    await page.locator('#thread-messages').getByRole('link', { name: 'ferry-r1-report.md' }).waitFor();
  });

  it('resets the world: an empty channel, every system back on the old platform, no fault armed', async () => {
    await page.getByRole('button', { name: 'Arm Slow drain' }).click();
    await page.locator('[data-fault="slow-drain"]').filter({ hasText: 'ARMED' }).waitFor();
    await page.getByRole('button', { name: 'Reset the world' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reset the world?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Reset the world' }).click();
    await page.locator('.welcome').filter({ hasText: 'Welcome to the Ferry sandbox' }).waitFor();
    await page.locator('#connection.live').waitFor();
    expect(await page.locator('#messages article.message').count()).toBe(0);
    const staging = page.locator('.system[data-app="billing-staging"]');
    await staging.filter({ hasText: 'billing-staging.herokudns.com (Heroku)' }).waitFor();
    expect(await staging.textContent()).not.toContain('Already migrated');
    await page.locator('[data-fault="slow-drain"]').filter({ hasText: 'off' }).waitFor();
    await page.getByRole('button', { name: 'Reset the world' }).waitFor();
  }, 90_000);

  it('starts again; with a failing health check armed, the step after the cutover stops the run with Retry, Skip and Roll back', async () => {
    await actAs('Alice');
    await type('/migrate start billing staging');
    await approvalRequest().getByRole('button', { name: 'Approve' }).waitFor();
    await page.getByRole('button', { name: 'Arm Failing health check' }).click();
    const fault = page.locator('[data-fault="health-check"]');
    await fault.filter({ hasText: 'ARMED' }).waitFor();
    await page.getByRole('button', { name: 'Disarm Failing health check' }).waitFor();
    await page.locator('.system[data-app="billing-staging"]').filter({ hasText: '500 failing' }).waitFor();

    await actAs('Bob');
    await approvalRequest().getByRole('button', { name: 'Approve' }).click();
    const status = statusMessage();
    await status.filter({ hasText: 'verify-cutover failed' }).waitFor();
    for (const name of ['Retry', 'Skip', 'Roll back']) await status.getByRole('button', { name }).waitFor();
    const text = (await status.textContent()) ?? '';
    expect(text).toContain('500');
    expect(text).toContain('✅ cutover');
    await page
      .locator('.system[data-app="billing-staging"]')
      .filter({ hasText: 'billing-staging.eu-central.example.net' })
      .waitFor();
    await shot('sandbox-failure.png', { systems: true });
  });

  it('rolls back only after the confirm dialog, and every change is undone', async () => {
    const status = statusMessage();
    await status.getByRole('button', { name: 'Roll back' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('Roll back r1?');
    expect(await dialog.textContent()).toContain('will be undone, newest first');
    // Cancel sends nothing: the run is still failed, its buttons still there.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await status.textContent()).toContain('verify-cutover failed');

    await status.getByRole('button', { name: 'Roll back' }).click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await status.filter({ hasText: 'Rolled back: every change that went through was undone.' }).waitFor();
    await replies().filter({ hasText: 'rollback started by @Bob' }).first().waitFor();

    const staging = page.locator('.system[data-app="billing-staging"]');
    await staging.filter({ hasText: 'billing-staging.herokudns.com' }).waitFor();
    await poll(async () => (await staging.textContent()) ?? '').toContain('Maintenanceoff');
    await poll(async () => (await staging.textContent()) ?? '').toContain('6 of 7 enabled');
    await poll(async () => (await staging.textContent()) ?? '').toContain('flowing');
    await poll(async () => (await staging.textContent()) ?? '').toContain('worker 2');
    await page.getByRole('button', { name: 'Disarm Failing health check' }).click();
    await page.locator('[data-fault="health-check"]').filter({ hasText: 'off' }).waitFor();
    await staging.filter({ hasText: '200 ok' }).waitFor();
    await shot('sandbox-rolled-back.png', { systems: true });
  });

  it("follows Alice's production run into the thread pane, and four eyes refuse her own approval", async () => {
    await actAs('Alice');
    // She reads the staging run's thread; her new run's thread takes its place when it starts.
    await statusMessage()
      .getByRole('button', { name: /Open the thread/ })
      .click();
    await threadTitled('billing · staging · r1');
    await type('/migrate start billing production');
    await threadTitled('billing · production · r2');
    await approvalRequest().getByRole('button', { name: 'Approve' }).click();
    const refusal = ephemeral('production needs four eyes');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain(
      'the person who started r2 cannot approve its steps. Ask @Bob or @platform.',
    );
    await replies().filter({ hasText: 'refused by @Alice: approve: four eyes' }).waitFor();
  });

  it('holds the run while an incident is open, until Bob presses Go on', async () => {
    await type('/migrate incident sev2 Error rate up on the new platform');
    await ephemeral('sev2 opened on r2').waitFor();
    const status = runMessage('production', 'r2');
    await status.filter({ hasText: 'sev2 open: Error rate up on the new platform' }).waitFor();

    await actAs('Bob');
    await approvalRequest().getByRole('button', { name: 'Approve' }).click();
    await ephemeral('r2 is held by sev2 "Error rate up on the new platform"').waitFor();
    const goOn = status.getByRole('button', { name: 'Go on despite the incident' });
    await goOn.waitFor();
    await shot('sandbox-incident.png');
    await goOn.click();
    const dialog = page.getByRole('dialog', { name: 'Go on with r2?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Go on' }).click();
    await replies()
      .filter({ hasText: 'went on despite sev2: Error rate up on the new platform by @Bob' })
      .waitFor();
    await goOn.waitFor({ state: 'detached' });
    await approvalRequest().getByRole('button', { name: 'Approve' }).click();
    await replies().filter({ hasText: 'cutover approved by @Bob' }).waitFor();
    // The incident stays open on the status message until someone resolves it.
    expect(await status.textContent()).toContain('sev2 open');
  });
});
