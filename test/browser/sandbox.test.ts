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
// console in real Chromium. Alice starts a migration, Mallory is refused, a fault is armed, Bob
// approves, the step after the cutover fails, and a rollback (through its confirm dialog) undoes it.
// Screenshots go to test-results/sandbox/; with FERRY_UPDATE_SCREENSHOTS=1 also to docs/screenshots/.

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = [path.join(ROOT, 'test-results', 'sandbox')];
if (process.env.FERRY_UPDATE_SCREENSHOTS === '1') SHOTS.push(path.join(ROOT, 'docs', 'screenshots'));
const STEP_TIMEOUT = 30_000;

let ferry: RunningFerry;
let consoleToken: string;
let browser: Browser;
let page: Page;
let dataDir: string;

async function shot(name: string): Promise<void> {
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

/** Replies in the thread pane, which follows the newest run's thread. */
function replies(): Locator {
  return page.locator('#thread-messages article.message.reply');
}

function approvalRequest(): Locator {
  return replies().filter({ hasText: 'needs approval' });
}

async function actAs(name: 'Alice' | 'Bob' | 'Mallory'): Promise<void> {
  await page.getByRole('radio', { name: `Act as ${name}` }).click();
  await expect
    .poll(() => page.getByRole('radio', { name: `Act as ${name}` }).getAttribute('aria-checked'))
    .toBe('true');
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

  it('opens on #migrations as Alice, with the faults panel and the systems the plan changes', async () => {
    await page.goto(ferry.url);
    await page.locator('#connection.live').waitFor();
    await expect
      .poll(() => page.getByRole('radio', { name: 'Act as Alice' }).getAttribute('aria-checked'))
      .toBe('true');
    await expect.poll(() => page.locator('#channel-name').textContent()).toBe('# migrations');
    await page.locator('[data-fault="health-check"]').filter({ hasText: 'off' }).waitFor();
    const staging = page.locator('.system[data-app="billing-staging"]');
    await staging.filter({ hasText: 'billing-staging.herokudns.com' }).waitFor();
    await staging.filter({ hasText: 'Old Sidekiq' }).waitFor();
    expect(await staging.textContent()).toContain('Maintenance');
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
    expect(rendered.markup.img).toBe(false);
    expect(rendered.markup.text).toBe('img src=x onerror=alert(1) bnot bold/b');
    expect(rendered.blocks.text).toContain('Cutover 🚀');
    expect(rendered.blocks.html).toContain('<hr class="block block-divider">');
    expect(rendered.blocks.html).toContain('<div class="section-field"><strong>Env</strong></div>');
    expect(rendered.blocks.text).toContain('asked @Alice x');
    expect(rendered.blocks.html).toContain('<ol class="rt-list rt-indent-0"><li>');
    expect(rendered.blocks.text).toContain('[video block: not shown in the sandbox]');
  });

  it('starts a run from /migrate typed as Alice; her confirmation is hers alone', async () => {
    await type('/migrate start billing staging');
    await statusMessage().waitFor();
    const started = page
      .locator('article.message.ephemeral')
      .filter({ hasText: 'Started r1: billing staging' });
    await started.waitFor();
    expect(await started.textContent()).toContain('Only visible to you');
  });

  it('asks for approval in the thread, with mentions shown as names and escapes decoded', async () => {
    const request = approvalRequest();
    await request.getByRole('button', { name: 'Approve' }).waitFor();
    const text = (await request.textContent()) ?? '';
    expect(text).toContain('cutover needs approval (billing staging, started by @Alice)');
    expect(text).toContain('billing-staging.herokudns.com -> billing-staging.eu-central.example.net');
    expect(text).toContain('Approvers: @Bob or @platform');
    expect(text).not.toMatch(/&gt;|<@U|subteam/);
    await request.getByRole('button', { name: 'Reject' }).waitFor();
    // The status message is edited in place as the run moves (rate-limited, so it may lag a moment).
    await statusMessage().filter({ hasText: 'waiting for approval from @Bob or @platform' }).waitFor();
    await page.locator('.system[data-app="billing-staging"]').filter({ hasText: 'MaintenanceON' }).waitFor();
    await shot('sandbox-approval.png');
  });

  it('refuses Mallory, and only Mallory sees why', async () => {
    await actAs('Mallory');
    await approvalRequest().getByRole('button', { name: 'Approve' }).waitFor();
    expect(await page.locator('article.message.ephemeral').filter({ hasText: 'Started r1' }).count()).toBe(0);
    await approvalRequest().getByRole('button', { name: 'Approve' }).click();
    const refusal = page
      .locator('article.message.ephemeral')
      .filter({ hasText: 'You are not an approver for billing staging' });
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('Ask @Bob or @platform');
    await replies().filter({ hasText: 'refused by @Mallory' }).first().waitFor();

    await actAs('Alice');
    await page.locator('article.message.ephemeral').filter({ hasText: 'Started r1' }).waitFor();
    expect(
      await page.locator('article.message.ephemeral').filter({ hasText: 'not an approver' }).count(),
    ).toBe(0);
    // Still waiting: the refusal changed nothing.
    await approvalRequest().getByRole('button', { name: 'Approve' }).waitFor();
  });

  it('arms a failing health check from the faults panel, and shows it armed', async () => {
    await page.getByRole('button', { name: 'Arm Failing health check' }).click();
    const fault = page.locator('[data-fault="health-check"]');
    await fault.filter({ hasText: 'ARMED' }).waitFor();
    await page.getByRole('button', { name: 'Disarm Failing health check' }).waitFor();
    await page.locator('.system[data-app="billing-staging"]').filter({ hasText: '500 failing' }).waitFor();
  });

  it('lets Bob approve; the cutover goes through and the failing check stops the run with Retry, Skip and Roll back', async () => {
    await actAs('Bob');
    const ts = await approvalRequest().getAttribute('data-ts');
    await approvalRequest().getByRole('button', { name: 'Approve' }).click();
    // The request is edited in place: its buttons give way to who decided.
    const decided = page.locator(`#thread-messages article.message[data-ts="${ts}"]`);
    await decided.filter({ hasText: '✅ Approved by @Bob at' }).waitFor();
    expect(await decided.getByRole('button').count()).toBe(0);

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
    await shot('sandbox-failure.png');
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
    await expect.poll(async () => (await staging.textContent()) ?? '').toContain('Maintenanceoff');
    await expect.poll(async () => (await staging.textContent()) ?? '').toContain('6 of 7 enabled');
    await expect.poll(async () => (await staging.textContent()) ?? '').toContain('flowing');
    await page.getByRole('button', { name: 'Disarm Failing health check' }).click();
    await page.locator('[data-fault="health-check"]').filter({ hasText: 'off' }).waitFor();
    await staging.filter({ hasText: '200 ok' }).waitFor();
    await shot('sandbox-rolled-back.png');
  });
});
