// The lead panel's state: the lead token (kept for this tab only) and the run-control calls
// of coordinator/lead.ts. Every refusal is shown with the coordinator's own message.
export type RunAction = 'pause' | 'resume' | 'stop';

/** The settings the panel edits; merged over the preset's defaults by the coordinator. */
export interface RunForm {
  /** 'gpt': trains on a text file the lead uploads with the request. */
  preset: 'mlp' | 'gpt';
  name: string;
  innerSteps: number;
  density: number;
  bits: number;
  cohortSize: number;
  minVolunteers: number;
  trainMs: number;
  verificationRate: number;
  weiPerSample: string;
  epochRounds: number;
}

export const DEFAULT_FORM: RunForm = {
  preset: 'mlp', name: 'mnist-mlp', innerSteps: 100, density: 0.01, bits: 4, cohortSize: 8, minVolunteers: 1, trainMs: 20_000, verificationRate: 0.1, weiPerSample: '1000000000000000', epochRounds: 3,
};

const TOKEN_KEY = 'idlegrad.leadToken';

export class LeadStore {
  token = $state('');
  signedIn = $state(false);
  busy = $state(false);
  message: string | null = $state(null);
  error: string | null = $state(null);

  constructor(private readonly origin: string = location.origin, private readonly session: Storage | null = globalThis.sessionStorage ?? null) {
    const saved = this.session?.getItem(TOKEN_KEY);
    if (saved) {
      this.token = saved;
      void this.signIn(saved);
    }
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.origin}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (!res.ok) throw new Error(json?.error?.message ?? `HTTP ${res.status}`);
    return json;
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    this.busy = true;
    this.error = null;
    this.message = null;
    try {
      return await fn();
    } catch (e) {
      this.error = `${what}: ${(e as Error).message}`;
      return null;
    } finally {
      this.busy = false;
    }
  }

  async signIn(token: string): Promise<void> {
    this.token = token.trim();
    const ok = await this.run('sign-in', () => this.call('GET', '/api/lead/session'));
    this.signedIn = ok !== null;
    if (this.signedIn) this.session?.setItem(TOKEN_KEY, this.token);
  }

  signOut(): void {
    this.signedIn = false;
    this.token = '';
    this.session?.removeItem(TOKEN_KEY);
  }

  /** Uploads a text for GPT runs (POST /api/lead/texts): its id. */
  private async uploadText(file: Blob): Promise<string> {
    const res = await fetch(`${this.origin}/api/lead/texts`, { method: 'POST', headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/octet-stream' }, body: file });
    const json = (await res.json().catch(() => null)) as { text?: { id: string }; error?: { message?: string } } | null;
    if (!res.ok || !json?.text) throw new Error(json?.error?.message ?? `HTTP ${res.status}`);
    return json.text.id;
  }

  /** A run from the form; a GPT run first uploads `text` (required for it) and names it. */
  async createRun(f: RunForm, text?: Blob | null): Promise<void> {
    const settings = {
      name: f.name,
      inner: { steps: f.innerSteps },
      codec: { density: f.density, bits: f.bits },
      cohortSize: f.cohortSize,
      minVolunteers: f.minVolunteers,
      timing: { trainMs: f.trainMs },
      verification: { rate: f.verificationRate },
      rewards: { weiPerSample: f.weiPerSample, epochRounds: f.epochRounds },
    };
    const r = (await this.run('create run', async () => {
      if (f.preset === 'mlp') return this.call('POST', '/api/lead/runs', { preset: 'mlp', settings });
      if (!text) throw new Error('text: choose the text file the GPT trains on');
      return this.call('POST', '/api/lead/runs', { preset: 'gpt', text: await this.uploadText(text), settings });
    })) as { run: { id: number; name: string } } | null;
    if (r) this.message = `run ${r.run.id} “${r.run.name}” created; it replaces the current run`;
  }

  async act(runId: number, action: RunAction): Promise<void> {
    const r = await this.run(action, () => this.call('POST', `/api/lead/runs/${runId}/${action}`));
    if (r) this.message = `run ${runId}: ${action} done`;
  }
}
