// The reward audit (issue 14, `npm run audit`): from a platform's published epoch files
// (coordinator/rewards/epoch-file.ts) and the chain alone, recompute every epoch's root and
// compare it with the root the RewardDistributor emitted for that epoch. Nothing the
// coordinator computed is taken on trust:
//   - every credited report's EIP-712 signature is recovered here (viem) and must be its
//     account's; for a report signed by a session key (shared/session-key.ts, protocol 6) the
//     session certificate's signature must recover the account, name the report's run and the
//     account, and the report's Ed25519 signature must verify under the certified key over the
//     certificate's digest and the Contribution's (WebCrypto); a report paid to a wallet must carry that wallet's signed Delegation;
//   - each report's credit is recomputed from its signed samples with the coordinator's own
//     rule (round/decide.ts creditWeiOf, imported, not copied) and the file's price;
//   - each account's cumulative amount is the previous epoch's (recomputed by this audit when
//     it read that file, else as published) plus its credit, and the tree is rebuilt with the
//     contract's leaf encoding (chain/merkle.ts buildRewardTree, OpenZeppelin's
//     StandardMerkleTree);
//   - a report credited twice (the same account and nonce in two rows) is a mismatch.
// The file's own root and leaves are compared too, so a mismatch says where the two differ.
import { createPublicClient, http, recoverTypedDataAddress, type Address, type Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import { contributionTypedData, delegationTypedData, eip712Domain, sessionCertificateTypedData, type Contribution } from '../../shared/eip712.ts';
import { certificateDigest, certificateFromJson, contributionSigningBytes, verifyEd25519 } from '../../shared/session-key.ts';
import { keccak256 } from '../../shared/keccak.ts';
import { rewardDistributorAbi } from '../../shared/chain/abi.ts';
import {
  contributionFromJson,
  delegationFromJson,
  parseEpochFile,
  parseEpochListing,
  parseRunInfo,
  type EpochBalance,
  type EpochFile,
  type VerificationState,
} from '../../shared/wire/index.ts';
import { buildRewardTree } from '../chain/index.ts';
import { creditWeiOf } from '../round/index.ts';

export type AuditMismatchKind =
  /** The file's bytes do not hash to what the listing names. */
  | 'file-hash'
  /** A credited report whose signature does not recover its account (or whose signed fields were not kept). */
  | 'signature'
  /** Credit paid to a wallet without that wallet's valid Delegation of the device. */
  | 'delegation'
  /** The ledger's credit for a report differs from the rule applied to its signed samples. */
  | 'credit'
  /** A report credited without a passed, skipped or unverifiable spot check. */
  | 'unchecked'
  /** The same signed report (account, nonce) credited twice. */
  | 'duplicate'
  /** The file's previous leaves differ from this audit's recomputation of the previous epoch. */
  | 'previous'
  /** A published leaf differs from the recomputed amount. */
  | 'balance'
  /** The file's root differs from the recomputed one. */
  | 'root'
  /** The chain's root differs from the recomputed one, or the chain holds none for the epoch. */
  | 'chain'
  /** An epoch posted on chain with no published file. */
  | 'unpublished'
  /** The file's EIP-712 domain (chain id, distributor) is not the platform's. */
  | 'domain';

export interface AuditMismatch {
  epoch: number;
  kind: AuditMismatchKind;
  detail: string;
  id?: number;
  account?: Address;
}

export interface AuditResult {
  /** Epochs posted on chain or published (their union). */
  epochs: number;
  /** Epochs whose recomputed root equals the root posted on chain. */
  rootsMatched: number;
  /** Credited reports whose signature was checked. */
  reports: number;
  mismatches: AuditMismatch[];
}

/** The spot-check states a payable contribution may be in (db/creditable.ts UNBATCHED_PAYABLE). */
const PAYABLE: readonly (VerificationState | null)[] = ['passed', 'skipped', 'unverifiable'];

const toMap = (balances: readonly EpochBalance[]) => new Map(balances.map((b) => [b.account.toLowerCase() as Address, BigInt(b.cumulativeWei)]));

/**
 * One epoch file checked on its own: signatures, credit, leaves and root; against `previous`
 * (this audit's leaves of the epoch before, when it has them) and `chainRoot` (null: the chain
 * holds no root for this epoch). `seen` collects (account, nonce) across the files of one audit.
 */
export async function auditEpochFile(
  file: EpochFile,
  opts: { previous?: Map<Address, bigint> | null; chainRoot: Hex | null; seen?: Set<string> },
): Promise<{ balances: Map<Address, bigint>; root: Hex | null; reports: number; mismatches: AuditMismatch[] }> {
  const mismatches: AuditMismatch[] = [];
  const miss = (kind: AuditMismatchKind, detail: string, at: { id?: number; account?: Address } = {}) =>
    mismatches.push({ epoch: file.epoch, kind, detail, ...at });
  const published = toMap(file.previous?.balances ?? []);
  const balances = new Map(opts.previous ?? published);
  if (opts.previous) {
    for (const a of new Set([...published.keys(), ...opts.previous.keys()]))
      if ((published.get(a) ?? 0n) !== (opts.previous.get(a) ?? 0n))
        miss(
          'previous',
          `the file says ${a} held ${published.get(a) ?? 0n} after epoch ${file.previous?.epoch}; this audit computed ${opts.previous.get(a) ?? 0n}`,
          {
            account: a,
          },
        );
  }
  const domain = eip712Domain(file.chain.chainId, file.chain.distributor);
  const price = new Map(file.policy.map((p) => [p.run, { rewards: { weiPerSample: p.weiPerSample } } as Pick<RunSpec, 'rewards'>]));
  const seen = opts.seen ?? new Set<string>();
  let reports = 0;
  for (const r of file.credited) {
    const at = { id: r.id, account: r.account };
    if (!r.contribution) {
      miss('signature', `contribution ${r.id} was written before the ledger kept every signed field: its signature cannot be checked`, at);
      continue;
    }
    const c = contributionFromJson(r.contribution);
    reports++;
    const wrong = r.session
      ? await sessionSignatureWrong(domain, c, r.signature, r.session, r.account)
      : await deviceSignatureWrong(domain, c, r.signature, r.account);
    if (wrong) {
      miss('signature', `contribution ${r.id}: ${wrong}`, at);
      continue;
    }
    const key = `${r.account}:${c.nonce}`;
    if (seen.has(key)) miss('duplicate', `contribution ${r.id}: ${r.account}'s report with nonce ${c.nonce} is credited more than once`, at);
    seen.add(key);
    if (!PAYABLE.includes(r.verification)) miss('unchecked', `contribution ${r.id} is credited with spot check ${r.verification ?? 'undecided'}`, at);
    const rule = price.get(c.run);
    if (!rule) {
      miss('credit', `contribution ${r.id} is for run ${c.run}, which the file's policy does not price`, at);
      continue;
    }
    const credit = creditWeiOf(c.samples, rule);
    if (credit !== BigInt(r.creditWei))
      miss('credit', `contribution ${r.id}: ${c.samples} signed samples earn ${credit} wei; the ledger credited ${r.creditWei}`, at);
    if (r.beneficiary !== r.account && !(await delegates(domain, r.account, r.beneficiary, r.delegation))) {
      miss('delegation', `contribution ${r.id} is paid to ${r.beneficiary}, but no valid delegation from that wallet names device ${r.account}`, at);
      continue;
    }
    balances.set(r.beneficiary, (balances.get(r.beneficiary) ?? 0n) + credit);
  }
  for (const [a, v] of balances) if (v === 0n) balances.delete(a);
  const leaves = toMap(file.balances);
  for (const a of new Set([...leaves.keys(), ...balances.keys()]))
    if ((leaves.get(a) ?? 0n) !== (balances.get(a) ?? 0n))
      miss('balance', `${a}: the file's leaf holds ${leaves.get(a) ?? 0n}, the reports add up to ${balances.get(a) ?? 0n}`, { account: a });
  const root = balances.size ? buildRewardTree([...balances].map(([account, cumulative]) => ({ account, cumulative }))).root : null;
  if (root !== file.root.toLowerCase()) miss('root', `the file names root ${file.root}; its reports build ${root ?? 'no tree'}`);
  if (opts.chainRoot === null) miss('chain', `the chain holds no root for epoch ${file.epoch}`);
  else if (opts.chainRoot.toLowerCase() !== root) miss('chain', `the chain's root is ${opts.chainRoot}; the published reports build ${root ?? 'no tree'}`);
  return { balances, root, reports, mismatches };
}

type Domain = ReturnType<typeof eip712Domain>;

/** Why a report signed by its device key (protocol ≤ 5) does not check; null when it does. */
async function deviceSignatureWrong(domain: Domain, c: Contribution, signature: Hex, account: Address): Promise<string | null> {
  const signer = await recoverTypedDataAddress({ ...contributionTypedData(domain, c), signature }).catch(() => null);
  return signer?.toLowerCase() === account ? null : `its signature recovers ${signer ?? 'nothing'}, not ${account}`;
}

/** Why a report signed by a session key does not check (certificate, then the report's Ed25519 signature); null when it does. */
async function sessionSignatureWrong(
  domain: Domain,
  c: Contribution,
  signature: Hex,
  session: NonNullable<EpochFile['credited'][number]['session']>,
  account: Address,
): Promise<string | null> {
  const cert = certificateFromJson(session.certificate);
  if (cert.device.toLowerCase() !== account) return `its session certificate names device ${cert.device}, not ${account}`;
  if (cert.run !== c.run) return `its session certificate is for run ${cert.run}, the report for run ${c.run}`;
  const certSigner = await recoverTypedDataAddress({ ...sessionCertificateTypedData(domain, cert), signature: session.signature }).catch(() => null);
  if (certSigner?.toLowerCase() !== account) return `its session certificate's signature recovers ${certSigner ?? 'nothing'}, not ${account}`;
  if (!/^0x[0-9a-fA-F]{128}$/.test(signature)) return 'its signature is not an Ed25519 signature of the certified session key';
  const ok = await verifyEd25519(cert.sessionKey, signature, contributionSigningBytes(domain, certificateDigest(domain, cert), c));
  return ok ? null : `its Ed25519 signature does not verify under session key ${cert.sessionKey}`;
}

async function delegates(
  domain: ReturnType<typeof eip712Domain>,
  device: Address,
  wallet: Address,
  d: EpochFile['credited'][number]['delegation'],
): Promise<boolean> {
  if (!d || d.message.device !== device || d.message.wallet !== wallet) return false;
  const signer = await recoverTypedDataAddress({ ...delegationTypedData(domain, delegationFromJson(d.message)), signature: d.signature }).catch(() => null);
  return signer?.toLowerCase() === wallet;
}

const epochPosted = rewardDistributorAbi.find((x) => x.type === 'event' && x.name === 'EpochPosted') as Extract<
  (typeof rewardDistributorAbi)[number],
  { type: 'event'; name: 'EpochPosted' }
>;

async function getJson(url: URL): Promise<{ bytes: Uint8Array; json: unknown }> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { bytes, json: JSON.parse(new TextDecoder().decode(bytes)) };
}

