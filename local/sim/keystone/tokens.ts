/**
 * Tokens Keystone issued and what keystonemiddleware (in front of Nova and Glance) makes of them:
 * unknown, expired or revoked → 401 (k04*, k23, k24); a revoked token Nova validated less than
 * `tokenCacheMs` ago is still accepted (k05c-200), one never used is not (k05d).
 */
import { newAuditId, newTokenId } from '../ids.js';
import { floorToSecond } from '../timefmt.js';
import type { AppCredential, Project, Role, User } from './identity.js';

export interface TokenRecord {
  id: string;
  methods: string[];
  user: User;
  project: Project | null;
  roles: Role[];
  issuedAt: number;
  expiresAt: number;
  auditId: string;
  appCredential: AppCredential | null;
  revoked: boolean;
  /** When keystonemiddleware last validated it against Keystone (its cache entry). */
  serviceValidatedAt: number | null;
}

/** Who is calling Nova or Glance, as keystonemiddleware and Nova's context see it. */
export interface AuthContext {
  userId: string;
  projectId: string | null;
  roles: string[];
  isAdmin: boolean;
}

export class TokenStore {
  private readonly tokens = new Map<string, TokenRecord>();

  constructor(
    private readonly lifetimeMs: number,
    private readonly serviceCacheMs: number,
    private readonly staticToken: { id: string; context: AuthContext } | null,
  ) {}

  /** Issues a token; Fernet tokens carry whole seconds (k01's `.000000Z`). */
  issue(spec: Pick<TokenRecord, 'methods' | 'user' | 'project' | 'roles' | 'appCredential'>, now: number, lifetimeMs?: number): TokenRecord {
    const issuedAt = floorToSecond(now);
    const record: TokenRecord = {
      ...spec,
      id: newTokenId(),
      issuedAt,
      expiresAt: issuedAt + (lifetimeMs ?? this.lifetimeMs),
      auditId: newAuditId(),
      revoked: false,
      serviceValidatedAt: null,
    };
    this.tokens.set(record.id, record);
    return record;
  }

  /** What Keystone's own GET/DELETE /v3/auth/tokens sees: live tokens only (k25: expired → 404). */
  live(id: string, now: number): TokenRecord | undefined {
    const record = this.tokens.get(id);
    if (!record || record.revoked || now >= record.expiresAt) return undefined;
    return record;
  }

  revoke(id: string): boolean {
    const record = this.tokens.get(id);
    if (!record || record.revoked) return false;
    record.revoked = true;
    return true;
  }

  /** Makes one token (or every token) expire at `now`. Returns how many changed. */
  expire(now: number, id?: string): number {
    let n = 0;
    for (const record of this.tokens.values()) {
      if ((id === undefined || record.id === id) && record.expiresAt > now) {
        record.expiresAt = now;
        n++;
      }
    }
    return n;
  }

  /** keystonemiddleware's verdict on an X-Auth-Token, or null for a 401. */
  validateForService(id: string | undefined, now: number): AuthContext | null {
    if (id === undefined || id === '') return null;
    if (this.staticToken && id === this.staticToken.id) return this.staticToken.context;
    const record = this.tokens.get(id);
    if (!record || now >= record.expiresAt) return null;
    const cached = record.serviceValidatedAt !== null && now < record.serviceValidatedAt + this.serviceCacheMs;
    if (record.revoked && !cached) return null;
    if (!cached) record.serviceValidatedAt = now;
    const roles = record.roles.map((r) => r.name);
    return { userId: record.user.id, projectId: record.project?.id ?? null, roles, isAdmin: roles.includes('admin') };
  }
}
