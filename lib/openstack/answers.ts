/**
 * The Compute, Image and Identity answers the client reads, as zod schemas (recordings in
 * ../shared/nova-reference: 01b, 05a, 11*–14*, Keystone's token). Each requires only what the
 * service cannot work without (a server's id and status, an action's request id and start time, a
 * token's body); every other field it names is read when it has the type the recordings show and
 * dropped otherwise (`.catch(undefined)`), so one odd field in a cloud's answer never makes the
 * whole answer unreadable — which the worker would have to treat as no answer at all. Fields the
 * schemas do not name pass through untouched (loose objects).
 */
import * as z from 'zod';

const optionalText = z.string().optional().catch(undefined);
const optionalNumber = z.number().optional().catch(undefined);

export const serverViewSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  tenant_id: optionalText,
  'OS-EXT-STS:task_state': z.string().nullable().optional().catch(undefined),
  'OS-EXT-STS:vm_state': optionalText,
  // An object with the image's id, or "" for a server booted from a volume.
  image: z.union([z.looseObject({ id: optionalText }), z.string()]).optional().catch(undefined),
  updated: optionalText,
  locked: z.boolean().optional().catch(undefined),
  flavor: z.looseObject({ id: optionalText, disk: optionalNumber, ram: optionalNumber }).optional().catch(undefined),
  fault: z.looseObject({ code: optionalNumber, message: optionalText, details: optionalText }).optional().catch(undefined),
});

const link = z.looseObject({ rel: z.string(), href: z.string() });

/** `{"server": {...}}` (01b); the rebuild's 202 body too, which the client reads only if it can. */
export const serverAnswer = z.looseObject({ server: serverViewSchema });

/** `{"servers": [...], "servers_links": [...]}` (11a, 12a, 12b). */
export const serverListAnswer = z.looseObject({
  servers: z.array(serverViewSchema),
  servers_links: z.array(link).optional().catch(undefined),
});

/** `{"instanceActions": [...]}` (05a, 05c). */
export const instanceActionsAnswer = z.looseObject({
  instanceActions: z.array(
    z.looseObject({ action: z.string(), request_id: z.string(), start_time: z.string(), message: z.string().nullable().optional().catch(undefined) }),
  ),
});

/** Glance's image (14a). */
export const imageAnswer = z.looseObject({ id: z.string(), status: z.string(), min_disk: optionalNumber, min_ram: optionalNumber });

/** Keystone v3's token body: the catalog's endpoints, the project it is scoped to, its lifetime. */
export const tokenAnswer = z.looseObject({
  token: z.looseObject({
    project: z.looseObject({ id: z.string() }).optional().catch(undefined),
    issued_at: optionalText,
    expires_at: optionalText,
    // Read entry by entry (catalogService): one odd entry never hides the others.
    catalog: z.array(z.unknown()).optional().catch(undefined),
  }),
});

const endpoint = z.looseObject({ interface: z.string().catch(''), region_id: optionalText, region: optionalText, url: z.string().catch('') });

/** One service of a token's catalog, its unreadable endpoints left out. */
export const catalogService = z.looseObject({
  type: optionalText,
  endpoints: z
    .array(z.unknown())
    .catch([])
    .transform((all) => all.flatMap((e) => {
      const parsed = endpoint.safeParse(e);
      return parsed.success ? [parsed.data] : [];
    })),
});