/**
 * Audits every epoch of the platform at `url`: its published files, and the roots its
 * distributor emitted (EpochPosted events), read through `rpc` (default: the RPC the platform
 * names, i.e. its /rpc proxy). `progress` gets one line per epoch.
 */
export async function auditPlatform(opts: { url: string; rpc?: string; progress?: (line: string) => void }): Promise<AuditResult> {
  const base = new URL(opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
  const info = parseRunInfo((await getJson(new URL('api/run', base))).json, 'GET /api/run');
  const rpc = opts.rpc ?? new URL(info.chain.rpcUrl, base).toString();
  const client = createPublicClient({ transport: http(rpc) });
  const logs = await client.getLogs({ address: info.chain.distributor, event: epochPosted, fromBlock: 0n });
  const onChain = new Map<number, Hex>();
  for (const l of logs) onChain.set(Number(l.args.epoch), l.args.root as Hex);
  const listing = parseEpochListing((await getJson(new URL('api/epochs', base))).json, 'GET /api/epochs');

  const mismatches: AuditMismatch[] = [];
  const seen = new Set<string>();
  let previous: { epoch: number; balances: Map<Address, bigint> } | null = null;
  let rootsMatched = 0;
  let reports = 0;
  for (const entry of [...listing.epochs].sort((a, b) => a.epoch - b.epoch)) {
    const { bytes, json } = await getJson(new URL(entry.file.replace(/^\//, ''), base));
    if (keccak256(bytes) !== entry.fileHash.toLowerCase())
      mismatches.push({ epoch: entry.epoch, kind: 'file-hash', detail: `${entry.file} hashes to ${keccak256(bytes)}, the listing names ${entry.fileHash}` });
    const file = parseEpochFile(json, entry.file);
    const chainRoot = onChain.get(file.epoch) ?? null;
    const known = previous && file.previous?.epoch === previous.epoch ? previous.balances : null;
    const r = await auditEpochFile(file, { previous: known, chainRoot, seen });
    if (file.chain.distributor !== info.chain.distributor.toLowerCase() || file.chain.chainId !== info.chain.chainId)
      r.mismatches.push({
        epoch: file.epoch,
        kind: 'domain',
        detail: `the file's domain (chain ${file.chain.chainId}, ${file.chain.distributor}) is not the platform's`,
      });
    const matched = chainRoot !== null && r.root !== null && chainRoot.toLowerCase() === r.root;
    if (matched) rootsMatched++;
    reports += r.reports;
    mismatches.push(...r.mismatches);
    opts.progress?.(
      `epoch ${file.epoch}: ${file.credited.length} reports, ${r.balances.size} accounts, root ${r.root ?? 'none'} ${matched ? 'matches the chain' : 'does NOT match the chain'}`,
    );
    previous = { epoch: file.epoch, balances: r.balances };
  }
  const listed = new Set(listing.epochs.map((e) => e.epoch));
  for (const epoch of onChain.keys())
    if (!listed.has(epoch))
      mismatches.push({ epoch, kind: 'unpublished', detail: `epoch ${epoch} is posted on chain but the platform publishes no file for it` });
  return { epochs: new Set([...listed, ...onChain.keys()]).size, rootsMatched, reports, mismatches };
}
