// Quarantine: an identity whose reputation is negative — it failed a spot check, which costs
// FAIL_PENALTY (coordinator/verify/settings.ts), and has not yet earned it back with passes — trains in
// a cohort of its own, and the round engine leaves that cohort's aggregate out of the model.
// Its contributions are still accepted and, at sampling rate 1 for such identities, each is
// re-executed: an attacker's work is refused and earns nothing, while an honest device that
// failed once (a reload that lost its evidence) earns its credit back check by check and
// rejoins the swarm once its reputation is ≥ 0 again. Without quarantine a caught attacker
// would keep feeding its cohort's robust aggregate, which only bounds its damage.
import type { Address } from 'viem';
import type { Ledger } from '../db/index.ts';

export class Quarantine {
  private readonly held = new Set<Address>();

  constructor(private readonly ledger: Pick<Ledger, 'negativeReputations' | 'identity'>) {}

  has(account: Address): boolean {
    return this.held.has(account.toLowerCase() as Address);
  }

  get size(): number {
    return this.held.size;
  }

  /** Every identity with a negative reputation (at startup). */
  async load(): Promise<number> {
    const accounts = await this.ledger.negativeReputations();
    for (const a of accounts) this.held.add(a.toLowerCase() as Address);
    return accounts.length;
  }

  /** After a check moved its reputation: true when the identity is (now) quarantined. */
  async refresh(account: Address): Promise<boolean> {
    const a = account.toLowerCase() as Address;
    const quarantined = (await this.ledger.identity(a)).reputation < 0;
    if (quarantined) this.held.add(a);
    else this.held.delete(a);
    return quarantined;
  }
}
