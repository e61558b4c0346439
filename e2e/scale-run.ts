// One configuration of `npm run scale` (e2e/scale.ts), in a process of its own so that its
// memory and CPU are its alone: N volunteers and a model of P parameters through one round of
// the coordinator's own code — RoundEngine (cohort assignment, report and upload checks with
// real EIP-712 signatures recovered on its recovery thread, decideRound, the robust combine on
// its combine thread, the outer step, the held-out evaluation, the ledger transaction), the
// account push after the round, the validator's sampling decision, a reward epoch (Rewards:
// ledger credit, Merkle tree, the epoch rows; the chain is a stub that records the root) and
// hellos' account summaries — on an in-memory PGlite ledger, with a virtual clock: the round's
// deadlines are the engine's `now()`, never waited for.
//
// The inputs are what a real round carries and are built before each phase is measured:
// each cohort's aggregate holds ≈ 1 − (1 − ρ)^k of the parameters at fp32 (k non-relay
// members; a shared direction plus noise per cohort, as honest updates are), a relay share of
// members upload their own frame at density ρ, and every member signs its report with its own
// secp256k1 key. Reports arrive `concurrency` at a time, as many sessions' reports do.
//
// CPU is read per thread from /proc/self/task/TID/stat (utime + stime, 10 ms ticks) and
// attributed by thread: the main thread, the PGlite thread (the ledger), the engine's eval and
// combine threads, the signature recovery thread, and the runtime's own threads (GC, libuv).
// Each phase prints one JSON line on stdout: { phase, wallMs, cpuMs: { thread: ms }, rssMb,
// heapMb }; the last line is { done: … } with what the round decided.
import { readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { pointFromScalar, signRecoverable } from 'tiny-secp256k1';
import { bytesToHex, keccak256, type Address, type Hex } from 'viem';
import { DEFAULT_RUN, maxSamplesPerReport, modelOf, runSpecOf, type RunSpec } from '../shared/config.ts';
import { initParams } from '../shared/model.ts';
import { runModelHash } from '../shared/model-hash.ts';
import { encodeAggregate } from '../shared/codec.ts';
import { framesRoot } from '../shared/aggregate.ts';
import { eip712Domain } from '../shared/eip712.ts';
import { contributionToJson, type ClientMessage, type ServerMessage } from '../shared/wire/index.ts';
import type { Dataset } from '../shared/mlp.ts';
import { openDatabase, Ledger } from '../coordinator/db/index.ts';
import { RoundEngine, ContributionSigners, type Session } from '../coordinator/round/index.ts';
import type { CommitPhases } from '../coordinator/round/commit-phases.ts';
import { NodeSessionKey } from './node-session-key.ts';
import { fastFrameHash, inLanes, relayMembersOf, sparseUpdates, syntheticContribution, syntheticFrameHash } from './scale-inputs.ts';
import { Rewards, type ChainPort } from '../coordinator/rewards/index.ts';

export interface ScaleRunConfig {
  volunteers: number;
  /** Parameters wanted: the MLP 784-h-10 with the smallest h that holds at least this many. */
  params: number;
  relayShare: number;
  /** Reports in flight at once. */
  concurrency: number;
  /** Accounts whose hello (account summary with its reward proof) is timed one by one. */
  helloSample: number;
  /**
   * Where the aggregation role runs: 'process', a child process of its own (the engine's combineIn
   * 'process': the combine and the round desk), whose every thread is counted to it, so that this
   * process's runtime threads (V8's collector, shared by all its isolates) serve the other roles only;
   * 'threads', worker threads of this process, as `npm start` runs it. Absent: 'threads'.
   */
  aggregation?: 'process' | 'threads';
}

export type ThreadGroup = 'main' | 'recovery' | 'combine' | 'eval' | 'ledger' | 'runtime';
export interface PhaseLine {
  phase: string;
  wallMs: number;
  cpuMs: Record<ThreadGroup, number>;
  rssMb: number;
  heapMb: number;
  /** How many items the phase handled (sessions, uploads, reports, accounts …). */
  items: number;
  /**
   * The commit only: the engine's own figures per step of the commit (commit-phases.ts), ms: the
   * event loop's CPU over each step and the worker threads' CPU that did it. What the main thread's
   * CPU above was spent on, step by step (the ledger's rows, the acks …); not a different total.
   */
  steps?: Record<string, { loopCpuMs: number | null; threadCpuMs: number | null }>;
}
/** The harness's own time building a phase's inputs (never inside a measured phase): wall, and CPU of the main thread and of the whole process. */
export interface HarnessLine {
  harness: string;
  wallMs: number;
  mainCpuMs: number;
  processCpuMs: number;
  items: number;
}
export interface DoneLine {
  done: {
    paramCount: number;
    cohorts: number;
    aggregates: number;
    aggregateDensity: number;
    accepted: number;
    rejected: Record<string, number>;
    modelHash: Hex;
    maxRssMb: number;
    epochAccounts: number;
  };
}

const TICK_MS = 1000 / 100; // USER_HZ: /proc stat times are in 1/100 s on Linux

/** The aggregation role's child process (ScaleRunConfig.aggregation 'process'), whose threads are all counted to it. */
let aggregationPid: number | null = null;

/** CPU ms per thread id of this process, and of the aggregation child process when there is one, from /proc. */
function threadCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of aggregationPid === null ? ['self'] : ['self', String(aggregationPid)]) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      // the child is gone
    }
    for (const t of tasks) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
        out.set(Number(t), (Number(f[11]) + Number(f[12])) * TICK_MS); // fields 14, 15: utime, stime
        if (pid !== 'self') groupOf.set(Number(t), 'combine');
      } catch {
        // the thread ended between the listing and the read
      }
    }
  }
  return out;
}
const tids = () => new Set(threadCpu().keys());
const newTids = (before: Set<number>) => [...tids()].filter((t) => !before.has(t)).sort((a, b) => a - b);

