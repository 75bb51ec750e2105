// Running a Hugging Face tokenizer.json pipeline (hf_spec.h): the normalizers, the
// pre-tokenizers and the decoders, plus the added-token matcher. The BPE model itself is the
// Tokenizer's rank-driven merge (encode.cpp).
//
// Regexes (Split patterns, Replace with a Regex) run on PCRE2 with the semantics of the
// reference, transformers.js (`new RegExp(pattern, "gu")`), where they differ from PCRE2's:
// \s and \S are JavaScript's white space set (which has U+FEFF and lacks U+0085), `.` stops at
// \n \r U+2028 U+2029, \d \w \b are ASCII, `$` matches only at the end, the Python-only
// "(?i:'s|'t|...)" contraction group becomes explicit [sS]-style classes, and after an empty
// match the search moves on by one character.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "tokenizer/hf_spec.h"

namespace hearth::tokenizer {

// A compiled regex with JavaScript "gu" matching semantics (see above).
class JsRegex {
 public:
  static Result<JsRegex> compile(std::string_view pattern);
  // All non-empty matches in `subject` (valid UTF-8), as [begin, end) byte ranges, in order.
  void find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& matches) const;

 private:
  struct Code;
  std::shared_ptr<const Code> code_;  // immutable once compiled; shared by copies
};

// Exposed for tests: the PCRE2 source a JavaScript pattern becomes.
std::string js_regex_to_pcre2(std::string_view pattern);
// JavaScript's String.prototype.trim white space (WhiteSpace + LineTerminator).
bool is_js_space(uint32_t cp);

// Longest-match lookup of added tokens in raw text (a byte trie), as transformers.js's
// DictionarySplitter and tokenizers' leftmost-longest matcher do.
class AddedTokenMatcher {
 public:
  void add(std::string_view content, int32_t id, bool special);
  // The longest token starting at text[pos] ({id, length in bytes}), or {-1, 0}. Special tokens
  // are considered only when include_special.
  std::pair<int32_t, size_t> longest_at(std::string_view text, size_t pos,
                                        bool include_special) const;
  bool empty() const { return nodes_.size() <= 1; }
  bool may_start(uint8_t byte) const { return root_[byte] >= 0; }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> next;  // byte -> node index
    int32_t id = -1;
    bool special = false;
  };
  std::vector<Node> nodes_ = std::vector<Node>(1);
  std::array<int32_t, 256> root_ = filled_root();
  static std::array<int32_t, 256> filled_root() {
    std::array<int32_t, 256> a;
    a.fill(-1);
    return a;
  }
};

// One token handed to the decoder chain: its string and whether it is an added token (the
// ByteLevel decoder passes those through unchanged).
struct HfDecodeToken {
  std::string text;
  bool added = false;
};

class HfPipeline {
 public:
  static Result<HfPipeline> compile(const HfTokenizerSpec& spec);

  // Applies the normalizers to one section of text (valid UTF-8).
  std::string normalize(std::string text) const;
  // Splits one normalized section into the words the model merges (ByteLevel steps map bytes to
  // GPT-2's alphabet). `first_section`: this section starts the input (Metaspace "first").
  void pre_tokenize(std::string text, bool first_section, std::vector<std::string>& words) const;
  // The decoder chain over the tokens' strings; the joined result (bytes).
  std::string decode(std::vector<HfDecodeToken> tokens) const;

  bool has_byte_level_decoder() const;
  // True when decoding drops one leading space the encoder added (a Strip or Metaspace decoder).
  bool decoder_strips_leading_space() const;

 private:
  struct Step {
    HfPreTokenizer spec;
    std::shared_ptr<const JsRegex> regex;  // Split / ByteLevel / Digits / Whitespace*
  };
  struct NormalizerStep {
    HfNormalizer spec;
    std::shared_ptr<const JsRegex> regex;  // Replace with a Regex pattern
  };
  std::vector<NormalizerStep> normalizers_;
  std::vector<Step> pre_tokenizers_;
  std::vector<HfDecoder> decoders_;
  bool has_decoder_ = false;
};

}  // namespace hearth::tokenizer
