/**
 * The one reader of the functions' environment (lib/settings.ts): where the deployment's resources
 * are, and the settings, each wrong value named.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { DEPLOYMENT_ENV, deploymentFromEnv, localFromEnv, workerConfigFromEnv } from '../../lib/settings.js';

describe("the functions' environment", () => {
  it('reads where the resources are, by the names the stack sets', () => {
    const env = { TABLE_NAME: 'jobs', QUEUE_URL: 'https://sqs/q', OPENSTACK_SECRET_ARN: 'arn:s', EVENT_BUS_NAME: '', DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' };
    expect(deploymentFromEnv(env)).toEqual({ tableName: 'jobs', queueUrl: 'https://sqs/q', secretArn: 'arn:s', endpoints: { dynamodb: 'http://127.0.0.1:8000' } });
    expect(Object.values(DEPLOYMENT_ENV)).toEqual(['TABLE_NAME', 'QUEUE_URL', 'OPENSTACK_SECRET_ARN', 'EVENT_BUS_NAME', 'REPORT_BUCKET', 'DYNAMODB_ENDPOINT', 'SQS_ENDPOINT']);
  });

  it('names what a function cannot run without', () => {
    expect(() => deploymentFromEnv({ QUEUE_URL: 'q' })).toThrow(new ConfigError('TABLE_NAME must be set'));
    expect(() => deploymentFromEnv({ TABLE_NAME: 't' })).toThrow(/QUEUE_URL must be set/);
    // The notifier sends nothing to the queue, but tells the event bus.
    expect(deploymentFromEnv({ TABLE_NAME: 't', EVENT_BUS_NAME: 'b' }, ['eventBusName']).eventBusName).toBe('b');
    expect(() => deploymentFromEnv({ TABLE_NAME: 't' }, ['eventBusName'])).toThrow(/EVENT_BUS_NAME must be set/);
  });

  it('refuses a setting out of its range, naming it, rather than fall back', () => {
    expect(() => workerConfigFromEnv({ TABLE_NAME: 't', QUEUE_URL: 'q', BACKOFF_BASE_SECONDS: '0' })).toThrow(/BACKOFF_BASE_SECONDS must be an integer from 1 to 900; it is "0"/);
  });
});

describe("the local stack's environment", () => {
  it('reads the ports, data directory and log level, with the defaults the README gives', () => {
    expect(localFromEnv({})).toEqual({ apiPort: 3000, dynamoPort: 8000, sqsPort: 4566, dataDir: '.local-data', logLevel: 'WARN' });
    expect(localFromEnv({ PORT: '8080', LOG_LEVEL: 'debug', LOCAL_DATA_DIR: '/tmp/x', POLLER_MAX_CONCURRENCY: '2' })).toMatchObject({
      apiPort: 8080,
      logLevel: 'DEBUG',
      dataDir: '/tmp/x',
      pollerMaxConcurrency: 2,
    });
  });

  it('stops on a port that is not a port or a level Powertools does not know, naming the variable', () => {
    expect(() => localFromEnv({ PORT: 'http' })).toThrow(new ConfigError('PORT must be an integer from 0 to 65535; it is "http"'));
    expect(() => localFromEnv({ SQS_PORT: '70000' })).toThrow(/SQS_PORT must be an integer from 0 to 65535/);
    expect(() => localFromEnv({ LOG_LEVEL: 'verbose' })).toThrow(/LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT; it is "verbose"/);
  });
});
