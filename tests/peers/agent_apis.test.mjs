// The agent APIs, driven by the official clients: Anthropic's Messages API through
// @anthropic-ai/sdk (what Claude Code speaks) and OpenAI's Responses API through `openai` (what
// Codex CLI speaks), against `hearth serve` on a tiny random-weight model. Streams must accumulate
// (in each SDK's own accumulator) to exactly the non-streamed answer; forced tool calls and
// structured answers must validate (ajv); errors must come in each API's own shape.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import Ajv from "ajv/dist/2020.js";
import OpenAI from "openai";
import { hearth, tmpDir } from "./lib.mjs";
import { post, rawRequest, startServer } from "./server_lib.mjs";

const dir = tmpDir("agents");
const MODEL = path.join(dir, "qwen2.5-tiny-q8_0.gguf");
const KEY = "sk-agents-test";
const ajv = new Ajv({ strict: false });
let server, anthropic, openai;

const ADD = { type: "object", properties: { a: { type: "integer", minimum: 0, maximum: 99 }, b: { type: "integer", minimum: 0, maximum: 99 } },
  required: ["a", "b"], additionalProperties: false };
const WEATHER = { type: "object", properties: { city: { type: "string", maxLength: 16 } }, required: ["city"], additionalProperties: false };

before(async () => {
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "11", "-o", MODEL);
  server = await startServer(MODEL, ["--served-model-name", "tiny", "--api-key", KEY]);
  anthropic = new Anthropic({ baseURL: server.url, apiKey: KEY, maxRetries: 0 });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
});
after(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

// JSON round trip without the SDK's client-side additions, for comparing streamed and whole; the
// second request's prompt comes from the prefix cache, so cache counts differ by design.
const plain = (m) => JSON.parse(JSON.stringify(m, (k, v) =>
  (k === "parsed_output" || k === "cache_read_input_tokens" || k === "cached_tokens" ? undefined : v)));

test("Anthropic messages.create and messages.stream agree, with text, usage and stop reasons", async () => {
  const req = { model: "tiny", max_tokens: 24, temperature: 0, system: "You are terse.",
    messages: [{ role: "user", content: "Say something." }] };
  const whole = await anthropic.messages.create(req);
  assert.equal(whole.type, "message");
  assert.equal(whole.role, "assistant");
  assert.match(whole.id, /^msg_/);
  assert.equal(whole.stop_reason, "max_tokens");
  assert.equal(whole.usage.output_tokens, 24);
  assert.ok(whole.usage.input_tokens > 5);
  assert.equal(whole.content[0].type, "text");
  const streamed = await anthropic.messages.stream(req).finalMessage();
  const a = plain(whole), b = plain(streamed);
  delete a.id; delete b.id;
  assert.deepEqual(b, a);
  // A stop sequence taken from the answer itself ends it there, with stop_reason stop_sequence.
  const word = whole.content[0].text.trim().split(/\s+/)[1] ?? whole.content[0].text.slice(2, 6);
  if (word && word.length >= 2) {
    const stopped = await anthropic.messages.create({ ...req, stop_sequences: [word] });
    assert.equal(stopped.stop_reason, "stop_sequence");
    assert.equal(stopped.stop_sequence, word);
    assert.ok(!stopped.content[0].text.includes(word));
  }
});

test("Anthropic tool use: tool_choice any gives tool_use blocks whose input validates, streamed or not", async () => {
  const tools = [{ name: "add", description: "add", input_schema: ADD }, { name: "weather", input_schema: WEATHER }];
  for (let i = 0; i < 3; ++i) {
    const req = { model: "tiny", max_tokens: 600, temperature: 0, tools, tool_choice: { type: "any" },
      messages: [{ role: "user", content: `Question ${i}: add 2 and 3, and the weather in Oslo.` }] };
    const whole = await anthropic.messages.create(req);
    assert.equal(whole.stop_reason, "tool_use", JSON.stringify(whole.content));
    const uses = whole.content.filter((b) => b.type === "tool_use");
    assert.ok(uses.length >= 1);
    for (const u of uses) {
      assert.match(u.id, /^[A-Za-z0-9_]+$/);
      assert.ok(ajv.validate(u.name === "add" ? ADD : WEATHER, u.input), JSON.stringify(u));
    }
    const streamed = await anthropic.messages.stream(req).finalMessage();
    assert.deepEqual(streamed.content.filter((b) => b.type === "tool_use").map((b) => [b.name, b.input]),
      uses.map((b) => [b.name, b.input]));
  }
  const named = await anthropic.messages.create({ model: "tiny", max_tokens: 300, temperature: 0, tools,
    tool_choice: { type: "tool", name: "weather", disable_parallel_tool_use: true },
    messages: [{ role: "user", content: "weather?" }] });
  const uses = named.content.filter((b) => b.type === "tool_use");
  assert.equal(uses.length, 1);
  assert.equal(uses[0].name, "weather");
  // A history with tool_use and tool_result blocks renders and answers.
  const followup = await anthropic.messages.create({ model: "tiny", max_tokens: 5, tools, messages: [
    { role: "user", content: "add 2 and 3" },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "add", input: { a: 2, b: 3 } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "5" }] },
  ] });
  assert.equal(followup.type, "message");
});

