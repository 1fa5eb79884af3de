import type { Database } from '../storage/database.ts';

export type ScopeAccess = 'read' | 'write';

export interface ApiScopeInfo {
  name: string;
  access: ScopeAccess;
  description: string;
  /** client_credentials (machine) tokens may carry this scope, for clients an operator approved */
  machine?: boolean;
}

export interface ApiInfo {
  id: string;
  name: string;
  audience: string;
  tokenFormat: 'jwt' | 'opaque';
  accessTokenTtl: number;
  scopes: ApiScopeInfo[];
}

/** The scopes an API offers to machines (client_credentials); none unless its operator said so. */
export const machineScopesOf = (api: ApiInfo): string[] => api.scopes.filter((s) => s.machine).map((s) => s.name);

/**
 * Every registered API with its scopes, held in memory: the set is small and read on every
 * authorization and token request. Reloaded when any instance announces an `apis` change.
 */
export class ApiStore {
  #byAudience = new Map<string, ApiInfo>();
  #byScope = new Map<string, ApiInfo>();
  #loading?: Promise<void>;
  #loadedAt = 0;
  private readonly db: Database;
  private readonly ttlMs: number;

  constructor(db: Database, ttlMs: number) {
    this.db = db;
    this.ttlMs = ttlMs;
    db.onChange((topic) => {
      if (topic === 'apis') this.#loadedAt = 0;
    });
  }

  async #fresh(): Promise<void> {
    if (Date.now() - this.#loadedAt < this.ttlMs) return;
    this.#loading ??= this.#load().finally(() => (this.#loading = undefined));
    await this.#loading;
  }

  async #load(): Promise<void> {
    const started = Date.now();
    const rows = await this.db.prisma.api.findMany({ include: { scopes: true } });
    const byAudience = new Map<string, ApiInfo>();
    const byScope = new Map<string, ApiInfo>();
    for (const row of rows) {
      const api: ApiInfo = {
        id: row.id,
        name: row.name,
        audience: row.audience,
        tokenFormat: row.tokenFormat === 'opaque' ? 'opaque' : 'jwt',
        accessTokenTtl: row.accessTokenTtl,
        scopes: row.scopes
          .map((s) => ({ name: s.name, access: s.access === 'write' ? 'write' : 'read', description: s.description, machine: s.machine }) as ApiScopeInfo)
          .sort((a, b) => a.name.localeCompare(b.name)),
      };
      byAudience.set(api.audience, api);
      for (const scope of api.scopes) byScope.set(scope.name, api);
    }
    this.#byAudience = byAudience;
    this.#byScope = byScope;
    this.#loadedAt = started;
  }

  async byAudience(audience: string): Promise<ApiInfo | undefined> {
    await this.#fresh();
    return this.#byAudience.get(audience);
  }

  async byScope(scope: string): Promise<ApiInfo | undefined> {
    await this.#fresh();
    return this.#byScope.get(scope);
  }

  async all(): Promise<ApiInfo[]> {
    await this.#fresh();
    return [...this.#byAudience.values()];
  }
}
