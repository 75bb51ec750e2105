// A context-free grammar lowered for matching: rules of alternatives, each a flat run of elements
// ending in kEnd. Terminals are single bytes (literals, written as their UTF-8 bytes) or Unicode
// code point classes (matched on UTF-8 with a partial-character state, as llama.cpp's GBNF does),
// so one automaton serves text that arrives token by token, split anywhere, even inside a
// character. Repetition and groups are lowered to helper rules; a rule reference that ends an
// alternative is a tail call, so `x*` runs in constant stack depth.
//
// Grammars come from strangers (a request's `grammar`, JSON Schemas, regexes): parse_gbnf bounds
// size and nesting and refuses grammars the matcher could not run: undefined rules, left
// recursion (the matcher would expand forever) and rules that can never finish.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::grammar {

struct Element {
  enum Kind : uint8_t {
    kByte,   // value: the byte
    kClass,  // value: index into Grammar::classes
    kRule,   // value: rule id
    kEnd,    // value: rule id (the end of one of its alternatives)
  };
  Kind kind;
  uint32_t value;
};

// A set of code points as sorted, disjoint, non-adjacent inclusive ranges.
struct CodepointClass {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  bool contains(uint32_t cp) const;
  // Whether some member's UTF-8 encoding could complete a character whose first bits are `prefix`
  // with `remaining` continuation bytes still to come (used to reject a token early).
  bool intersects(uint32_t lo, uint32_t hi) const;
};

struct Grammar {
  std::vector<Element> elements;                 // every alternative, each closed by kEnd
  std::vector<std::vector<uint32_t>> rule_alts;  // [rule] -> element index of each alternative's start
  std::vector<std::string> rule_names;           // [rule], generated rules get "name-N"
  std::vector<CodepointClass> classes;
  uint32_t root = 0;

  size_t n_rules() const { return rule_alts.size(); }
};

struct GrammarLimits {
  size_t max_text_bytes = 8u << 20;     // GBNF source
  size_t max_elements = 4'000'000;      // after lowering
  size_t max_rules = 1'000'000;
  size_t max_nesting = 256;             // parentheses
  uint32_t max_repeat = 10'000;         // m and n in x{m,n}
};

// Parses llama.cpp's GBNF: `name ::= alternatives` rules; "literals" and [classes] with \n \r \t
// \" \\ \xHH \uHHHH \UHHHHHHHH escapes; [^negated] classes; `.`; ( ) groups; * + ? {m} {m,}
// {m,n}; `|`; `#` comments. Errors give the line and column.
Result<Grammar> parse_gbnf(std::string_view text, std::string_view root = "root", const GrammarLimits& limits = {});

}  // namespace hearth::grammar
