import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { explore, fuzzCommands, fuzzPlans } from '../../drills/fuzz.ts';

// The fuzz drill's properties over what people type and write, with fewer cases than the drill
// (drills/fuzz.ts), so every test run keeps the guarantee: a value or a clear error, never a throw.

describe('fuzzing what people type and write', () => {
  it('answers any /migrate text with a command or a non-empty error, and never throws', async () => {
    const outcome = await fuzzCommands(2_000, 20_000);
    expect(outcome.findings).toEqual([]);
    expect(outcome.cases).toBeGreaterThanOrEqual(2_000);
  });

  it('loads any plan text (mutated example plans, any YAML, anything) as a plan or problems at file:line:column', async () => {
    const outcome = await fuzzPlans(200, 30_000);
    expect(outcome.findings).toEqual([]);
    expect(outcome.cases).toBeGreaterThanOrEqual(200);
  });

  it('reports a failing input shrunk to its smallest form, and counts later inputs failing the same way', async () => {
    // The fuzzer itself, on a judge that fails on purpose: a property cannot pass for want of a report.
    const outcome = await explore(
      'demo',
      fc.string({ minLength: 1, maxLength: 20 }),
      (texts) => texts.map((text) => (text.includes('!') ? 'has a bang' : null)),
      { numRuns: 5_000, timeLimitMs: 10_000 },
    );
    expect(outcome.crashes).toBe(1);
    expect(outcome.findings).toHaveLength(1);
    // From up to 20 characters down to the bang and at most one more.
    expect(outcome.findings[0]).toMatch(
      /^demo: has a bang; shrunk to "!.?" \(seed \d+\); \d+ inputs failed this way$/,
    );
    const thrown = await explore(
      'demo',
      fc.constant('x'),
      () => {
        throw new Error('judge broke');
      },
      {
        numRuns: 10,
        timeLimitMs: 5_000,
      },
    );
    expect(thrown.findings[0]).toMatch(/^demo: threw judge broke; shrunk to "x"/);
  });
});
