// A WalletConnect v2 relay on localhost, for tests: this machine cannot reach
// relay.walletconnect.org, and a test should not depend on it. The real clients (the page's
// @walletconnect/ethereum-provider and a wallet's @walletconnect/sign-client) connect to it
// through their `relayUrl` option and run the whole protocol through it: pairing, session
// proposal and settlement, requests and responses. The relay only routes opaque, end-to-end
// encrypted messages by topic, as the real one does:
//   irn_subscribe / irn_batchSubscribe       a socket listens to topics (gets an id per topic)
//   irn_unsubscribe / irn_batchUnsubscribe   it stops
//   irn_publish / irn_batchPublish           a message for a topic, kept for its TTL and
//                                            delivered (irn_subscription) to every other
//                                            socket subscribed now or later
//   irn_batchFetchMessages                   what is kept for the topics (none left over:
//                                            delivery on subscribe already covers it)
//   wc_proposeSession / wc_approveSession    the sign protocol's combined publishes: the
//                                            proposal on the pairing topic; the proposal's
//                                            response on the pairing topic and the
//                                            settlement on the new session topic; each
//                                            subscribes its sender to the topic it opens
//                                            (the clients rely on it and skip subscribing)
// Anything else is answered with a JSON-RPC error naming the method, and logged.
import { WebSocketServer, type WebSocket } from 'ws';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

interface Kept {
  topic: string;
  message: string;
  tag: number;
  publishedAt: number;
  expiresAt: number;
  from: WebSocket;
}

export interface WcRelay {
  /** ws://127.0.0.1:PORT — give it as `relayUrl`. */
  url: string;
  /** Methods called so far, in order (to assert the protocol actually ran through here). */
  methods: string[];
  /** Methods this relay did not know. */
  unknown: string[];
  close(): Promise<void>;
}

export async function startWcRelay(): Promise<WcRelay> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((ok) => wss.once('listening', ok));
  const kept: Kept[] = [];
  const subs = new Map<WebSocket, Map<string, string>>(); // socket → topic → subscription id
  const methods: string[] = [];
  const unknown: string[] = [];

  const delivered = new WeakMap<WebSocket, WeakSet<Kept>>(); // each message reaches a socket once, as the real relay's acknowledged delivery does
  const deliver = (ws: WebSocket, k: Kept) => {
    const id = subs.get(ws)?.get(k.topic);
    if (!id || ws === k.from || ws.readyState !== ws.OPEN) return;
    const seen = delivered.get(ws) ?? new WeakSet<Kept>();
    delivered.set(ws, seen);
    if (seen.has(k)) return;
    seen.add(k);
    ws.send(
      JSON.stringify({
        id: Date.now() * 1000 + Math.floor(Math.random() * 1000),
        jsonrpc: '2.0',
        method: 'irn_subscription',
        params: { id, data: { topic: k.topic, message: k.message, publishedAt: k.publishedAt, tag: k.tag } },
      }),
    );
  };
  const publish = (from: WebSocket, topic: string, message: string, ttl: number, tag: number) => {
    const now = Date.now();
    const k: Kept = { topic, message, tag, publishedAt: now, expiresAt: now + ttl * 1000, from };
    for (let i = kept.length - 1; i >= 0; i--) if (kept[i].expiresAt < now) kept.splice(i, 1);
    kept.push(k);
    for (const ws of subs.keys()) deliver(ws, k);
  };
  const subscribe = (ws: WebSocket, topic: string): string => {
    const mine = subs.get(ws)!;
    let id = mine.get(topic);
    if (!id) {
      id = randomBytes(32).toString('hex');
      mine.set(topic, id);
      const now = Date.now();
      setImmediate(() => {
        for (const k of kept) if (k.topic === topic && k.expiresAt >= now) deliver(ws, k);
      });
    }
    return id;
  };

  const trace = process.env.IDLEGRAD_WC_RELAY_TRACE ? (line: string) => console.log(`# wc-relay ${line}`) : null;
  const names = new WeakMap<WebSocket, number>();
  let sockets = 0;
  wss.on('connection', (ws) => {
    subs.set(ws, new Map());
    names.set(ws, ++sockets);
    ws.on('close', () => subs.delete(ws));
    ws.on('message', (raw) => {
      let m: { id?: number | string; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };
      try {
        m = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (!m.method) return; // a client's answer to irn_subscription
      const reply = (result: unknown) => ws.send(JSON.stringify({ id: m.id, jsonrpc: '2.0', result }));
      const p = m.params ?? {};
      const ttl = typeof p.ttl === 'number' ? p.ttl : 300;
      methods.push(m.method);
      trace?.(`socket ${names.get(ws)} ${m.method} ${JSON.stringify(p, (k, v) => (typeof v === 'string' && v.length > 16 ? v.slice(0, 8) : v))}`);
      switch (m.method) {
        case 'irn_subscribe':
          return reply(subscribe(ws, String(p.topic)));
        case 'irn_batchSubscribe':
          return reply((p.topics as string[]).map((t) => subscribe(ws, t)));
        case 'irn_unsubscribe':
          subs.get(ws)?.delete(String(p.topic));
          return reply(true);
        case 'irn_batchUnsubscribe':
          for (const s of (p.subscriptions as { topic: string }[]) ?? []) subs.get(ws)?.delete(s.topic);
          return reply(true);
        case 'irn_publish':
          publish(ws, String(p.topic), String(p.message), ttl, Number(p.tag ?? 0));
          return reply(true);
        case 'irn_batchPublish':
          for (const x of (p.messages as { topic: string; message: string; ttl?: number; tag?: number }[]) ?? [])
            publish(ws, x.topic, x.message, x.ttl ?? ttl, x.tag ?? 0);
          return reply(true);
        case 'irn_batchFetchMessages':
          return reply({ messages: [], hasMore: false });
        case 'wc_proposeSession': // also subscribes the proposer to the pairing topic (the client skips its own subscribe)
          subscribe(ws, String(p.pairingTopic));
          publish(ws, String(p.pairingTopic), String(p.sessionProposal), ttl, 1100);
          return reply(true);
        case 'wc_approveSession': // also subscribes the approver to the new session topic
          subscribe(ws, String(p.sessionTopic));
          publish(ws, String(p.pairingTopic), String(p.sessionProposalResponse), ttl, 1101);
          publish(ws, String(p.sessionTopic), String(p.sessionSettlementRequest), ttl, 1102);
          return reply(true);
        default:
          unknown.push(m.method);
          ws.send(JSON.stringify({ id: m.id, jsonrpc: '2.0', error: { code: -32601, message: `test relay: unknown method ${m.method}` } }));
      }
    });
  });

  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    methods,
    unknown,
    close: () =>
      new Promise<void>((ok) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => ok());
      }),
  };
}
