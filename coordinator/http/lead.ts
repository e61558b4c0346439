// The project lead's HTTP surface: bearer-token access, text upload for GPT runs, run
// creation from a preset, pause / resume / stop, and the current model as ONNX. Mounted by server.ts through ServerDeps.routes.
//
// Access: one lead token per data directory (or env IDLEGRAD_LEAD_TOKEN), printed by
// `npm start`, sent as `Authorization: Bearer <token>`. Without it a change is refused with
// 401; with any other token (a volunteer has none) with 403. Reads stay public.
import express, { type Request, type Response, type NextFunction } from 'express';
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isGptPreset, modelOf, PRESET_DEFAULTS, PRESETS, validateRunSettings, type Preset, type RunSettings, type RunSpec } from '../../shared/config.ts';
import { exportModelOnnx } from '../../shared/onnx.ts';
import type { RunStatus } from '../../shared/wire/index.ts';
import { verificationOf } from '../verify/index.ts';
import { MAX_TEXT_BYTES, type TextStore } from '../data/index.ts';
import type { RoundEngine } from '../round/index.ts';
import type { PartnerRecord, PartnerRegistry } from '../db/index.ts';
import { PARTNER_ID } from '../../shared/wire/index.ts';

export const LEAD_TOKEN_FILE = 'lead-token';

/** The lead token: env IDLEGRAD_LEAD_TOKEN, else the one persisted in the data dir, else a new one (saved 0600). */
export function resolveLeadToken(dataDir: string, envToken?: string): string {
  if (envToken !== undefined && envToken !== '') {
    if (envToken.length < 16) throw new Error('IDLEGRAD_LEAD_TOKEN: expected at least 16 characters');
    return envToken;
  }
  const file = join(dataDir, LEAD_TOKEN_FILE);
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved.length >= 16) return saved;
  }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Lead operations the routes call; platform.ts implements them over the hosted run. */
export interface RunControl {
  current(): { run: RunSpec; status: RunStatus };
  /**
   * Create a run from validated settings; it replaces the current one (which is stopped). A GPT
   * run trains on the uploaded text `data.text` (its id); an MLP run on MNIST. A text that does
   * not fit the run rejects with BadRequest naming `text`, before anything is written.
   */
  create(settings: RunSettings, data?: { text?: string }): Promise<RunSpec>;
  setStatus(runId: number, status: RunStatus): Promise<void>;
}

