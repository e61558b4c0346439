// A reward epoch's published inputs (issue 14, "rewards anyone can recompute"): everything the
// epoch's cumulative Merkle root is computed from, served by the coordinator at
// GET /api/epochs/N.json and listed, with each file's keccak256, at GET /api/epochs. With these
// files and the chain alone a third party (`npm run audit`) checks every credited report's
// signature, recomputes each report's credit with the coordinator's own rule and every
// account's cumulative amount, rebuilds the tree and compares its root with the one posted on
// chain. The previous epoch's leaves travel in each file, so one file is checkable on its own
// and a run of files is checked link by link.
import type { Address, Hex } from 'viem';
import { VERIFICATION_STATES, type VerificationState } from './http.ts';
import { parseContribution, parseDelegation, type ContributionJson, type DelegationJson } from './messages.ts';
import { addr, arrayOf, edSig, hex32, nullable, oneOf, optional, shape, sig, str, u32, wei, type Parser } from './parse.ts';
import { parseSessionCertificate, type SessionCertificateJson } from '../session-key.ts';
import { REJECTION_CODES, type RejectionCode } from './rejections.ts';

export const EPOCH_FILE_FORMAT = 'idlegrad-epoch/1';

/** One leaf: an account and everything it has earned up to the epoch, in wei. */
export interface EpochBalance {
  account: Address;
  cumulativeWei: string;
}

/** A report whose credit entered this epoch's tree, with what its signature covers. */
export interface CreditedReport {
  /** The ledger row (GET /api/contributions/:id). */
  id: number;
  /** The device key that signed the report. */
  account: Address;
  /** Who the credit is paid to: the device, or the wallet it delegated to (`delegation`). */
  beneficiary: Address;
  /** The signed Contribution; null for a row written before the ledger kept every signed field. */
  contribution: ContributionJson | null;
  /** The device key's EIP-712 signature (65 bytes) for a report of protocol ≤ 5; the session key's Ed25519 signature (64 bytes) when `session` is set. */
  signature: Hex;
  /**
   * The session certificate whose key signed the report (shared/session-key.ts): the audit checks
   * that `account` signed it, then the report's Ed25519 signature under it. Absent or null: signed by the device key itself.
   */
  session?: { certificate: SessionCertificateJson; signature: Hex } | null;
  /** The spot check's outcome: passed, skipped (not sampled) or unverifiable. */
  verification: VerificationState | null;
  /** The round after whose commit the credit vested (null: at once). */
  vestsRound: number | null;
  /** The credit the ledger recorded for it; the audit recomputes it from `contribution`. */
  creditWei: string;
  /** The wallet's signed Delegation when beneficiary ≠ account. */
  delegation: { message: DelegationJson; signature: Hex } | null;
}

/** A spot-check verdict or clawback recorded on the epoch's rounds: rows that earn nothing. */
export interface EpochVerdict {
  id: number;
  account: Address;
  round: number;
  code: RejectionCode;
  prose: string;
}

export interface EpochFile {
  format: typeof EPOCH_FILE_FORMAT;
  epoch: number;
  run: number;
  /** The round whose commit closed the epoch. */
  round: number;
  modelHash: Hex;
  /** The root the coordinator built and posted (the audit reads the chain's own). */
  root: Hex;
  txHash: Hex;
  /** The EIP-712 domain every signature here is checked under. */
  chain: { chainId: number; distributor: Address };
  /** The credit rule's parameters, per run whose reports appear: wei paid per signed sample. */
  policy: { run: number; weiPerSample: string }[];
  /** The epoch before this one and its leaves (null: the first epoch). */
  previous: { epoch: number; balances: EpochBalance[] } | null;
  credited: CreditedReport[];
  verdicts: EpochVerdict[];
  /** The leaves: previous balances plus this epoch's credit, by account. */
  balances: EpochBalance[];
}

/** GET /api/epochs: every posted epoch, with the keccak256 of its file's bytes. */
export interface EpochListing {
  epochs: { epoch: number; root: Hex; txHash: Hex; round: number; file: string; fileHash: Hex }[];
}

const balance: Parser<EpochBalance> = shape<EpochBalance>({ account: addr, cumulativeWei: wei });
const MAX_ROWS = 1_000_000;

export const parseEpochFile: Parser<EpochFile> = shape<EpochFile>({
  format: oneOf([EPOCH_FILE_FORMAT] as const),
  epoch: u32,
  run: u32,
  round: u32,
  modelHash: hex32,
  root: hex32,
  txHash: hex32,
  chain: shape<EpochFile['chain']>({ chainId: u32, distributor: addr }),
  policy: arrayOf(shape<EpochFile['policy'][number]>({ run: u32, weiPerSample: wei }), 10_000),
  previous: nullable(shape<NonNullable<EpochFile['previous']>>({ epoch: u32, balances: arrayOf(balance, MAX_ROWS) })),
  credited: arrayOf(
    shape<CreditedReport>({
      id: u32,
      account: addr,
      beneficiary: addr,
      contribution: nullable((v, p) => parseContribution(v, p)),
      signature: (v, p) => (typeof v === 'string' && v.length === 130 ? edSig(v, p) : sig(v, p)),
      session: optional(nullable(shape<NonNullable<CreditedReport['session']>>({ certificate: parseSessionCertificate, signature: sig }))),
      verification: nullable(oneOf(VERIFICATION_STATES)),
      vestsRound: nullable(u32),
      creditWei: wei,
      delegation: nullable(shape<NonNullable<CreditedReport['delegation']>>({ message: (v, p) => parseDelegation(v, p), signature: sig })),
    }),
    MAX_ROWS,
  ),
  verdicts: arrayOf(shape<EpochVerdict>({ id: u32, account: addr, round: u32, code: oneOf(REJECTION_CODES), prose: str(2000) }), MAX_ROWS),
  balances: arrayOf(balance, MAX_ROWS),
});

export const parseEpochListing: Parser<EpochListing> = shape<EpochListing>({
  epochs: arrayOf(shape<EpochListing['epochs'][number]>({ epoch: u32, root: hex32, txHash: hex32, round: u32, file: str(256), fileHash: hex32 }), MAX_ROWS),
});