const groupOf = new Map<number, ThreadGroup>();

/**
 * Waits until the process's threads other than the main one have been idle for 300 ms (the
 * engine's threads compile their modules when they start): start-up is not a phase's cost.
 */
async function settle(limitMs = 30_000): Promise<void> {
  const busy = () => [...threadCpu()].reduce((s, [tid, ms]) => (tid === process.pid ? s : s + ms), 0);
  const until = Date.now() + limitMs;
  for (let last = busy(); Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 300));
    const now = busy();
    if (now - last <= TICK_MS) return;
    last = now;
  }
}
/** Times the harness building inputs (`name`), so a run that does not finish says where its wall went. */
async function harness<T>(name: string, items: number, fn: () => T | Promise<T>): Promise<T> {
  const cpu = () => {
    const all = threadCpu();
    return { main: all.get(process.pid) ?? 0, total: [...all.values()].reduce((a, b) => a + b, 0) };
  };
  const before = cpu();
  const t0 = performance.now();
  const out = await fn();
  const after = cpu();
  const line: HarnessLine = {
    harness: name,
    wallMs: Math.round(performance.now() - t0),
    mainCpuMs: after.main - before.main,
    processCpuMs: after.total - before.total,
    items,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
  return out;
}

const commOf = (tid: number) => {
  for (const pid of ['self', String(aggregationPid)])
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      // not this process's
    }
  return '?';
};

function phase(name: string, items: number, fn: () => Promise<void>, extra: () => Partial<PhaseLine> = () => ({})): Promise<void> {
  return (async () => {
    const before = threadCpu();
    const t0 = performance.now();
    await fn();
    const wallMs = performance.now() - t0;
    const after = threadCpu();
    const cpuMs: Record<ThreadGroup, number> = { main: 0, recovery: 0, combine: 0, eval: 0, ledger: 0, runtime: 0 };
    for (const [tid, ms] of after) cpuMs[groupOf.get(tid) ?? 'runtime'] += ms - (before.get(tid) ?? 0);
    if (process.env.SCALE_DEBUG)
      for (const [tid, ms] of after)
        if (ms - (before.get(tid) ?? 0) > 0) process.stderr.write(`${name} ${tid} ${groupOf.get(tid)} ${ms - (before.get(tid) ?? 0)} ${commOf(tid)}\n`);
    const mem = process.memoryUsage();
    const line: PhaseLine = {
      phase: name,
      wallMs: Math.round(wallMs),
      cpuMs,
      rssMb: Math.round(mem.rss / 2 ** 20),
      heapMb: Math.round(mem.heapUsed / 2 ** 20),
      items,
      ...extra(),
    };
    process.stdout.write(JSON.stringify(line) + '\n');
  })();
}

