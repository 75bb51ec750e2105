// Shared helpers for the peer tests: where things are, running hearth and the llama.cpp harness,
// and a minimal GGUF writer for synthetic models whose shapes exercise quantization rules.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

// hearth sums the 32-element quant types in its own order by default where AVX-512 packs them
// (HEARTH_SUMS=blocks, kernels/matmul.h). These tests hold hearth to llama.cpp's bits, so every
// hearth they start runs llama.cpp's order; forward_logits' "blocks" cases set the default back
// for their own runs and bound its KL instead.
process.env.HEARTH_SUMS = "ggml";

export const PEERS_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.resolve(PEERS_DIR, "..", "..");
export const SHARED_DIR = process.env.HEARTH_SHARED_DIR
  ? path.resolve(process.env.HEARTH_SHARED_DIR)
  : path.resolve(REPO_DIR, "..", "shared");

// The hearth binary: $HEARTH_BIN, else the default build. A missing binary is a test failure,
// never a skip (the Makefile's peer-test target sets HEARTH_BIN).
export function hearthBin() {
  const bin = process.env.HEARTH_BIN ?? path.join(REPO_DIR, "build", "src", "hearth");
  if (!fs.existsSync(bin)) {
    throw new Error(`hearth binary not found at ${bin} (build it, or set HEARTH_BIN)`);
  }
  return bin;
}

