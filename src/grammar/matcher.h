// Token masks for constrained decoding: which tokens may come next under a grammar.
//
// Computing a mask naively checks every token of a 150k vocabulary against the automaton at every
// step. Instead (the idea of XGrammar's adaptive token mask cache, written our own way):
//  - A head's mask depends mostly on the head's own position and the next few stack entries, not
//    on the whole stack. CompiledGrammar caches, per (position, partial character, two stack
//    entries below), the tokens accepted whatever lies deeper ("accepted") and the few that run
//    past the cut-off and need the real stack ("context-dependent"), found by one walk of the
//    vocabulary trie. Positions recur across requests and across the properties of a schema.
//  - A GrammarMatcher combines those per head, checks only the context-dependent tokens against
//    its real stacks, and remembers whole masks per state: inside a JSON string every token lands
//    in the same state again, so most steps are a lookup.
// Measured in bench/RESULTS.md ("Grammar masks").
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "grammar/automaton.h"
#include "grammar/grammar.h"
#include "grammar/token_vocab.h"

namespace hearth::grammar {

// A bitset over the vocabulary: bit i set = token i allowed.
struct TokenMask {
  std::vector<uint64_t> words;
  void reset(int32_t n_vocab) { words.assign((size_t(n_vocab) + 63) / 64, 0); }
  bool test(int32_t id) const { return (words[size_t(id) >> 6] >> (id & 63)) & 1; }
  void set(int32_t id) { words[size_t(id) >> 6] |= uint64_t(1) << (id & 63); }
  size_t count() const;
};

class CompiledGrammar {
 public:
  // The budgets bound the work of one position's walk and of one mask (below); tests lower them.
  CompiledGrammar(Grammar grammar, std::shared_ptr<const TokenVocab> vocab, uint64_t walk_budget = kWalkBudget,
                  uint64_t mask_budget = kMaskBudget);
  uint64_t mask_budget() const { return mask_budget_; }
  const Grammar& grammar() const { return grammar_; }
  const TokenVocab& vocab() const { return *vocab_; }

  // What one head position accepts, cut off two stack entries down.
  struct PositionKey {
    uint32_t pos, partial, below1, below2;  // below*: element positions, or kAccepted for "bottom"
    bool cut;                               // the stack goes on below below2
    bool operator==(const PositionKey&) const = default;
  };
  struct PositionMask {
    std::vector<int32_t> accepted_ids;  // when few; else `accepted` holds the bitset
    TokenMask accepted;
    std::vector<int32_t> context_dependent;
    bool over_budget = false;           // the walk took more than kWalkBudget steps: unusable
    uint64_t steps = 0;                 // what the walk cost
  };
  // Automaton steps one position's walk of the vocabulary may take, and one mask all its heads'
  // walks and checks together (a JSON string position takes a few million on a 150k
  // vocabulary); past them the grammar is too ambiguous to serve and the request fails.
  static constexpr uint64_t kWalkBudget = 40'000'000;
  static constexpr uint64_t kMaskBudget = 60'000'000;
  std::shared_ptr<const PositionMask> position_mask(const PositionKey& key) const;

 private:
  std::shared_ptr<const PositionMask> compute(const PositionKey& key) const;

  struct KeyHash {
    size_t operator()(const PositionKey& k) const;
  };
  Grammar grammar_;
  std::shared_ptr<const TokenVocab> vocab_;
  uint64_t walk_budget_, mask_budget_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<PositionKey, std::shared_ptr<const PositionMask>, KeyHash> cache_;
};

// One sequence's progress through a grammar. Engine-thread only.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar);
  // Not copyable: the mask cache holds iterators into its own list.
  GrammarMatcher(const GrammarMatcher&) = delete;
  GrammarMatcher& operator=(const GrammarMatcher&) = delete;

  // The tokens allowed next (end-of-generation tokens exactly when the grammar has finished).
  const TokenMask& mask();
  // Advances by the token; false (state unchanged) if the grammar does not allow it.
  bool accept(int32_t token);
  // Advances by raw text (a lazily started grammar's first bytes); false if not allowed.
  bool accept_bytes(std::string_view bytes);
  bool finished() const;       // the grammar is complete and nothing more may follow
  bool can_finish() const;     // end-of-generation is allowed now
  bool failed() const { return failed_; }  // the grammar proved too ambiguous to run

 private:
  // Runs bytes from `from`; false when they die out, or (failing the matcher only when `sticky`)
  // when the parse grows past kMaxHeads.
  bool run(std::string_view bytes, const std::vector<Head>& from, std::vector<Head>& to, bool sticky = true);
  CompiledGrammar::PositionKey key_of(const Head& h) const;

  std::shared_ptr<const CompiledGrammar> g_;
  Automaton automaton_;
  StackArena arena_;
  std::vector<Head> heads_;
  std::vector<Head> scratch_a_, scratch_b_;
  bool failed_ = false;
  bool ended_ = false;  // an end-of-generation token was accepted

  // Whole masks by state, least recently used dropped first.
  struct StateHash {
    size_t operator()(const std::vector<Head>& s) const;
  };
  static constexpr size_t kStateCache = 64;
  std::list<std::pair<std::vector<Head>, TokenMask>> lru_;
  std::unordered_map<std::vector<Head>, decltype(lru_)::iterator, StateHash> by_state_;
  TokenMask empty_;
};

}  // namespace hearth::grammar
