// Hugging Face tokenizers: tokenizer.json + tokenizer_config.json -> the Tokenizer's tables, and
// the encode / decode paths that run the JSON's pipeline around the shared BPE merge:
//   text -> added tokens split out (longest match, left to right; special ones only when
//   parse_special) -> each remaining section normalized, pre-tokenized, BPE-merged (byte_fallback
//   or the unknown token for pieces outside the vocabulary) -> the post-processor's ids around it.
// The behaviour follows transformers.js (@lenml/tokenizers 3.7.2), which the peer test checks id
// for id, with one deliberate difference: tokenizer_config.json's add_bos_token/add_eos_token
// decide the BOS/EOS, as transformers' Llama/Gemma fast tokenizers and llama.cpp's converter do
// (transformers.js reads only the post_processor).
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tokenizer/hf_spec.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

Result<std::string> read_bounded(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return make_error("{}: not a readable file", path);
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return make_error("{}: {}", path, ec.message());
  if (size > max_bytes)
    return make_error("{}: {} bytes is over the {} byte limit", path, size, max_bytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("{}: cannot open", path);
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) return make_error("{}: short read", path);
  return text;
}

bool is_byte_token(std::string_view text) {
  return text.size() == 6 && text.substr(0, 3) == "<0x" && text[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(text[3])) &&
         std::isxdigit(static_cast<unsigned char>(text[4]));
}

bool is_valid_utf8(std::string_view text) {
  // Fast path for ASCII; otherwise compare with the sanitized form.
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return true;
  return utf8_sanitize(text) == text;
}

// transformers.js's clean_up_tokenization: spaces before punctuation and contractions.
std::string clean_up_tokenization(std::string text) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
  };
  for (auto [from, to] : kRules) {
    if (text.find(from) == std::string::npos) continue;
    std::string out;
    size_t pos = 0;
    for (size_t hit; (hit = text.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
      out.append(text, pos, hit - pos);
      out += to;
    }
    out.append(text, pos, std::string::npos);
    text = std::move(out);
  }
  return text;
}

}  // namespace

Result<Tokenizer> Tokenizer::from_hf_files(const std::string& tokenizer_json_path,
                                           const std::string& tokenizer_config_path) {
  HEARTH_TRY(std::string json_text, read_bounded(tokenizer_json_path, kMaxTokenizerJsonBytes));
  std::string config_text;
  if (!tokenizer_config_path.empty()) {
    HEARTH_TRY(config_text, read_bounded(tokenizer_config_path, kMaxTokenizerConfigBytes));
  }
  HEARTH_TRY(HfTokenizerSpec spec, parse_hf_tokenizer(json_text, config_text, tokenizer_json_path,
                                                      tokenizer_config_path));
  json_text.clear();
  json_text.shrink_to_fit();
  Result<Tokenizer> tok = from_hf_spec(std::move(spec));
  if (!tok.ok()) return make_error("{}: {}", tokenizer_json_path, tok.error().message);
  return tok;
}

Result<Tokenizer> Tokenizer::from_hf_path(const std::string& path) {
  std::error_code ec;
  std::filesystem::path json(path);
  if (std::filesystem::is_directory(json, ec)) json /= "tokenizer.json";
  const std::filesystem::path dir = json.parent_path();
  const std::filesystem::path config = dir / "tokenizer_config.json";
  const std::filesystem::path generation = dir / "generation_config.json";
  std::string generation_text;
  if (std::filesystem::is_regular_file(generation, ec)) {
    HEARTH_TRY(generation_text, read_bounded(generation.string(), kMaxTokenizerConfigBytes));
  }
  HEARTH_TRY(std::string json_text, read_bounded(json.string(), kMaxTokenizerJsonBytes));
  std::string config_text;
  if (std::filesystem::is_regular_file(config, ec)) {
    HEARTH_TRY(config_text, read_bounded(config.string(), kMaxTokenizerConfigBytes));
  }
  HEARTH_TRY(HfTokenizerSpec spec,
             parse_hf_tokenizer(json_text, config_text, json.string(), config.string()));
  if (!generation_text.empty()) {
    HEARTH_TRY(spec.extra_eog_ids, parse_generation_eos(generation_text, generation.string()));
  }
  json_text = {};
  Result<Tokenizer> tok = from_hf_spec(std::move(spec));
  if (!tok.ok()) return make_error("{}: {}", json.string(), tok.error().message);
  return tok;
}

Result<Tokenizer> Tokenizer::from_hf_spec(HfTokenizerSpec spec) {
  Tokenizer tok;
  HEARTH_RETURN_IF_ERROR(tok.init_hf(std::move(spec)));
  return tok;
}

