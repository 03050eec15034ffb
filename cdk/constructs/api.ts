import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface RebuildApiProps {
  /** The function that routes and answers every request. */
  handler: IFunction;
  /**
   * Steady requests per second the stage accepts before answering 429.
   * @default 50
   */
  rateLimit?: number;
  /**
   * Requests the stage accepts at once above the rate.
   * @default 100
   */
  burstLimit?: number;
  /**
   * How long access logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  logRetention?: RetentionDays;
}

/**
 * Fields of each access log line (JSON). Who called (`userArn`) and what they got; never the query
 * string or a body. See API Gateway's `$context` variables for HTTP APIs.
 */
const ACCESS_LOG_FIELDS: Record<string, string> = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userArn: '$context.identity.userArn',
  method: '$context.httpMethod',
  path: '$context.path',
  routeKey: '$context.routeKey',
  protocol: '$context.protocol',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  error: '$context.error.message',
};

/**
 * The HTTP API: one `$default` route, IAM (SigV4) authorization, to the one function that routes
 * and answers (Nova-style 404 and 405 included). Throttled and access-logged on its one stage.
 */
export class RebuildApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: RebuildApiProps) {
    super(scope, id);
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Bulk rebuild for OpenStack (SigV4-signed requests only)',
      // Every route, the $default one included, needs a SigV4 signature from an IAM principal;
      // the function reads the principal and shows each caller only their own jobs.
      defaultAuthorizer: new HttpIamAuthorizer(),
      defaultIntegration: new HttpLambdaIntegration('Function', props.handler),
      // The default stage is made below, with throttling and access logs.
      createDefaultStage: false,
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit ?? 50, burstLimit: props.burstLimit ?? 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
  }

  /** The API's base URL (`https://ID.execute-api.REGION.amazonaws.com`). */
  get url(): string {
    return this.stage.url;
  }
}
