import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, WebSocketServer } from 'ws';
import { keepSocketsAlive } from './heartbeat.ts';

test('a socket that answers pings stays; one that stopped answering is terminated', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  let dead = 0;
  const stop = keepSocketsAlive(wss, 100, () => dead++);
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  const open = (autoPong: boolean) =>
    new Promise<WebSocket>((resolve) => {
      const ws = new WebSocket(url, { autoPong });
      ws.once('open', () => resolve(ws));
    });
  const alive = await open(true);
  const silent = await open(false); // a peer that is gone without a close frame
  try {
    const closed = await new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
    assert.equal(closed, 1006, 'terminated, no close handshake');
    assert.equal(dead, 1);
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(alive.readyState, WebSocket.OPEN, 'the answering socket survived several beats');
  } finally {
    stop();
    alive.close();
    silent.terminate();
    wss.close();
  }
});
