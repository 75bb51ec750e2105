// Structured outputs held against references: ajv 8 + ajv-formats decide whether a JSON document
// is valid under a schema, JavaScript's RegExp whether a string matches a pattern, and the
// official `openai` client drives `hearth serve`. Models have random weights, so their text is
// noise: a constrained output must still parse and validate every time.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import Ajv from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import OpenAI from "openai";
import { SHARED_DIR, harness, hearth, hearthBin, run, tmpDir } from "./lib.mjs";
import { post, startServer } from "./server_lib.mjs";

const dir = tmpDir("structured");
const MODEL = path.join(dir, "qwen2.5-tiny-q8_0.gguf");
let server, client;

before(async () => {
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "5", "-o", MODEL);
  server = await startServer(MODEL, ["--served-model-name", "tiny"]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
});
after(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const ajv = new Ajv({ strict: false });
addFormats(ajv);

// `hearth grammar check` on many cases at once: [{...case, texts}] -> [{accepts} | {error}].
function grammarCheck(cases) {
  const file = path.join(dir, `cases-${Math.random().toString(36).slice(2)}.jsonl`);
  fs.writeFileSync(file, cases.map((c) => JSON.stringify(c)).join("\n") + "\n");
  const out = run(hearthBin(), ["grammar", "check", "--cases", file]);
  return out.trim().split("\n").map((l) => JSON.parse(l));
}

// Schemas the generation tests use: every supported keyword, bounded so that noise finishes.
const SCHEMAS = [
  { type: "object", properties: { name: { type: "string", maxLength: 12 }, age: { type: "integer", minimum: 0, maximum: 150 } },
    required: ["name", "age"], additionalProperties: false },
  { type: "array", items: { type: "number", minimum: -10, maximum: 10 }, minItems: 1, maxItems: 4 },
  { type: "object", properties: {
    kind: { enum: ["circle", "square", 3, null, true] },
    id: { type: "string", format: "uuid" },
    when: { type: "string", format: "date-time" },
    day: { type: "string", format: "date" },
    mail: { type: "string", format: "email" },
    code: { type: "string", pattern: "^[A-Z]{2}-[0-9]{3}$" },
  }, required: ["kind", "id", "when", "day", "mail", "code"] },
  { $defs: { node: { type: "object", properties: { v: { type: "integer", minimum: -5, maximum: 17 },
    next: { anyOf: [{ $ref: "#/$defs/node" }, { type: "null" }] } }, required: ["v", "next"], additionalProperties: false } },
  $ref: "#/$defs/node" },
  { type: "object", properties: { tags: { type: "array", prefixItems: [{ const: "first" }, { type: "boolean" }], items: false },
    mixed: { oneOf: [{ type: "string", minLength: 2, maxLength: 4 }, { type: "integer", exclusiveMinimum: 100, exclusiveMaximum: 105 }] },
    opt: { type: ["string", "null"], maxLength: 3 } }, required: ["tags", "mixed"], additionalProperties: false },
  { type: "object", properties: { a: { type: "object", properties: { b: { type: "object",
    properties: { c: { type: "array", items: { type: "integer" }, maxItems: 3 } }, required: ["c"] } }, required: ["b"] } },
  required: ["a"] },
];

test("grammars from JSON Schemas accept exactly what ajv accepts (canonical forms) and never more", () => {
  // Instances in the grammar's canonical form (declared order, compact): accepted iff ajv says valid.
  const canonical = [
    [0, [{ name: "Ann", age: 31 }, { name: "", age: 0 }, { name: "x", age: 151 }, { name: "x", age: -1 }, { name: "x" },
      { name: "abcdefghijklm", age: 3 }, { name: "a\"b\\c\n", age: 150 }, { name: "é😀", age: 7 }]],
    [1, [[0], [-10, 10, 2.5, -0.125], [], [1, 2, 3, 4, 5], [10.5], [-11], ["1"]]],
    [2, [{ kind: "circle", id: "123e4567-e89b-12d3-a456-426614174000", when: "2024-02-28T23:59:59Z", day: "2023-12-31",
      mail: "a.b@example.com", code: "AB-123" },
    { kind: 3, id: "123e4567-e89b-12d3-a456-426614174000", when: "2024-02-28T23:59:59.5+01:00", day: "2023-02-28",
      mail: "x@y.io", code: "ZZ-000" },
    { kind: "oval", id: "123e4567-e89b-12d3-a456-426614174000", when: "2024-02-28T23:59:59Z", day: "2023-12-31",
      mail: "a@b.co", code: "AB-123" },
    { kind: null, id: "123e4567-e89b-12d3-a456-42661417400", when: "2024-02-28T23:59:59Z", day: "2023-12-31",
      mail: "a@b.co", code: "AB-123" },
    { kind: true, id: "123e4567-e89b-12d3-a456-426614174000", when: "2024-13-28T23:59:59Z", day: "2023-12-31",
      mail: "a@b.co", code: "AB-123" },
    { kind: true, id: "123e4567-e89b-12d3-a456-426614174000", when: "2024-12-28T23:59:59Z", day: "2023-02-30",
      mail: "a@b.co", code: "AB-123" },
    { kind: true, id: "123e4567-e89b-12d3-a456-426614174000", when: "2024-12-28T23:59:59Z", day: "2023-02-03",
      mail: "a@b.co", code: "AB-1234" }]],
    [3, [{ v: 1, next: null }, { v: 17, next: { v: -5, next: { v: 0, next: null } } }, { v: 18, next: null },
      { v: 1, next: { v: 2 } }, { v: 1.5, next: null }]],
    [4, [{ tags: ["first", true], mixed: "abc" }, { tags: ["first", false], mixed: 101, opt: null },
      { tags: ["first", false], mixed: 104, opt: "abc" }, { tags: ["first", false], mixed: 105 },
      { tags: ["first"], mixed: "ab" }, { tags: ["first", true, 1], mixed: "ab" }, { tags: ["second", true], mixed: "ab" },
      { tags: ["first", true], mixed: "a" }, { tags: ["first", true], mixed: "ab", opt: "abcd" }]],
    [5, [{ a: { b: { c: [1, 2, 3] } } }, { a: { b: { c: [] } } }, { a: { b: { c: [1, 2, 3, 4] } } }, { a: { b: {} } }, { a: {} }]],
  ];
  const cases = canonical.map(([i, docs]) => ({ schema: SCHEMAS[i], texts: docs.map((d) => JSON.stringify(d)) }));
  // Forms the grammar may refuse although they are valid (other key orders, whitespace, extra
  // keys): only "accepted implies valid" holds for these.
  const loose = [
    { schema: SCHEMAS[0], texts: ['{ "name" : "a" , "age" : 1 }', '{"age":1,"name":"a"}', '{"name":"a","age":1,"x":2}',
      '{"name":"a","age":1e2}', '{"name":"a","age":1.0}', '{"name":"a","age":01}', '{"name":"\\u0041","age":1}'] },
    { schema: SCHEMAS[1], texts: ["[1e1]", "[1E-1]", "[-0]", "[ 1 , 2 ]", "[1.]", "[.5]", "[+1]"] },
    { json_object: true, texts: ['{"a":[1,{"b":null}],"c":"d"}', "{}", "[]", "1", '{"a":}', '{"a":1,}'] },
  ];
  const results = grammarCheck([...cases, ...loose]);
  let checked = 0;
  results.forEach((r, k) => {
    const c = k < cases.length ? cases[k] : loose[k - cases.length];
    assert.ok(r.accepts, `case ${k} did not compile: ${r.error}`);
    c.texts.forEach((text, j) => {
      let valid;
      try {
        const doc = JSON.parse(text);
        valid = c.json_object ? typeof doc === "object" && doc !== null && !Array.isArray(doc) : ajv.validate(c.schema, doc);
      } catch {
        valid = false;
      }
      if (r.accepts[j]) assert.ok(valid, `case ${k}: the grammar accepts ${text}, which ajv refuses`);
      if (k < cases.length) assert.equal(r.accepts[j], valid, `case ${k}: ${text} — ajv says ${valid}`);
      ++checked;
    });
  });
  assert.ok(checked > 60);
});

test("regex grammars accept exactly what JavaScript's RegExp matches", () => {
  const table = [
    ["[a-c]+x?", ["abc", "abcx", "x", "", "abd", "cccccx"]],
    ["\\d{2,3}-\\w+", ["12-a", "123-abc_9", "1-a", "1234-a", "12-", "12-é"]],
    ["(foo|bar)*baz", ["baz", "foobarbaz", "fooba", "foofoobaz", "bazbaz"]],
    ["[^a-z\\s]{1,4}", ["ABC", "ab", "A B", "12!?", "12345", "É"]],
    ["é+.\\.", ["éé😀.", "é.", "éx.", "éxx.", "ex."]],
    ["(a+)+$", ["aaaa", "aaab", ""]],
    ["a|b|", ["a", "b", "", "ab"]],
    ["\\u00e9|\\x41|\\n|\\t", ["é", "A", "\n", "\t", "n"]],
    ["colou?r(?:ed)?", ["color", "coloured", "colouredd", "colr"]],
  ];
  const raw = grammarCheck(table.map(([p, s]) => ({ regex: p, target: "raw", texts: s })));
  raw.forEach((r, k) => {
    assert.ok(r.accepts, `${table[k][0]}: ${r.error}`);
    const re = new RegExp(`^(?:${table[k][0]})$`, "u");
    table[k][1].forEach((s, j) => assert.equal(r.accepts[j], re.test(s), `/${table[k][0]}/ on ${JSON.stringify(s)}`));
  });
  // JSON-string target (JSON Schema's `pattern`): unanchored, matched on the decoded string.
  const jtable = [
    ["^[A-Z]{2}-[0-9]{3}$", ["AB-123", "AB-1234", "xAB-123", "ab-123"]],
    ["ab", ["xxabyy", "ab", "a b", "", "\"ab\\"]],
    ["^\"[^\"]*\"$", ["\"quoted\"", "\"a\"b\"", "noquotes", "\"\""]],
    ["\\\\d$", ["a\\d", "a\\x", "\\d\n"]],
    ["^.{2}$", ["ab", "a\n", "é😀", "abc"]],
  ];
  const json = grammarCheck(jtable.map(([p, s]) => ({ regex: p, target: "json", texts: s.map((x) => JSON.stringify(x)) })));
  json.forEach((r, k) => {
    assert.ok(r.accepts, `${jtable[k][0]}: ${r.error}`);
    const re = new RegExp(jtable[k][0], "u");
    jtable[k][1].forEach((s, j) => assert.equal(r.accepts[j], re.test(s), `/${jtable[k][0]}/ on ${JSON.stringify(s)}`));
  });
});

// The masks themselves, step by step, against llama.cpp's grammar sampler (the prebuilt libllama)
// on real vocabularies: the same GBNF, a seeded random walk through it, and at every step the
// number of allowed tokens and an order-free hash of which. Compared on text tokens whose bytes can
// be valid UTF-8 (see llama_harness.cpp: utf8_fragment_ok).
test("token masks equal llama.cpp's grammar sampler at every step, on the Qwen2 and Llama 3 vocabularies", () => {
  const runs = [
    ["ggml-vocab-qwen2.gguf", { schema: SCHEMAS[2] }, 1],
    ["ggml-vocab-qwen2.gguf", { schema: SCHEMAS[4] }, 2],
    ["ggml-vocab-llama-bpe.gguf", { schema: SCHEMAS[3] }, 3],
    ["ggml-vocab-llama-bpe.gguf", { gbnf: String.raw`root ::= ( [a-z]+ ":" ( [0-9]{1,4} | "\"" [^"\n]{0,6} "\"" ) "\n" ){1,5}` }, 4],
  ];
  for (const [vocabFile, grammar, seed] of runs) {
    const vocab = path.join(SHARED_DIR, "testdata", "vocab", vocabFile);
    const base = path.join(dir, `masks-${seed}`);
    const args = ["grammar", "bench", "-m", vocab, "--tokens", "150", "--seed", String(seed),
      "--write-walk", `${base}.walk`, "--write-masks", `${base}.ours`, "--write-gbnf", `${base}.gbnf`];
    if (grammar.schema) {
      fs.writeFileSync(`${base}.json`, JSON.stringify(grammar.schema));
      args.push("--schema", `${base}.json`);
    } else {
      fs.writeFileSync(`${base}.in.gbnf`, grammar.gbnf);
      args.push("--gbnf", `${base}.in.gbnf`);
    }
    run(hearthBin(), args);
    const timing = JSON.parse(harness("grammar-masks", vocab, `${base}.gbnf`, `${base}.walk`, `${base}.theirs`));
    assert.equal(timing.refused, 0, `${vocabFile} seed ${seed}: llama.cpp refuses a token hearth allowed`);
    const ours = fs.readFileSync(`${base}.ours`, "utf8").trim().split("\n");
    const theirs = fs.readFileSync(`${base}.theirs`, "utf8").trim().split("\n");
    assert.ok(ours.length >= 100, `${vocabFile} seed ${seed}: the walk is ${ours.length} steps`);
    assert.equal(theirs.length, ours.length);
    ours.forEach((line, i) => assert.equal(line, theirs[i], `${vocabFile} seed ${seed} step ${i}: count hash`));
  }
});

test("response_format json_schema: every output of a random model parses and validates", async () => {
  let n = 0;
  for (const [i, schema] of SCHEMAS.entries()) {
    for (let seed = 0; seed < 4; ++seed) {
      const r = await client.chat.completions.create({
        model: "tiny", messages: [{ role: "user", content: `Give me JSON number ${seed}` }], seed, max_tokens: 600,
        response_format: { type: "json_schema", json_schema: { name: `s${i}`, schema, strict: true } },
      });
      const text = r.choices[0].message.content;
      assert.equal(r.choices[0].finish_reason, "stop", `schema ${i} seed ${seed} ran out of tokens: ${text}`);
      let doc;
      assert.doesNotThrow(() => { doc = JSON.parse(text); }, `schema ${i} seed ${seed}: not JSON: ${text}`);
      assert.ok(ajv.validate(schema, doc), `schema ${i} seed ${seed}: ${text}\n${JSON.stringify(ajv.errors)}`);
      ++n;
    }
  }
  assert.equal(n, SCHEMAS.length * 4);
});

test("json_object, streaming, n > 1 and completions stay inside the grammar", async () => {
  const obj = await client.chat.completions.create({
    model: "tiny", messages: [{ role: "user", content: "json please" }], seed: 1, max_tokens: 300, n: 3,
    response_format: { type: "json_object" },
  });
  for (const c of obj.choices) {
    if (c.finish_reason !== "stop") continue;  // an unbounded object may run out of tokens: only finished ones must parse
    const doc = JSON.parse(c.message.content);
    assert.equal(typeof doc, "object");
    assert.ok(doc !== null && !Array.isArray(doc));
  }
  const stream = await client.chat.completions.create({
    model: "tiny", messages: [{ role: "user", content: "stream" }], seed: 2, max_tokens: 600, stream: true,
    response_format: { type: "json_schema", json_schema: { name: "s", schema: SCHEMAS[0] } },
  });
  let text = "";
  let finish;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, "stop");
  assert.ok(ajv.validate(SCHEMAS[0], JSON.parse(text)), text);
  const comp = await client.completions.create({
    model: "tiny", prompt: "The answer:", seed: 3, max_tokens: 600,
    structured_outputs: { json: SCHEMAS[1] },
  });
  assert.ok(ajv.validate(SCHEMAS[1], JSON.parse(comp.choices[0].text)), comp.choices[0].text);
});

