import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites start DynamoDB Local (a JVM) and fauxqs once per file; two cores
    // cannot run many JVMs at once, so files run in at most two workers.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
