// The weight and first paint of a server's web page, measured in Debian's chromium (headless,
// puppeteer-core from tests/peers). For each URL: every resource the page loads (bytes as
// served, and gzip -9 of each), then first-contentful-paint over ROUNDS fresh loads (no cache),
// best and median. URLs are measured in alternating rounds so both see the same machine state.
//   node bench/web_page.mjs [ROUNDS] URL [URL...]
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "tests", "peers", "package.json"));
const puppeteer = require("puppeteer-core");

const args = process.argv.slice(2);
const rounds = /^\d+$/.test(args[0] ?? "") ? Number(args.shift()) : 10;
if (!args.length) {
  console.error("usage: node bench/web_page.mjs [ROUNDS] URL [URL...]");
  process.exit(2);
}

const browser = await puppeteer.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });

async function weigh(url) {
  const page = await browser.newPage();
  await page.setCacheEnabled(false);
  const resources = [];
  page.on("response", async (res) => {
    try {
      const body = await res.buffer();
      resources.push({ url: res.url(), bytes: body.length, gzip: zlib.gzipSync(body, { level: 9 }).length,
        encoding: res.headers()["content-encoding"] ?? "identity" });
    } catch {}
  });
  await page.goto(url, { waitUntil: "networkidle0" });
  await page.close();
  return resources;
}

async function firstPaint(url) {
  const page = await browser.newPage();
  await page.setCacheEnabled(false);
  await page.goto(url, { waitUntil: "load" });
  const fcp = await page.evaluate(() => new Promise((resolve) => {
    const entry = performance.getEntriesByName("first-contentful-paint")[0];
    if (entry) return resolve(entry.startTime);
    new PerformanceObserver((list) => resolve(list.getEntries()[0].startTime)).observe({ type: "paint", buffered: true });
  }));
  await page.close();
  return fcp;
}

const times = new Map(args.map((u) => [u, []]));
for (let r = 0; r < rounds; r++) for (const url of args) times.get(url).push(await firstPaint(url));
for (const url of args) {
  const res = await weigh(url);
  const bytes = res.reduce((s, r) => s + r.bytes, 0);
  const gz = res.reduce((s, r) => s + r.gzip, 0);
  const t = times.get(url).sort((a, b) => a - b);
  console.log(`${url}: ${res.length} resources, ${(bytes / 1024).toFixed(1)} KiB as decoded, ` +
    `${(gz / 1024).toFixed(1)} KiB gzip -9; first contentful paint best ${t[0].toFixed(0)} ms, ` +
    `median ${t[Math.floor(t.length / 2)].toFixed(0)} ms over ${t.length} loads`);
  for (const r of res) console.log(`  ${r.url} ${r.bytes} B (gzip ${r.gzip} B, served ${r.encoding})`);
}
await browser.close();
