// Loading a vocabulary: tokenizer.ggml.* metadata -> VocabSpec -> validated Tokenizer, with the
// special-token defaults and name heuristics llama.cpp applies (EOT/EOG/FIM detection, Phi-3's
// whitespace stripping around special tokens).
#include <algorithm>
#include <cctype>

#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {
namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

Result<const gguf::Array*> get_array(const ModelFile& model, std::string_view name, bool required) {
  const std::string key = std::string(kPrefix) + std::string(name);
  const gguf::Value* value = model.find(key);
  if (value == nullptr) {
    if (required) return make_error("{}: missing {}", model.path(), key);
    return static_cast<const gguf::Array*>(nullptr);
  }
  const gguf::Array* array = value->as_array();
  if (array == nullptr) {
    return make_error("{}: {} is a {}, expected an array", model.path(), key, gguf::value_type_name(value->type()));
  }
  return array;
}

Status check_elem_type(const ModelFile& model, std::string_view name, const gguf::Array& array,
                       std::initializer_list<gguf::ValueType> allowed) {
  for (gguf::ValueType t : allowed) {
    if (array.elem_type == t) return Status::Ok();
  }
  return make_error("{}: {}{} has elements of type {}", model.path(), kPrefix, name,
                    gguf::value_type_name(array.elem_type));
}

Result<int64_t> get_id(const ModelFile& model, std::string_view name) {
  const std::string key = fmt::format("{}{}_token_id", kPrefix, name);
  const gguf::Value* value = model.find(key);
  if (value == nullptr) return int64_t{kNoToken};
  std::optional<int64_t> id = value->as_int();
  if (!id) return make_error("{}: {} is not an integer", model.path(), key);
  return *id;
}

Result<int> get_flag(const ModelFile& model, std::string_view name) {
  const std::string key = std::string(kPrefix) + std::string(name);
  const gguf::Value* value = model.find(key);
  if (value == nullptr) return -1;
  std::optional<bool> flag = value->as_bool();
  if (!flag) return make_error("{}: {} is not a bool", model.path(), key);
  return *flag ? 1 : 0;
}

}  // namespace

Result<Tokenizer> Tokenizer::from_model(const ModelFile& model) {
  if (!model.hf_tokenizer_dir().empty()) return from_hf_path(model.hf_tokenizer_dir());
  VocabSpec spec;
  std::optional<std::string> type = model.get_string("tokenizer.ggml.model");
  if (!type) return make_error("{}: missing tokenizer.ggml.model (no vocabulary in this file)", model.path());
  spec.model = *type;
  spec.pre = model.get_string("tokenizer.ggml.pre").value_or("");
  spec.general_name = model.get_string("general.name").value_or("");

  HEARTH_TRY(const gguf::Array* tokens, get_array(model, "tokens", true));
  HEARTH_RETURN_IF_ERROR(check_elem_type(model, "tokens", *tokens, {gguf::ValueType::STRING}));
  spec.tokens.reserve(tokens->items.size());
  for (const gguf::Value& v : tokens->items) spec.tokens.push_back(*v.as_string());

  HEARTH_TRY(const gguf::Array* scores, get_array(model, "scores", false));
  if (scores != nullptr) {
    HEARTH_RETURN_IF_ERROR(
        check_elem_type(model, "scores", *scores, {gguf::ValueType::FLOAT32, gguf::ValueType::INT32}));
    spec.scores.reserve(scores->items.size());
    for (const gguf::Value& v : scores->items) spec.scores.push_back(static_cast<float>(*v.as_float()));
    if (spec.scores.size() < spec.tokens.size()) {
      return make_error("{}: tokenizer.ggml.scores has {} entries for {} tokens", model.path(), spec.scores.size(),
                        spec.tokens.size());
    }
  }
  HEARTH_TRY(const gguf::Array* types, get_array(model, "token_type", false));
  if (types != nullptr) {
    HEARTH_RETURN_IF_ERROR(check_elem_type(model, "token_type", *types, {gguf::ValueType::INT32}));
    spec.token_types.reserve(types->items.size());
    for (const gguf::Value& v : types->items) spec.token_types.push_back(static_cast<int32_t>(*v.as_int()));
    if (spec.token_types.size() < spec.tokens.size()) {
      return make_error("{}: tokenizer.ggml.token_type has {} entries for {} tokens", model.path(),
                        spec.token_types.size(), spec.tokens.size());
    }
  }
  HEARTH_TRY(const gguf::Array* merges, get_array(model, "merges", false));
  if (merges != nullptr) {
    HEARTH_RETURN_IF_ERROR(check_elem_type(model, "merges", *merges, {gguf::ValueType::STRING}));
    spec.merges.reserve(merges->items.size());
    for (const gguf::Value& v : merges->items) spec.merges.push_back(*v.as_string());
  }

  HEARTH_TRY(spec.bos_id, get_id(model, "bos"));
  HEARTH_TRY(spec.eos_id, get_id(model, "eos"));
  HEARTH_TRY(spec.eot_id, get_id(model, "eot"));
  HEARTH_TRY(spec.eom_id, get_id(model, "eom"));
  HEARTH_TRY(spec.unk_id, get_id(model, "unknown"));
  HEARTH_TRY(spec.sep_id, get_id(model, "seperator"));
  HEARTH_TRY(spec.pad_id, get_id(model, "padding"));
  HEARTH_TRY(spec.add_bos, get_flag(model, "add_bos_token"));
  HEARTH_TRY(spec.add_eos, get_flag(model, "add_eos_token"));
  HEARTH_TRY(spec.add_space_prefix, get_flag(model, "add_space_prefix"));
  HEARTH_TRY(spec.normalizer_lowercase, get_flag(model, "normalizer.lowercase"));
  HEARTH_TRY(spec.normalizer_strip_accents, get_flag(model, "normalizer.strip_accents"));
  HEARTH_TRY(spec.remove_extra_whitespaces, get_flag(model, "remove_extra_whitespaces"));
  HEARTH_TRY(const gguf::Array* charsmap, get_array(model, "precompiled_charsmap", false));
  if (charsmap != nullptr) {
    HEARTH_RETURN_IF_ERROR(
        check_elem_type(model, "precompiled_charsmap", *charsmap, {gguf::ValueType::UINT8, gguf::ValueType::INT8}));
    spec.precompiled_charsmap.reserve(charsmap->items.size());
    for (const gguf::Value& v : charsmap->items) spec.precompiled_charsmap.push_back(static_cast<uint8_t>(*v.as_int()));
  }

  Result<Tokenizer> tok = from_spec(std::move(spec));
  if (!tok.ok()) return make_error("{}: {}", model.path(), tok.error().message);
  return tok;
}

