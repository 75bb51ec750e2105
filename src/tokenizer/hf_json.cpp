// tokenizer.json + tokenizer_config.json -> HfTokenizerSpec. The files are untrusted: nesting,
// sizes and counts are bounded before anything big is built, and each error names the file and
// the JSON path of the offending value.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "tokenizer/hf_spec.h"

namespace hearth::tokenizer {
namespace {

using Json = nlohmann::json;

// Deepest [ / { nesting outside strings; nlohmann's destructor and accessors recurse, so hostile
// nesting is refused before parsing.
int json_depth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

Result<Json> parse_json(std::string_view text, std::string_view name, size_t max_bytes) {
  if (text.size() > max_bytes)
    return make_error("{}: {} bytes is over the {} byte limit", name, text.size(), max_bytes);
  if (json_depth(text) > kMaxJsonDepth)
    return make_error("{}: JSON nested deeper than {} levels", name, kMaxJsonDepth);
  try {
    Json json = Json::parse(text.begin(), text.end());
    if (!json.is_object())
      return make_error("{}: expected a JSON object at the top level, got {}", name,
                        json.type_name());
    return json;
  } catch (const Json::exception& e) {
    return make_error("{}: not valid JSON: {}", name, e.what());
  }
}

// Typed access with errors that carry the JSON path.
class Reader {
 public:
  Reader(std::string_view file) : file_(file) {}

  Error error(std::string_view path, std::string_view what) const {
    return make_error("{}: {}: {}", file_, path, what);
  }
  Error type_error(std::string_view path, const Json& v, std::string_view want) const {
    return error(path, fmt::format("expected {}, got {}", want, v.type_name()));
  }

