/** The timestamp shapes OpenStack prints, all truncated to whole seconds as its database stores them. */

function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19);
}

/** Nova's `created`/`updated` (utils.isotime): `2026-11-27T02:07:45Z`. */
export function isoTime(ms: number): string {
  return `${iso(ms)}Z`;
}

/** Nova's launched_at and instance-action times: `2026-11-27T02:07:46.000000`. */
export function dbTime(ms: number): string {
  return `${iso(ms)}.000000`;
}

/** Keystone's expires_at / issued_at: `2026-11-27T03:46:11.000000Z`. */
export function keystoneTime(ms: number): string {
  return `${iso(ms)}.000000Z`;
}

/** Whole seconds, as Fernet tokens carry their times. */
export function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
