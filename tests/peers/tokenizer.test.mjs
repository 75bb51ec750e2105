// hearth's tokenizer against llama.cpp's (node-llama-cpp 3.22.1): for every vocab-only GGUF in
// shared/testdata/vocab, `hearth tokenize -m VOCAB --ids --no-special -f FILE` must give exactly
// the ids of `model.tokenize(text)` (no BOS, special-token text not parsed) over a corpus of a
// few hundred strings: English, CJK, Arabic, Hindi, emoji and ZWJ sequences, code with tabs and
// long whitespace runs, numbers, contractions, combining marks and other unusual Unicode.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { gguf } from "@huggingface/gguf";
import { TokenizerLoader } from "@lenml/tokenizers";
import { getLlama } from "node-llama-cpp";
import { corpus as largeCorpus } from "./corpus/text_corpus.mjs";
import { SHARED_DIR, bundleVocabDir, hearthBin, tmpDir } from "./lib.mjs";

const VOCAB_DIR = path.join(SHARED_DIR, "testdata", "vocab");
// Vocabularies shared/testdata lacks, from llama.cpp's own test set in its source bundle (cloned
// beside the harness, at the commit of the prebuilt libraries): BERT's WordPiece, and XLM-RoBERTa's
// Unigram (nomic-embed v2's file, which has no test vectors of its own).
const BUNDLE_DIR = bundleVocabDir();
const BUNDLE_VOCABS = [
  "ggml-vocab-bert-bge.gguf", "ggml-vocab-nomic-bert-moe.gguf", "ggml-vocab-gemma-4.gguf", "ggml-vocab-qwen35.gguf",
];
const VOCABS = [...fs.readdirSync(VOCAB_DIR).filter((f) => f.endsWith(".gguf")).sort(), ...BUNDLE_VOCABS];
const vocabPath = (name) => path.join(BUNDLE_VOCABS.includes(name) ? BUNDLE_DIR : VOCAB_DIR, name);

function corpus() {
  const fixed = [
    "Hello world", " Hello world", "Hello World!", "hello, world.", "  leading spaces", "trailing spaces   ",
    "It's a dog's life; they're here, we've gone, I'm sure you'll see, he'd say.", "IT'S YOU'RE WE'VE I'M",
    "don't   can't\twon't", "The quick brown fox jumps over the lazy dog.", "e.g. i.e. etc... ?!?! -- ---",
    "a", " ", "  ", "\t", "\n", "\n\n\n", "\r\n", " \r\n \r\n", "\t\t\ttabs\tand\tspaces    mixed \t \t",
    "3", "33", "333", "3333", "33333", "333333", "1234567890", "3.14159", "-42", "+1 (555) 123-4567",
    "1,000,000.00", "0x1F600", "2024-01-01T12:00:00Z", "v1.2.3-rc.4", "१२३४ ٣٤٥ 一二三", "½ ¾ ⅓ ⅞", "①②③",
    "你好，世界！", "我爱北京天安门。", "日本語のテキストです。カタカナ、ひらがな、漢字", "한국어 텍스트입니다",
    "مرحبا بالعالم", "السلام عليكم ورحمة الله", "שלום עולם", "Привет, мир! Как дела?", "Ελληνικά γράμματα",
    "नमस्ते दुनिया", "ภาษาไทย ง่ายนิดเดียว", "Tiếng Việt có dấu", "Ärger über Öl, Straße, ÄÖÜ äöü ß",
    "façade naïve résumé coöperate", "e\u0301 a\u0300 n\u0303 (combining marks)", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗̻ zalgo",
    "🦙 llama", "🦙🦙🦙", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "👍🏽 thumbs", "🇺🇸🇯🇵 flags", "❤️ heart ♥",
    "emoji🙂in🙃words", "👩🏻‍💻👨🏿‍🚀", "a\u200bb\u200cc\u200dd", "\ufeffBOM at start", "non\u00a0breaking\u00a0space",
    "em\u2003space\u3000ideographic", "line\u2028separator\u2029para", "\u0085next line", "soft\u00adhyphen",
    "right-to-left \u202eoverride\u202c", "variation ︎selectors ︎", "𝕳𝖊𝖑𝖑𝖔 𝓌𝑜𝓇𝓁𝒹", "𐍈 gothic", "🀄 mahjong",
    "private use \ue000\uf8ff", "ﬁ ﬂ ligatures", "Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "ｶﾀｶﾅ halfwidth",
    "def foo(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "if x==1:\n        pass\n\n\n    # comment\n", "<html><body class=\"x\">&amp;</body></html>",
    "SELECT * FROM users WHERE id = 42;", "x = {'a': [1, 2, 3], \"b\": None}", "$ ls -la | grep '^d'",
    "a+b=c; a-b=d; a*b=e; a/b=f; a^b; a|b; a~b; `code`", "C:\\Users\\name\\file.txt", "https://example.com/a?b=c&d=e#f",
    "user@example.com", "#hashtag @mention", "((((nested))))", "[[[brackets]]]", "{{{braces}}}",
    "!!!!!!!!", "........", "________", "--------", "========", "~~~~~~~~", "''''''", "\"\"\"\"",
    "<s>", "</s>", "<|endoftext|>", "<|im_start|>user\nhi<|im_end|>", "<|begin_of_text|>", "<unk>", "[INST] hi [/INST]",
    "<｜fim▁begin｜>code<｜fim▁hole｜>", "<|assistant|>", "<|end|>", "▁underscore▁char", "Ġ G-dot Ċ",
    "   \n   \n   ", "\n \n \n", " \t \n \r ", "word\n\nword", "word \n word", "a  b   c    d     e",
    " ".repeat(40), "\t".repeat(12), "\n".repeat(20), "ab".repeat(50), "999".repeat(20), "!?".repeat(15),
    "ied 4 ½ months", "Äpfel", "w048 7tuijk dsdfhu", "нещо на Български", "កាន់តែពិសេសអាចខលចេញ",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
    "Hello\n\nHello", "Hello\tworld", "\u0000null\u0001control\u001fchars\u007f", "tab\u000bvertical\u000cformfeed",
  ];
  // Deterministic combinations of fragments from different scripts and classes.
  const pieces = [
    "the", " The", "ABC", "éà", "ß", "日本", "中文", "한", "ع", "ह", "🦙", "👨‍💻", "1", "22", "4444", " ", "  ",
    "\t", "\n", "\r\n", "'s", "'LL", "...", ",", "-", "_", "$", "€", "¥", "°C", "™", "→", "∑", "√2", "\u0301",
    "\u200d", "\u00a0", "\u3000", "ǅ", "ʰ", "Ⅻ", "٣", "²", "𝟘", "a'b", "\"q\"", "(", ")", "/", "\\",
  ];
  let seed = 12345;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const generated = [];
  for (let i = 0; i < 170; i++) {
    let s = "";
    const n = 2 + rand(10);
    for (let k = 0; k < n; k++) s += pieces[rand(pieces.length)];
    generated.push(s);
  }
  return [...fixed, ...generated];
}

