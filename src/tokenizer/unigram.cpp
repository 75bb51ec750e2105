// Unigram ("t5" vocabularies: T5, XLM-RoBERTa and the embedders and rerankers built on it, such
// as bge-m3 and nomic-embed v2), as llama.cpp's UGM tokenizer runs it:
//   1. Normalize: at each position the longest user-defined token is kept as it is, else the
//      longest prefix SentencePiece's precompiled charsmap rewrites (an XOR-compressed double
//      array over the input bytes and NUL-terminated replacements), else one UTF-8 character as
//      it is (an invalid byte becomes U+FFFD). Spaces become U+2581, runs of them merge
//      (remove_extra_whitespaces) and a word-initial U+2581 is prepended (add_space_prefix).
//   2. Viterbi: the tokenization with the highest total score (in double, as SentencePiece), the
//      candidates at each character being every normal, user-defined or unused token that
//      starts there (user-defined score 0); a character no token covers is <unk> at the lowest
//      normal score minus 10, and consecutive <unk>s merge into one.
// The token lookup is a sorted array narrowed byte by byte (a trie's walk without a trie's
// memory: 250k XLM-R tokens cost 1 MB of ids, not tens of MB of nodes).
#include <algorithm>
#include <cfloat>
#include <cstring>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {

struct Tokenizer::UgmState {
  std::vector<int32_t> matcher;       // normal, user-defined and unused tokens, by text (bytes)
  std::vector<int32_t> user_defined;  // user-defined tokens, by text
  std::vector<uint8_t> charsmap;      // tokenizer.ggml.precompiled_charsmap
  size_t xcda_offset = 0, xcda_entries = 0;  // the double array: uint32 entries after the size word
  size_t replacements = 0;                   // offset of the replacement strings
  double unknown_score = 0;
  bool remove_extra_whitespaces = false;
};

namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581

// The longest piece a lookup walks: real Unigram pieces are under 50 bytes (XLM-R's longest is 48),
// and a hostile vocabulary's huge entry must not make every position walk its length.
constexpr size_t kMaxPieceBytes = 128;

// llama.cpp's unicode_cpt_from_utf8 validity: a lead byte and its continuation bytes, all present.
size_t valid_utf8_length(std::string_view s, size_t at) {
  const auto b = static_cast<uint8_t>(s[at]);
  size_t n = 0;
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) n = 2;
  else if ((b & 0xF0) == 0xE0) n = 3;
  else if ((b & 0xF8) == 0xF0) n = 4;
  else return 0;
  if (at + n > s.size()) return 0;
  for (size_t i = 1; i < n; ++i)
    if ((static_cast<uint8_t>(s[at + i]) & 0xC0) != 0x80) return 0;
  return n;
}

}  // namespace

// Calls `each` with the byte length and id of every entry of `sorted` (ids ordered by their
// text's bytes, one id per text) that is a prefix of `text`, shortest first: a trie's walk, each
// step narrowing the range of entries that share the bytes walked so far.
template <typename Each>
void Tokenizer::ugm_prefixes(const std::vector<int32_t>& sorted, std::string_view text, Each&& each) const {
  size_t lo = 0, hi = sorted.size();
  for (size_t depth = 0; depth < std::min(text.size(), kMaxPieceBytes) && lo < hi; ++depth) {
    const auto c = static_cast<uint8_t>(text[depth]);
    // Within [lo, hi) every text shares `depth` bytes; the ones of exactly that length sort first.
    const auto byte_at = [&](int32_t id) { return static_cast<uint8_t>(tokens_[size_t(id)].text[depth]); };
    const auto first = sorted.begin() + static_cast<ptrdiff_t>(lo), last = sorted.begin() + static_cast<ptrdiff_t>(hi);
    const auto longer = std::partition_point(first, last, [&](int32_t id) { return tokens_[size_t(id)].text.size() <= depth; });
    const auto from = std::partition_point(longer, last, [&](int32_t id) { return byte_at(id) < c; });
    const auto to = std::partition_point(from, last, [&](int32_t id) { return byte_at(id) <= c; });
    lo = size_t(from - sorted.begin());
    hi = size_t(to - sorted.begin());
    if (lo < hi && tokens_[size_t(sorted[lo])].text.size() == depth + 1) each(depth + 1, sorted[lo]);
  }
}

