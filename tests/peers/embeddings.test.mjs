// Embeddings and reranking against llama.cpp: a decoder embedding model (Qwen3-Embedding's shape: qwen3 with
// the last token's final hidden state as the embedding and <|endoftext|> appended to every input)
// pooled by `hearth embed` and by `/v1/embeddings` through the official openai client, held
// against llama.cpp's own tokenizer, forward pass and pooling (`llama-harness embed`: a context
// with embeddings on and the file's pooling type, as llama-embedding runs it). The bar is cosine
// >= 0.9999 per embedding; Q8_0 matches to the bit. Also: OpenAI's request shapes (strings, lists,
// token ids, base64, Matryoshka `dimensions`), batching (an input's embedding does not depend on
// what it is batched with, generation included) and the errors a client must get. A reranker
// (Qwen3-Reranker's shape: the last token's state through a "yes"/"no" head and a softmax, its
// prompt from the file's rerank template) scores documents through /v1/rerank as llama.cpp does.
// BERT encoders (bge-small's shape: bidirectional attention, learned positions, LayerNorms, the
// [CLS] state as the embedding, over BERT's WordPiece vocabulary; nomic-bert's: rope and SwiGLU,
// mean pooling) are held to llama.cpp the same way, and a BERT cross-encoder's rerank scores.
// EmbeddingGemma (Gemma 3's layers attending both ways, windows centred on each token, then the
// Dense modules after mean pooling) too, with inputs longer than its window.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { bundleVocabDir, harness, hearth, tmpDir } from "./lib.mjs";
import { startServer } from "./server_lib.mjs";

const dir = tmpDir("embeddings");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const TEXTS = [
  "The quick brown fox jumps over the lazy dog",
  "hello",
  "Embeddings map text to vectors; similar texts land close together.",
  "def add(a, b):\n    return a + b\n",
  "Ünïcödé, 日本語のテキスト, and emoji 🙂 in one input",
  "<|endoftext|> spelled out in the text",
];

// `hearth serve` on `model` for the length of fn(server), stopped whatever fn does.
async function withServer(model, args, fn) {
  const server = await startServer(model, args);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

const readF32 = (file) => {
  const b = fs.readFileSync(file);
  return Array.from(new Float32Array(b.buffer, b.byteOffset, b.length / 4));
};
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a) => Math.sqrt(dot(a, a));
const cosine = (a, b) => dot(a, b) / (norm(a) * norm(b));
const maxAbs = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const unit = (a) => { const n = norm(a); return a.map((x) => x / n); };

// llama.cpp's pooled embedding of `text`, tokenized by llama.cpp (special tokens added).
function llamaEmbedding(model, text) {
  const out = path.join(dir, "ref.f32");
  harness("embed", model, "--text", text, "-o", out);
  return readF32(out);
}

describe("hearth embed against llama.cpp", () => {
  for (const [type, exact] of [["f16", false], ["q8_0", true], ["Q4_K_M", false]]) {
    test(`qwen3-embedding-tiny ${type}: cosine >= 0.9999 per input${exact ? ", bit-identical" : ""}`, () => {
      const model = path.join(dir, `qwen3-embedding-tiny-${type}.gguf`);
      hearth("mkmodel", "--preset", "qwen3-embedding-tiny", "--type", type, "--seed", "3", "-o", model);
      const out = path.join(dir, "ours.f32");
      hearth("embed", "-m", model, ...TEXTS.flatMap((t) => ["-p", t]), "--normalize", "-1", "-o", out);
      const ours = readF32(out);
      const n = ours.length / TEXTS.length;
      assert.equal(n, 256);
      let worst = 1, worstAbs = 0;
      TEXTS.forEach((text, i) => {
        const ref = llamaEmbedding(model, text);
        const mine = ours.slice(i * n, (i + 1) * n);
        const c = cosine(mine, ref);
        worst = Math.min(worst, c);
        worstAbs = Math.max(worstAbs, maxAbs(mine, ref));
        assert.ok(c >= 0.9999, `${type} "${text}": cosine ${c}`);
        if (exact) assert.deepEqual(mine, ref, `${type} "${text}": not bit-identical`);
      });
      console.log(`qwen3-embedding-tiny ${type}: worst cosine ${worst}, max |diff| ${worstAbs.toExponential(2)}`);
    });
  }
});

