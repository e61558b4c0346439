// `npx tsx e2e/report-signature.bench.ts [--json] [--ms MS]`
//
// What one report's signature check costs, per option issue 17 weighs (README "Scale"), in ops
// per second of CPU on one thread: each option runs for --ms of wall time over 256 distinct
// signed reports (so no cache flatters it) and checks every answer.
// - recover: what the coordinator does today (ContributionSigners.signer: the EIP-712 digest
//   with js-sha3, then public-key recovery in libsecp256k1 compiled to WebAssembly, tiny-secp256k1);
// - digest: the EIP-712 digest alone (two keccak-256 of the struct), the part of `recover` that
//   is not the curve;
// - verify-wasm: the same signature verified against the signer's known public key (a session
//   would keep the key its hello recovered) in tiny-secp256k1;
// - verify-noble: the same with @noble/curves (pure JavaScript), its public-key point
//   precomputed (window 8) as a session would hold it;
// - ed25519: a session key's signature over the same 32-byte digest verified natively
//   (node:crypto, OpenSSL), the public key object made once per session.
// OpenSSL's own secp256k1 cannot stand in for the wasm one: node:crypto verifies ECDSA only over
// a digest it computes itself (SHA-256), and the EIP-712 digest is keccak-256.
import { createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { pointFromScalar, recover, signRecoverable, verify } from 'tiny-secp256k1';
import { secp256k1 } from '@noble/curves/secp256k1';
import { bytesToHex, keccak256, type Address } from 'viem';
import { ContributionSigners } from '../coordinator/round/report-signature.ts';
import { eip712Domain } from '../shared/eip712.ts';
import { DEFAULT_RUN } from '../shared/config.ts';
import { syntheticContribution } from './scale-inputs.ts';
import { cliOutput, numberOption, parseCli, runCli, type CliOption, type CliSpec } from '../shared/cli.ts';

const CLI = {
  command: 'npx tsx e2e/report-signature.bench.ts',
  summary: "One report's signature check per option (recover, verify against a known key in wasm or noble, Ed25519 in node:crypto), ops/s on one thread.",
  options: {
    json: { type: 'boolean', help: 'stdout holds only the result as one JSON object' },
    ms: { type: 'string', arg: 'MS', default: '2000', help: 'wall time per option' },
  },
} as const satisfies CliSpec<Record<string, CliOption>>;

runCli(CLI, async () => {
  const values = parseCli(CLI);
  const ms = numberOption(values, 'ms', { positive: true })!;
  const out = cliOutput(!!values.json);
  const signers = new ContributionSigners(eip712Domain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3'));
  const N = 256;
  const items = Array.from({ length: N }, (_, i) => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const pub = pointFromScalar(key, false)!;
    const address = `0x${keccak256(pub.subarray(1)).slice(26)}` as Address;
    const h = keccak256(new TextEncoder().encode(`${i}`));
    const c = syntheticContribution({ ...DEFAULT_RUN, id: 1 } as never, {
      round: 3,
      cohort: i % 16,
      address,
      frameHash: h,
      aggregateHash: h,
      framesRoot: h,
      samples: 64,
      nonce: BigInt(i),
      expiry: 2n ** 40n,
    });
    const digest = signers.digest(c);
    const { signature, recoveryId } = signRecoverable(digest, key);
    const hex = bytesToHex(new Uint8Array([...signature, 27 + recoveryId]));
    const point = secp256k1.ProjectivePoint.fromHex(pub);
    point._setWindowSize(8);
    const ed = generateKeyPairSync('ed25519');
    // As a page would send it: the raw 32-byte key (WebCrypto exportKey('raw')), made a KeyObject once.
    const raw = (ed.publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const edPub: KeyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw }, format: 'jwk' });
    const edSig = edSign(null, digest, ed.privateKey);
    return { c, hex, address, digest, pub, point, signature, recoveryId, edPub, edSig };
  });
  const options: Record<string, (i: number) => boolean> = {
    recover: (i) => signers.signer(items[i].c, items[i].hex) === items[i].address,
    digest: (i) => signers.digest(items[i].c)[0] === items[i].digest[0],
    'verify-wasm': (i) => verify(signers.digest(items[i].c), items[i].pub, items[i].signature),
    'verify-noble': (i) => secp256k1.verify(items[i].signature, signers.digest(items[i].c), items[i].point.toRawBytes(false), { prehash: false, lowS: true }),
    ed25519: (i) => edVerify(null, signers.digest(items[i].c), items[i].edPub, items[i].edSig),
  };
  void recover;
  const result: Record<string, { opsPerS: number; usPerOp: number }> = {};
  for (const [name, check] of Object.entries(options)) {
    for (let i = 0; i < 32; i++) if (!check(i % N)) throw new Error(`${name}: the check of report ${i} failed`);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let n = 0;
    while (performance.now() - t0 < ms) {
      for (let k = 0; k < 16; k++, n++) if (!check(n % N)) throw new Error(`${name}: the check of report ${n % N} failed`);
    }
    const cpu = process.cpuUsage(c0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    result[name] = { opsPerS: Math.round(n / cpuS), usPerOp: Number(((1e6 * cpuS) / n).toFixed(1)) };
    out.progress(`${name}: ${result[name].opsPerS} ops per CPU-second (${result[name].usPerOp} µs each, ${n} ops)`);
  }
  out.json(result);
  return [];
});