  Result<std::string> string(const Json& v, std::string_view path,
                             size_t max_bytes = kMaxTokenBytes) const {
    if (!v.is_string()) return type_error(path, v, "a string");
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() > max_bytes)
      return error(
          path, fmt::format("string of {} bytes is over the {} byte limit", s.size(), max_bytes));
    return s;
  }
  Result<bool> boolean(const Json& v, std::string_view path) const {
    if (!v.is_boolean()) return type_error(path, v, "true or false");
    return v.get<bool>();
  }
  Result<int64_t> integer(const Json& v, std::string_view path) const {
    if (!v.is_number_integer()) return type_error(path, v, "an integer");
    return v.get<int64_t>();
  }
  Result<int32_t> token_id(const Json& v, std::string_view path) const {
    HEARTH_TRY(int64_t id, integer(v, path));
    if (id < 0 || id >= static_cast<int64_t>(kMaxVocabEntries) * 2) {
      return error(path, fmt::format("token id {} is out of range", id));
    }
    return static_cast<int32_t>(id);
  }
  // obj[key] if present and not null; nullptr otherwise.
  static const Json* field(const Json& obj, std::string_view key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  Result<bool> opt_bool(const Json& obj, std::string_view key, std::string_view path,
                        bool fallback) const {
    const Json* v = field(obj, key);
    if (v == nullptr) return fallback;
    return boolean(*v, fmt::format("{}.{}", path, key));
  }
  Result<std::string> opt_string(const Json& obj, std::string_view key, std::string_view path,
                                 std::string fallback) const {
    const Json* v = field(obj, key);
    if (v == nullptr) return fallback;
    return string(*v, fmt::format("{}.{}", path, key));
  }
  Result<std::string> type_of(const Json& obj, std::string_view path) const {
    if (!obj.is_object()) return type_error(path, obj, "an object");
    const Json* t = field(obj, "type");
    if (t == nullptr) return error(path, "missing \"type\"");
    return string(*t, fmt::format("{}.type", path), 256);
  }
  Result<const Json*> array(const Json& obj, std::string_view key, std::string_view path) const {
    const Json* v = field(obj, key);
    if (v == nullptr || !v->is_array()) {
      return error(fmt::format("{}.{}", path, key),
                   v == nullptr ? "missing (expected an array)" : "expected an array");
    }
    return v;
  }

 private:
  std::string_view file_;
};

Result<HfPattern> read_pattern(const Reader& r, const Json& obj, std::string_view path) {
  const Json* p = Reader::field(obj, "pattern");
  if (p == nullptr || !p->is_object())
    return r.error(fmt::format("{}.pattern", path), "missing {\"String\"|\"Regex\": ...}");
  HfPattern out;
  if (const Json* s = Reader::field(*p, "String")) {
    HEARTH_TRY(out.text, r.string(*s, fmt::format("{}.pattern.String", path)));
  } else if (const Json* re = Reader::field(*p, "Regex")) {
    out.is_regex = true;
    HEARTH_TRY(out.text, r.string(*re, fmt::format("{}.pattern.Regex", path)));
  } else {
    return r.error(fmt::format("{}.pattern", path),
                   "expected {\"String\": ...} or {\"Regex\": ...}");
  }
  if (out.text.empty()) return r.error(fmt::format("{}.pattern", path), "empty pattern");
  return out;
}

Result<HfPrependScheme> read_prepend_scheme(const Reader& r, const Json& obj,
                                            std::string_view path) {
  if (const Json* s = Reader::field(obj, "prepend_scheme")) {
    HEARTH_TRY(std::string scheme, r.string(*s, fmt::format("{}.prepend_scheme", path), 64));
    if (scheme == "always") return HfPrependScheme::kAlways;
    if (scheme == "first") return HfPrependScheme::kFirst;
    if (scheme == "never") return HfPrependScheme::kNever;
    return r.error(fmt::format("{}.prepend_scheme", path),
                   fmt::format("unknown scheme '{}'", scheme));
  }
  HEARTH_TRY(bool add, r.opt_bool(obj, "add_prefix_space", path, true));  // the legacy field
  return add ? HfPrependScheme::kAlways : HfPrependScheme::kNever;
}

Status read_normalizer(const Reader& r, const Json& obj, const std::string& path, int depth,
                       std::vector<HfNormalizer>& out) {
  HEARTH_TRY(std::string type, r.type_of(obj, path));
  HfNormalizer n;
  using K = HfNormalizer::Kind;
  if (type == "Sequence") {
    if (depth > 8) return r.error(path, "Sequence nested too deeply");
    HEARTH_TRY(const Json* list, r.array(obj, "normalizers", path));
    for (size_t i = 0; i < list->size(); ++i) {
      HEARTH_RETURN_IF_ERROR(read_normalizer(
          r, (*list)[i], fmt::format("{}.normalizers[{}]", path, i), depth + 1, out));
    }
    return Status::Ok();
  } else if (type == "Replace") {
    n.kind = K::kReplace;
    HEARTH_TRY(n.pattern, read_pattern(r, obj, path));
    HEARTH_TRY(n.content, r.opt_string(obj, "content", path, ""));
  } else if (type == "Prepend") {
    n.kind = K::kPrepend;
    HEARTH_TRY(n.content, r.opt_string(obj, "prepend", path, ""));
  } else if (type == "NFC") {
    n.kind = K::kNfc;
  } else if (type == "NFD") {
    n.kind = K::kNfd;
  } else if (type == "NFKC") {
    n.kind = K::kNfkc;
  } else if (type == "NFKD") {
    n.kind = K::kNfkd;
  } else if (type == "Lowercase") {
    n.kind = K::kLowercase;
  } else if (type == "StripAccents") {
    n.kind = K::kStripAccents;
  } else if (type == "Strip") {
    n.kind = K::kStrip;
    HEARTH_TRY(n.strip_left, r.opt_bool(obj, "strip_left", path, true));
    HEARTH_TRY(n.strip_right, r.opt_bool(obj, "strip_right", path, true));
  } else {
    return r.error(path, fmt::format("normalizer type '{}' is not supported", type));
  }
  out.push_back(std::move(n));
  return Status::Ok();
}

Result<HfSplitBehavior> read_behavior(const Reader& r, const Json& obj, std::string_view path) {
  HEARTH_TRY(std::string b, r.opt_string(obj, "behavior", path, "Isolated"));
  std::string lower = b;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lower == "removed") return HfSplitBehavior::kRemoved;
  if (lower == "isolated") return HfSplitBehavior::kIsolated;
  if (lower == "mergedwithprevious") return HfSplitBehavior::kMergedWithPrevious;
  if (lower == "mergedwithnext") return HfSplitBehavior::kMergedWithNext;
  if (lower == "contiguous") return HfSplitBehavior::kContiguous;
  return r.error(fmt::format("{}.behavior", path), fmt::format("unknown split behavior '{}'", b));
}

Status read_pre_tokenizer(const Reader& r, const Json& obj, const std::string& path, int depth,
                          std::vector<HfPreTokenizer>& out) {
  HEARTH_TRY(std::string type, r.type_of(obj, path));
  HfPreTokenizer p;
  using K = HfPreTokenizer::Kind;
  if (type == "Sequence") {
    if (depth > 8) return r.error(path, "Sequence nested too deeply");
    HEARTH_TRY(const Json* list, r.array(obj, "pretokenizers", path));
    for (size_t i = 0; i < list->size(); ++i) {
      HEARTH_RETURN_IF_ERROR(read_pre_tokenizer(
          r, (*list)[i], fmt::format("{}.pretokenizers[{}]", path, i), depth + 1, out));
    }
    return Status::Ok();
  } else if (type == "Split") {
    p.kind = K::kSplit;
    HEARTH_TRY(p.pattern, read_pattern(r, obj, path));
    HEARTH_TRY(p.behavior, read_behavior(r, obj, path));
    HEARTH_TRY(p.invert, r.opt_bool(obj, "invert", path, false));
  } else if (type == "ByteLevel") {
    p.kind = K::kByteLevel;
    HEARTH_TRY(p.add_prefix_space, r.opt_bool(obj, "add_prefix_space", path, false));
    HEARTH_TRY(p.use_regex, r.opt_bool(obj, "use_regex", path, true));
  } else if (type == "Metaspace") {
    p.kind = K::kMetaspace;
    HEARTH_TRY(p.replacement, r.opt_string(obj, "replacement", path, "\xE2\x96\x81"));
    if (p.replacement.empty()) return r.error(path + ".replacement", "empty replacement");
    HEARTH_TRY(p.prepend, read_prepend_scheme(r, obj, path));
    HEARTH_TRY(p.split, r.opt_bool(obj, "split", path, true));
  } else if (type == "Digits") {
    p.kind = K::kDigits;
    HEARTH_TRY(p.individual_digits, r.opt_bool(obj, "individual_digits", path, false));
  } else if (type == "Whitespace") {
    p.kind = K::kWhitespace;
  } else if (type == "WhitespaceSplit") {
    p.kind = K::kWhitespaceSplit;
  } else {
    return r.error(path, fmt::format("pre-tokenizer type '{}' is not supported", type));
  }
  out.push_back(std::move(p));
  return Status::Ok();
}

Status read_decoder(const Reader& r, const Json& obj, const std::string& path, int depth,
                    std::vector<HfDecoder>& out) {
  HEARTH_TRY(std::string type, r.type_of(obj, path));
  HfDecoder d;
  using K = HfDecoder::Kind;
  if (type == "Sequence") {
    if (depth > 8) return r.error(path, "Sequence nested too deeply");
    HEARTH_TRY(const Json* list, r.array(obj, "decoders", path));
    for (size_t i = 0; i < list->size(); ++i) {
      HEARTH_RETURN_IF_ERROR(
          read_decoder(r, (*list)[i], fmt::format("{}.decoders[{}]", path, i), depth + 1, out));
    }
    return Status::Ok();
  } else if (type == "ByteLevel") {
    d.kind = K::kByteLevel;
  } else if (type == "Replace") {
    d.kind = K::kReplace;
    HEARTH_TRY(HfPattern pattern, read_pattern(r, obj, path));
    if (pattern.is_regex)
      return r.error(path + ".pattern", "Regex patterns in a Replace decoder are not supported");
    d.pattern = std::move(pattern.text);
    HEARTH_TRY(d.content, r.opt_string(obj, "content", path, ""));
  } else if (type == "ByteFallback") {
    d.kind = K::kByteFallback;
  } else if (type == "Fuse") {
    d.kind = K::kFuse;
  } else if (type == "Strip") {
    d.kind = K::kStrip;
    HEARTH_TRY(d.content, r.opt_string(obj, "content", path, " "));
    if (d.content.size() != 1)
      return r.error(path + ".content", "expected a single ASCII character");
    for (auto [key, field] :
         {std::pair{"start", &d.strip_start}, std::pair{"stop", &d.strip_stop}}) {
      if (const Json* v = Reader::field(obj, key)) {
        HEARTH_TRY(int64_t n, r.integer(*v, fmt::format("{}.{}", path, key)));
        if (n < 0 || n > 1024)
          return r.error(fmt::format("{}.{}", path, key), "out of range 0..1024");
        *field = static_cast<int>(n);
      }
    }
  } else if (type == "Metaspace") {
    d.kind = K::kMetaspace;
    HEARTH_TRY(d.replacement, r.opt_string(obj, "replacement", path, "\xE2\x96\x81"));
    if (d.replacement.empty()) return r.error(path + ".replacement", "empty replacement");
    HEARTH_TRY(d.prepend, read_prepend_scheme(r, obj, path));
  } else {
    return r.error(path, fmt::format("decoder type '{}' is not supported", type));
  }
  out.push_back(std::move(d));
  return Status::Ok();
}

// post_processor -> the ids around a single sequence.
Status read_post_processor(const Reader& r, const Json& obj, const std::string& path, int depth,
                           HfTokenizerSpec& spec) {
  HEARTH_TRY(std::string type, r.type_of(obj, path));
  if (type == "ByteLevel") return Status::Ok();  // offsets only
  if (type == "Sequence") {
    if (depth > 8) return r.error(path, "Sequence nested too deeply");
    HEARTH_TRY(const Json* list, r.array(obj, "processors", path));
    for (size_t i = 0; i < list->size(); ++i) {
      HEARTH_RETURN_IF_ERROR(read_post_processor(
          r, (*list)[i], fmt::format("{}.processors[{}]", path, i), depth + 1, spec));
    }
    return Status::Ok();
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const Json* pair = Reader::field(obj, key);
      const std::string where = fmt::format("{}.{}", path, key);
      if (pair == nullptr || !pair->is_array() || pair->size() != 2)
        return r.error(where, "expected [token, id]");
      HEARTH_TRY(int32_t id, r.token_id((*pair)[1], where + "[1]"));
      (std::string_view(key) == "cls" ? spec.prefix_ids : spec.suffix_ids).push_back(id);
    }
    return Status::Ok();
  }
  if (type != "TemplateProcessing")
    return r.error(path, fmt::format("post-processor type '{}' is not supported", type));
  HEARTH_TRY(const Json* single, r.array(obj, "single", path));
  const Json* specials = Reader::field(obj, "special_tokens");
  bool seen_sequence = false;
  spec.prefix_ids.clear();
  spec.suffix_ids.clear();
  for (size_t i = 0; i < single->size(); ++i) {
    const Json& item = (*single)[i];
    const std::string where = fmt::format("{}.single[{}]", path, i);
    if (Reader::field(item, "Sequence") != nullptr) {
      seen_sequence = true;
      continue;
    }
    const Json* st = Reader::field(item, "SpecialToken");
    if (st == nullptr)
      return r.error(where, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    const Json* name = Reader::field(*st, "id");
    if (name == nullptr) return r.error(where + ".SpecialToken", "missing \"id\"");
    HEARTH_TRY(std::string key, r.string(*name, where + ".SpecialToken.id"));
    const Json* entry = specials != nullptr ? Reader::field(*specials, key) : nullptr;
    if (entry == nullptr)
      return r.error(path + ".special_tokens", fmt::format("no entry for '{}'", key));
    const std::string entry_path = fmt::format("{}.special_tokens[\"{}\"]", path, key);
    HEARTH_TRY(const Json* ids, r.array(*entry, "ids", entry_path));
    for (size_t k = 0; k < ids->size(); ++k) {
      HEARTH_TRY(int32_t id, r.token_id((*ids)[k], fmt::format("{}.ids[{}]", entry_path, k)));
      (seen_sequence ? spec.suffix_ids : spec.prefix_ids).push_back(id);
    }
  }
  if (!seen_sequence)
    return r.error(path + ".single", "has no {\"Sequence\": {\"id\": \"A\"}} item");
  return Status::Ok();
}

Status read_model(const Reader& r, const Json& root, HfTokenizerSpec& spec) {
  const Json* model = Reader::field(root, "model");
  if (model == nullptr || !model->is_object())
    return r.error("model", "missing (expected an object)");
  const Json* type = Reader::field(*model, "type");
  if (type != nullptr) {
    HEARTH_TRY(std::string t, r.string(*type, "model.type", 64));
    if (t != "BPE")
      return r.error("model.type",
                     fmt::format("model type '{}' is not supported (only BPE is)", t));
  } else if (Reader::field(*model, "merges") == nullptr) {
    return r.error("model",
                   "no \"type\" and no \"merges\": not a BPE model (only BPE is supported)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    HEARTH_TRY(std::string affix, r.opt_string(*model, key, "model", ""));
    if (!affix.empty())
      return r.error(fmt::format("model.{}", key), "subword affixes are not supported");
  }
  HEARTH_TRY(spec.byte_fallback, r.opt_bool(*model, "byte_fallback", "model", false));
  HEARTH_TRY(spec.ignore_merges, r.opt_bool(*model, "ignore_merges", "model", false));
  HEARTH_TRY(spec.fuse_unk, r.opt_bool(*model, "fuse_unk", "model", false));
  if (const Json* unk = Reader::field(*model, "unk_token")) {
    HEARTH_TRY(spec.unk_token, r.string(*unk, "model.unk_token"));
  }

  const Json* vocab = Reader::field(*model, "vocab");
  if (vocab == nullptr || !vocab->is_object())
    return r.error("model.vocab", "missing (expected an object of token: id)");
  if (vocab->size() > kMaxVocabEntries)
    return r.error("model.vocab", fmt::format("{} entries is over the limit", vocab->size()));
  if (vocab->empty()) return r.error("model.vocab", "is empty");
  spec.vocab.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (it.key().size() > kMaxTokenBytes)
      return r.error("model.vocab", "a token is over the length limit");
    HEARTH_TRY(int32_t id, r.token_id(it.value(), fmt::format("model.vocab[\"{}\"]", it.key())));
    spec.vocab.emplace_back(it.key(), id);
  }

  HEARTH_TRY(const Json* merges, r.array(*model, "merges", "model"));
  if (merges->size() > kMaxVocabEntries * 4) return r.error("model.merges", "too many merges");
  spec.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const Json& m = (*merges)[i];
    const std::string where = fmt::format("model.merges[{}]", i);
    if (m.is_string()) {  // "left right" (tokenizers < 0.20)
      const std::string& s = m.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 >= s.size() ||
          s.find(' ', space + 1) != std::string::npos) {
        return r.error(where, fmt::format("'{}' is not two tokens separated by one space", s));
      }
      spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      HEARTH_TRY(std::string left, r.string(m[0], where + "[0]"));
      HEARTH_TRY(std::string right, r.string(m[1], where + "[1]"));
      if (left.empty() || right.empty()) return r.error(where, "empty token");
      spec.merges.emplace_back(std::move(left), std::move(right));
    } else {
      return r.error(where, "expected \"left right\" or [\"left\", \"right\"]");
    }
  }
  return Status::Ok();
}