/** The MLP 784-h-10 with the fewest hidden units that reaches `params` parameters. */
export function runForParams(params: number): RunSpec {
  const hidden = Math.max(1, Math.ceil((params - 10) / (784 + 1 + 10)));
  return runSpecOf(
    1,
    {
      ...DEFAULT_RUN,
      sizes: [784, hidden, 10],
      // No vesting: the round's credit is payable at once, so the epoch after it carries every account.
      verification: { vestingRounds: 0 },
      // The deadlines are virtual: the harness commits at the report deadline by advancing the clock.
      timing: { trainMs: 3_600_000, exchangeMs: 3_600_000, reportMs: 3_600_000 },
    },
    { name: 'mnist', trainCount: 1000, testCount: 64, features: 784, classes: 10 },
  );
}

async function main(cfg: ScaleRunConfig): Promise<void> {
  const run = runForParams(cfg.params);
  const domain = eip712Domain(31337, '0x0000000000000000000000000000000000000d15');
  const heldOut: Dataset = {
    images: new Uint8Array(64 * 784).map((_, i) => (i * 37) % 256),
    labels: new Uint8Array(64).map((_, i) => i % 10),
    count: 64,
    features: 784,
    classes: 10,
  };
  const base = tids();
  for (const t of base) groupOf.set(t, 'runtime');
  groupOf.set(process.pid, 'main');

  let t = tids();
  const sql = await openDatabase({});
  for (const tid of newTids(t)) groupOf.set(tid, 'ledger');
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), run.seed);
  const theta0 = { round: 0, modelHash: await runModelHash(run, params), params, momentum: new Float32Array(params.length) };
  await ledger.createRun(run, theta0);

  let clock = 1_800_000_000_000;
  t = tids();
  const engine = new RoundEngine(
    run,
    { ...theta0, params: params.slice(), momentum: theta0.momentum.slice() },
    ledger,
    heldOut,
    domain,
    {
      committed: () => {},
      accountsChanged: (a) => void (changed = a),
      commitPhases: (p) => void (commitSteps = p),
    },
    () => clock,
    undefined,
    cfg.aggregation ?? 'threads',
  );
  aggregationPid = engine.aggregationPid;
  let changed: Address[] = [];
  let commitSteps: CommitPhases | null = null;
  // The engine starts its eval thread, then its combine (aggregation) threads, then its upload
  // thread (upload checks are the gateway's work: counted with signature recovery's thread).
  const started = newTids(t);
  started.forEach((tid, i) => groupOf.set(tid, i === 0 ? 'eval' : i === started.length - 1 ? 'recovery' : 'combine'));
  const chain: ChainPort = {
    chainId: 31337,
    rpcUrl: 'http://127.0.0.1:9', // never called: no epoch is left unposted
    distributor: domain.verifyingContract,
    token: '0x0000000000000000000000000000000000000001',
    postEpoch: async () => ({ txHash: bytesToHex(randomBytes(32)) }),
    fundGas: async () => bytesToHex(randomBytes(32)),
  };
  const rewards = new Rewards(ledger, chain, run, () => {});
  await settle();

  // Volunteers: device keys and ready sessions whose messages are serialized as the server's would be.
  const keys = await harness('keys', cfg.volunteers, () =>
    Array.from({ length: cfg.volunteers }, () => {
      let key: Uint8Array;
      let pub: Uint8Array | null;
      do ((key = randomBytes(32)), (pub = pointFromScalar(key, false)));
      while (!pub);
      return { key, address: `0x${keccak256(pub.subarray(1)).slice(26)}` as Address };
    }),
  );
  let sentBytes = 0;
  const sessions: Session[] = keys.map((k, i) => ({
    id: i,
    address: k.address,
    peerId: `peer-${i}`,
    ready: true,
    send: (m: ServerMessage) => void (sentBytes += JSON.stringify(m).length),
  }));
  const bySession = new Map(sessions.map((s) => [s.address, s]));
  for (const s of sessions) engine.addSession(s);

  await phase('open', cfg.volunteers, async () => engine.maybeStartRound());
  const open = engine.openRound;
  if (!open) throw new Error('no round opened');

  // The round's inputs, built with the real codec before they are measured.
  const rho = run.codec.density;
  const sparse = sparseUpdates(run, 18);
  const samplesPer = maxSamplesPerReport(run);
  const signers = new ContributionSigners(domain);
  const expiry = BigInt(Math.floor(clock / 1000) + 3 * 3600);
  const uploads: Uint8Array[] = [];
  const reports: { session: Session; msg: Extract<ClientMessage, { type: 'report' }> }[] = [];
  const keyOf = new Map(keys.map((k) => [k.address, k.key]));
  // Each volunteer's session key, certified as its hello would (engine.certifySession: the certificate's recovery and the
  // ledger row). Not a round phase, so not measured: once per session, like the hello's own signature.
  const sessionKeyOf = new Map<Address, NodeSessionKey>();
  // The first certificate starts the recovery thread (its hello signature is recovered there), so
  // its thread id is the one that appears now, not at the first report.
  // Certified `concurrency` at a time, as many sessions' hellos arrive (one at a time, each waited
  // for the recovery and ledger threads to wake: most of the harness's wall at 10,000).
  t = tids();
  await harness('certify', sessions.length, () =>
    inLanes(sessions, cfg.concurrency, async (s) => {
      const sign = (d: Uint8Array) => {
        const { signature, recoveryId } = signRecoverable(d, keyOf.get(s.address)!);
        return bytesToHex(new Uint8Array([...signature, 27 + recoveryId]));
      };
      const key = new NodeSessionKey(domain, run.id, s.address, sign, Number(expiry));
      sessionKeyOf.set(s.address, key);
      s.sessionKey = await engine.certifySession(s.address, `scale-${s.id}`, key.grant(`scale-${s.id}`));
    }),
  );
  const certifiedTids = newTids(t);
  for (const tid of certifiedTids) groupOf.set(tid, 'recovery');
  let nnz = 0;
  let cohortAggregates = 0;
  const header = (samples: number) => ({ paramTableHash: run.paramTableHash, run: run.id, round: open.round, samples });
  const frameHash = (a: Address) => syntheticFrameHash(a, open.round);
  const buildInputs = () =>
    open.cohorts.forEach((members, cohort) => {
      const relays = new Set(relayMembersOf(members, cfg.relayShare));
      const together = members.filter((m) => !relays.has(m.address));
      const agg = sparse(1 - (1 - rho) ** together.length);
      nnz += agg.kept;
      cohortAggregates++;
      const bytes = encodeAggregate(agg.dense, run.codec.chunkSize, header(samplesPer * together.length));
      uploads.push(bytes);
      const frameHashes = together.map((m) => frameHash(m.address)).sort();
      const shared = { aggregateHash: fastFrameHash(bytes), framesRoot: framesRoot(frameHashes), frameHashes };
      for (const m of members) {
        let own = shared;
        if (relays.has(m.address)) {
          const mine = encodeAggregate(sparse(rho).dense, run.codec.chunkSize, header(samplesPer));
          uploads.push(mine);
          own = { aggregateHash: fastFrameHash(mine), framesRoot: framesRoot([frameHash(m.address)]), frameHashes: [frameHash(m.address)] };
        }
        const c = syntheticContribution(run, {
          round: open.round,
          cohort,
          address: m.address,
          frameHash: frameHash(m.address),
          ...own,
          samples: samplesPer,
          nonce: BigInt(reports.length + 1),
          expiry,
        });
        reports.push({
          session: bySession.get(m.address)!,
          msg: {
            type: 'report',
            contribution: contributionToJson(c),
            signature: sessionKeyOf.get(m.address)!.signReport(signers.digest(c)),
            frameHashes: own.frameHashes,
          },
        });
      }
    });
  await harness('inputs', cfg.volunteers, buildInputs);
  // What the harness left running on other threads (the certificates' ledger rows, GC) is not the report phase's.
  await settle();

  // Else the first report starts the recovery thread: its thread id is the one that appears then.
  t = tids();
  let recoverySeen = certifiedTids.length > 0;
  await phase('report', reports.length, () =>
    inLanes(reports, cfg.concurrency, async ({ session, msg }) => {
      await engine.handleReport(session, msg);
      if (!recoverySeen) for (const tid of newTids(t)) (groupOf.set(tid, 'recovery'), (recoverySeen = true));
    }),
  );
  for (const tid of newTids(t)) if (!groupOf.has(tid)) groupOf.set(tid, 'recovery');
  reports.length = 0;
  // The uploads come after the reports, as a cohort's aggregate (tens of KiB to MiB) reaches the
  // coordinator after its members' small reports: each upload then meets every report of the round.
  await phase('upload', uploads.length, async () => {
    await Promise.all(uploads.map((bytes) => engine.handleAggregate(open.round, bytes)));
  });
  uploads.length = 0;

  clock += 3 * 3_600_000; // the report deadline
  const round2 = (x: number | null) => (x === null ? null : Math.round(x));
  await phase(
    'commit',
    cfg.volunteers,
    () => engine.commit(),
    () => ({
      steps: Object.fromEntries(
        Object.entries(commitSteps?.phases ?? {}).map(([k, f]) => [k, { loopCpuMs: round2(f.loopCpuMs), threadCpuMs: round2(f.threadCpuMs) }]),
      ),
    }),
  );
  const round = await ledger.rounds(run.id, 1);
  if (round.length !== 1) throw new Error('the round did not commit');
  await phase('push', changed.length, async () => void (await rewards.summaries(changed)));

  const { rows } = await sql.query<{ id: number; state: string; reason_code: string | null }>(
    `select id::int as id, state, reason_code from contributions where run_id = $1`,
    [run.id],
  );
  const accepted = rows.filter((r) => r.state === 'accepted').map((r) => r.id);
  const rejected: Record<string, number> = {};
  for (const r of rows) if (r.state === 'rejected') rejected[r.reason_code ?? '?'] = (rejected[r.reason_code ?? '?'] ?? 0) + 1;
  // The validator's decision for the round's accepted rows (none sampled here: no evidence exists).
  await phase('validator', accepted.length, () => ledger.setVerification(accepted, 'skipped'));
  let epochAccounts = 0;
  await phase('epoch', accepted.length, async () => {
    if ((await rewards.postEpoch(open.round, engine.modelHash)) === null) throw new Error('the epoch carried no credit');
    epochAccounts = (await ledger.epochs()).at(-1)!.accounts;
  });
  const sample = keys.slice(0, Math.min(cfg.helloSample, keys.length)).map((k) => k.address);
  await phase('hello', sample.length, async () => {
    for (const a of sample) {
      const s = await rewards.summary(a);
      if (!s.claimable) throw new Error(`hello for ${a}: no claimable proof after the epoch`);
    }
  });

  engine.stop();
  await sql.close();
  const done: DoneLine = {
    done: {
      paramCount: run.paramCount,
      cohorts: open.cohorts.length,
      aggregates: cohortAggregates,
      aggregateDensity: nnz / Math.max(1, cohortAggregates) / run.paramCount,
      accepted: accepted.length,
      rejected,
      modelHash: engine.modelHash,
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      epochAccounts,
    },
  };
  process.stdout.write(JSON.stringify(done) + '\n');
  if (sentBytes === 0) throw new Error('no message was sent to any session');
}

main(JSON.parse(process.argv[2]) as ScaleRunConfig).then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`scale-run: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
