// Live dashboard state: GET /api/dashboard on load, then `dashboard` pushes over a
// WebSocket subscription, reconnecting with backoff.
import { parseServerMessage, type DashboardState } from '../../../shared/wire/index.ts';
import { CoordinatorApi } from '../client/api.ts';
import { describeError } from '../client/errors.ts';
import { socketUrl } from '../client/connection.ts';

export class DashboardStore {
  state: DashboardState | null = $state.raw(null);
  connection: 'offline' | 'connecting' | 'live' = $state('offline');
  error: string | null = $state(null);
  updatedAt: number | null = $state(null);

  private ws: WebSocket | null = null;
  private delay = 1_000;
  private stopped = false;

  constructor(
    private readonly origin: string = location.origin,
    private readonly api = new CoordinatorApi(origin),
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    try {
      this.accept(await this.api.dashboard());
    } catch (e) {
      this.error = describeError(e);
    }
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.close();
  }

  private accept(s: DashboardState): void {
    this.state = s;
    this.updatedAt = Date.now();
    this.error = null;
  }

  private connect(): void {
    if (this.stopped) return;
    this.connection = 'connecting';
    const ws = new WebSocket(socketUrl(this.origin));
    this.ws = ws;
    ws.addEventListener('message', (ev) => {
      try {
        const m = parseServerMessage(JSON.parse(String(ev.data)));
        // The server speaks first (challenge); a dashboard only subscribes.
        if (m.type === 'challenge') {
          ws.send(JSON.stringify({ type: 'subscribe', topic: 'dashboard' }));
          this.connection = 'live';
          this.delay = 1_000;
        } else if (m.type === 'dashboard') {
          this.accept(m.state);
        } else if (m.type === 'error') this.error = `coordinator: [${m.code}] ${m.message}`;
      } catch (e) {
        this.error = `bad message: ${describeError(e)}`;
      }
    });
    ws.addEventListener('open', () => (this.connection = 'connecting'));
    ws.addEventListener('close', () => {
      this.connection = 'offline';
      if (this.stopped) return;
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 30_000);
    });
  }
}