// A tiny bge-small-shaped BERT in `type`, over the BERT vocabulary of llama.cpp's sources.
function bertModel(type, seed = 3, preset = "bge-small-tiny") {
  const model = path.join(dir, `${preset}-${type}-${seed}.gguf`);
  if (!fs.existsSync(model))
    hearth("mkmodel", "--preset", preset, "--vocab-dir", bundleVocabDir(), "--type", type, "--seed",
           String(seed), "-o", model);
  return model;
}

// Every text above plus one of 497 WordPiece tokens (the context is 512).
const BERT_TEXTS = [...TEXTS, "lorem ipsum dolor sit amet ".repeat(55).trim()];

describe("Encoders (bge-small-tiny, nomic-bert-tiny, bge-m3-tiny, embeddinggemma-tiny) against llama.cpp", () => {
  // bge: learned positions, a GELU FFN, [CLS] pooling; nomic-bert: rope, fused QKV, SwiGLU, mean
  // pooling; bge-m3: XLM-RoBERTa's Unigram vocabulary (<s> text </s>) under a BERT;
  // embeddinggemma: a 16-token symmetric window on five layers of six, two rope bases, Dense modules.
  const cases = [["bge-small-tiny", ["f16", "q8_0", "Q4_K_M"]], ["nomic-bert-tiny", ["f16", "q8_0", "Q4_K_M"]],
                 ["bge-m3-tiny", ["q8_0"]], ["embeddinggemma-tiny", ["f16", "q8_0"]]];
  for (const [preset, types] of cases) {
    for (const type of types) {
      test(`${preset}: hearth embed ${type}: cosine >= 0.9999 per input`, () => {
        const model = bertModel(type, 3, preset);
        const out = path.join(dir, "bert.f32");
        hearth("embed", "-m", model, ...BERT_TEXTS.flatMap((t) => ["-p", t]), "--normalize", "-1", "-o", out);
        const ours = readF32(out);
        const n = ours.length / BERT_TEXTS.length;
        assert.equal(n, 256);
        let worst = 1, worstAbs = 0;
        BERT_TEXTS.forEach((text, i) => {
          const mine = ours.slice(i * n, (i + 1) * n), ref = llamaEmbedding(model, text);
          const c = cosine(mine, ref);
          worst = Math.min(worst, c);
          worstAbs = Math.max(worstAbs, maxAbs(mine, ref));
          assert.ok(c >= 0.9999, `${type} "${text.slice(0, 40)}": cosine ${c}`);
        });
        console.log(`${preset} ${type}: worst cosine ${worst}, max |diff| ${worstAbs.toExponential(2)}`);
      });
    }
  }

  test("/v1/embeddings: llama.cpp's vectors, batched as alone, the 512-token context, and no generation", async () => {
    const model = bertModel("q8_0");
    await withServer(model, ["--served-model-name", "bge"], async (server) => {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
      const r = await client.embeddings.create({ model: "bge", input: BERT_TEXTS });
      assert.equal(r.data.length, BERT_TEXTS.length);
      BERT_TEXTS.forEach((text, i) => {
        const mine = r.data[i].embedding;
        assert.ok(Math.abs(norm(mine) - 1) < 1e-5);
        const c = cosine(mine, llamaEmbedding(model, text));
        assert.ok(c >= 0.9999, `"${text.slice(0, 40)}": cosine ${c}`);
      });
      // Each input's vector is the same bits alone as among 32 others (encoder sequences share a
      // pass but attend only to themselves).
      const inputs = Array.from({ length: 32 }, (_, i) => `${"more ".repeat(i % 9)}${BERT_TEXTS[i % BERT_TEXTS.length]}`);
      const batched = await client.embeddings.create({ model: "bge", input: inputs, encoding_format: "float" });
      for (const i of [0, 5, 6, 13, 31]) {
        const alone = await client.embeddings.create({ model: "bge", input: inputs[i], encoding_format: "float" });
        assert.deepEqual(batched.data[i].embedding, alone.data[0].embedding, `input ${i}`);
      }
      // Token ids: exactly the context fits, one more is a 400.
      const full = await client.embeddings.create({ model: "bge", input: Array(512).fill(7592), encoding_format: "float" });
      assert.equal(full.data[0].embedding.length, 256);
      await assert.rejects(client.embeddings.create({ model: "bge", input: Array(513).fill(7592) }),
                           (e) => e.status === 400 && /context/.test(e.message));
      // An encoder generates nothing: chat and completions are 400s that say why.
      await assert.rejects(client.chat.completions.create({ model: "bge", messages: [{ role: "user", content: "hi" }] }),
                           (e) => e.status === 400 && /encoder/.test(e.message));
      await assert.rejects(client.completions.create({ model: "bge", prompt: "hi" }),
                           (e) => e.status === 400 && /encoder/.test(e.message));
      const ok = await client.embeddings.create({ model: "bge", input: "still up", encoding_format: "float" });
      assert.equal(ok.data[0].embedding.length, 256);
    });
  });

  test("/v1/embeddings on EmbeddingGemma: the Dense modules applied after pooling, as llama.cpp", async () => {
    const model = bertModel("q8_0", 5, "embeddinggemma-tiny");
    await withServer(model, ["--served-model-name", "eg"], async (server) => {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
      const r = await client.embeddings.create({ model: "eg", input: BERT_TEXTS, encoding_format: "float" });
      BERT_TEXTS.forEach((text, i) => {
        const c = cosine(r.data[i].embedding, llamaEmbedding(model, text));
        assert.ok(c >= 0.9999, `"${text.slice(0, 40)}": cosine ${c}`);
      });
    });
  });
});

