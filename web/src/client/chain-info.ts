// The page's one source of chain info (chain id, distributor, the /rpc URL): the coordinator's
// welcome, or else one `GET /api/run`, asked once and shared by whoever needs it first.
import type { ChainInfo } from '../../../shared/wire/index.ts';

export class ChainSource {
  /** Known from a welcome or an answered ask; null before. */
  known: ChainInfo | null = null;
  private asked: Promise<ChainInfo> | null = null;

  constructor(private readonly fetchRun: () => Promise<{ chain: ChainInfo }>) {}

  /** From a welcome: the coordinator's word replaces what an ask learned. */
  learn(chain: ChainInfo): void {
    this.known = chain;
  }

  /** The chain info, asking `/api/run` once if no welcome said it yet; a failed ask is retried next time. */
  get(): Promise<ChainInfo> {
    if (this.known) return Promise.resolve(this.known);
    this.asked ??= this.fetchRun().then(
      ({ chain }) => (this.known ??= chain),
      (e: unknown) => {
        this.asked = null;
        throw e;
      },
    );
    return this.asked;
  }
}
