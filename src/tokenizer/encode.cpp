// Text -> ids: special-token splitting, then SentencePiece-style (score) or byte-level BPE (rank)
// merging of each plain-text fragment. Both merge loops keep a doubly linked list of symbols and
// a priority queue of candidate pairs; stale pairs (a side already merged away) are skipped.
#include <queue>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

struct Symbol {
  int prev = -1;
  int next = -1;
  size_t offset = 0;  // into the text being merged
  size_t length = 0;  // 0 once merged into its left neighbour
};

// Splits `text` into symbols of one UTF-8 sequence each, by the lead byte alone (a truncated
// final sequence is clipped), as llama.cpp does before merging.
std::vector<Symbol> initial_symbols(std::string_view text) {
  std::vector<Symbol> symbols;
  size_t offset = 0;
  while (offset < text.size()) {
    Symbol s;
    s.offset = offset;
    s.length = std::min(utf8_len_from_lead(static_cast<uint8_t>(text[offset])), text.size() - offset);
    offset += s.length;
    s.prev = static_cast<int>(symbols.size()) - 1;
    s.next = offset == text.size() ? -1 : static_cast<int>(symbols.size()) + 1;
    symbols.push_back(s);
  }
  return symbols;
}

}  // namespace

// Splits the text around special tokens, longest token first. CONTROL and UNKNOWN tokens are
// only looked for when parse_special; USER_DEFINED ones always are.
std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back(Fragment{kNoToken, 0, text.size()});
  for (int32_t id : special_tokens_) {
    const TokenData& token = tokens_[id];
    if (!parse_special && (token.attr & (kAttrControl | kAttrUnknown))) continue;
    std::vector<Fragment> next;
    next.reserve(fragments.size());
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      size_t pos = f.offset;
      const size_t end = f.offset + f.length;
      while (pos < end) {
        const size_t match = text.substr(0, end).find(token.text, pos);
        if (match == std::string_view::npos) {
          next.push_back(Fragment{kNoToken, pos, end - pos});
          break;
        }
        size_t left = match - pos;
        if (token.attr & kAttrLstrip) {
          while (left > 0 && ascii_space(text[pos + left - 1])) --left;
        }
        if (left > 0) next.push_back(Fragment{kNoToken, pos, left});
        next.push_back(Fragment{id, 0, 0});
        pos = match + token.text.size();
        if (token.attr & kAttrRstrip) {
          while (pos < end && ascii_space(text[pos])) ++pos;
        }
      }
    }
    fragments = std::move(next);
  }
  return fragments;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  if (hf_ != nullptr) return encode_hf(text, add_special, parse_special);
  std::vector<int32_t> out;
  const std::vector<Fragment> fragments = split_special(text, parse_special);
  if (type_ == VocabType::kWpm) {  // [CLS] text [SEP] whenever special tokens are added, as llama.cpp
    if (add_special && bos_ != kNoToken) out.push_back(bos_);
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) out.push_back(f.token);
      else encode_wpm(text.substr(f.offset, f.length), out);
    }
    if (add_special && sep_ != kNoToken) out.push_back(sep_);
    return out;
  }
  if (type_ == VocabType::kUgm) {  // each text fragment normalised (and space-prefixed) on its own, as llama.cpp
    if (add_special && add_bos_) out.push_back(bos_);
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) out.push_back(f.token);
      else encode_ugm(text.substr(f.offset, f.length), out);
    }
    if (add_special && add_eos_) out.push_back(eos_);
    return out;
  }
  if (add_special && add_bos_) out.push_back(bos_);
  bool prev_special = true;  // SPM: the first fragment gets the leading space
  for (const Fragment& f : fragments) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.offset, f.length);
    if (type_ == VocabType::kSpm) {
      std::string escaped;
      if (add_space_prefix_ && prev_special) escaped = "\xE2\x96\x81";
      for (char c : raw) {
        if (c == ' ') escaped += "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
        else escaped += c;
      }
      encode_spm(escaped, out);
    } else {
      encode_bpe(raw, out);
    }
    prev_special = false;
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

