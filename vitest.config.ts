import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites start DynamoDB Local (a JVM) and fauxqs once per file; two cores
    // cannot run many JVMs at once, so files run in at most two workers.
    maxWorkers: 2,
    testTimeout: 30_000,
    // The JSON report lets .ci/run print the plain "N passed, N failed" line CI reads.
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
    hookTimeout: 60_000,
  },
});
