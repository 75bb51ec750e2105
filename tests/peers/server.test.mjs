// hearth serve driven by the official `openai` client (6.49.0), held against llama.cpp
// (node-llama-cpp 3.22.1) and @huggingface/jinja where a reference exists: greedy tokens and
// their log-probabilities, the chat prompt a request renders to. Plus what the engine must prove
// (batching counted in engine steps, prefix reuse counted in metrics) and hostile clients.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { gguf } from "@huggingface/gguf";
import { Template } from "@huggingface/jinja";
import OpenAI from "openai";
import { hearth, tmpDir } from "./lib.mjs";
import { eventually, llamaGreedyOf, metrics, post, rawRequest, serveWithLlama, startServer } from "./server_lib.mjs";

const dir = tmpDir("server");
const MODEL = path.join(dir, "qwen2.5-tiny-q8_0.gguf");
const CONTEXT = 2048;  // qwen2.5-tiny's training context
let served, server, client, llamaModel;

before(async () => {
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "3", "-o", MODEL);
  served = await serveWithLlama(MODEL, "tiny");
  ({ server, client, llamaModel } = served);
});
after(async () => {
  await served?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const llamaGreedy = (prompt, n) => llamaGreedyOf(llamaModel, prompt, n);

function idsOf(logprobs) {
  return logprobs.tokens.map((t) => Number(/^token_id:(\d+)$/.exec(t)[1]));
}

async function greedyCompletion(prompt, n, extra = {}) {
  const r = await client.completions.create({
    model: "tiny", prompt, max_tokens: n, temperature: 0, logprobs: 1, ignore_eos: true,
    return_tokens_as_token_ids: true, ...extra,
  });
  return { ids: idsOf(r.choices[0].logprobs), logprobs: r.choices[0].logprobs.token_logprobs, r };
}

test("models, health and metrics names", async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["tiny"]);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
  const m = await metrics(server.url);
  for (const name of ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
    "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds_count",
    "vllm:inter_token_latency_seconds_count", "vllm:e2e_request_latency_seconds_count", "vllm:prefix_cache_hits_total"]) {
    assert.ok(m.has(name), `metrics lack ${name}`);
  }
  const info = [...m.keys()].find((k) => k.startsWith("vllm:cache_config_info{"));
  assert.match(info, /block_size="16",num_gpu_blocks="\d+"/);
});

test("greedy completions and their logprobs equal llama.cpp's", async () => {
  const prompts = [
    llamaModel.tokenize("The capital of France is"),
    llamaModel.tokenize("def fib(n):\n    return"),
    llamaModel.tokenize("日本語のテキストと emoji 🙂 together"),
  ];
  for (const prompt of prompts) {
    const ref = await llamaGreedy(prompt, 24);
    const ours = await greedyCompletion(prompt, 24);
    assert.deepEqual(ours.ids, ref.tokens);
    for (let i = 0; i < ref.logprobs.length; i++) {
      assert.ok(Math.abs(ours.logprobs[i] - ref.logprobs[i]) < 1e-4, `logprob ${i}: ${ours.logprobs[i]} vs ${ref.logprobs[i]}`);
    }
    assert.equal(ours.r.choices[0].finish_reason, "length");
    assert.equal(ours.r.usage.prompt_tokens, prompt.length);
    assert.equal(ours.r.usage.completion_tokens, 24);
  }
});

test("a chat request's prompt is the reference template rendering, tokenized as llama.cpp does", async () => {
  const { metadata } = await gguf(MODEL, { allowLocalFile: true });
  const messages = [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Name three colours." },
    { role: "assistant", content: "Red, green, blue." },
    { role: "user", content: "And three more? 🙂" },
  ];
  const text = new Template(metadata["tokenizer.chat_template"]).render({ messages, add_generation_prompt: true });
  const ref = llamaModel.tokenize(text, true);
  const tok = await post(server.port, "/tokenize", { model: "tiny", messages });
  assert.equal(tok.status, 200, tok.text);
  assert.deepEqual(tok.json.tokens, ref);
  const r = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 3, temperature: 0 });
  assert.equal(r.usage.prompt_tokens, ref.length);
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0].message.role, "assistant");
});

test("streaming chat gives the same text as non-streaming, then usage and [DONE]", async () => {
  const req = { model: "tiny", messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 20, temperature: 0, ignore_eos: true };
  const whole = await client.chat.completions.create(req);
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let finish = null;
  let usage = null;
  let first = true;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    if (!chunk.choices.length) continue;
    if (first) assert.equal(chunk.choices[0].delta.role, "assistant");
    first = false;
    text += chunk.choices[0].delta.content ?? "";
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, "length");
  assert.deepEqual({ p: usage.prompt_tokens, c: usage.completion_tokens }, { p: whole.usage.prompt_tokens, c: 20 });
});

