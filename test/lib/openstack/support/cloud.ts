/**
 * The client's tests run against the Compute API simulator (local/sim), the one fake cloud: its
 * scripts answer with responses recorded from a real cloud (`../fixtures/*.json`) or break the
 * connection as no cloud does on demand, and its tap hands each request over as sent.
 */
import { readFileSync } from 'node:fs';
import { type ComputeSimulator, type ScriptedReply, type TappedRequest, startComputeSimulator } from '../../../../local/sim/index.js';

export type { ScriptedReply, TappedRequest };

export interface ClientTestCloud {
  sim: ComputeSimulator;
  /** Every request since the last reset, as sent (headers, token, body). */
  sent: TappedRequest[];
  /** Those whose method is `method` and whose path is (or matches) `path`. */
  sentTo(method: string, path: string | RegExp): TappedRequest[];
  /** Drops the scripts and what was sent; an unscripted request is a 501 again. */
  reset(): void;
}

/** Starts the simulator on a free loopback port, tapped. */
export async function startClientTestCloud(): Promise<ClientTestCloud> {
  const sim = await startComputeSimulator({ port: 0 });
  const sent: TappedRequest[] = [];
  // A request no test scripted is a 501, as from a server that has no such route: the simulator's
  // own Keystone and Nova answering it could let a test pass that forgot its script.
  const start = () => {
    sim.tap((request) => sent.push(request));
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']) {
      sim.script(method, /.*/, (request) => ({ status: 501, body: `no script for ${request.method} ${request.path}` }));
    }
  };
  start();
  return {
    sim,
    sent,
    sentTo: (method, path) => sent.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path))),
    reset() {
      sim.clearScripts();
      sent.length = 0;
      start();
    },
  };
}

interface FixtureFile {
  source: string;
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: string;
}

/**
 * A recorded answer from `../fixtures/<name>.json`. With `cloudUrl`, the recorded Keystone (:5000)
 * and Nova (:8774) URLs in the body (the service catalog) are rewritten to the simulator.
 */
export function fixture(name: string, cloudUrl?: string): ScriptedReply {
  const file = JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8')) as FixtureFile;
  const body =
    cloudUrl === undefined ? file.body : file.body.replaceAll('http://127.0.0.1:8774', cloudUrl).replaceAll('http://127.0.0.1:5000', cloudUrl);
  return { status: file.status, statusText: file.statusText, headers: file.headers, body };
}

/** A Keystone token answer (k01/k02) whose catalog is rewritten by `edit` (after the URL rewrite). */
export function tokenReply(name: string, cloudUrl: string, edit?: (token: Record<string, unknown>) => void, subjectToken?: string): ScriptedReply {
  const reply = fixture(name, cloudUrl);
  const parsed = JSON.parse(reply.body ?? '{}') as { token: Record<string, unknown> };
  edit?.(parsed.token);
  const headers = (reply.headers ?? []).map(([header, value]): [string, string] =>
    header.toLowerCase() === 'x-subject-token' && subjectToken !== undefined ? [header, subjectToken] : [header, value],
  );
  return { ...reply, headers, body: JSON.stringify(parsed) };
}

/** Header value as a string (first one if repeated). */
export function header(request: TappedRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
