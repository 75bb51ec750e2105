// hearth serve on Mixture-of-Experts models whose logits equal llama.cpp's to the bit in
// forward_logits.test.mjs (Qwen3-MoE in Q8_0; gpt-oss with MXFP4 experts, sinks and 16-token
// sliding windows): greedy tokens equal llama.cpp's, a request gives the same tokens alone and
// among 16 concurrent ones (tokens regrouped per expert every step), and a prefix-cached request
// gives the tokens it gave cold (for gpt-oss: windows that slide over the cached prefix). Gemma 3
// (dense, 16-token windows on five layers of six, which rope apart) runs the same checks, and
// Gemma 4's MoE variant (per-layer head sizes, a dense FFN beside the experts) and its E2B layout
// (per-layer embeddings, shared-KV layers reading cached keys of earlier layers), and DeepSeek V3's
// shape (Multi-head Latent Attention over a latent-only cache; grouped sigmoid routing), and
// Qwen3.5's (Gated DeltaNet layers whose state lives in a slot per request, dense and MoE): there
// a prefix-cached request resumes from a snapshot of the state at a block boundary.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { hearth, tmpDir } from "./lib.mjs";
import { llamaGreedyOf, metrics, serveWithLlama } from "./server_lib.mjs";

const dir = tmpDir("server-moe");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// Presets with sliding-window layers: their windowed layers have a pool of their own.
const WINDOWED = new Set(["gpt-oss-20b-tiny", "gemma-3-1b-tiny", "gemma-4-a4b-tiny", "gemma-4-e2b-tiny"]);

for (const [preset, type] of [["qwen3-30b-a3b-tiny", "q8_0"], ["gpt-oss-20b-tiny", "MXFP4_MOE"],
                              ["gemma-3-1b-tiny", "q8_0"], ["gemma-4-a4b-tiny", "q8_0"],
                              ["gemma-4-e2b-tiny", "q8_0"],
                              ["deepseek-v3-tiny", "q8_0"], ["qwen3.5-tiny", "q8_0"],
                              ["qwen3.5-moe-tiny", "q8_0"]]) {
  describe(`${preset} ${type}`, () => {
    const MODEL = path.join(dir, `${preset}-${type}.gguf`);
    let served, server, client, llamaModel;

    before(async () => {
      hearth("mkmodel", "--preset", preset, "--type", type, "--seed", "5", "-o", MODEL);
      served = await serveWithLlama(MODEL, "moe");
      ({ server, client, llamaModel } = served);
    });
    after(async () => served?.close());

    async function greedy(prompt, n) {
      const r = await client.completions.create({
        model: "moe", prompt, max_tokens: n, temperature: 0, logprobs: 1, ignore_eos: true,
        return_tokens_as_token_ids: true,
      });
      return { ids: r.choices[0].logprobs.tokens.map((t) => Number(/^token_id:(\d+)$/.exec(t)[1])), usage: r.usage };
    }

    test("greedy tokens on a MoE model equal llama.cpp's", async () => {
      for (const text of ["The capital of France is", "def fibonacci(n):"]) {
        const prompt = Array.from(llamaModel.tokenize(text));
        const ref = await llamaGreedyOf(llamaModel, prompt, 16);
        const ours = await greedy(prompt, 16);
        assert.deepEqual(ours.ids, ref.tokens, text);
      }
    });

    test("16 concurrent requests give each the greedy tokens it gets alone", async () => {
      const prompts = Array.from({ length: 16 }, (_, i) =>
        Array.from(llamaModel.tokenize(`Request ${i}: ${"expert ".repeat(i)}routing`)));
      const alone = [];
      for (const p of prompts) alone.push((await greedy(p, 12)).ids);
      const s0 = (await metrics(server.url)).get("hearth_engine_steps_total");
      const together = await Promise.all(prompts.map((p) => greedy(p, 12)));
      const s1 = (await metrics(server.url)).get("hearth_engine_steps_total");
      for (let i = 0; i < prompts.length; i++) assert.deepEqual(together[i].ids, alone[i], `request ${i}`);
      assert.ok(s1 - s0 < 16 * 12 / 2, `16 concurrent requests took ${s1 - s0} steps: not batched`);
    });

    test("a prefix-cached request gives the tokens it gave cold", async () => {
      const prefix = Array.from({ length: 200 }, (_, i) => 1000 + ((i * 7919) % 30000));  // in every vocabulary
      const cold = await greedy([...prefix, 21, 22], 8);
      assert.equal(cold.usage.prompt_tokens_details.cached_tokens, 0);
      await greedy([...prefix, 31, 32, 33], 4);
      const warm = await greedy([...prefix, 21, 22], 8);
      assert.ok(warm.usage.prompt_tokens_details.cached_tokens >= 192, `cached ${warm.usage.prompt_tokens_details.cached_tokens}`);
      assert.deepEqual(warm.ids, cold.ids);
      // Windowed layers have their own, smaller pool (KV groups), whose blocks of the 200-token
      // prefix stay cached after the requests; Qwen3-MoE has no such layers.
      const m = await metrics(server.url);
      if (preset.startsWith("qwen3.5")) {  // the recurrent state: a slot per request, snapshots kept
        assert.ok(m.get("hearth_state_slots_total") > 0);
        assert.equal(m.get("hearth_state_slots_in_use"), 0);
        assert.ok(m.get("hearth_state_snapshots_cached") >= 1, "no state snapshot kept");
      }
      if (WINDOWED.has(preset)) {
        const total = m.get("hearth_kv_window_blocks_total");
        assert.ok(total > 0 && total < m.get("hearth_kv_blocks_total"), `window pool ${total}`);
        assert.equal(m.get("hearth_kv_window_blocks_in_use"), 0);
        assert.ok(m.get("hearth_kv_window_blocks_cached") >= 1, "no window block kept for reuse");
      } else {
        assert.equal(m.get("hearth_kv_window_blocks_total"), undefined);
      }
    });

    if (preset.startsWith("gpt-oss")) {
      // The harmony format (the file's template, rendered by hearth's Jinja engine): a turn ends
      // at <|return|> (final answer) or <|call|> (tool call); <|end|> closes a message inside the
      // turn and must not stop it (llama.cpp's rule for o200k_harmony vocabularies).
      test("harmony: <|return|> and <|call|> end a chat turn, <|end|> does not", async () => {
        for (const [marker, stops] of [["<|return|>", true], ["<|call|>", true], ["<|end|>", false]]) {
          const ids = Array.from(llamaModel.tokenize(marker, true));
          assert.equal(ids.length, 1, `${marker} is one token`);
          const r = await client.chat.completions.create({
            model: "moe", messages: [{ role: "user", content: "Hi" }], max_tokens: 4,
            logit_bias: { [ids[0]]: 100 },
          });
          assert.equal(r.choices[0].finish_reason, stops ? "stop" : "length", marker);
          assert.equal(r.usage.completion_tokens, stops ? 1 : 4, marker);
        }
      });
    }
  });
}