Status Tokenizer::init_ugm(const VocabSpec& spec) {
  auto s = std::make_shared<UgmState>();
  s->remove_extra_whitespaces = spec.remove_extra_whitespaces == 1;
  if (!spec.precompiled_charsmap.empty()) {
    // [uint32 size of the double array][the array][NUL-terminated replacement strings]
    const std::vector<uint8_t>& cm = spec.precompiled_charsmap;
    uint32_t blob = 0;
    if (cm.size() < sizeof(blob)) return make_error("tokenizer.ggml.precompiled_charsmap is too small");
    std::memcpy(&blob, cm.data(), sizeof(blob));
    if (blob % 4 != 0 || uint64_t{blob} + sizeof(blob) >= cm.size())
      return make_error("tokenizer.ggml.precompiled_charsmap: its double array ({} bytes) does not fit in its {} bytes",
                        blob, cm.size());
    s->charsmap = cm;
    s->xcda_offset = sizeof(blob);
    s->xcda_entries = blob / 4;
    s->replacements = sizeof(blob) + blob;
  }
  double min_score = DBL_MAX;
  for (int32_t id = 0; id < n_vocab(); ++id) {
    const uint32_t attr = tokens_[size_t(id)].attr;
    if (attr & kAttrNormal) min_score = std::min<double>(min_score, tokens_[size_t(id)].score);
    if (attr & (kAttrNormal | kAttrUserDefined | kAttrUnused)) s->matcher.push_back(id);
    if (attr & kAttrUserDefined) s->user_defined.push_back(id);
  }
  s->unknown_score = (min_score == DBL_MAX ? double(FLT_MAX) : min_score) - 10.0;
  // By text, and of equal texts only the last id (llama.cpp's trie keeps the last inserted).
  for (std::vector<int32_t>* v : {&s->matcher, &s->user_defined}) {
    std::stable_sort(v->begin(), v->end(), [&](int32_t a, int32_t b) { return tokens_[size_t(a)].text < tokens_[size_t(b)].text; });
    std::vector<int32_t> unique;
    for (int32_t id : *v) {
      if (!unique.empty() && tokens_[size_t(unique.back())].text == tokens_[size_t(id)].text) unique.back() = id;
      else unique.push_back(id);
    }
    *v = std::move(unique);
  }
  ugm_ = std::move(s);
  return Status::Ok();
}

// The charsmap's longest rewrite of a prefix of `text`: (bytes consumed, replacement), or
// (0, {}) when it rewrites none. Entries are bit-packed: BASE in bits 10-30 (shifted by 8 when
// bit 9 is set), LCHECK in bits 0-7 and 31, LEAF in bit 8; a leaf's BASE leads to the entry
// holding its replacement's offset. A hostile array that points outside itself, or a replacement
// without its NUL, ends the match instead of reading past the blob.
std::pair<size_t, std::string_view> Tokenizer::ugm_charsmap_rewrite(std::string_view text) const {
  const UgmState& s = *ugm_;
  if (s.xcda_entries == 0) return {0, {}};
  const auto entry = [&](size_t i, uint32_t& out) {
    if (i >= s.xcda_entries) return false;
    std::memcpy(&out, s.charsmap.data() + s.xcda_offset + i * 4, 4);
    return true;
  };
  const auto base = [](uint32_t e) { return (e >> 10) << ((e & (1u << 9)) >> 6); };
  uint32_t node = 0, e = 0;
  if (!entry(0, e)) return {0, {}};
  node = base(e);
  size_t best_len = 0;
  uint32_t best_value = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c == 0) break;
    node ^= c;
    if (!entry(node, e) || (e & ((1u << 31) | 0xFF)) != c) break;
    const bool leaf = (e >> 8) & 1;
    node ^= base(e);
    if (leaf) {
      uint32_t v = 0;
      if (!entry(node, v)) break;
      best_len = i + 1;
      best_value = v & ((1u << 31) - 1);
    }
  }
  if (best_len == 0) return {0, {}};
  const size_t at = s.replacements + best_value;
  if (at >= s.charsmap.size()) return {0, {}};
  const auto* begin = reinterpret_cast<const char*>(s.charsmap.data() + at);
  const void* nul = std::memchr(begin, 0, s.charsmap.size() - at);
  if (nul == nullptr) return {0, {}};
  return {best_len, std::string_view(begin, size_t(static_cast<const char*>(nul) - begin))};
}

