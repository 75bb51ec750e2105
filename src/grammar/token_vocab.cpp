#include "grammar/token_vocab.h"

#include <algorithm>
#include <numeric>

namespace hearth::grammar {

// Tokens longer than this never match a grammar (no real vocabulary has any; the bound keeps the
// trie's depth a small number).
constexpr size_t kMaxPieceBytes = 1024;

TokenVocab::TokenVocab(std::vector<std::string> pieces, const std::vector<int32_t>& text_less,
                       std::vector<int32_t> end_of_generation)
    : pieces_(std::move(pieces)), end_(std::move(end_of_generation)) {
  const size_t n = pieces_.size();
  matchable_.assign(n, 1);
  is_end_.assign(n, 0);
  for (int32_t id : text_less)
    if (id >= 0 && size_t(id) < n) matchable_[size_t(id)] = 0;
  end_.erase(std::remove_if(end_.begin(), end_.end(), [&](int32_t id) { return id < 0 || size_t(id) >= n; }),
             end_.end());
  for (int32_t id : end_) {
    is_end_[size_t(id)] = 1;
    matchable_[size_t(id)] = 0;
  }
  for (size_t i = 0; i < n; ++i)
    if (pieces_[i].empty() || pieces_[i].size() > kMaxPieceBytes) matchable_[i] = 0;

  std::vector<int32_t> order;
  for (size_t i = 0; i < n; ++i)
    if (matchable_[i]) order.push_back(static_cast<int32_t>(i));
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const int c = pieces_[size_t(a)].compare(pieces_[size_t(b)]);
    return c != 0 ? c < 0 : a < b;
  });

  // Preorder construction from the sorted pieces: `open` holds the node at each depth of the
  // current path; a piece shares the previous one's first `lcp` bytes.
  nodes_.push_back({0, 0, 0, 0});
  std::vector<uint32_t> open{0};
  std::string_view prev;
  for (int32_t id : order) {
    const std::string_view s = pieces_[size_t(id)];
    size_t lcp = 0;
    while (lcp < s.size() && lcp < prev.size() && s[lcp] == prev[lcp]) ++lcp;
    while (open.size() > lcp + 1) {
      nodes_[open.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
      open.pop_back();
    }
    for (size_t d = lcp; d < s.size(); ++d) {
      open.push_back(static_cast<uint32_t>(nodes_.size()));
      nodes_.push_back({static_cast<uint8_t>(s[d]), static_cast<uint16_t>(d + 1), 0,
                        static_cast<uint32_t>(token_ids_.size())});
    }
    token_ids_.push_back(id);
    max_depth_ = std::max(max_depth_, s.size());
    prev = s;
  }
  while (!open.empty()) {
    nodes_[open.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
    open.pop_back();
  }
  // The sentinel: where the last node's tokens end.
  nodes_.push_back({0, 0, static_cast<uint32_t>(nodes_.size() + 1), static_cast<uint32_t>(token_ids_.size())});
}

}  // namespace hearth::grammar
