// The web chat (/) and dashboard (/dashboard) that `hearth serve` ships, driven in Debian's
// chromium through puppeteer-core 25.16.0 against a real server on a tiny model. What the page
// shows is held against what the official `openai` client gets from the same server and against
// the server's /metrics; accessibility against axe-core 4.14.1.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import puppeteer from "puppeteer-core";
import { PEERS_DIR, hearth, tmpDir } from "./lib.mjs";
import { eventually, metrics, startServer } from "./server_lib.mjs";

const dir = tmpDir("web");
const MODEL = path.join(dir, "qwen2.5-tiny-q8_0.gguf");
// The tests write their screenshots here (the README's pictures are copies of them).
export const SCREENSHOTS = path.join(PEERS_DIR, "build", "screenshots");
const AXE = path.join(PEERS_DIR, "node_modules", "axe-core", "axe.min.js");
let server, browser, client;

before(async () => {
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "3", "-o", MODEL);
  server = await startServer(MODEL, ["--served-model-name", "tiny"]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu"],
  });
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function openChat(url, { width = 1200, height = 800, theme } = {}) {
  const page = await browser.newPage();
  await page.setViewport({ width, height });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.errors = errors;
  if (theme) await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: theme }]);
  await page.goto(url, { waitUntil: "load" });
  return page;
}

const state = (page) => page.evaluate(() => document.body.dataset.state);
const stored = (page) => page.evaluate(() => JSON.parse(localStorage.getItem("hearth.conversations") || "[]"));

async function setField(page, id, value) {
  await page.$eval(`#${id}`, (el, v) => {
    el.value = v;
    el.dispatchEvent(new Event("change"));
  }, String(value));
}

async function send(page, text) {
  await page.click("#input");
  await page.type("#input", text);
  await page.keyboard.press("Enter");
}

async function waitIdle(page, timeout = 60_000) {
  await page.waitForFunction(() => document.body.dataset.state === "idle" && document.querySelector(".message.assistant .stats"),
    { timeout });
}

