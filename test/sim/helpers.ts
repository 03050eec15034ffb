/** Talking to the simulator over loopback with undici, always consuming the body. */
import { request } from 'undici';
import type { ComputeSimulator } from '../../local/sim/index.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface CallOptions {
  headers?: Record<string, string>;
  body?: string;
}

export async function call(sim: ComputeSimulator, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const res = await request(`${sim.url}${path}`, {
    method: method as 'GET',
    headers: options.headers ?? {},
    body: options.body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

export function json(answer: Answer): Record<string, unknown> {
  return JSON.parse(answer.text) as Record<string, unknown>;
}

export function firstHeader(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** A rebuild body for the default image, plus whatever the test adds. */
export function rebuildBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ rebuild: { imageRef: 'a2459075-d96c-40d5-893e-577ff92e721c', ...extra } });
}

/** POST a rebuild with the static token. */
export function postRebuild(sim: ComputeSimulator, serverId: string, options: CallOptions = {}): Promise<Answer> {
  return call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${serverId}/action`, {
    body: options.body ?? rebuildBody(),
    headers: { 'X-Auth-Token': sim.staticToken ?? '', 'Content-Type': 'application/json', ...options.headers },
  });
}

/** GET /servers/{id} with the static token; returns the `server` object. */
export async function getServer(
  sim: ComputeSimulator,
  serverId: string,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const answer = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${serverId}`, {
    headers: { 'X-Auth-Token': sim.staticToken ?? '', ...headers },
  });
  if (answer.status !== 200) throw new Error(`GET server ${serverId}: ${answer.status} ${answer.text}`);
  return json(answer).server as Record<string, unknown>;
}
