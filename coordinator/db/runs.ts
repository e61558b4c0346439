// Run lifecycle rows (migration 2): which run is current, its lead-set status, and the
// log of lead actions. Kept apart from ledger.ts, which owns training and reward rows.
import type { RunStatus } from '../../shared/wire/index.ts';
import type { Sql } from './sql.ts';

export type RunAction = 'create' | 'pause' | 'resume' | 'stop';

export class RunTable {
  constructor(private readonly sql: Sql) {}

  /** The newest run: the one a (re)started coordinator hosts. */
  async latest(): Promise<{ id: number; status: RunStatus } | null> {
    const { rows } = await this.sql.query<{ id: number; status: RunStatus }>(`select id, status from runs order by id desc limit 1`);
    return rows[0] ? { id: Number(rows[0].id), status: rows[0].status } : null;
  }

  async nextId(): Promise<number> {
    const { rows } = await this.sql.query<{ next: number }>(`select coalesce(max(id), 0) + 1 as next from runs`);
    return Number(rows[0].next);
  }

  async status(id: number): Promise<RunStatus | null> {
    const { rows } = await this.sql.query<{ status: RunStatus }>(`select status from runs where id = $1`, [id]);
    return rows[0]?.status ?? null;
  }

  /** Sets the status and logs the action in one transaction. */
  async setStatus(id: number, status: RunStatus, action: RunAction): Promise<void> {
    await this.sql.transaction(async (tx) => {
      const { rows } = await tx.query(`update runs set status = $2 where id = $1 returning id`, [id, status]);
      if (rows.length !== 1) throw new Error(`run ${id} does not exist`);
      await tx.query(`insert into run_events (run_id, action) values ($1, $2)`, [id, action]);
    });
  }

  async events(id: number): Promise<{ action: RunAction; at: number }[]> {
    const { rows } = await this.sql.query<{ action: RunAction; at: Date }>(`select action, at from run_events where run_id = $1 order by id`, [id]);
    return rows.map((r) => ({ action: r.action, at: new Date(r.at).getTime() }));
  }
}