// ---- SentencePiece-style: merge the adjacent pair whose result has the highest score ----

int32_t Tokenizer::spm_byte_token(uint8_t byte) const {
  static const char* hex = "0123456789ABCDEF";
  const char name[7] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>', 0};
  if (int32_t id = find_token(name); id != kNoToken) return id;
  if (int32_t id = find_token(std::string(1, static_cast<char>(byte))); id != kNoToken) return id;
  return unk_;  // llama.cpp would throw here; a vocabulary without byte tokens gets <unk>
}

void Tokenizer::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<Symbol> symbols = initial_symbols(text);
  if (symbols.empty()) return;
  struct Pair {
    int left, right;
    float score;
    size_t length;
  };
  const auto lower = [](const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(lower)> queue(lower);
  // For resegmenting: which two symbols formed a merged text (the last pair seen wins).
  std::unordered_map<std::string, std::pair<int, int>> formed_by;

  const auto try_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string merged(text.substr(symbols[left].offset, symbols[left].length + symbols[right].length));
    const int32_t id = find_token(merged);
    if (id == kNoToken) return;
    queue.push(Pair{left, right, tokens_[id].score, merged.size()});
    formed_by[merged] = {left, right};
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_pair(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Symbol& left = symbols[p.left];
    Symbol& right = symbols[p.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != p.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = p.left;
    try_pair(left.prev, p.left);
    try_pair(p.left, left.next);
  }

  // A symbol that is not a token is split back into the pair that formed it, down to bytes.
  const auto resegment = [&](auto&& self, const Symbol& s, int depth) -> void {
    const std::string piece(text.substr(s.offset, s.length));
    if (int32_t id = find_token(piece); id != kNoToken) {
      out.push_back(id);
      return;
    }
    auto it = formed_by.find(piece);
    if (it == formed_by.end() || depth > 64) {
      for (char c : piece) {
        if (int32_t id = spm_byte_token(static_cast<uint8_t>(c)); id != kNoToken) out.push_back(id);
      }
      return;
    }
    self(self, symbols[it->second.first], depth + 1);
    self(self, symbols[it->second.second], depth + 1);
  };
  for (int i = 0; i != -1; i = symbols[i].next) resegment(resegment, symbols[i], 0);
}

// ---- Byte-level BPE: pre-tokenize, map bytes to GPT-2's alphabet, merge by lowest rank ----

int Tokenizer::bpe_rank(std::string_view left, std::string_view right) const {
  thread_local std::string key;  // reused: no allocation per lookup
  key.assign(left);
  key += '\0';
  key += right;
  auto it = merge_ranks_.find(key);
  return it == merge_ranks_.end() ? -1 : it->second;
}

void Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  if (spm_style_) return encode_spm_style_bpe(text, out);
  const std::vector<uint32_t> cps = utf8_to_codepoints(text);
  const std::vector<size_t> pieces = pre_.split(cps);
  size_t start = 0;
  std::string raw, word;
  WordCache cache;
  for (size_t length : pieces) {
    raw.clear();
    for (size_t i = start; i < start + length; ++i) utf8_append(raw, cps[i]);
    start += length;
    word.clear();
    for (char c : raw) word += gpt2_byte_to_utf8(static_cast<uint8_t>(c));
    bpe_word_cached(word, out, cache);
  }
}

// Gemma 4's BPE: spaces escaped to U+2581, the text split into lines and runs of newlines, each
// merged on its raw UTF-8 (a newline run that is itself a token is taken whole, as llama.cpp).
void Tokenizer::encode_spm_style_bpe(std::string_view text, std::vector<int32_t>& out) const {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    if (c == ' ') escaped += "\xE2\x96\x81";
    else escaped += c;
  }
  const std::vector<uint32_t> cps = utf8_to_codepoints(escaped);
  const std::vector<size_t> pieces = pre_.split(cps);
  size_t start = 0;
  std::string word;
  WordCache cache;
  for (size_t length : pieces) {
    word.clear();
    for (size_t i = start; i < start + length; ++i) utf8_append(word, cps[i]);
    start += length;
    if (word.find_first_not_of('\n') == std::string::npos) {
      if (int32_t id = find_token(word); id != kNoToken) {
        out.push_back(id);
        continue;
      }
    }
    bpe_word_cached(word, out, cache);
  }
}

