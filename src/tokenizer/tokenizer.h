// Text <-> token ids for the vocabularies GGUF files carry (tokenizer.ggml.*), behaving exactly as
// llama.cpp's llama-vocab does at the commit node-llama-cpp 3.22.1 ships, so ids and text agree
// with llama.cpp for every model:
//   - "llama": SentencePiece-style score-driven merges with <0xNN> byte fallback, spaces as U+2581
//     and the leading-space rule (tokenizer.ggml.add_space_prefix);
//   - "gpt2": byte-level BPE, rank-driven merges, the pre-tokenizer regexes selected by
//     tokenizer.ggml.pre (pre_tokenizer.h);
//   - "bert": WordPiece (wordpiece.cpp): BertNormalizer-style words, longest match per position,
//     [CLS] ... [SEP] around the text when special tokens are added;
//   - "t5": Unigram (unigram.cpp): SentencePiece's precompiled normalization, then the
//     highest-scoring segmentation (Viterbi), as T5 and XLM-RoBERTa tokenize;
//   - "gemma4": rank-driven BPE over SentencePiece-style text (spaces as U+2581, raw UTF-8,
//     <0xNN> byte fallback), split only at newlines (PreTokenizerSpec::spm_style).
// Special tokens (CONTROL) are found in text only when the caller asks (parse_special);
// USER_DEFINED tokens are always split out first, as llama.cpp and HF tokenizers do.
//
// Hugging Face tokenizer.json + tokenizer_config.json load into the same class (hf_tokenizer.cpp):
// the vocabulary, merges and added tokens fill the same tables, and the normalizer /
// pre-tokenizer / decoder pipeline the JSON describes runs around the same rank-driven BPE
// merge, matching transformers.js (@lenml/tokenizers) id for id.
//
// Files: tokenizer.cpp (GGUF loading and validation), encode.cpp (SPM and BPE), decode.cpp
// (pieces, streaming), hf_tokenizer.cpp (HF loading, encode and decode), hf_json.cpp (parsing),
// hf_pipeline.cpp (normalizers, pre-tokenizers, decoders).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "model/model_file.h"
#include "tokenizer/hf_pipeline.h"
#include "tokenizer/hf_spec.h"
#include "tokenizer/pre_tokenizer.h"

namespace hearth::tokenizer {

inline constexpr int32_t kNoToken = -1;

enum class VocabType { kSpm, kBpe, kWpm, kUgm };

// tokenizer.ggml.token_type values (gguf-py's TokenType).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Per-token attribute bits (llama.cpp derives the same from token_type plus name heuristics).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,  // whitespace before this special token is dropped when splitting
  kAttrRstrip = 1u << 8,  // whitespace after it is dropped
};

// The tokenizer.ggml.* metadata, as plain data (a GGUF file or a test builds it).
struct VocabSpec {
  std::string model;                 // tokenizer.ggml.model: "llama" or "gpt2"
  std::string pre;                   // tokenizer.ggml.pre ("" = default)
  std::string general_name;          // general.name (Phi-3 strips spaces around special tokens)
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens
  std::vector<float> scores;         // tokenizer.ggml.scores (may be empty)
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type (may be empty: all normal)
  std::vector<std::string> merges;   // tokenizer.ggml.merges ("left right")
  // Explicit special ids from metadata; kNoToken = not given (the model type's default applies).
  int64_t bos_id = kNoToken, eos_id = kNoToken, eot_id = kNoToken, eom_id = kNoToken;
  int64_t unk_id = kNoToken, sep_id = kNoToken, pad_id = kNoToken;
  int add_bos = -1, add_eos = -1, add_space_prefix = -1;  // -1 = not given
  // WordPiece's BertNormalizer (tokenizer.ggml.normalizer.*): -1 = not given (lowercase; strip
  // accents when lowercasing).
  int normalizer_lowercase = -1, normalizer_strip_accents = -1;
  // Unigram: SentencePiece's precompiled_charsmap (may be empty) and whether runs of spaces merge.
  std::vector<uint8_t> precompiled_charsmap;
  int remove_extra_whitespaces = -1;
};