Result<Tokenizer> Tokenizer::from_spec(VocabSpec spec) {
  Tokenizer tok;
  HEARTH_RETURN_IF_ERROR(tok.init(std::move(spec)));
  return tok;
}

Status Tokenizer::init(VocabSpec spec) {
  if (spec.model == "llama") {
    type_ = VocabType::kSpm;
  } else if (spec.model == "gpt2") {
    type_ = VocabType::kBpe;
  } else if (spec.model == "bert") {
    type_ = VocabType::kWpm;
  } else if (spec.model == "t5") {
    type_ = VocabType::kUgm;
  } else if (spec.model == "gemma4") {  // BPE over SentencePiece-style pieces, its ids from the file
    type_ = VocabType::kBpe;
    spec.pre = "gemma4";
  } else {
    return make_error("unsupported tokenizer.ggml.model '{}' (supported: llama, gpt2, bert, t5, gemma4)", spec.model);
  }
  if (spec.tokens.empty()) return make_error("tokenizer.ggml.tokens is empty");
  if (spec.tokens.size() > static_cast<size_t>(INT32_MAX)) return make_error("too many tokens");
  const size_t n = spec.tokens.size();
  if (!spec.scores.empty() && spec.scores.size() < n) {
    return make_error("tokenizer.ggml.scores has {} entries for {} tokens", spec.scores.size(), n);
  }
  if (!spec.token_types.empty() && spec.token_types.size() < n) {
    return make_error("tokenizer.ggml.token_type has {} entries for {} tokens", spec.token_types.size(), n);
  }

  tokens_.resize(n);
  token_ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    TokenData& t = tokens_[i];
    t.text = spec.tokens[i].empty() ? fmt::format("[EMPTY_{}]", i) : std::move(spec.tokens[i]);
    token_ids_[t.text] = static_cast<int32_t>(i);  // a later duplicate wins, as in llama.cpp
    t.score = spec.scores.empty() ? 0.0f : spec.scores[i];
    t.attr = kAttrNormal;
    if (!spec.token_types.empty()) {
      switch (static_cast<TokenType>(spec.token_types[i])) {
        case TokenType::kNormal: t.attr = kAttrNormal; break;
        case TokenType::kUnknown: t.attr = kAttrUnknown; break;
        case TokenType::kControl: t.attr = kAttrControl; break;
        case TokenType::kUserDefined: t.attr = kAttrUserDefined; break;
        case TokenType::kUnused: t.attr = kAttrUnused; break;
        case TokenType::kByte: t.attr = kAttrByte; break;
        default: t.attr = kAttrUndefined; break;
      }
    }
  }

  // Type defaults, then the pre-tokenizer's, then explicit metadata.
  int64_t bos = kNoToken, eos = kNoToken, unk = kNoToken, sep = kNoToken;
  if (type_ == VocabType::kWpm) {  // BERT's [CLS] 101, [SEP] 102, [UNK] 100; no EOS
    bos = 101, unk = 100, sep = 102;
    add_bos_ = true;
    clean_spaces_ = true;
    wpm_lowercase_ = spec.normalizer_lowercase != 0;
    wpm_strip_accents_ = spec.normalizer_strip_accents >= 0 ? spec.normalizer_strip_accents == 1 : wpm_lowercase_;
    // The match window: the longest token, capped so that a hostile vocabulary's one huge entry
    // cannot make every position probe megabytes (real WordPiece entries are under 40 bytes).
    for (const TokenData& t : tokens_) max_token_len_ = std::max(max_token_len_, t.text.size());
    max_token_len_ = std::min<size_t>(max_token_len_, 256);
  } else if (type_ == VocabType::kUgm) {  // T5's </s> 1, <unk> 2; EOS added, no BOS
    eos = 1, unk = 2;
    add_eos_ = true;
  } else if (type_ == VocabType::kSpm) {
    bos = 1, eos = 2, unk = 0;
    add_bos_ = true;
    add_space_prefix_ = true;
    clean_spaces_ = false;
  } else {
    if (spec.model == "gpt2") bos = 11, eos = 11;
    if (spec.merges.empty()) return make_error("tokenizer.ggml.merges is missing or empty (required for gpt2)");
    HEARTH_TRY(pre_spec_, find_pre_tokenizer(spec.pre));
    HEARTH_TRY(pre_, PreTokenizer::compile(*pre_spec_));
    ignore_merges_ = pre_spec_->ignore_merges;
    spm_style_ = pre_spec_->spm_style;
    clean_spaces_ = pre_spec_->clean_spaces;
    if (pre_spec_->add_bos >= 0) add_bos_ = pre_spec_->add_bos == 1;
    if (pre_spec_->no_bos) bos = kNoToken;
    merge_ranks_.reserve(spec.merges.size());
    for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
      const std::string& merge = spec.merges[rank];
      const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string::npos;
      if (space == std::string::npos || space + 1 >= merge.size()) {
        return make_error("tokenizer.ggml.merges[{}] = '{}' is not two tokens separated by a space", rank, merge);
      }
      const std::string_view left = std::string_view(merge).substr(0, space);
      const std::string_view right = std::string_view(merge).substr(space + 1);
      if (find_token(left) == kNoToken || find_token(right) == kNoToken) {
        return make_error("tokenizer.ggml.merges[{}] = '{}' names a token that is not in the vocabulary", rank, merge);
      }
      std::string key(left);
      key += '\0';
      key += right;
      merge_ranks_.emplace(std::move(key), static_cast<int>(rank));  // the first rank wins
    }
  }
  if (spec.add_space_prefix >= 0) add_space_prefix_ = spec.add_space_prefix == 1;

  const auto in_range = [n](int64_t id) { return id >= 0 && static_cast<uint64_t>(id) < n; };
  // Defaults that do not fit a small vocabulary are dropped; explicit ids must fit.
  const auto pick = [&](int64_t given, int64_t fallback, std::string_view what, int32_t& out) -> Status {
    if (given != kNoToken) {
      if (!in_range(given)) {
        return make_error("tokenizer.ggml.{}_token_id = {} is outside the vocabulary (0..{})", what, given, n - 1);
      }
      out = static_cast<int32_t>(given);
    } else {
      out = in_range(fallback) ? static_cast<int32_t>(fallback) : kNoToken;
    }
    return Status::Ok();
  };
  HEARTH_RETURN_IF_ERROR(pick(spec.bos_id, bos, "bos", bos_));
  HEARTH_RETURN_IF_ERROR(pick(spec.eos_id, eos, "eos", eos_));
  HEARTH_RETURN_IF_ERROR(pick(spec.eot_id, kNoToken, "eot", eot_));
  HEARTH_RETURN_IF_ERROR(pick(spec.eom_id, kNoToken, "eom", eom_));
  HEARTH_RETURN_IF_ERROR(pick(spec.unk_id, unk, "unknown", unk_));
  HEARTH_RETURN_IF_ERROR(pick(spec.sep_id, sep, "seperator", sep_));
  // Padding ids past the end are common in converted files and unused here: ignored.
  pad_ = in_range(spec.pad_id) ? static_cast<int32_t>(spec.pad_id) : kNoToken;

  if (spec.add_bos >= 0) add_bos_ = spec.add_bos == 1;
  if (spm_style_) add_bos_ = true;  // llama.cpp overrides a Gemma 4 file's add_bos_token = false
  if (spec.add_eos >= 0) add_eos_ = spec.add_eos == 1;
  if (bos_ == kNoToken) add_bos_ = false;  // llama.cpp would assert; we add nothing
  if (eos_ == kNoToken) add_eos_ = false;

  detect_special_tokens();
  if (type_ == VocabType::kUgm) HEARTH_RETURN_IF_ERROR(init_ugm(spec));

  // Special tokens are matched in text longest first (same sort as llama.cpp, so ties between
  // equal-length tokens resolve the same way).
  for (int32_t id = 0; id < n_vocab(); ++id) {
    if (tokens_[id].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) special_tokens_.push_back(id);
  }
  std::sort(special_tokens_.begin(), special_tokens_.end(),
            [&](int32_t a, int32_t b) { return tokens_[a].text.size() > tokens_[b].text.size(); });

  // Phi-3 (found by name, as llama.cpp does): spaces after special tokens are dropped.
  std::string name = spec.general_name;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : special_tokens_) tokens_[id].attr |= kAttrRstrip;
    if (int32_t id = find_token("</s>"); id != kNoToken) tokens_[id].attr |= kAttrRstrip;
    for (const char* text : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (int32_t id = find_token(text); id != kNoToken) tokens_[id].attr &= ~kAttrRstrip;
    }
  }
  return Status::Ok();
}

