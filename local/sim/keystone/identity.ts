/** Keystone's users, projects, roles and application credentials, built from the options. */
import { stableHexId } from '../ids.js';
import type { AppCredentialSpec, ResolvedOptions, UserSpec } from '../options.js';

export interface Role {
  id: string;
  name: string;
}

export interface Project {
  id: string;
  name: string;
}

export interface User {
  id: string;
  name: string;
  password: string;
  projectRoles: Map<string, Role[]>;
}

export interface AppCredential {
  id: string;
  name: string;
  secret: string;
  user: User;
  projectId: string;
  roles: Role[];
}

/** The Default domain, the only one the simulator has (k01). */
export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' } as const;

export function roleFor(name: string): Role {
  return { id: stableHexId(`role/${name}`), name };
}

export function userIdFor(name: string): string {
  return stableHexId(`user/${name}`);
}

export class Identity {
  readonly users: User[];
  readonly appCredentials: AppCredential[];
  private readonly projectNames = new Map<string, string>();

  constructor(options: ResolvedOptions) {
    this.projectNames.set(options.tenantId, 'sim-project');
    this.projectNames.set(options.otherTenantId, 'sim-other-project');
    this.users = options.users.map((u: UserSpec) => ({
      id: userIdFor(u.name),
      name: u.name,
      password: u.password,
      projectRoles: new Map(Object.entries(u.projectRoles).map(([p, roles]) => [p, roles.map(roleFor)])),
    }));
    this.appCredentials = options.applicationCredentials.map((c: AppCredentialSpec) => {
      const user = this.users.find((u) => u.name === c.userName);
      if (!user) throw new Error(`application credential ${c.id}: unknown user ${c.userName}`);
      return { id: c.id, name: c.name, secret: c.secret, user, projectId: c.projectId, roles: c.roles.map(roleFor) };
    });
  }

  project(id: string): Project {
    return { id, name: this.projectNames.get(id) ?? id };
  }

  /** A project by id, or by name within the Default domain. */
  findProject(ref: { id?: string; name?: string }): Project | undefined {
    if (ref.id !== undefined) return this.knownProjectIds().includes(ref.id) ? this.project(ref.id) : undefined;
    for (const id of this.knownProjectIds()) if (this.project(id).name === ref.name) return this.project(id);
    return undefined;
  }

  private knownProjectIds(): string[] {
    const ids = new Set(this.projectNames.keys());
    for (const u of this.users) for (const p of u.projectRoles.keys()) ids.add(p);
    return [...ids];
  }

  findUser(ref: { id?: string; name?: string }): User | undefined {
    return this.users.find((u) => (ref.id !== undefined ? u.id === ref.id : u.name === ref.name));
  }

  findAppCredential(ref: { id?: string; name?: string; userId?: string }): AppCredential | undefined {
    return this.appCredentials.find((c) =>
      ref.id !== undefined ? c.id === ref.id : c.name === ref.name && c.user.id === ref.userId,
    );
  }
}
