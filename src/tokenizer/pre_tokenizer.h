// Byte-level BPE pre-tokenization: the regex list llama.cpp applies for each
// `tokenizer.ggml.pre` value, compiled with PCRE2 (UTF mode). Each regex in the list splits every
// piece left by the previous one: matches and the text between matches both become pieces.
//
// Semantics follow llama.cpp's unicode_regex_split rather than the regexes' textbook meaning
// where the two differ: \s is the Unicode White_Space set (llama.cpp maps non-ASCII whitespace
// onto \v before running std::regex), \d and \b are ASCII-only (ECMAScript), `$` matches only at
// the end of a piece, and the "adapted" forms llama.cpp uses for \p{Lu}/\p{Ll} lookalikes are
// kept verbatim so non-ASCII letters count as both cases exactly as they do there.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::tokenizer {

// Per-`tokenizer.ggml.pre` behaviour (a row of the table in pre_tokenizer.cpp).
struct PreTokenizerSpec {
  std::vector<std::string_view> names;    // GGUF spellings that select this row
  std::vector<std::string_view> regexes;  // applied in order
  bool ignore_merges = false;  // a pre-token that is itself a vocab entry is emitted whole
  bool clean_spaces = true;    // detokenize drops spaces before punctuation (" ," -> ",")
  int add_bos = -1;            // -1: type default; 0/1: this pre-tokenizer's default
  bool no_bos = false;         // the BOS id is cleared (chatglm)
  // SentencePiece-style BPE (Gemma 4): spaces become U+2581 before splitting, merges run on raw
  // UTF-8 (no GPT-2 byte alphabet), unknown bytes fall back to <0xNN> tokens, a run of newlines
  // that is a token is taken whole, and BOS is always added (llama.cpp's Gemma 4 workaround).
  bool spm_style = false;
};

// Looks up `pre` ("" selects the default row). Unknown names are an error, as in llama.cpp.
Result<const PreTokenizerSpec*> find_pre_tokenizer(std::string_view pre);

class PreTokenizer {
 public:
  static Result<PreTokenizer> compile(const PreTokenizerSpec& spec);

  // Splits `text` (codepoints, as decoded by utf8_to_codepoints) into pieces; returns the piece
  // lengths in codepoints, summing to text.size().
  std::vector<size_t> split(const std::vector<uint32_t>& text) const;

 private:
  struct Compiled;
  std::vector<std::shared_ptr<const Compiled>> regexes_;
};

// Exposed for tests: the regex as handed to PCRE2 (\s and \S rewritten to the White_Space set).
std::string rewrite_whitespace_classes(std::string_view regex);

}  // namespace hearth::tokenizer