describe("web chat", () => {
  test("the pages and assets come with a strict Content-Security-Policy", async () => {
    for (const p of ["/", "/dashboard", "/assets/chat.js", "/assets/markdown.js", "/assets/dashboard.js", "/assets/hearth.css", "/favicon.svg"]) {
      const res = await fetch(`${server.url}${p}`);
      assert.equal(res.status, 200, p);
      const csp = res.headers.get("content-security-policy");
      assert.match(csp, /default-src 'none'/, p);
      assert.match(csp, /script-src 'self'(;|$)/, p);  // no 'unsafe-inline', no 'unsafe-eval', no other origin
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    }
    assert.match((await fetch(`${server.url}/assets/chat.js`)).headers.get("content-type"), /^text\/javascript/);
    assert.equal((await fetch(`${server.url}/assets/nope.js`)).status, 404);
    assert.equal((await fetch(`${server.url}/`, { method: "POST" })).status, 405);
    // The page loads nothing from elsewhere: every asset it names is the server's own.
    const html = await (await fetch(`${server.url}/`)).text();
    for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.ok(m[1].startsWith("/"), m[1]);
  });

  test("--no-webui serves the API alone", async () => {
    const bare = await startServer(MODEL, ["--no-webui"]);
    try {
      for (const p of ["/", "/dashboard", "/assets/chat.js"]) assert.equal((await fetch(`${bare.url}${p}`)).status, 404, p);
      assert.equal((await fetch(`${bare.url}/v1/models`)).status, 200);
    } finally {
      await bare.stop();
    }
  });

  test("a message streams in, and the answer equals the openai client's for the same request", async () => {
    const page = await openChat(server.url);
    await page.waitForSelector("#model option");
    assert.deepEqual(await page.$$eval("#model option", (o) => o.map((x) => x.value)), ["tiny"]);
    await page.click("#settings-button");
    await setField(page, "temperature", 0);
    await setField(page, "max-tokens", 300);
    await send(page, "Hello there");
    // Streaming: text appears while the request is still running.
    await page.waitForFunction(() => document.body.dataset.state === "generating" &&
      (document.querySelector(".message.assistant .bubble")?.textContent.length ?? 0) > 0, { timeout: 30_000 });
    await waitIdle(page);
    const [conv] = await stored(page);
    assert.equal(conv.messages.length, 2);
    const answer = conv.messages[1].content;
    const ref = await client.chat.completions.create({
      model: "tiny", messages: [{ role: "user", content: "Hello there" }], temperature: 0, max_tokens: 300,
    });
    assert.equal(answer, ref.choices[0].message.content);
    const stats = await page.$eval(".message.assistant .stats", (el) => el.textContent);
    const used = ref.usage.prompt_tokens + ref.usage.completion_tokens;
    assert.match(stats, new RegExp(`^${ref.usage.completion_tokens} tokens · [\\d.]+ tokens/s · first token \\d+ ms · context ${used} / 2048`));
    assert.equal(await page.$eval("#conversations li .open", (el) => el.textContent), "Hello there");
    await page.screenshot({ path: path.join(SCREENSHOTS, "chat.png") });
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test("stop cancels the request on the server: the running gauge returns to 0", async () => {
    const page = await openChat(server.url);
    await page.click("#new-chat");
    await send(page, "Tell me a long story");  // no max tokens: the rest of the context, seconds of output
    await page.waitForFunction(() => (document.querySelector(".message.assistant .bubble")?.textContent.length ?? 0) > 20,
      { timeout: 30_000 });
    assert.equal(await state(page), "generating");
    assert.equal((await metrics(server.url)).get("vllm:num_requests_running"), 1);
    await page.click("#stop");
    await waitIdle(page);
    await eventually(async () => (await metrics(server.url)).get("vllm:num_requests_running") === 0, 5_000, "running 0");
    const stats = await page.$eval(".message.assistant .stats", (el) => el.textContent);
    assert.match(stats, /stopped$/);
    const conv = (await stored(page)).find((c) => c.messages[0]?.content === "Tell me a long story");
    assert.ok(conv.messages[1].content.length > 0);

    // Esc stops too, and regenerate starts the answer again.
    await page.click(".message.assistant .actions button:nth-child(2)");  // Regenerate
    await page.waitForFunction(() => (document.querySelector(".message.assistant .bubble")?.textContent.length ?? 0) > 20,
      { timeout: 30_000 });
    await page.keyboard.press("Escape");
    await waitIdle(page);
    await eventually(async () => (await metrics(server.url)).get("vllm:num_requests_running") === 0, 5_000, "running 0");
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test("conversations survive a reload; rename, edit and resend, delete", async () => {
    const page = await openChat(server.url);
    await page.click("#new-chat");
    await page.click("#settings-button");
    await setField(page, "max-tokens", 5);
    await setField(page, "system", "You are terse.");
    await send(page, "First question");
    await waitIdle(page);
    await page.reload({ waitUntil: "load" });
    await page.waitForSelector(".message.assistant .stats");
    assert.equal(await page.$eval("#title", (el) => el.textContent), "First question");
    assert.equal(await page.$eval(".message.user .bubble", (el) => el.textContent), "First question");
    assert.equal(await page.$eval("#system", (el) => el.value), "You are terse.");
    const titles = await page.$$eval("#conversations li .open", (els) => els.map((e) => e.textContent));
    assert.ok(titles.includes("Hello there") && titles.includes("First question"), titles.join(", "));

    // Rename.
    await page.click('#conversations li[aria-current="true"] button[aria-label^="Rename"]');
    await page.$eval("#conversations li input", (el) => (el.value = ""));
    await page.type("#conversations li input", "Renamed");
    await page.keyboard.press("Enter");
    assert.equal(await page.$eval('#conversations li[aria-current="true"] .open', (el) => el.textContent), "Renamed");

    // Edit and resend: the conversation is cut at the edited message and answered again.
    await page.click('.message.user button[aria-label="Edit and resend"]');
    await page.$eval(".message.user textarea.edit", (el) => (el.value = "Second question"));
    await page.click(".message.user .actions button");  // Save and send
    await waitIdle(page);
    const conv = (await stored(page)).find((c) => c.title === "Renamed");
    assert.deepEqual(conv.messages.map((m) => m.role), ["user", "assistant"]);
    assert.equal(conv.messages[0].content, "Second question");
    // The system prompt went with it: the server rendered it into the prompt.
    const withSystem = await client.chat.completions.create({
      model: "tiny", messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Second question" }],
      max_tokens: 5,
    });
    assert.equal(conv.messages[1].stats.prompt_tokens, withSystem.usage.prompt_tokens);

    // Delete.
    await page.click('#conversations li[aria-current="true"] button[aria-label^="Delete"]');
    assert.ok(!(await stored(page)).some((c) => c.title === "Renamed"));
    await page.close();
  });

  test("model output is shown as text, never run: <script> and event handlers stay inert", async () => {
    const page = await openChat(server.url);
    // The answer arrives as a model would stream it; the request is answered in the browser so
    // the test controls the exact bytes.
    await page.setRequestInterception(true);
    const hostile = [
      "<think>plan: <b>bold?</b></think>Here:\n\n<script>window.pwned = 1</script>\n",
      "<img src=x onerror=\"window.pwned = 2\">\n\n[click](javascript:window.pwned=3) ",
      "**bold** `<i>code</i>`\n\n```html\n<script>window.pwned = 4</script>\n```\n",
    ];
    page.on("request", (req) => {
      if (!req.url().endsWith("/v1/chat/completions")) return req.continue();
      const events = hostile.map((t) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: t }, finish_reason: null }] })}\n\n`);
      events.push(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`, "data: [DONE]\n\n");
      req.respond({ status: 200, contentType: "text/event-stream", body: events.join("") });
    });
    await page.click("#new-chat");
    await send(page, "Say something hostile");
    await waitIdle(page);
    const result = await page.evaluate(() => {
      const msg = document.querySelector(".message.assistant");
      return {
        pwned: window.pwned,
        scripts: msg.querySelectorAll("script").length,
        imgs: msg.querySelectorAll("img").length,
        bolds: [...msg.querySelectorAll(".bubble b")].length,
        strong: [...msg.querySelectorAll(".bubble strong")].map((e) => e.textContent),
        links: [...msg.querySelectorAll("a")].map((a) => a.getAttribute("href")),
        text: msg.querySelector(".bubble").textContent,
        reasoning: msg.querySelector("details.reasoning .body")?.textContent,
        code: msg.querySelector("pre code")?.textContent,
      };
    });
    await new Promise((r) => setTimeout(r, 200));  // an onerror would have fired by now
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.equal(result.scripts, 0);
    assert.equal(result.imgs, 0);
    assert.equal(result.bolds, 0);
    assert.deepEqual(result.strong, ["bold"]);
    assert.deepEqual(result.links, []);
    assert.match(result.text, /<script>window\.pwned = 1<\/script>/);
    assert.match(result.text, /<img src=x onerror="window\.pwned = 2">/);
    assert.equal(result.reasoning, "plan: <b>bold?</b>");
    assert.equal(result.code, "<script>window.pwned = 4</script>");
    await page.close();
  });

  test("Markdown: code blocks with highlighting and a copy button, lists, tables, headings", async () => {
    const page = await openChat(server.url);
    const shape = await page.evaluate(() => {
      const el = document.createElement("div");
      window.HearthMarkdown.render(
        "# Title\n\nSome *em* and **strong** and `code`.\n\n- one\n- two\n  - nested\n\n1. first\n2. second\n\n" +
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\n```python\ndef f(x):  # comment\n    return \"s\" + 1\n```\n", el);
      return {
        h: el.querySelector("h3")?.textContent,
        em: el.querySelector("em")?.textContent,
        ul: [...el.querySelectorAll(":scope > ul > li")].length,
        nested: el.querySelector("ul ul li")?.textContent,
        ol: [...el.querySelectorAll("ol > li")].map((x) => x.textContent),
        cells: [...el.querySelectorAll("td")].map((x) => x.textContent),
        quote: el.querySelector("blockquote")?.textContent,
        keyword: [...el.querySelectorAll("pre .tok-keyword")].map((x) => x.textContent),
        comment: el.querySelector("pre .tok-comment")?.textContent,
        string: el.querySelector("pre .tok-string")?.textContent,
        copy: !!el.querySelector("pre button.copy-code"),
      };
    });
    assert.deepEqual(shape, {
      h: "Title", em: "em", ul: 2, nested: "nested", ol: ["first", "second"], cells: ["1", "2"], quote: "quoted",
      keyword: ["def", "return"], comment: "# comment", string: "\"s\"", copy: true,
    });
    await page.close();
  });

  test("a text file attaches into the message; the theme toggles and is kept", async () => {
    const page = await openChat(server.url, { theme: "light" });
    const file = path.join(dir, "notes.txt");
    fs.writeFileSync(file, "line one\nline two <b>x</b>\n");
    await page.click("#new-chat");
    await page.type("#input", "Summarise:");
    const input = await page.$("#attach-file");
    await input.uploadFile(file);
    await page.waitForFunction(() => document.querySelector("#input").value.includes("line two"));
    assert.equal(await page.$eval("#input", (el) => el.value), "Summarise:\n\nnotes.txt:\n```\nline one\nline two <b>x</b>\n\n```\n");
    assert.match(await page.$eval("#status", (el) => el.textContent), /Attached notes\.txt/);

    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
    await page.click("#theme");
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.reload({ waitUntil: "load" });
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), bg);
    assert.notEqual(bg, "rgb(255, 255, 255)");
    // Leave the page as the tests after this one expect it: the system's theme, and the last
    // conversation with an answer shown.
    await page.evaluate(() => localStorage.removeItem("hearth.theme"));
    await page.click('#conversations li[aria-current="true"] button[aria-label^="Delete"]');
    await page.close();
  });

  test("two models in one server: the picker lists both and each answer comes from the model picked", async () => {
    const other = path.join(dir, "other.gguf");
    hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "--seed", "5", "-o", other);
    const both = await startServer(MODEL, ["--served-model-name", "first", "-m", other, "--served-model-name", "second"]);
    try {
      const c = new OpenAI({ baseURL: `${both.url}/v1`, apiKey: "x", maxRetries: 0 });
      assert.deepEqual((await c.models.list()).data.map((m) => m.id), ["first", "second"]);
      const page = await openChat(both.url);
      await page.waitForSelector("#model option");
      assert.deepEqual(await page.$$eval("#model option", (o) => o.map((x) => x.value)), ["first", "second"]);
      await page.click("#settings-button");
      const answers = {};
      for (const model of ["first", "second"]) {
        await page.click("#new-chat");
        await setField(page, "temperature", 0);  // settings are the conversation's
        await setField(page, "max-tokens", 8);
        await page.select("#model", model);
        await send(page, "Which model are you?");
        await waitIdle(page);
        const conv = (await stored(page)).find((x) => x.model === model);
        answers[model] = conv.messages[1].content;
        const ref = await c.chat.completions.create({
          model, messages: [{ role: "user", content: "Which model are you?" }], temperature: 0, max_tokens: 8,
        });
        assert.equal(answers[model], ref.choices[0].message.content, model);
      }
      assert.notEqual(answers.first, answers.second);  // two different random models
      // Each model's tokens are counted under its own name.
      const m = await metrics(both.url);
      assert.equal(m.get('vllm:generation_tokens_total{model_name="first"}'), 16);
      assert.equal(m.get('vllm:generation_tokens_total{model_name="second"}'), 16);
      const missing = await c.chat.completions.create({ model: "third", messages: [{ role: "user", content: "x" }] })
        .catch((e) => e);
      assert.equal(missing.status, 404);
      assert.match(missing.message, /This server serves 'first', 'second'/);
      await page.close();
    } finally {
      await both.stop();
    }
  });

  test("a key-protected server: the page asks for the key once and keeps it", async () => {
    const keyed = await startServer(MODEL, ["--served-model-name", "tiny-keyed", "--api-key", "sesame"]);
    try {
      const page = await openChat(keyed.url);
      await page.waitForSelector("#key-dialog[open]");
      await page.type("#key-input", "sesame");
      await page.click('#key-form button[value="save"]');
      await page.waitForSelector("#model option");
      assert.deepEqual(await page.$$eval("#model option", (o) => o.map((x) => x.value)), ["tiny-keyed"]);
      await page.click("#settings-button");
      await setField(page, "max-tokens", 4);
      await send(page, "Hi");
      await waitIdle(page);
      assert.equal(await page.$$eval(".message.error", (e) => e.length), 0);
      // Kept in the browser: a reload asks nothing.
      await page.reload({ waitUntil: "load" });
      await page.waitForSelector("#model option");
      assert.equal(await page.$eval("#key-dialog", (d) => d.open), false);
      // A wrong key is refused with a clear message and asked for again.
      await page.evaluate(() => localStorage.setItem("hearth.apiKey", "wrong"));
      await page.reload({ waitUntil: "load" });
      await page.waitForSelector("#key-dialog[open]");
      assert.match(await page.$eval("#key-reason", (e) => e.textContent), /refused the saved API key/);
      await page.close();
    } finally {
      await keyed.stop();
    }
  });

  test("the dashboard's plots follow the server's metrics", async () => {
    const page = await openChat(`${server.url}/dashboard`);
    await page.waitForFunction(() => window.hearthDashboard.samples.length >= 2, { timeout: 10_000 });
    const before = await page.evaluate(() => window.hearthDashboard.points.tokensOut.slice());
    const r = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "count" }], max_tokens: 200 });
    assert.ok(r.usage.completion_tokens > 0);
    // A sample after the request shows generated tokens per second above zero.
    await page.waitForFunction(() => window.hearthDashboard.points.tokensOut.some((v) => v > 0), { timeout: 10_000 });
    const m = await metrics(server.url);
    await page.waitForFunction((n) => [...document.querySelectorAll("#totals td")].some((td) => td.textContent === n),
      { timeout: 5_000 }, m.get("vllm:generation_tokens_total").toLocaleString("en-US"));
    assert.equal(await page.$eval("#totals th", (e) => e.textContent), "tiny");
    assert.match(await page.$eval("#now-latency", (e) => e.textContent), /TTFT p50 [\d.]+k? ms/);
    assert.ok(before.every((v) => v === 0));
    await page.screenshot({ path: path.join(SCREENSHOTS, "dashboard.png") });
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test("the dashboard shows each named key's usage, as the client's usage fields add it up", async () => {
    const db = path.join(dir, "keys.db");
    const secret = hearth("keys", "--db", db, "create", "--name", "alice").trim().split(/\s+/).pop();
    const keyed = await startServer(MODEL, ["--served-model-name", "tiny", "--db", db, "--usage-flush-ms", "50"]);
    try {
      const c = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: secret, maxRetries: 0 });
      let prompt = 0, cached = 0, completion = 0;
      for (const n of [3, 5]) {
        const r = await c.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: `hi ${n}` }], max_tokens: n });
        prompt += r.usage.prompt_tokens;
        cached += r.usage.prompt_tokens_details?.cached_tokens ?? 0;
        completion += r.usage.completion_tokens;
      }
      const page = await openChat(`${keyed.url}/dashboard`);
      await page.waitForFunction(() => !document.querySelector("#keys-table").hidden, { timeout: 10_000 });
      const row = await page.$$eval("#key-totals tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
      assert.deepEqual(row, [["alice", "2", prompt.toLocaleString("en-US"), cached.toLocaleString("en-US"),
        completion.toLocaleString("en-US"), "0"]]);
      assert.deepEqual(await page.$$eval("#totals tr", (rows) => rows.map((r) => r.cells[1].textContent)), ["yes"]);
      assert.deepEqual(page.errors, []);
      await page.close();
    } finally {
      await keyed.stop();
    }
  });

  test("axe-core finds no serious or critical accessibility issue, in either theme", async () => {
    for (const theme of ["light", "dark"]) {
      for (const route of ["/", "/dashboard"]) {
        const page = await browser.newPage();
        await page.setBypassCSP(true);  // axe is injected as a script the page's policy would refuse
        await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: theme }]);
        await page.goto(`${server.url}${route}`, { waitUntil: "load" });
        if (route === "/") {
          await page.waitForSelector(".message.assistant .stats");  // a conversation from the tests above
          await page.click("#settings-button");
          await page.evaluate(() => document.querySelector("details.reasoning")?.setAttribute("open", ""));
        } else {
          await page.waitForFunction(() => window.hearthDashboard.samples.length >= 2);
        }
        await page.addScriptTag({ path: AXE });
        const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
        const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
        assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [],
          `${route} (${theme})`);
        if (theme === "dark" && route === "/") await page.screenshot({ path: path.join(SCREENSHOTS, "chat-dark.png") });
        await page.close();
      }
    }
  });
});
