/**
 * What a caller may do to a job, through `POST …/rebuild-jobs/{id}/action` with a Nova-style
 * action body (one key): cancel it (cancel.ts), hold it and let it go on, change how many of its
 * servers may be in flight, confirm its plan (plan.ts), or run an ended job's failed servers again (redrive.ts). Each acts on the job item alone; the worker reads them at
 * every step (a held job sends nothing new; a claim honours the current maxInFlight).
 */
import { BadRequestError, ConflictError } from '../errors.js';
import type { Caller } from './grants.js';
import type { JobRecord } from './model.js';
import type { JobStore } from './ports.js';
import { type RedriveRequest, parseRedrive } from './redrive.js';
import { loadJob } from './views.js';
import { parseConfirm } from './plan.js';
import type { RebuildRequest } from '../request/rebuild-schema.js';

/** maxInFlight's range, as the request schema has it (job-request.ts). */
const MAX_IN_FLIGHT = { min: 1, max: 1000 };

export type JobAction =
  | { kind: 'cancel' }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'update'; maxInFlight: number }
  | { kind: 'redrive'; request: RedriveRequest }
  | { kind: 'confirm'; secrets: Partial<RebuildRequest> };

const NULL_ACTIONS = ['cancel', 'pause', 'resume'] as const;
const ACTIONS = [...NULL_ACTIONS, 'update', 'redrive', 'confirm'];

/** Reads an action body as Nova reads one: a single key naming the action. */
export function parseJobAction(body: unknown): JobAction {
  if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1) {
    throw new BadRequestError(`Malformed request body: send one action, e.g. {"cancel": null}; the actions are ${ACTIONS.join(', ')}`);
  }
  const [name] = Object.keys(body) as [string];
  const value = (body as Record<string, unknown>)[name];
  if ((NULL_ACTIONS as readonly string[]).includes(name)) {
    if (value !== null) throw new BadRequestError(`Invalid input for field/attribute ${name}. The value must be null: {"${name}": null}`);
    return { kind: name as (typeof NULL_ACTIONS)[number] };
  }
  if (name === 'update') {
    const fields = value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
    const n = (value as { maxInFlight?: unknown } | null)?.maxInFlight;
    if (fields.length !== 1 || fields[0] !== 'maxInFlight') {
      throw new BadRequestError('Invalid input for field/attribute update. It takes one field: {"update": {"maxInFlight": n}}');
    }
    if (typeof n !== 'number' || !Number.isInteger(n) || n < MAX_IN_FLIGHT.min || n > MAX_IN_FLIGHT.max) {
      throw new BadRequestError(`Invalid input for field/attribute update/maxInFlight. Value: ${JSON.stringify(n)?.slice(0, 32)}. It must be an integer from ${MAX_IN_FLIGHT.min} to ${MAX_IN_FLIGHT.max}`);
    }
    return { kind: 'update', maxInFlight: n };
  }
  if (name === 'redrive') return { kind: 'redrive', request: parseRedrive(value) };
  if (name === 'confirm') return { kind: 'confirm', secrets: parseConfirm(value) };
  throw new BadRequestError(`There is no such action: ${name.slice(0, 64)}`);
}

/** Holds a job: servers not yet sent wait; rebuilds the cloud has go on to their end. */
export async function pauseJob(store: JobStore, caller: Caller, jobId: string, now: Date): Promise<JobRecord> {
  const job = await loadJob(store, caller, jobId);
  if (job.finalStatus) throw new ConflictError(`Rebuild job ${jobId} has already ended; there is nothing to pause.`);
  if (job.paused) throw new ConflictError(`Rebuild job ${jobId} is already paused (by ${job.paused.by} at ${job.paused.at}).`);
  if (!(await store.setPaused(jobId, { at: now.toISOString(), by: caller.principal }))) {
    throw new ConflictError(`Rebuild job ${jobId} ended or was paused meanwhile.`);
  }
  return (await store.getJob(jobId)) ?? job;
}

/** Lets a paused job go on; its waiting servers look again within seconds to minutes (worker/step.ts). */
export async function resumeJob(store: JobStore, caller: Caller, jobId: string): Promise<JobRecord> {
  const job = await loadJob(store, caller, jobId);
  if (job.finalStatus) throw new ConflictError(`Rebuild job ${jobId} has already ended; there is nothing to resume.`);
  if (!job.paused) throw new ConflictError(`Rebuild job ${jobId} is not paused.`);
  if (!(await store.setPaused(jobId, null))) throw new ConflictError(`Rebuild job ${jobId} ended or was resumed meanwhile.`);
  return (await store.getJob(jobId)) ?? job;
}

/** Changes how many of the job's servers may be between claim and end; more in flight now than allowed finish, no new claim until below. */
export async function updateJob(store: JobStore, caller: Caller, jobId: string, maxInFlight: number): Promise<JobRecord> {
  const job = await loadJob(store, caller, jobId);
  if (job.finalStatus) throw new ConflictError(`Rebuild job ${jobId} has already ended; there is nothing to update.`);
  if (!(await store.setMaxInFlight(jobId, maxInFlight))) throw new ConflictError(`Rebuild job ${jobId} ended meanwhile.`);
  return (await store.getJob(jobId)) ?? job;
}
