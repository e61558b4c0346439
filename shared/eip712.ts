// EIP-712 types for everything a device key signs. Domain: name "idlegrad", version,
// chainId and the RewardDistributor as verifying contract, so a signature for another
// chain or deployment never verifies here.
import type { Address, Hex } from 'viem';

export const EIP712_NAME = 'idlegrad';
export const EIP712_VERSION = '1';

export interface Eip712Domain {
  name: typeof EIP712_NAME;
  version: typeof EIP712_VERSION;
  chainId: number;
  verifyingContract: Address;
}

export function eip712Domain(chainId: number, verifyingContract: Address): Eip712Domain {
  return { name: EIP712_NAME, version: EIP712_VERSION, chainId, verifyingContract };
}

export const contributionTypes = {
  Contribution: [
    { name: 'run', type: 'uint32' },
    { name: 'round', type: 'uint32' },
    { name: 'cohort', type: 'uint32' },
    { name: 'frameHash', type: 'bytes32' },
    { name: 'aggregateHash', type: 'bytes32' },
    { name: 'framesRoot', type: 'bytes32' },
    { name: 'residualHash', type: 'bytes32' },
    { name: 'samples', type: 'uint32' },
    { name: 'steps', type: 'uint32' },
    { name: 'lossBeforeMicro', type: 'uint32' },
    { name: 'lossAfterMicro', type: 'uint32' },
    { name: 'computeMs', type: 'uint32' },
    { name: 'nonce', type: 'uint64' },
    { name: 'expiry', type: 'uint64' },
    { name: 'partner', type: 'string' },
  ],
} as const;

/**
 * A volunteer's signed claim about one round: its own frame, the cohort aggregate it
 * agrees with (hash + the set of frames inside it) and the measured work behind it.
 * Losses are in millionths (EIP-712 has no floats); expiry is unix seconds.
 */
export interface Contribution {
  run: number;
  round: number;
  cohort: number;
  frameHash: Hex;
  aggregateHash: Hex;
  framesRoot: Hex;
  /** keccak256(e_before ‖ e_after): the error-feedback residuals this frame was built between (shared/wire/evidence.ts). */
  residualHash: Hex;
  samples: number;
  steps: number;
  lossBeforeMicro: number;
  lossAfterMicro: number;
  computeMs: number;
  nonce: bigint;
  expiry: bigint;
  /**
   * The partner site whose widget this work came through ('' for none): inside the signature,
   * so nobody but the volunteer can name who is credited for its compute (issue 14). The
   * coordinator credits only partners the lead registered.
   */
  partner: string;
}

export function contributionTypedData(domain: Eip712Domain, message: Contribution) {
  return { domain, types: contributionTypes, primaryType: 'Contribution' as const, message };
}

export const toMicro = (loss: number) => (Number.isFinite(loss) ? Math.min(0xffffffff, Math.max(0, Math.round(loss * 1e6))) : 0xffffffff);

export const delegationTypes = {
  Delegation: [
    { name: 'wallet', type: 'address' },
    { name: 'device', type: 'address' },
    { name: 'nonce', type: 'uint64' },
    { name: 'expiry', type: 'uint64' },
  ],
} as const;

/**
 * A wallet's one-time permission for a device key: credit the device earns from now on,
 * until `expiry` (unix seconds), accrues to `wallet`. Signed by the wallet, under the same
 * domain as contributions (chainId + RewardDistributor), so it cannot be replayed on
 * another chain or deployment. `nonce` must grow per device: a newer delegation replaces
 * an older one, and an old one can never be re-submitted.
 */
export interface Delegation {
  wallet: Address;
  device: Address;
  nonce: bigint;
  expiry: bigint;
}

export function delegationTypedData(domain: Eip712Domain, message: Delegation) {
  return { domain, types: delegationTypes, primaryType: 'Delegation' as const, message };
}

export const sessionCertificateTypes = {
  SessionCertificate: [
    { name: 'run', type: 'uint32' },
    { name: 'device', type: 'address' },
    { name: 'sessionKey', type: 'bytes32' },
    { name: 'expiry', type: 'uint64' },
  ],
} as const;

/**
 * A device key's certificate for a session key (shared/session-key.ts): reports of run `run`
 * signed by the Ed25519 key `sessionKey` (its 32 raw public-key bytes) until `expiry` (unix
 * seconds) are `device`'s. Signed once per session by the device key under the contributions'
 * domain, so it binds the chain, the deployment, the run and the account together.
 */
export interface SessionCertificate {
  run: number;
  device: Address;
  sessionKey: Hex;
  expiry: bigint;
}

export function sessionCertificateTypedData(domain: Eip712Domain, message: SessionCertificate) {
  return { domain, types: sessionCertificateTypes, primaryType: 'SessionCertificate' as const, message };
}
