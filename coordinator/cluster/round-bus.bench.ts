// What the bus costs a round (issue 17 item 4): a private nats-server, one round opened, then
// `--reports` signed-report messages (the wire JSON a volunteer sends, about 1 KB) published by
// `--concurrency` publishers at once, each awaited until the stream stored it, as a gateway
// must before it acknowledges; then `--aggregates` cohort aggregates of `--aggregate-bytes` into
// the object store; then a second connection reads the open round back (a takeover's resume).
// CPU is the publishing process's and nats-server's (from /proc: Linux only).
//   npx tsx coordinator/cluster/round-bus.bench.ts -- --reports 10000 --concurrency 64 --aggregates 250 --aggregate-bytes 90000
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Address, Hex } from 'viem';
import { RoundBus, type BusReport } from './round-bus.ts';
import { startNatsServer } from './nats-server.ts';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    reports: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '64' },
    aggregates: { type: 'string', default: '250' },
    'aggregate-bytes': { type: 'string', default: '90000' },
  },
});
const count = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${values[name]}`);
  return n;
};
const reports = count('reports');
const concurrency = count('concurrency');
const aggregates = count('aggregates');
const aggregateBytes = count('aggregate-bytes');

const hex = (n: number, bytes: number) => `0x${n.toString(16).padStart(bytes * 2, '0')}` as Hex;
function report(i: number): BusReport {
  const nonce = String(1_000_000 + i);
  const contribution = {
    run: 1,
    round: 0,
    cohort: i >> 3,
    frameHash: hex(i * 3 + 1, 32),
    aggregateHash: hex((i >> 3) + 7, 32),
    framesRoot: hex(i * 5 + 2, 32),
    residualHash: hex(i * 11 + 3, 32),
    samples: 96,
    steps: 3,
    lossBeforeMicro: 2_302_585,
    lossAfterMicro: 2_100_000 + i,
    computeMs: 1_830,
    nonce,
    expiry: '1999999999',
    partner: '',
  };
  const frameHashes = Array.from({ length: 8 }, (_, k) => hex(((i >> 3) << 3) + k + 1, 32));
  return {
    round: 0,
    account: hex(i + 1, 20) as Address,
    nonce,
    receivedAt: Date.now(),
    message: { type: 'report', contribution, signature: hex(i + 9, 64), frameHashes },
    certificate: { certificate: { run: 1, device: hex(i + 1, 20) as Address, sessionKey: hex(i + 5, 32), expiry: '1999999999' }, signature: hex(i + 13, 65) },
  };
}

/** nats-server's user + system CPU so far, in ms (Linux /proc; fields 14 and 15 after the command name, in clock ticks of 10 ms). */
const serverCpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const dir = mkdtempSync(join(tmpdir(), 'idlegrad-nats-bench-'));
const nats = await startNatsServer({ storeDir: dir });
try {
  const bus = await RoundBus.open({ servers: nats.url, runId: 1 });
  const open = await bus.publishOpen({ round: 0, modelHash: hex(1, 32), startsAt: Date.now(), exchangeEndsAt: 0, reportEndsAt: 0, cohorts: [] });
  const messageBytes = JSON.stringify(report(0)).length;

  const latencies: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  const server0 = serverCpuMs(nats.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < reports) {
        const r = report(next++);
        const s = performance.now();
        const ack = await bus.publishReport(r);
        if (ack.duplicate) throw new Error(`report ${r.account}:${r.nonce} came back a duplicate`);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const publishMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const serverMs = serverCpuMs(nats.pid) - server0;
  latencies.sort((a, b) => a - b);

  const blob = new Uint8Array(aggregateBytes).map((_, i) => (i * 2654435761) >>> 24);
  const a0 = performance.now();
  for (let k = 0; k < aggregates; k++) {
    blob[0] = k & 255;
    blob[1] = k >> 8;
    await bus.publishAggregate(0, hex(k + 1, 32), blob);
  }
  const aggregateMs = performance.now() - a0;
  await bus.close();

  const reader = await RoundBus.open({ servers: nats.url, runId: 1 });
  const r0 = performance.now();
  const resumed = await reader.openRound();
  const resumeMs = performance.now() - r0;
  await reader.close();
  if (!resumed || resumed.seq !== open.seq || resumed.reports.length !== reports || resumed.aggregates.length !== aggregates)
    throw new Error(`the resume read ${resumed?.reports.length} reports and ${resumed?.aggregates.length} aggregates, not ${reports} and ${aggregates}`);

  console.log(
    JSON.stringify(
      {
        reports,
        concurrency,
        messageBytes,
        reportsPerSecond: Math.round(reports / (publishMs / 1000)),
        ackMs: { p50: +pct(latencies, 50).toFixed(2), p99: +pct(latencies, 99).toFixed(2), max: +latencies.at(-1)!.toFixed(2) },
        publisherCpuMsPerReport: +((cpu.user + cpu.system) / 1000 / reports).toFixed(3),
        natsServerCpuMsPerReport: +(serverMs / reports).toFixed(3),
        aggregates,
        aggregateBytes,
        aggregateMsEach: +(aggregateMs / aggregates).toFixed(2),
        resumeMs: Math.round(resumeMs),
        nodeRssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      },
      null,
      2,
    ),
  );
} finally {
  await nats.kill();
  rmSync(dir, { recursive: true, force: true });
}
