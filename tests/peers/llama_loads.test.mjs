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

// The KV cache's size: `hearth inspect` reports bytes per token (f16 cache) equal to what
// llama.cpp allocates for the same file (harness kv-bytes: its own log line over 65536 cells).
// DeepSeek's cache holds only the latent and its roped part (MLA: (kv_lora + rope) x 2 bytes per
// layer). A DeepSeek file in the older converter's layout (attn_kv_b) is split when hearth opens
// it and keeps the latent cache, where llama.cpp caches every head's keys and values: smaller.
const KV_PRESETS = ["qwen3-tiny", "llama-3.2-tiny", "qwen3-30b-a3b-tiny", "deepseek-v2-lite-tiny", "deepseek-v3-tiny"];
const hearthKvBytes = (file) => JSON.parse(hearth("inspect", "--json", file)).hparams.kv_bytes_per_token;
const llamaKvBytes = (file) => Number(/kv_bytes_per_token ([0-9.]+)/.exec(harness("kv-bytes", file))[1]);

for (const preset of KV_PRESETS) {
  test(`KV cache bytes per token equal llama.cpp's: ${preset}`, () => {
    const file = mkmodel(preset, "q8_0");
    const ours = hearthKvBytes(file), theirs = llamaKvBytes(file);
    console.log(`# ${preset}: hearth ${ours} bytes per token, llama.cpp ${theirs}`);
    assert.ok(ours > 0);
    assert.equal(ours, Math.round(theirs));
  });
}

test("a legacy DeepSeek file keeps the latent cache: smaller than llama.cpp's, equal to the current layout's", () => {
  const legacy = path.join(dir, "deepseek-v3-tiny-legacy.gguf");
  hearth("mkmodel", "--preset", "deepseek-v3-tiny", "--type", "q8_0", "-o", legacy, "--seed", "1", "--legacy-kv-b");
  const ours = hearthKvBytes(legacy), theirs = llamaKvBytes(legacy);
  const current = llamaKvBytes(mkmodel("deepseek-v3-tiny", "q8_0"));
  console.log(`# deepseek-v3-tiny --legacy-kv-b: hearth ${ours} bytes per token, llama.cpp ${theirs} ` +
              `(llama.cpp on the current layout: ${current})`);
  assert.equal(ours, Math.round(current));
  assert.ok(ours < theirs, `${ours} >= ${theirs}`);
});
