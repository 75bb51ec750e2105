// Starting `hearth serve` for the tests, reading its /metrics, and raw HTTP helpers for requests
// no well-behaved client would send.
import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { getLlama } from "node-llama-cpp";
import OpenAI from "openai";
import { hearthBin } from "./lib.mjs";

// `model` served as `name` with an OpenAI client on it, and the same file loaded in llama.cpp
// (CPU) to compare with; close() stops both.
export async function serveWithLlama(model, name) {
  const server = await startServer(model, ["--served-model-name", name]);
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  const llamaModel = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
  return {
    server, client, llama, llamaModel,
    async close() {
      await server.stop();
      await llamaModel.dispose();
      await llama.dispose();
    },
  };
}

// Starts a server on a free port; resolves once /health says the model is loaded.
export async function startServer(model, extraArgs = [], env = {}) {
  const proc = spawn(hearthBin(), ["serve", "-m", model, "--port", "0", "-t", "2", ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env },
  });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60_000);
    proc.stderr.on("data", (d) => {
      log += d;
      const m = /ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}:\n${log}`)));
  });
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    proc,
    exited,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
}

// /metrics as a Map from the series (name plus labels, as printed) to its value, and by bare name
// (the first series of that name).
export async function metrics(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const series = line.slice(0, space);
    const value = Number(line.slice(space + 1));
    out.set(series, value);
    const name = series.replace(/\{.*$/, "");
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

// Polls until fn() is truthy (or throws after timeoutMs).
export async function eventually(fn, timeoutMs = 20_000, what = "condition") {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Sends raw bytes and returns what came back (status line parsed) when the server closes or
// after timeoutMs.
export function rawRequest(port, bytes, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    const chunks = [];
    const timer = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on("data", (d) => {
      chunks.push(d);
      // One response is enough: stop once headers and the announced body are in.
      const text = Buffer.concat(chunks).toString("latin1");
      const head = text.indexOf("\r\n\r\n");
      const len = /content-length: (\d+)/i.exec(text);
      if (head >= 0 && len && text.length >= head + 4 + Number(len[1])) sock.end();
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
    sock.write(bytes);
  });
}

// A JSON POST with node's http module: status, headers and parsed body (or raw text).
export function post(port, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = http.request(
      { host: "127.0.0.1", port, path, method: "POST", headers: { "content-type": "application/json", ...headers } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json = null;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

// llama.cpp's greedy continuation and the log-probability of each chosen token.
export async function llamaGreedyOf(llamaModel, prompt, n) {
  const context = await llamaModel.createContext({ contextSize: 512, threads: 2, flashAttention: false });
  try {
    const seq = context.getSequence();
    const out = [];
    const logprobs = [];
    let res = await seq.controlledEvaluate(
      prompt.map((t, i) => (i === prompt.length - 1 ? [t, { generateNext: { logits: true } }] : t)),
    );
    for (let i = 0; i < n; i++) {
      const logits = res[res.length - 1].next.logits;
      let best = -1;
      let bestV = -Infinity;
      let max = -Infinity;
      for (const [id, v] of logits) {
        if (v > bestV || (v === bestV && id < best)) [best, bestV] = [id, v];
        max = Math.max(max, v);
      }
      let sum = 0;
      for (const v of logits.values()) sum += Math.exp(v - max);
      out.push(best);
      logprobs.push(bestV - max - Math.log(sum));
      res = await seq.controlledEvaluate([[best, { generateNext: { logits: true } }]]);
    }
    return { tokens: out, logprobs };
  } finally {
    await context.dispose();
  }
}
