#include "tokenizer/hf_pipeline.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>

#include "base/strings.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

// JavaScript's \s: WhiteSpace (Zs, TAB, VT, FF, ZWNBSP) + LineTerminator.
constexpr std::string_view kJsSpaceItems =
    R"(\t\n\x{0B}\f\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF})";

// GPT-2's pre-tokenizer regex, which a ByteLevel pre-tokenizer with use_regex applies.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Each match bounded so a hostile pattern cannot backtrack for ever.
constexpr uint32_t kMatchLimit = 10'000'000;

void find_literal(std::string_view subject, std::string_view needle,
                  std::vector<std::pair<size_t, size_t>>& out) {
  out.clear();
  for (size_t pos = 0; (pos = subject.find(needle, pos)) != std::string_view::npos;
       pos += needle.size()) {
    out.emplace_back(pos, pos + needle.size());
  }
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Splits `text` at `matches` and regroups the pieces as `behavior` says (tokenizers'
// SplitDelimiterBehavior; `invert` swaps which pieces count as matches).
void split_by(std::string_view text, const std::vector<std::pair<size_t, size_t>>& matches,
              HfSplitBehavior behavior, bool invert, std::vector<std::string>& out) {
  struct Segment {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Segment> segments;
  size_t prev = 0;
  for (auto [m0, m1] : matches) {
    if (m0 > prev) segments.push_back({prev, m0, invert});
    segments.push_back({m0, m1, !invert});
    prev = m1;
  }
  if (prev < text.size()) segments.push_back({prev, text.size(), invert});

  std::vector<std::pair<size_t, size_t>> pieces;
  bool previous_match = false;
  switch (behavior) {
    case HfSplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) pieces.emplace_back(s.begin, s.end);
      }
      break;
    case HfSplitBehavior::kIsolated:
      for (const Segment& s : segments) pieces.emplace_back(s.begin, s.end);
      break;
    case HfSplitBehavior::kMergedWithPrevious:
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !pieces.empty())
          pieces.back().second = s.end;
        else
          pieces.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
    case HfSplitBehavior::kMergedWithNext:
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty())
          pieces.back().first = it->begin;
        else
          pieces.emplace_back(it->begin, it->end);
        previous_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    case HfSplitBehavior::kContiguous:
      for (const Segment& s : segments) {
        if (s.is_match && previous_match && !pieces.empty())
          pieces.back().second = s.end;
        else
          pieces.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
  }
  for (auto [b, e] : pieces) {
    if (e > b) out.emplace_back(text.substr(b, e - b));
  }
}

// ---- Unicode normalization and case mapping through ICU (UTF-16 inside) ----

std::u16string to_utf16(std::string_view s) {
  std::u16string out(s.size() + 1, u'\0');
  int32_t len = 0;
  UErrorCode err = U_ZERO_ERROR;
  u_strFromUTF8WithSub(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &len,
                       s.data(), static_cast<int32_t>(s.size()), 0xFFFD, nullptr, &err);
  out.resize(U_SUCCESS(err) ? static_cast<size_t>(len) : 0);
  return out;
}

std::string to_utf8(const std::u16string& s) {
  std::string out(s.size() * 3 + 1, '\0');
  int32_t len = 0;
  UErrorCode err = U_ZERO_ERROR;
  u_strToUTF8WithSub(out.data(), static_cast<int32_t>(out.size()), &len,
                     reinterpret_cast<const UChar*>(s.data()), static_cast<int32_t>(s.size()),
                     0xFFFD, nullptr, &err);
  out.resize(U_SUCCESS(err) ? static_cast<size_t>(len) : 0);
  return out;
}

