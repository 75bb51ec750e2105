// KL between full f32 logit dumps (`hearth logits -o`, `llama-harness logits -o`): for each OTHER
// file, mean and max KL(BASE || OTHER) over the positions, max |dlogit|, and how many positions
// are bit-identical. Used for the summation-order study in bench/RESULTS.md (llama-perplexity's
// --kl-divergence files keep 16-bit log-probabilities, too coarse for differences of an ulp).
//   node bench/kl_logits.mjs N_VOCAB BASE.f32 OTHER.f32...
import fs from "node:fs";

const [vocabArg, base, ...others] = process.argv.slice(2);
const nVocab = Number(vocabArg);
if (!Number.isInteger(nVocab) || nVocab <= 0 || !base || others.length === 0) {
  console.error("usage: node bench/kl_logits.mjs N_VOCAB BASE.f32 OTHER.f32...");
  process.exit(2);
}
const read = (file) => {
  const b = fs.readFileSync(file);
  if (b.length % (4 * nVocab) !== 0) throw new Error(`${file}: not a whole number of ${nVocab}-logit rows`);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};
const logSoftmax = (v) => {
  let max = -Infinity;
  for (const x of v) max = Math.max(max, x);
  let sum = 0;
  for (const x of v) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(v, (x) => x - lse);
};

const baseLogits = read(base);
for (const file of others) {
  const logits = read(file);
  if (logits.length !== baseLogits.length) throw new Error(`${file}: ${logits.length / nVocab} positions, base has ${baseLogits.length / nVocab}`);
  const n = baseLogits.length / nVocab;
  let sum = 0, max = 0, maxAbs = 0, identical = 0;
  for (let i = 0; i < n; ++i) {
    const a = baseLogits.subarray(i * nVocab, (i + 1) * nVocab), b = logits.subarray(i * nVocab, (i + 1) * nVocab);
    const la = logSoftmax(a), lb = logSoftmax(b);
    let kl = 0, same = true;
    for (let j = 0; j < nVocab; ++j) {
      kl += Math.exp(la[j]) * (la[j] - lb[j]);
      const d = Math.abs(a[j] - b[j]);
      if (d > maxAbs) maxAbs = d;
      if (a[j] !== b[j]) same = false;
    }
    sum += kl;
    max = Math.max(max, kl);
    if (same) ++identical;
  }
  console.log(`${file}: positions ${n}, mean KL ${(sum / n).toExponential(3)}, max KL ${max.toExponential(3)}, ` +
              `max|dlogit| ${maxAbs.toExponential(3)}, identical positions ${identical}`);
}
