// WebSocket heartbeats: every `intervalMs` each socket of a server is pinged; one that has not
// answered the previous ping (a laptop that slept, a NAT that dropped the mapping, a tab
// killed without a close frame) is terminated, so its session leaves the round engine and its
// per-address slot is freed instead of lingering until TCP gives up (minutes to hours).
// Browsers answer pings by themselves; nothing in the page is needed.
import type { WebSocket, WebSocketServer } from 'ws';

/** Starts the heartbeat on `wss`; returns the function that stops it. `onDead` hears each socket terminated. */
export function keepSocketsAlive(wss: WebSocketServer, intervalMs: number, onDead?: () => void): () => void {
  const answered = new WeakMap<WebSocket, boolean>();
  const track = (ws: WebSocket) => {
    answered.set(ws, true);
    ws.on('pong', () => answered.set(ws, true));
  };
  wss.on('connection', track);
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (answered.get(ws) === false) {
        ws.terminate();
        onDead?.();
        continue;
      }
      if (!answered.has(ws)) track(ws);
      answered.set(ws, false);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    wss.off('connection', track);
  };
}
