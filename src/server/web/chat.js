// hearth's web chat: conversations kept in this browser (localStorage), answers streamed from
// /v1/chat/completions and rendered as Markdown (markdown.js, DOM nodes only). No framework and
// no build step: the page is served from the binary as written here.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const STORE = "hearth.conversations";
  const CURRENT = "hearth.current";
  const KEY = "hearth.apiKey";
  const THEME = "hearth.theme";
  const MAX_ATTACH_BYTES = 512 * 1024;

  let conversations = [];
  let current = null;          // the conversation shown
  let models = [];             // /v1/models data
  let running = null;          // {controller, conversation, message} while an answer streams
  let renderQueued = false;

  // --- storage --------------------------------------------------------------------------------

  function load() {
    try {
      const list = JSON.parse(localStorage.getItem(STORE) || "[]");
      conversations = Array.isArray(list) ? list.filter((c) => c && typeof c.id === "string" && Array.isArray(c.messages)) : [];
    } catch {
      conversations = [];
    }
  }

  function save() {
    try {
      localStorage.setItem(STORE, JSON.stringify(conversations));
      if (current) localStorage.setItem(CURRENT, current.id);
    } catch (e) {
      setStatus(`Could not save the conversations in this browser: ${e.message}`);
    }
  }

  function newConversation() {
    const c = {
      id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8),
      title: "",
      created: Date.now(),
      model: $("model").value || (models[0] && models[0].id) || "",
      system: "",
      temperature: "",
      top_p: "",
      max_tokens: "",
      messages: [],
    };
    conversations.unshift(c);
    return c;
  }

  function titleOf(c) {
    if (c.title) return c.title;
    const first = c.messages.find((m) => m.role === "user");
    return first ? first.content.trim().split("\n")[0].slice(0, 60) || "New chat" : "New chat";
  }

  // --- API ------------------------------------------------------------------------------------

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = localStorage.getItem(KEY);
    if (key) h.Authorization = `Bearer ${key}`;
    return h;
  }

  // fetch() that asks for the API key once when the server answers 401, then retries.
  async function api(path, init = {}) {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(path, { ...init, headers: headers() });
      if (res.status !== 401 || attempt > 0) return res;
      const saved = await askKey(localStorage.getItem(KEY) ? "The server refused the saved API key." : null);
      if (!saved) return res;
    }
  }

  function askKey(reason) {
    const dialog = $("key-dialog");
    $("key-reason").textContent = reason || "This server asks for an API key. It is kept in this browser only.";
    $("key-input").value = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        const key = $("key-input").value.trim();
        if (dialog.returnValue === "save" && key) {
          localStorage.setItem(KEY, key);
          resolve(true);
        } else {
          resolve(false);
        }
      });
    });
  }

  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error && body.error.message) return `${res.status}: ${body.error.message}`;
    } catch {}
    return `${res.status} ${res.statusText}`;
  }

  async function loadModels() {
    try {
      const res = await api("/v1/models");
      if (!res.ok) {
        setStatus(`Could not list the models (${await errorText(res)})`);
        return;
      }
      models = (await res.json()).data || [];
    } catch (e) {
      setStatus(`Could not reach the server: ${e.message}`);
      return;
    }
    const select = $("model");
    select.replaceChildren();
    for (const m of models) {
      const opt = document.createElement("option");
      opt.value = m.id;
      opt.textContent = m.id;
      select.appendChild(opt);
    }
    if (current && models.some((m) => m.id === current.model)) select.value = current.model;
    else if (current && models.length) current.model = select.value;
  }

  // --- streaming an answer --------------------------------------------------------------------

  // Reasoning models write <think>...</think> before the answer (when the server does not split
  // it into reasoning_content itself): shown apart, in a collapsible block.
  function splitThink(content) {
    const m = /^\s*<think>([\s\S]*?)(<\/think>|$)([\s\S]*)$/.exec(content);
    if (!m) return { reasoning: "", answer: content };
    return { reasoning: m[1].trim(), answer: m[3].replace(/^\s+/, ""), thinking: !m[2] };
  }

  function requestBody(c) {
    const messages = [];
    if (c.system.trim()) messages.push({ role: "system", content: c.system });
    for (const m of c.messages) {
      if (m.role === "user") messages.push({ role: "user", content: m.content });
      else if (m.role === "assistant") messages.push({ role: "assistant", content: splitThink(m.content).answer });
    }
    const body = { model: c.model || undefined, messages, stream: true, stream_options: { include_usage: true } };
    const num = (v) => (v === "" || v === null || v === undefined ? undefined : Number(v));
    if (num(c.temperature) !== undefined) body.temperature = num(c.temperature);
    if (num(c.top_p) !== undefined) body.top_p = num(c.top_p);
    if (num(c.max_tokens) !== undefined) body.max_tokens = Math.trunc(num(c.max_tokens));
    return body;
  }

  async function generate(c) {
    if (running) return;
    const body = JSON.stringify(requestBody(c));  // the conversation before the answer it asks for
    const message = { role: "assistant", content: "", reasoning: "", tool_calls: [], stats: null };
    c.messages.push(message);
    const controller = new AbortController();
    running = { controller, conversation: c, message };
    setRunning(true);
    renderMessages();
    const started = performance.now();
    let first = 0, last = 0, chunks = 0, usage = null, finish = null;
    try {
      const res = await api("/v1/chat/completions", {
        method: "POST",
        body,
        signal: controller.signal,
      });
      if (!res.ok) throw new Error(await errorText(res));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          for (const line of event.split("\n")) {
            if (!line.startsWith("data:")) continue;
            const data = line.slice(5).trim();
            if (data === "[DONE]") continue;
            const chunk = JSON.parse(data);
            if (chunk.error) throw new Error(chunk.error.message || "the server reported an error");
            if (chunk.usage) usage = chunk.usage;
            for (const choice of chunk.choices || []) {
              const d = choice.delta || {};
              if (d.content || d.reasoning_content || d.tool_calls) {
                if (!first) first = performance.now();
                last = performance.now();
                chunks++;
              }
              if (d.content) message.content += d.content;
              if (d.reasoning_content) message.reasoning += d.reasoning_content;
              for (const call of d.tool_calls || []) mergeToolCall(message.tool_calls, call);
              if (choice.finish_reason) finish = choice.finish_reason;
            }
          }
          scheduleRender();
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") message.error = e.message;
      else finish = "stopped";
    } finally {
      const tokens = usage ? usage.completion_tokens : chunks;
      const seconds = first && last > first ? (last - first) / 1000 : 0;
      message.stats = {
        tokens,
        prompt_tokens: usage ? usage.prompt_tokens : null,
        tokens_per_second: seconds > 0 && tokens > 1 ? (tokens - 1) / seconds : null,
        first_token_ms: first ? first - started : null,
        finish: finish,
      };
      running = null;
      setRunning(false);
      save();
      renderMessages();
      renderList();
    }
  }

  function mergeToolCall(calls, delta) {
    const i = delta.index ?? calls.length;
    const call = (calls[i] = calls[i] || { id: "", name: "", arguments: "" });
    if (delta.id) call.id = delta.id;
    if (delta.function && delta.function.name) call.name += delta.function.name;
    if (delta.function && delta.function.arguments) call.arguments += delta.function.arguments;
  }

  function stop() {
    if (running) running.controller.abort();
  }

  // --- rendering ------------------------------------------------------------------------------

  function setStatus(text) {
    $("status").textContent = text || "";
  }

  function setRunning(on) {
    $("send").hidden = on;
    $("stop").hidden = !on;
    document.body.dataset.state = on ? "generating" : "idle";
  }

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      if (!running || running.conversation !== current) return;
      const el = document.querySelector("#messages .message:last-child");
      if (el) fillAssistant(el, running.message, current.messages.length - 1, true);
      keepScrolled();
    });
  }

  function keepScrolled() {
    const box = $("messages");
    if (box.scrollHeight - box.scrollTop - box.clientHeight < 120) box.scrollTop = box.scrollHeight;
  }

  function button(label, onClick, extra = {}) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = label;
    if (extra.label) b.setAttribute("aria-label", extra.label);
    b.addEventListener("click", onClick);
    return b;
  }

  function renderMessages() {
    const box = $("messages");
    box.replaceChildren();
    $("title").textContent = current ? titleOf(current) : "New chat";
    if (!current || !current.messages.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "Send a message to start.";
      box.appendChild(p);
      return;
    }
    current.messages.forEach((m, i) => {
      const el = document.createElement("article");
      el.className = `message ${m.role}`;
      el.dataset.index = i;
      if (m.role === "user") fillUser(el, m, i);
      else fillAssistant(el, m, i, running && running.message === m);
      box.appendChild(el);
    });
    box.scrollTop = box.scrollHeight;
  }

  function fillUser(el, m, i) {
    el.replaceChildren();
    el.setAttribute("aria-label", "You");
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = m.content;
    el.appendChild(bubble);
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(
      button("Edit", () => editUser(el, i), { label: "Edit and resend" }),
      button("Copy", (e) => window.HearthMarkdown.copyText(m.content, e.target), { label: "Copy message" }),
    );
    el.appendChild(actions);
  }

  function editUser(el, i) {
    if (running) return;
    const area = document.createElement("textarea");
    area.className = "edit";
    area.value = current.messages[i].content;
    area.setAttribute("aria-label", "Edit message");
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(
      button("Save and send", () => {
        const text = area.value.trim();
        if (!text) return;
        current.messages = current.messages.slice(0, i);
        current.messages.push({ role: "user", content: text });
        save();
        generate(current);
      }),
      button("Cancel", () => renderMessages()),
    );
    el.replaceChildren(area, actions);
    area.focus();
  }

  function fillAssistant(el, m, i, streaming) {
    el.replaceChildren();
    el.setAttribute("aria-label", "Assistant");
    const { reasoning: inline, answer, thinking } = splitThink(m.content);
    const reasoning = [m.reasoning, inline].filter(Boolean).join("\n");
    if (reasoning) {
      const details = document.createElement("details");
      details.className = "reasoning";
      if (streaming && thinking) details.open = true;
      const summary = document.createElement("summary");
      summary.textContent = streaming && thinking ? "Thinking…" : "Reasoning";
      const body = document.createElement("div");
      body.className = "body";
      body.textContent = reasoning;
      details.append(summary, body);
      el.appendChild(details);
    }
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    window.HearthMarkdown.render(answer, bubble);
    el.appendChild(bubble);
    for (const call of m.tool_calls || []) {
      if (!call) continue;
      const box = document.createElement("div");
      box.className = "tool-call";
      const name = document.createElement("strong");
      name.textContent = `Tool call: ${call.name || "(unnamed)"}`;
      const args = document.createElement("pre");
      args.textContent = call.arguments;
      box.append(name, args);
      el.appendChild(box);
    }
    if (m.error) {
      const err = document.createElement("div");
      err.className = "bubble";
      err.setAttribute("role", "alert");
      err.textContent = `Error: ${m.error}`;
      el.classList.add("error");
      el.appendChild(err);
    }
    if (streaming) return;
    if (m.stats) el.appendChild(statsLine(m.stats));
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.appendChild(button("Copy", (e) => window.HearthMarkdown.copyText(m.content, e.target), { label: "Copy answer" }));
    if (i === current.messages.length - 1)
      actions.appendChild(button("Regenerate", () => regenerate(i), { label: "Regenerate answer" }));
    el.appendChild(actions);
  }

  function statsLine(s) {
    const parts = [];
    parts.push(`${s.tokens} token${s.tokens === 1 ? "" : "s"}`);
    if (s.tokens_per_second) parts.push(`${s.tokens_per_second.toFixed(1)} tokens/s`);
    if (s.first_token_ms !== null && s.first_token_ms !== undefined) parts.push(`first token ${Math.round(s.first_token_ms)} ms`);
    const model = models.find((x) => current && x.id === current.model);
    if (s.prompt_tokens !== null && s.prompt_tokens !== undefined) {
      const used = s.prompt_tokens + s.tokens;
      parts.push(model && model.max_model_len ? `context ${used} / ${model.max_model_len}` : `context ${used}`);
    }
    if (s.finish === "stopped") parts.push("stopped");
    else if (s.finish === "length") parts.push("cut at the token limit");
    const div = document.createElement("div");
    div.className = "stats";
    div.textContent = parts.join(" · ");
    return div;
  }

  function regenerate(i) {
    if (running) return;
    current.messages = current.messages.slice(0, i);
    generate(current);
  }

  function renderList() {
    const ul = $("conversations");
    ul.replaceChildren();
    for (const c of conversations) {
      const li = document.createElement("li");
      li.dataset.id = c.id;
      if (c === current) li.setAttribute("aria-current", "true");
      const open = document.createElement("button");
      open.type = "button";
      open.className = "open";
      open.textContent = titleOf(c);
      open.addEventListener("click", () => select(c));
      li.append(
        open,
        button("Rename", () => rename(li, c), { label: `Rename ${titleOf(c)}` }),
        button("Delete", () => remove(c), { label: `Delete ${titleOf(c)}` }),
      );
      ul.appendChild(li);
    }
  }

  function rename(li, c) {
    const input = document.createElement("input");
    input.value = titleOf(c);
    input.setAttribute("aria-label", "Conversation name");
    const done = (keep) => {
      if (keep && input.value.trim()) c.title = input.value.trim().slice(0, 200);
      save();
      renderList();
      $("title").textContent = titleOf(current);
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") done(true);
      if (e.key === "Escape") done(false);
    });
    input.addEventListener("blur", () => done(true));
    li.replaceChildren(input);
    input.focus();
    input.select();
  }

  function remove(c) {
    if (running && running.conversation === c) stop();
    conversations = conversations.filter((x) => x !== c);
    if (current === c) current = conversations[0] || newConversation();
    save();
    showConversation();
  }

  function select(c) {
    current = c;
    save();
    showConversation();
  }

  function showConversation() {
    $("system").value = current.system;
    $("temperature").value = current.temperature;
    $("top-p").value = current.top_p;
    $("max-tokens").value = current.max_tokens;
    if (models.some((m) => m.id === current.model)) $("model").value = current.model;
    else current.model = $("model").value;
    renderList();
    renderMessages();
  }

  // --- input ----------------------------------------------------------------------------------

  function submit() {
    const input = $("input");
    const text = input.value.trim();
    if (!text || running) return;
    if (!current) current = newConversation();
    current.messages.push({ role: "user", content: text });
    input.value = "";
    save();
    renderList();
    generate(current);
  }

  async function attach(file) {
    if (!file) return;
    if (file.size > MAX_ATTACH_BYTES) {
      setStatus(`${file.name} is larger than ${MAX_ATTACH_BYTES / 1024} KB; attach a smaller text file.`);
      return;
    }
    const text = await file.text();
    const input = $("input");
    const fence = text.includes("```") ? "````" : "```";
    input.value += `${input.value ? "\n\n" : ""}${file.name}:\n${fence}\n${text}\n${fence}\n`;
    input.focus();
    setStatus(`Attached ${file.name} (${text.length} characters).`);
  }

  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    $("theme").textContent = theme === "dark" ? "Light theme" : "Dark theme";
  }

  function bind() {
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      submit();
    });
    $("input").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submit();
      }
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && running) {
        e.preventDefault();
        stop();
      }
    });
    $("stop").addEventListener("click", stop);
    $("new-chat").addEventListener("click", () => {
      if (!current || current.messages.length) current = newConversation();
      save();
      showConversation();
      $("input").focus();
    });
    $("attach").addEventListener("click", () => $("attach-file").click());
    $("attach-file").addEventListener("change", (e) => {
      attach(e.target.files[0]);
      e.target.value = "";
    });
    $("settings-button").addEventListener("click", (e) => {
      const panel = $("settings");
      panel.hidden = !panel.hidden;
      e.target.setAttribute("aria-expanded", String(!panel.hidden));
    });
    const setting = (id, field) =>
      $(id).addEventListener("change", (e) => {
        current[field] = e.target.value;
        save();
      });
    setting("system", "system");
    setting("temperature", "temperature");
    setting("top-p", "top_p");
    setting("max-tokens", "max_tokens");
    $("model").addEventListener("change", (e) => {
      current.model = e.target.value;
      save();
    });
    $("theme").addEventListener("click", () => {
      const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      localStorage.setItem(THEME, next);
      applyTheme(next);
    });
    $("key-button").addEventListener("click", async () => {
      if (await askKey("Set the API key this page sends (kept in this browser only).")) loadModels();
    });
  }

  async function init() {
    applyTheme(localStorage.getItem(THEME) || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
    bind();
    load();
    const id = localStorage.getItem(CURRENT);
    current = conversations.find((c) => c.id === id) || conversations[0] || null;
    await loadModels();
    if (!current) current = newConversation();
    showConversation();
    setRunning(false);
    $("input").focus();
  }

  init();
})();
