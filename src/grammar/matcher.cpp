#include "grammar/matcher.h"

#include <bit>

namespace hearth::grammar {

namespace {
constexpr uint32_t kNone = kAccepted;  // "no stack entry here" in a PositionKey
// Past this many cached positions a grammar's masks are computed without being kept (a bound on
// memory for pathological grammars; real schemas use a few hundred).
constexpr size_t kMaxCachedPositions = 8192;
}  // namespace

size_t TokenMask::count() const {
  size_t n = 0;
  for (uint64_t w : words) n += size_t(std::popcount(w));
  return n;
}

size_t CompiledGrammar::KeyHash::operator()(const PositionKey& k) const {
  uint64_t h = k.pos;
  h = h * 0x9E3779B97F4A7C15ull ^ k.partial;
  h = h * 0x9E3779B97F4A7C15ull ^ k.below1;
  h = h * 0x9E3779B97F4A7C15ull ^ k.below2;
  h = h * 0x9E3779B97F4A7C15ull ^ uint64_t(k.cut);
  return size_t(h ^ (h >> 29));
}

CompiledGrammar::CompiledGrammar(Grammar grammar, std::shared_ptr<const TokenVocab> vocab, uint64_t walk_budget,
                                 uint64_t mask_budget)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), walk_budget_(walk_budget), mask_budget_(mask_budget) {}

std::shared_ptr<const CompiledGrammar::PositionMask> CompiledGrammar::position_mask(const PositionKey& key) const {
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  std::shared_ptr<const PositionMask> mask = compute(key);
  std::lock_guard lock(mutex_);
  if (cache_.size() < kMaxCachedPositions) cache_.emplace(key, mask);
  return mask;
}

// One preorder walk of the vocabulary trie from the head, with the stack cut off below the key's
// two entries: a path that pops past the cut reaches kBeyond, and the tokens that still have
// bytes left then are context-dependent.
std::shared_ptr<const CompiledGrammar::PositionMask> CompiledGrammar::compute(const PositionKey& key) const {
  Automaton automaton(grammar_);
  StackArena arena;
  uint32_t parent = key.cut ? kHorizon : kBottom;
  if (key.below2 != kNone) parent = arena.intern(key.below2, parent);
  if (key.below1 != kNone) parent = arena.intern(key.below1, parent);

  const auto& nodes = vocab_->nodes();
  const auto& ids = vocab_->token_ids();
  std::vector<std::vector<Head>> state(vocab_->max_depth() + 1);
  std::vector<char> beyond_above(vocab_->max_depth() + 1, 0);
  state[0] = {Head{key.pos, parent, key.partial}};
  auto mask = std::make_shared<PositionMask>();
  std::vector<int32_t> accepted;
  auto tokens_of = [&](uint32_t first_node, uint32_t end_node) {
    return std::span<const int32_t>(ids.data() + nodes[first_node].tokens_begin,
                                    nodes[end_node].tokens_begin - nodes[first_node].tokens_begin);
  };
  const uint32_t n_nodes = static_cast<uint32_t>(nodes.size() - 1);  // without the sentinel
  for (uint32_t i = 1; i < n_nodes;) {
    const TokenVocab::Node& node = nodes[i];
    const size_t d = node.depth;
    std::vector<Head>& here = state[d];
    if (automaton.steps() > walk_budget_) {
      mask->over_budget = true;
      break;
    }
    // A prefix whose parses grow past kMaxHeads is refused with its subtree: accept() would
    // refuse those tokens the same way.
    if (!automaton.advance(state[d - 1], node.byte, arena, here)) {
      i = node.subtree_end;
      continue;
    }
    bool beyond = false;
    std::erase_if(here, [&](const Head& h) {
      if (h.pos != kBeyond) return false;
      beyond = true;
      return true;
    });
    const bool live = !here.empty();
    beyond_above[d] = beyond_above[d - 1] || beyond;
    for (int32_t id : tokens_of(i, i + 1)) {
      if (live || beyond)
        accepted.push_back(id);
      else if (beyond_above[d - 1])
        mask->context_dependent.push_back(id);
    }
    if (!live) {
      if (beyond_above[d])
        for (int32_t id : tokens_of(i + 1, node.subtree_end)) mask->context_dependent.push_back(id);
      i = node.subtree_end;
    } else {
      ++i;
    }
  }
  mask->steps = automaton.steps();
  const int32_t n_vocab = vocab_->n_vocab();
  if (accepted.size() * 32 < size_t(n_vocab)) {
    mask->accepted_ids = std::move(accepted);
  } else {
    mask->accepted.reset(n_vocab);
    for (int32_t id : accepted) mask->accepted.set(id);
  }
  return mask;
}