// Runs a command; throws with its stderr on a non-zero exit. Returns stdout.
export function run(cmd, args, { timeoutMs = 600_000 } = {}) {
  const res = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 30, timeout: timeoutMs });
  if (res.error) throw new Error(`${cmd} ${args.join(" ")}: ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(`${path.basename(cmd)} ${args.join(" ")} exited ${res.status}\n${res.stderr}${res.stdout.slice(-2000)}`);
  }
  return res.stdout;
}

export function hearth(...args) {
  return run(hearthBin(), args);
}

// The llama.cpp harness (tests/peers/llama_harness.cpp), built on first use.
let harnessPath = null;
export function harnessBin() {
  if (harnessPath === null) {
    harnessPath = execFileSync(path.join(PEERS_DIR, "build-harness.sh"), { encoding: "utf8" }).trim().split("\n").pop();
  }
  return harnessPath;
}

// Vocabularies shared/testdata lacks, from llama.cpp's own test set in its source bundle (beside
// the harness build).
export const bundleVocabDir = () => path.join(path.dirname(harnessBin()), "llama.cpp", "models");

export function harness(...args) {
  return run(harnessBin(), args);
}

// `llama-harness types FILE` -> Map name -> ggml type name ("q4_K").
export function llamaTypes(file) {
  const out = new Map();
  for (const line of harness("types", file).split("\n")) {
    if (!line) continue;
    const [name, type] = line.split("\t");
    out.set(name, type);
  }
  return out;
}

// `hearth inspect --json FILE` -> Map name -> type name.
export function hearthTypes(file) {
  const info = JSON.parse(hearth("inspect", "--json", file));
  return new Map(info.tensors.map((t) => [t.name, t.type]));
}

export function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `hearth-peers-${prefix}-`));
}

export function listGguf(dir) {
  if (!fs.existsSync(dir)) throw new Error(`missing test data folder ${dir} (set HEARTH_SHARED_DIR)`);
  return fs.readdirSync(dir).filter((f) => f.endsWith(".gguf")).sort().map((f) => path.join(dir, f));
}

// ---- minimal GGUF v3 writer (F32 tensors only) -------------------------------------------------

const GGUF_U32 = 4;
const GGUF_F32 = 6;
const GGUF_STRING = 8;

class ByteSink {
  constructor() { this.parts = []; this.length = 0; }
  push(buf) { this.parts.push(buf); this.length += buf.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s) { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.push(b); }
  pad(align) { const n = (align - (this.length % align)) % align; if (n) this.push(Buffer.alloc(n)); }
}

// Writes `tensors` ([{name, ne: [ne0, ne1, ...]}], filled with small deterministic pseudo-random
// F32 values) and `kv` ([[key, "u32"|"f32"|"str", value]]) as a GGUF v3 file.
export function writeGguf(file, kv, tensors, seed = 1) {
  const align = 32;
  const head = new ByteSink();
  head.push(Buffer.from("GGUF"));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(kv.length);
  for (const [key, type, value] of kv) {
    head.str(key);
    if (type === "u32") { head.u32(GGUF_U32); head.u32(value); }
    else if (type === "f32") { head.u32(GGUF_F32); head.f32(value); }
    else if (type === "str") { head.u32(GGUF_STRING); head.str(value); }
    else throw new Error(`writeGguf: unsupported kv type ${type}`);
  }
  let offset = 0;
  const sizes = [];
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.ne.length);
    for (const d of t.ne) head.u64(d);
    head.u32(0); // F32
    head.u64(offset);
    const bytes = t.ne.reduce((a, b) => a * b, 1) * 4;
    sizes.push(bytes);
    offset += Math.ceil(bytes / align) * align;
  }
  head.pad(align);
  const fd = fs.openSync(file, "w");
  try {
    fs.writeSync(fd, Buffer.concat(head.parts));
    let state = seed >>> 0 || 1;
    for (const bytes of sizes) {
      const buf = Buffer.alloc(Math.ceil(bytes / align) * align);
      for (let i = 0; i < bytes; i += 4) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        buf.writeFloatLE(((state >>> 8) / (1 << 24) - 0.5) * 0.1, i);
      }
      fs.writeSync(fd, buf);
    }
  } finally {
    fs.closeSync(fd);
  }
}

// A llama-family model with no vocabulary, at any shape: what the quantization rules look at.
// spec: {arch: "llama"|"qwen2"|"qwen3", n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab,
//        head_dim?, tied?, n_expert? (Mixtral-style ffn_*_exps stacks)}
export function writeSyntheticModel(file, spec) {
  const { arch, n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab } = spec;
  const head_dim = spec.head_dim ?? n_embd / n_head;
  const kv = [
    ["general.architecture", "str", arch],
    ["general.name", "str", `synthetic-${arch}`],
    [`${arch}.context_length`, "u32", 256],
    [`${arch}.embedding_length`, "u32", n_embd],
    [`${arch}.block_count`, "u32", n_layer],
    [`${arch}.feed_forward_length`, "u32", n_ff],
    [`${arch}.attention.head_count`, "u32", n_head],
    [`${arch}.attention.head_count_kv`, "u32", n_head_kv],
    [`${arch}.attention.layer_norm_rms_epsilon`, "f32", 1e-6],
    [`${arch}.rope.freq_base`, "f32", 10000],
    [`${arch}.vocab_size`, "u32", n_vocab],
  ];
  if (spec.n_expert) {
    kv.push([`${arch}.expert_count`, "u32", spec.n_expert]);
    kv.push([`${arch}.expert_used_count`, "u32", 2]);
  }
  if (spec.head_dim) {
    kv.push([`${arch}.attention.key_length`, "u32", head_dim]);
    kv.push([`${arch}.attention.value_length`, "u32", head_dim]);
  }
  const q = n_head * head_dim;
  const kvd = n_head_kv * head_dim;
  const tensors = [
    { name: "token_embd.weight", ne: [n_embd, n_vocab] },
    { name: "output_norm.weight", ne: [n_embd] },
  ];
  if (!spec.tied) tensors.push({ name: "output.weight", ne: [n_embd, n_vocab] });
  for (let i = 0; i < n_layer; ++i) {
    const p = `blk.${i}.`;
    tensors.push({ name: p + "attn_norm.weight", ne: [n_embd] });
    tensors.push({ name: p + "attn_q.weight", ne: [n_embd, q] });
    tensors.push({ name: p + "attn_k.weight", ne: [n_embd, kvd] });
    tensors.push({ name: p + "attn_v.weight", ne: [n_embd, kvd] });
    if (arch === "qwen2") {
      tensors.push({ name: p + "attn_q.bias", ne: [q] });
      tensors.push({ name: p + "attn_k.bias", ne: [kvd] });
      tensors.push({ name: p + "attn_v.bias", ne: [kvd] });
    }
    if (arch === "qwen3") {
      tensors.push({ name: p + "attn_q_norm.weight", ne: [head_dim] });
      tensors.push({ name: p + "attn_k_norm.weight", ne: [head_dim] });
    }
    tensors.push({ name: p + "attn_output.weight", ne: [q, n_embd] });
    tensors.push({ name: p + "ffn_norm.weight", ne: [n_embd] });
    if (spec.n_expert) {
      const e = spec.n_expert;
      tensors.push({ name: p + "ffn_gate_inp.weight", ne: [n_embd, e] });
      tensors.push({ name: p + "ffn_gate_exps.weight", ne: [n_embd, n_ff, e] });
      tensors.push({ name: p + "ffn_up_exps.weight", ne: [n_embd, n_ff, e] });
      tensors.push({ name: p + "ffn_down_exps.weight", ne: [n_ff, n_embd, e] });
    } else {
      tensors.push({ name: p + "ffn_gate.weight", ne: [n_embd, n_ff] });
      tensors.push({ name: p + "ffn_up.weight", ne: [n_embd, n_ff] });
      tensors.push({ name: p + "ffn_down.weight", ne: [n_ff, n_embd] });
    }
  }
  writeGguf(file, kv, tensors);
}
