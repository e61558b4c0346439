// The one error type of the chain module. Browser-safe (no node imports): claim.ts and
// merkle.ts throw it too. A BaseError (shared/errors.ts): a short message a UI can show,
// optional details for logs, and the underlying cause.

import { BaseError as ViemBaseError, ContractFunctionRevertedError } from 'viem';
import { BaseError } from '../errors.ts';

/** Every way the chain module fails, as an enumerated state rather than a string match. */
export type ChainErrorCode =
  | 'ANVIL_NOT_FOUND' // no anvil binary for this platform in node_modules
  | 'ANVIL_START_FAILED' // anvil exited, or did not answer eth_chainId in time
  | 'COMPILE_FAILED' // solc reported errors
  | 'CONTRACT_MISMATCH' // code at the given addresses is not our token/distributor pair
  | 'NOT_OWNER' // the deployer key does not own the distributor it would post to
  | 'TX_REVERTED' // a transaction was mined but reverted, or its simulation reverted
  | 'INVALID_ARGUMENT' // a caller passed a value outside its type (epoch, hash, address …)
  | 'INVALID_TREE' // merkle input rejected: duplicate account, negative amount, empty
  | 'CLAIM_REJECTED'; // the distributor refused a claim (see ClaimError.reason)

export class ChainError extends BaseError<ChainErrorCode> {
  override name = 'ChainError';
}

/** A contract revert as viem decoded it: the custom error's name and arguments when the ABI
 *  knew the error (e.g. `InvalidProof`), else solc's reason string, else nothing. */
export interface DecodedRevert {
  errorName: string | undefined;
  args: readonly unknown[];
  reason: string | undefined;
}

/** Find the decoded revert inside a viem error chain; undefined if `err` is not a revert. */
export function decodeRevert(err: unknown): DecodedRevert | undefined {
  if (!(err instanceof ViemBaseError)) return undefined;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined;
  return { errorName: reverted.data?.errorName, args: reverted.data?.args ?? [], reason: reverted.reason };
}

/** "EpochNotIncreasing(3, 5)" / "reverted: <reason>" / the first line of viem's message. */
export function describeRevert(err: unknown): string {
  const r = decodeRevert(err);
  if (r?.errorName) return `${r.errorName}(${r.args.map(String).join(', ')})`;
  if (r?.reason) return `reverted: ${r.reason}`;
  if (err instanceof ViemBaseError) return err.shortMessage;
  return err instanceof Error ? err.message : String(err);
}
