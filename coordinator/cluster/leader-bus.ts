// Cluster mode's round engine hookup (issue 17 items 4–5): what the leading coordinator adds to a
// run it hosts when IDLEGRAD_NATS_URL is set. It takes the run's committer lease (waiting out a
// dead predecessor's), hands the engine a ledger fenced by that lease's token and a journal on the
// run's NATS stream (each opening, report and upload stored before it is acknowledged), and reads
// back the round a predecessor left open so the engine resumes it (RoundEngine.resumeRound)
// instead of aborting it.
import type { Hex } from 'viem';
import { ensureCommitterLeaseTable, type Ledger, type Sql } from '../db/index.ts';
import type { RoundJournal } from '../round/index.ts';
import { Committer } from './committer.ts';
import { RoundBus } from './round-bus.ts';

export interface LeaderBus {
  /** The ledger the round engine writes through: refused (LEASE_FENCED) once another committer holds the run. */
  ledger: Ledger;
  journal: RoundJournal;
  /** The round a predecessor opened at this model and did not commit, as the bus holds it; null when none. */
  open: Awaited<ReturnType<RoundBus['openRound']>>;
  committer: Committer;
  stop(): Promise<void>;
}

export interface LeaderBusOptions {
  natsUrl: string;
  runId: number;
  /** The ledger's model state: the round it expects next and the hash it trains from. */
  round: number;
  modelHash: Hex;
  holder: string;
  ttlMs?: number;
  log: (line: string) => void;
  /** This process lost the lease: it must stop committing. */
  onDeposed: (why: string) => void;
}

export async function leaderBus(sql: Sql, o: LeaderBusOptions): Promise<LeaderBus> {
  await ensureCommitterLeaseTable(sql);
  const t0 = Date.now();
  const committer = await Committer.acquire(sql, { runId: o.runId, holder: o.holder, ttlMs: o.ttlMs, pollMs: 100, onDeposed: o.onDeposed });
  o.log(`cluster: committer lease of run ${o.runId} taken (token ${committer.lease.token}) after ${Date.now() - t0} ms`);
  let bus: RoundBus;
  try {
    bus = await RoundBus.open({ servers: o.natsUrl.split(',').map((s) => s.trim()), runId: o.runId });
  } catch (e) {
    await committer.release().catch(() => undefined);
    throw e;
  }
  let open = await committer.resume(bus, o.round);
  if (open && open.opening.modelHash !== o.modelHash) {
    o.log(`cluster: the bus's open round ${open.opening.round} trains from ${open.opening.modelHash}, the ledger's model is ${o.modelHash}: not resumed`);
    open = null;
  }
  return {
    ledger: committer.ledger,
    journal: {
      opened: (x) => bus.publishOpen(x),
      report: (r) => bus.publishReport(r),
      aggregate: (round, hash, bytes) => bus.publishAggregate(round, hash, bytes),
      committed: (round, hash) => bus.publishCommitted(round, hash),
    },
    open,
    committer,
    async stop() {
      await bus.close();
      await committer.release().catch(() => undefined);
    },
  };
}
