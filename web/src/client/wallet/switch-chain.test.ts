import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChainInfo } from '../../../../shared/wire/index.ts';
import { addChainParams, ensureWalletChain, WalletChainError, type WalletChainCode } from './switch-chain.ts';
import type { Eip1193Provider } from './wallets.ts';

const CHAIN: ChainInfo = {
  chainId: 31337,
  distributor: '0x0000000000000000000000000000000000000001',
  token: '0x0000000000000000000000000000000000000002',
  rpcUrl: '/rpc',
  chainName: 'idlegrad dev',
  explorerUrl: 'https://explorer.example',
};

/** A wallet with an active chain and the chains it knows; `answer` overrides a method's outcome. */
function wallet(o: { active: number; known?: number[]; switchOnAdd?: boolean; answer?: Record<string, () => unknown> }) {
  const known = new Set([o.active, ...(o.known ?? [])]);
  const calls: { method: string; params: unknown }[] = [];
  const err = (code: number, message: string) => Object.assign(new Error(message), { code });
  const provider: Eip1193Provider = {
    async request({ method, params }) {
      calls.push({ method, params });
      if (o.answer?.[method]) return o.answer[method]();
      switch (method) {
        case 'eth_chainId':
          return `0x${o.active.toString(16)}`;
        case 'wallet_switchEthereumChain': {
          const id = Number((params as [{ chainId: string }])[0].chainId);
          if (!known.has(id)) throw err(4902, 'Unrecognized chain ID');
          o.active = id;
          return null;
        }
        case 'wallet_addEthereumChain':
          known.add(Number((params as [{ chainId: string }])[0].chainId));
          if (o.switchOnAdd ?? true) o.active = Number((params as [{ chainId: string }])[0].chainId);
          return null;
        default:
          throw err(4200, `unsupported ${method}`);
      }
    },
  };
  return { provider, calls, methods: () => calls.map((c) => c.method) };
}

async function rejectsWith(p: Promise<unknown>, code: WalletChainCode, message: RegExp) {
  await assert.rejects(p, (e: unknown) => e instanceof WalletChainError && e.code === code && message.test(e.shortMessage));
}

test('a wallet already on the run chain is asked nothing more', async () => {
  const w = wallet({ active: 31337 });
  await ensureWalletChain(w.provider, CHAIN, 'http://127.0.0.1:8080', 'to claim');
  assert.deepEqual(w.methods(), ['eth_chainId']);
});

test('a wallet on another chain that knows the run chain is switched (EIP-3326)', async () => {
  const w = wallet({ active: 1, known: [31337] });
  await ensureWalletChain(w.provider, CHAIN, 'http://127.0.0.1:8080', 'to claim');
  assert.deepEqual(w.methods(), ['eth_chainId', 'wallet_switchEthereumChain', 'eth_chainId']);
  assert.deepEqual(w.calls[1].params, [{ chainId: '0x7a69' }]);
});

test('a wallet that does not know the chain (4902) is asked to add it (EIP-3085), with an absolute RPC URL and the explorer', async () => {
  const w = wallet({ active: 1 });
  await ensureWalletChain(w.provider, CHAIN, 'http://127.0.0.1:8080', 'to claim');
  assert.deepEqual(w.methods(), ['eth_chainId', 'wallet_switchEthereumChain', 'wallet_addEthereumChain', 'eth_chainId', 'eth_chainId']);
  assert.deepEqual(w.calls[2].params, [
    {
      chainId: '0x7a69',
      chainName: 'idlegrad dev',
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: ['http://127.0.0.1:8080/rpc'],
      blockExplorerUrls: ['https://explorer.example'],
    },
  ]);
  // A wallet that adds without switching is asked to switch once more.
  const lazy = wallet({ active: 1, switchOnAdd: false });
  await ensureWalletChain(lazy.provider, CHAIN, 'http://127.0.0.1:8080', 'to claim');
  assert.deepEqual(lazy.methods(), [
    'eth_chainId',
    'wallet_switchEthereumChain',
    'wallet_addEthereumChain',
    'eth_chainId',
    'wallet_switchEthereumChain',
    'eth_chainId',
  ]);
});

test('refusals and failures are named: 4001 declined, no switch support, still on the wrong chain', async () => {
  const declined = () => {
    throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
  };
  await rejectsWith(
    ensureWalletChain(wallet({ active: 1, answer: { wallet_switchEthereumChain: declined } }).provider, CHAIN, 'http://x', 'to claim'),
    'REFUSED',
    /declined to switch to idlegrad dev \(id 31337\): it must be on the run's chain to claim/,
  );
  await rejectsWith(
    ensureWalletChain(wallet({ active: 1, answer: { wallet_addEthereumChain: declined } }).provider, CHAIN, 'http://x', 'to claim'),
    'REFUSED',
    /declined/,
  );
  // MetaMask nests the code of a failed switch under data.originalError.
  const nested = () => {
    throw Object.assign(new Error('Internal'), { code: -32603, data: { originalError: { code: 4902 } } });
  };
  const n = wallet({ active: 1, answer: { wallet_switchEthereumChain: nested } });
  await ensureWalletChain(n.provider, CHAIN, 'http://x', 'to claim');
  assert.ok(n.methods().includes('wallet_addEthereumChain'));
  const unsupported = () => {
    throw Object.assign(new Error('Method not found'), { code: -32601 });
  };
  await rejectsWith(
    ensureWalletChain(wallet({ active: 1, answer: { wallet_switchEthereumChain: unsupported } }).provider, CHAIN, 'http://x', 'to bind it'),
    'UNSUPPORTED',
    /switch it to idlegrad dev \(id 31337\) to bind it/,
  );
  const stuck = wallet({ active: 1, known: [31337], answer: { eth_chainId: () => '0x1', wallet_switchEthereumChain: () => null } });
  await rejectsWith(ensureWalletChain(stuck.provider, CHAIN, 'http://x', 'to claim'), 'WRONG_CHAIN', /still on chain 1/);
});

test('addChainParams names the chain by id when the platform gives no name, and links no explorer without one', () => {
  const p = addChainParams({ ...CHAIN, chainName: undefined, explorerUrl: undefined }, 'https://idlegrad.example');
  assert.equal(p.chainName, 'chain 31337');
  assert.equal('blockExplorerUrls' in p, false);
  assert.deepEqual(p.rpcUrls, ['https://idlegrad.example/rpc']);
});
