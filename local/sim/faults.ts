/**
 * Faults a test arms for the next N matching requests. The zod schema is the one source for the
 * TypeScript type, the programmatic API and the /_sim/faults admin endpoint.
 *
 * Shapes, and where they come from:
 * - serviceUnavailable: Nova-style 503 JSON, with or without Retry-After.
 * - htmlServiceUnavailable: a load balancer's HTML 503, no Retry-After, no request id (README).
 * - overLimit: 413 or 429 from a rate limiter, `Retry-After` header and `retryAfter` in the body
 *   (Nova's Fault adds retryAfter for exactly these two codes).
 * - computeFault: 500, by default the UnexpectedTaskStateError text of 02b-concurrent.
 * - buildInProgress / serverCapacityUnavailable: the seed's old fault names (409 / 503).
 * - unauthorized: a 401 with keystonemiddleware's body, as if the token was suddenly rejected.
 * - reset: the connection is reset before anything is processed.
 * - resetAfterProcessing: the request is processed (a rebuild is accepted) and then the connection is
 *   reset instead of the answer being written.
 * - delay: the answer comes `ms` late; processFirst (default true) changes state on arrival, as a
 *   slow Nova would, otherwise the request is handled after the delay.
 * - actThenFail: the request is processed (a rebuild is accepted) and the answer is a 5xx anyway:
 *   500 is Nova's own "Unexpected API Error" (say an RPC timeout after the action was recorded),
 *   with Nova's request id; 502 and 504 are a load balancer's HTML pages, without one.
 * - actLate: a load balancer answers 504 at once while the request still sits in Nova, which
 *   acts on it `ms` later.
 * - quoteRequest: Nova's 400 that quotes what it was sent, shaped as recorded: 04b quotes the whole
 *   rebuild body (adminPass and personality included) as a Python dict; 03i quotes a personality
 *   file's contents (or user_data) raw and as a repr. The values are the request's own.
 */
import { z } from 'zod';
import type { RequestKind } from './request-log.js';

const retryAfter = z.number().int().min(0);

export const FaultSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('serviceUnavailable'), retryAfter: retryAfter.optional() }),
  z.object({ type: z.literal('htmlServiceUnavailable') }),
  z.object({ type: z.literal('overLimit'), status: z.union([z.literal(413), z.literal(429)]), retryAfter }),
  z.object({ type: z.literal('computeFault'), message: z.string().optional() }),
  z.object({ type: z.literal('buildInProgress') }),
  z.object({ type: z.literal('serverCapacityUnavailable'), retryAfter: retryAfter.optional() }),
  z.object({ type: z.literal('unauthorized') }),
  z.object({ type: z.literal('reset') }),
  z.object({ type: z.literal('resetAfterProcessing') }),
  z.object({ type: z.literal('delay'), ms: z.number().int().min(0), processFirst: z.boolean().optional() }),
  z.object({ type: z.literal('actThenFail'), status: z.union([z.literal(500), z.literal(502), z.literal(504)]) }),
  z.object({ type: z.literal('actLate'), ms: z.number().int().min(0) }),
  z.object({ type: z.literal('quoteRequest'), recording: z.enum(['04b', '03i']) }),
]);
export type FaultSpec = z.infer<typeof FaultSpecSchema>;

export const REQUEST_KINDS = [
  'auth',
  'rebuild',
  'action',
  'get',
  'list',
  'actions',
  'create',
  'delete',
  'images',
  'other',
] as const satisfies readonly RequestKind[];

export const FaultRuleSchema = z.object({
  /** Which requests: a kind, or "any". */
  kind: z.union([z.enum(REQUEST_KINDS), z.literal('any')]),
  fault: FaultSpecSchema,
  /** How many matching requests it answers (default 1). */
  times: z.number().int().min(1).optional(),
  /** Only requests about this server. */
  serverId: z.string().optional(),
});
export type FaultRule = z.infer<typeof FaultRuleSchema>;

export interface ArmedFault {
  id: number;
  kind: RequestKind | 'any';
  fault: FaultSpec;
  remaining: number;
  serverId: string | null;
}

export class FaultInjector {
  private armed: ArmedFault[] = [];
  private nextId = 1;

  /** Arms a fault for the next `times` (default 1) matching requests; returns its id. */
  inject(rule: FaultRule): number {
    const parsed = FaultRuleSchema.parse(rule);
    const id = this.nextId++;
    this.armed.push({
      id,
      kind: parsed.kind,
      fault: parsed.fault,
      remaining: parsed.times ?? 1,
      serverId: parsed.serverId?.toLowerCase() ?? null,
    });
    return id;
  }

  /** The fault for this request, consuming one use; earliest armed first. */
  take(kind: RequestKind, serverId: string | null): FaultSpec | null {
    const match = this.armed.find(
      (a) => (a.kind === 'any' || a.kind === kind) && (a.serverId === null || a.serverId === serverId?.toLowerCase()),
    );
    if (!match) return null;
    match.remaining -= 1;
    if (match.remaining <= 0) this.armed = this.armed.filter((a) => a !== match);
    return match.fault;
  }

  /** Faults still armed. */
  pending(): ArmedFault[] {
    return this.armed.map((a) => ({ ...a }));
  }

  clear(): void {
    this.armed = [];
  }
}