describe("/v1/embeddings (openai client)", () => {
  const MODEL = path.join(dir, "serve-q8_0.gguf");
  let server, client;

  before(async () => {
    hearth("mkmodel", "--preset", "qwen3-embedding-tiny", "--type", "q8_0", "--seed", "4", "-o", MODEL);
    server = await startServer(MODEL, ["--served-model-name", "emb"]);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  });
  after(async () => server?.stop());

  test("embeddings.create equals llama.cpp's pooled vectors, normalised, with usage", async () => {
    // The client asks for base64 by default and decodes it.
    const r = await client.embeddings.create({ model: "emb", input: TEXTS });
    assert.equal(r.object, "list");
    assert.equal(r.model, "emb");
    assert.equal(r.data.length, TEXTS.length);
    let tokens = 0;
    for (let i = 0; i < TEXTS.length; i++) {
      assert.equal(r.data[i].index, i);
      assert.equal(r.data[i].object, "embedding");
      const ref = unit(llamaEmbedding(MODEL, TEXTS[i]));
      const mine = r.data[i].embedding;
      assert.ok(Math.abs(norm(mine) - 1) < 1e-5, `norm ${norm(mine)}`);
      assert.ok(maxAbs(mine, ref) < 1e-6, `"${TEXTS[i]}": max |diff| ${maxAbs(mine, ref)} from llama.cpp's`);
      tokens += (await (await fetch(`${server.url}/tokenize`, {
        method: "POST", body: JSON.stringify({ prompt: TEXTS[i] }),
      })).json()).count;
    }
    assert.equal(r.usage.prompt_tokens, tokens);
    assert.equal(r.usage.total_tokens, tokens);
  });

  test("float and base64 encodings, a string and token ids give the same vector", async () => {
    const text = TEXTS[0];
    const f = await client.embeddings.create({ model: "emb", input: text, encoding_format: "float" });
    // Asked for explicitly, base64 comes back as sent: little-endian float32 of the same numbers.
    const b = await client.embeddings.create({ model: "emb", input: [text], encoding_format: "base64" });
    const buf = Buffer.from(b.data[0].embedding, "base64");
    assert.deepEqual(Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4)), f.data[0].embedding);
    const ids = (await (await fetch(`${server.url}/tokenize`, {
      method: "POST", body: JSON.stringify({ prompt: text }),
    })).json()).tokens;
    const t = await client.embeddings.create({ model: "emb", input: ids, encoding_format: "float" });
    const tt = await client.embeddings.create({ model: "emb", input: [ids, ids], encoding_format: "float" });
    assert.deepEqual(t.data[0].embedding, f.data[0].embedding);
    assert.deepEqual(tt.data[1].embedding, f.data[0].embedding);
  });

  test("dimensions truncates to the leading components and normalises again", async () => {
    const full = (await client.embeddings.create({ model: "emb", input: TEXTS[2], encoding_format: "float" })).data[0].embedding;
    const cut = (await client.embeddings.create({ model: "emb", input: TEXTS[2], dimensions: 64, encoding_format: "float" })).data[0].embedding;
    assert.equal(cut.length, 64);
    assert.ok(Math.abs(norm(cut) - 1) < 1e-5);
    assert.ok(maxAbs(cut, unit(full.slice(0, 64))) < 1e-6);
  });

  test("32 inputs at once, and beside generation, give what each gives alone", async () => {
    const inputs = Array.from({ length: 32 }, (_, i) => `input ${i}: ${"word ".repeat(i % 7)}${TEXTS[i % TEXTS.length]}`);
    const alone = [];
    for (const input of inputs.slice(0, 8))
      alone.push((await client.embeddings.create({ model: "emb", input, encoding_format: "float" })).data[0].embedding);
    const [batched, gen] = await Promise.all([
      client.embeddings.create({ model: "emb", input: inputs, encoding_format: "float" }),
      client.completions.create({ model: "emb", prompt: "Once upon a time", max_tokens: 24, temperature: 0 }),
      ...inputs.slice(0, 8).map((input) => client.embeddings.create({ model: "emb", input, encoding_format: "float" })),
    ]);
    assert.equal(batched.data.length, 32);
    for (let i = 0; i < 8; i++) assert.deepEqual(batched.data[i].embedding, alone[i], `input ${i}`);
    assert.ok(gen.choices[0].text.length > 0);
    // A repeated input (its prefix blocks now cached) gives the same vector.
    const again = await client.embeddings.create({ model: "emb", input: inputs[3], encoding_format: "float" });
    assert.deepEqual(again.data[0].embedding, alone[3]);
  });

  test("bad requests get OpenAI-shaped 400s and the server stays up", async () => {
    const bad = async (body, param, re) => {
      const res = await fetch(`${server.url}/v1/embeddings`, { method: "POST", body: JSON.stringify(body) });
      const j = await res.json();
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(j.error.type, "invalid_request_error");
      assert.equal(j.error.param, param);
      if (re) assert.match(j.error.message, re);
    };
    await bad({}, "input", /required/);
    await bad({ input: "" }, "input", /empty/);
    await bad({ input: [] }, "input", /empty/);
    await bad({ input: ["a", ""] }, "input", /empty/);
    await bad({ input: [[]] }, "input");
    await bad({ input: Array(2049).fill("a") }, "input", /2048/);
    await bad({ input: [Array(2049).fill(9707)] }, "input", /context/);  // the tiny model's context is 2048
    await bad({ input: [1, -1] }, "input");
    await bad({ input: [[151936]] }, "input");
    await bad({ input: { text: "a" } }, "input");
    await bad({ input: "a", encoding_format: "binary" }, "encoding_format");
    await bad({ input: "a", dimensions: 0 }, "dimensions");
    await bad({ input: "a", dimensions: 257 }, "dimensions");
    await bad({ input: "a", truncate: true }, "truncate", /not supported/);
    await assert.rejects(client.embeddings.create({ model: "emb", input: "" }), (e) => e.status === 400);
    const wrong = await fetch(`${server.url}/v1/embeddings`, { method: "POST", body: JSON.stringify({ model: "other", input: "a" }) });
    assert.equal(wrong.status, 404);
    const ok = await client.embeddings.create({ model: "emb", input: "still up", encoding_format: "float" });
    assert.equal(ok.data[0].embedding.length, 256);
  });
});

