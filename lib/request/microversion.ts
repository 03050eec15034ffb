/**
 * Compute API microversions as Nova reads them: `X-OpenStack-Nova-API-Version: 2.N` or
 * `OpenStack-API-Version: compute 2.N`, default 2.1, `latest` the newest (04g–04i).
 */
import { BadRequestError, NotAcceptableError } from '../errors.js';

/** A parsed "2.N" microversion. */
export interface Microversion {
  major: 2;
  minor: number;
}

export const MIN_MICROVERSION: Microversion = { major: 2, minor: 1 };
/**
 * The newest microversion whose rebuild schema we know (2.94 made `hostname` an FQDN; 2.95 and
 * 2.96 did not touch rebuild's body). A deployment sets its cloud's own maximum
 * (`NOVA_MAX_MICROVERSION`) so that a version the cloud lacks is refused at submission, as Nova
 * would (406), rather than by every server's rebuild.
 */
export const MAX_MICROVERSION: Microversion = { major: 2, minor: 96 };

/** True when `mv` is 2.`minor` or later. */
export function atLeast(mv: Microversion, minor: number): boolean {
  return mv.minor >= minor;
}

/** "2.N". */
export function formatMicroversion(mv: Microversion): string {
  return `${mv.major}.${mv.minor}`;
}

/** Parses a version string with Nova's messages for a malformed (400) or unsupported (406) one. */
export function parseMicroversion(value: string, max: Microversion = MAX_MICROVERSION): Microversion {
  const text = value.trim();
  if (text.toLowerCase() === 'latest') return max;
  // Nova's own pattern: no leading zeros (04i; "2.05" is malformed, not 2.5).
  const m = /^([1-9]\d*)\.([1-9]\d*|0)$/.exec(text);
  if (!m) {
    throw new BadRequestError(`API Version String ${text} is of invalid format. Must be of format MajorNum.MinorNum.`);
  }
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major !== 2 || minor < MIN_MICROVERSION.minor || minor > max.minor) {
    throw new NotAcceptableError(
      `Version ${text} is not supported by the API. Minimum is ${formatMicroversion(MIN_MICROVERSION)} and maximum is ${formatMicroversion(max)}.`,
    );
  }
  return { major: 2, minor };
}

/**
 * The microversion a request asks for, from the headers Nova reads (names case-insensitive);
 * undefined when it names none. `OpenStack-API-Version` wins, as in Nova.
 */
export function microversionFromHeaders(
  headers: Record<string, string | undefined>,
  max: Microversion = MAX_MICROVERSION,
): Microversion | undefined {
  let legacy: string | undefined;
  let modern: string | undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const key = k.toLowerCase();
    if (key === 'x-openstack-nova-api-version') legacy = v;
    if (key === 'openstack-api-version') {
      // "compute 2.57", possibly among other services: "volume 3.1, compute 2.57".
      const entry = v.split(',').map((s) => s.trim().split(/\s+/)).find(([service]) => service?.toLowerCase() === 'compute');
      // "compute" with no version is a malformed header, not an absent one.
      if (entry) modern = entry[1] ?? '';
    }
  }
  const chosen = modern ?? legacy;
  return chosen === undefined ? undefined : parseMicroversion(chosen, max);
}
