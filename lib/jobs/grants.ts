/**
 * Who may act on which project. A caller acts only on projects it has been granted, checked on
 * every call, closed by default: the operator grants each IAM principal (a role, a user) a list of
 * project ids, or `*` for every project, in the deployment (`PROJECT_GRANTS`). Every principal
 * granted a project sees and can act on that project's jobs; the creator is recorded for audit.
 *
 * An assumed-role session counts as its role (`arn:aws:sts::1:assumed-role/Ops/alice` is
 * `arn:aws:iam::1:role/Ops`), so a person who assumes the role again still sees their jobs, and a
 * role or user is named without its IAM path, which the session's ARN does not carry.
 */
import { ConfigError, ForbiddenError } from '../errors.js';

/** Who is calling: the project in the path and the principal API Gateway authenticated. */
export interface Caller {
  tenantId: string;
  /** The principal's ARN as API Gateway gave it (an assumed-role session's, say): recorded for audit. */
  principal: string;
  /** The principal grants are given to: the role of a session, a role or user without its path. */
  principalKey: string;
}

/** A project id as Nova routes it and as grants and paths name it. */
export const PROJECT_ID = /^[a-zA-Z0-9-]{1,255}$/;

const ASSUMED_ROLE = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;
const IAM_ENTITY = /^arn:(aws[a-z-]*):iam::(\d{12}):(role|user)\/(?:[^/]+\/)*([^/]+)$/;

/** The principal grants are given to, from an IAM or STS ARN. */
export function principalKey(arn: string): string {
  const session = ASSUMED_ROLE.exec(arn);
  if (session) return `arn:${session[1]}:iam::${session[2]}:role/${session[3]}`;
  const entity = IAM_ENTITY.exec(arn);
  if (entity) return `arn:${entity[1]}:iam::${entity[2]}:${entity[3]}/${entity[4]}`;
  return arn;
}

/** The projects each principal may act on. */
export class Grants {
  private readonly byPrincipal: ReadonlyMap<string, '*' | ReadonlySet<string>>;

  constructor(entries: Record<string, readonly string[] | '*'>) {
    const map = new Map<string, '*' | ReadonlySet<string>>();
    for (const [arn, projects] of Object.entries(entries)) {
      const key = principalKey(arn);
      const prior = map.get(key);
      if (projects === '*' || prior === '*') map.set(key, '*');
      else map.set(key, new Set([...(prior ?? []), ...projects]));
    }
    this.byPrincipal = map;
  }

  /**
   * Reads `PROJECT_GRANTS`: a JSON object of principal ARN → list of project ids, or "*". Empty or
   * unset: nobody is granted anything. Throws ConfigError naming what is wrong.
   */
  static parse(raw: string | undefined, variable = 'PROJECT_GRANTS'): Grants {
    if (raw === undefined || raw.trim() === '') return new Grants({});
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ConfigError(`${variable} must be a JSON object of principal ARN → list of project ids (or "*")`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError(`${variable} must be a JSON object of principal ARN → list of project ids (or "*")`);
    }
    const entries: Record<string, readonly string[] | '*'> = {};
    for (const [arn, projects] of Object.entries(parsed)) {
      if (!/^arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+$/.test(arn)) throw new ConfigError(`${variable}: "${arn.slice(0, 80)}" is not an IAM principal ARN`);
      if (projects === '*') {
        entries[arn] = '*';
        continue;
      }
      if (!Array.isArray(projects) || projects.some((p) => typeof p !== 'string' || !PROJECT_ID.test(p))) {
        throw new ConfigError(`${variable}: the grant of ${arn} must be a list of project ids (letters, digits, hyphens) or "*"`);
      }
      entries[arn] = projects as string[];
    }
    return new Grants(entries);
  }

  /** True when the principal may act on the project. */
  allows(principalArn: string, tenantId: string): boolean {
    const granted = this.byPrincipal.get(principalKey(principalArn));
    return granted === '*' || (granted !== undefined && granted.has(tenantId));
  }

  /** The caller for a request, or 403 when the principal was not granted the project. */
  caller(principalArn: string, tenantId: string): Caller {
    if (!this.allows(principalArn, tenantId)) {
      throw new ForbiddenError(`${principalKey(principalArn)} has not been granted project ${tenantId}: an operator grants projects to principals (PROJECT_GRANTS, see docs/deploy.md).`);
    }
    return { tenantId, principal: principalArn, principalKey: principalKey(principalArn) };
  }
}
