#!/usr/bin/env node
// Prefix reuse on a model with recurrent layers (Qwen3.5's Gated DeltaNet), measured as a server's
// time to first token over /v1/completions (token-id prompts, streamed, greedy):
//   shared:  a 2,000-token system prompt, then three users' questions one after another: the
//            first is cold; the later ones could start from the shared prefix's state;
//   turns:   conversation X's first turn, conversation Y's first turn, then X's second turn (X's
//            prompt, its answer and a new question): it could resume from X's first turn.
// A server that cannot restore the recurrent state at the shared boundary recomputes everything.
//
//   node bench/hybrid_prefix.mjs --base-url http://127.0.0.1:8080 [--model NAME] [--prefix 2000]
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) => (i % 2 ? acc : [...acc, [a[i].replace(/^--/, ""), a[i + 1]]]), []));
const base = args["base-url"] ?? "http://127.0.0.1:8080";
const model = args.model ?? "m";
const prefixLen = Number(args.prefix ?? 2000);

let s = 7;
const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % 30000 + 1000;
const ids = (n) => Array.from({ length: n }, rand);

async function complete(prompt, maxTokens) {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer x" },
    body: JSON.stringify({ model, prompt, max_tokens: maxTokens, temperature: 0, stream: true, ignore_eos: true,
                           logprobs: 1, return_tokens_as_token_ids: true }),
  });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  let ttft = 0, text = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    if (!ttft) ttft = performance.now() - t0;
    text += decoder.decode(chunk, { stream: true });
  }
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("data: ") || line.includes("[DONE]")) continue;
    const d = JSON.parse(line.slice(6));
    for (const t of d.choices?.[0]?.logprobs?.tokens ?? []) {
      const m = /^token_id:(\d+)$/.exec(t);
      if (m) out.push(Number(m[1]));
    }
  }
  return { ttft, tokens: out, total: performance.now() - t0 };
}

const system = ids(prefixLen);
const rows = [];
for (const user of ["A", "B", "C"]) {
  const r = await complete([...system, ...ids(40)], 8);
  rows.push([`shared ${prefixLen}-token prefix, user ${user}`, r.ttft]);
}
const x1 = [...ids(prefixLen), ...ids(30)];
const xa = await complete(x1, 32);
rows.push(["conversation X, turn 1 (cold)", xa.ttft]);
const ya = await complete([...ids(prefixLen), ...ids(30)], 32);
rows.push(["conversation Y, turn 1 (cold)", ya.ttft]);
const answer = xa.tokens.length === 32 ? xa.tokens : ids(32);  // servers without token ids: any continuation
const x2 = await complete([...x1, ...answer, ...ids(40)], 8);
rows.push(["conversation X, turn 2", x2.ttft]);
for (const [what, ms] of rows) console.log(`${what.padEnd(40)} TTFT ${(ms / 1000).toFixed(3)} s`);