test("Anthropic countTokens counts what messages.create reads", async () => {
  const req = { model: "tiny", system: "Be brief.", messages: [{ role: "user", content: "How many tokens is this?" }] };
  const { input_tokens } = await anthropic.messages.countTokens(req);
  const r = await anthropic.messages.create({ ...req, max_tokens: 1 });
  assert.equal(input_tokens, r.usage.input_tokens);
  const longer = await anthropic.messages.countTokens({ ...req, system: "Be brief. Be kind. Be exact." });
  assert.ok(longer.input_tokens > input_tokens);
});

test("Anthropic errors come in Anthropic's shape; x-api-key and Bearer both authenticate; HEAD / answers", async () => {
  await assert.rejects(anthropic.messages.create({ model: "tiny", messages: [{ role: "user", content: "hi" }] }),
    (e) => e instanceof Anthropic.BadRequestError && e.error?.type === "error" &&
      e.error.error.type === "invalid_request_error" && /max_tokens/.test(e.error.error.message));
  await assert.rejects(anthropic.messages.create({ model: "tiny", max_tokens: 5, messages: [{ role: "user", content: [
    { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } }] }] }),
  (e) => e instanceof Anthropic.BadRequestError && /image/.test(e.error.error.message));
  await assert.rejects(anthropic.messages.create({ model: "tiny", max_tokens: 5, service_tier: "auto",
    messages: [{ role: "user", content: "hi" }] }), (e) => e instanceof Anthropic.BadRequestError && /service_tier/.test(e.message));
  await assert.rejects(anthropic.messages.create({ model: "tiny", max_tokens: 5, tools: [{ type: "web_search_20250305", name: "web_search" }],
    messages: [{ role: "user", content: "hi" }] }), (e) => e instanceof Anthropic.BadRequestError && /web_search/.test(e.message));
  const wrong = new Anthropic({ baseURL: server.url, apiKey: "nope", maxRetries: 0 });
  await assert.rejects(wrong.messages.create({ model: "tiny", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }),
    (e) => e instanceof Anthropic.AuthenticationError && e.error?.error?.type === "authentication_error");
  await assert.rejects(anthropic.messages.create({ model: "claude-nonexistent", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }),
    (e) => e instanceof Anthropic.NotFoundError && e.error?.error?.type === "not_found_error");
  const head = await rawRequest(server.port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assert.equal(head.status, 200);
});

