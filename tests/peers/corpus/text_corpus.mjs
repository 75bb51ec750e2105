// A tokenizer test corpus (used by hf_tokenizer.test.mjs): hand-picked strings by category plus
// deterministic combinations of fragments, about 600 in all. Categories: English, contractions,
// CJK, right-to-left scripts, other scripts, emoji and ZWJ sequences, code with tabs and long
// white space runs, numbers, white space, unusual Unicode (normalization-sensitive forms, bidi and
// zero-width controls, noncharacters, lone surrogates), and text containing special-token strings.

const english = [
  "Hello world", " Hello world", "Hello World!", "hello, world.", "The quick brown fox jumps over the lazy dog.",
  "It was the best of times, it was the worst of times.", "A journey of a thousand miles begins with a single step.",
  "In 1492, Columbus sailed the ocean blue.", "Mr. Smith went to Washington D.C. on Jan. 5th.",
  "e.g. i.e. etc... ?!?! -- --- ...", "Wait... what?! No way!!!", "She said, \"Don't go.\"",
  "UPPERCASE TEXT SHOUTS", "lowercase text whispers", "MiXeD CaSe TeXt", "camelCaseIdentifier snake_case_name kebab-case-name",
  "a", "I", "ok", "The end.", "Supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
  "antidisestablishmentarianism is long", "re-enter co-operate pre-eminent", "rock'n'roll", "O'Neil and D'Angelo",
  "Tokenization is the process of splitting text into tokens.", "What's the weather like in Paris today?",
];
const contractions = [
  "It's a dog's life; they're here, we've gone, I'm sure you'll see, he'd say.", "IT'S YOU'RE WE'VE I'M THEY'LL HE'D",
  "don't   can't\twon't", "isn't aren't wasn't", "'s 't 're 've 'm 'll 'd", "'S 'T 'RE 'VE 'M 'LL 'D", "''s ''t",
  "y'all'd've", "can't've", "rock 'n' roll", "'tis 'twas", "the '90s", "it’s typographic apostrophe", "I‘m curly",
];
const cjk = [
  "你好，世界！", "我爱北京天安门。", "今天天气很好，我们去公园散步吧。", "中华人民共和国成立于1949年。", "繁體中文與简体中文",
  "日本語のテキストです。", "カタカナ、ひらがな、漢字", "東京は日本の首都です。", "すもももももももものうち", "ｶﾀｶﾅ halfwidth",
  "한국어 텍스트입니다", "안녕하세요, 세계!", "대한민국의 수도는 서울입니다.", "漢字かなカナ한글mixed", "一二三四五六七八九十",
  "𠀀𠀁𠀂 CJK extension B", "〈引用〉「かぎ括弧」『二重』【隅付き】", "。，、；：？！", "全角スペース　あり", "中文English混合text",
];
const rtl = [
  "مرحبا بالعالم", "السلام عليكم ورحمة الله وبركاته", "اللغة العربية جميلة.", "عدد ١٢٣٤٥٦٧٨٩٠", "مَرْحَبًا بِكُمْ",
  "שלום עולם", "עברית עם ניקוד: בְּרֵאשִׁית", "سلام دنیا (فارسی)", "اردو زبان", "English then عربي then English",
  "\u200fRLM mark\u200e LRM mark", "\u202eoverride\u202c pop", "\u2067isolate\u2069", "ﷺ ﷽ ligatures", "ـــــ tatweel",
];
const scripts = [
  "Привет, мир! Как дела?", "Съешь же ещё этих мягких французских булок.", "Ελληνικά γράμματα", "Ἀρχὴ σοφίας",
  "नमस्ते दुनिया", "हिन्दी में लिखा गया वाक्य।", "ভাষা বাংলা", "தமிழ் மொழி", "తెలుగు", "ಕನ್ನಡ", "മലയാളം",
  "ภาษาไทย ง่ายนิดเดียว", "ພາສາລາວ", "ကမ္ဘာ", "ភាសាខ្មែរ កាន់តែពិសេស", "ქართული ენა", "Հայերեն", "አማርኛ", "བོད་ཡིག",
  "ᠮᠣᠩᠭᠣᠯ", "Tiếng Việt có dấu", "Ärger über Öl, Straße, ÄÖÜ äöü ß", "façade naïve résumé coöperate",
  "Język polski: zażółć gęślą jaźń", "Čeština: příliš žluťoučký kůň", "Türkçe: İstanbul ılık ığdır", "Ꭰ Cherokee", "ᚠᚢᚦ runes",
];
const emoji = [
  "🦙 llama", "🦙🦙🦙", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🏴‍☠️ pirate", "👍🏽 thumbs", "👍🏻👍🏼👍🏽👍🏾👍🏿", "🇺🇸🇯🇵🇩🇪 flags",
  "❤️ heart ♥ ♡", "emoji🙂in🙃words", "👩🏻‍💻👨🏿‍🚀", "🧑‍🤝‍🧑", "👁️‍🗨️", "1️⃣2️⃣#️⃣*️⃣", "☺︎ text style ☺️ emoji style",
  "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)", "😀😃😄😁😆😅😂🤣",
  "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland tag sequence", "🫠🫡🫢 newer emoji", "🤷‍♀️🤷‍♂️", "🐈‍⬛ black cat", "🧔🏻‍♀️", "✈️✈", "©️®️™️", "🀄🃏🎴",
];
const code = [
  "def foo(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
  "if x==1:\n        pass\n\n\n    # comment\n", "<html><body class=\"x\">&amp;</body></html>",
  "SELECT * FROM users WHERE id = 42;", "x = {'a': [1, 2, 3], \"b\": None}", "$ ls -la | grep '^d'",
  "a+b=c; a-b=d; a*b=e; a/b=f; a^b; a|b; a~b; `code`", "C:\\Users\\name\\file.txt", "https://example.com/a?b=c&d=e#f",
  "user@example.com", "#hashtag @mention", "((((nested))))", "[[[brackets]]]", "{{{braces}}}",
  "fn main() {\n    println!(\"Hello, {}!\", name);\n}", "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
  "const f = async (x) => { await g(x); return x ?? null; };", "all:\n\t$(CC) -o $@ $^ $(CFLAGS)\n\n.PHONY: all\n",
  "{\n  \"key\": \"value\",\n  \"list\": [1, 2.5, true, null]\n}", "key: value\nlist:\n  - a\n  - b\n",
  "--- a/file\n+++ b/file\n@@ -1,3 +1,3 @@\n-old\n+new\n", "^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)$",
  "\t\t\tdeeply\t\tindented\ttabs", "        eight spaces then code();", "x" + " ".repeat(60) + "y",
  "line1\r\nline2\r\nline3\r\n", "    \n    \n    \n", "int main(void){return 0;}", "#include <stdio.h>\n#define MAX(a,b) ((a)>(b)?(a):(b))",
  "std::vector<std::pair<int, std::string>> v;", "print(f\"{x:>10.3f}|{y!r}\")", "if (a && b || !c) { x <<= 2; y >>= 1; }",
  "// comment\n/* block\n   comment */", "<!-- html comment -->", "lambda x: x**2 if x else -x", "0b1010 0o777 0xDEADBEEF 1e-9",
];
const numbers = [
  "3", "33", "333", "3333", "33333", "333333", "3333333", "1234567890", "12345678901234567890", "3.14159", "-42", "+1 (555) 123-4567",
  "1,000,000.00", "1.000.000,00", "0x1F600", "2024-01-01T12:00:00Z", "v1.2.3-rc.4", "10:30 AM", "100%", "$1,234.56",
  "€99.99 £5 ¥1000 ₹500 ₿0.001", "6.022e23", "1/2 3/4", "½ ¾ ⅓ ⅞", "①②③", "Ⅰ Ⅱ Ⅲ Ⅻ", "१२३४ ٣٤٥ 一二三", "𝟘𝟙𝟚 math digits",
  "²³¹ superscripts", "007", "000000", "1st 2nd 3rd 4th", "phone: 555-0100, ext. 12", "ISBN 978-3-16-148410-0", "3.0.0.127",
];
const whitespace = [
  " ", "  ", "   ", "    ", " ".repeat(8), " ".repeat(16), " ".repeat(17), " ".repeat(31), " ".repeat(40),
  "\t", "\t\t", "\t".repeat(12), "\n", "\n\n", "\n\n\n", "\n".repeat(20), "\r\n", "\r", " \r\n \r\n", "\t \t \t",
  "   \n   \n   ", "\n \n \n", " \t \n \r ", "word\n\nword", "word \n word", "a  b   c    d     e", "trailing   ",
  "   leading", "\u00a0nbsp\u00a0", "em\u2003space\u3000ideographic", "\u2028line sep\u2029para sep", "\u0085next line",
  "\u000bvertical\u000cformfeed", "thin\u2009space hair\u200aspace", "\u205fmath space\u202fnarrow", "\u1680ogham",
];
const unusual = [
  "e\u0301 a\u0300 n\u0303 (combining marks)", "\u00e9 vs e\u0301", "\u1100\u1161\u11a8 Hangul jamo", "\u212b Angstrom \u00c5",
  "\u212a Kelvin, 'K", "'\u017f long s", "ǅ ǆ Ǆ digraphs", "ﬁ ﬂ ﬀ ligatures", "Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "𝕳𝖊𝖑𝖑𝖔 𝓌𝑜𝓇𝓁𝒹",
  "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗̻ zalgo", "a\u200bb\u200cc\u200dd", "\ufeffBOM at start", "mid\ufeffBOM", "soft\u00adhyphen",
  "variation\ufe0f selectors\ufe0e", "private use \ue000\uf8ff", "\ufffe\uffff noncharacters", "\ufffd replacement",
  "\u0000null\u0001control\u001fchars\u007f", "\u0080\u009f C1 controls", "𐍈 gothic", "𓀀 hieroglyph", "\u{10FFFD} plane 16",
  "ΣΑΣ σας ς final sigma", "İ ı I i dotted", "Å Å Å three forms", "ẞ capital sharp s", "\u0627\u0644\u0644\u0647",
  "lone \ud800 high", "lone \udfff low", "\u034f combining grapheme joiner", "\u2060word\u2060joiner", "\u180e mongolian vs",
  "ｱｲｳｴｵ", "㍿ ㌀ squared", "™ ℠ ℡ ℻", "Ⓐⓑⓒ circled", "ㄅㄆㄇ bopomofo",
];
const specials = [
  "<s>", "</s>", "<unk>", "<pad>", "<bos>", "<eos>", "<mask>", "<s>hello</s>", "<s> hello </s>", "hello<s>world",
  "<|endoftext|>", "<|im_start|>user\nhi<|im_end|>", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "<|eot_id|><|eot_id|>", "<|eom_id|>",
  "<|reserved_special_token_5|>", "<|reserved_special_token_250|>", "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
  "<start_of_image>", "<image_soft_token>", "<unused0> <unused12> <unused6241>", "[multimodal]",
  "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜>", "<｜end▁of▁sentence｜>", "<｜tool▁calls▁begin｜><｜tool▁sep｜>",
  "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>\n{\"name\": \"f\"}\n</tool_call>", "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>",
  "[INST] hi [/INST]", "<0x41><0x0A>", "<|im_start", "im_start|>", "<<|im_end|>>", "<|im_start|><|im_end|>",
  "< s >", "<|endoftext|> <|endoftext|>", " <|im_end|> ", "\n<|im_end|>\n", "text<|endoftext|>text", "<|vision_start|><|image_pad|>",
  "<|box_start|>(1,2)<|box_end|>", "▁underscore▁char", "Ġ G-dot Ċ", "<end_of_turn><eos>", "</s><s>",
];

