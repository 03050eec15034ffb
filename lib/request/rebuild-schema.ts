/**
 * The rebuild request body: the single source of its validation, its TypeScript type and its
 * JSON Schema (`npm run schema` writes docs/rebuild-schema.json from it).
 *
 * It follows Nova's own schema per microversion (openstack/nova `api/openstack/compute/schemas/
 * servers.py` and `api/validation/parameter_types.py`), checked against the exchanges recorded
 * from a real Nova in test/fixtures/nova-reference. Two deliberate differences: an `imageRef`
 * URL is accepted and normalised to the image UUID (Nova since Newton takes only the UUID,
 * 03d), and whether the image exists is left to Nova (03b), which the worker reports.
 */
import { isIPv4, isIPv6 } from 'node:net';
import * as z from 'zod';
import { type Microversion, atLeast } from './microversion.js';
import { canonicalUuid, pythonBase64DecodedLength } from './nova-formats.js';

/** Deployment limits Nova enforces as quotas (403, not 400); Nova's defaults. */
export interface QuotaLimits {
  /** Nova quota `metadata_items`. */
  metadataItems: number;
  /** Nova quota `injected_files`. */
  personalityFiles: number;
  /** Nova quota `injected_file_content_bytes`, counted on the decoded contents. */
  personalityContentBytes: number;
  /** Nova quota `injected_file_path_bytes`. */
  personalityPathBytes: number;
}

export const NOVA_DEFAULT_QUOTAS: QuotaLimits = {
  metadataItems: 128,
  personalityFiles: 5,
  personalityContentBytes: 10240,
  personalityPathBytes: 255,
};

// Nova's `_is_printable`: every code point except categories C* and Z* other than Zs.
const NOT_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;
const EDGE_BLANK = /^\p{Zs}|\p{Zs}$/u;
const METADATA_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;
const HOSTNAME_290 = /^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$/;
const HOSTNAME_FQDN = /^[a-zA-Z0-9-._]*$/;

/**
 * An image reference: a UUID, or (as in the seed's example) an image URL whose last path segment
 * is the UUID. Returns the UUID Nova is sent.
 */
