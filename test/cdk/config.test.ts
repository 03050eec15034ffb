import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../cdk/bundling.js';
import { DEFAULTS, StackConfigError, settingsFromContext } from '../../cdk/config.js';

const KEYSTONE = 'https://keystone.example.com:5000/v3';
const refused = (ctx: Record<string, unknown>) => () => settingsFromContext(ctx);

describe('stack parameters', () => {
  it('defaults everything but the endpoint, as documented', () => {
    expect(settingsFromContext({ keystoneUrl: KEYSTONE })).toEqual({
      openstack: { kind: 'keystone', authUrl: KEYSTONE, interface: 'public', userDomainName: 'Default' },
      novaMaxMicroversion: '2.96',
      jobLimits: { maxServersPerJob: 2000, defaultMaxAttempts: 30, defaultDeadlineSeconds: 7200, defaultMaxFailurePercentage: 100, defaultMaxInFlight: 50 },
      maxConcurrency: 10,
      alarms: {},
      apiThrottle: { rateLimit: 50, burstLimit: 100 },
      logRetention: RetentionDays.ONE_MONTH,
      // Closed by default: nobody is granted a project until the operator says so.
      grants: '{}',
      notifications: { eventBusName: 'default', reportRetentionDays: 90 },
    });
    expect(DEFAULTS.maxConcurrency).toBe(10);
  });

  it('places the worker in a VPC only with subnets and security groups both given, each checked', () => {
    expect(settingsFromContext({ keystoneUrl: KEYSTONE }).vpc).toBeUndefined();
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, vpcSubnetIds: 'subnet-0a1b2c3d, subnet-0a1b2c3e', vpcSecurityGroupIds: ['sg-0123abcd'] }).vpc).toEqual({
      subnetIds: ['subnet-0a1b2c3d', 'subnet-0a1b2c3e'],
      securityGroupIds: ['sg-0123abcd'],
    });
    expect(refused({ keystoneUrl: KEYSTONE, vpcSubnetIds: 'subnet-0a1b2c3d' })).toThrow(/vpcSubnetIds is set without vpcSecurityGroupIds/);
    expect(refused({ keystoneUrl: KEYSTONE, vpcSecurityGroupIds: 'sg-0123abcd' })).toThrow(/vpcSecurityGroupIds is set without vpcSubnetIds/);
    expect(refused({ keystoneUrl: KEYSTONE, vpcSubnetIds: 'vpc-0a1b2c3d', vpcSecurityGroupIds: 'sg-0123abcd' })).toThrow(/"vpc-0a1b2c3d" is not one/);
    expect(refused({ keystoneUrl: KEYSTONE, vpcSubnetIds: 'subnet-0a1b2c3d', vpcSecurityGroupIds: 'default' })).toThrow(/vpcSecurityGroupIds must be security group ids/);
  });

  it('refuses a bus name EventBridge would refuse, and a report retention S3 cannot keep', () => {
    expect(refused({ keystoneUrl: KEYSTONE, eventBusName: 'ops bus' })).toThrow(/eventBusName must be an EventBridge bus name/);
    expect(refused({ keystoneUrl: KEYSTONE, reportRetentionDays: '0' })).toThrow(/reportRetentionDays must be an integer from 1 to 3650/);
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, eventBusName: 'ops/bus-1', reportRetentionDays: '7' }).notifications).toEqual({ eventBusName: 'ops/bus-1', reportRetentionDays: 7 });
  });

  it('refuses both keystoneUrl and computeUrl, naming both', () => {
    expect(refused({ keystoneUrl: KEYSTONE, computeUrl: 'https://nova.example.com/v2.1' })).toThrow(StackConfigError);
    expect(refused({ keystoneUrl: KEYSTONE, computeUrl: 'https://nova.example.com/v2.1' })).toThrow(/keystoneUrl and computeUrl are both set/);
  });

  it('refuses neither keystoneUrl nor computeUrl, saying how to give one', () => {
    expect(refused({})).toThrow(/Neither keystoneUrl nor computeUrl is set: pass -c keystoneUrl=/);
  });

  it('refuses Keystone-only settings next to a fixed Compute endpoint', () => {
    expect(refused({ computeUrl: 'https://nova.example.com/v2.1', osRegionName: 'RegionOne' })).toThrow(/computeUrl is set with osRegionName/);
  });

  it('checks the endpoints as the worker will, in context terms', () => {
    expect(refused({ keystoneUrl: 'https://keystone.example.com/v2.0' })).toThrow(/keystoneUrl \(OS_AUTH_URL\) points at Keystone v2/);
    expect(refused({ keystoneUrl: 'keystone.example.com' })).toThrow(/keystoneUrl \(OS_AUTH_URL\) is not a URL/);
    expect(refused({ computeUrl: 'https://user:pw@nova.example.com/' })).toThrow(/computeUrl \(COMPUTE_URL\) must not carry user:password@/);
    expect(refused({ keystoneUrl: KEYSTONE, osInterface: 'private' })).toThrow(/osInterface \(OS_INTERFACE\) must be one of public, internal, admin/);
  });

  it('normalises Keystone settings the way the worker reads them', () => {
    const s = settingsFromContext({ keystoneUrl: 'https://keystone.example.com:5000', osInterface: 'internalURL', osRegionName: 'RegionTwo' });
    expect(s.openstack).toEqual({ kind: 'keystone', authUrl: 'https://keystone.example.com:5000/v3', interface: 'internal', userDomainName: 'Default', regionName: 'RegionTwo' });
  });

  it('reads numbers given as -c strings and refuses them out of bounds', () => {
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, maxConcurrency: '25' }).maxConcurrency).toBe(25);
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, maxConcurrency: 2 }).maxConcurrency).toBe(2);
    expect(refused({ keystoneUrl: KEYSTONE, maxConcurrency: '1' })).toThrow(/maxConcurrency must be an integer from 2 to 1000; it is "1"/);
    expect(refused({ keystoneUrl: KEYSTONE, maxConcurrency: 'ten' })).toThrow(/maxConcurrency/);
    expect(refused({ keystoneUrl: KEYSTONE, apiBurstLimit: '0' })).toThrow(/apiBurstLimit/);
  });

  it('holds the job limits to the API function\'s own bounds (lib/settings.ts)', () => {
    expect(refused({ keystoneUrl: KEYSTONE, defaultMaxAttempts: '101' })).toThrow(/defaultMaxAttempts \(DEFAULT_MAX_ATTEMPTS\) must be an integer from 1 to 100/);
    expect(refused({ keystoneUrl: KEYSTONE, defaultDeadlineSeconds: '30' })).toThrow(/defaultDeadlineSeconds \(DEFAULT_DEADLINE_SECONDS\)/);
    expect(refused({ keystoneUrl: KEYSTONE, maxServersPerJob: '20000' })).toThrow(/maxServersPerJob \(MAX_SERVERS_PER_JOB\)/);
    expect(refused({ keystoneUrl: KEYSTONE, defaultMaxFailurePercentage: '101' })).toThrow(/defaultMaxFailurePercentage/);
    expect(refused({ keystoneUrl: KEYSTONE, novaMaxMicroversion: '2.200' })).toThrow(/novaMaxMicroversion \(NOVA_MAX_MICROVERSION\) must be 2.1 to 2.96/);
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, novaMaxMicroversion: '2.79' }).novaMaxMicroversion).toBe('2.79');
  });

  it('refuses both an alarm e-mail and an alarm topic, and malformed ones', () => {
    expect(refused({ keystoneUrl: KEYSTONE, alarmEmail: 'ops@example.com', alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops' })).toThrow(/alarmEmail and alarmTopicArn are both set/);
    expect(refused({ keystoneUrl: KEYSTONE, alarmEmail: 'ops' })).toThrow(/alarmEmail is not an e-mail address/);
    expect(refused({ keystoneUrl: KEYSTONE, alarmTopicArn: 'ops-topic' })).toThrow(/alarmTopicArn is not an SNS topic ARN/);
  });

  it('wants a secret\'s complete ARN, which IAM can grant exactly', () => {
    expect(refused({ keystoneUrl: KEYSTONE, secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:openstack' })).toThrow(/complete ARN/);
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:openstack-AbC123';
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, secretArn: arn }).secretArn).toBe(arn);
  });

  it('accepts only CloudWatch Logs\' retention periods', () => {
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, logRetentionDays: '90' }).logRetention).toBe(RetentionDays.THREE_MONTHS);
    expect(refused({ keystoneUrl: KEYSTONE, logRetentionDays: '45' })).toThrow(/logRetentionDays must be one of/);
  });

  it('takes a misspelt parameter for what it is rather than silently using the default', () => {
    expect(refused({ keystoneUrl: KEYSTONE, maxConcurency: '2' })).toThrow(/Unknown context key maxConcurency/);
    // CDK's own keys (feature flags, aws:cdk:*) are not ours to judge.
    expect(() => settingsFromContext({ keystoneUrl: KEYSTONE, '@aws-cdk/core:checkSecretUsage': true, 'aws:cdk:bundling-stacks': [] })).not.toThrow();
  });

  it('makes `cdk synth` stop with the message alone when parameters contradict', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'cdk/app.ts')], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ keystoneUrl: KEYSTONE, computeUrl: 'https://nova.example.com/v2.1' }) },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Parameter error: keystoneUrl and computeUrl are both set');
    expect(run.stderr).not.toContain('    at ');
  });

  it('reads grants as JSON, checks them with the API function\'s own parser, and refuses malformed ones', () => {
    const grants = { 'arn:aws:iam::123456789012:role/Ops': ['p1', 'p2'], 'arn:aws:iam::123456789012:user/admin': '*' };
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, grants: JSON.stringify(grants) }).grants).toBe(JSON.stringify(grants));
    expect(settingsFromContext({ keystoneUrl: KEYSTONE, grants }).grants).toBe(JSON.stringify(grants));
    expect(refused({ keystoneUrl: KEYSTONE, grants: '{not json' })).toThrow(/grants must be a JSON object/);
    expect(refused({ keystoneUrl: KEYSTONE, grants: '{"bob": ["p1"]}' })).toThrow(/grants: "bob" is not an IAM principal ARN/);
    expect(refused({ keystoneUrl: KEYSTONE, grants: '{"arn:aws:iam::123456789012:role/Ops": ["p/1"]}' })).toThrow(/must be a list of project ids/);
  });
});