const fragments = [
  "the", " The", "ABC", "éà", "ß", "日本", "中文", "한", "ع", "ह", "🦙", "👨‍💻", "1", "22", "4444", " ", "  ", "   ",
  "\t", "\n", "\r\n", "'s", "'LL", "...", ",", "-", "_", "$", "€", "¥", "°C", "™", "→", "∑", "√2", "\u0301",
  "\u200d", "\u00a0", "\u3000", "ǅ", "ʰ", "Ⅻ", "٣", "²", "𝟘", "a'b", "\"q\"", "(", ")", "/", "\\", "<s>", "</s>",
  "<|im_end|>", "<|endoftext|>", "<bos>", "<end_of_turn>", "<｜User｜>", "<think>", "▁", "Ġ", "<0x41>", "\u{1F3FD}",
  " world", "Hello", "tokenizer", "ing", "un", "##", "@@", "<", ">", "|", "\ufeff", "e\u0301", "\u1100\u1161",
];

function generated(count, seed) {
  const out = [];
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < count; i++) {
    let s = "";
    const n = 2 + rand(12);
    for (let k = 0; k < n; k++) s += fragments[rand(fragments.length)];
    out.push(s);
  }
  return out;
}

const paragraph =
  "Large language models read text as tokens. A tokenizer splits \"Hello, world!\" into pieces such as " +
  "'Hello', ',', ' world' and '!'. Numbers like 1234567 and dates like 2025-03-07 split differently; " +
  "so do 日本語, العربية and emoji like 🦙👨‍👩‍👧.\n\n\tIndented code:\n\t\tif (x) {\n\t\t\treturn y;\n\t\t}\n";
const long = [paragraph, paragraph.repeat(5), (english.join(" ") + "\n").repeat(3), code.join("\n\n")];

export const CATEGORIES = { english, contractions, cjk, rtl, scripts, emoji, code, numbers, whitespace, unusual, specials };

export function corpus() {
  return [...Object.values(CATEGORIES).flat(), ...long, ...generated(330, 20250307)];
}
