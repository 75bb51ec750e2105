// hearth's dashboard: samples the server's own /metrics (Prometheus text, vLLM's names) once a
// second and plots the last five minutes on canvases. Rates come from counter differences,
// percentiles from the histogram buckets' differences over the last minute.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const PERIOD_MS = 1000;
  const KEEP = 300;          // samples: five minutes
  const WINDOW = 60;         // samples the "last minute" figures span
  const samples = [];        // {t, series: Map(name -> [{labels, value}])}
  window.hearthDashboard = { samples, points: {} };  // read by the browser tests

  // --- Prometheus text format ------------------------------------------------------------------

  function parseLabels(text) {
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"/g;
    for (let m; (m = re.exec(text)); ) labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    return labels;
  }

  function parse(text) {
    const series = new Map();
    for (const line of text.split("\n")) {
      if (!line || line[0] === "#") continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const value = Number(m[3]);
      if (!Number.isFinite(value)) continue;
      if (!series.has(m[1])) series.set(m[1], []);
      series.get(m[1]).push({ labels: m[2] ? parseLabels(m[2]) : {}, value });
    }
    return series;
  }

  // The sum of a metric over all its series (all models), optionally filtered.
  function total(sample, name, filter = () => true) {
    let sum = 0;
    for (const s of (sample && sample.series.get(name)) || []) if (filter(s.labels)) sum += s.value;
    return sum;
  }

  // Cumulative bucket counts of a histogram (summed over models), as [[le, count]...] sorted by le.
  function buckets(sample, name) {
    const byLe = new Map();
    for (const s of (sample && sample.series.get(`${name}_bucket`)) || []) {
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) || 0) + s.value);
    }
    return [...byLe.entries()].sort((a, b) => a[0] - b[0]);
  }

  // The q-quantile of the observations between two samples, interpolated within its bucket as
  // Prometheus's histogram_quantile does; null with no observations.
  function quantile(q, older, newer, name) {
    const a = new Map(buckets(older, name));
    const diff = buckets(newer, name).map(([le, c]) => [le, c - (a.get(le) || 0)]);
    if (!diff.length) return null;
    const count = diff[diff.length - 1][1];
    if (!(count > 0)) return null;
    const rank = q * count;
    let prevLe = 0, prevCount = 0;
    for (const [le, c] of diff) {
      if (c >= rank) {
        if (le === Infinity) return prevLe;
        const inBucket = c - prevCount;
        return inBucket > 0 ? prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket : le;
      }
      prevLe = le;
      prevCount = c;
    }
    return prevLe;
  }

  // --- derived points ---------------------------------------------------------------------------

  function rate(name, i) {
    const a = samples[i - 1], b = samples[i];
    const dt = (b.t - a.t) / 1000;
    const d = total(b, name) - total(a, name);
    return dt > 0 && d >= 0 ? d / dt : 0;  // a restarted server resets its counters: no negative rates
  }

  function points() {
    const n = samples.length;
    const p = { tokensIn: [], tokensOut: [], running: [], waiting: [], kv: [], hit: [], ttft50: [], ttft95: [], itl50: [], itl95: [] };
    for (let i = 0; i < n; i++) {
      const s = samples[i];
      const back = samples[Math.max(0, i - WINDOW)];
      p.tokensIn.push(i ? rate("vllm:prompt_tokens_total", i) : 0);
      p.tokensOut.push(i ? rate("vllm:generation_tokens_total", i) : 0);
      p.running.push(total(s, "vllm:num_requests_running"));
      p.waiting.push(total(s, "vllm:num_requests_waiting"));
      p.kv.push(100 * total(s, "vllm:kv_cache_usage_perc"));
      const queries = total(s, "vllm:prefix_cache_queries_total") - total(back, "vllm:prefix_cache_queries_total");
      const hits = total(s, "vllm:prefix_cache_hits_total") - total(back, "vllm:prefix_cache_hits_total");
      p.hit.push(queries > 0 ? (100 * hits) / queries : null);
      const ms = (v) => (v === null ? null : 1000 * v);
      p.ttft50.push(ms(quantile(0.5, back, s, "vllm:time_to_first_token_seconds")));
      p.ttft95.push(ms(quantile(0.95, back, s, "vllm:time_to_first_token_seconds")));
      p.itl50.push(ms(quantile(0.5, back, s, "vllm:inter_token_latency_seconds")));
      p.itl95.push(ms(quantile(0.95, back, s, "vllm:inter_token_latency_seconds")));
    }
    return p;
  }

  // --- plots ----------------------------------------------------------------------------------

  function color(i) {
    return getComputedStyle(document.documentElement).getPropertyValue(`--plot-${i}`).trim() || "#888";
  }

  function plot(canvas, lines, fixedMax) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const style = getComputedStyle(document.documentElement);
    const dim = style.getPropertyValue("--fg-dim").trim();
    const border = style.getPropertyValue("--border").trim();
    let max = fixedMax || 0;
    if (!fixedMax) for (const l of lines) for (const v of l.values) if (v !== null && v > max) max = v;
    if (max <= 0) max = 1;
    const nice = fixedMax || niceCeil(max);
    const left = 44, bottom = h - 16, top = 6, right = w - 6;
    ctx.strokeStyle = border;
    ctx.fillStyle = dim;
    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    for (let k = 0; k <= 4; k++) {
      const y = bottom - ((bottom - top) * k) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(right, y);
      ctx.stroke();
      ctx.fillText(format((nice * k) / 4), 2, y + 4);
    }
    ctx.fillText("-5 min", left, h - 2);
    ctx.fillText("now", right - 20, h - 2);
    const x = (i) => right - ((right - left) * (KEEP - 1 - i)) / (KEEP - 1);
    lines.forEach((l, li) => {
      ctx.strokeStyle = color(l.color || li + 1);
      ctx.lineWidth = 2;
      ctx.beginPath();
      let pen = false;
      const offset = KEEP - l.values.length;
      l.values.forEach((v, i) => {
        if (v === null) {
          pen = false;
          return;
        }
        const px = x(i + offset), py = bottom - ((bottom - top) * Math.min(v, nice)) / nice;
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
      });
      ctx.stroke();
    });
  }

  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function format(v) {
    if (v === null || v === undefined) return "–";
    if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k`;
    return v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1);
  }

  const last = (a) => (a.length ? a[a.length - 1] : null);

  function draw() {
    const p = points();
    window.hearthDashboard.points = p;
    plot($("plot-tokens"), [{ values: p.tokensIn }, { values: p.tokensOut }]);
    $("now-tokens").textContent = `now: ${format(last(p.tokensIn))} in, ${format(last(p.tokensOut))} out`;
    plot($("plot-requests"), [{ values: p.running }, { values: p.waiting }]);
    $("now-requests").textContent = `now: ${format(last(p.running))} running, ${format(last(p.waiting))} waiting`;
    plot($("plot-cache"), [{ values: p.kv }, { values: p.hit, color: 3 }], 100);
    $("now-cache").textContent = `now: KV cache ${format(last(p.kv))}% used, prefix hits ${format(last(p.hit))}%`;
    plot($("plot-latency"), [{ values: p.ttft50 }, { values: p.ttft95 }, { values: p.itl50 }, { values: p.itl95 }]);
    $("now-latency").textContent =
      `TTFT p50 ${format(last(p.ttft50))} ms, p95 ${format(last(p.ttft95))} ms; ` +
      `inter-token p50 ${format(last(p.itl50))} ms, p95 ${format(last(p.itl95))} ms`;
    drawTotals();
  }

  // Rows of a totals table: the first cell names the row (a header cell), numbers are grouped.
  function fillRows(body, rows) {
    body.replaceChildren();
    for (const cells of rows) {
      const row = body.insertRow();
      cells.forEach((v, i) => {
        const c = i === 0 ? document.createElement("th") : row.insertCell();
        if (i === 0) {
          c.scope = "row";
          row.appendChild(c);
        }
        c.textContent = typeof v === "number" ? v.toLocaleString("en-US") : v;
      });
    }
  }

  function drawTotals() {
    const s = last(samples);
    // Every model the server answers for (hearth_model_loaded lists those not loaded now too).
    const names = new Set();
    const loaded = new Map();
    for (const x of (s && s.series.get("hearth_model_loaded")) || []) {
      names.add(x.labels.model_name || "");
      loaded.set(x.labels.model_name || "", x.value === 1);
    }
    // With no model loaded the engine series carry an empty name (kept so that autoscalers read a
    // zero): the model rows above stand for them.
    for (const x of (s && s.series.get("vllm:prompt_tokens_total")) || [])
      if (x.labels.model_name || !loaded.size) names.add(x.labels.model_name || "");
    fillRows($("totals"), [...names].map((name) => {
      const mine = (l) => (l.model_name || "") === name;
      return [
        name || "(none)",
        loaded.has(name) ? (loaded.get(name) ? "yes" : "no") : "yes",
        total(s, "vllm:request_success_total", mine),
        total(s, "vllm:prompt_tokens_total", mine),
        total(s, "vllm:prefix_cache_hits_total", mine),
        total(s, "vllm:generation_tokens_total", mine),
        total(s, "vllm:num_preemptions_total", mine),
      ];
    }));
    // Named keys (serve --db): what each used since the server started.
    const keys = [...new Set(((s && s.series.get("hearth_key_requests_total")) || []).map((x) => x.labels.key))];
    $("keys-table").hidden = keys.length === 0;
    fillRows($("key-totals"), keys.map((key) => {
      const mine = (l) => l.key === key;
      return [
        key,
        total(s, "hearth_key_requests_total", mine),
        total(s, "hearth_key_prompt_tokens_total", mine),
        total(s, "hearth_key_cached_tokens_total", mine),
        total(s, "hearth_key_completion_tokens_total", mine),
        total(s, "hearth_key_errors_total", mine),
      ];
    }));
  }

  async function tick() {
    try {
      const res = await fetch("/metrics", { cache: "no-store" });
      if (!res.ok) throw new Error(`${res.status}`);
      samples.push({ t: Date.now(), series: parse(await res.text()) });
      if (samples.length > KEEP) samples.shift();
      const health = await fetch("/health", { cache: "no-store" }).then((r) => r.json()).catch(() => null);
      $("health").textContent = health && health.status === "ok" ? "server: ok" : "server: loading";
    } catch (e) {
      $("health").textContent = `server unreachable (${e.message})`;
    }
    draw();
  }

  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    $("theme").textContent = theme === "dark" ? "Light theme" : "Dark theme";
    if (samples.length) draw();
  }

  applyTheme(localStorage.getItem("hearth.theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  $("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("hearth.theme", next);
    applyTheme(next);
  });
  tick();
  setInterval(tick, PERIOD_MS);
})();
