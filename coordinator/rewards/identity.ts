// Wallet binding (DESIGN.md "Identity and signatures"): a device key earns credit from its
// first report; a volunteer may later have a wallet sign one EIP-712 Delegation naming the
// device, and from then on the device's credit accrues to the wallet. Checked here, in the
// order that gives each forgery its own named refusal; nothing is written unless all pass.
import { recoverTypedDataAddress, type Address, type Hex } from 'viem';
import { delegationTypedData, type Delegation, type Eip712Domain } from '../../shared/eip712.ts';
import { IdlegradError } from '../../shared/errors.ts';
import type { Ledger } from '../db/index.ts';
import { assertLowS } from '../../shared/low-s.ts';

/** Longest a delegation may run, so a leaked one does not bind a device forever. */
export const MAX_DELEGATION_SECONDS = 366 * 24 * 3600;

export async function bindWallet(
  ledger: Ledger,
  domain: Eip712Domain,
  sessionDevice: Address,
  d: Delegation,
  signature: Hex,
  nowSec: number,
): Promise<{ wallet: Address; device: Address; expiry: bigint }> {
  const device = d.device.toLowerCase() as Address;
  const wallet = d.wallet.toLowerCase() as Address;
  // The device must be the key that proved itself on this connection: a delegation
  // overheard elsewhere cannot bind somebody else's device.
  if (device !== sessionDevice) throw new IdlegradError('BAD_MESSAGE', `delegation names device ${device}, but this connection is ${sessionDevice}`);
  assertLowS(signature, 'delegation');
  let signer: Address;
  try {
    signer = (await recoverTypedDataAddress({ ...delegationTypedData(domain, d), signature })).toLowerCase() as Address;
  } catch (cause) {
    throw new IdlegradError('BAD_SIGNATURE', 'delegation signature is malformed', { cause });
  }
  if (signer !== wallet) {
    throw new IdlegradError('BAD_SIGNATURE', `delegation is signed by ${signer}, not by the wallet ${wallet} it names`, {
      details: 'a forged delegation (another key) or one signed for another chain or contract recovers a different address',
    });
  }
  if (d.expiry < BigInt(nowSec)) throw new IdlegradError('EXPIRED', `delegation expired at ${d.expiry}`);
  if (d.expiry > BigInt(nowSec + MAX_DELEGATION_SECONDS))
    throw new IdlegradError('LIMIT_EXCEEDED', `delegation expiry ${d.expiry} is more than ${MAX_DELEGATION_SECONDS} s away`);
  const last = await ledger.delegationNonce(device);
  if (d.nonce <= last) throw new IdlegradError('REPLAYED_NONCE', `delegation nonce ${d.nonce} is not above ${device}'s last delegation nonce ${last}`);
  await ledger.insertDelegation({ ...d, device, wallet }, signature);
  return { wallet, device, expiry: d.expiry };
}
