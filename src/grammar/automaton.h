// The pushdown automaton that runs a Grammar over bytes. Its state is a set of heads; a head is a
// terminal element the next byte may match (`pos`) and the stack of continuations beneath it
// (`parent`, an interned node: the same stack is the same id, so states compare and hash as
// integers and pushing shares the tail). Nondeterminism is the set: alternatives that are still
// possible live side by side, as in llama.cpp's grammar stacks, but a step touches only the heads
// and a push is one hash lookup instead of a copied vector.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "grammar/grammar.h"

namespace hearth::grammar {

// Stack node ids with a fixed meaning.
inline constexpr uint32_t kBottom = 0;   // nothing beneath: popping it finishes the grammar
inline constexpr uint32_t kHorizon = 1;  // beneath is not known (a cached mask's cut-off): popping it
                                         // means the rest depends on the caller's context
// Head positions with a fixed meaning.
inline constexpr uint32_t kAccepted = 0xFFFFFFFFu;  // the grammar has finished
inline constexpr uint32_t kBeyond = 0xFFFFFFFEu;    // popped past kHorizon

struct Head {
  uint32_t pos;      // element index of a kByte / kClass terminal, or kAccepted / kBeyond
  uint32_t parent;   // stack node id
  uint32_t partial;  // inside a multi-byte character at a kClass: see automaton.cpp; 0 otherwise
  bool operator==(const Head&) const = default;
  bool operator<(const Head& o) const {
    return pos != o.pos ? pos < o.pos : parent != o.parent ? parent < o.parent : partial < o.partial;
  }
};

class StackArena {
 public:
  struct Node {
    uint32_t pos;     // element to continue at when the head above finishes its alternative
    uint32_t parent;
  };
  StackArena() { nodes_ = {{kAccepted, kBottom}, {kAccepted, kHorizon}}; }
  uint32_t intern(uint32_t pos, uint32_t parent);
  const Node& operator[](uint32_t id) const { return nodes_[id]; }
  size_t size() const { return nodes_.size(); }

 private:
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> index_;
};

class Automaton {
 public:
  explicit Automaton(const Grammar& grammar) : g_(grammar) {}
  const Grammar& grammar() const { return g_; }

  // The heads reached by entering element `pos` with stack `parent` (rule references expanded,
  // finished alternatives popped), appended to `out`.
  void expand(uint32_t pos, uint32_t parent, StackArena& arena, std::vector<Head>& out) const;
  // The heads after `byte`, sorted and without duplicates. kAccepted and kBeyond heads do not
  // advance. Returns false if the set grew past `max_heads` (a grammar too ambiguous to run).
  bool advance(const std::vector<Head>& in, uint8_t byte, StackArena& arena, std::vector<Head>& out) const;
  // The initial heads of the grammar (sorted, deduplicated).
  std::vector<Head> start(StackArena& arena) const;

  static constexpr size_t kMaxHeads = 4096;

  // Work done so far (heads stepped and elements expanded): callers bound a mask's cost with it.
  uint64_t steps() const { return steps_; }

 private:
  void step(const Head& h, uint8_t byte, StackArena& arena, std::vector<Head>& out) const;
  const Grammar& g_;
  mutable std::vector<std::pair<uint32_t, uint32_t>> work_;
  mutable uint64_t steps_ = 0;
  mutable std::vector<uint64_t> seen_small_;
  mutable std::unordered_set<uint64_t> seen_;
};

void sort_unique(std::vector<Head>& heads);

}  // namespace hearth::grammar
