/**
 * The CLI's HTTP client: plain HTTP to `npm start`, or SigV4-signed requests to the deployed API
 * (service `execute-api`), with credentials from the AWS SDK's standard chain — environment, SSO,
 * profiles (`AWS_PROFILE`), credential process, web identity, container and instance roles — and
 * signed by the SDK's own signer.
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export interface ClientOptions {
  /** The API's base URL, without `/v2/...`. */
  endpoint: string;
  /** The OpenStack project the paths carry. */
  project: string;
  /** Sign with SigV4: the deployed API. Unset: signed when the endpoint is an execute-api URL. */
  sigv4?: boolean;
  /** The Region to sign for; from the execute-api host, else AWS_REGION. */
  region?: string;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The JSON body, when it is JSON. */
  json?: any;
}

/** An answer that was not a success: its Nova fault's message, or the status. */
export class ApiAnswerError extends Error {
  constructor(readonly answer: Answer) {
    const fault = answer.json && typeof answer.json === 'object' ? (Object.values(answer.json)[0] as { message?: string } | undefined) : undefined;
    super(`${answer.status}: ${fault?.message ?? (answer.text.slice(0, 300) || 'no body')}`);
  }
}

const EXECUTE_API = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

export class ApiClient {
  private readonly base: URL;
  private readonly signer?: SignatureV4;

  constructor(private readonly options: ClientOptions) {
    this.base = new URL(options.endpoint);
    const hostRegion = EXECUTE_API.exec(this.base.hostname)?.[1];
    const sign = options.sigv4 ?? hostRegion !== undefined;
    if (sign) {
      const region = options.region ?? hostRegion ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      if (!region) throw new Error('SigV4 needs a Region: pass --region or set AWS_REGION');
      this.signer = new SignatureV4({ service: 'execute-api', region, credentials: defaultProvider(), sha256: Hash.bind(null, 'sha256') });
    }
  }

  /** `/v2/<project><path>` */
  url(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(`/v2/${encodeURIComponent(this.options.project)}${path}`, this.base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  async request(method: 'GET' | 'POST', url: URL, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    let all: Record<string, string> = { host: url.host, accept: 'application/json', ...headers, ...(text !== undefined ? { 'content-type': 'application/json' } : {}) };
    if (this.signer) {
      const query: Record<string, string> = {};
      url.searchParams.forEach((v, k) => (query[k] = v));
      const signed = await this.signer.sign({ method, protocol: url.protocol, hostname: url.hostname, ...(url.port ? { port: Number(url.port) } : {}), path: url.pathname, query, headers: all, ...(text !== undefined ? { body: text } : {}) });
      all = signed.headers as Record<string, string>;
    }
    const { host: _host, ...sent } = all;
    const res = await fetch(url, { method, headers: sent, ...(text !== undefined ? { body: text } : {}) });
    const answerText = await res.text();
    let json: unknown;
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      try {
        json = JSON.parse(answerText);
      } catch {
        json = undefined;
      }
    }
    const answer: Answer = { status: res.status, headers: res.headers, text: answerText, ...(json !== undefined ? { json } : {}) };
    if (res.status >= 300) throw new ApiAnswerError(answer);
    return answer;
  }

  get(path: string, query: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request('GET', this.url(path, query), undefined, headers);
  }

  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request('POST', this.url(path), body, headers);
  }

  /** Follows a `Link: <url>; rel="next"` (the report's parts), or the `rel: next` of a page's links (`servers_links`). */
  next(answer: Answer, links?: { rel: string; href: string }[]): URL | undefined {
    const link = answer.headers.get('link');
    const href = links ? links.find((l) => l.rel === 'next')?.href : link ? /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] : undefined;
    if (!href) return undefined;
    // The API names its own public URL; the part's path and query are what matter here.
    const named = new URL(href);
    return new URL(`${named.pathname}${named.search}`, this.base);
  }
}