test("structured_outputs regex, choice and grammar", async () => {
  for (let seed = 0; seed < 5; ++seed) {
    const re = await client.chat.completions.create({
      model: "tiny", messages: [{ role: "user", content: "a code" }], seed, max_tokens: 50,
      structured_outputs: { regex: "[A-Z]{3}-\\d{2,4}( [a-z]+)?" },
    });
    assert.match(re.choices[0].message.content, /^[A-Z]{3}-\d{2,4}( [a-z]+)?$/u);
    const choice = await client.chat.completions.create({
      model: "tiny", messages: [{ role: "user", content: "pick" }], seed, max_tokens: 20,
      structured_outputs: { choice: ["red", "green", "blue \"sky\""] },
    });
    assert.ok(["red", "green", "blue \"sky\""].includes(choice.choices[0].message.content), choice.choices[0].message.content);
    const gbnf = await client.chat.completions.create({
      model: "tiny", messages: [{ role: "user", content: "list" }], seed, max_tokens: 80,
      structured_outputs: { grammar: 'root ::= "[" item ("," item){0,3} "]"\nitem ::= [0-9]{1,3} | "x"' },
    });
    assert.match(gbnf.choices[0].message.content, /^\[([0-9]{1,3}|x)(,([0-9]{1,3}|x)){0,3}\]$/);
  }
});