std::string Tokenizer::ugm_normalize(std::string_view text) const {
  const UgmState& s = *ugm_;
  std::string out;
  out.reserve(text.size() * 3);
  bool space_prepended = false, in_word = false;
  for (size_t at = 0; at < text.size();) {
    std::string_view piece;
    size_t consumed = 0;
    ugm_prefixes(s.user_defined, text.substr(at), [&](size_t len, int32_t) { consumed = len; });
    if (consumed > 0) {
      piece = text.substr(at, consumed);
    } else if (auto [len, rewrite] = ugm_charsmap_rewrite(text.substr(at)); len > 0) {
      piece = rewrite;
      consumed = len;
    } else if (const size_t n = valid_utf8_length(text, at); n > 0) {
      piece = text.substr(at, n);
      consumed = n;
    } else {
      piece = "\xEF\xBF\xBD";  // U+FFFD for one invalid byte
      consumed = 1;
    }
    for (char c : piece) {
      if (c != ' ') {
        if (!in_word) {
          in_word = true;
          if ((add_space_prefix_ && !space_prepended) || s.remove_extra_whitespaces) {
            out += kEscapedSpace;
            space_prepended = true;
          }
        }
        out.push_back(c);
      } else {
        in_word = false;
        if (!s.remove_extra_whitespaces) out += kEscapedSpace;
      }
    }
    at += consumed;
  }
  return out;
}

void Tokenizer::encode_ugm(std::string_view text, std::vector<int32_t>& out) const {
  const UgmState& s = *ugm_;
  const std::string norm = ugm_normalize(text);
  const size_t n = norm.size();
  if (n == 0) return;
  struct Best {
    int32_t token;
    size_t from;
    double score;
  };
  std::vector<Best> best(n + 1, Best{unk_, 0, -DBL_MAX});
  best[0] = Best{unk_, 0, 0.0};
  for (size_t at = 0; at < n;) {
    const size_t char_len = std::min(utf8_len_from_lead(static_cast<uint8_t>(norm[at])), n - at);
    const double here = best[at].score;
    bool whole_char = false;
    ugm_prefixes(s.matcher, std::string_view(norm).substr(at), [&](size_t len, int32_t id) {
      if (len == char_len) whole_char = true;
      const TokenData& t = tokens_[size_t(id)];
      const double score = here + ((t.attr & kAttrUserDefined) ? 0.0 : double(t.score));
      if (score > best[at + len].score) best[at + len] = Best{id, at, score};
    });
    if (!whole_char) {  // <unk> for this character
      const double score = here + s.unknown_score;
      if (score > best[at + char_len].score) best[at + char_len] = Best{unk_, at, score};
    }
    at += char_len;
  }
  // Back from the end; a run of <unk>s is one <unk>.
  const size_t start = out.size();
  bool prev_unknown = false;
  for (size_t at = n;;) {
    const Best& b = best[at];
    const bool unknown = b.token == unk_;
    if (!(prev_unknown && unknown) && b.token != kNoToken) out.push_back(b.token);  // no <unk>: dropped
    if (b.from == 0) break;
    prev_unknown = unknown;
    at = b.from;
  }
  std::reverse(out.begin() + static_cast<ptrdiff_t>(start), out.end());
}

}  // namespace hearth::tokenizer
