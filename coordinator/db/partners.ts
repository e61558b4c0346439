// The partner registry (issue 14): the partner sites the lead registered (id and the origins
// its widget is embedded on). A report's signed partner id earns that partner credit only when
// it is registered here; any other id is recorded as signed (contributions.signed_partner) and
// credits no partner. Lookups are answered from memory on the report hot path; the set is
// re-read from the ledger at most every `refreshMs`, so a registration made by another
// process of a cluster is seen within that time (one made here at once).
import type { Sql } from './sql.ts';

export interface PartnerRecord {
  id: string;
  origins: string[];
}

export class PartnerRegistry {
  private byId = new Map<string, string[]>();
  private loadedAt = -Infinity;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly refreshMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the registry (await once at start-up). */
  async load(): Promise<void> {
    const { rows } = await this.sql.query<{ id: string; origins: string[] }>(`select id, origins from partners`);
    this.byId = new Map(rows.map((r) => [r.id, r.origins]));
    this.loadedAt = this.now();
  }

  /** Whether `id` is a registered partner (from memory; a stale set is re-read in the background). */
  has(id: string): boolean {
    return this.origins(id) !== undefined;
  }

  /** A registered partner's origins (from memory, like `has`), or undefined when `id` is not registered. */
  origins(id: string): readonly string[] | undefined {
    if (this.now() - this.loadedAt > this.refreshMs && !this.loading) {
      this.loading = this.load()
        .catch(() => {})
        .finally(() => (this.loading = null));
    }
    return this.byId.get(id);
  }

  /** Registers a partner, or replaces its origins. */
  async register(p: PartnerRecord): Promise<void> {
    await this.sql.query(`insert into partners (id, origins) values ($1, $2) on conflict (id) do update set origins = excluded.origins`, [
      p.id,
      JSON.stringify(p.origins),
    ]);
    this.byId.set(p.id, [...p.origins]);
  }

  /** Partner ids reports signed that were not registered when they arrived (credited to no partner), most used first. */
  async unregistered(limit = 100): Promise<{ id: string; contributions: number }[]> {
    const { rows } = await this.sql.query<{ id: string; contributions: number }>(
      `select signed_partner as id, count(*)::int as contributions from contributions
       where signed_partner <> '' and partner is null group by signed_partner order by count(*) desc, signed_partner limit $1`,
      [limit],
    );
    return rows;
  }

  async list(): Promise<PartnerRecord[]> {
    const { rows } = await this.sql.query<{ id: string; origins: string[] }>(`select id, origins from partners order by id`);
    return rows.map((r) => ({ id: r.id, origins: r.origins }));
  }
}
