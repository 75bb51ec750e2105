// `hearth chat` under a pseudo-terminal (util-linux `script`), as a person would use it: two
// turns, /prompt, /save, Ctrl-C to stop an answer, /clear, Ctrl-C at the prompt to leave. The
// answers are held against the official `openai` client asking `hearth serve` the same
// conversation, and the prompt against `hearth template`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { hearth, hearthBin, tmpDir } from "./lib.mjs";
import { startServer } from "./server_lib.mjs";

const dir = tmpDir("chat");
const MODEL = path.join(dir, "qwen2.5-tiny-q8_0.gguf");
let server, client;
const terminals = [];

before(async () => {
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "3", "-o", MODEL);
  server = await startServer(MODEL, ["--served-model-name", "qwen2.5-tiny-q8_0"]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
});
after(async () => {
  for (const proc of terminals) if (proc.exitCode === null) proc.kill("SIGKILL");
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const quote = (s) => `'${s.replace(/'/g, "'\\''")}'`;
const plain = (s) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r\n/g, "\n").replace(/\r/g, "");

// A terminal session: what the program printed so far (escape sequences and \r removed), and
// waiting for a pattern in what came after a mark.
function terminal(args) {
  const cmd = [hearthBin(), ...args].map(quote).join(" ");
  const proc = spawn("script", ["-qfec", cmd, "/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, TERM: "dumb", COLUMNS: "400" },
  });
  terminals.push(proc);
  let raw = "";
  proc.stdout.on("data", (d) => (raw += d));
  proc.stderr.on("data", (d) => (raw += d));
  const exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  const t = {
    mark: 0,
    text: () => plain(raw),
    send: (s) => proc.stdin.write(s),
    exited,
    // Resolves with the match once `re` appears after the mark; the mark moves past it.
    async expect(re, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const text = t.text();
        const m = re.exec(text.slice(t.mark));
        if (m) {
          const before = text.slice(t.mark, t.mark + m.index);
          t.mark += m.index + m[0].length;
          return { m, before };
        }
        if (Date.now() > end || proc.exitCode !== null)
          throw new Error(`no ${re} in the terminal after:\n${text.slice(t.mark).slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 30));
      }
    },
  };
  return t;
}

test("two turns, /prompt and /save, Ctrl-C stops an answer, /clear, Ctrl-C at the prompt leaves", async () => {
  const saved = path.join(dir, "conversation.json");
  const t = terminal(["chat", "-m", MODEL, "-t", "2", "--temperature", "0", "--max-tokens", "12",
    "--system", "Be brief."]);
  await t.expect(/hearth chat: qwen2\.5-tiny-q8_0 \(context 2048 tokens\)/);
  await t.expect(/>>> /);
  const turns = ["Hello", "And how are you?"];
  for (const turn of turns) {
    t.send(`${turn}\r`);
    const { m } = await t.expect(/\[(\d+) tokens, [\d.]+ tokens\/s, first token \d+ ms, context (\d+) \/ 2048[^\]]*\]\n/);
    assert.equal(Number(m[1]), 12);
    await t.expect(/>>> /);
  }
  t.send(`/save ${saved}\r`);
  await t.expect(/\(saved 5 messages to /);
  await t.expect(/>>> /);
  const request = JSON.parse(fs.readFileSync(saved, "utf8"));
  assert.deepEqual(request.messages.map((m) => m.role), ["system", "user", "assistant", "user", "assistant"]);
  assert.equal(request.messages[0].content, "Be brief.");
  assert.deepEqual([request.messages[1].content, request.messages[3].content], turns);

  // Each answer is what the openai client gets for the same conversation.
  for (const k of [2, 4]) {
    const ref = await client.chat.completions.create({
      model: "qwen2.5-tiny-q8_0", messages: request.messages.slice(0, k), temperature: 0, max_tokens: 12,
    });
    assert.equal(request.messages[k].content, ref.choices[0].message.content, `answer ${k / 2}`);
  }

  // /prompt prints what `hearth template` renders for the saved conversation.
  t.send("/prompt\r");
  await t.expect(/\/prompt\n/);
  const { before: shown } = await t.expect(/\n>>> /);
  const rendered = hearth("template", "-m", MODEL, "--request", saved);
  assert.equal(shown, rendered);

  // Ctrl-C in the middle of a long answer stops it and the chat goes on.
  t.send("/set max_tokens default\r");
  await t.expect(/\(max_tokens is the server's default\)\n>>> /);
  t.send("Tell me a long story\r");
  await t.expect(/story\n[^\n]{40}/);  // the answer is streaming
  t.send("\x03");
  await t.expect(/\[(\d+) tokens[^\]]*, stopped\]\n>>> /);

  t.send("/clear\r");
  await t.expect(/\(conversation cleared\)\n>>> /);
  t.send(`/save ${saved}\r`);
  await t.expect(/\(saved 1 messages/);
  assert.deepEqual(JSON.parse(fs.readFileSync(saved, "utf8")).messages.map((m) => m.role), ["system"]);
  await t.expect(/>>> /);

  // /load brings a conversation back.
  fs.writeFileSync(saved, JSON.stringify({ messages: request.messages }));
  t.send(`/load ${saved}\r`);
  await t.expect(/\(loaded 4 messages from /);
  await t.expect(/>>> /);

  // Ctrl-C at the prompt leaves.
  t.send("\x03");
  assert.equal(await t.exited, 130);
});

test("--url talks to a running server; a bad key is a clear error", async () => {
  const keyed = await startServer(MODEL, ["--served-model-name", "keyed", "--api-key", "sesame"]);
  try {
    const t = terminal(["chat", "--url", keyed.url, "--api-key", "sesame", "--max-tokens", "3"]);
    await t.expect(/hearth chat: keyed \(context 2048 tokens\)/);
    await t.expect(/>>> /);
    t.send("Hi\r");
    await t.expect(/\[3 tokens, [^\]]*\]\n>>> /);
    t.send("/bye\r");
    assert.equal(await t.exited, 0);

    const bad = terminal(["chat", "--url", keyed.url, "--api-key", "wrong"]);
    assert.notEqual(await bad.exited, 0);
    assert.match(bad.text(), /401: Incorrect or missing API key/);
  } finally {
    await keyed.stop();
  }
});
