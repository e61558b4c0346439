// The lead panel's state: the lead token (kept for this tab only) and the run-control calls
// of coordinator/lead.ts. Every reply is parsed (shared/wire/http.ts); every refusal is shown
// with the coordinator's own message.
import { DEFAULT_VERIFICATION, isGptPreset, PRESET_DEFAULTS, type Preset } from '../../../shared/config.ts';
import { BaseError } from '../../../shared/errors.ts';
import { parseLeadSession, parseRunCreated, parseRunStatusChanged, parseTextUploaded, type Parser, type ValueBits } from '../../../shared/wire/index.ts';
import { readReply } from '../client/api.ts';
import { httpError } from '../client/errors.ts';

export type RunAction = 'pause' | 'resume' | 'stop';

/** The settings the panel edits; merged over the preset's defaults by the coordinator. */
export interface RunForm {
  /** A GPT preset trains on a text file the lead uploads with the request. */
  preset: Preset;
  name: string;
  innerSteps: number;
  density: number;
  bits: ValueBits;
  cohortSize: number;
  minVolunteers: number;
  trainMs: number;
  verificationRate: number;
  weiPerSample: string;
  epochRounds: number;
}

/** The form for a preset starts from its defaults (shared/config.ts PRESET_DEFAULTS), so it never drifts from them. */
export function formFor(preset: Preset): RunForm {
  const run = PRESET_DEFAULTS[preset];
  return {
    preset,
    name: run.name,
    innerSteps: run.inner.steps,
    density: run.codec.density,
    bits: run.codec.bits,
    cohortSize: run.cohortSize,
    minVolunteers: run.minVolunteers,
    trainMs: run.timing.trainMs,
    verificationRate: DEFAULT_VERIFICATION.rate,
    weiPerSample: run.rewards.weiPerSample,
    epochRounds: run.rewards.epochRounds,
  };
}

export const DEFAULT_FORM: RunForm = formFor('mlp');

const TOKEN_KEY = 'idlegrad.leadToken';

export class LeadStore {
  token = $state('');
  signedIn = $state(false);
  busy = $state(false);
  message: string | null = $state(null);
  error: string | null = $state(null);

  constructor(
    private readonly origin: string = location.origin,
    private readonly session: Storage | null = globalThis.sessionStorage ?? null,
  ) {
    const saved = this.session?.getItem(TOKEN_KEY);
    if (saved) {
      this.token = saved;
      void this.signIn(saved);
    }
  }

  /** A lead request with the token; a JSON body unless `body` is bytes. The reply through `parse`, a refusal as the coordinator's message. */
  private async call<T>(what: string, method: string, path: string, parse: Parser<T>, body?: unknown): Promise<T> {
    const raw = body instanceof Blob;
    const res = await fetch(`${this.origin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }),
      },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
    if (!res.ok) throw await httpError(what, res);
    return readReply(what, res, parse);
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    this.busy = true;
    this.error = null;
    this.message = null;
    try {
      return await fn();
    } catch (e) {
      // Ours say what failed ("creating the run failed: settings.inner.steps: …"); a local check says it here.
      this.error = e instanceof BaseError ? e.shortMessage : `${what}: ${(e as Error).message}`;
      return null;
    } finally {
      this.busy = false;
    }
  }

  async signIn(token: string): Promise<void> {
    this.token = token.trim();
    const ok = await this.run('sign-in', () => this.call('signing in', 'GET', '/api/lead/session', parseLeadSession));
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
    return (await this.call('uploading the text', 'POST', '/api/lead/texts', parseTextUploaded, file)).text.id;
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
    const r = await this.run('create run', async () => {
      if (!isGptPreset(f.preset)) return this.call('creating the run', 'POST', '/api/lead/runs', parseRunCreated, { preset: f.preset, settings });
      if (!text) throw new Error('text: choose the text file the GPT trains on');
      return this.call('creating the run', 'POST', '/api/lead/runs', parseRunCreated, { preset: f.preset, text: await this.uploadText(text), settings });
    });
    if (r) this.message = `run ${r.run.id} “${r.run.name}” created; it replaces the current run`;
  }

  async act(runId: number, action: RunAction): Promise<void> {
    const r = await this.run(action, () => this.call(`${action} run ${runId}`, 'POST', `/api/lead/runs/${runId}/${action}`, parseRunStatusChanged));
    if (r) this.message = `run ${runId}: ${action} done`;
  }
}
