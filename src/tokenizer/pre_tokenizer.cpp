#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

// Shared pieces of the patterns (from the models' tokenizer.json files, in the forms llama.cpp
// runs them).
#define HEARTH_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
constexpr std::string_view kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr std::string_view kLlama3 =
    HEARTH_CONTRACTIONS R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    HEARTH_CONTRACTIONS R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen3.5: Qwen2's with combining marks inside words and out of punctuation runs.
constexpr std::string_view kQwen35 =
    HEARTH_CONTRACTIONS R"(|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kDeepseekV3Words =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Tekken / GPT-4o: "upper then lower" letter runs, with llama.cpp's lookahead adaptation of
// \p{Lu}/\p{Ll} (a non-ASCII letter counts as either case).
#define HEARTH_UPPER_RUN "((?=[\\p{L}])([^a-z]))"
#define HEARTH_LOWER_RUN "((?=[\\p{L}])([^A-Z]))"
constexpr std::string_view kTekken =
    "[^\\r\\n\\p{L}\\p{N}]?" HEARTH_UPPER_RUN "*" HEARTH_LOWER_RUN "+|[^\\r\\n\\p{L}\\p{N}]?" HEARTH_UPPER_RUN "+" HEARTH_LOWER_RUN
    "*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kGpt4o =
    "[^\\r\\n\\p{L}\\p{N}]?" HEARTH_UPPER_RUN "*" HEARTH_LOWER_RUN "+" HEARTH_CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?" HEARTH_UPPER_RUN
    "+" HEARTH_LOWER_RUN "*" HEARTH_CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kPoro = R"( ?[^(\s|.,!?…。，、।۔،)]+)";

const std::vector<PreTokenizerSpec>& spec_table() {
  static const std::vector<PreTokenizerSpec> table = {
      {{"default", ""},
       {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
       {kLlama3}, /*ignore_merges=*/true, /*clean_spaces=*/true, /*add_bos=*/1},
      {{"dbrx", "smaug-bpe"}, {kLlama3}},
      {{"deepseek-llm"},
       {"[\r\n]", "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)", R"(\s+$)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N}+)"},
       false, false},
      {{"deepseek-coder"},
       {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N})"},
       false, false},
      {{"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"},
       {R"(\p{N}{1,3})", "[一-龥぀-ゟ゠-ヿ]+", kDeepseekV3Words}, false, false},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"}, {R"(\p{N})", kGpt2}},
      {{"command-r", "smollm"}, {R"(\p{N})", kGpt2}, false, false},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
        "modern-bert", "mpt", "olmo", "jais", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe"},
       {kGpt2}},
      {{"trillion", "granite-docling"}, {kGpt2}, false, false},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2"}, {kQwen2}, false, false},
      {{"qwen35"}, {kQwen35}, false, false},
      {{"stablelm2", "megrez"}, {kQwen2}},
      {{"glm4", "chatglm-bpe"}, {kLlama3}, false, true, -1, /*no_bos=*/true},
      {{"bloom", "gpt3-finnish"}, {kPoro}},
      {{"poro-chat"}, {kPoro}, false, false},
      {{"viking"}, {kPoro, R"(\p{N})"}, false, false},
      {{"tekken"}, {kTekken}, true, false, 1},
      {{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {kGpt4o}, false, false},
      {{"seed-coder"},
       {HEARTH_CONTRACTIONS R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"},
       false, false},
      // Gemma 4: no word splitting beyond lines and runs of newlines (see spm_style).
      {{"gemma4", "granite-embed-multi-311m"}, {R"([^\n]+|[\n]+)"}, false, true, -1, false, /*spm_style=*/true},
      {{"bailingmoe", "bailingmoe2", "llada-moe"},
       {R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"},
       false, false},
  };
  return table;
}

// The White_Space property, as llama.cpp's \s effectively matches it.
constexpr std::string_view kWhiteSpaceItems =
    R"(\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

}  // namespace

std::string rewrite_whitespace_classes(std::string_view regex) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < regex.size(); ++i) {
    const char c = regex[i];
    if (c == '\\' && i + 1 < regex.size()) {
      const char e = regex[++i];
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpaceItems) : "[" + std::string(kWhiteSpaceItems) + "]";
      } else if (e == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpaceItems) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) in_class = true;
    else if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

