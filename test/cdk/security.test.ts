import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { synth } from './support.js';

/** The AWS Solutions findings nobody acknowledged, as "rule at path" lines. */
function unacknowledgedFindings(app: App): string[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}: ${v.description}`));
}

/** Every acknowledgment in the tree: rule id → reason, by construct path. */
function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  const found: { path: string; id: string; reason: string }[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.push({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason });
      }
    }
  }
  return found;
}

const VARIANTS: [string, Record<string, unknown>][] = [
  ['Keystone, created secret, no alarm topic (cdk.json)', {}],
  ['Keystone in a private network: worker and sweeper in a VPC', { vpcSubnetIds: 'subnet-0a1b2c3d', vpcSecurityGroupIds: 'sg-0123abcd' }],
  ['Keystone, alarm e-mail (a topic is created)', { alarmEmail: 'ops@example.com', osRegionName: 'RegionOne' }],
  [
    'fixed endpoint, existing secret, existing topic',
    {
      keystoneUrl: undefined,
      computeUrl: 'https://nova.example.com:8774/v2.1/{tenant_id}',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:openstack-AbC123',
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops',
    },
  ],
];

describe('cdk-nag AWS Solutions checks', () => {
  it.each(VARIANTS)('find nothing unacknowledged: %s', (_name, overrides) => {
    const { app } = synth(overrides);
    expect(unacknowledgedFindings(app)).toEqual([]);
  });

  it('acknowledge only the findings that are by design, each on its construct with a specific reason', () => {
    const { app } = synth({ alarmEmail: 'ops@example.com' });
    const acks = acknowledgments(app);
    expect(acks.map((a) => `${a.id} @ ${a.path}`).sort()).toEqual(
      [
        'AwsSolutions-IAM5[Resource::*] @ OpenStackBulkRebuild/ApiFunction',
        'AwsSolutions-IAM5[Resource::*] @ OpenStackBulkRebuild/Worker',
        'AwsSolutions-IAM5[Resource::*] @ OpenStackBulkRebuild/Sweeper',
        'AwsSolutions-IAM5[Resource::*] @ OpenStackBulkRebuild/Notifications/Notifier',
        'AwsSolutions-IAM5[Resource::<NotificationsReports5A3A2A37.Arn>/reports/*] @ OpenStackBulkRebuild/Notifications/Notifier',
        'AwsSolutions-L1 @ OpenStackBulkRebuild/Notifications/Notifier/Function',
        'AwsSolutions-S1 @ OpenStackBulkRebuild/Notifications/Reports',
        'AwsSolutions-SQS3 @ OpenStackBulkRebuild/Notifications/Failures',
        'AwsSolutions-L1 @ OpenStackBulkRebuild/ApiFunction/Function',
        'AwsSolutions-L1 @ OpenStackBulkRebuild/Worker/Function',
        'AwsSolutions-L1 @ OpenStackBulkRebuild/Sweeper/Function',
        'AwsSolutions-SMG4 @ OpenStackBulkRebuild/OpenStackCredentials/Secret',
        'AwsSolutions-SNS2 @ OpenStackBulkRebuild/Alarms/Topic',
      ].sort(),
    );
    for (const a of acks) {
      // A reason says why this resource is different, not that the rule was seen.
      expect(a.reason.length, `${a.id} @ ${a.path}`).toBeGreaterThan(80);
    }
    expect(acks.some((a) => a.path === 'OpenStackBulkRebuild')).toBe(false);
  });

  it("would report the X-Ray and stream-listing wildcards and nothing broader if the acknowledgments were removed", () => {
    // The wildcard acknowledged is the only possible resource of xray:* actions and of
    // dynamodb:ListStreams (which lists stream ARNs and reads nothing); no data-plane action has one.
    const { template } = synth();
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const st of policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]) {
        if (st.Resource !== '*') continue;
        const actions = Array.isArray(st.Action) ? st.Action : [st.Action];
        expect(actions.every((a) => a.startsWith('xray:') || a === 'dynamodb:ListStreams')).toBe(true);
      }
    }
  });
});
