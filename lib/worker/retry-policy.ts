/**
 * What the worker does with each answer to a rebuild, and how long it waits before the next try.
 * This module is the one owner of the rebuild retry policy: the HTTP client makes no retries of its
 * own (beyond one re-authentication), and the AWS SDK's retries are about AWS.
 *
 * Every answer is read for one question first: may the cloud have acted? A 202 says yes; a 4xx,
 * a 503 and a request that never left say no; no answer at all, a broken connection, and any other
 * 5xx (Nova's 500, a load balancer's 502 or 504) say "maybe" — the attempt is then uncertain, and
 * the cloud is asked before anything is sent again (`verify.ts`).
 */
import type { ComputeResult } from '../openstack/compute.js';

/** The worker's waiting settings, in seconds. */
export interface RetrySettings {
  /**
   * First backoff step. 5 s: Nova's 409 windows last as long as a task (a rebuild takes minutes,
   * a reboot tens of seconds), and a 503 from a proxy rarely clears in less; retrying sooner only
   * adds load to a cloud that already said it is busy.
   */
  baseSeconds: number;
  /**
   * Largest backoff step. 300 s: with full jitter the mean wait then stays under three minutes,
   * so a night's job with a 2 h deadline still gets a few dozen tries through a long outage.
   */
  capSeconds: number;
}

export const DEFAULT_RETRY: RetrySettings = { baseSeconds: 5, capSeconds: 300 };

export type Cause =
  | 'busy' // 409 with a task_state: clears by itself
  | 'unavailable' // 503: the cloud (or its proxy) did not act
  | 'rateLimited' // 429, or 413 with Retry-After: a rate limiter, before the cloud
  | 'unsent' // the request certainly never left (connection refused, DNS, Keystone unreachable)
  | 'uncertain' // the cloud may have acted: no answer, a broken connection, a 5xx other than 503
  | 'conflict' // 409 that waiting will not clear: locked, paused, suspended, shelved, rescued...
  | 'tooLarge' // 413 without Retry-After: the request itself is too large, waiting will not help
  | 'refused' // 400/403/404/405/406/415 and other 4xx
  | 'unauthorized'; // 401 after one re-authentication

export type Decision =
  | { kind: 'accepted'; computeRequestId?: string }
  | { kind: 'retry'; cause: 'busy' | 'unavailable' | 'rateLimited' | 'unsent'; status?: number; faultName?: string; message: string; retryAfterMs?: number; computeRequestId?: string }
  | { kind: 'uncertain'; status?: number; faultName?: string; message: string; computeRequestId?: string }
  | { kind: 'fail'; cause: 'conflict' | 'tooLarge' | 'refused' | 'unauthorized'; status?: number; faultName?: string; message: string; computeRequestId?: string };

/**
 * vm_states Nova names in a 409 that do clear by themselves: a server still being built.
 * Every other vm_state (paused, suspended, shelved, shelved_offloaded, rescued, resized, error,
 * soft-deleted...) needs an operator, so waiting would only spend the job's deadline.
 */
const TRANSIENT_VM_STATES = new Set(['building']);

/** Reads a 409's message: a task in progress clears, a locked or parked server does not (02a–02h). */
function conflictClears(message: string): boolean {
  if (/\bis locked\b/i.test(message)) return false;
  const vm = /while it is in vm_state (\w+)/i.exec(message);
  if (vm) return TRANSIENT_VM_STATES.has((vm[1] ?? '').toLowerCase());
  // "while it is in task_state rebuilding" and conflicts we cannot read: retry, within budget.
  return true;
}

/**
 * A rebuild of this server is running: Nova's 409 "task_state rebuilding…" (02a), or its 500
 * `UnexpectedTaskStateError`, which it answers when a rebuild starts under another (02b). After an
 * attempt whose outcome was unknown, that rebuild may be ours.
 */
export function rebuildRunning(result: ComputeResult<unknown>): boolean {
  if (result.ok) return false;
  if (result.status === 409) return /task_state rebuild/i.test(result.message) || result.faultName === 'buildInProgress';
  return result.status === 500 && /UnexpectedTaskStateError/.test(result.message);
}

/** The decision for a rebuild answer. */
export function decideRebuild(result: ComputeResult<unknown>): Decision {
  if (result.ok) return { kind: 'accepted', ...(result.computeRequestId ? { computeRequestId: result.computeRequestId } : {}) };
  const { status, message } = result;
  const fault = {
    status,
    message,
    ...(result.faultName ? { faultName: result.faultName } : {}),
    ...(result.computeRequestId ? { computeRequestId: result.computeRequestId } : {}),
  };
  const after = result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {};
  // Keystone could not issue a token: the Compute request was never sent.
  if (result.unsent) return { kind: 'retry', cause: 'unsent', ...fault, ...after };
  if (status === 409) {
    // The seed's `buildInProgress` is the old name of a busy server.
    if (result.faultName === 'buildInProgress' || conflictClears(message)) return { kind: 'retry', cause: 'busy', ...fault, ...after };
    return { kind: 'fail', cause: 'conflict', ...fault };
  }
  if (status === 503) return { kind: 'retry', cause: 'unavailable', ...fault, ...after };
  if (status === 429) return { kind: 'retry', cause: 'rateLimited', ...fault, ...after };
  // A 413 is a rate limit only when it says how long to wait; otherwise the request is too large.
  if (status === 413) return result.retryAfterMs !== undefined ? { kind: 'retry', cause: 'rateLimited', ...fault, ...after } : { kind: 'fail', cause: 'tooLarge', ...fault };
  if (status >= 500) return { kind: 'uncertain', ...fault };
  if (status === 401) return { kind: 'fail', cause: 'unauthorized', ...fault };
  return { kind: 'fail', cause: 'refused', ...fault };
}

/**
 * Seconds to wait before try number `tries` + 1 (tries counts from 1): exponential with full
 * jitter (uniform between 0 and base·2^(tries−1), capped), never shorter than what the cloud
 * asked for with Retry-After, and at least 1 s (SQS delays are whole seconds). Not capped by SQS's
 * 15-minute delay: longer waits are chained (worker/step.ts).
 */
export function backoffSeconds(tries: number, settings: RetrySettings, retryAfterMs?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(settings.capSeconds, settings.baseSeconds * 2 ** Math.max(0, tries - 1));
  const jittered = random() * ceiling;
  const asked = retryAfterMs !== undefined ? Math.ceil(retryAfterMs / 1000) : 0;
  return Math.max(1, Math.ceil(Math.max(jittered, asked)));
}