const deny = (res: Response, status: 401 | 403, message: string) => {
  if (status === 401) res.setHeader('www-authenticate', 'Bearer realm="idlegrad lead"');
  res.status(status).json({ error: { code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', message } });
};

/** Express middleware: passes only requests that carry the lead token. */
export function requireLead(token: string) {
  const want = createHash('sha256').update(token).digest();
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (!header) return deny(res, 401, 'lead access required: send "Authorization: Bearer <lead token>" (npm start prints the token)');
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return deny(res, 401, 'Authorization must be "Bearer <lead token>"');
    // Compare digests so the comparison takes the same time whatever the length.
    const got = createHash('sha256').update(m[1]).digest();
    if (!timingSafeEqual(got, want)) return deny(res, 403, 'this token is not the lead token: only the project lead may create or change runs');
    next();
  };
}

/** A request the lead must correct; the message names the field. Answered 400. */
export class BadRequest extends Error {}

/** The request is valid but the run is not in a state to take it (a swap in progress, a stopped run). */
export class RunConflict extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const VERIFICATION_KEYS = ['rate', 'newIdentityRate', 'trustAfter', 'tolerance', 'codecTolerance', 'evidenceTimeoutMs', 'heldOutSamples', 'vestingRounds'];

/** Every key of `over` must exist in `base` (so a typo is named, not ignored); objects merge, the rest replaces. */
function mergeKnown(base: unknown, over: unknown, path: string): unknown {
  if (!isObject(over)) return over;
  if (!isObject(base)) throw new BadRequest(`${path}: expected ${JSON.stringify(base)}-like value, got an object`);
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // Own keys only: `valueOf`, `toString` … are on every object's prototype, not settings.
    if (!Object.hasOwn(base, k)) throw new BadRequest(`${path}.${k}: unknown setting (known: ${Object.keys(base).join(', ')})`);
    out[k] = mergeKnown(base[k], v, `${path}.${k}`);
  }
  return out;
}

/**
 * A create-run request: { preset: 'mlp' | 'gpt-micro' | 'gpt-small' | 'gpt-base' (or 'gpt', gpt-micro's older name), text?: id, settings?: partial RunSettings }
 * merged over the preset's defaults; a GPT run names the uploaded text it trains on
 * (POST /api/lead/texts answers its id), an MLP run none. Errors name the failing keypath
 * (`settings.codec.density: …`, `text: …`).
 */
export function parseRunRequest(body: unknown): { settings: RunSettings; text?: string } {
  if (!isObject(body)) throw new BadRequest('body: expected a JSON object { preset, settings }');
  if (!PRESETS.includes(body.preset as Preset))
    throw new BadRequest(`preset: expected one of ${PRESETS.map((p) => `"${p}"`).join(', ')}, got ${JSON.stringify(body.preset)}`);
  const preset = body.preset as Preset;
  const text = body.text;
  if (isGptPreset(preset) && (typeof text !== 'string' || !/^[0-9a-f]{64}$/.test(text))) {
    throw new BadRequest(`text: a GPT run needs the id of an uploaded text (64 hex digits, from POST /api/lead/texts), got ${JSON.stringify(text)}`);
  }
  if (preset === 'mlp' && text !== undefined) throw new BadRequest('text: an MLP run trains on MNIST; leave text out');
  const over = body.settings ?? {};
  if (!isObject(over)) throw new BadRequest(`settings: expected an object, got ${JSON.stringify(over)}`);
  const { verification, preset: overPreset, ...rest } = over;
  if (overPreset !== undefined && overPreset !== preset) throw new BadRequest(`settings.preset: must equal preset (${JSON.stringify(preset)})`);
  const settings = mergeKnown(PRESET_DEFAULTS[preset], rest, 'settings') as RunSettings;
  if (verification !== undefined) {
    if (!isObject(verification)) throw new BadRequest(`settings.verification: expected an object, got ${JSON.stringify(verification)}`);
    for (const k of Object.keys(verification))
      if (!VERIFICATION_KEYS.includes(k)) throw new BadRequest(`settings.verification.${k}: unknown setting (known: ${VERIFICATION_KEYS.join(', ')})`);
    settings.verification = verification;
  } else delete settings.verification;
  if (typeof settings.name !== 'string' || !/^[\w .-]{1,64}$/.test(settings.name)) {
    throw new BadRequest(`settings.name: expected 1–64 letters, digits, spaces, '.', '_' or '-', got ${JSON.stringify(settings.name)}`);
  }
  try {
    validateRunSettings(settings, 'settings');
    verificationOf(settings);
  } catch (e) {
    throw new BadRequest((e as Error).message.replace(/^run\./, 'settings.'));
  }
  return isGptPreset(preset) ? { settings, text: text as string } : { settings };
}

const STATUS_OF = { pause: 'paused', resume: 'active', stop: 'stopped' } as const satisfies Record<string, RunStatus>;

/** A partner registration: `{ id, origins }`, the id as a widget signs it, origins as `https://host[:port]`. */
export function parsePartnerRequest(body: unknown): PartnerRecord {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('body: expected an object { id, origins }');
  const { id, origins } = body as Record<string, unknown>;
  if (typeof id !== 'string' || !PARTNER_ID.test(id))
    throw new BadRequest(`id: expected a partner id (letters, digits, . _ -; at most 64), got ${JSON.stringify(id)}`);
  if (!Array.isArray(origins) || origins.length > 32) throw new BadRequest('origins: expected an array of at most 32 origins');
  origins.forEach((o, i) => {
    if (typeof o !== 'string' || !/^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?$/.test(o))
      throw new BadRequest(`origins[${i}]: expected an origin like https://example.org, got ${JSON.stringify(o)}`);
  });
  return { id, origins: origins as string[] };
}

/** Lead routes and the public ONNX export, for the engine that hosts the current run. */
export function leadRoutes(opts: { token: string; control: RunControl; engine: RoundEngine; texts?: TextStore; partners?: PartnerRegistry }): express.Router {
  const router = express.Router();
  const lead = requireLead(opts.token);
  const json = express.json({ limit: '64kb' });
  const fail = (res: Response, e: unknown) => {
    if (e instanceof BadRequest) res.status(400).json({ error: { code: 'BAD_MESSAGE', message: e.message } });
    else if (e instanceof RunConflict) res.status(409).json({ error: { code: 'CONFLICT', message: e.message } });
    else {
      console.error('[lead]', e);
      res.status(500).json({ error: { code: 'INTERNAL', message: (e as Error).message } });
    }
  };

  router.get('/api/lead/session', lead, (_req, res) => {
    const { run, status } = opts.control.current();
    res.json({ ok: true, run: { id: run.id, name: run.name, status } });
  });
  // A text for GPT runs: the raw bytes (any content type), at most MAX_TEXT_BYTES; stored by
  // its sha256, which is the id a create request names.
  router.post('/api/lead/texts', lead, express.raw({ type: () => true, limit: MAX_TEXT_BYTES }), (req, res) => {
    if (!opts.texts) return fail(res, new BadRequest('text uploads are not enabled on this server'));
    const body = req.body as unknown;
    if (!Buffer.isBuffer(body) || body.length === 0) return fail(res, new BadRequest("body: expected the text file's bytes, got an empty body"));
    try {
      res.status(201).json({ text: opts.texts.put(new Uint8Array(body.buffer, body.byteOffset, body.length)) });
    } catch (e) {
      fail(res, e);
    }
  });
  router.post('/api/lead/runs', lead, json, (req, res) => {
    let request: ReturnType<typeof parseRunRequest>;
    try {
      request = parseRunRequest(req.body);
      if (request.text !== undefined && opts.texts && !opts.texts.has(request.text))
        throw new BadRequest(`text: no uploaded text has id ${request.text} (upload it with POST /api/lead/texts)`);
    } catch (e) {
      return fail(res, e);
    }
    opts.control.create(request.settings, { text: request.text }).then(
      (run) => res.status(201).json({ run: { id: run.id, name: run.name, paramCount: run.paramCount } }),
      (e) => fail(res, e),
    );
  });
  router.post('/api/lead/runs/:id/:action', lead, (req, res) => {
    const action = req.params.action;
    if (!Object.hasOwn(STATUS_OF, action)) return fail(res, new BadRequest(`action: expected pause, resume or stop, got ${JSON.stringify(action)}`));
    // Canonical decimal only: " 1", "1e0", "0x1" or "01" do not name run 1.
    if (!/^[1-9][0-9]{0,9}$/.test(req.params.id)) return fail(res, new BadRequest(`run id: expected a positive integer, got ${JSON.stringify(req.params.id)}`));
    const id = Number(req.params.id);
    const { run, status } = opts.control.current();
    if (id !== run.id) return res.status(404).json({ error: { code: 'NOT_FOUND', message: `run ${req.params.id} is not the current run (${run.id})` } });
    const next = STATUS_OF[action as keyof typeof STATUS_OF];
    if (status === 'stopped') return fail(res, new RunConflict(`run ${id} is stopped; create a new run instead`));
    opts.control.setStatus(id, next).then(
      () => res.json({ run: { id, status: next } }),
      (e) => fail(res, e),
    );
  });

  // The partner registry (issue 14): a widget's reports credit their signed partner only when
  // the lead registered it here, with the origins its widget is embedded on.
  router.get('/api/lead/partners', lead, (_req, res) => {
    if (!opts.partners) return fail(res, new BadRequest('the partner registry is not enabled on this server'));
    // With the ids reports signed that were never registered: who embeds the widget without being a partner.
    const registry = opts.partners;
    Promise.all([registry.list(), registry.unregistered()]).then(
      ([partners, unregistered]) => void res.json({ partners, unregistered }),
      (e) => fail(res, e),
    );
  });
  router.post('/api/lead/partners', lead, json, (req, res) => {
    if (!opts.partners) return fail(res, new BadRequest('the partner registry is not enabled on this server'));
    let p: PartnerRecord;
    try {
      p = parsePartnerRequest(req.body);
    } catch (e) {
      return fail(res, e);
    }
    opts.partners.register(p).then(
      () => void res.status(201).json({ partner: p }),
      (e) => fail(res, e),
    );
  });

  // The current model as ONNX: public, like the snapshot it is made from.
  router.get('/api/model.onnx', (_req, res) => {
    const { engine } = opts;
    const bytes = exportModelOnnx(modelOf(engine.run), engine.model.params);
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('content-disposition', `attachment; filename="${engine.run.name}-run${engine.run.id}-round${engine.round}.onnx"`);
    res.setHeader('x-model-hash', engine.modelHash);
    res.setHeader('x-round', String(engine.round));
    res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  router.use((err: { type?: string; limit?: number }, _req: Request, res: Response, next: NextFunction) => {
    if (err?.type === 'entity.parse.failed') return fail(res, new BadRequest('body: not valid JSON'));
    if (err?.type === 'entity.too.large')
      return res.status(413).json({ error: { code: 'TOO_LARGE', message: `body: larger than the limit of ${err.limit} bytes` } });
    next(err);
  });
  return router;
}