test("Responses API: responses.create and the stream's final response agree; events are numbered in order", async () => {
  const req = { model: "tiny", input: "Say something.", instructions: "Be terse.", max_output_tokens: 20, temperature: 0 };
  const whole = await openai.responses.create(req);
  assert.equal(whole.object, "response");
  assert.match(whole.id, /^resp_/);
  assert.equal(whole.status, "incomplete");
  assert.equal(whole.incomplete_details.reason, "max_output_tokens");
  assert.equal(whole.usage.output_tokens, 20);
  assert.equal(whole.output.at(-1).type, "message");
  assert.equal(typeof whole.output_text, "string");
  assert.equal(whole.instructions, "Be terse.");
  const types = [];
  let last = -1;
  const stream = openai.responses.stream(req);
  for await (const ev of stream) {
    types.push(ev.type);
    assert.equal(ev.sequence_number, last + 1, `${ev.type} out of sequence`);
    last = ev.sequence_number;
  }
  const final = await stream.finalResponse();
  assert.equal(final.output_text, whole.output_text);
  assert.deepEqual(plain(final.usage), plain(whole.usage));
  for (const t of ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
    "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done",
    "response.incomplete"])
    assert.ok(types.includes(t), `stream lacks ${t}: ${types.join(" ")}`);
  assert.ok(types.indexOf("response.created") === 0 && types.at(-1) === "response.incomplete");
});

test("Responses API: function tools (required), items in the input, text.format json_schema", async () => {
  const tools = [{ type: "function", name: "add", description: "add", parameters: ADD, strict: true },
    { type: "web_search" }];  // hosted tools are ignored, not fatal
  for (let seed = 0; seed < 3; ++seed) {
    const req = { model: "tiny", input: [{ role: "user", content: [{ type: "input_text", text: `add ${seed} and 3` }] }],
      tools, tool_choice: "required", max_output_tokens: 500, temperature: 0.8, top_p: 0.9 };
    const r = await openai.responses.create(req);
    const calls = r.output.filter((o) => o.type === "function_call");
    assert.ok(calls.length >= 1, JSON.stringify(r.output));
    for (const c of calls) {
      assert.equal(c.name, "add");
      assert.ok(ajv.validate(ADD, JSON.parse(c.arguments)), c.arguments);
    }
    // Streamed: the arguments arrive through function_call_arguments events.
    const stream = openai.responses.stream(req);
    const argEvents = [];
    for await (const ev of stream) if (ev.type === "response.function_call_arguments.done") argEvents.push(ev.arguments);
    const final = await stream.finalResponse();
    const fcalls = final.output.filter((o) => o.type === "function_call");
    assert.ok(fcalls.length >= 1);
    assert.deepEqual(argEvents, fcalls.map((c) => c.arguments));
    for (const c of fcalls) assert.ok(ajv.validate(ADD, JSON.parse(c.arguments)), c.arguments);
  }
  // The calls and their outputs go back in as items.
  const next = await openai.responses.create({ model: "tiny", max_output_tokens: 5, tools, input: [
    { role: "user", content: "add 2 and 3" },
    { type: "function_call", call_id: "call_1", name: "add", arguments: '{"a":2,"b":3}' },
    { type: "function_call_output", call_id: "call_1", output: "5" },
  ] });
  assert.equal(next.object, "response");
  const schema = { type: "object", properties: { answer: { type: "integer", minimum: 0, maximum: 10 } }, required: ["answer"],
    additionalProperties: false };
  for (let i = 0; i < 3; ++i) {
    const r = await openai.responses.create({ model: "tiny", input: `json ${i}`, max_output_tokens: 200, temperature: 1,
      text: { format: { type: "json_schema", name: "a", schema, strict: true } } });
    assert.equal(r.status, "completed", JSON.stringify(r.output));
    assert.ok(ajv.validate(schema, JSON.parse(r.output_text)), r.output_text);
  }
});

test("Responses API: what it cannot honour is a 400 that says so", async () => {
  const cases = [
    [{ input: "hi", previous_response_id: "resp_123" }, /previous_response_id|store/],
    [{ input: "hi", background: true }, /background/],
    [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "http://x/y.png" }] }] }, /input_image/],
    [{ input: "hi", frobnicate: 1 }, /frobnicate/],
    [{ input: "hi", tools: [{ type: "function", name: "f", parameters: { type: "array" } }] }, /object/],
  ];
  for (const [extra, why] of cases) {
    const r = await post(server.port, "/v1/responses", { model: "tiny", ...extra }, { authorization: `Bearer ${KEY}` });
    assert.equal(r.status, 400, `${JSON.stringify(extra)} -> ${r.status} ${r.text}`);
    assert.match(r.json.error.message, why);
  }
});
