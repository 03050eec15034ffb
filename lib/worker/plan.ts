/**
 * Builds a job's plan (jobs/plan.ts) once the watcher's preflight is over — every job has one, a
 * plan to confirm (`options.confirm: "manual"`) or not: checks each distinct target image in Glance,
 * judges every server, and writes the findings on the job in one conditional write. A job to
 * confirm is then AWAITING_CONFIRMATION; any other job's servers read the image check before they
 * are sent (worker/step.ts). Run again after a crash, it finds the plan written and does nothing;
 * the preflight's entries are written before it, so a second build judges the same entries.
 */
import { type ImageCheck, type JobPlan, type JobRecord, type PreflightEntry, type ServerRecord } from '../jobs/model.js';
import { planServer } from '../jobs/plan.js';
import { preflightChunk } from '../jobs/watching.js';
import { ComputeAuthError, ComputeTransportError, type ComputeTarget } from '../openstack/compute.js';
import { ComputeConfigError } from '../openstack/config.js';
import type { Listed, WatchDeps } from './watch.js';

/**
 * Distinct target images a plan checks, one GET each: far more than a job uses (one shared image,
 * or a handful per tier); past it the rest are left "not checked" rather than hold the watcher.
 */
const MAX_PLAN_IMAGES = 50;
/** Servers read per page. */
const PAGE = 1000;

async function checkImage(deps: WatchDeps, target: ComputeTarget, imageId: string): Promise<ImageCheck> {
  try {
    const answer = await deps.compute.getImage(target, imageId);
    if (answer.ok) {
      const { status, min_disk, min_ram } = answer.body.image;
      return { found: true, status, ...(min_disk !== undefined ? { minDisk: min_disk } : {}), ...(min_ram !== undefined ? { minRam: min_ram } : {}) };
    }
    if (answer.status === 404) return { found: false };
    return { found: false, unchecked: `Glance answered ${answer.status}` };
  } catch (err) {
    if (err instanceof ComputeConfigError) return { found: false, unchecked: 'the catalog has no image service' };
    if (err instanceof ComputeTransportError || err instanceof ComputeAuthError) return { found: false, unchecked: `no answer from Glance (${err.name})` };
    throw err;
  }
}

/** Builds the job's plan; `known`: its server records, when the preflight has just read them all. */
export async function buildPlan(deps: WatchDeps, job: JobRecord, target: ComputeTarget, listed: Listed, known?: ServerRecord[]): Promise<void> {
  const records = known ?? [];
  let marker: string | undefined;
  while (!known) {
    const page = await deps.store.listServers(job.jobId, { limit: PAGE, ...(marker ? { marker } : {}) });
    records.push(...page.items);
    marker = page.nextMarker;
    if (!marker) break;
  }

  const images: Record<string, ImageCheck> = {};
  const distinct = [...new Set(records.map((r) => r.imageId))];
  for (const [i, imageId] of distinct.entries()) {
    images[imageId] = i < MAX_PLAN_IMAGES ? await checkImage(deps, target, imageId) : { found: false, unchecked: `more than ${MAX_PLAN_IMAGES} distinct images` };
  }
  const plan: JobPlan = {
    builtAt: ((deps.now ?? (() => new Date()))()).toISOString(),
    listed: listed.ok,
    ...(listed.ok ? {} : { unlisted: listed.why }),
    images,
    summary: { rebuild: 0, wait: 0, fail: 0, unknown: 0 },
  };
  const chunks = new Map<number, Record<string, PreflightEntry> | undefined>();
  for (const rec of records) {
    const chunk = preflightChunk(rec.index);
    if (!chunks.has(chunk)) chunks.set(chunk, listed.ok ? await deps.store.getPreflight(job.jobId, chunk) : undefined);
    plan.summary[planServer(plan, chunks.get(chunk)?.[rec.serverId], rec, job).action]++;
  }
  if (await deps.store.setPlan(job.jobId, plan)) {
    deps.logger.info('plan built', { jobId: job.jobId, ...plan.summary, images: distinct.length });
  }
}
