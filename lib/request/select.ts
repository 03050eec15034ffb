/**
 * `rebuildJob.select`: a job's servers named by Nova's own list filters instead of by id, resolved
 * by the service against the project (worker/select.ts). The filters are those a project member may
 * pass to `GET /servers/detail` at the job's microversion (nova/api/openstack/compute/servers.py,
 * `_get_server_search_options`; recordings 13a–13h), passed to Nova as given; `all_tenants` and
 * project filters are never taken: a job acts on its own project only (13j).
 */
import * as z from 'zod';
import type { FieldError } from './field-errors.js';
import { fieldErrorsFromZod, toPointer } from './field-errors.js';
import { type Microversion, formatMicroversion } from './microversion.js';
import { canonicalUuid } from './nova-formats.js';

/** Each filter and the microversion from which Nova takes it from a member. */
export const SELECT_FILTERS: Record<string, string> = {
  name: '2.1',
  status: '2.1',
  image: '2.1',
  flavor: '2.1',
  ip: '2.1',
  ip6: '2.5',
  tags: '2.26',
  'tags-any': '2.26',
  'not-tags': '2.26',
  'not-tags-any': '2.26',
  locked: '2.73',
  availability_zone: '2.83',
  key_name: '2.83',
};

/** The statuses Nova's `status` filter knows; any other gives an empty list, not an error (13e). */
export const NOVA_STATUSES = [
  'ACTIVE', 'BUILD', 'DELETED', 'ERROR', 'HARD_REBOOT', 'MIGRATING', 'PASSWORD', 'PAUSED', 'REBOOT', 'REBUILD', 'RESCUE', 'RESIZE',
  'REVERT_RESIZE', 'SHELVED', 'SHELVED_OFFLOADED', 'SHUTOFF', 'SOFT_DELETED', 'SUSPENDED', 'UNKNOWN', 'VERIFY_RESIZE',
] as const;

const text = z.string().min(1, 'is too short').max(255, 'is longer than 255 characters');

export const selectSchema = z.strictObject({
  filters: z
    .strictObject({
      name: text.optional().meta({ description: 'A regular expression (Python syntax, as Nova reads it)' }),
      status: z.enum(NOVA_STATUSES).optional(),
      image: text.optional(),
      flavor: text.optional(),
      ip: text.optional(),
      ip6: text.optional(),
      tags: text.optional(),
      'tags-any': text.optional(),
      'not-tags': text.optional(),
      'not-tags-any': text.optional(),
      locked: z.boolean().optional(),
      availability_zone: text.optional(),
      key_name: text.optional(),
    })
    .refine((f) => Object.keys(f).length > 0, { message: 'should have at least 1 filter: a job never selects a whole project by default' }),
  exclude: z.array(z.string().refine((v) => canonicalUuid(v) !== undefined, { message: "is not a 'uuid'" })).max(10000, 'has more than 10000 items').optional(),
  max: z.number().int().min(1, 'is less than the minimum of 1').optional(),
});

/** A selection as the job keeps it. */
export interface Selection {
  /** Nova's list parameters, as strings. */
  filters: Record<string, string>;
  exclude: string[];
  /** More servers matching than this fails the job, nothing rebuilt. */
  max: number;
}

/** Reads `rebuildJob.select` at the job's microversion; field errors, or the selection. */
export function parseSelect(raw: unknown, mv: Microversion, maxServersPerJob: number): { selection?: Selection; errors: FieldError[] } {
  const base = ['rebuildJob', 'select'];
  const parsed = selectSchema.safeParse(raw);
  if (!parsed.success) return { errors: fieldErrorsFromZod(parsed.error, raw, base) };
  const errors: FieldError[] = [];
  const filters: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed.data.filters)) {
    if (value === undefined) continue;
    const from = SELECT_FILTERS[key] as string;
    const [, minor] = from.split('.');
    if (mv.minor < Number(minor)) {
      errors.push({ pointer: toPointer([...base, 'filters', key]), message: `Invalid input for field/attribute ${key}. Nova takes this filter from microversion ${from}; the job's is ${formatMicroversion(mv)}`, status: 400 });
      continue;
    }
    filters[key] = String(value);
  }
  const max = parsed.data.max ?? maxServersPerJob;
  if (max > maxServersPerJob) {
    errors.push({ pointer: toPointer([...base, 'max']), message: `Invalid input for field/attribute max. Value: ${max}. ${max} is greater than the maximum of ${maxServersPerJob} servers a job takes`, status: 400 });
  }
  if (errors.length) return { errors };
  const exclude = [...new Set((parsed.data.exclude ?? []).map((id) => canonicalUuid(id) as string))];
  return { selection: { filters, exclude, max }, errors };
}