test("stop sequences end the text before the stop string, with finish_reason stop", async () => {
  const base = await client.completions.create({ model: "tiny", prompt: "Once upon a time", max_tokens: 40, temperature: 0, ignore_eos: true });
  const text = base.choices[0].text;
  // A stop string taken from the middle of the greedy text.
  const at = Math.floor(text.length / 2);
  const stop = text.slice(at, at + 3);
  const cut = text.indexOf(stop);
  for (const stream of [false, true]) {
    let got = "";
    let finish = null;
    if (stream) {
      for await (const c of await client.completions.create({ model: "tiny", prompt: "Once upon a time", max_tokens: 40, temperature: 0, ignore_eos: true, stop: [stop, "\u0000never"], stream: true })) {
        got += c.choices[0]?.text ?? "";
        finish = c.choices[0]?.finish_reason ?? finish;
      }
    } else {
      const r = await client.completions.create({ model: "tiny", prompt: "Once upon a time", max_tokens: 40, temperature: 0, ignore_eos: true, stop: [stop, "\u0000never"] });
      got = r.choices[0].text;
      finish = r.choices[0].finish_reason;
    }
    assert.equal(got, text.slice(0, cut), `stream=${stream} stop=${JSON.stringify(stop)}`);
    assert.equal(finish, "stop");
  }
});

test("chat logprobs: top_logprobs sorted, the greedy token first, bytes match the token", async () => {
  const r = await client.chat.completions.create({
    model: "tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, ignore_eos: true,
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 6);
  for (const e of content) {
    assert.equal(e.top_logprobs.length, 3);
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs[0].logprob, e.logprob);
    for (let i = 1; i < 3; i++) assert.ok(e.top_logprobs[i].logprob <= e.top_logprobs[i - 1].logprob);
    assert.ok(Array.isArray(e.bytes));
  }
});

test("sampling: the same seed gives the same text, n gives n choices", async () => {
  const req = { model: "tiny", prompt: "Random words:", max_tokens: 12, temperature: 1.0, top_p: 0.9, seed: 1234, n: 3 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.choices.length, 3);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  assert.deepEqual(a.choices.map((c) => c.index).sort(), [0, 1, 2]);
  assert.equal(a.usage.completion_tokens, b.usage.completion_tokens);
});

test("batching is real: 8 concurrent requests share engine steps and give the same greedy tokens", async () => {
  const prompts = Array.from({ length: 8 }, (_, i) => llamaModel.tokenize(`Prompt number ${i}: ${"word ".repeat(i * 3)}`));
  const N = 16;
  const alone = [];
  const s0 = (await metrics(server.url)).get("hearth_engine_steps_total");
  for (const p of prompts.slice(0, 1)) alone.push((await greedyCompletion(p, N)).ids);
  const s1 = (await metrics(server.url)).get("hearth_engine_steps_total");
  for (const p of prompts.slice(1)) alone.push((await greedyCompletion(p, N)).ids);
  const s2 = (await metrics(server.url)).get("hearth_engine_steps_total");
  const together = await Promise.all(prompts.map((p) => greedyCompletion(p, N)));
  const s3 = (await metrics(server.url)).get("hearth_engine_steps_total");
  for (let i = 0; i < prompts.length; i++) assert.deepEqual(together[i].ids, alone[i], `request ${i}`);
  const single = s1 - s0;
  const concurrent = s3 - s2;
  assert.equal(single, N, "one request takes one step per token");
  assert.ok(s2 - s1 >= 7 * N);
  assert.ok(concurrent < 2 * single, `8 concurrent requests took ${concurrent} steps; one alone takes ${single}`);
});

