// Tool calling on chat completions, driven by the official `openai` client and the Vercel AI SDK
// (`ai` + `@ai-sdk/openai-compatible`, what OpenCode uses), checked with ajv. The model has random
// weights, so its text is noise: a required or named tool call must still come back as a call
// whose arguments validate against the tool's schema, every time, in every family's call syntax
// (the tiny Qwen model is served with each family's real chat template from shared/testdata).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import Ajv from "ajv/dist/2020.js";
import OpenAI from "openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, jsonSchema, streamText, tool } from "ai";
import { SHARED_DIR, hearth, tmpDir } from "./lib.mjs";
import { post, startServer } from "./server_lib.mjs";

const dir = tmpDir("tools");
const MODEL = path.join(dir, "qwen2.5-tiny-q8_0.gguf");
const ajv = new Ajv({ strict: false });

const TOOLS = [
  { type: "function", function: { name: "get_weather", description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string", maxLength: 20 }, unit: { enum: ["c", "f"] } },
      required: ["city", "unit"], additionalProperties: false } } },
  { type: "function", function: { name: "add", description: "Adds two integers",
    parameters: { type: "object", properties: { a: { type: "integer", minimum: -1000, maximum: 1000 },
      b: { type: "integer", minimum: -1000, maximum: 1000 } }, required: ["a", "b"], additionalProperties: false } } },
];
const schemaOf = Object.fromEntries(TOOLS.map((t) => [t.function.name, t.function.parameters]));

// The families whose call syntax hearth constrains, by their real templates.
const TEMPLATES = [
  ["hermes", null],  // the model's own (Qwen2.5)
  ["llama3", "meta-llama-Llama-3.1-8B-Instruct.jinja"],
  ["mistral", "mistralai-Mistral-Nemo-Instruct-2407.jinja"],
  ["deepseek", "deepseek-ai-DeepSeek-V3.1.jinja"],
  ["gpt-oss", "openai-gpt-oss-120b.jinja"],
  ["qwen3-coder", "Qwen3-Coder.jinja"],
];
const servers = {};

