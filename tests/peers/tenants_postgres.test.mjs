// The shared store: keys and usage in a real PostgreSQL server (started here on a private port),
// two hearth replicas on it, held to the official openai client's usage fields; a store that
// goes away and comes back.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { hearth, hearthBin, tmpDir } from "./lib.mjs";
import { startPostgres } from "./postgres_lib.mjs";
import { eventually, startServer } from "./server_lib.mjs";

const dir = tmpDir("tenants-pg");
const MODEL = path.join(dir, "tiny.gguf");
const ADMIN = "pg-admin-key";
let pg;

const serveReplica = (name, extra = []) =>
  startServer(MODEL, ["--served-model-name", "tiny", "--db", pg.uri, "--replica", name, "--admin-key", ADMIN,
                      "--usage-flush-ms", "50", ...extra]);
const clientFor = (url, key) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
const createKey = (name, ...flags) => hearth("keys", "--db", pg.uri, "create", "--name", name, ...flags).trim();

async function usageOf(url, key) {
  const res = await fetch(`${url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).totals;
}

before(async () => {
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "3", "-o", MODEL);
  pg = await startPostgres();
});

after(() => pg?.remove());

test("two replicas on one PostgreSQL share keys and agree on usage totals", async () => {
  const keys = Array.from({ length: 6 }, (_, i) => createKey(`pg-${i}`));
  const [a, b] = [await serveReplica("replica-a"), await serveReplica("replica-b")];
  try {
    const sums = new Map(keys.map((k) => [k, { requests: 0, prompt: 0, completion: 0 }]));
    let next = 0;
    const total = 240;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const key = keys[i % keys.length];
        const client = clientFor((i % 2 ? a : b).url, key);
        const messages = [{ role: "user", content: `replica request ${i % 11}` }];
        let usage;
        if (i % 3 === 0) {
          const stream = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 2 + (i % 5), stream: true,
                                                                  stream_options: { include_usage: true } });
          for await (const c of stream) if (c.usage) usage = c.usage;
        } else {
          usage = (await client.chat.completions.create({ model: "tiny", messages, max_tokens: 2 + (i % 5) })).usage;
        }
        const s = sums.get(key);
        s.requests++;
        s.prompt += usage.prompt_tokens;
        s.completion += usage.completion_tokens;
      }
    };
    await Promise.all(Array.from({ length: 12 }, worker));
    // Each replica's reads add its own counts not yet written; within a flush window (50 ms
    // here) both have written everything.
    await new Promise((r) => setTimeout(r, 300));
    for (const key of keys) {
      const s = sums.get(key);
      const fromA = await usageOf(a.url, key);
      const fromB = await usageOf(b.url, key);
      assert.deepEqual(fromA, fromB);
      assert.equal(fromA.requests, s.requests);
      assert.equal(fromA.prompt_tokens, s.prompt);
      assert.equal(fromA.completion_tokens, s.completion);
    }
    // A key revoked through one replica's admin route is refused by the other within a second.
    const t0 = Date.now();
    const del = await fetch(`${a.url}/admin/keys/pg-0`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(del.status, 200);
    await eventually(async () => (await fetch(`${b.url}/v1/models`, { headers: { authorization: `Bearer ${keys[0]}` } })).status === 401,
      5_000, "the other replica to refuse the revoked key");
    assert.ok(Date.now() - t0 < 1000, `revocation took ${Date.now() - t0} ms on the other replica`);
    // A clean stop on each: the next start of each replica finds its own previous run clean.
    await a.stop();
    await b.stop();
    const again = await serveReplica("replica-a");
    assert.doesNotMatch(again.log(), /did not stop cleanly/);
    await again.stop();
  } finally {
    await a.stop();
    await b.stop();
  }
});

test("PostgreSQL going away: serving goes on, metering is degraded, and catches up when it is back", async () => {
  const key = createKey("pg-outage");
  const s = await serveReplica("replica-outage");
  try {
    const client = clientFor(s.url, key);
    const r1 = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "a" }], max_tokens: 3 });
    pg.stop();
    const r2 = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "b" }], max_tokens: 3 });
    await eventually(async () => (await (await fetch(`${s.url}/health`)).json()).metering === "degraded", 15_000, "degraded metering");
    pg.start();
    await eventually(async () => (await (await fetch(`${s.url}/health`)).json()).metering === "ok", 20_000, "metering to recover");
    const used = await usageOf(s.url, key);
    assert.equal(used.requests, 2);
    assert.equal(used.completion_tokens, r1.usage.completion_tokens + r2.usage.completion_tokens);
  } finally {
    await s.stop();
  }
});

test("a PostgreSQL server that cannot be reached stops the start with a clear error", () => {
  const res = spawnSync(hearthBin(), ["serve", "-m", MODEL, "--port", "0", "--db", "postgresql://postgres@127.0.0.1:1/x"],
                        { encoding: "utf8", timeout: 60_000 });
  assert.equal(res.status, 1);
  assert.match(res.stderr, /PostgreSQL: cannot connect/);
  const keys = spawnSync(hearthBin(), ["keys", "--db", "postgres://nobody@127.0.0.1:1/x", "list"], { encoding: "utf8" });
  assert.equal(keys.status, 1);
  assert.match(keys.stderr, /cannot connect/);
});
