/** Requests as sent, and their events: what every arbitrary ends in. */
import type { ApiEvent } from '../../../functions/api-app.js';
import { apiEvent } from '../../support/api.js';
import { type ValidRequest, bodyOf } from './rebuild.js';

/** One HTTP request. */
export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** A request the service must refuse, with the status it must refuse it with. */
export interface Refusal {
  request: RawRequest;
  status: number;
  /** What was wrong, for the failure report. */
  what: string;
}

export function rawOf(req: Pick<ValidRequest, 'path' | 'headers' | 'body' | 'binary'>): RawRequest {
  return { method: 'POST', path: req.path, headers: req.headers, body: bodyOf(req) };
}

export function eventOf(raw: RawRequest): ApiEvent {
  return apiEvent(raw.method, raw.path, { headers: raw.headers, ...(raw.body !== undefined ? { body: raw.body } : {}) });
}

/** Bytes on the wire. */
export function byteLength(body: string | Buffer | undefined): number {
  if (body === undefined) return 0;
  return typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
}

/** A deep copy that keeps `__proto__` keys as own properties (JSON.parse creates them so). */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Short text for failure reports: fast-check prints the generated value. */
export function show(raw: RawRequest): string {
  const body = raw.body === undefined ? '' : typeof raw.body === 'string' ? raw.body : `<${raw.body.byteLength} bytes> ${raw.body.toString('utf8')}`;
  return `${raw.method} ${raw.path} ${JSON.stringify(raw.headers)} ${body.length > 400 ? `${body.slice(0, 400)}…(${body.length})` : body}`;
}
