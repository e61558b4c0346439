// A generated text for GPT runs and tests: sentences of a small probabilistic grammar, from a
// seeded generator (the same bytes on every machine), and the entropy a context-free byte
// model cannot beat.
import { createRng } from '../shared/rng.ts';

/** A deterministic probabilistic grammar: sentences of words chosen by a seeded generator. */
export function grammarCorpus(bytes: number, seed: number): Uint8Array {
  const rand = createRng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const det = ['the', 'a', 'one'];
  const noun = ['cat', 'dog', 'bird', 'fox', 'mouse'];
  const verb = ['sees', 'chases', 'likes', 'hears'];
  const adj = ['red', 'big', 'small', 'quick'];
  let s = '';
  while (s.length < bytes) {
    const np = () => `${pick(det)} ${rand() < 0.4 ? `${pick(adj)} ` : ''}${pick(noun)}`;
    s += `${np()} ${pick(verb)} ${np()}. `;
  }
  return new TextEncoder().encode(s.slice(0, bytes));
}

/** Entropy in nats of the corpus's byte frequencies: the loss of the best context-free model. */
export function unigramEntropy(text: Uint8Array): number {
  const counts = new Float64Array(256);
  for (const b of text) counts[b]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / text.length) * Math.log(c / text.length);
  return h;
}