test("a request with more inputs than the wait queue holds is fed to the engine a window at a time", async () => {
  const model = path.join(dir, "queue-q8_0.gguf");
  hearth("mkmodel", "--preset", "qwen3-embedding-tiny", "--type", "q8_0", "--seed", "4", "-o", model);
  await withServer(model, ["--max-waiting", "4"], async (server) => {
    const inputs = Array.from({ length: 40 }, (_, i) => `queue ${i}`);
    const res = await fetch(`${server.url}/v1/embeddings`, { method: "POST", body: JSON.stringify({ input: inputs }) });
    assert.equal(res.status, 200, await res.clone().text());
    const j = await res.json();
    assert.equal(j.data.length, 40);
    const one = await (await fetch(`${server.url}/v1/embeddings`, { method: "POST", body: JSON.stringify({ input: inputs[37] }) })).json();
    assert.deepEqual(j.data[37].embedding, one.data[0].embedding);
  });
});

test("/v1/embeddings on a model without pooling is a 400 that says so", async () => {
  const model = path.join(dir, "generator.gguf");
  hearth("mkmodel", "--preset", "qwen3-tiny", "--type", "q8_0", "-o", model);
  await withServer(model, [], async (server) => {
    const res = await fetch(`${server.url}/v1/embeddings`, { method: "POST", body: JSON.stringify({ input: "a" }) });
    const j = await res.json();
    assert.equal(res.status, 400);
    assert.equal(j.error.param, "model");
    assert.match(j.error.message, /does not produce embeddings/);
  });
});

