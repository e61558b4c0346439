// The post-commit epoch policy with fakes for the validator, the rewards and the pushes:
// the order of its steps, and the wait it gives the spot checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { DEFAULT_RUN } from '../../shared/config.ts';
import { epochPolicy, epochWaitMs } from './epoch-policy.ts';

const run = { ...DEFAULT_RUN, rewards: { ...DEFAULT_RUN.rewards, epochRounds: 3 }, timing: { trainMs: 100, exchangeMs: 20, reportMs: 5 } };
const h = `0x${'ab'.repeat(32)}` as Hex;
const accounts = ['0x00000000000000000000000000000000000000a1', '0x00000000000000000000000000000000000000a2'] as Address[];

function fakes() {
  const calls: string[] = [];
  let settle!: () => void;
  const settled = new Promise<void>((r) => (settle = r));
  const policy = epochPolicy(run, {
    checksSettled: (ms) => {
      calls.push(`wait ${ms}`);
      return settled;
    },
    postEpoch: async (round, modelHash) => {
      calls.push(`post ${round} ${modelHash === h}`);
    },
    creditedAccounts: async () => accounts,
    pushAccounts: (a) => {
      calls.push(`push ${a.length}`);
    },
  });
  return { calls, settle, policy };
}

test('the epoch waits as long as its rounds take', () => {
  assert.equal(epochWaitMs(run), 3 * 125);
});

test('after a commit: wait for the spot checks, then post the epoch, then push the credited accounts', async () => {
  const { calls, settle, policy } = fakes();
  const done = policy({ round: 2, modelHash: h });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, ['wait 375'], 'nothing is posted while the checks queued so far are undecided');
  settle();
  await done;
  assert.deepEqual(calls, ['wait 375', 'post 2 true', 'push 2']);
});

test('a failed epoch post pushes nothing and is reported to the caller', async () => {
  const pushed: Address[][] = [];
  const policy = epochPolicy(run, {
    checksSettled: async () => undefined,
    postEpoch: async () => {
      throw new Error('chain refused the root');
    },
    creditedAccounts: async () => accounts,
    pushAccounts: (a) => void pushed.push(a),
  });
  await assert.rejects(policy({ round: 2, modelHash: h }), /chain refused the root/);
  assert.deepEqual(pushed, []);
});
