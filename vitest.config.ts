import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites start DynamoDB Local (a JVM) and fauxqs once per file; two cores
    // cannot run many JVMs at once, so files run in at most two workers.
    maxWorkers: 2,
    // A failure detector, not a speed check (speed lives in the benchmarks): integration tests drive
    // a whole local stack on two shared cores, where a job that takes 20 s alone can take twice that
    // beside another suite. Their own waits (test/support/client.ts) give up well before this.
    testTimeout: 120_000,
    // The JSON report lets .ci/run print the plain "N passed, N failed" line CI reads.
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
    hookTimeout: 60_000,
  },
});
