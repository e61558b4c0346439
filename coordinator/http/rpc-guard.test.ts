// /rpc forwards reads and claims to the distributor only: every transaction the owner (or
// anyone) could sign to move reward tokens another way is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { rewardDistributorAbi, rewardTokenAbi } from '../../shared/chain/abi.ts';
import { IdlegradError } from '../../shared/errors.ts';
import { checkRpcRequest, CLAIM_SELECTOR, RPC_READ_METHODS } from './rpc-guard.ts';

const distributor = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address;
const token = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' as Address;
const signer = privateKeyToAccount(generatePrivateKey());
const victim = privateKeyToAccount(generatePrivateKey()).address;
const h32 = `0x${'ab'.repeat(32)}` as Hex;

const sign = (to: Address | undefined, data: Hex, value = 0n) =>
  signer.signTransaction({ chainId: 31337, type: 'eip1559', to, data, value, nonce: 0, gas: 200_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1n });
const send = (raw: unknown) => ({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [raw] });
const refused = (body: unknown, re: RegExp) =>
  assert.throws(
    () => checkRpcRequest(body, distributor),
    (e) => e instanceof IdlegradError && e.code === 'RPC_REFUSED' && re.test(e.shortMessage),
  );

const claimData = encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'claim', args: [signer.address, 10n, [h32]] });

test('reads pass; a claim to the distributor passes, alone and in a batch', async () => {
  for (const method of RPC_READ_METHODS) checkRpcRequest({ jsonrpc: '2.0', id: 1, method, params: [] }, distributor);
  const claim = await sign(distributor, claimData);
  checkRpcRequest(send(claim), distributor);
  checkRpcRequest([{ jsonrpc: '2.0', id: 1, method: 'eth_chainId' }, send(claim)], distributor);
  // A legacy (type 0) claim decodes as well.
  const legacy = await signer.signTransaction({
    chainId: 31337,
    type: 'legacy',
    to: distributor,
    data: claimData,
    nonce: 1,
    gas: 200_000n,
    gasPrice: 1_000_000_000n,
  });
  checkRpcRequest(send(legacy), distributor);
  assert.equal(CLAIM_SELECTOR, claimData.slice(0, 10));
});

test('every other transaction is refused by name, whoever signed it', async () => {
  refused(
    send(await sign(distributor, encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'postEpoch', args: [99n, h32, h32] }))),
    /only the distributor's claim .* not selector 0x/,
  );
  refused(
    send(await sign(distributor, encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'transferOwnership', args: [victim] }))),
    /only the distributor's claim/,
  );
  refused(send(await sign(distributor, encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'renounceOwnership' }))), /only the distributor's claim/);
  refused(
    send(await sign(token, encodeFunctionData({ abi: rewardTokenAbi, functionName: 'transfer', args: [victim, parseEther('1')] }))),
    /only calls to the reward distributor/,
  );
  refused(send(await sign(victim, '0x', parseEther('1'))), /only calls to the reward distributor/);
  refused(send(await sign(undefined, '0x6080604052')), /not to a new contract/);
  refused(send(await sign(distributor, claimData, 1n)), /carries no value/);
  refused(send(await sign(distributor, '0x')), /not selector \(none\)|not selector 0x/);
  // The claim selector with call data that does not decode.
  refused(send(await sign(distributor, `${CLAIM_SELECTOR}00ff` as Hex)), /does not decode/);
  refused(send('0x02deadbeef'), /not a signed transaction/);
  refused(send(12), /expected one signed transaction/);
  refused({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [] }, /expected params/);
  // A refused call anywhere in a batch refuses the batch.
  refused([{ jsonrpc: '2.0', id: 1, method: 'eth_chainId' }, send(await sign(token, '0xa9059cbb'))], /only calls to the reward distributor/);
});

test('methods that sign with node-held keys or change the node are refused', () => {
  for (const method of [
    'eth_sendTransaction',
    'eth_sign',
    'personal_sign',
    'eth_signTypedData_v4',
    'anvil_setBalance',
    'anvil_impersonateAccount',
    'hardhat_setStorageAt',
    'evm_mine',
    'debug_traceTransaction',
    'admin_peers',
  ]) {
    refused({ jsonrpc: '2.0', id: 1, method, params: [] }, new RegExp(`rpc method "${method}" is not forwarded`));
  }
  refused({ jsonrpc: '2.0', id: 1 }, /string "method"/);
  refused(null, /string "method"/);
  assert.throws(() => checkRpcRequest([], distributor), /rpc batch of 0 calls/);
  assert.throws(() => checkRpcRequest(Array(101).fill({ method: 'eth_chainId' }), distributor), /rpc batch of 101 calls/);
});
