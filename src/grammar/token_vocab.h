// A model's vocabulary as the grammar matcher sees it: each token's bytes, in a trie walked in
// preorder so that tokens sharing a prefix share the work of matching it, and a dead prefix skips
// its whole subtree at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::grammar {

class TokenVocab {
 public:
  // `pieces[id]`: the token's bytes as it appears in generated text. Tokens in `text_less` (control
  // tokens) and empty pieces never match a grammar; tokens in `end_of_generation` are allowed
  // exactly when the grammar has finished.
  TokenVocab(std::vector<std::string> pieces, const std::vector<int32_t>& text_less,
             std::vector<int32_t> end_of_generation);

  int32_t n_vocab() const { return static_cast<int32_t>(pieces_.size()); }
  std::string_view piece(int32_t id) const { return pieces_[size_t(id)]; }
  bool matchable(int32_t id) const { return matchable_[size_t(id)] != 0; }
  bool is_end(int32_t id) const { return is_end_[size_t(id)] != 0; }
  const std::vector<int32_t>& end_of_generation() const { return end_; }

  // Trie nodes in preorder; node 0 is the root (no byte). Children of a node follow it; a node's
  // subtree is [index, subtree_end). Tokens ending at node i are token_ids[tokens_begin of i ..
  // tokens_begin of i+1), so a subtree's tokens are one contiguous run too.
  struct Node {
    uint8_t byte;
    uint16_t depth;        // bytes from the root
    uint32_t subtree_end;
    uint32_t tokens_begin;
  };
  const std::vector<Node>& nodes() const { return nodes_; }       // plus one sentinel at the end
  const std::vector<int32_t>& token_ids() const { return token_ids_; }
  size_t max_depth() const { return max_depth_; }

 private:
  std::vector<std::string> pieces_;
  std::vector<char> matchable_, is_end_;
  std::vector<int32_t> end_;
  std::vector<Node> nodes_;
  std::vector<int32_t> token_ids_;
  size_t max_depth_ = 0;
};

}  // namespace hearth::grammar