Status Tokenizer::init_hf(HfTokenizerSpec spec) {
  auto state = std::make_shared<HfState>();
  HEARTH_TRY(state->pipeline, HfPipeline::compile(spec));

  // Ids: the vocabulary's plus the added tokens' (which may extend it); holes stay empty.
  int64_t max_id = -1;
  for (const auto& [text, id] : spec.vocab) max_id = std::max<int64_t>(max_id, id);
  for (const HfAddedToken& a : spec.added_tokens) max_id = std::max<int64_t>(max_id, a.id);
  const size_t n_entries = spec.vocab.size() + spec.added_tokens.size();
  if (max_id < 0) return make_error("the vocabulary is empty");
  if (static_cast<size_t>(max_id) >= 2 * n_entries + 256) {
    return make_error("token id {} is far beyond the {} entries (ids must be dense)", max_id,
                      n_entries);
  }
  const size_t n = static_cast<size_t>(max_id) + 1;
  tokens_.assign(n, TokenData{std::string(), 0.0f, kAttrUndefined});
  token_ids_.reserve(n_entries);
  std::vector<bool> seen(n, false);
  for (auto& [text, id] : spec.vocab) {
    if (seen[id]) {
      return make_error("model.vocab: id {} is given to both '{}' and '{}'", id, tokens_[id].text,
                        text);
    }
    seen[id] = true;
    TokenData& t = tokens_[id];
    t.attr = spec.byte_fallback && is_byte_token(text) ? kAttrByte : kAttrNormal;
    t.text = text;
    token_ids_[std::move(text)] = id;
  }
  for (const HfAddedToken& a : spec.added_tokens) {
    TokenData& t = tokens_[a.id];
    t.text = a.content;
    t.attr = (a.special ? kAttrControl : kAttrUserDefined) | (a.lstrip ? kAttrLstrip : 0u) |
             (a.rstrip ? kAttrRstrip : 0u);
    token_ids_[a.content] = a.id;
    state->added.add(a.content, a.id, a.special);
  }
  for (const std::string& text : spec.additional_special_tokens) {
    if (int32_t id = find_token(text); id != kNoToken && (tokens_[id].attr & kAttrUserDefined)) {
      tokens_[id].attr = (tokens_[id].attr & ~kAttrUserDefined) | kAttrControl;
    }
  }

  merge_ranks_.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    auto& [left, right] = spec.merges[rank];
    std::string key = std::move(left);
    key += '\0';
    key += right;
    merge_ranks_.emplace(std::move(key), static_cast<int>(rank));  // the first rank wins
  }
  spec.merges = {};

  // Decoding style of single pieces (token_to_piece, StreamDecoder): GPT-2 bytes or U+2581.
  type_ = state->pipeline.has_byte_level_decoder() ? VocabType::kBpe : VocabType::kSpm;
  add_space_prefix_ = state->pipeline.decoder_strips_leading_space();
  ignore_merges_ = spec.ignore_merges;
  state->byte_fallback = spec.byte_fallback;
  state->fuse_unk = spec.fuse_unk;
  state->clean_up_spaces = spec.clean_up_spaces;
  clean_spaces_ = spec.clean_up_spaces;
  chat_template_ = std::move(spec.chat_template);

  const auto lookup = [&](const std::optional<std::string>& text,
                          std::string_view what) -> Result<int32_t> {
    if (!text) return kNoToken;
    const int32_t id = find_token(*text);
    if (id == kNoToken) return make_error("{} '{}' is not in the vocabulary", what, *text);
    return id;
  };
  HEARTH_TRY(unk_, lookup(spec.unk_token ? spec.unk_token : spec.unk_token_config, "unk_token"));
  HEARTH_TRY(bos_, lookup(spec.bos_token, "tokenizer_config.json bos_token"));
  HEARTH_TRY(eos_, lookup(spec.eos_token, "tokenizer_config.json eos_token"));
  if (spec.pad_token) pad_ = find_token(*spec.pad_token);
  if (unk_ != kNoToken && (tokens_[unk_].attr & kAttrNormal)) tokens_[unk_].attr = kAttrUnknown;

  for (std::vector<int32_t>* ids : {&spec.prefix_ids, &spec.suffix_ids}) {
    for (int32_t id : *ids) {
      if (static_cast<size_t>(id) >= n)
        return make_error("post_processor: id {} is outside the vocabulary", id);
    }
  }
  if (bos_ == kNoToken && !spec.prefix_ids.empty()) bos_ = spec.prefix_ids.front();
  if (eos_ == kNoToken && !spec.suffix_ids.empty()) eos_ = spec.suffix_ids.back();
  // add_bos_token / add_eos_token, when given, decide (transformers' update_post_processor).
  const auto apply_flag = [](std::vector<int32_t>& ids, int flag, int32_t id, bool front) {
    if (flag < 0 || id == kNoToken) return;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (flag == 1) ids.insert(front ? ids.begin() : ids.end(), id);
  };
  apply_flag(spec.prefix_ids, spec.add_bos, bos_, true);
  apply_flag(spec.suffix_ids, spec.add_eos, eos_, false);
  add_bos_ = !spec.prefix_ids.empty() && spec.prefix_ids.front() == bos_;
  add_eos_ = !spec.suffix_ids.empty() && spec.suffix_ids.back() == eos_;
  state->prefix_ids = std::move(spec.prefix_ids);
  state->suffix_ids = std::move(spec.suffix_ids);

  detect_special_tokens();  // EOT/EOG sets from the tokens' text, as for GGUF vocabularies
  for (int32_t id : spec.extra_eog_ids) {
    if (static_cast<size_t>(id) < n && tokens_[id].attr != kAttrUndefined) eog_.insert(id);
  }
  hf_ = std::move(state);
  return Status::Ok();
}