// llama.cpp's relevance score of (query, document): its rerank prompt, pooling and head; the
// whole prompt in one ubatch (as llama-server runs it) unless `ubatch` says otherwise.
// A qwen3 reranker's head has two classes ("yes", "no"), a cross-encoder's one.
function llamaRerankScore(model, query, document, ubatch = 0, classes = 2) {
  const out = path.join(dir, "rank.f32");
  harness("embed", model, "--query", query, "--document", document, "-o", out,
          ...(ubatch ? ["--ubatch", String(ubatch)] : []));
  const probs = readF32(out);
  assert.equal(probs.length, classes);
  return probs[0];
}

const QUERY = "What is the capital of France?";
const DOCS = [
  "Paris is the capital and largest city of France.",
  "The Great Wall of China is visible from many places.",
  "Berlin is the capital of Germany.",
  "France's capital hosts the Louvre, the most visited museum in the world.",
  "短い文書",
];

describe("/v1/rerank (a Qwen3-Reranker-shaped model)", () => {
  // Q8_0: to the bit. F16: within 1e-3 (llama.cpp's f16 products sum in another order). Q4_K_M:
  // to 1e-6, or, where llama.cpp's own score moves with its batch shape (its repacked Q4_K
  // products differ between a prompt's 4-row groups and the rows left over, and the last token
  // is the one scored), within the spread of its scores at a whole-prompt ubatch and a 1-token one.
  for (const type of ["f16", "q8_0", "Q4_K_M"]) {
    test(`scores equal llama.cpp's (${type})`, async () => {
      const model = path.join(dir, `qwen3-reranker-tiny-${type}.gguf`);
      hearth("mkmodel", "--preset", "qwen3-reranker-tiny", "--type", type, "--seed", "6", "-o", model);
      await withServer(model, ["--served-model-name", "rr"], async (server) => {
        const res = await fetch(`${server.url}/v1/rerank`, {
          method: "POST", body: JSON.stringify({ model: "rr", query: QUERY, documents: DOCS }),
        });
        assert.equal(res.status, 200);
        const j = await res.json();
        assert.equal(j.object, "list");
        assert.equal(j.model, "rr");
        assert.equal(j.results.length, DOCS.length);
        let worst = 0, exactCount = 0;
        for (const r of j.results) {
          const ref = llamaRerankScore(model, QUERY, DOCS[r.index]);
          const diff = Math.abs(r.relevance_score - ref);
          worst = Math.max(worst, diff);
          if (type === "q8_0") assert.equal(r.relevance_score, ref, `document ${r.index}`);
          if (type === "f16") assert.ok(diff < 1e-3, `document ${r.index}: ${r.relevance_score} vs ${ref}`);
          if (type === "Q4_K_M" && diff > 1e-6) {
            const alt = llamaRerankScore(model, QUERY, DOCS[r.index], 1);
            const lo = Math.min(ref, alt) - 1e-6, hi = Math.max(ref, alt) + 1e-6;
            assert.ok(r.relevance_score >= lo && r.relevance_score <= hi,
                      `document ${r.index}: ${r.relevance_score}, llama.cpp ${ref} (ubatch 1: ${alt})`);
          }
          if (diff <= 1e-6) exactCount++;
        }
        if (type === "Q4_K_M") assert.ok(exactCount >= 3, `only ${exactCount} of ${DOCS.length} scores within 1e-6`);
        for (let k = 1; k < j.results.length; k++)
          assert.ok(j.results[k - 1].relevance_score >= j.results[k].relevance_score, "best first");
        assert.deepEqual(j.results.map((r) => r.index).sort(), DOCS.map((_, i) => i));
        assert.ok(j.usage.prompt_tokens > DOCS.length * 40, `usage ${j.usage.prompt_tokens}`);
        console.log(`qwen3-reranker-tiny ${type}: max |score - llama.cpp's| ${worst.toExponential(2)}, ` +
                    `${exactCount} of ${DOCS.length} within 1e-6`);
      });
    });
  }

  test("top_n, return_documents, the other paths, and errors", async () => {
    const model = path.join(dir, "reranker-q8_0.gguf");
    hearth("mkmodel", "--preset", "qwen3-reranker-tiny", "--type", "q8_0", "--seed", "6", "-o", model);
    await withServer(model, ["--served-model-name", "rr"], async (server) => {
      const post = (route, body) => fetch(`${server.url}${route}`, { method: "POST", body: JSON.stringify(body) });
      const all = await (await post("/v1/rerank", { query: QUERY, documents: DOCS })).json();
      const top = await (await post("/rerank", { query: QUERY, documents: DOCS, top_n: 2, return_documents: true })).json();
      assert.equal(top.results.length, 2);
      assert.deepEqual(top.results.map((r) => r.index), all.results.slice(0, 2).map((r) => r.index));
      assert.equal(top.results[0].document.text, DOCS[top.results[0].index]);
      const again = await (await post("/v1/reranking", { query: QUERY, documents: DOCS })).json();
      assert.deepEqual(again.results, all.results);
      const bad = async (body, param) => {
        const res = await post("/v1/rerank", body);
        assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
        assert.equal((await res.json()).error.param, param);
      };
      await bad({ documents: DOCS }, "query");
      await bad({ query: 5, documents: DOCS }, "query");
      await bad({ query: QUERY }, "documents");
      await bad({ query: QUERY, documents: [] }, "documents");
      await bad({ query: QUERY, documents: ["a", 3] }, "documents");
      await bad({ query: QUERY, documents: DOCS, top_n: 0 }, "top_n");
      await bad({ query: QUERY, documents: DOCS, texts: DOCS }, "texts");
      await bad({ query: QUERY, documents: ["x ".repeat(3000)] }, "documents");  // over the 2048-token context
      // A reranker serves no embeddings.
      const emb = await post("/v1/embeddings", { input: "a" });
      assert.equal(emb.status, 400);
      assert.match((await emb.json()).error.message, /reranker/);
    });
  });
});

