// Where do hearth's and llama.cpp's forward passes part? Runs both on the same token ids with
// their tensor dumps (`hearth logits --dump`, `llama-harness logits --dump`) and prints, for each
// intermediate activation in graph order, "equal" or the first token rows that differ (row:max
// |diff|(count of differing elements)). The first non-equal line names the op to look at.
//
//   node tests/peers/first_divergence.mjs MODEL "ID ID ..." [n_layer]
//
// A diagnostic for bench/RESULTS.md's fidelity work, not a test. llama.cpp names several
// stages of one tensor alike (Qcur before and after rope); the last stage is compared.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { harness, hearth } from "./lib.mjs";

const [model, tokens, nLayerArg] = process.argv.slice(2);
if (!model || !tokens) {
  console.error('usage: node first_divergence.mjs MODEL "ID ID ..." [n_layer]');
  process.exit(2);
}
const work = fs.mkdtempSync(path.join(os.tmpdir(), "divergence-"));
const ours = path.join(work, "hearth"), theirs = path.join(work, "llama");
fs.mkdirSync(ours);
fs.mkdirSync(theirs);
const nTokens = tokens.trim().split(/[\s,]+/).length;
hearth("logits", "-m", model, "--tokens", tokens, "-o", path.join(work, "h.f32"), "--dump", ours);
harness("logits", model, "--tokens", tokens, "-o", path.join(work, "l.f32"), "--dump", theirs);

const floats = (file) => {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};
// llama-harness writes NAME.K.f32 for the K-th tensor called NAME; take the last K.
const llamaFile = (name) => {
  const stages = fs.readdirSync(theirs).filter((f) => f.startsWith(`${name}.`) && f.endsWith(".f32"));
  stages.sort((a, b) => Number(a.split(".").at(-2)) - Number(b.split(".").at(-2)));
  return stages.length ? path.join(theirs, stages.at(-1)) : null;
};

const nLayer = Number(nLayerArg ?? fs.readdirSync(ours).filter((f) => f.startsWith("l_out-")).length);
const stages = ["attn_norm", "Qcur", "Kcur", "Vcur", "kqv_out", "attn_out", "ffn_inp", "ffn_norm",
                "ffn_gate", "ffn_up", "ffn_swiglu", "ffn_out", "ffn_mlp", "ffn_norm_2", "ffn_moe_logits", "ffn_moe",
                "ffn_moe_combined", "l_out"];
const names = [];
for (let il = 0; il < nLayer; ++il) for (const s of stages) names.push(`${s}-${il}`);
names.push("result_norm");
for (const name of names) {
  const h = path.join(ours, `${name}.f32`), l = llamaFile(name);
  if (!fs.existsSync(h) || !l) {
    console.log(`${name}: not in both dumps`);
    continue;
  }
  const a = floats(h), b = floats(l);
  if (a.length !== b.length) {
    console.log(`${name}: sizes differ (${a.length} vs ${b.length})`);
    continue;
  }
  const dim = a.length / nTokens, rows = [];
  for (let t = 0; t < nTokens && rows.length < 6; ++t) {
    let max = 0, count = 0;
    for (let i = t * dim; i < (t + 1) * dim; ++i) {
      const d = Math.abs(a[i] - b[i]);
      if (d > 0 || Number.isNaN(d)) ++count, (max = Math.max(max, d));
    }
    if (count) rows.push(`${t}:${max.toExponential(1)}(${count})`);
  }
  console.log(`${name}: ${rows.length ? rows.join(" ") : "equal"}`);
}
fs.rmSync(work, { recursive: true, force: true });