export function imageIdFromRef(ref: string): string | undefined {
  const direct = canonicalUuid(ref);
  if (direct) return direct;
  let url: URL;
  try {
    url = new URL(ref);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const last = url.pathname.split('/').filter(Boolean).pop();
  return last ? canonicalUuid(last) : undefined;
}

const name = z
  .string()
  .min(1, 'is too short')
  .max(255, 'is too long')
  .refine((v) => !NOT_PRINTABLE.test(v) && !EDGE_BLANK.test(v), {
    message: 'is not printable or has leading or trailing whitespace',
  });

const description = z
  .string()
  .max(255, 'is too long')
  .refine((v) => !NOT_PRINTABLE.test(v), { message: 'has characters that are not printable' })
  .nullable();

const imageRef = z.string().refine((v) => imageIdFromRef(v) !== undefined, {
  message: "is not a 'uuid' (nor an image URL ending in one)",
});

const base64 = z.string().refine((v) => pythonBase64DecodedLength(v) !== undefined, {
  message: "is not a 'base64'",
});

const metadata = z.record(
  z.string().regex(METADATA_KEY, "does not match '^[a-zA-Z0-9-_:. ]{1,255}$'"),
  z.string().max(255, 'is too long'),
);

/** Nova's `parameter_types.boolean`: JSON booleans and these spellings. */
const BOOLEAN_STRINGS = ['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'];
const booleanLike = z.union([z.boolean(), z.enum(BOOLEAN_STRINGS)]);

const personalityItem = z.strictObject({ path: z.string(), contents: base64 });

const baseFields = {
  imageRef,
  name: name.optional(),
  adminPass: z.string().optional(),
  metadata: metadata.optional(),
  preserve_ephemeral: booleanLike.optional(),
  'OS-DCF:diskConfig': z.enum(['AUTO', 'MANUAL']).optional(),
  accessIPv4: z.string().refine((v) => isIPv4(v), { message: "is not a 'ipv4'" }).optional(),
  accessIPv6: z.string().refine((v) => isIPv6(v), { message: "is not a 'ipv6'" }).optional(),
};

const personality = z.array(personalityItem).optional();
const userData = base64.refine((v) => v.length <= 65535, { message: 'is too long' }).nullable().optional();
const trustedCerts = z
  .array(z.string().min(1, 'is too short'))
  .min(1, 'is too short')
  .max(50, 'is too long')
  .refine((v) => new Set(v).size === v.length, { message: 'has non-unique elements' })
  .nullable()
  .optional();

/** The widest rebuild body (every field any microversion allows): the type the code works with. */
const anyRebuild = z.strictObject({
  ...baseFields,
  personality,
  description: description.optional(),
  key_name: name.nullable().optional(),
  user_data: userData,
  trusted_image_certificates: trustedCerts,
  hostname: z.string().optional(),
});
export type RebuildRequest = z.infer<typeof anyRebuild>;

type RebuildSchema = z.ZodType<RebuildRequest>;
const SCHEMA_THRESHOLDS = [19, 54, 57, 63, 90, 94];
const schemaCache = new Map<number, { full: RebuildSchema; partial: z.ZodType<Partial<RebuildRequest>> }>();

/** The rebuild schema Nova applies at microversion `mv` (the table in nova-reference/README.md). */
export function rebuildSchemaFor(mv: Microversion): { full: RebuildSchema; partial: z.ZodType<Partial<RebuildRequest>> } {
  const fields: Record<string, z.ZodType> = { ...baseFields };
  if (!atLeast(mv, 57)) fields.personality = personality;
  if (atLeast(mv, 19)) fields.description = description.optional();
  if (atLeast(mv, 54)) fields.key_name = name.nullable().optional();
  if (atLeast(mv, 57)) fields.user_data = userData;
  if (atLeast(mv, 63)) fields.trusted_image_certificates = trustedCerts;
  if (atLeast(mv, 94)) {
    fields.hostname = z.string().min(1, 'is too short').max(255, 'is too long').regex(HOSTNAME_FQDN, `does not match '${HOSTNAME_FQDN.source}'`).optional();
  } else if (atLeast(mv, 90)) {
    fields.hostname = z.string().min(2, 'is too short').max(63, 'is too long').regex(HOSTNAME_290, `does not match '${HOSTNAME_290.source}'`).optional();
  }
  // Schemas only differ between these thresholds, so one is built per range, not per version.
  const key = SCHEMA_THRESHOLDS.filter((minor) => atLeast(mv, minor)).length;
  let cached = schemaCache.get(key);
  if (!cached) {
    const full = z.strictObject(fields) as unknown as RebuildSchema;
    const partial = z.strictObject(fields).partial() as unknown as z.ZodType<Partial<RebuildRequest>>;
    cached = { full, partial };
    schemaCache.set(key, cached);
  }
  return cached;
}

/** A quota-type limit exceeded: Nova answers these with 403 `forbidden` and these messages (03o, 06*). */
export interface QuotaViolation {
  path: (string | number)[];
  message: string;
}

/** Nova's quota checks on a valid rebuild body (`_check_metadata_properties_quota`, `_check_injected_file_quota`). */
export function quotaViolations(body: RebuildRequest, limits: QuotaLimits): QuotaViolation[] {
  const out: QuotaViolation[] = [];
  if (body.metadata && Object.keys(body.metadata).length > limits.metadataItems) {
    out.push({ path: ['metadata'], message: `Maximum number of metadata items exceeds ${limits.metadataItems}` });
  }
  const files = body.personality ?? [];
  if (files.length > limits.personalityFiles) {
    out.push({ path: ['personality'], message: 'Personality file limit exceeded' });
  }
  files.forEach((file, i) => {
    if (Buffer.byteLength(file.path, 'utf8') > limits.personalityPathBytes) {
      out.push({ path: ['personality', i, 'path'], message: `Personality file path exceeds maximum ${limits.personalityPathBytes}` });
    }
    const bytes = pythonBase64DecodedLength(file.contents) ?? 0;
    if (bytes > limits.personalityContentBytes) {
      out.push({ path: ['personality', i, 'contents'], message: `Personality file content exceeds maximum ${limits.personalityContentBytes}` });
    }
  });
  return out;
}

/** The body Nova is sent: the validated request with `imageRef` reduced to the image UUID. */
export function normaliseRebuild(body: RebuildRequest): RebuildRequest {
  return { ...body, imageRef: imageIdFromRef(body.imageRef) ?? body.imageRef };
}

/** The widest rebuild body's schema, for the API's documentation (openapi.ts). */
export const widestRebuild = anyRebuild;

/** JSON Schema of the widest rebuild body, for the API documentation. */
export function rebuildJsonSchema(): unknown {
  return z.toJSONSchema(anyRebuild, { unrepresentable: 'any' });
}
