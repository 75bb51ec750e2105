// Hugging Face tokenizers as plain data: what tokenizer.json (normalizer, pre_tokenizer, model,
// post_processor, decoder, added_tokens) and tokenizer_config.json (bos/eos/unk/pad tokens,
// add_bos_token/add_eos_token, clean_up_tokenization_spaces, chat_template) say, parsed and
// validated by parse_hf_tokenizer (hf_json.cpp) and run by HfPipeline (hf_pipeline.h).
//
// The files are untrusted: sizes, counts, string lengths and nesting are bounded, and every
// problem is an error naming the file and the JSON path ("tokenizer.json: model.merges[17]: ...").
// Only the BPE model is supported (byte-level as in Llama 3 / Qwen / DeepSeek, and
// SentencePiece-style with byte_fallback as in Gemma / Mistral); WordPiece and Unigram files are
// rejected with a clear error, as are component types hearth does not implement.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace hearth::tokenizer {

// A "pattern" object: {"String": "..."} (literal) or {"Regex": "..."}.
struct HfPattern {
  bool is_regex = false;
  std::string text;
};

struct HfNormalizer {
  enum class Kind {
    kReplace,
    kPrepend,
    kNfc,
    kNfd,
    kNfkc,
    kNfkd,
    kLowercase,
    kStrip,
    kStripAccents
  };
  Kind kind = Kind::kReplace;
  HfPattern pattern;                             // kReplace
  std::string content;                           // kReplace: replacement; kPrepend: the prefix
  bool strip_left = false, strip_right = false;  // kStrip
};

// How a Split pre-tokenizer treats the pieces its pattern matches (tokenizers'
// SplitDelimiterBehavior).
enum class HfSplitBehavior {
  kRemoved,
  kIsolated,
  kMergedWithPrevious,
  kMergedWithNext,
  kContiguous
};

enum class HfPrependScheme { kAlways, kFirst, kNever };

struct HfPreTokenizer {
  enum class Kind { kSplit, kByteLevel, kMetaspace, kDigits, kWhitespace, kWhitespaceSplit };
  Kind kind = Kind::kSplit;
  HfPattern pattern;  // kSplit
  HfSplitBehavior behavior = HfSplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // kByteLevel
  bool use_regex = true;          // kByteLevel: split with GPT-2's regex first
  std::string replacement;        // kMetaspace ("▁")
  HfPrependScheme prepend = HfPrependScheme::kAlways;
  bool split = true;               // kMetaspace: split into words at the replacement
  bool individual_digits = false;  // kDigits
};

struct HfDecoder {
  enum class Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace };
  Kind kind = Kind::kFuse;
  std::string pattern, content;         // kReplace (String patterns only)
  int strip_start = 0, strip_stop = 0;  // kStrip: at most this many `content` chars at each end
  std::string replacement;              // kMetaspace
  HfPrependScheme prepend = HfPrependScheme::kAlways;
};

struct HfAddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;  // a control token: found in text only when special tokens are parsed
  bool lstrip = false, rstrip = false;  // whitespace on that side is dropped when it is found
  bool normalized = false;   // recorded; matching is always on the raw text (as transformers.js)
  bool single_word = false;  // recorded, not implemented (no shipped vocab we test uses it)
};

struct HfTokenizerSpec {
  // model (BPE)
  std::vector<std::pair<std::string, int32_t>> vocab;       // model.vocab
  std::vector<std::pair<std::string, std::string>> merges;  // model.merges, rank order
  std::optional<std::string> unk_token;                     // model.unk_token
  bool byte_fallback = false, ignore_merges = false, fuse_unk = false;
  std::vector<HfAddedToken> added_tokens;

  std::vector<HfNormalizer> normalizers;       // a Sequence flattened, applied in order
  std::vector<HfPreTokenizer> pre_tokenizers;  // likewise
  std::vector<HfDecoder> decoders;             // likewise
  bool has_decoder = false;                    // without one, decoded tokens are joined with spaces
  // post_processor, for one sequence: ids added before and after it (TemplateProcessing's
  // "single", Bert/Roberta's cls/sep; ByteLevel adds none).
  std::vector<int32_t> prefix_ids, suffix_ids;

  // tokenizer_config.json (all optional)
  std::optional<std::string> bos_token, eos_token, unk_token_config, pad_token;
  int add_bos = -1, add_eos = -1;  // -1: not given
  bool clean_up_spaces = true;  // clean_up_tokenization_spaces (transformers.js defaults to true)
  std::string chat_template;    // "" when there is none (a named list: its "default" entry)
  std::vector<std::string> additional_special_tokens;
  std::vector<int32_t> extra_eog_ids;  // generation_config.json's eos_token_id
};

// generation_config.json's eos_token_id (an id or a list of ids): more end-of-generation tokens.
Result<std::vector<int32_t>> parse_generation_eos(std::string_view text,
                                                  std::string_view name = "generation_config.json");

// Limits for untrusted files.
inline constexpr size_t kMaxTokenizerJsonBytes = size_t{512} << 20;
inline constexpr size_t kMaxTokenizerConfigBytes = size_t{64} << 20;
inline constexpr size_t kMaxVocabEntries = size_t{8} << 20;
inline constexpr size_t kMaxTokenBytes = size_t{1} << 16;
inline constexpr int kMaxJsonDepth = 64;

// Parses the two files' contents; `config_text` may be empty (no tokenizer_config.json).
// `json_name`/`config_name` prefix error messages.
Result<HfTokenizerSpec> parse_hf_tokenizer(std::string_view json_text, std::string_view config_text,
                                           std::string_view json_name = "tokenizer.json",
                                           std::string_view config_name = "tokenizer_config.json");

}  // namespace hearth::tokenizer
