// What the page may ask the chain through the coordinator's /rpc: the reads a claim needs
// (balances, nonces, fees, receipts, the distributor's views) and one kind of write, a signed
// transaction calling the distributor's `claim`. A claim pays the leaf's own account and only
// against the posted root, so nothing that passes here can move reward tokens elsewhere;
// everything else (postEpoch, token transfers, ownership, plain transfers, contract creation,
// node-signed eth_sendTransaction, anvil_* cheat codes) is refused with RPC_REFUSED.
import { decodeFunctionData, isAddressEqual, parseTransaction, toFunctionSelector, type Address, type Hex } from 'viem';
import { claimAbi } from '../../shared/chain/abi.ts';
import { IdlegradError } from '../../shared/errors.ts';

/** Read-only methods forwarded as they are. */
export const RPC_READ_METHODS: readonly string[] = [
  'eth_chainId',
  'net_version',
  'eth_blockNumber',
  'eth_call',
  'eth_estimateGas',
  'eth_gasPrice',
  'eth_maxPriorityFeePerGas',
  'eth_feeHistory',
  'eth_getBalance',
  'eth_getTransactionCount',
  'eth_getTransactionReceipt',
  'eth_getTransactionByHash',
  'eth_getBlockByNumber',
  'eth_getCode',
  'eth_getLogs',
];
const READS = new Set(RPC_READ_METHODS);
export const MAX_RPC_BATCH = 100;

const claimFunction = claimAbi.find((x) => x.type === 'function' && x.name === 'claim')!;
export const CLAIM_SELECTOR = toFunctionSelector(claimFunction);

const refuse = (what: string): never => {
  throw new IdlegradError('RPC_REFUSED', what);
};

/** Throws RPC_REFUSED unless `raw` is a signed transaction to `distributor` calling claim(account, cumulativeAmount, proof). */
export function checkClaimTransaction(raw: unknown, distributor: Address): void {
  if (typeof raw !== 'string' || !/^0x[0-9a-fA-F]+$/.test(raw)) refuse('eth_sendRawTransaction: expected one signed transaction as 0x-hex');
  let tx: ReturnType<typeof parseTransaction>;
  try {
    tx = parseTransaction(raw as Hex);
  } catch (e) {
    return refuse(`eth_sendRawTransaction: not a signed transaction (${(e as Error).message.split('\n')[0]})`);
  }
  if (!tx.to || !isAddressEqual(tx.to, distributor))
    refuse(`eth_sendRawTransaction: only calls to the reward distributor ${distributor} are forwarded, not to ${tx.to ?? 'a new contract'}`);
  if (tx.value !== undefined && tx.value !== 0n) refuse('eth_sendRawTransaction: a claim carries no value');
  const data = tx.data ?? '0x';
  if (data.slice(0, 10).toLowerCase() !== CLAIM_SELECTOR)
    refuse(`eth_sendRawTransaction: only the distributor's claim (${CLAIM_SELECTOR}) is forwarded, not selector ${data.slice(0, 10) || '(none)'}`);
  try {
    decodeFunctionData({ abi: claimAbi, data });
  } catch {
    refuse('eth_sendRawTransaction: the claim call data does not decode as claim(address,uint256,bytes32[])');
  }
}

/** Throws RPC_REFUSED naming what is wrong with one JSON-RPC call, unless /rpc may forward it. */
export function checkRpcCall(call: unknown, distributor: Address): void {
  const c = call as { method?: unknown; params?: unknown } | null;
  if (typeof c !== 'object' || c === null || typeof c.method !== 'string') return refuse('rpc call: expected an object with a string "method"');
  if (READS.has(c.method)) return;
  if (c.method !== 'eth_sendRawTransaction')
    return refuse(`rpc method ${JSON.stringify(c.method.slice(0, 64))} is not forwarded through /rpc (reads and reward claims only)`);
  if (!Array.isArray(c.params) || c.params.length !== 1) return refuse('eth_sendRawTransaction: expected params [signedTransaction]');
  checkClaimTransaction(c.params[0], distributor);
}

/** Every call of a JSON-RPC request body (one call or a batch of 1 to MAX_RPC_BATCH). */
export function checkRpcRequest(body: unknown, distributor: Address): void {
  const calls = Array.isArray(body) ? body : [body];
  if (calls.length === 0 || calls.length > MAX_RPC_BATCH)
    throw new IdlegradError('BAD_MESSAGE', `rpc batch of ${calls.length} calls: expected 1 to ${MAX_RPC_BATCH}`);
  for (const c of calls) checkRpcCall(c, distributor);
}
