#!/usr/bin/env node
// Throughput of any OpenAI-compatible POST /v1/embeddings (hearth, llama-server --embeddings,
// vLLM): inputs per second when each request carries `batch` inputs, requests one after another.
//
//   node bench/embeddings.mjs --base-url http://127.0.0.1:8080 [--model NAME] [--batch 1,32]
//        [--input-len 128] [--inputs 64] [--vocab-max 30000]
//
// Inputs are random token ids (the same seed every run, distinct per input so no prefix is
// shared), sent as token arrays so every server embeds exactly input-len tokens. One warm-up
// request first. Prints one JSON line per batch size.
function parseArgs(argv) {
  const a = { baseUrl: "http://127.0.0.1:8080", model: "", batch: [1, 32], inputLen: 128, inputs: 64, vocabMax: 30000 };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (k === "--base-url") a.baseUrl = v;
    else if (k === "--model") a.model = v;
    else if (k === "--batch") a.batch = v.split(",").map(Number);
    else if (k === "--input-len") a.inputLen = Number(v);
    else if (k === "--inputs") a.inputs = Number(v);
    else if (k === "--vocab-max") a.vocabMax = Number(v);
    else throw new Error(`unknown option ${k}`);
  }
  return a;
}

function makeInputs(n, len, vocabMax, seed) {
  let s = seed >>> 0;
  const rand = () => {  // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => Array.from({ length: len }, () => 100 + Math.floor(rand() * (a.vocabMax - 100))));
}

async function embed(input) {
  const body = { input, encoding_format: "float" };
  if (a.model) body.model = a.model;
  const res = await fetch(`${a.baseUrl}/v1/embeddings`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const j = await res.json();
  if (j.data.length !== input.length) throw new Error(`asked ${input.length} embeddings, got ${j.data.length}`);
}

const a = parseArgs(process.argv);
await embed(makeInputs(1, a.inputLen, a.vocabMax, 999));
for (const batch of a.batch) {
  const inputs = makeInputs(a.inputs, a.inputLen, a.vocabMax, 1 + batch);
  const t0 = performance.now();
  for (let i = 0; i < inputs.length; i += batch) await embed(inputs.slice(i, i + batch));
  const s = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ batch, input_len: a.inputLen, inputs: inputs.length, seconds: +s.toFixed(3),
                               inputs_per_s: +(inputs.length / s).toFixed(2) }));
}
