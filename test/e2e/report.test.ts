import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, readable, startHarness, type Harness } from '../support/ferry-harness.ts';
import { SERIES_HEIGHT, SERIES_WIDTH, WINDOWS_WIDTH, windowsHeight } from '../../src/report/charts.ts';
import { listRuns } from '../../src/runs/lookup.ts';

/** A PNG's size from its IHDR, after checking the signature: what Slack would show. */
function pngSize(bytes: Buffer): { width: number; height: number } {
  expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(bytes.toString('latin1', 12, 16)).toBe('IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

const plan = `
service: billing
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - { id: latency-before, kind: check, checks: [ { http: { url: "\${MAINT_URL}", samples: 3, expect_status: 401 } } ] }
      - { id: cutover, kind: flag, action: on, provider: { type: http, url: "\${MAINT_URL}-cutover", token: "\${MAINT_TOKEN}" } }
      - { id: latency-after, kind: check, checks: [ { http: { url: "\${MAINT_URL}", samples: 3, expect_status: 401 } } ] }
      - { id: maintenance-off, kind: maintenance, action: off,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
`;

describe('/migrate report', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('reports downtime and the checks before and after the cutover side by side', async () => {
    await h.command(ALICE, 'start billing staging');
    await h.waitFor(() => readable(h.statusMessage()).includes('All 5 steps done'), 'the run');
    const [run] = await listRuns(h.ferry.runs);
    await h.command(ALICE, `note ${run!.id} staging cut over cleanly`);
    await h.waitFor(() => h.responses(ALICE).some((t) => t.startsWith('📝 Noted')), 'the note');
    await h.command(ALICE, 'report');

    const summary = await h.waitFor(
      () => h.slack.ephemerals(ALICE).find((e) => (e.text ?? '').startsWith('Report r')),
      'the summary',
    );
    expect(readable(summary as never)).toMatch(/downtime \d+(?:ms|s|\.\ds)/);
    const file = await h.waitFor(
      () => h.slack.files().find((f) => f.name.endsWith('-report.md') && f.content),
      'the uploaded report',
    );
    const markdown = file.content!.toString();
    expect(markdown).toContain('# billing staging · r');
    expect(markdown).toMatch(/Downtime \(maintenance on to off\): \*\*\d+(?:ms|s|\.\ds)\*\*/);
    expect(markdown).toMatch(
      /\| figure \| latency-before \(\d\d:\d\d:\d\d\) \| latency-after \(\d\d:\d\d:\d\d\) \|/,
    );
    expect(markdown).toMatch(/\| [a-z0-9_.]*p95[a-z_]* \| \d+(\.\d+)? \| \d+(\.\d+)? \|/);
    expect(markdown).toContain('staging cut over cleanly');
    // The checks chart goes up with the Markdown, which embeds it by its file name.
    const checks = await h.waitFor(
      () => h.slack.files().find((f) => f.name === `ferry-${run!.id}-checks.png` && f.content),
      'the checks chart',
    );
    expect(pngSize(checks.content!)).toEqual({ width: 2 * SERIES_WIDTH, height: 2 * SERIES_HEIGHT });
    expect(checks.channels).toEqual(file.channels);
    expect(markdown).toContain(`](ferry-${run!.id}-checks.png)`);
    const json = await h.waitFor(
      () => h.slack.files().find((f) => f.name.endsWith('-report.json') && f.content),
      'the JSON report',
    );
    const data = JSON.parse(json.content!.toString()) as {
      status: string;
      downtime: { ms: number };
      checks: unknown[];
    };
    expect(data).toMatchObject({ status: 'succeeded', downtime: { ms: expect.any(Number) } });
    expect(data.checks).toHaveLength(2);

    // A run followed by another run of the same service and environment is not rolled back blindly.
    await h.command(ALICE, 'start billing staging');
    await h.waitFor(
      async () => (await listRuns(h.ferry.runs)).filter((r) => r.status === 'succeeded').length === 2,
      'the second run',
    );
    await h.command(ALICE, `rollback ${run!.id}`);
    await h.waitFor(
      () => h.responses(ALICE).some((t) => t.includes(`${run!.id} was followed by`)),
      'the refusal',
    );

    await h.command(ALICE, 'report --all');
    const all = await h.waitFor(
      () => h.slack.files().find((f) => f.name === 'ferry-runs.md' && f.content),
      'the summary file',
    );
    expect(all.content!.toString().match(/\| r\d+ \| billing \| staging \| succeeded \|/g)).toHaveLength(2);
    // Both runs had maintenance on once: one row, two bars, and the chart is uploaded and embedded.
    const windows = await h.waitFor(
      () => h.slack.files().find((f) => f.name === 'ferry-runs-windows.png' && f.content),
      'the maintenance windows chart',
    );
    expect(pngSize(windows.content!)).toEqual({ width: 2 * WINDOWS_WIDTH, height: 2 * windowsHeight(1) });
    expect(all.content!.toString()).toMatch(/^!\[Maintenance windows[^\]]*\]\(ferry-runs-windows\.png\)\n/);
    // The reply follows the upload.
    await h.waitFor(
      () =>
        h
          .responses(ALICE)
          .includes(
            '📄 Uploaded a summary of 2 run(s) to this channel, with a chart of their maintenance windows.',
          ),
      'the reply naming the chart',
    );
  });
});
