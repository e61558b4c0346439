// One WebSocket to the coordinator: typed sends, parsed receives, and a visible close.
// Reconnecting is the owner's decision (it must redo the hello), so this class does not.
import { decodeRelayedFrame, encodeRelay, parseServerMessage, type ClientMessage, type ServerMessage } from '../../../shared/wire/index.ts';
import { describeError } from './errors.ts';

export interface SocketHandlers {
  onMessage(msg: ServerMessage): void;
  /** A message that failed to parse: shown, never dropped silently. */
  onBadMessage(error: string): void;
  onClose(info: { code: number; reason: string; wasOpen: boolean }): void;
}

/** ws(s)://host/ws for an http(s) origin. */
export const socketUrl = (origin: string) => `${origin.replace(/^http/, 'ws')}/ws`;

export class CoordinatorSocket {
  private readonly ws: WebSocket;
  private opened = false;
  private closedByUs = false;

  constructor(url: string, handlers: SocketHandlers, Ws: typeof WebSocket = WebSocket) {
    this.ws = new Ws(url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.addEventListener('open', () => (this.opened = true));
    this.ws.addEventListener('message', (ev: MessageEvent) => {
      let msg: ServerMessage;
      try {
        // Binary: a relayed frame (shared/wire/relay.ts); text: every other message, as JSON.
        msg = typeof ev.data === 'string' ? parseServerMessage(JSON.parse(ev.data)) : decodeRelayedFrame(new Uint8Array(ev.data as ArrayBuffer));
      } catch (e) {
        handlers.onBadMessage(describeError(e));
        return;
      }
      handlers.onMessage(msg);
    });
    this.ws.addEventListener('close', (ev: CloseEvent) => {
      if (!this.closedByUs) handlers.onClose({ code: ev.code, reason: ev.reason, wasOpen: this.opened });
    });
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** Sends when open; returns false (and sends nothing) otherwise so the caller can say so. */
  send(msg: ClientMessage): boolean {
    if (!this.open) return false;
    this.ws.send(msg.type === 'relay' ? encodeRelay(msg) : JSON.stringify(msg));
    return true;
  }

  close(): void {
    this.closedByUs = true;
    this.ws.close(1000, 'client closed');
  }
}