test("--spec ngram: drafts checked in the decode run, greedy tokens still llama.cpp's, alone and 4 at once", async () => {
  const spec = await startServer(MODEL, ["--served-model-name", "tiny", "--spec", "ngram"]);
  try {
    const specClient = new OpenAI({ baseURL: `${spec.url}/v1`, apiKey: "x", maxRetries: 0 });
    const prompts = [0, 1, 2, 3].map((i) => llamaModel.tokenize(`${"one two three four five. ".repeat(3 + i)}one two`));
    const N = 32;
    const ref = [];
    for (const p of prompts) ref.push((await llamaGreedy(p, N)).tokens);
    const completion = async (p) => idsOf((await specClient.completions.create({
      model: "tiny", prompt: p, max_tokens: N, temperature: 0, logprobs: 1, ignore_eos: true,
      return_tokens_as_token_ids: true })).choices[0].logprobs);
    assert.deepEqual(await completion(prompts[0]), ref[0]);
    const together = await Promise.all(prompts.map(completion));
    for (let i = 0; i < prompts.length; i++) assert.deepEqual(together[i], ref[i], `request ${i}`);
    const m = await metrics(spec.url);
    const drafted = m.get("vllm:spec_decode_num_draft_tokens_total");
    const accepted = m.get("vllm:spec_decode_num_accepted_tokens_total");
    console.log(`# --spec ngram: ${accepted} of ${drafted} drafts accepted over ${5 * N} tokens`);
    assert.ok(accepted > 0, `no draft was accepted (${drafted} drafted)`);
  } finally {
    await spec.stop();
  }
});

test("prefix cache: a second request sharing a 1000-token prefix skips its prefill", async () => {
  const prefix = Array.from({ length: 1000 }, (_, i) => 1000 + ((i * 7919) % 50000));
  const before = await metrics(server.url);
  const a = await client.completions.create({ model: "tiny", prompt: [...prefix, 11, 12], max_tokens: 2, temperature: 0 });
  const mid = await metrics(server.url);
  const b = await client.completions.create({ model: "tiny", prompt: [...prefix, 13, 14, 15], max_tokens: 2, temperature: 0 });
  const end = await metrics(server.url);
  assert.equal(a.usage.prompt_tokens_details.cached_tokens, 0);
  assert.equal(b.usage.prompt_tokens_details.cached_tokens, 992);  // 62 full blocks of 16
  assert.equal(mid.get("vllm:prefix_cache_hits_total") - before.get("vllm:prefix_cache_hits_total"), 0);
  assert.equal(end.get("vllm:prefix_cache_hits_total") - mid.get("vllm:prefix_cache_hits_total"), 992);
  // Only the uncached tail went through the engine.
  assert.ok(end.get("hearth_batched_tokens_total") - mid.get("hearth_batched_tokens_total") <= 1003 - 992 + 2);
});