const TEXTS = corpus();
const dir = tmpDir("tokenizer");
let llama;

before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
});

after(async () => {
  await llama?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

// All texts in one hearth run: one JSON string per input line, one line of ids per output line.
function hearthIdsAll(vocab, texts = TEXTS) {
  const file = path.join(dir, "texts.jsonl");
  fs.writeFileSync(file, texts.map((t) => JSON.stringify(t)).join("\n") + "\n");
  const res = spawnSync(hearthBin(), ["tokenize", "-m", vocab, "--no-special", "--jsonl", "-f", file],
                        { encoding: "utf8", maxBuffer: 1 << 28 });
  if (res.status !== 0) throw new Error(`hearth tokenize --jsonl exited ${res.status}: ${res.stderr}`);
  const lines = res.stdout.split("\n");
  return texts.map((_, i) => (lines[i].trim() === "" ? [] : lines[i].trim().split(/\s+/).map(Number)));
}

// llama.cpp's test vectors for the bundle's vocabularies (X.gguf.inp / X.gguf.out, as its
// test-tokenizer-0 reads them: inputs separated by "\n__ggml_vocab_test__\n", one line of ids each).
for (const name of BUNDLE_VOCABS.filter((v) => fs.existsSync(`${vocabPath(v)}.inp`))) {
  test(`tokenize matches llama.cpp's test vectors: ${name}`, () => {
    const vocab = vocabPath(name);
    const texts = fs.readFileSync(`${vocab}.inp`, "utf8").split("\n__ggml_vocab_test__\n");
    const want = fs.readFileSync(`${vocab}.out`, "utf8").split("\n").slice(0, texts.length)
      .map((l) => (l.trim() === "" ? [] : l.trim().split(/\s+/).map(Number)));
    assert.ok(texts.length >= 30, `${texts.length} vectors`);
    const got = hearthIdsAll(vocab, texts);
    const bad = texts.map((t, i) => [t, i]).filter(([, i]) => JSON.stringify(got[i]) !== JSON.stringify(want[i]));
    assert.equal(bad.length, 0, bad.slice(0, 5).map(([t, i]) => `${JSON.stringify(t)}: ${want[i]} vs ${got[i]}`).join("\n"));
  });
}

for (const name of VOCABS) {
  test(`tokenize matches llama.cpp: ${name} (${TEXTS.length} strings)`, async () => {
    const vocab = vocabPath(name);
    const model = await llama.loadModel({ modelPath: vocab, vocabOnly: true });
    try {
      const got = hearthIdsAll(vocab);
      const mismatches = [];
      TEXTS.forEach((text, i) => {
        const want = Array.from(model.tokenize(text));
        if (JSON.stringify(want) !== JSON.stringify(got[i])) {
          mismatches.push(`#${i} ${JSON.stringify(text)}\n  llama.cpp: ${want.join(" ")}\n  hearth:    ${got[i].join(" ")}`);
        }
      });
      assert.equal(mismatches.length, 0, `${mismatches.length} of ${TEXTS.length} differ:\n${mismatches.slice(0, 10).join("\n")}`);
    } finally {
      await model.dispose();
    }
  });
}

// BERT's WordPiece against transformers.js too: the tokenizer.json of bge / bert-base-uncased
// (BertNormalizer lowercasing and stripping accents, BertPreTokenizer, WordPiece with "##"),
// rebuilt from the GGUF's vocabulary (llama.cpp's converter writes a word-initial piece as
// "\u2581piece" and a continuation "##piece" as "piece"). Where transformers.js and llama.cpp
// disagree (NFD decomposing Hangul syllables into jamo, Indic vowel signs stripped as accents,
// final sigma, keycap emoji: hearth reads GGUF files as llama.cpp does), hearth must give
// llama.cpp's ids; everywhere else both.
async function bgeTokenizerJson() {
  const { metadata } = await gguf(vocabPath("ggml-vocab-bert-bge.gguf"), { allowLocalFile: true });
  const ids = {};
  metadata["tokenizer.ggml.tokens"].forEach((t, i) => {
    const piece = t.startsWith("[") && t.endsWith("]") ? t : t.startsWith("\u2581") ? t.slice(1) : `##${t}`;
    if (!(piece in ids)) ids[piece] = i;
  });
  const special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map((content) => ({
    id: ids[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  return {
    version: "1.0", added_tokens: special, post_processor: null,
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" }, decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: ids },
  };
}

test("WordPiece (bert-bge) matches transformers.js, or llama.cpp where the two differ", async () => {
  const vocab = vocabPath("ggml-vocab-bert-bge.gguf");
  const reference = TokenizerLoader.fromPreTrained({
    tokenizerJSON: await bgeTokenizerJson(),
    tokenizerConfig: { do_lower_case: true, model_max_length: 512 },
  });
  const texts = TEXTS.map((t) => t.toWellFormed());
  const got = hearthIdsAll(vocab, texts);
  const model = await llama.loadModel({ modelPath: vocab, vocabOnly: true });
  try {
    let agreeing = 0;
    const disagreements = [], wrong = [];
    texts.forEach((text, i) => {
      const hf = JSON.stringify(reference.encode(text, { add_special_tokens: false }));
      if (hf === JSON.stringify(got[i])) return void agreeing++;
      const cpp = JSON.stringify(Array.from(model.tokenize(text)));
      if (cpp === JSON.stringify(got[i]) && cpp !== hf) disagreements.push(JSON.stringify(text));
      else wrong.push(`${JSON.stringify(text)}\n  transformers.js: ${hf}\n  hearth: ${JSON.stringify(got[i])}`);
    });
    assert.equal(wrong.length, 0, wrong.slice(0, 10).join("\n"));
    assert.ok(agreeing >= 300, `${agreeing} strings agree with transformers.js`);
    assert.ok(disagreements.length <= 20, `${disagreements.length} llama.cpp/transformers.js disagreements`);
    console.log(`WordPiece: ${agreeing} of ${texts.length} strings equal transformers.js; ${disagreements.length} follow ` +
                `llama.cpp where it differs from transformers.js: ${disagreements.join(", ")}`);
  } finally {
    await model.dispose();
  }
});

// A BERT Hugging Face folder's vocabulary: the tokenizer.json above (the one transformers.js was
// held to) and its tokenizer_config.json in a folder beside a tiny bge model; hearth reads it into
// llama.cpp's form (phantom-space pieces, special tokens as control) and tokenizes every string of
// the corpus as it tokenizes the GGUF vocabulary, special tokens ([CLS] ... [SEP]) included.
test("WordPiece from a BERT folder's tokenizer.json tokenizes as the GGUF vocabulary", async () => {
  const folder = path.join(dir, "bge-folder");
  const mk = spawnSync(hearthBin(), ["mkmodel", "--preset", "bge-small-tiny", "--vocab-dir", bundleVocabDir(),
                                     "--format", "hf", "-o", folder], { encoding: "utf8" });
  assert.equal(mk.status, 0, mk.stderr);
  fs.writeFileSync(path.join(folder, "tokenizer.json"), JSON.stringify(await bgeTokenizerJson()));
  fs.writeFileSync(path.join(folder, "tokenizer_config.json"), JSON.stringify({
    cls_token: "[CLS]", sep_token: "[SEP]", unk_token: "[UNK]", pad_token: "[PAD]", mask_token: "[MASK]",
    do_lower_case: true, tokenizer_class: "BertTokenizer",
  }));
  const texts = TEXTS.map((t) => t.toWellFormed());
  assert.deepEqual(hearthIdsAll(folder, texts), hearthIdsAll(vocabPath("ggml-vocab-bert-bge.gguf"), texts));
  const withSpecial = (m) => spawnSync(hearthBin(), ["tokenize", "-m", m, "hello world"], { encoding: "utf8" }).stdout;
  assert.equal(withSpecial(folder), withSpecial(vocabPath("ggml-vocab-bert-bge.gguf")));
  assert.match(withSpecial(folder), /^101\b[\s\S]*\b102\b/);
});

// XLM-RoBERTa's Unigram against transformers.js: the tokenizer.json of xlm-roberta-base rebuilt
// from the GGUF (pieces and scores, the precompiled charsmap, Metaspace with a prefix space) plus
// a Strip normalizer, for SentencePiece's remove_extra_whitespaces (which the fast tokenizer's
// Replace alone does not do: it leaves a trailing "\u2581"). Strings holding special-token text
// are left out: transformers.js always splits those, hearth and llama.cpp only when asked to.
test("Unigram (nomic-bert-moe, XLM-R) matches transformers.js on the text corpus", async () => {
  const vocab = vocabPath("ggml-vocab-nomic-bert-moe.gguf");
  const { metadata } = await gguf(vocab, { allowLocalFile: true });
  const pieces = metadata["tokenizer.ggml.tokens"], scores = metadata["tokenizer.ggml.scores"];
  const types = metadata["tokenizer.ggml.token_type"];
  const special = [];
  pieces.forEach((content, id) => {
    if (types[id] === 2 || types[id] === 3 || types[id] === 4)
      special.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: types[id] !== 4 });
  });
  const charsmap = Buffer.from(metadata["tokenizer.ggml.precompiled_charsmap"].map(Number)).toString("base64");
  const metaspace = { type: "Metaspace", replacement: "\u2581", add_prefix_space: true, prepend_scheme: "always", split: true };
  const reference = TokenizerLoader.fromPreTrained({
    tokenizerJSON: {
      version: "1.0", added_tokens: special, post_processor: null, pre_tokenizer: metaspace, decoder: metaspace,
      normalizer: { type: "Sequence", normalizers: [
        { type: "Precompiled", precompiled_charsmap: charsmap },
        { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
        { type: "Strip", strip_left: true, strip_right: true },
      ] },
      model: { type: "Unigram", unk_id: Number(metadata["tokenizer.ggml.unknown_token_id"]), byte_fallback: false,
               vocab: pieces.map((p, i) => [p, scores[i]]) },
    },
    tokenizerConfig: { model_max_length: 512, tokenizer_class: "XLMRobertaTokenizer" },
  });
  const texts = largeCorpus().map((t) => t.toWellFormed()).filter((t) => !special.some((sp) => t.includes(sp.content)));
  assert.ok(texts.length >= 300, `${texts.length} strings`);
  const got = hearthIdsAll(vocab, texts);
  const wrong = [];
  texts.forEach((text, i) => {
    const want = reference.encode(text, { add_special_tokens: false });
    if (JSON.stringify(want) !== JSON.stringify(got[i]))
      wrong.push(`${JSON.stringify(text)}\n  transformers.js: ${want.join(" ")}\n  hearth: ${got[i].join(" ")}`);
  });
  assert.equal(wrong.length, 0, `${wrong.length} of ${texts.length} differ:\n${wrong.slice(0, 10).join("\n")}`);
  console.log(`Unigram: ${texts.length} strings equal transformers.js`);
});