std::string unicode_normalize(std::string text, HfNormalizer::Kind kind) {
  if (is_ascii(text)) return text;  // ASCII is invariant under all four forms
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* norm = nullptr;
  switch (kind) {
    case HfNormalizer::Kind::kNfc:
      norm = unorm2_getNFCInstance(&err);
      break;
    case HfNormalizer::Kind::kNfd:
      norm = unorm2_getNFDInstance(&err);
      break;
    case HfNormalizer::Kind::kNfkc:
      norm = unorm2_getNFKCInstance(&err);
      break;
    default:
      norm = unorm2_getNFKDInstance(&err);
      break;
  }
  if (U_FAILURE(err)) return text;
  const std::u16string src = to_utf16(text);
  std::u16string dst(src.size() * 4 + 16,
                     u'\0');  // NFKD expands by at most 18x per char; retried below
  for (int attempt = 0; attempt < 2; ++attempt) {
    err = U_ZERO_ERROR;
    const int32_t len = unorm2_normalize(
        norm, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
        reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()), &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      dst.assign(static_cast<size_t>(len) + 1, u'\0');
      continue;
    }
    if (U_FAILURE(err)) return text;
    dst.resize(static_cast<size_t>(len));
    return to_utf8(dst);
  }
  return text;
}

std::string to_lower(std::string text) {
  if (is_ascii(text)) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
  const std::u16string src = to_utf16(text);
  std::u16string dst(src.size() * 3 + 16, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode err = U_ZERO_ERROR;
    // The root locale: JavaScript's toLowerCase (full mappings, final sigma in context).
    const int32_t len = u_strToLower(
        reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()),
        reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()), "", &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      dst.assign(static_cast<size_t>(len) + 1, u'\0');
      continue;
    }
    if (U_FAILURE(err)) return text;
    dst.resize(static_cast<size_t>(len));
    return to_utf8(dst);
  }
  return text;
}

std::string strip_accents(std::string_view text) {
  std::string out;
  size_t offset = 0;
  while (offset < text.size()) {
    const size_t start = offset;
    const uint32_t cp = utf8_decode_one(text, offset);
    if ((U_GET_GC_MASK(static_cast<UChar32>(cp)) & U_GC_M_MASK) == 0)
      out.append(text.substr(start, offset - start));
  }
  return out;
}

std::string js_trim(std::string_view text, bool left, bool right) {
  size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end) {
      size_t next = begin;
      if (!is_js_space(utf8_decode_one(text, next))) break;
      begin = next;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
      size_t probe = start;
      if (!is_js_space(utf8_decode_one(text, probe))) break;
      end = start;
    }
  }
  return std::string(text.substr(begin, end - begin));
}

std::string bytes_to_gpt2(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 2);
  for (char c : text) out += gpt2_byte_to_utf8(static_cast<uint8_t>(c));
  return out;
}

}  // namespace

