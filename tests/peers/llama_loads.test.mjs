// Files hearth writes load and run in llama.cpp (node-llama-cpp 3.22.1, CPU), and files
// llama.cpp's quantizer writes load in hearth.
//   - `hearth quantize … Q4_K_M` of each tiny preset's F32 model: llama.cpp loads it, evaluates
//     a short prompt, and every position's logits are finite and not all equal. (Every
//     `hearth mkmodel` preset and type is loaded by llama.cpp in forward_logits.test.mjs, which
//     also compares the logits.)
//   - llama.cpp's quantizer (harness `quantize`) on a hearth F32 model: `hearth inspect` accepts
//     the result and reports the tensor types llama.cpp wrote.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { getLlama } from "node-llama-cpp";
import { harness, hearth, hearthTypes, llamaTypes, tmpDir } from "./lib.mjs";

const PRESETS = ["qwen2.5-tiny", "llama-3.2-tiny", "qwen3-tiny", "llama-spm-tiny"];
const PROMPT = "Hello world, this is a test of 12 tokens.";

const dir = tmpDir("loads");
let llama;

before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
});

after(async () => {
  await llama?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

function mkmodel(preset, type) {
  const out = path.join(dir, `${preset}-${type}.gguf`);
  if (!fs.existsSync(out)) hearth("mkmodel", "--preset", preset, "--type", type, "-o", out, "--seed", "1");
  return out;
}

// Loads `file` in llama.cpp and checks the logits of every prompt position.
async function checkLoadsInLlama(file) {
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  try {
    const context = await model.createContext({ contextSize: 128, threads: 2 });
    try {
      const tokens = model.tokenize(PROMPT);
      assert.ok(tokens.length >= 4, `${file}: prompt tokenized to ${tokens.length} tokens`);
      const seq = context.getSequence();
      const res = await seq.controlledEvaluate(
        tokens.map((t) => [t, { generateNext: { logits: true } }]));
      assert.equal(res.length, tokens.length);
      const nVocab = model.tokens.trainingVocabSize ?? model.tokens.vocabSize;
      for (let pos = 0; pos < res.length; ++pos) {
        const logits = res[pos]?.next?.logits;
        assert.ok(logits instanceof Map && logits.size > 0, `${file}: no logits at position ${pos}`);
        if (nVocab) assert.equal(logits.size, nVocab, `${file}: logits at ${pos} cover the vocabulary`);
        let first;
        let allEqual = true;
        for (const [id, v] of logits) {
          assert.ok(Number.isFinite(v), `${file}: logit of token ${id} at position ${pos} is ${v}`);
          if (first === undefined) first = v;
          else if (v !== first) allEqual = false;
        }
        assert.ok(!allEqual, `${file}: all logits at position ${pos} equal ${first}`);
      }
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

for (const preset of PRESETS) {
  test(`llama.cpp loads hearth quantize ${preset} F32 -> Q4_K_M`, async () => {
    const out = path.join(dir, `${preset}-hearth-Q4_K_M.gguf`);
    hearth("quantize", mkmodel(preset, "f32"), out, "Q4_K_M");
    await checkLoadsInLlama(out);
  });

  test(`hearth loads llama.cpp quantize ${preset} F32 -> Q4_K_M`, () => {
    const out = path.join(dir, `${preset}-llama-Q4_K_M.gguf`);
    harness("quantize", mkmodel(preset, "f32"), out, "Q4_K_M", "--threads", "2");
    const mine = hearthTypes(out); // throws unless `hearth inspect` exits 0
    const theirs = llamaTypes(out);
    assert.deepEqual([...mine.entries()].sort(), [...theirs.entries()].sort());
  });
}
