import { describe, expect, it } from 'vitest';
import { openingStep } from '../../src/plan/describe.ts';
import { stepSchema, type StepSpec } from '../../src/plan/schema.ts';

const step = (raw: Record<string, unknown>): StepSpec => stepSchema.parse(raw);
const maintenance = (id: string, action: string, url = 'https://a/maintenance') =>
  step({ id, kind: 'maintenance', action, provider: { type: 'http', url } });
const crons = (id: string, action: string, url = 'redis://old') =>
  step({ id, kind: 'crons', action, provider: { type: 'sidekiq-cron', url, jobs: 'all' } });

describe('openingStep', () => {
  it('pairs a closing step with the latest opposite step on the same system', () => {
    const steps = [
      maintenance('m-on', 'on'),
      crons('c-off', 'disable'),
      crons('c-on', 'enable'),
      maintenance('m-off', 'off'),
    ];
    expect(openingStep(steps, 2)?.id).toBe('c-off');
    expect(openingStep(steps, 3)?.id).toBe('m-on');
  });

  it('finds nothing for an opening step, or a closing step on another system', () => {
    const steps = [
      maintenance('m-on', 'on'),
      maintenance('m-off', 'off', 'https://b/maintenance'),
      crons('c-on', 'enable'),
    ];
    expect(openingStep(steps, 0)).toBeUndefined();
    expect(openingStep(steps, 1)).toBeUndefined();
    expect(openingStep(steps, 2)).toBeUndefined();
  });
});
