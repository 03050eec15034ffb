/**
 * Compute API microversions as Nova 26 (Zed) negotiates them: `OpenStack-API-Version: compute 2.N`
 * wins over the legacy `X-OpenStack-Nova-API-Version: 2.N`; none means 2.1; `latest` means 2.93;
 * anything outside 2.1–2.93 is a 406 computeFault (04h) and a malformed string a 400 (04i).
 */
import { header, type RequestContext } from '../http/types.js';
import { NovaFault } from './errors.js';

/** The versions handlers compare against, parsed once (views ask for each server of a list). */
const PARSED = new Map<string, [number, number]>();

export class Microversion {
  constructor(
    readonly major: number,
    readonly minor: number,
  ) {}

  /** True from `version` ("2.57") on. */
  atLeast(version: string): boolean {
    let parsed = PARSED.get(version);
    if (!parsed) {
      const [major = 0, minor = 0] = version.split('.').map(Number);
      parsed = [major, minor];
      PARSED.set(version, parsed);
    }
    const [major, minor] = parsed;
    return this.major > major || (this.major === major && this.minor >= minor);
  }

  toString(): string {
    return `${this.major}.${this.minor}`;
  }
}

export const MIN_MICROVERSION = new Microversion(2, 1);
export const MAX_MICROVERSION = new Microversion(2, 93);

export type Negotiated =
  | { ok: true; version: Microversion }
  /** `version` is set when the string parsed: Nova then still echoes it in its headers (04h). */
  | { ok: false; fault: NovaFault; version: Microversion | null };

function requestedVersion(ctx: Pick<RequestContext, 'headers'>): string | null {
  const standard = header(ctx, 'OpenStack-API-Version');
  if (standard !== undefined) {
    for (const part of standard.split(',').reverse()) {
      const [service, ...rest] = part.trim().split(/\s+/);
      if (rest.length > 0 && service?.toLowerCase() === 'compute') return rest.join(' ').trim();
    }
  }
  const legacy = header(ctx, 'X-OpenStack-Nova-API-Version');
  if (legacy !== undefined) {
    const value = legacy.split(',').pop()?.trim() ?? '';
    if (value !== '') return value;
  }
  return null;
}

/** microversion_parse.get_version + wsgi.Request.set_api_version_request. */
export function negotiateMicroversion(ctx: Pick<RequestContext, 'headers'>): Negotiated {
  const requested = requestedVersion(ctx);
  if (requested === null) return { ok: true, version: MIN_MICROVERSION };
  if (requested === 'latest') return { ok: true, version: MAX_MICROVERSION };
  const match = /^([1-9]\d*)\.([1-9]\d*|0)$/.exec(requested);
  if (!match) {
    return {
      ok: false,
      version: null,
      fault: new NovaFault(400, `API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`),
    };
  }
  const version = new Microversion(Number(match[1]), Number(match[2]));
  if (!version.atLeast(MIN_MICROVERSION.toString()) || version.atLeast('2.94')) {
    return {
      ok: false,
      version,
      fault: new NovaFault(
        406,
        `Version ${version} is not supported by the API. Minimum is ${MIN_MICROVERSION} and maximum is ${MAX_MICROVERSION}.`,
      ),
    };
  }
  return { ok: true, version };
}
