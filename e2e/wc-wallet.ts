// A WalletConnect wallet in Node, for tests: WalletConnect's own sign client (the library
// wallets build on), holding one of anvil's dev accounts. It pairs with a `wc:` URI, approves
// the session for the platform's chain, signs EIP-712 typed data with the account's key and
// sends its transactions to the platform's chain. Other methods are read-only chain calls.
import { SignClient } from '@walletconnect/sign-client';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicClient, createWalletClient, http, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

export interface WcWallet {
  address: Address;
  /** The methods the page asked the wallet to perform, in order. */
  requests: string[];
  pair(uri: string): Promise<void>;
  close(): Promise<void>;
}

type SignClientT = Awaited<ReturnType<typeof SignClient.init>>;

export async function startWcWallet(a: { projectId: string; relayUrl: string; key: Hex; chainId: number; rpcUrl: string }): Promise<WcWallet> {
  const account = privateKeyToAccount(a.key);
  const walletClient = createWalletClient({ account, transport: http(a.rpcUrl) });
  const publicClient = createPublicClient({ transport: http(a.rpcUrl) });
  const requests: string[] = [];
  const client: SignClientT = await SignClient.init({
    projectId: a.projectId,
    relayUrl: a.relayUrl,
    customStoragePrefix: 'test-wallet',
    storageOptions: { dbName: join(mkdtempSync(join(tmpdir(), 'idlegrad-wc-wallet-')), 'wc.db') },
    metadata: { name: 'idlegrad test wallet', description: 'anvil dev account', url: 'http://127.0.0.1', icons: [] },
  } as Parameters<typeof SignClient.init>[0]);
  const chain = `eip155:${a.chainId}`;

  client.on('session_proposal', async (p) => {
    const asked = { ...p.params.requiredNamespaces, ...p.params.optionalNamespaces }.eip155;
    await client.approve({
      id: p.id,
      namespaces: { eip155: { accounts: [`${chain}:${account.address}`], chains: [chain], methods: asked?.methods ?? [], events: asked?.events ?? [] } },
    });
  });

  client.on('session_request', async (r) => {
    const { method, params } = r.params.request as { method: string; params: unknown[] };
    requests.push(method);
    let result: unknown;
    try {
      switch (method) {
        case 'eth_signTypedData_v4': {
          const [who, json] = params as [string, string];
          if (who.toLowerCase() !== account.address.toLowerCase()) throw new Error(`asked to sign for ${who}`);
          const t = JSON.parse(json) as {
            domain: Record<string, unknown>;
            types: Record<string, unknown>;
            primaryType: string;
            message: Record<string, string>;
          };
          const { EIP712Domain: _, ...types } = t.types;
          const message = Object.fromEntries(Object.entries(t.message).map(([k, v]) => [k, /^\d+$/.test(v) ? BigInt(v) : v]));
          result = await account.signTypedData({
            domain: { ...t.domain, chainId: Number(t.domain.chainId) },
            types,
            primaryType: t.primaryType,
            message,
          } as Parameters<typeof account.signTypedData>[0]);
          break;
        }
        case 'eth_sendTransaction': {
          const [tx] = params as [{ to: Address; data: Hex; from: Address }];
          if (tx.from.toLowerCase() !== account.address.toLowerCase()) throw new Error(`asked to send from ${tx.from}`);
          result = await walletClient.sendTransaction({ to: tx.to, data: tx.data, chain: null });
          break;
        }
        default:
          result = await publicClient.request({ method: method as never, params: params as never });
      }
      await client.respond({ topic: r.topic, response: { id: r.id, jsonrpc: '2.0', result } });
    } catch (e) {
      await client.respond({ topic: r.topic, response: { id: r.id, jsonrpc: '2.0', error: { code: 4001, message: (e as Error).message } } });
    }
  });

  return {
    address: account.address,
    requests,
    pair: async (uri) => void (await client.pair({ uri })),
    close: async () => {
      await client.core.relayer.transportClose().catch(() => undefined);
    },
  };
}
