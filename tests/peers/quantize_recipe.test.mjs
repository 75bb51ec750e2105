// `hearth quantize IN OUT FTYPE` must choose the same type for every tensor as llama.cpp's
// quantizer (llama_model_quantize, default parameters, via the harness) does for the same input,
// and write the same general.file_type.
//
// Inputs: the tiny mkmodel presets (every matrix row a multiple of 256, 2 layers), and synthetic
// models (tests/peers/lib.mjs, no vocabulary) whose shapes exercise the rest of the rules: row
// lengths that are not multiples of 256 (K-quant fallbacks) or of 32 (F16 fallback), 8 to 24
// layers (the "more bits" layer pattern of the *_M mixes, Q4_K_S's first layers), GQA ratios
// 1 to 7, tied and untied output. "qwen2.5-0.5b-shaped" has that model's layer count, heads and
// row-length divisibility at 1/8 the width. The full-size qwen2.5-0.5b preset takes about a
// minute per file type here, so it runs only with HEARTH_PEERS_SLOW=1.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { bundleVocabDir, harness, hearth, tmpDir, writeSyntheticModel } from "./lib.mjs";

// Always compared: if hearth lacks one, the test fails.
const FTYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q6_K", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "F16"];
// Compared when `hearth quantize --help` lists them.
const OPTIONAL_FTYPES = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "IQ4_NL", "IQ4_XS", "BF16", "MXFP4_MOE"];

// bge-small-tiny: BERT's position and token-type tables stay unquantized; its vocabulary is in
// llama.cpp's sources (bundleVocabDir), not shared/.
const PRESETS = ["qwen2.5-tiny", "llama-3.2-tiny", "qwen3-tiny", "llama-spm-tiny", "gemma-3-1b-tiny", "gemma-2-2b-tiny",
                 "phi-3-mini-tiny", "bge-small-tiny"];
const BUNDLE_VOCAB_PRESETS = new Set(["bge-small-tiny"]);
const SYNTHETIC = {
  "qwen2.5-0.5b-shaped": { arch: "qwen2", n_layer: 24, n_embd: 112, n_head: 14, n_head_kv: 2, n_ff: 512, n_vocab: 64, tied: true },
  "llama-16-gqa4": { arch: "llama", n_layer: 16, n_embd: 256, n_head: 8, n_head_kv: 2, n_ff: 512, n_vocab: 64 },
  "llama-8-mha-untied": { arch: "llama", n_layer: 8, n_embd: 256, n_head: 4, n_head_kv: 4, n_ff: 768, n_vocab: 64 },
  "qwen2-11-odd-rows": { arch: "qwen2", n_layer: 11, n_embd: 96, n_head: 4, n_head_kv: 2, n_ff: 320, n_vocab: 64, tied: true },
  "llama-9-rows-80": { arch: "llama", n_layer: 9, n_embd: 80, n_head: 4, n_head_kv: 1, n_ff: 200, n_vocab: 40 },
  // 80 layers with GQA is what llama.cpp calls a 70B: attn_v gets at least Q5_K.
  "llama-80-layers": { arch: "llama", n_layer: 80, n_embd: 64, n_head: 8, n_head_kv: 1, n_ff: 256, n_vocab: 32 },
  "qwen3-13-head-dim": { arch: "qwen3", n_layer: 13, n_embd: 256, n_head: 8, n_head_kv: 1, n_ff: 640, n_vocab: 64, head_dim: 64, tied: true },
};

const dir = tmpDir("recipe");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const help = hearth("quantize", "--help");
const ftypes = [...FTYPES, ...OPTIONAL_FTYPES.filter((f) => new RegExp(`\\b${f}\\b`).test(help))];

function inspect(file) {
  const info = JSON.parse(hearth("inspect", "--json", file));
  return {
    types: new Map(info.tensors.map((t) => [t.name, t.type])),
    fileType: info.metadata["general.file_type"]?.value,
  };
}

// Quantizes `src` with both and compares; returns nothing, throws with every difference.
function compare(label, src, ftype) {
  const mineFile = path.join(dir, `${label}-${ftype}-hearth.gguf`);
  const theirsFile = path.join(dir, `${label}-${ftype}-llama.gguf`);
  try {
    harness("quantize", src, theirsFile, ftype, "--threads", "2");
    hearth("quantize", src, mineFile, ftype);
    const theirs = inspect(theirsFile);
    const mine = inspect(mineFile);
    const diffs = [];
    for (const [name, type] of theirs.types) {
      if (mine.types.get(name) !== type) diffs.push(`${name}: llama.cpp ${type}, hearth ${mine.types.get(name)}`);
    }
    for (const name of mine.types.keys()) if (!theirs.types.has(name)) diffs.push(`${name}: only in hearth's file`);
    assert.equal(diffs.length, 0, `${label} ${ftype}: ${diffs.length} tensor types differ:\n  ${diffs.join("\n  ")}`);
    assert.equal(mine.fileType, theirs.fileType, `${label} ${ftype}: general.file_type`);
  } finally {
    fs.rmSync(mineFile, { force: true });
    fs.rmSync(theirsFile, { force: true });
  }
}

function presetModel(preset, type = "f32") {
  const out = path.join(dir, `${preset}-${type}.gguf`);
  const vocab = BUNDLE_VOCAB_PRESETS.has(preset) ? ["--vocab-dir", bundleVocabDir()] : [];
  if (!fs.existsSync(out)) hearth("mkmodel", "--preset", preset, ...vocab, "--type", type, "-o", out, "--seed", "1");
  return out;
}

test("hearth quantize knows the core llama.cpp file types", () => {
  for (const f of FTYPES) assert.match(help, new RegExp(`\\b${f}\\b`), `hearth quantize --help does not list ${f}`);
});

// The presets' 152k-token vocabularies make each quantization take seconds, and their shapes
// (2 layers, rows multiples of 256) add little beyond the core types; the synthetic models, which
// take milliseconds, get every type.
// The presets (151k-token vocabularies: a few seconds per quantize) get the recipes people use
// most; the small synthetic shapes below get every type.
const PRESET_FTYPES = ["Q4_0", "Q8_0", "Q6_K", "Q4_K_M", "Q5_K_M"];
for (const preset of PRESETS) {
  for (const ftype of PRESET_FTYPES) {
    test(`recipe ${preset} ${ftype}`, () => compare(preset, presetModel(preset), ftype));
  }
}

for (const [label, spec] of Object.entries(SYNTHETIC)) {
  const src = path.join(dir, `${label}.gguf`);
  for (const ftype of ftypes) {
    test(`recipe ${label} ${ftype}`, () => {
      if (!fs.existsSync(src)) writeSyntheticModel(src, spec);
      compare(label, src, ftype);
    });
  }
}

const slow = process.env.HEARTH_PEERS_SLOW === "1";
test("recipe qwen2.5-0.5b (full size) Q4_K_M and Q5_K_M", { skip: !slow && "set HEARTH_PEERS_SLOW=1 (about 2 minutes)" }, () => {
  const src = presetModel("qwen2.5-0.5b", "f16");
  try {
    compare("qwen2.5-0.5b", src, "Q4_K_M");
    compare("qwen2.5-0.5b", src, "Q5_K_M");
  } finally {
    fs.rmSync(src, { force: true });
  }
});
