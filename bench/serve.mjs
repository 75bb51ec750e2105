#!/usr/bin/env node
// Load generator for any OpenAI-compatible /v1/completions endpoint (hearth, vLLM, llama-server,
// SGLang), measuring what vLLM's serving benchmark measures: TTFT, TPOT, ITL (p50/p90/p99), and
// request and token throughput, at each given concurrency.
//
//   node bench/serve.mjs --base-url http://127.0.0.1:8080 --model NAME \
//        --concurrency 1,4,16,64 --input-len 128 --output-len 64 [--num-prompts N] [--vocab-max 30000]
//        [--api-key KEY] [--jsonl FILE]
//
// Prompts are random token ids (the same seed every run), sent as token arrays so every server
// sees exactly input-len tokens; `ignore_eos` keeps outputs at output-len. Only streaming
// requests are timed (TTFT needs them).
import fs from "node:fs";

function parseArgs(argv) {
  const a = { baseUrl: "http://127.0.0.1:8080", model: "", concurrency: [1, 4, 16, 64], inputLen: 128, outputLen: 64,
    numPrompts: 0, vocabMax: 30000, apiKey: process.env.OPENAI_API_KEY ?? "x", jsonl: "", seed: 1 };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (k === "--base-url") a.baseUrl = v;
    else if (k === "--model") a.model = v;
    else if (k === "--concurrency") a.concurrency = v.split(",").map(Number);
    else if (k === "--input-len") a.inputLen = Number(v);
    else if (k === "--output-len") a.outputLen = Number(v);
    else if (k === "--num-prompts") a.numPrompts = Number(v);
    else if (k === "--vocab-max") a.vocabMax = Number(v);
    else if (k === "--api-key") a.apiKey = v;
    else if (k === "--jsonl") a.jsonl = v;
    else if (k === "--seed") a.seed = Number(v);
    else throw new Error(`unknown option ${k}`);
  }
  return a;
}

// Deterministic prompts (mulberry32), distinct per request so no prefix is shared.
function makePrompts(n, len, vocabMax, seed) {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => Array.from({ length: len }, () => 100 + Math.floor(rand() * (vocabMax - 100))));
}

async function oneRequest(a, prompt) {
  const t0 = performance.now();
  const res = await fetch(`${a.baseUrl}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${a.apiKey}` },
    body: JSON.stringify({ model: a.model, prompt, max_tokens: a.outputLen, temperature: 0, ignore_eos: true,
      stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buf = "";
  let ttft = null;
  let last = null;
  const itl = [];
  let outputTokens = 0;
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk, { stream: true });
    let at;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const data = JSON.parse(event.slice(6));
      if (data.usage) outputTokens = data.usage.completion_tokens;
      if (!data.choices?.length || !data.choices[0].text) continue;
      const now = performance.now();
      if (ttft === null) ttft = now - t0;
      else itl.push(now - last);
      last = now;
    }
  }
  const e2e = performance.now() - t0;
  return { ttft, itl, e2e, outputTokens, tpot: outputTokens > 1 ? (e2e - ttft) / (outputTokens - 1) : 0 };
}

function pct(values, p) {
  if (!values.length) return NaN;
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const mean = (v) => v.reduce((x, y) => x + y, 0) / Math.max(v.length, 1);

async function runLevel(a, concurrency) {
  const n = a.numPrompts || Math.max(2 * concurrency, 8);
  const prompts = makePrompts(n, a.inputLen, a.vocabMax, a.seed + concurrency);
  await oneRequest(a, prompts[0].slice(0, 8));  // warm-up
  const results = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      results.push(await oneRequest(a, prompts[i]));
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const out = results.reduce((x, r) => x + r.outputTokens, 0);
  const ttft = results.map((r) => r.ttft);
  const tpot = results.map((r) => r.tpot);
  const itl = results.flatMap((r) => r.itl);
  const e2e = results.map((r) => r.e2e);
  return {
    concurrency, requests: n, input_len: a.inputLen, output_len: a.outputLen, duration_s: seconds,
    request_throughput: n / seconds, output_token_throughput: out / seconds,
    total_token_throughput: (out + n * a.inputLen) / seconds,
    ttft_ms: { mean: mean(ttft), p50: pct(ttft, 50), p90: pct(ttft, 90), p99: pct(ttft, 99) },
    tpot_ms: { mean: mean(tpot), p50: pct(tpot, 50), p90: pct(tpot, 90), p99: pct(tpot, 99) },
    itl_ms: { mean: mean(itl), p50: pct(itl, 50), p90: pct(itl, 90), p99: pct(itl, 99) },
    e2e_ms: { mean: mean(e2e), p50: pct(e2e, 50), p90: pct(e2e, 90), p99: pct(e2e, 99) },
  };
}

const a = parseArgs(process.argv);
if (!a.model) {
  const models = await (await fetch(`${a.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${a.apiKey}` } })).json();
  a.model = models.data[0].id;
}
const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : "-");
console.log(`| concurrency | requests | req/s | out tok/s | TTFT p50/p90/p99 ms | TPOT p50/p90/p99 ms | ITL p50/p90/p99 ms |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const c of a.concurrency) {
  const r = await runLevel(a, c);
  console.log(`| ${c} | ${r.requests} | ${r.request_throughput.toFixed(2)} | ${f(r.output_token_throughput)} | ` +
    `${f(r.ttft_ms.p50)} / ${f(r.ttft_ms.p90)} / ${f(r.ttft_ms.p99)} | ${f(r.tpot_ms.p50)} / ${f(r.tpot_ms.p90)} / ${f(r.tpot_ms.p99)} | ` +
    `${f(r.itl_ms.p50)} / ${f(r.itl_ms.p90)} / ${f(r.itl_ms.p99)} |`);
  if (a.jsonl) fs.appendFileSync(a.jsonl, JSON.stringify({ model: a.model, ...r }) + "\n");
}