size_t GrammarMatcher::StateHash::operator()(const std::vector<Head>& s) const {
  uint64_t h = s.size();
  for (const Head& x : s) {
    h = (h ^ x.pos) * 0x9E3779B97F4A7C15ull;
    h = (h ^ x.parent) * 0x9E3779B97F4A7C15ull;
    h = (h ^ x.partial) * 0x9E3779B97F4A7C15ull;
  }
  return size_t(h ^ (h >> 31));
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar)
    : g_(std::move(grammar)), automaton_(g_->grammar()) {
  heads_ = automaton_.start(arena_);
  failed_ = heads_.size() > Automaton::kMaxHeads;  // as ambiguous at its start as advance() allows later
  empty_.reset(g_->vocab().n_vocab());
}

CompiledGrammar::PositionKey GrammarMatcher::key_of(const Head& h) const {
  CompiledGrammar::PositionKey k{h.pos, h.partial, kNone, kNone, false};
  if (h.parent == kBottom) return k;
  const StackArena::Node& n1 = arena_[h.parent];
  k.below1 = n1.pos;
  if (n1.parent == kBottom) return k;
  const StackArena::Node& n2 = arena_[n1.parent];
  k.below2 = n2.pos;
  k.cut = n2.parent != kBottom;
  return k;
}

bool GrammarMatcher::run(std::string_view bytes, const std::vector<Head>& from, std::vector<Head>& to, bool sticky) {
  const std::vector<Head>* in = &from;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<Head>& out = (i % 2 == 0) ? scratch_a_ : scratch_b_;
    if (!automaton_.advance(*in, static_cast<uint8_t>(bytes[i]), arena_, out)) {
      if (sticky) failed_ = true;
      return false;
    }
    if (out.empty()) return false;
    in = &out;
  }
  to = *in;
  return !to.empty();
}

const TokenMask& GrammarMatcher::mask() {
  if (ended_ || failed_) return empty_;
  if (auto it = by_state_.find(heads_); it != by_state_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  TokenMask m;
  m.reset(g_->vocab().n_vocab());
  bool end_allowed = false;
  const uint64_t start_steps = automaton_.steps();
  uint64_t walked = 0;
  std::vector<Head> one(1), out;
  for (const Head& h : heads_) {
    if (h.pos == kAccepted) {
      end_allowed = true;
      continue;
    }
    const CompiledGrammar::PositionKey key = key_of(h);
    const auto pm = g_->position_mask(key);
    // Every head's walk counts, cached or not: a state of thousands of expensive heads is as
    // hopeless the second time.
    walked += pm->steps;
    if (pm->over_budget || walked > g_->mask_budget()) {
      failed_ = true;
      return empty_;
    }
    if (pm->accepted_ids.empty() && !pm->accepted.words.empty()) {
      for (size_t w = 0; w < m.words.size(); ++w) m.words[w] |= pm->accepted.words[w];
    } else {
      for (int32_t id : pm->accepted_ids) m.set(id);
    }
    // Tokens that ran past the cached cut-off: decided against this head's real stack.
    // (A trial: a token whose parse overflows is just not allowed; the matcher stays usable.)
    one[0] = h;
    for (int32_t id : pm->context_dependent) {
      if (!m.test(id) && run(g_->vocab().piece(id), one, out, /*sticky=*/false)) m.set(id);
      if (walked + (automaton_.steps() - start_steps) > g_->mask_budget()) {
        failed_ = true;
        return empty_;
      }
    }
  }
  if (end_allowed)
    for (int32_t id : g_->vocab().end_of_generation()) m.set(id);
  if (lru_.size() >= kStateCache) {
    by_state_.erase(lru_.back().first);
    lru_.pop_back();
  }
  lru_.emplace_front(heads_, std::move(m));
  by_state_.emplace(heads_, lru_.begin());
  return lru_.front().second;
}

bool GrammarMatcher::accept(int32_t token) {
  const TokenVocab& v = g_->vocab();
  if (ended_ || failed_ || token < 0 || token >= v.n_vocab()) return false;
  if (v.is_end(token)) {
    if (!can_finish()) return false;
    ended_ = true;
    return true;
  }
  if (!v.matchable(token)) return false;
  return accept_bytes(v.piece(token));
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  if (ended_ || failed_) return false;
  if (bytes.empty()) return true;
  std::vector<Head> next;
  if (!run(bytes, heads_, next)) return false;
  heads_ = std::move(next);
  return true;
}

bool GrammarMatcher::can_finish() const {
  for (const Head& h : heads_)
    if (h.pos == kAccepted) return true;
  return false;
}

bool GrammarMatcher::finished() const { return ended_ || (heads_.size() == 1 && heads_[0].pos == kAccepted); }

}  // namespace hearth::grammar