std::vector<int32_t> Tokenizer::encode_hf(std::string_view raw, bool add_special,
                                          bool parse_special) const {
  const HfState& hf = *hf_;
  // The pipeline works on Unicode text: malformed UTF-8 becomes U+FFFD first.
  std::string sanitized;
  std::string_view text = raw;
  if (!is_valid_utf8(raw)) {
    sanitized = utf8_sanitize(raw);
    text = sanitized;
  }

  // Sections: raw text between added tokens.
  struct Section {
    size_t begin = 0, end = 0;
    int32_t token = kNoToken;
  };
  std::vector<Section> sections;
  size_t start = 0;
  if (!hf.added.empty()) {
    for (size_t pos = 0; pos < text.size();) {
      if (!hf.added.may_start(static_cast<uint8_t>(text[pos]))) {
        ++pos;
        continue;
      }
      const auto [id, length] = hf.added.longest_at(text, pos, parse_special);
      if (id < 0) {
        ++pos;
        continue;
      }
      if (pos > start) sections.push_back({start, pos, kNoToken});
      sections.push_back({pos, pos + length, id});
      pos += length;
      start = pos;
    }
  }
  if (start < text.size()) sections.push_back({start, text.size(), kNoToken});

  // lstrip / rstrip: white space beside such a token is dropped from the neighbouring text.
  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].token == kNoToken) continue;
    const uint32_t attr = tokens_[sections[i].token].attr;
    if ((attr & kAttrLstrip) && i > 0 && sections[i - 1].token == kNoToken) {
      Section& s = sections[i - 1];
      while (s.end > s.begin) {
        size_t b = s.end - 1;
        while (b > s.begin && (static_cast<uint8_t>(text[b]) & 0xC0) == 0x80) --b;
        size_t probe = b;
        if (!is_js_space(utf8_decode_one(text, probe))) break;
        s.end = b;
      }
    }
    if ((attr & kAttrRstrip) && i + 1 < sections.size() && sections[i + 1].token == kNoToken) {
      Section& s = sections[i + 1];
      while (s.begin < s.end) {
        size_t next = s.begin;
        if (!is_js_space(utf8_decode_one(text, next))) break;
        s.begin = next;
      }
    }
  }

  std::vector<int32_t> out;
  if (add_special) out = hf.prefix_ids;
  std::vector<std::string> words;
  WordCache cache;
  for (size_t i = 0; i < sections.size(); ++i) {
    const Section& s = sections[i];
    if (s.token != kNoToken) {
      out.push_back(s.token);
      continue;
    }
    if (s.end <= s.begin) continue;
    std::string normalized =
        hf.pipeline.normalize(std::string(text.substr(s.begin, s.end - s.begin)));
    if (normalized.empty()) continue;
    hf.pipeline.pre_tokenize(std::move(normalized), i == 0, words);
    const size_t first = out.size();
    for (const std::string& word : words) bpe_word_cached(word, out, cache);
    if (hf.fuse_unk && unk_ != kNoToken) {  // runs of unknown tokens become one
      size_t w = first;
      for (size_t r = first; r < out.size(); ++r) {
        if (out[r] == unk_ && w > first && out[w - 1] == unk_) continue;
        out[w++] = out[r];
      }
      out.resize(w);
    }
  }
  if (add_special) out.insert(out.end(), hf.suffix_ids.begin(), hf.suffix_ids.end());
  return out;
}

std::string Tokenizer::decode_hf(std::span<const int32_t> ids, bool remove_special,
                                 bool unparse_special) const {
  if (remove_special && add_bos_ && !ids.empty() && ids.front() == bos_) ids = ids.subspan(1);
  if (remove_special && add_eos_ && !ids.empty() && ids.back() == eos_)
    ids = ids.first(ids.size() - 1);
  std::vector<HfDecodeToken> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= n_vocab() || tokens_[id].attr == kAttrUndefined) continue;
    const TokenData& t = tokens_[id];
    if (!unparse_special && (t.attr & kAttrControl)) continue;  // skip_special_tokens
    tokens.push_back({t.text, (t.attr & (kAttrControl | kAttrUserDefined)) != 0});
  }
  std::string text = hf_->pipeline.decode(std::move(tokens));
  return hf_->clean_up_spaces ? clean_up_tokenization(std::move(text)) : text;
}

}  // namespace hearth::tokenizer