Status read_added_tokens(const Reader& r, const Json& root, HfTokenizerSpec& spec) {
  const Json* list = Reader::field(root, "added_tokens");
  if (list == nullptr) return Status::Ok();
  if (!list->is_array()) return r.type_error("added_tokens", *list, "an array");
  if (list->size() > kMaxVocabEntries) return r.error("added_tokens", "too many entries");
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& t = (*list)[i];
    const std::string where = fmt::format("added_tokens[{}]", i);
    if (!t.is_object()) return r.type_error(where, t, "an object");
    HfAddedToken a;
    const Json* id = Reader::field(t, "id");
    const Json* content = Reader::field(t, "content");
    if (id == nullptr || content == nullptr) return r.error(where, "needs \"id\" and \"content\"");
    HEARTH_TRY(a.id, r.token_id(*id, where + ".id"));
    HEARTH_TRY(a.content, r.string(*content, where + ".content"));
    if (a.content.empty()) return r.error(where + ".content", "empty token");
    HEARTH_TRY(a.special, r.opt_bool(t, "special", where, false));
    HEARTH_TRY(a.lstrip, r.opt_bool(t, "lstrip", where, false));
    HEARTH_TRY(a.rstrip, r.opt_bool(t, "rstrip", where, false));
    HEARTH_TRY(a.normalized, r.opt_bool(t, "normalized", where, !a.special));
    HEARTH_TRY(a.single_word, r.opt_bool(t, "single_word", where, false));
    spec.added_tokens.push_back(std::move(a));
  }
  return Status::Ok();
}