void Tokenizer::bpe_word_cached(const std::string& word, std::vector<int32_t>& out, WordCache& cache) const {
  constexpr size_t kMaxCachedWordBytes = 64, kMaxCachedWords = 1 << 16;
  if (word.size() > kMaxCachedWordBytes) return bpe_word(word, out);
  if (auto it = cache.spans.find(word); it != cache.spans.end()) {
    const auto [offset, count] = it->second;
    out.insert(out.end(), cache.ids.begin() + offset, cache.ids.begin() + offset + count);
    return;
  }
  const size_t first = out.size();
  bpe_word(word, out);
  if (cache.spans.size() < kMaxCachedWords) {
    cache.spans.emplace(word, std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(cache.ids.size()),
                                                            static_cast<uint32_t>(out.size() - first)));
    cache.ids.insert(cache.ids.end(), out.begin() + static_cast<long>(first), out.end());
  }
}

void Tokenizer::bpe_word(const std::string& word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (int32_t id = find_token(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols = initial_symbols(word);
  // A candidate merge. Symbols only grow by absorbing their right neighbour and never move, so
  // a pair is stale exactly when either side's length changed since it was queued. (Plain
  // data: the heap moves these around; strings in them cost half the time on long words.)
  struct Pair {
    int left, right;
    int rank;
    uint32_t left_length, right_length;
  };
  const auto later = [](const Pair& a, const Pair& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::vector<Pair> heap;
  heap.reserve(symbols.size());
  std::priority_queue<Pair, std::vector<Pair>, decltype(later)> queue(later, std::move(heap));
  const auto sym_text = [&](const Symbol& s) { return std::string_view(word).substr(s.offset, s.length); };
  const auto try_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int rank = bpe_rank(sym_text(symbols[left]), sym_text(symbols[right]));
    if (rank < 0) return;
    queue.push(Pair{left, right, rank, static_cast<uint32_t>(symbols[left].length),
                    static_cast<uint32_t>(symbols[right].length)});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_pair(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Symbol& left = symbols[p.left];
    Symbol& right = symbols[p.right];
    if (left.length != p.left_length || right.length != p.right_length) continue;  // stale
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = p.left;
    try_pair(left.prev, p.left);
    try_pair(p.left, left.next);
  }

  for (const Symbol& s : symbols) {
    if (s.length == 0) continue;
    const std::string_view piece = sym_text(s);
    if (int32_t id = find_token(piece); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    if (hf_ != nullptr) {
      // tokenizers: <0xNN> byte tokens when byte_fallback has them all, else the unknown token.
      size_t first = out.size();
      bool all_bytes = hf_->byte_fallback;
      for (size_t i = 0; all_bytes && i < piece.size(); ++i) {
        const int32_t id = find_token(fmt::format("<0x{:02X}>", static_cast<uint8_t>(piece[i])));
        all_bytes = id != kNoToken;
        out.push_back(id);
      }
      if (!all_bytes) {
        out.resize(first);
        if (unk_ != kNoToken) out.push_back(unk_);
      }
      continue;
    }
    // No token for the merged text: fall back to single-byte entries (llama.cpp looks up each
    // byte of the encoded text, or its <0xNN> token for Gemma 4; bytes without one are dropped).
    if (spm_style_) {
      for (char c : piece)
        if (int32_t id = find_token(fmt::format("<0x{:02X}>", static_cast<uint8_t>(c))); id != kNoToken) out.push_back(id);
      continue;
    }
    for (char c : piece) {
      if (int32_t id = find_token(std::string_view(&c, 1)); id != kNoToken) out.push_back(id);
    }
  }
}

}  // namespace hearth::tokenizer
