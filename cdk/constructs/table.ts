import { RemovalPolicy } from 'aws-cdk-lib';
import { type Attribute, AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TTL_ATTRIBUTE, tableDefinition } from '../../lib/aws/table.js';

export interface JobsTableProps {
  /**
   * What happens to the table (every job and server record) when it leaves the stack.
   * @default RemovalPolicy.RETAIN: records outlive a mistaken `cdk destroy`; TTL empties the table anyway.
   */
  removalPolicy?: RemovalPolicy;
}

/**
 * The jobs table, built from the same definition the local stack creates (`tableDefinition()` in
 * lib/aws/table.ts), so the keys and indexes cannot drift between the code that queries them and
 * the cloud that serves them.
 */
export class JobsTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: JobsTableProps = {}) {
    super(scope, id);
    // The physical name is CloudFormation's to choose; the functions get it in TABLE_NAME.
    const def = tableDefinition('unused');
    const types = new Map((def.AttributeDefinitions ?? []).map((a) => [a.AttributeName, a.AttributeType]));
    const attribute = (name: string | undefined): Attribute => {
      const type = name !== undefined ? types.get(name) : undefined;
      if (name === undefined || type === undefined) throw new Error(`tableDefinition() names key attribute ${name} without a type`);
      return { name, type: type === 'S' ? AttributeType.STRING : type === 'N' ? AttributeType.NUMBER : AttributeType.BINARY };
    };
    const key = (schema: { AttributeName?: string; KeyType?: string }[] | undefined, type: 'HASH' | 'RANGE') =>
      schema?.find((k) => k.KeyType === type)?.AttributeName;

    const sortKey = key(def.KeySchema, 'RANGE');
    this.table = new Table(this, 'Table', {
      partitionKey: attribute(key(def.KeySchema, 'HASH')),
      ...(sortKey !== undefined ? { sortKey: attribute(sortKey) } : {}),
      // Load comes in bursts (a job of 2,000 servers, then its retries) and is idle between jobs:
      // on-demand costs nothing at rest and needs no capacity planning.
      billingMode: def.BillingMode === 'PAY_PER_REQUEST' ? BillingMode.PAY_PER_REQUEST : BillingMode.PROVISIONED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS-managed key (aws/dynamodb) rather than the default AWS-owned one: use of the key
      // shows in the account's CloudTrail, at no monthly cost. Records hold no secrets (they are
      // redacted before they are written), but they do hold who rebuilt what.
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      ...(def.StreamSpecification?.StreamEnabled ? { stream: def.StreamSpecification.StreamViewType as StreamViewType } : {}),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    for (const gsi of def.GlobalSecondaryIndexes ?? []) {
      if (gsi.Projection?.ProjectionType !== 'ALL') throw new Error(`index ${gsi.IndexName}: only ProjectionType ALL is mapped`);
      const gsiSort = key(gsi.KeySchema, 'RANGE');
      this.table.addGlobalSecondaryIndex({
        indexName: gsi.IndexName as string,
        partitionKey: attribute(key(gsi.KeySchema, 'HASH')),
        ...(gsiSort !== undefined ? { sortKey: attribute(gsiSort) } : {}),
        projectionType: ProjectionType.ALL,
      });
    }
  }
}