bool is_js_space(uint32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

// ---- JavaScript-flavoured regexes on PCRE2 ----

std::string js_regex_to_pcre2(std::string_view pattern) {
  std::string src(pattern);
  // What transformers.js rewrites before `new RegExp`: the inline case-insensitive group that
  // JavaScript lacks, spelled out for ASCII only (PCRE2's (?i) would also fold U+017F and
  // U+212A onto s and k).
  replace_all(src, "(?i:'s|'t|'re|'ve|'m|'ll|'d)",
              "(?:'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))");

  std::string out;
  out.reserve(src.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < src.size(); ++i) {
    const char c = src[i];
    if (c == '\\' && i + 1 < src.size()) {
      const char e = src[++i];
      if (e == 's') {
        out += in_class ? std::string(kJsSpaceItems) : "[" + std::string(kJsSpaceItems) + "]";
      } else if (e == 'S' && !in_class) {
        out += "[^" + std::string(kJsSpaceItems) + "]";
      } else if (e == 'u' && i + 1 < src.size() && src[i + 1] == '{') {  // \u{1F600}
        out += "\\x";
      } else if (e == 'u' && i + 4 < src.size() &&
                 std::all_of(src.begin() + static_cast<long>(i) + 1,
                             src.begin() + static_cast<long>(i) + 5, [](char h) {
                               return std::isxdigit(static_cast<unsigned char>(h));
                             })) {  // \uFFFF
        out += "\\x{" + src.substr(i + 1, 4) + "}";
        i += 4;
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '.') {
      out += R"([^\n\r\x{2028}\x{2029}])";
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < src.size() && src[i + 1] == '^') out += src[++i];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    if (in_class && c == '[') {  // literal in JavaScript's u-mode classes; PCRE2 could read [:x:]
      out += "\\[";
      continue;
    }
    out += c;
  }
  return out;
}

struct JsRegex::Code {
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;
  ~Code() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
};

Result<JsRegex> JsRegex::compile(std::string_view pattern) {
  const std::string source = js_regex_to_pcre2(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto code = std::make_shared<Code>();
  // No PCRE2_UCP: \d \w \b stay ASCII, as in JavaScript; \p{..} is Unicode in UTF mode.
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                             PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS,
                             &error_code, &error_offset, nullptr);
  if (code->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return make_error("regex '{}' does not compile (at offset {} of its PCRE2 form): {}", pattern,
                      error_offset, reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE);  // optional speed-up; errors ignored
  code->context = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(code->context, kMatchLimit);
  JsRegex out;
  out.code_ = std::move(code);
  return out;
}

void JsRegex::find_all(std::string_view subject,
                       std::vector<std::pair<size_t, size_t>>& matches) const {
  matches.clear();
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_->code, nullptr);
  const auto* base = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t pos = 0;
  while (pos <= subject.size()) {
    const int rc = pcre2_match(code_->code, base, subject.size(), pos, PCRE2_NO_UTF_CHECK, data,
                               code_->context);
    if (rc < 0) break;  // no more matches (or the match limit: the rest stays unsplit)
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
    const size_t m0 = ov[0], m1 = ov[1];
    if (m1 > m0) {
      matches.emplace_back(m0, m1);
      pos = m1;
    } else {  // empty match: JavaScript moves lastIndex on by one code point
      if (m1 >= subject.size()) break;
      pos = m1 + utf8_len_from_lead(static_cast<uint8_t>(subject[m1]));
    }
  }
  pcre2_match_data_free(data);
}

// ---- Added tokens ----

void AddedTokenMatcher::add(std::string_view content, int32_t id, bool special) {
  if (content.empty()) return;
  int32_t node = 0;
  for (size_t i = 0; i < content.size(); ++i) {
    const auto byte = static_cast<uint8_t>(content[i]);
    int32_t child = -1;
    if (node == 0) {
      child = root_[byte];
    } else {
      for (auto [b, n] : nodes_[node].next) {
        if (b == byte) child = n;
      }
    }
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      nodes_[node].next.emplace_back(byte, child);
      if (node == 0) root_[byte] = child;
    }
    node = child;
  }
  nodes_[node].id = id;  // a later duplicate wins, as later entries do in transformers.js's map
  nodes_[node].special = special;
}

std::pair<int32_t, size_t> AddedTokenMatcher::longest_at(std::string_view text, size_t pos,
                                                         bool include_special) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<uint8_t>(text[i]);
    int32_t child = -1;
    if (node == 0) {
      child = root_[byte];
    } else {
      for (auto [b, n] : nodes_[node].next) {
        if (b == byte) {
          child = n;
          break;
        }
      }
    }
    if (child < 0) break;
    node = child;
    if (nodes_[node].id >= 0 && (include_special || !nodes_[node].special))
      best = {nodes_[node].id, i + 1 - pos};
  }
  return best;
}

// ---- The pipeline ----

Result<HfPipeline> HfPipeline::compile(const HfTokenizerSpec& spec) {
  HfPipeline p;
  for (const HfNormalizer& n : spec.normalizers) {
    NormalizerStep step{n, nullptr};
    if (n.kind == HfNormalizer::Kind::kReplace && n.pattern.is_regex) {
      Result<JsRegex> re = JsRegex::compile(n.pattern.text);
      if (!re.ok()) return make_error("normalizer Replace: {}", re.error().message);
      step.regex = std::make_shared<const JsRegex>(std::move(*re));
    }
    p.normalizers_.push_back(std::move(step));
  }
  for (const HfPreTokenizer& t : spec.pre_tokenizers) {
    Step step{t, nullptr};
    std::string pattern;
    switch (t.kind) {
      case HfPreTokenizer::Kind::kSplit:
        if (t.pattern.is_regex) pattern = t.pattern.text;
        break;
      case HfPreTokenizer::Kind::kByteLevel:
        if (t.use_regex) pattern = kGpt2Pattern;
        break;
      case HfPreTokenizer::Kind::kDigits:
        pattern = t.individual_digits ? "[0-9]" : "[0-9]+";
        break;
      case HfPreTokenizer::Kind::kWhitespace:
        pattern = R"(\w+|[^\w\s]+)";
        break;
      case HfPreTokenizer::Kind::kWhitespaceSplit:
        pattern = R"(\S+)";
        break;
      case HfPreTokenizer::Kind::kMetaspace:
        break;
    }
    if (!pattern.empty()) {
      Result<JsRegex> re = JsRegex::compile(pattern);
      if (!re.ok()) return make_error("pre_tokenizer: {}", re.error().message);
      step.regex = std::make_shared<const JsRegex>(std::move(*re));
    }
    p.pre_tokenizers_.push_back(std::move(step));
  }
  p.decoders_ = spec.decoders;
  p.has_decoder_ = spec.has_decoder;
  return p;
}

