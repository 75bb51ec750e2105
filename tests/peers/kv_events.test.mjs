// KV-cache events (`hearth serve --kv-events-endpoint`) read as vLLM's consumers read them: a
// pyzmq SUB socket and Debian's msgpack decoder (kv_events_sub.py), checked against the frame
// layout and field order of vllm/distributed/kv_events.py and the topic llm-d's indexer parses.
// The tokens each event carries are held against the prompts the official `openai` client sent.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { PEERS_DIR, hearth, hearthBin, tmpDir } from "./lib.mjs";
import { eventually, metrics, startServer } from "./server_lib.mjs";

const dir = tmpDir("kv-events");
const MODEL = path.join(dir, "qwen2.5-tiny-q8_0.gguf");
const BS = 16;
let server, client, sub, port;
const messages = [];

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function ids(n, seed) {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return 100 + (x % 3000);
  });
}

const events = (tag) => messages.flatMap((m) => m.events ?? []).filter((e) => e[0] === tag);

// Every stored block's whole prefix (its tokens after its parent's), as the router rebuilds it.
function prefixes() {
  const byHash = new Map();
  for (const e of events("BlockStored")) {
    const [, hashes, parent, tokens] = e;
    let prev = parent;
    hashes.forEach((h, i) => {
      const before = prev === null ? [] : byHash.get(prev);
      assert.ok(before, `block ${h}'s parent ${prev} was never announced`);
      byHash.set(h, [...before, ...tokens.slice(i * BS, (i + 1) * BS)]);
      prev = h;
    });
  }
  return byHash;
}

const hashOfPrefix = (tokens) =>
  [...prefixes()].find(([, p]) => p.length === tokens.length && p.every((t, i) => t === tokens[i]))?.[0];

before(async () => {
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "5", "-o", MODEL);
  port = await freePort();
  server = await startServer(MODEL, ["--served-model-name", "tiny", "--replica", "pod-1", "--kv-cache-mb", "2",
    "--block-size", String(BS), "--kv-events-endpoint", `tcp://*:${port}`]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  sub = spawn("/usr/bin/python3", [path.join(PEERS_DIR, "kv_events_sub.py"), `tcp://127.0.0.1:${port}`, "300"],
    { stdio: ["ignore", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: sub.stdout });
  let ready = false;
  lines.on("line", (line) => {
    const m = JSON.parse(line);
    if (m.ready) ready = true;
    else messages.push(m);
  });
  await eventually(() => ready, 20_000, "the subscriber");
  // A SUB socket's subscription reaches the publisher a moment after it connects.
  await new Promise((r) => setTimeout(r, 700));
});
after(async () => {
  await server?.stop();
  sub?.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const complete = (prompt, max_tokens = 1) =>
  client.completions.create({ model: "tiny", prompt, max_tokens, temperature: 0, ignore_eos: true });

const A = ids(70, 1);

test("a prompt's full blocks are announced once computed: vLLM's frames, batch and BlockStored fields", async () => {
  await complete(A);
  await eventually(() => hashOfPrefix(A.slice(0, 4 * BS)), 10_000, "A's four blocks");
  const m = messages[0];
  assert.equal(m.frames, 3);
  assert.equal(m.topic, "kv@pod-1@tiny");  // llm-d splits it on '@' into pod and model
  assert.equal(m.seq_bytes, 8);
  assert.equal(m.seq, 0);
  assert.equal(m.dp_rank, 0);
  assert.ok(m.ts_is_float && Math.abs(m.ts - Date.now() / 1000) < 120, `ts ${m.ts}`);
  const first = events("BlockStored")[0];
  // ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, lora_name]
  assert.equal(first.length, 8);
  assert.equal(first[2], null);  // the prompt's first block has no parent
  assert.deepEqual(first[3], A.slice(0, first[1].length * BS));
  assert.equal(first[4], BS);
  assert.equal(first[5], null);
  assert.equal(first[6], "CPU");
  assert.equal(first[7], null);
  for (let k = 1; k <= 4; k++) assert.ok(hashOfPrefix(A.slice(0, k * BS)), `A's first ${k} blocks`);
  assert.equal(hashOfPrefix(A.slice(0, 5 * BS)), undefined);  // 70 tokens fill four blocks
});

test("a prompt sharing two blocks chains its new blocks on the cached ones, which are not announced again", async () => {
  const B = [...A.slice(0, 2 * BS), ...ids(40, 2)];
  const storedBefore = events("BlockStored").reduce((n, e) => n + e[1].length, 0);
  await complete(B);
  await eventually(() => hashOfPrefix(B.slice(0, 4 * BS)), 10_000, "B's blocks");
  const fresh = events("BlockStored").slice(-1)[0];
  assert.equal(fresh[2], hashOfPrefix(A.slice(0, 2 * BS)));  // the parent: the shared prefix's last block
  assert.deepEqual(fresh[3], B.slice(2 * BS, 4 * BS));
  const storedAfter = events("BlockStored").reduce((n, e) => n + e[1].length, 0);
  assert.equal(storedAfter - storedBefore, 2);
  const m = await metrics(server.url);
  assert.ok(m.get("hearth_kv_events_batches_total") >= 2);
});

test("evicted blocks are announced as BlockRemoved, each one a block announced before", async () => {
  // The cache holds few blocks: fresh prompts push the earlier ones out.
  // 128 blocks of 16: fifteen more per prompt of 250 tokens.
  for (let i = 0; i < 16 && events("BlockRemoved").length === 0; i++) await complete(ids(250, 100 + i));
  await eventually(() => events("BlockRemoved").length > 0, 10_000, "an eviction");
  const known = new Set(events("BlockStored").flatMap((e) => e[1]));
  for (const e of events("BlockRemoved")) {
    assert.equal(e.length, 3);  // ["BlockRemoved", block_hashes, medium]
    assert.equal(e[2], "CPU");
    for (const h of e[1]) assert.ok(known.has(h), `removed ${h} was never stored`);
  }
  // Sequence numbers count batches without a gap.
  messages.forEach((msg, i) => assert.equal(msg.seq, i));
});

test("an endpoint that cannot be opened stops the server at start with a clear error", () => {
  const r = spawnSync(hearthBin(), ["serve", "-m", MODEL, "--port", "0", "--kv-events-endpoint", "tcp://*:notaport"],
    { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--kv-events-endpoint tcp:\/\/\*:notaport: cannot bind/);
});

test("stopping the server announces AllBlocksCleared for its model", async () => {
  await server.stop();
  await eventually(() => events("AllBlocksCleared").length === 1, 10_000, "AllBlocksCleared");
  const last = messages[messages.length - 1];
  assert.equal(last.topic, "kv@pod-1@tiny");
  assert.deepEqual(last.events, [["AllBlocksCleared"]]);
});
