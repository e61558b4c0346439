// What the page shows of its cohort exchange: the exchange's events as log lines and cohort
// counts, and the bytes that crossed its data channels (round-runner.ts wires them in).
import type { ExchangeEvent } from '../p2p/exchange.ts';
import type { SnapshotStore } from '../snapshot.ts';

/** The exchange's `onEvent` for round `round`: `counts` refreshes the cohort's member/frame counts. */
export function exchangeEventLog(store: SnapshotStore, round: number, counts: () => void): (e: ExchangeEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'verified':
      case 'frame':
        counts();
        if (e.type === 'frame') store.log('info', `round ${round}: frame from ${e.peerId} (${e.bytes} bytes)`);
        return;
      case 'sent':
        return;
      case 'peer-failed':
        counts();
        store.log(e.final ? 'warn' : 'info', `round ${round}: peer ${e.peerId}: [${e.code}] ${e.message}${e.final ? ' — left out' : ''}`);
        return;
      case 'rejected-link':
        store.log('warn', `round ${round}: refused a link from ${e.peerId}: ${e.message}`);
        return;
      case 'stale':
        store.log('info', `round ${round}: peer ${e.peerId}: [${e.code}] ${e.message}`);
        return;
    }
  };
}

/** The exchange's `onBytes`: adds to the page's peer-to-peer byte counters. */
export function countP2pBytes(store: SnapshotStore): (dir: 'in' | 'out', n: number) => void {
  return (dir, n) => {
    const p = store.get().p2p;
    store.set({ p2p: dir === 'in' ? { ...p, bytesIn: p.bytesIn + n } : { ...p, bytesOut: p.bytesOut + n } });
  };
}