std::string HfPipeline::normalize(std::string text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  for (const NormalizerStep& step : normalizers_) {
    const HfNormalizer& n = step.spec;
    switch (n.kind) {
      case HfNormalizer::Kind::kReplace:
        if (step.regex == nullptr) {
          replace_all(text, n.pattern.text, n.content);
        } else {
          step.regex->find_all(text, matches);
          if (matches.empty()) break;
          std::string out;
          size_t prev = 0;
          for (auto [m0, m1] : matches) {
            out.append(text, prev, m0 - prev);
            out += n.content;
            prev = m1;
          }
          out.append(text, prev, std::string::npos);
          text = std::move(out);
        }
        break;
      case HfNormalizer::Kind::kPrepend:
        if (!text.empty()) text.insert(0, n.content);
        break;
      case HfNormalizer::Kind::kNfc:
      case HfNormalizer::Kind::kNfd:
      case HfNormalizer::Kind::kNfkc:
      case HfNormalizer::Kind::kNfkd:
        text = unicode_normalize(std::move(text), n.kind);
        break;
      case HfNormalizer::Kind::kLowercase:
        text = to_lower(std::move(text));
        break;
      case HfNormalizer::Kind::kStrip:
        text = js_trim(text, n.strip_left, n.strip_right);
        break;
      case HfNormalizer::Kind::kStripAccents:
        text = strip_accents(text);
        break;
    }
  }
  return text;
}

void HfPipeline::pre_tokenize(std::string text, bool first_section,
                              std::vector<std::string>& words) const {
  words.clear();
  if (text.empty()) return;
  words.push_back(std::move(text));
  std::vector<std::string> next;
  std::vector<std::pair<size_t, size_t>> matches;
  for (const Step& step : pre_tokenizers_) {
    const HfPreTokenizer& t = step.spec;
    next.clear();
    for (size_t w = 0; w < words.size(); ++w) {
      std::string& word = words[w];
      switch (t.kind) {
        case HfPreTokenizer::Kind::kSplit:
          if (step.regex != nullptr)
            step.regex->find_all(word, matches);
          else
            find_literal(word, t.pattern.text, matches);
          split_by(word, matches, t.behavior, t.invert, next);
          break;
        case HfPreTokenizer::Kind::kByteLevel: {
          if (t.add_prefix_space && word[0] != ' ') word.insert(0, 1, ' ');
          if (step.regex == nullptr) {
            next.push_back(bytes_to_gpt2(word));
            break;
          }
          step.regex->find_all(word, matches);
          const size_t first = next.size();
          split_by(word, matches, HfSplitBehavior::kIsolated, false, next);
          for (size_t i = first; i < next.size(); ++i) next[i] = bytes_to_gpt2(next[i]);
          break;
        }
        case HfPreTokenizer::Kind::kMetaspace: {
          replace_all(word, " ", t.replacement);
          const bool prepend = t.prepend == HfPrependScheme::kAlways ||
                               (t.prepend == HfPrependScheme::kFirst && first_section && w == 0);
          if (prepend && word.compare(0, t.replacement.size(), t.replacement) != 0)
            word.insert(0, t.replacement);
          if (!t.split) {
            next.push_back(std::move(word));
            break;
          }
          find_literal(word, t.replacement, matches);
          split_by(word, matches, HfSplitBehavior::kMergedWithNext, false, next);
          break;
        }
        case HfPreTokenizer::Kind::kDigits:
          step.regex->find_all(word, matches);
          split_by(word, matches, HfSplitBehavior::kIsolated, false, next);
          break;
        case HfPreTokenizer::Kind::kWhitespace:
        case HfPreTokenizer::Kind::kWhitespaceSplit:
          step.regex->find_all(word, matches);  // keep the matches only
          split_by(word, matches, HfSplitBehavior::kRemoved, true, next);
          break;
      }
    }
    words.swap(next);
  }
}

