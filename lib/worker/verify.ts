/**
 * Did the cloud take a rebuild whose answer we never had? Asked after every attempt whose outcome
 * is unknown (no answer, a broken connection, a 5xx that may come after Nova acted, a worker that
 * died mid-call), before anything is sent again.
 *
 * The cloud's own records decide: a rebuild in the server's instance actions that carries Nova's
 * request id from one of our answers, or that started inside the window our attempts could have
 * started in, is ours; a server whose task_state is a rebuild's is ours running. The window is on
 * Nova's clock and must hold whatever the difference between its clock and ours: it starts the
 * tolerated skew (at least ±5 minutes) before our first unknown attempt, but never before the
 * server's `updated` as Nova showed it when we checked the server — both on Nova's clock — so an
 * older rebuild by someone else is not taken for ours.
 */
import { ComputeAuthError, ComputeTransportError, type ComputeApi, type ComputeTarget } from '../openstack/compute.js';
import type { ServerRecord, Uncertainty } from '../jobs/model.js';

/**
 * How far apart Nova's `updated` of a server and the start time of an action on it may be while
 * both are "on Nova's clock": they are written by different Nova hosts (the API host records the
 * action; the compute host or conductor saves the instance), each to whole seconds, and NTP keeps
 * hosts of one cloud within a second of each other. A minute is far beyond that: missing our own
 * rebuild would mean sending a second one, while the price of a wide margin is only that someone
 * else's rebuild finishing less than a minute before our check counts as ours (real rebuilds take
 * minutes).
 */
const NOVA_HOSTS_MARGIN_MS = 60_000;
/**
 * Nova's action start times are whole seconds (the fraction cut off), our attempt times are not: an
 * attempt at 12:00:00.700 can start at 12:00:00 on a clock that agrees with ours to the millisecond.
 * Two seconds cover the cut with a second to spare.
 */
const WHOLE_SECONDS_MARGIN_MS = 2_000;

export type CloudAnswer =
  /**
   * A rebuild of ours was taken (its Nova request id when the actions show it). `by`: how it was
   * known — Nova's request id of one of our attempts (certain), an action started within the window
   * (which could be someone else's rebuild), or a rebuild running now.
   */
  | { kind: 'ours'; novaRequestId?: string; by: 'requestId' | 'window' | 'taskState' }
  /** No rebuild of ours in the cloud's records, which could be read. */
  | { kind: 'absent' }
  /** The server no longer exists. */
  | { kind: 'gone'; message: string }
  /** The cloud could not be asked (or would not say); ask again later. */
  | { kind: 'unknown'; message: string };

/** Nova's times have no zone and may lack one: "2026-11-27T02:07:45.000000" is UTC. */
export function novaTime(value: string): number {
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
}

/** Asks the cloud whether a rebuild of `rec` under `uncertainty` was taken. */
export async function askCloud(
  compute: ComputeApi,
  target: ComputeTarget,
  rec: ServerRecord,
  uncertainty: Uncertainty,
  skewToleranceSeconds: number,
): Promise<CloudAnswer> {
  const fromOurs = Date.parse(uncertainty.since) - skewToleranceSeconds * 1000 - WHOLE_SECONDS_MARGIN_MS;
  const fromCheck = rec.baselineUpdated !== undefined ? novaTime(rec.baselineUpdated) - NOVA_HOSTS_MARGIN_MS : Number.NEGATIVE_INFINITY;
  const windowStart = Math.max(fromOurs, fromCheck);
  try {
    const actions = await compute.listInstanceActions(target, rec.serverId);
    if (actions.ok) {
      // A rebuild of an earlier run of this server (a redrive: jobs/redrive.ts) is never this run's.
      const earlier = new Set((rec.runs ?? []).flatMap((r) => r.computeRequestIds ?? []));
      const rebuilds = actions.body.instanceActions.filter((a) => a.action === 'rebuild' && !earlier.has(a.request_id));
      const byId = rebuilds.find((a) => uncertainty.novaRequestIds.includes(a.request_id));
      if (byId) return { kind: 'ours', novaRequestId: byId.request_id, by: 'requestId' };
      const inWindow = rebuilds.find((a) => novaTime(a.start_time) >= windowStart);
      if (inWindow) return { kind: 'ours', novaRequestId: inWindow.request_id, by: 'window' };
    } else if (actions.status === 404) {
      return { kind: 'gone', message: actions.message };
    }
    const server = await compute.getServer(target, rec.serverId);
    if (!server.ok) {
      if (server.status === 404) return { kind: 'gone', message: server.message };
      return { kind: 'unknown', message: server.message };
    }
    const task = server.body.server['OS-EXT-STS:task_state'] ?? '';
    if (task.startsWith('rebuild')) return { kind: 'ours', by: 'taskState' };
    return actions.ok ? { kind: 'absent' } : { kind: 'unknown', message: actions.message };
  } catch (err) {
    if (err instanceof ComputeTransportError || err instanceof ComputeAuthError) return { kind: 'unknown', message: err.message };
    throw err;
  }
}
