// Tokenizer throughput, hearth next to the references: Hugging Face tokenizer.json files (the
// @lenml/tokenizer-* packages) against transformers.js (@lenml/tokenizers 3.7.2), and the GGUF
// vocabularies of shared/testdata/vocab against llama.cpp (tests/peers/llama_harness.cpp's
// tokenize-bench, linked to node-llama-cpp's prebuilt libllama). Every side encodes the same
// mixed text in one call, best of 3, load time excluded, one thread; token counts must agree.
//
// The text (about 4 MB): this repository's C++ sources and docs, the multilingual inputs of
// shared/testdata/vocab, the chat templates and the peer-test corpus, repeated.
//
// usage: node bench/tokenizer_throughput.mjs [HEARTH_BIN] [LLAMA_HARNESS]   (prints a markdown table)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PEERS = path.join(REPO, "tests", "peers");
const SHARED = path.resolve(REPO, "..", "shared");
const HEARTH = process.argv[2] ?? path.join(REPO, "build", "src", "hearth");
const HARNESS = process.argv[3] ?? path.join(PEERS, "build", "llama-harness");
const { TokenizerLoader } = await import(path.join(PEERS, "node_modules", "@lenml", "tokenizers", "dist", "main.mjs"));
const { corpus } = await import(path.join(PEERS, "corpus", "text_corpus.mjs"));

function files(dir, re) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(p, re));
    else if (re.test(entry.name)) out.push(p);
  }
  return out;
}

function buildText(targetBytes) {
  const parts = [
    ...files(path.join(REPO, "src"), /\.(cpp|h)$/),
    ...files(path.join(REPO, "docs"), /\.md$/),
    path.join(REPO, "README.md"),
    ...files(path.join(SHARED, "testdata", "vocab"), /\.inp$/),
    ...files(path.join(SHARED, "testdata", "chat_templates"), /\.jinja$/),
  ].map((f) => fs.readFileSync(f, "utf8"));
  parts.push(corpus().map((s) => s.toWellFormed()).join("\n"));
  const block = parts.join("\n\n");
  let text = "";
  while (Buffer.byteLength(text) < targetBytes) text += block;
  return text;
}

const text = buildText(4 << 20);
const textPath = path.join(os.tmpdir(), `hearth-tokenizer-bench-${process.pid}.txt`);
fs.writeFileSync(textPath, text);
const bytes = Buffer.byteLength(text);

function parse(line) {
  const [b, tokens, seconds, mbs] = line.trim().split(/\s+/).map(Number);
  return { bytes: b, tokens, seconds, mbs };
}

const rows = [];
for (const vocab of ["llama3", "qwen3", "deepseek_v3", "gemma3", "llama2"]) {
  const dir = path.join(PEERS, "node_modules", "@lenml", `tokenizer-${vocab}`, "models");
  const h = parse(execFileSync(HEARTH, ["tokenize", "--tokenizer", path.join(dir, "tokenizer.json"), "--no-add-special",
    "--bench", "3", "-f", textPath], { encoding: "utf8", maxBuffer: 1 << 28 }));
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
  let best = Infinity;
  let n = 0;
  for (let r = 0; r < 3; r++) {
    tok.model.clear_cache?.();
    const t0 = process.hrtime.bigint();
    n = tok.encode(text, { add_special_tokens: false }).length;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  rows.push([`${vocab} (tokenizer.json)`, "transformers.js", h, { tokens: n, mbs: bytes / best / 1e6 }]);
}
const vocabDir = path.join(SHARED, "testdata", "vocab");
for (const file of fs.readdirSync(vocabDir).filter((f) => f.endsWith(".gguf")).sort()) {
  const gguf = path.join(vocabDir, file);
  const h = parse(execFileSync(HEARTH, ["tokenize", "-m", gguf, "--no-special", "--bench", "3", "-f", textPath], { encoding: "utf8" }));
  const l = parse(execFileSync(HARNESS, ["tokenize-bench", gguf, textPath, "--repeat", "3"], { encoding: "utf8" }));
  rows.push([file.replace(/^ggml-vocab-|\.gguf$/g, "") + " (GGUF)", "llama.cpp", h, l]);
}
fs.rmSync(textPath);

console.log(`text: ${(bytes / 1e6).toFixed(2)} MB; best of 3, one thread\n`);
console.log("| vocabulary | reference | hearth MB/s | reference MB/s | hearth / reference | tokens (hearth = reference) |");
console.log("|---|---|---:|---:|---:|---|");
for (const [name, ref, h, r] of rows) {
  const same = h.tokens === r.tokens ? `${h.tokens} (same)` : `${h.tokens} vs ${r.tokens} DIFFER`;
  console.log(`| ${name} | ${ref} | ${h.mbs.toFixed(2)} | ${r.mbs.toFixed(2)} | ${(h.mbs / r.mbs).toFixed(2)}x | ${same} |`);
}
