import { describe, expect, it } from 'vitest';
import { percentile } from '../../src/adapters/latency-stats.ts';

describe('percentile (nearest rank)', () => {
  // The worked examples of the nearest-rank method (Wikipedia, "Percentile").
  it.each([
    [[15, 20, 35, 40, 50], 5, 15],
    [[15, 20, 35, 40, 50], 30, 20],
    [[15, 20, 35, 40, 50], 40, 20],
    [[15, 20, 35, 40, 50], 50, 35],
    [[15, 20, 35, 40, 50], 100, 50],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 25, 7],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 50, 8],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 75, 15],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 100, 20],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20, 20], 75, 16],
  ])('of %j at p%d is %d', (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });

  it('does not round a rank up through floating-point drift (p30 of 10 samples is the 3rd)', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(values, 30)).toBe(3);
    expect(percentile(values, 70)).toBe(7);
    expect(
      percentile(
        Array.from({ length: 20 }, (_, i) => i + 1),
        95,
      ),
    ).toBe(19);
  });

  it('sorts numerically without changing its input, and always returns a sample', () => {
    const values = [100, 9, 25, 1000, 3];
    expect(percentile(values, 50)).toBe(25);
    expect(values).toStrictEqual([100, 9, 25, 1000, 3]);
    expect(percentile([0.4, 0.25, 0.31], 95)).toBe(0.4);
  });

  it('gives the minimum at p0 and the only sample for one sample', () => {
    expect(percentile([5, 1, 3], 0)).toBe(1);
    expect(percentile([42], 95)).toBe(42);
  });

  it('refuses no samples, NaN and a p outside 0..100', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1, Number.NaN], 50)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
  });
});