// A token field of tokenizer_config.json: "text", {"content": "text", ...}, or null.
Result<std::optional<std::string>> config_token(const Reader& r, const Json& cfg,
                                                std::string_view key) {
  const Json* v = Reader::field(cfg, key);
  if (v == nullptr) return std::optional<std::string>();
  if (v->is_object()) {
    const Json* content = Reader::field(*v, "content");
    if (content == nullptr) return r.error(key, "object without \"content\"");
    HEARTH_TRY(std::string s, r.string(*content, fmt::format("{}.content", key)));
    return std::optional<std::string>(std::move(s));
  }
  HEARTH_TRY(std::string s, r.string(*v, key));
  return std::optional<std::string>(std::move(s));
}

Status read_config(const Reader& r, const Json& cfg, HfTokenizerSpec& spec) {
  HEARTH_TRY(spec.bos_token, config_token(r, cfg, "bos_token"));
  HEARTH_TRY(spec.eos_token, config_token(r, cfg, "eos_token"));
  HEARTH_TRY(spec.unk_token_config, config_token(r, cfg, "unk_token"));
  HEARTH_TRY(spec.pad_token, config_token(r, cfg, "pad_token"));
  for (auto [key, flag] :
       {std::pair{"add_bos_token", &spec.add_bos}, std::pair{"add_eos_token", &spec.add_eos}}) {
    if (const Json* v = Reader::field(cfg, key)) {
      HEARTH_TRY(bool b, r.boolean(*v, key));
      *flag = b ? 1 : 0;
    }
  }
  HEARTH_TRY(spec.clean_up_spaces, r.opt_bool(cfg, "clean_up_tokenization_spaces", "(root)", true));
  if (const Json* list = Reader::field(cfg, "additional_special_tokens")) {
    if (!list->is_array()) return r.type_error("additional_special_tokens", *list, "an array");
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& item = (*list)[i];
      const std::string where = fmt::format("additional_special_tokens[{}]", i);
      const Json& text = item.is_object() && item.contains("content") ? item["content"] : item;
      HEARTH_TRY(std::string s, r.string(text, where));
      spec.additional_special_tokens.push_back(std::move(s));
    }
  }
  if (const Json* tmpl = Reader::field(cfg, "chat_template")) {
    if (tmpl->is_string()) {
      HEARTH_TRY(spec.chat_template, r.string(*tmpl, "chat_template", kMaxTokenizerConfigBytes));
    } else if (tmpl->is_array()) {  // [{"name": ..., "template": ...}]: the "default" one
      for (size_t i = 0; i < tmpl->size(); ++i) {
        const Json& entry = (*tmpl)[i];
        const std::string where = fmt::format("chat_template[{}]", i);
        const Json* name = Reader::field(entry, "name");
        const Json* text = Reader::field(entry, "template");
        if (name == nullptr || text == nullptr)
          return r.error(where, "expected {\"name\": ..., \"template\": ...}");
        HEARTH_TRY(std::string n, r.string(*name, where + ".name"));
        if (n == "default") {
          HEARTH_TRY(spec.chat_template,
                     r.string(*text, where + ".template", kMaxTokenizerConfigBytes));
        }
      }
    } else {
      return r.type_error("chat_template", *tmpl, "a string or a list of named templates");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<HfTokenizerSpec> parse_hf_tokenizer(std::string_view json_text, std::string_view config_text,
                                           std::string_view json_name,
                                           std::string_view config_name) {
  HfTokenizerSpec spec;
  {
    HEARTH_TRY(Json root, parse_json(json_text, json_name, kMaxTokenizerJsonBytes));
    const Reader r(json_name);
    HEARTH_RETURN_IF_ERROR(read_model(r, root, spec));
    HEARTH_RETURN_IF_ERROR(read_added_tokens(r, root, spec));
    if (const Json* n = Reader::field(root, "normalizer")) {
      HEARTH_RETURN_IF_ERROR(read_normalizer(r, *n, "normalizer", 0, spec.normalizers));
    }
    if (const Json* p = Reader::field(root, "pre_tokenizer")) {
      HEARTH_RETURN_IF_ERROR(read_pre_tokenizer(r, *p, "pre_tokenizer", 0, spec.pre_tokenizers));
    }
    if (const Json* d = Reader::field(root, "decoder")) {
      spec.has_decoder = true;
      HEARTH_RETURN_IF_ERROR(read_decoder(r, *d, "decoder", 0, spec.decoders));
    }
    if (const Json* p = Reader::field(root, "post_processor")) {
      HEARTH_RETURN_IF_ERROR(read_post_processor(r, *p, "post_processor", 0, spec));
    }
  }
  if (!config_text.empty()) {
    HEARTH_TRY(Json cfg, parse_json(config_text, config_name, kMaxTokenizerConfigBytes));
    HEARTH_RETURN_IF_ERROR(read_config(Reader(config_name), cfg, spec));
  }
  return spec;
}

Result<std::vector<int32_t>> parse_generation_eos(std::string_view text, std::string_view name) {
  HEARTH_TRY(Json root, parse_json(text, name, kMaxTokenizerConfigBytes));
  const Reader r(name);
  std::vector<int32_t> ids;
  const Json* eos = Reader::field(root, "eos_token_id");
  if (eos == nullptr) return ids;
  if (eos->is_array()) {
    if (eos->size() > 1024) return r.error("eos_token_id", "too many ids");
    for (size_t i = 0; i < eos->size(); ++i) {
      HEARTH_TRY(int32_t id, r.token_id((*eos)[i], fmt::format("eos_token_id[{}]", i)));
      ids.push_back(id);
    }
  } else {
    HEARTH_TRY(int32_t id, r.token_id(*eos, "eos_token_id"));
    ids.push_back(id);
  }
  return ids;
}

}  // namespace hearth::tokenizer