std::string HfPipeline::decode(std::vector<HfDecodeToken> tokens) const {
  if (!has_decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i].text;
    }
    return out;
  }
  for (const HfDecoder& d : decoders_) {
    std::vector<HfDecodeToken> next;
    switch (d.kind) {
      case HfDecoder::Kind::kByteLevel: {
        // Runs of model tokens go back through GPT-2's alphabet to bytes; added tokens pass.
        std::string bytes;
        const auto flush = [&] {
          if (!bytes.empty()) next.push_back({utf8_sanitize(bytes), false});
          bytes.clear();
        };
        for (HfDecodeToken& t : tokens) {
          if (t.added) {
            flush();
            next.push_back(std::move(t));
            continue;
          }
          size_t offset = 0;
          while (offset < t.text.size()) {
            const size_t start = offset;
            const uint32_t cp = utf8_decode_one(t.text, offset);
            if (std::optional<uint8_t> b = gpt2_codepoint_to_byte(cp))
              bytes.push_back(static_cast<char>(*b));
            else
              bytes.append(t.text, start, offset - start);  // not in the alphabet: kept as it is
          }
        }
        flush();
        break;
      }
      case HfDecoder::Kind::kReplace:
        for (HfDecodeToken& t : tokens) replace_all(t.text, d.pattern, d.content);
        next = std::move(tokens);
        break;
      case HfDecoder::Kind::kByteFallback: {
        std::string bytes;
        const auto flush = [&] {
          if (!bytes.empty()) next.push_back({utf8_sanitize(bytes), false});
          bytes.clear();
        };
        for (HfDecodeToken& t : tokens) {
          const std::string& s = t.text;
          if (s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' &&
              std::isxdigit(static_cast<unsigned char>(s[3])) &&
              std::isxdigit(static_cast<unsigned char>(s[4]))) {
            bytes.push_back(static_cast<char>(std::stoi(s.substr(3, 2), nullptr, 16)));
            continue;
          }
          flush();
          next.push_back(std::move(t));
        }
        flush();
        break;
      }
      case HfDecoder::Kind::kFuse: {
        HfDecodeToken fused;
        for (const HfDecodeToken& t : tokens) fused.text += t.text;
        next.push_back(std::move(fused));
        break;
      }
      case HfDecoder::Kind::kStrip:
        for (HfDecodeToken& t : tokens) {
          size_t begin = 0, end = t.text.size();
          for (int i = 0; i < d.strip_start && begin < end && t.text[begin] == d.content[0]; ++i)
            ++begin;
          for (int i = 0; i < d.strip_stop && end > begin && t.text[end - 1] == d.content[0]; ++i)
            --end;
          t.text = t.text.substr(begin, end - begin);
        }
        next = std::move(tokens);
        break;
      case HfDecoder::Kind::kMetaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          replace_all(tokens[i].text, d.replacement, " ");
          if (i == 0 && d.prepend != HfPrependScheme::kNever && !tokens[i].text.empty() &&
              tokens[i].text[0] == ' ') {
            tokens[i].text.erase(0, 1);
          }
        }
        next = std::move(tokens);
        break;
    }
    tokens = std::move(next);
  }
  std::string out;
  for (const HfDecodeToken& t : tokens) out += t.text;
  return out;
}

bool HfPipeline::has_byte_level_decoder() const {
  return std::any_of(decoders_.begin(), decoders_.end(),
                     [](const HfDecoder& d) { return d.kind == HfDecoder::Kind::kByteLevel; });
}

bool HfPipeline::decoder_strips_leading_space() const {
  return std::any_of(decoders_.begin(), decoders_.end(), [](const HfDecoder& d) {
    return (d.kind == HfDecoder::Kind::kStrip && d.strip_start > 0 && d.content == " ") ||
           (d.kind == HfDecoder::Kind::kMetaspace && d.prepend != HfPrependScheme::kNever);
  });
}

}  // namespace hearth::tokenizer
