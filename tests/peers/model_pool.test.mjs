// Several models in one server under --memory-budget (`hearth serve -m A -m B -m C`, or
// --models-dir), driven by the official `openai` client: requests are routed by "model", each
// answer is llama.cpp's greedy answer on that model's file (so a model unloaded and loaded again
// still answers as itself), the least recently used idle model unloads when another needs room,
// and a request in flight is never dropped to make room.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { getLlama } from "node-llama-cpp";
import OpenAI from "openai";
import { hearth, hearthBin, tmpDir } from "./lib.mjs";
import { llamaGreedyOf, metrics, post, startServer } from "./server_lib.mjs";

const dir = tmpDir("model-pool");
const NAMES = ["alpha", "beta", "gamma"];
const files = NAMES.map((n) => path.join(dir, `${n}.gguf`));
const KV_MB = 8;
const MIB = 1 << 20;
let llama;
const llamaModels = {};
const servers = [];

before(async () => {
  files.forEach((f, i) => hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", String(11 + i), "-o", f));
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  for (let i = 0; i < NAMES.length; i++) llamaModels[NAMES[i]] = await llama.loadModel({ modelPath: files[i], gpuLayers: 0 });
});
after(async () => {
  for (const s of servers) await s.stop();
  for (const m of Object.values(llamaModels)) await m.dispose();
  await llama?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

// What the pool reckons a model takes: its file plus its KV cache.
const estimate = (f) => fs.statSync(f).size + KV_MB * MIB;
const budgetFor = (n) => String(Math.floor((n * estimate(files[0]) + estimate(files[0]) / 2) / MIB));

async function serve(args) {
  const s = await startServer(files[0], ["--served-model-name", NAMES[0], "--kv-cache-mb", String(KV_MB), ...args]);
  servers.push(s);
  return { s, client: new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "x", maxRetries: 0, timeout: 120_000 }) };
}

const PROMPT = [9707, 11, 1879, 374, 264, 1273, 315, 279];

async function expectGreedy(client, name, n = 8) {
  const r = await client.completions.create({ model: name, prompt: PROMPT, max_tokens: n, temperature: 0,
    ignore_eos: true, logprobs: 1, return_tokens_as_token_ids: true });
  assert.equal(r.model, name);
  const got = r.choices[0].logprobs.tokens.map((t) => Number(/^token_id:(\d+)$/.exec(t)[1]));
  const want = (await llamaGreedyOf(llamaModels[name], PROMPT, n)).tokens;
  assert.deepEqual(got, want, `${name}: hearth's greedy tokens differ from llama.cpp's on the same file`);
}

async function loadedSet(s) {
  const list = await (await fetch(`${s.url}/v1/models`)).json();
  return Object.fromEntries(list.data.map((m) => [m.id, m.loaded]));
}

test("three models, two fit: routed by model, the least recently used idle one unloads", async () => {
  const { s, client } = await serve(["-m", files[1], "-m", files[2], "--served-model-name", NAMES[1],
    "--served-model-name", NAMES[2], "--memory-budget", budgetFor(2)]);
  // The first two -m models load at start; the third waits for its first request.
  assert.deepEqual(await loadedSet(s), { alpha: true, beta: true, gamma: false });
  assert.match(s.log(), /'gamma' will load on first use/);
  await expectGreedy(client, "beta");
  await expectGreedy(client, "alpha");  // beta is now the least recently used
  await expectGreedy(client, "gamma");
  assert.deepEqual(await loadedSet(s), { alpha: true, beta: false, gamma: true });
  await expectGreedy(client, "beta");  // back again, in alpha's place
  assert.deepEqual(await loadedSet(s), { alpha: false, beta: true, gamma: true });
  const m = await metrics(s.url);
  assert.equal(m.get('hearth_model_unloads_total{model_name="alpha"}'), 1);
  assert.equal(m.get('hearth_model_unloads_total{model_name="beta"}'), 1);
  assert.equal(m.get('hearth_model_loads_total{model_name="beta"}'), 2);
  assert.ok(m.get("hearth_models_memory_bytes") <= Number(budgetFor(2)) * MIB);
  assert.equal(m.get("hearth_memory_budget_bytes"), Number(budgetFor(2)) * MIB);
});

test("room for one model: a request for another waits for the one in flight, which is not dropped", async () => {
  const { s, client } = await serve(["-m", files[1], "--served-model-name", NAMES[1], "--memory-budget", budgetFor(1)]);
  assert.deepEqual(await loadedSet(s), { alpha: true, beta: false });
  const N = 200;
  const stream = await client.completions.create({ model: "alpha", prompt: PROMPT, max_tokens: N, temperature: 0,
    ignore_eos: true, stream: true });
  // beta is asked for once alpha's first tokens arrive: it needs alpha's room while alpha streams.
  let other = null, betaDone = 0;
  let text = "", finish = null;
  for await (const c of stream) {
    other ??= expectGreedy(client, "beta").then(() => { betaDone = Date.now(); });
    text += c.choices[0]?.text ?? "";
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  const alphaDone = Date.now();
  await other;
  const a = { text, finish };
  assert.equal(a.finish, "length");
  assert.match(s.log(), /'alpha' drains \(its requests finish, new ones wait\) to make room for 'beta'/);
  assert.ok(betaDone >= alphaDone, "beta was answered before alpha's stream ended: alpha was unloaded under it");
  const want = (await llamaGreedyOf(llamaModels.alpha, PROMPT, N)).tokens;
  const wantText = llamaModels.alpha.detokenize(want);
  assert.equal(a.text, wantText, "the in-flight stream was cut or corrupted by the switch");
  assert.deepEqual(await loadedSet(s), { alpha: false, beta: true });
  await expectGreedy(client, "alpha");  // and back
});

test("switching models back and forth gives the memory back: the server's RSS does not grow with each switch", async () => {
  const { s, client } = await serve(["-m", files[1], "--served-model-name", NAMES[1], "--memory-budget", budgetFor(1)]);
  const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${s.proc.pid}/status`, "utf8"))[1]) / 1024;
  const ask = (model) => client.completions.create({ model, prompt: PROMPT, max_tokens: 1, temperature: 0 });
  await ask("beta");
  await ask("alpha");
  const settled = rssMiB();
  for (let i = 0; i < 10; i++) await ask(i % 2 ? "alpha" : "beta");
  const after = rssMiB();
  assert.equal((await metrics(s.url)).get('hearth_model_unloads_total{model_name="alpha"}'), 6);
  // One model is ~46 MiB on disk; before freed heap pages were handed back, ten switches grew the
  // RSS by ~150 MiB.
  assert.ok(after - settled < 40, `RSS grew from ${settled.toFixed(0)} to ${after.toFixed(0)} MiB over ten switches`);
});

test("--models-dir serves every model file in it, each loading on first use", async () => {
  const { s, client } = await serve(["--models-dir", dir, "--memory-budget", budgetFor(2)]);
  // -m alpha loads at start; the directory's files are listed under their file names.
  const loaded = await loadedSet(s);
  assert.deepEqual(Object.keys(loaded).sort(), ["alpha", "beta", "gamma"]);
  assert.equal(loaded.gamma, false);
  await expectGreedy(client, "gamma");
  await expectGreedy(client, "beta");
  assert.equal((await loadedSet(s)).alpha, false);
});

test("a model larger than the whole budget is a clear 503 and the server keeps serving; as the first model, a start error", async () => {
  const big = path.join(dir, "big", "big.gguf");
  fs.mkdirSync(path.dirname(big), { recursive: true });
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "f16", "--seed", "11", "-o", big);
  assert.ok(estimate(big) > Number(budgetFor(1)) * MIB);
  const { s, client } = await serve(["-m", big, "--memory-budget", budgetFor(1)]);
  const r = await post(s.port, "/v1/completions", { model: "big", prompt: "hi", max_tokens: 1 });
  assert.equal(r.status, 503);
  assert.equal(r.json.error.code, "model_unavailable");
  assert.match(r.json.error.message, /model 'big' needs \d+ MiB, more than the whole --memory-budget of \d+ MiB/);
  await expectGreedy(client, "alpha");
  const alone = spawnSync(hearthBin(), ["serve", "-m", big, "--port", "0", "--memory-budget", budgetFor(1)],
    { encoding: "utf8", timeout: 60_000 });
  assert.equal(alone.status, 1);
  assert.match(alone.stderr, /more than the whole --memory-budget/);
});