before(async () => {
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "7", "-o", MODEL);
  for (const [name, file] of TEMPLATES) {
    const extra = ["--served-model-name", "tiny"];
    if (file) extra.push("--chat-template", path.join(SHARED_DIR, "testdata", "chat_templates", file));
    const server = await startServer(MODEL, extra);
    servers[name] = { server, client: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 }) };
  }
});
after(async () => {
  for (const { server } of Object.values(servers)) await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function checkCalls(calls, only, what) {
  assert.ok(Array.isArray(calls) && calls.length >= 1, `${what}: no tool call`);
  for (const call of calls) {
    assert.equal(call.type, "function", what);
    assert.match(call.id, /^[A-Za-z0-9_]+$/, what);
    assert.ok(schemaOf[call.function.name], `${what}: unknown tool ${call.function.name}`);
    if (only) assert.equal(call.function.name, only, what);
    const args = JSON.parse(call.function.arguments);
    assert.ok(ajv.validate(schemaOf[call.function.name], args),
      `${what}: ${call.function.arguments} ${JSON.stringify(ajv.errors)}`);
  }
}

const ask = (extra) => ({
  model: "tiny", messages: [{ role: "user", content: "What is the weather in Paris, and what is 2 + 3?" }],
  tools: TOOLS, max_tokens: 1500, ...extra,
});

for (const [family] of TEMPLATES) {
  test(`${family}: required and named tool calls always validate, streamed or not`, async () => {
    const { client } = servers[family];
    for (let seed = 0; seed < 4; ++seed) {
      const r = await client.chat.completions.create(ask({ seed, tool_choice: "required" }));
      const choice = r.choices[0];
      assert.equal(choice.finish_reason, "tool_calls", `${family} seed ${seed}: ${JSON.stringify(choice.message)}`);
      checkCalls(choice.message.tool_calls, null, `${family} seed ${seed}`);
      const named = await client.chat.completions.create(ask({ seed, parallel_tool_calls: false,
        tool_choice: { type: "function", function: { name: "add" } } }));
      checkCalls(named.choices[0].message.tool_calls, "add", `${family} named seed ${seed}`);
      assert.equal(named.choices[0].message.tool_calls.length, 1, `${family}: parallel_tool_calls false`);

      // Streamed: OpenAI's delta format, assembled as a client does, gives the same calls.
      const stream = await client.chat.completions.create(ask({ seed, tool_choice: "required", stream: true }));
      const calls = [];
      let finish;
      for await (const chunk of stream) {
        const c = chunk.choices[0];
        if (!c) continue;
        finish = c.finish_reason ?? finish;
        for (const d of c.delta?.tool_calls ?? []) {
          if (!calls[d.index]) {
            assert.ok(d.id && d.type === "function" && d.function?.name, `${family}: first delta lacks id/type/name`);
            calls[d.index] = { id: d.id, type: d.type, function: { name: d.function.name, arguments: "" } };
          }
          calls[d.index].function.arguments += d.function?.arguments ?? "";
        }
      }
      assert.equal(finish, "tool_calls");
      checkCalls(calls, null, `${family} stream seed ${seed}`);
      assert.deepEqual(calls.map((c) => [c.function.name, c.function.arguments]),
        choice.message.tool_calls.map((c) => [c.function.name, c.function.arguments]), `${family} seed ${seed}: stream differs`);
    }
  });
}

test("auto: noise comes back as text (never a 500), and a history with tool calls and results renders", async () => {
  const { client } = servers.hermes;
  for (let seed = 0; seed < 3; ++seed) {
    const r = await client.chat.completions.create(ask({ seed, tool_choice: "auto", max_tokens: 30 }));
    assert.ok(["stop", "length", "tool_calls"].includes(r.choices[0].finish_reason));
    if (r.choices[0].message.tool_calls) checkCalls(r.choices[0].message.tool_calls, null, "auto");
  }
  const history = await client.chat.completions.create({
    model: "tiny", tools: TOOLS, max_tokens: 5, seed: 1, messages: [
      { role: "user", content: "add 2 and 3" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "add", arguments: '{"a": 2, "b": 3}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "5" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_2", type: "function", function: { name: "add", arguments: "{broken json" } }] },
      { role: "tool", tool_call_id: "call_2", content: "error" },
    ] });
  assert.equal(history.choices.length, 1);
});

test("hostile tool definitions get a 400 that names the problem", async () => {
  const { server } = servers.hermes;
  const fn = (name, parameters) => ({ type: "function", function: { name, parameters } });
  const cases = [
    [{ tools: [fn("f", { type: "array" })] }, /describe an object/],
    [{ tools: [fn("f", "not a schema")] }, /JSON Schema object/],
    [{ tools: [fn("f", { type: "object" }), fn("f", { type: "object" })] }, /distinct/],
    [{ tools: [fn("bad name!", { type: "object" })] }, /a-z/],
    [{ tools: [{ type: "web_search" }] }, /only 'function'/],
    [{ tools: [fn("f", { type: "object" })], tool_choice: { type: "function", function: { name: "g" } } }, /not among/],
    [{ tools: [fn("f", { type: "object" })], tool_choice: "sometimes" }, /tool_choice/],
    [{ tool_choice: "required" }, /no tools/],
    [{ tools: [fn("f", { type: "object", properties: { x: { type: "string", format: "hostname" } } })], tool_choice: "required" },
      /hostname/],
    [{ tools: [fn("f", { type: "object" })], tool_choice: "required", response_format: { type: "json_object" } }, /cannot also/],
    [{ messages: [{ role: "wizard", content: "hi" }] }, /unknown message role/],
  ];
  for (const [extra, why] of cases) {
    const r = await post(server.port, "/v1/chat/completions",
      { model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 5, ...extra });
    assert.equal(r.status, 400, `${JSON.stringify(extra).slice(0, 160)} -> ${r.status} ${r.text}`);
    assert.match(r.json.error.message, why);
  }
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
});

test("reasoning: reasoning_content apart from the answer, a budget that closes it, constraints only after it", async () => {
  // A thinking model's shape (Qwen3's layers) under DeepSeek R1's template, whose prompt opens
  // <think>: a random model never closes it, so all is reasoning unless a budget does.
  const model = path.join(dir, "qwen3-tiny.gguf");
  hearth("mkmodel", "--preset", "qwen3-tiny", "--type", "q8_0", "--seed", "5", "-o", model);
  const server = await startServer(model, ["--served-model-name", "think", "--chat-template",
    path.join(SHARED_DIR, "testdata", "chat_templates", "llama-cpp-deepseek-r1.jinja")]);
  try {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    const messages = [{ role: "user", content: "Think, then answer in JSON." }];
    const free = await client.chat.completions.create({ model: "think", messages, max_tokens: 30, seed: 1 });
    assert.equal(free.choices[0].message.content, "");
    assert.ok(free.choices[0].message.reasoning_content.length > 0);
    const schema = TOOLS[1].function.parameters;
    for (let seed = 0; seed < 3; ++seed) {
      const r = await client.chat.completions.create({ model: "think", messages, max_tokens: 300, seed,
        reasoning_budget: 6, response_format: { type: "json_schema", json_schema: { name: "add", schema } } });
      const m = r.choices[0].message;
      assert.ok(m.reasoning_content.length > 0 && m.reasoning === m.reasoning_content, JSON.stringify(m));
      assert.equal(r.choices[0].finish_reason, "stop", JSON.stringify(m));
      assert.ok(ajv.validate(schema, JSON.parse(m.content)), m.content);
    }
    // Streamed: reasoning deltas, then content deltas.
    const stream = await client.chat.completions.create({ model: "think", messages, max_tokens: 40, seed: 2,
      reasoning_budget: 5, stream: true });
    let reasoning = "", content = "", sawContentBeforeReasoningEnded = false;
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta ?? {};
      if (d.reasoning_content) {
        if (content) sawContentBeforeReasoningEnded = true;
        reasoning += d.reasoning_content;
      }
      content += d.content ?? "";
    }
    assert.ok(reasoning.length > 0 && content.length > 0 && !sawContentBeforeReasoningEnded);
  } finally {
    await server.stop();
  }
});

test("the Vercel AI SDK's generateText and streamText get a call that validates", async () => {
  const { server } = servers.hermes;
  const provider = createOpenAICompatible({ name: "hearth", baseURL: `${server.url}/v1`, apiKey: "x" });
  const tools = {
    add: tool({ description: "Adds two integers", inputSchema: jsonSchema(schemaOf.add) }),
  };
  const g = await generateText({ model: provider("tiny"), prompt: "What is 2 + 3?", tools, toolChoice: "required",
    maxOutputTokens: 200, seed: 3 });
  assert.ok(g.toolCalls.length >= 1, JSON.stringify(g.content));
  for (const c of g.toolCalls) {
    assert.equal(c.toolName, "add");
    assert.ok(ajv.validate(schemaOf.add, c.input), JSON.stringify(c.input));
  }
  const s = streamText({ model: provider("tiny"), prompt: "Add 4 and 5", tools, toolChoice: "required",
    maxOutputTokens: 200, seed: 4 });
  const calls = await s.toolCalls;
  assert.ok(calls.length >= 1);
  for (const c of calls) assert.ok(ajv.validate(schemaOf.add, c.input), JSON.stringify(c.input));
});