test("errors surface as the client's error types", async () => {
  await assert.rejects(client.completions.create({ model: "tiny", prompt: "x", temperature: 5 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, "temperature");
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: "gpt-9", messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found");
  await assert.rejects(client.completions.create({ model: "tiny", prompt: "x", max_tokens: CONTEXT * 4 }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === "context_length_exceeded");
  // A prompt of 10x the context.
  await assert.rejects(client.completions.create({ model: "tiny", prompt: "hello ".repeat(CONTEXT * 10), max_tokens: 1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === "context_length_exceeded");
  await assert.rejects(client.chat.completions.create({ model: "tiny", messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "messages");
});

// 100 malformed requests of different kinds: each gets its 4xx in OpenAI's error shape, and the
// server answers /health after every one.
test("hostile requests get the right errors and the server stays up", async () => {
  const chat = (extra) => JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1, ...extra });
  const cmpl = (extra) => JSON.stringify({ model: "tiny", prompt: "hi", max_tokens: 1, ...extra });
  const cases = [];
  const bodyCase = (p, body, status) => cases.push({ path: p, body, status });
  // Not JSON, not UTF-8, not an object, too deep.
  for (const b of ["", "{", "}", "[1,2", "nul", "{\"a\":}", "{'a':1}", "\"str\"", "[]", "42", "null", "true",
    "{\"messages\": [}", "\u0000", "{\"a\":1}garbage"]) bodyCase("/v1/chat/completions", b, 400);
  bodyCase("/v1/completions", Buffer.from([0x7b, 0x22, 0x70, 0x72, 0x6f, 0x6d, 0x70, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 400);
  bodyCase("/v1/completions", Buffer.from('{"prompt":"\xc3\x28"}', "latin1"), 400);
  bodyCase("/v1/completions", Buffer.from('{"prompt":"\xed\xa0\x80"}', "latin1"), 400);
  bodyCase("/v1/chat/completions", "[".repeat(100000), 400);
  bodyCase("/v1/chat/completions", `{"a":${"[".repeat(5000)}`, 400);
  // Wrong fields and values (chat).
  for (const extra of [
    { messages: "hi" }, { messages: [] }, { messages: [1] }, { messages: [{ content: "x" }] }, { messages: [{ role: 1, content: "x" }] },
    { messages: [{ role: "user", content: 5 }] }, { messages: [{ role: "user", content: [{ type: "image_url" }] }] },
    { temperature: -1 }, { temperature: "hot" }, { temperature: 2.5 }, { top_p: 0 }, { top_p: 1.5 }, { top_k: -5 }, { min_p: 2 },
    { presence_penalty: 3 }, { frequency_penalty: -3 }, { max_tokens: 0 }, { max_tokens: -1 }, { max_tokens: 1.5 }, { max_tokens: "10" },
    { max_tokens: 1e30 }, { max_completion_tokens: 0 }, { n: 0 }, { n: 1000 }, { n: "2" }, { seed: "s" }, { seed: 1.5 },
    { stop: 5 }, { stop: [1] }, { stop: [""] }, { stop: Array(20).fill("x") }, { stream: "yes" }, { stream_options: { include_usage: true } },
    { stream: true, stream_options: 5 }, { logprobs: "yes" }, { top_logprobs: 3 }, { logprobs: true, top_logprobs: 50 },
    { logit_bias: 5 }, { logit_bias: { abc: 1 } }, { logit_bias: { "-1": 1 } }, { logit_bias: { 99999999: 1 } }, { logit_bias: { 5: 500 } },
    { logit_bias: { 5: "x" } }, { tools: "x" }, { chat_template_kwargs: 3 }, { model: 5 }, { ignore_eos: 1 }, { repetition_penalty: 0 },
  ]) bodyCase("/v1/chat/completions", chat(extra), 400);
  // Wrong fields and values (completions).
  for (const extra of [
    { prompt: null }, { prompt: 5 }, { prompt: [] }, { prompt: [1.5] }, { prompt: [-1] }, { prompt: [99999999] }, { prompt: [[1], "x", 3] },
    { prompt: {} }, { prompt: "" }, { suffix: "x" }, { logprobs: 50 }, { logprobs: -1 }, { echo: "yes" }, { best_of: 3 }, { echo: true, logprobs: 1 },
  ]) bodyCase("/v1/completions", cmpl(extra), 400);
  bodyCase("/v1/completions", cmpl({ model: "other" }), 404);
  bodyCase("/v1/chat/completions", chat({ model: "nope" }), 404);
  bodyCase("/tokenize", "{}", 400);
  bodyCase("/tokenize", JSON.stringify({ prompt: 5 }), 400);
  bodyCase("/detokenize", JSON.stringify({ tokens: "x" }), 400);
  bodyCase("/detokenize", JSON.stringify({ tokens: [-5] }), 400);
  bodyCase("/detokenize", JSON.stringify({ tokens: [1e12] }), 400);
  bodyCase("/v1/embeddings", JSON.stringify({ input: "a" }), 400);  // a generator: no pooling, no embeddings
  bodyCase("/v1/chat", "{}", 404);
  bodyCase("/nothing", "{}", 404);
  // Raw protocol abuse.
  const raws = [
    ["GARBAGE\r\n\r\n", 400],
    ["GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404],
    ["DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405],
    ["DELETE /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 405],
    ["GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", 405],
    ["POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405],
    [`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100000)}\r\n\r\n`, 431],
    ["POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400],
    ["POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ["POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n", 413],
  ];
  let n = 0;
  for (const c of cases) {
    const r = await post(server.port, c.path, c.body);
    assert.equal(r.status, c.status, `${c.path} ${String(c.body).slice(0, 80)} -> ${r.status} ${r.text.slice(0, 200)}`);
    assert.equal(typeof r.json?.error?.message, "string", `error shape for ${String(c.body).slice(0, 80)}`);
    assert.ok("type" in r.json.error && "param" in r.json.error && "code" in r.json.error);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    n++;
  }
  for (const [bytes, status] of raws) {
    const r = await rawRequest(server.port, bytes);
    assert.equal(r.status, status, `${bytes.slice(0, 60)} -> ${r.text.slice(0, 200)}`);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    n++;
  }
  assert.ok(n >= 100, `only ${n} hostile cases`);
});

test("a 100 MB body is refused with 413", async () => {
  const status = await new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: server.port, path: "/v1/completions", method: "POST",
      headers: { "content-type": "application/json", "content-length": 100 * 1024 * 1024 } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("error", reject);
    const chunk = Buffer.alloc(1 << 20, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < 100 && req.write(chunk)) sent++;
      if (sent < 100) req.once("drain", pump);
      else req.end();
    };
    pump();
  });
  assert.equal(status, 413);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
});

test("64 clients that disconnect mid-stream have their sequences cancelled and blocks freed", async () => {
  const body = JSON.stringify({ model: "tiny", prompt: "Count with me:", max_tokens: 400, ignore_eos: true, stream: true });
  await Promise.all(Array.from({ length: 64 }, () => new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port: server.port, path: "/v1/completions", method: "POST",
      headers: { "content-type": "application/json" } }, (res) => {
      res.once("data", () => {
        req.destroy();
        resolve();
      });
    });
    req.on("error", () => resolve());
    req.end(body);
  })));
  await eventually(async () => {
    const m = await metrics(server.url);
    return m.get("vllm:num_requests_running") === 0 && m.get("vllm:num_requests_waiting") === 0 &&
      m.get("hearth_kv_blocks_in_use") === 0 && m.get("vllm:kv_cache_usage_perc") === 0;
  }, 30_000, "all sequences cancelled and KV blocks freed");
  const m = await metrics(server.url);
  assert.ok(m.get('vllm:request_success_total{model_name="tiny",finished_reason="abort"}') >= 64);
  assert.ok(m.get("vllm:generation_tokens_total") < 64 * 400 / 2, "cancelled sequences kept generating");
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
});

test("2000 idle connections cost no thread: the server keeps answering", async () => {
  const net = await import("node:net");
  let connected = 0;
  const sockets = await Promise.all(Array.from({ length: 2000 }, () => new Promise((resolve) => {
    const s = net.connect(server.port, "127.0.0.1", () => {
      connected++;
      resolve(s);
    });
    s.on("error", () => resolve(s));
  })));
  try {
    assert.equal(connected, 2000);
    const r = await client.completions.create({ model: "tiny", prompt: "still here?", max_tokens: 3, temperature: 0 });
    assert.equal(r.usage.completion_tokens, 3);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  } finally {
    for (const s of sockets) s.destroy();
  }
});

test("API keys: wrong or missing key is 401 (AuthenticationError), health and metrics stay open", async () => {
  const s = await startServer(MODEL, ["--api-key", "k1", "--api-key", "k2-longer"]);
  try {
    const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "k3", maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
    const missing = await post(s.port, "/v1/completions", { prompt: "x" });
    assert.equal(missing.status, 401);
    for (const key of ["k1", "k2-longer"]) {
      const good = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: key, maxRetries: 0 });
      assert.equal((await good.models.list()).data.length, 1);
    }
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
    assert.equal((await fetch(`${s.url}/metrics`)).status, 200);
  } finally {
    await s.stop();
  }
});

test("a request that runs past --request-timeout gets 504 and its sequence is cancelled", async () => {
  const s = await startServer(MODEL, ["--request-timeout", "0.5"]);
  try {
    const r = await post(s.port, "/v1/completions", { prompt: "Go:", max_tokens: 1800, ignore_eos: true });
    assert.equal(r.status, 504);
    assert.equal(r.json.error.code, "timeout");
    await eventually(async () => {
      const m = await metrics(s.url);
      return m.get("vllm:num_requests_running") === 0 && m.get("hearth_kv_blocks_in_use") === 0;
    }, 10_000, "the timed-out sequence to be cancelled");
  } finally {
    await s.stop();
  }
});

test("a full queue answers 503 with Retry-After; SIGTERM finishes in-flight requests and exits 0", async () => {
  const s = await startServer(MODEL, ["--max-running", "1", "--max-waiting", "1", "--shutdown-grace", "30"]);
  const c = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "x", maxRetries: 0 });
  // Long enough that the first is still running while the others arrive (a few seconds on a
  // fast machine: the tiny model decodes in about a millisecond per token).
  const long = { model: MODEL, prompt: "Go on:", max_tokens: 1500, ignore_eos: true, temperature: 0 };
  const first = c.completions.create(long);
  await eventually(async () => (await metrics(s.url)).get("vllm:num_requests_running") === 1, 10_000, "first running");
  const second = c.completions.create(long);
  await eventually(async () => (await metrics(s.url)).get("vllm:num_requests_waiting") === 1, 10_000, "second queued");
  const third = await post(s.port, "/v1/completions", long);
  assert.equal(third.status, 503);
  assert.equal(third.headers["retry-after"], "1");
  assert.equal(third.json.error.code, "overloaded");
  const status = s.stop();  // SIGTERM while two requests are in flight
  const [a, b] = await Promise.all([first, second]);
  assert.equal(a.usage.completion_tokens, 1500);
  assert.equal(b.usage.completion_tokens, 1500);
  assert.deepEqual(await status, { code: 0, signal: null });
});