// End-of-generation and fill-in-the-middle tokens recognised by their text, as llama.cpp does
// for files whose converters did not record them; such tokens are forced to CONTROL.
void Tokenizer::detect_special_tokens() {
  const auto mark_control = [&](int32_t id) { tokens_[id].attr |= kAttrControl; };
  const auto first_of = [&](std::initializer_list<std::string_view> texts) {
    for (std::string_view text : texts) {
      if (int32_t id = find_token(text); id != kNoToken) return id;
    }
    return kNoToken;
  };
  if (eot_ == kNoToken) {
    eot_ = first_of({"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                     "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"});
    if (eot_ != kNoToken) mark_control(eot_);
  }
  if (eom_ == kNoToken) {
    eom_ = first_of({"<|eom_id|>"});
    if (eom_ != kNoToken) mark_control(eom_);
  }
  const int32_t fim_ids[] = {
      first_of({"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                "<|code_prefix|>", "<|prefix|>"}),
      first_of({"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                "<|code_suffix|>", "<|suffix|>"}),
      first_of({"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                "<|code_middle|>", "<|middle|>"}),
  };
  for (int32_t id : fim_ids) {
    if (id != kNoToken) mark_control(id);
  }
  // FIM pad / repo / file-separator tokens also end generation.
  const int32_t fim_eog[] = {
      first_of({"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}),
      first_of({"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}),
      first_of({"<|file_sep|>"}),
  };
  for (int32_t id : fim_eog) {
    if (id != kNoToken) {
      mark_control(id);
      eog_.insert(id);
    }
  }
  for (TokenData& t : tokens_) {
    if ((t.attr & kAttrControl) && t.text.find("unused") != std::string::npos) t.attr |= kAttrUnused;
  }
  for (std::string_view text :
       {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["}) {
    if (int32_t id = find_token(text); id != kNoToken) {
      eog_.insert(id);
      mark_control(id);
    }
  }
  // gpt-oss: these structural tokens are always rendered.
  for (std::string_view text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
    if (int32_t id = find_token(text); id != kNoToken) tokens_[id].attr = kAttrUserDefined;
  }
  for (int32_t id : {eos_, eot_, eom_}) {
    if (id != kNoToken) eog_.insert(id);
  }
  // gpt-oss / solar-open: "<|end|>" ends a message, not the generation.
  const auto eog_has = [&](std::initializer_list<std::string_view> texts) {
    for (std::string_view text : texts) {
      int32_t id = find_token(text);
      if (id != kNoToken && eog_.count(id)) return true;
    }
    return false;
  };
  if (int32_t end = find_token("<|end|>"); end != kNoToken && eog_.count(end) &&
      ((eog_has({"<|return|>"}) && eog_has({"<|call|>", "<|calls|>"})) ||
       (eog_has({"<|call|>", "<|calls|>"}) && eog_has({"<|flush|>"})))) {
    eog_.erase(end);
    tokens_[end].attr = kAttrUserDefined;
  }
  // Gemma 4: "</s>" is not an end-of-generation token when "<|tool_response>" is.
  if (int32_t s = find_token("</s>"); s != kNoToken && eog_.count(s) && eog_has({"<|tool_response>"})) {
    eog_.erase(s);
    tokens_[s].attr = kAttrNormal;
  }
}

const std::string& Tokenizer::token_text(int32_t id) const {
  static const std::string empty;
  return id >= 0 && id < n_vocab() ? tokens_[id].text : empty;
}

uint32_t Tokenizer::token_attr(int32_t id) const { return id >= 0 && id < n_vocab() ? tokens_[id].attr : 0; }

int32_t Tokenizer::find_token(std::string_view text) const {
  auto it = token_ids_.find(text);
  return it == token_ids_.end() ? kNoToken : it->second;
}

}  // namespace hearth::tokenizer