Result<const PreTokenizerSpec*> find_pre_tokenizer(std::string_view pre) {
  for (const PreTokenizerSpec& spec : spec_table()) {
    if (std::find(spec.names.begin(), spec.names.end(), pre) != spec.names.end()) return &spec;
  }
  return make_error("unknown pre-tokenizer type '{}'", pre);
}

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

Result<PreTokenizer> PreTokenizer::compile(const PreTokenizerSpec& spec) {
  PreTokenizer out;
  for (std::string_view regex : spec.regexes) {
    const std::string pattern = rewrite_whitespace_classes(regex);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    auto compiled = std::make_shared<Compiled>();
    // No PCRE2_UCP: \d and \b stay ASCII as in llama.cpp's std::regex; \p{..} works in UTF mode.
    compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &error_code, &error_offset, nullptr);
    if (compiled->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof(message));
      return make_error("pre-tokenizer regex '{}' does not compile at offset {}: {}", regex, error_offset,
                        reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);  // optional speed-up; errors ignored
    out.regexes_.push_back(std::move(compiled));
  }
  return out;
}

std::vector<size_t> PreTokenizer::split(const std::vector<uint32_t>& text) const {
  // The subject PCRE2 sees: valid UTF-8, surrogates (which llama.cpp lets through) replaced by a
  // private-use codepoint of the same regex classes (neither letter, number, space nor
  // punctuation). cp_byte[i] is the byte offset of codepoint i.
  std::string subject;
  std::vector<size_t> cp_byte;
  cp_byte.reserve(text.size() + 1);
  for (uint32_t cp : text) {
    cp_byte.push_back(subject.size());
    utf8_append(subject, (cp >= 0xD800 && cp <= 0xDFFF) ? 0xE000 : cp);
  }
  cp_byte.push_back(subject.size());
  const auto cp_at = [&](size_t byte) {
    return static_cast<size_t>(std::lower_bound(cp_byte.begin(), cp_byte.end(), byte) - cp_byte.begin());
  };

  std::vector<size_t> pieces = {text.size()};
  if (text.empty()) return {};
  pcre2_match_data* match = pcre2_match_data_create(4, nullptr);
  for (const auto& regex : regexes_) {
    std::vector<size_t> next;
    size_t piece_start = 0;  // codepoint index
    for (size_t piece_len : pieces) {
      const size_t b0 = cp_byte[piece_start];
      const size_t b1 = cp_byte[piece_start + piece_len];
      const auto* base = reinterpret_cast<PCRE2_SPTR>(subject.data() + b0);
      const size_t len = b1 - b0;
      size_t prev = 0;  // end of the last emitted piece, bytes from b0
      size_t from = 0;
      uint32_t options = 0;
      while (from <= len) {
        const int rc = pcre2_match(regex->code, base, len, from, options | PCRE2_NO_UTF_CHECK, match, nullptr);
        if (rc < 0) {
          if (options != 0) {  // no non-empty match right after an empty one: step one character
            options = 0;
            if (from >= len) break;
            from = cp_byte[cp_at(b0 + from) + 1] - b0;
            continue;
          }
          break;
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        const size_t m0 = ov[0], m1 = ov[1];
        if (m0 > prev) next.push_back(cp_at(b0 + m0) - cp_at(b0 + prev));
        if (m1 > m0) next.push_back(cp_at(b0 + m1) - cp_at(b0 + m0));
        prev = m1;
        from = m1;
        // After an empty match, look for a non-empty one at the same place, as std::regex does.
        options = (m1 == m0) ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
      }
      if (prev < len) next.push_back(cp_at(b1) - cp_at(b0 + prev));
      piece_start += piece_len;
    }
    pieces = std::move(next);
  }
  pcre2_match_data_free(match);
  return pieces;
}

}  // namespace hearth::tokenizer
