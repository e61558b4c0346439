// A run's training data: the MNIST digits (mnist-digits.bin.gz), a lead's text split into
// byte windows, the text store (by sha256), and which of them a run's preset trains on.
export { loadMnist, MNIST_FEATURES, type MnistSplits } from './mnist.ts';
export { readTextFile, splitText, loadTextCorpus, type TextSplits, type TextCorpusOptions } from './text.ts';
export { TextStore, textId, MAX_TEXT_BYTES } from './texts.ts';
export { runData, checkRunData, type RunData } from './run-data.ts';