test("hostile schemas, grammars and regexes get a 400 that says why, and the server stays up", async () => {
  let deep = { type: "string" };
  for (let i = 0; i < 1000; ++i) deep = { type: "array", items: deep };
  const bigEnum = Array.from({ length: 100000 }, (_, i) => `value-${i}-${"x".repeat(i % 7)}`);
  const cases = [
    [{ response_format: { type: "json_schema", json_schema: { name: "d", schema: deep } } }, /deep|depth|nest/i],
    [{ response_format: { type: "json_schema", json_schema: { name: "r", schema: { $ref: "#" } } } }, /finish|recurs|ref/i],
    [{ response_format: { type: "json_schema", json_schema: { name: "r", schema: {
      type: "object", properties: { a: { $ref: "#" } }, required: ["a"] } } } }, /finish|recurs/i],
    [{ response_format: { type: "json_schema", json_schema: { name: "u", schema: { type: "array", uniqueItems: true } } } },
      /uniqueItems/],
    [{ response_format: { type: "json_schema", json_schema: { name: "n", schema: { not: { type: "string" } } } } }, /'not'/],
    [{ response_format: { type: "json_schema", json_schema: { name: "f", schema: { type: "string", format: "hostname" } } } },
      /hostname/],
    [{ response_format: { type: "json_schema", json_schema: { name: "m", schema: { type: "number", multipleOf: 3 } } } },
      /multipleOf/],
    [{ response_format: { type: "json_schema", json_schema: { name: "x" } } }, /schema/],
    [{ response_format: { type: "xml" } }, /xml/],
    [{ structured_outputs: { grammar: "root ::= root \"a\" | \"b\"" } }, /left-recursive/],
    [{ structured_outputs: { grammar: "root ::= undefined-rule" } }, /never defines/],
    [{ structured_outputs: { grammar: "root ::= (((" } }, /grammar line 1/],
    [{ structured_outputs: { regex: "(a)\\1" } }, /backreference/i],
    [{ structured_outputs: { regex: "(?=a)b" } }, /look/i],
    [{ structured_outputs: { regex: "a{1,99999}" } }, /repe|large|bound/i],
    [{ structured_outputs: { regex: "a", choice: ["a"] } }, /exactly one/],
    [{ structured_outputs: { grammar: "root ::= " + Array.from({ length: 5000 }, (_, i) => `"a${i}"`).join(" | ") } },
      /ambiguous/],
    [{ structured_outputs: { json: "{not json" } }, /not JSON/],
    [{ structured_outputs: { xml: "<a/>" } }, /xml/],
    [{ response_format: { type: "json_object" }, structured_outputs: { regex: "a" } }, /both/],
    [{ response_format: { type: "json_object" }, ignore_eos: true }, /ignore_eos/],
  ];
  for (const [extra, why] of cases) {
    const r = await post(server.port, "/v1/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hi" }],
      max_tokens: 5, ...extra });
    assert.equal(r.status, 400, `${JSON.stringify(extra).slice(0, 200)} -> ${r.status} ${r.text}`);
    assert.match(r.json.error.message, why, JSON.stringify(extra).slice(0, 200));
  }
  // Catastrophic backtracking is nothing to a grammar: it compiles and runs.
  const evil = await post(server.port, "/v1/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hi" }],
    max_tokens: 30, seed: 1, structured_outputs: { regex: "(a|aa)+(b|ab)*c?" } });
  assert.equal(evil.status, 200, evil.text);
  // A 100,000-string enum: answered (or refused as too large).
  const big = await post(server.port, "/v1/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hi" }],
    max_tokens: 20, seed: 1, response_format: { type: "json_schema", json_schema: { name: "e", schema: { enum: bigEnum } } } });
  assert.ok(big.status === 200 || big.status === 400, big.text.slice(0, 300));
  if (big.status === 200) {
    const r = JSON.parse(big.text).choices[0];
    if (r.finish_reason === "stop") assert.ok(bigEnum.includes(JSON.parse(r.message.content)));
  }
  // 20,000 choices (with shared prefixes and multi-byte characters): one of them comes back.
  const choices = Array.from({ length: 20000 }, (_, i) => `${["é", "e", "ü"][i % 3]}${i}${"x".repeat(i % 5)}`);
  const picked = await post(server.port, "/v1/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hi" }],
    max_tokens: 30, seed: 2, structured_outputs: { choice: choices } });
  assert.equal(picked.status, 200, picked.text.slice(0, 300));
  assert.ok(choices.includes(picked.json.choices[0].message.content), picked.json.choices[0].message.content);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
});
