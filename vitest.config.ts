import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // 2-core machine: run test files in parallel, but at most two at a time.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
