// The outbox: every signed report is written to IndexedDB before it is sent and deleted only
// when the coordinator answers for its nonce (an ack, or a refusal that settles it), so no
// signed report is lost to a reload or a dropped connection.
import type { ServerMessage } from '../../../shared/wire/index.ts';
import type { CoordinatorApi } from './api.ts';
import { describeError } from './errors.ts';
import type { SnapshotStore } from './snapshot.ts';
import type { ClientStorage, OutboxRecord } from './storage.ts';

export interface OutboxOptions {
  storage: Pick<ClientStorage, 'putOutbox' | 'listOutbox' | 'deleteOutbox'>;
  api: Pick<CoordinatorApi, 'postAggregate'>;
  store: SnapshotStore;
  /** Sends a report on the coordinator socket; false when it is down. */
  send: (report: OutboxRecord['report']) => boolean;
  /** Signs a stored report again with the current session key before it is re-sent (a reload or a new certificate lost the key that signed it). */
  resign?: (report: OutboxRecord['report']) => Promise<OutboxRecord['report']>;
}

type Ack = Extract<ServerMessage, { type: 'ack' }>;

export class Outbox {
  /** Nonces sent on this connection and not yet answered, with their round. */
  private readonly pending = new Map<string, number>();

  constructor(private readonly o: OutboxOptions) {}

  /** Whether a coordinator error names one of our reports (its `ref` is the nonce). */
  owns(nonce: string | null | undefined): nonce is string {
    return !!nonce && this.pending.has(nonce);
  }

  /** Writes the report, then sends it; returns whether it went out now (else it waits for a reconnect). */
  async add(rec: OutboxRecord): Promise<boolean> {
    const { store } = this.o;
    try {
      await this.o.storage.putOutbox(rec);
      store.set({ outbox: store.get().outbox + 1 });
    } catch (e) {
      store.log('warn', `round ${rec.round}: could not write the report to the outbox (${describeError(e)}); sending it anyway`);
    }
    return this.send(rec);
  }

  private send(rec: OutboxRecord): boolean {
    const sent = this.o.send(rec.report);
    if (sent) {
      this.pending.set(rec.nonce, rec.round);
      this.o.store.set({ reportsSent: this.o.store.get().reportsSent + 1 });
    }
    return sent;
  }

  /** Replays every stored report (its aggregate first, when that upload had failed). */
  async flush(): Promise<void> {
    const { store } = this.o;
    let pending: OutboxRecord[];
    try {
      pending = await this.o.storage.listOutbox();
    } catch (e) {
      store.log('warn', `could not read the outbox: ${describeError(e)}`);
      return;
    }
    store.set({ outbox: pending.length });
    for (const rec of pending) {
      if (this.pending.has(rec.nonce)) continue;
      if (rec.aggregate) {
        try {
          await this.o.api.postAggregate(rec.run, rec.round, rec.aggregate);
          store.log('info', `round ${rec.round}: uploaded the aggregate kept in the outbox`);
        } catch (e) {
          store.log('warn', `round ${rec.round}: the aggregate kept in the outbox was not accepted: ${describeError(e)}`);
        }
      }
      const report = this.o.resign ? await this.o.resign(rec.report).catch(() => rec.report) : rec.report;
      if (this.send({ ...rec, report })) store.log('info', `round ${rec.round}: re-sent the report ${rec.nonce.slice(0, 10)}… from the outbox`);
    }
  }

  /** The coordinator's verdict on one of our reports. */
  async acked(m: Ack): Promise<void> {
    const round = this.pending.get(m.nonce) ?? null;
    this.pending.delete(m.nonce);
    this.o.store.set({ lastAck: { nonce: m.nonce, state: m.state, reason: m.reason, round } });
    this.o.store.log(
      m.state === 'rejected' ? 'error' : 'info',
      `report${round !== null ? ` for round ${round}` : ''} ${m.state}${m.reason ? `: ${m.reason}` : ''}`,
    );
    await this.done(m.nonce);
  }

  /**
   * The coordinator refused a report of ours. REPLAYED_NONCE and DUPLICATE mean it already holds
   * it (an earlier send arrived, its ack did not): delivered. STALE_ROUND and EXPIRED mean its
   * round is over: credit for a round that committed without it cannot exist, so it is dropped
   * with a visible line. Any other code would be refused again: dropped, as an error.
   */
  async refused(nonce: string, code: string, message: string): Promise<void> {
    const { store } = this.o;
    const round = this.pending.get(nonce) ?? null;
    this.pending.delete(nonce);
    const what = `report${round !== null ? ` for round ${round}` : ''} ${nonce.slice(0, 10)}…`;
    if (code === 'REPLAYED_NONCE' || code === 'DUPLICATE') store.log('info', `${what}: the coordinator already has it (${code}); removed from the outbox`);
    else if (code === 'STALE_ROUND' || code === 'EXPIRED')
      store.log(
        'warn',
        `${what} dropped from the outbox: its round is over (${code}: ${message}). If an earlier send arrived, its credit stands; otherwise none can be given for a round that committed without it.`,
      );
    else store.log('error', `${what} refused [${code}] ${message}; dropped from the outbox`);
    await this.done(nonce);
  }

  private async done(nonce: string): Promise<void> {
    const { store } = this.o;
    try {
      await this.o.storage.deleteOutbox(nonce);
    } catch (e) {
      store.log('warn', `could not clear report ${nonce.slice(0, 10)}… from the outbox: ${describeError(e)}`);
    }
    const left = await this.o.storage.listOutbox().then(
      (l) => l.length,
      () => Math.max(0, store.get().outbox - 1),
    );
    store.set({ outbox: left });
  }
}
