/** Identifiers shaped like the ones OpenStack hands out. */
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';

/** oslo.context's request id: `req-<uuid4>`. */
export function newRequestId(): string {
  return `req-${randomUUID()}`;
}

/** oslo.middleware's check of an inbound X-Openstack-Request-Id (request_id.ID_FORMAT). */
export function isValidRequestId(value: string): boolean {
  return /^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/.test(value);
}

/** A UUID that is the same every run for the same seed, so the CLI prints stable server ids. */
export function stableUuid(seed: string): string {
  const h = createHash('sha1').update(seed).digest('hex');
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A Keystone-style 32-hex id (users, projects, roles, endpoints). */
export function stableHexId(seed: string): string {
  return createHash('md5').update(seed).digest('hex');
}

/** An opaque token that looks like a Fernet token (k01's `gAAAAAB...`). */
export function newTokenId(): string {
  return `gAAAAAB${randomBytes(135).toString('base64url')}`;
}

/** Keystone's audit id: 16 random bytes, urlsafe base64 without padding. */
export function newAuditId(): string {
  return randomBytes(16).toString('base64url');
}

const PASSWORD_SYMBOLS = ['23456789', 'ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz'];

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}

function pick(symbols: string): string {
  return symbols[randomInt(symbols.length)] ?? 'x';
}

/** nova.utils.generate_password: 12 characters, one of each group at least (01f's "DgRr9Sj8tHJ6"). */
export function generateAdminPassword(length = 12): string {
  const chars = shuffle(PASSWORD_SYMBOLS.map(pick)).slice(0, length);
  const all = PASSWORD_SYMBOLS.join('');
  while (chars.length < length) chars.push(pick(all));
  return shuffle(chars).join('');
}

/** Nova's hostId: sha224(project_id + host), so it is stable per project and host (01a). */
export function hostIdFor(projectId: string, host: string): string {
  return createHash('sha224').update(projectId + host).digest('hex');
}
