import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Ceilings for a loaded two-core machine, not timings: a healthy run is far below them.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