// A BERT cross-encoder (ms-marco-MiniLM's kind, at bge-small-tiny's shape): [CLS] query [SEP]
// document, the [CLS] state through its pooler and one-logit head; the logit is the score.
describe("/v1/rerank (a BERT cross-encoder)", () => {
  for (const [type, tolerance] of [["f16", 5e-3], ["q8_0", 1e-5]]) {
    test(`scores equal llama.cpp's (${type}, within ${tolerance})`, async () => {
      const model = bertModel(type, 7, "bert-reranker-tiny");
      await withServer(model, ["--served-model-name", "ce"], async (server) => {
        const res = await fetch(`${server.url}/v1/rerank`, {
          method: "POST", body: JSON.stringify({ model: "ce", query: QUERY, documents: DOCS }),
        });
        assert.equal(res.status, 200);
        const j = await res.json();
        assert.equal(j.results.length, DOCS.length);
        let worst = 0;
        for (const r of j.results) {
          const ref = llamaRerankScore(model, QUERY, DOCS[r.index], 0, 1);
          const diff = Math.abs(r.relevance_score - ref);
          worst = Math.max(worst, diff);
          assert.ok(diff <= tolerance * Math.max(1, Math.abs(ref)), `document ${r.index}: ${r.relevance_score} vs ${ref}`);
        }
        for (let k = 1; k < j.results.length; k++)
          assert.ok(j.results[k - 1].relevance_score >= j.results[k].relevance_score, "best first");
        // A cross-encoder serves no embeddings and generates nothing.
        const emb = await fetch(`${server.url}/v1/embeddings`, { method: "POST", body: JSON.stringify({ input: "a" }) });
        assert.equal(emb.status, 400);
        const chat = await fetch(`${server.url}/v1/chat/completions`, {
          method: "POST", body: JSON.stringify({ messages: [{ role: "user", content: "a" }] }),
        });
        assert.equal(chat.status, 400);
        assert.match((await chat.json()).error.message, /encoder: it serves \/v1\/rerank/);
        console.log(`bert-reranker-tiny ${type}: max |score - llama.cpp's| ${worst.toExponential(2)}`);
      });
    });
  }
});

test("/v1/rerank on a model that is not a reranker is a 400 that says so", async () => {
  const model = path.join(dir, "not-a-reranker.gguf");
  hearth("mkmodel", "--preset", "qwen3-embedding-tiny", "--type", "q8_0", "-o", model);
  await withServer(model, [], async (server) => {
    const res = await fetch(`${server.url}/v1/rerank`, { method: "POST", body: JSON.stringify({ query: "q", documents: ["d"] }) });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error.message, /not a reranker/);
  });
});