// WordPiece's words: the text split at whitespace, punctuation, ASCII symbols and CJK characters
// (each of those a word of its own), controls dropped, lowercased and accents stripped as asked.
std::vector<std::string> wordpiece_words(std::string_view text, bool lowercase, bool strip_accents);

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from a model file (GGUF, or HF-mapped metadata). Malformed metadata
  // (missing or mistyped arrays, length mismatches, bad merges, ids out of range) is an error.
  static Result<Tokenizer> from_model(const ModelFile& model);
  static Result<Tokenizer> from_spec(VocabSpec spec);
  // A Hugging Face tokenizer: tokenizer.json plus (optional, "" = none) tokenizer_config.json.
  // from_model uses these for a Hugging Face folder that has a tokenizer.json.
  static Result<Tokenizer> from_hf_files(const std::string& tokenizer_json_path,
                                         const std::string& tokenizer_config_path = "");
  static Result<Tokenizer> from_hf_spec(HfTokenizerSpec spec);
  // `path` is a tokenizer.json file or a folder holding one; tokenizer_config.json and
  // generation_config.json (its eos_token_id ids end generation too) beside it are read when
  // present.
  static Result<Tokenizer> from_hf_path(const std::string& path);

  // Text -> ids. add_special: BOS/EOS as the model asks (add_bos/add_eos). parse_special: text
  // like "<|im_start|>" becomes its CONTROL token; otherwise it is tokenized as plain text.
  // Any bytes are accepted (invalid UTF-8 never fails).
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // One token's bytes (may be part of a UTF-8 character). With special=false, CONTROL and
  // UNKNOWN tokens render as nothing. Out-of-range ids render as nothing.
  std::string token_to_piece(int32_t id, bool special = true) const;
  // Ids -> bytes, as llama_detokenize: the leading space the tokenizer added is removed, and
  // for most BPE vocabularies spaces before punctuation are cleaned up. remove_special drops a
  // leading BOS / trailing EOS the model adds; unparse_special renders CONTROL tokens as text.
  std::string decode(std::span<const int32_t> ids, bool remove_special = false,
                     bool unparse_special = false) const;

  VocabType type() const { return type_; }
  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  int32_t unk() const { return unk_; }
  int32_t pad() const { return pad_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  bool is_eog(int32_t id) const { return eog_.count(id) > 0; }
  const std::unordered_set<int32_t>& eog_ids() const { return eog_; }

  const std::string& token_text(int32_t id) const;  // the raw vocab string ("" if out of range)
  uint32_t token_attr(int32_t id) const;            // TokenAttr bits (0 if out of range)
  bool is_control(int32_t id) const { return (token_attr(id) & kAttrControl) != 0; }
  int32_t find_token(std::string_view text) const;  // kNoToken if absent

  bool is_hf() const { return hf_ != nullptr; }
  // tokenizer_config.json's chat_template ("" for GGUF vocabularies and HF files without one).
  const std::string& chat_template() const { return chat_template_; }

 private:
  struct TokenData {
    std::string text;
    float score = 0.0f;
    uint32_t attr = kAttrNormal;
  };
  struct Fragment {
    int32_t token = kNoToken;  // kNoToken: raw text [offset, offset + length)
    size_t offset = 0;
    size_t length = 0;
  };

  // What a Hugging Face tokenizer adds to the shared tables (hf_tokenizer.cpp).
  struct HfState {
    HfPipeline pipeline;
    AddedTokenMatcher added;
    std::vector<int32_t> prefix_ids, suffix_ids;  // post-processor, when add_special
    bool byte_fallback = false, fuse_unk = false;
    bool clean_up_spaces = false;
  };

  Tokenizer() = default;
  Status init(VocabSpec spec);
  Status init_hf(HfTokenizerSpec spec);
  std::vector<int32_t> encode_hf(std::string_view text, bool add_special, bool parse_special) const;
  std::string decode_hf(std::span<const int32_t> ids, bool remove_special, bool unparse_special) const;
  void detect_special_tokens();

  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  void encode_wpm(std::string_view text, std::vector<int32_t>& out) const;
  // Unigram (unigram.cpp).
  struct UgmState;
  Status init_ugm(const VocabSpec& spec);
  void encode_ugm(std::string_view text, std::vector<int32_t>& out) const;
  std::string ugm_normalize(std::string_view text) const;
  std::pair<size_t, std::string_view> ugm_charsmap_rewrite(std::string_view text) const;
  template <typename Each>
  void ugm_prefixes(const std::vector<int32_t>& sorted, std::string_view text, Each&& each) const;
  void bpe_word(const std::string& word, std::vector<int32_t>& out) const;
  void encode_spm_style_bpe(std::string_view text, std::vector<int32_t>& out) const;
  // Words already merged earlier in the same encode call. Large texts repeat their words and
  // merging dominates the time (a 4.6 MB mixed text: 1.9x to 3x faster with it); local to one
  // call, so encode stays const and thread-safe.
  struct WordCache {
    std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> spans;  // word -> ids[offset, +count)
    std::vector<int32_t> ids;
  };
  void bpe_word_cached(const std::string& word, std::vector<int32_t>& out, WordCache& cache) const;
  int32_t spm_byte_token(uint8_t byte) const;
  int bpe_rank(std::string_view left, std::string_view right) const;
  std::string piece(int32_t id, bool special, bool strip_leading_space) const;
  friend class StreamDecoder;

  VocabType type_ = VocabType::kSpm;
  std::vector<TokenData> tokens_;
  // Looked up by string_view without building a string (WordPiece probes every prefix).
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> token_ids_;
  std::unordered_map<std::string, int> merge_ranks_;  // key: left + '\0' + right
  std::vector<int32_t> special_tokens_;  // CONTROL/USER_DEFINED/UNKNOWN, longest text first
  const PreTokenizerSpec* pre_spec_ = nullptr;
  PreTokenizer pre_;

  int32_t bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, eom_ = kNoToken;
  int32_t unk_ = kNoToken, sep_ = kNoToken, pad_ = kNoToken;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
  bool ignore_merges_ = false, clean_spaces_ = false;
  bool spm_style_ = false;  // PreTokenizerSpec::spm_style (Gemma 4)
  bool wpm_lowercase_ = true, wpm_strip_accents_ = true;
  size_t max_token_len_ = 0;  // bytes of the longest token text (WordPiece's match window)
  std::unordered_set<int32_t> eog_;
  std::shared_ptr<const HfState> hf_;  // set for Hugging Face tokenizers; immutable
  std::shared_ptr<const UgmState> ugm_;  // set for Unigram vocabularies; immutable
  std::string chat_template_;
};

// Turns a stream of token ids into text that is always valid UTF-8: bytes of a character split
// across tokens are held back until the character is complete. Invalid bytes become U+FFFD as
// soon as they can no longer start a valid character; an incomplete tail becomes U+FFFD only at
// flush(). CONTROL tokens render as nothing unless `render_special`. With `strip_first_space`
// the first piece loses one leading space when the vocabulary adds one (SPM), as llama.cpp's
// detokenize does for text decoded from its start; generated continuations keep it.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false,
                         bool strip_first_space = false)
      : tokenizer_(&tokenizer), render_special_(render_special), strip_first_space_(strip_first_space) {}

  std::string push(int32_t id);  // the text that became complete with this token (maybe "")
  std::string flush();           // whatever is held back, with U+FFFD for an incomplete tail
  void reset();

 private:
  const Tokenizer* tokenizer_;
  bool render_special_;
  bool strip_first_space_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace hearth::tokenizer
