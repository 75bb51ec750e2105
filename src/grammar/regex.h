// Regular expression -> GBNF expression compiler, for structured outputs: vLLM's
// `structured_outputs.regex` / `guided_regex` (kRaw) and JSON Schema `pattern`
// (kJsonStringContent). The input is ECMAScript syntax with `u`-flag semantics over code points;
// the output is one parenthesised GBNF expression in llama.cpp's dialect (no rule names), so the
// caller can paste it into any rule body. Backreferences, lookaround, \b, flags and \p{...} are
// rejected with the feature's name and byte offset. Size limits keep the output and its expansion
// bounded.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth::grammar {

enum class RegexTarget {
  kRaw,                // the grammar matches the text itself; the WHOLE text must match (as vLLM's
                       // structured_outputs.regex / guided_regex: implicitly anchored both ends)
  kJsonStringContent,  // the grammar matches the JSON-encoded content of a JSON string (between the
                       // quotes) whose decoded value satisfies JavaScript `new RegExp(p,
                       // "u").test(v)` (JSON Schema `pattern`: unanchored unless ^ / $ are given)
};

// Limits on hostile input (each exceeded one is an error, never a crash). Each regex group adds
// at most one level of parentheses, so the output nests at most kRegexMaxGroupDepth + 4 deep,
// inside GrammarLimits::max_nesting (256) with room for the rule it is pasted into.
inline constexpr size_t kRegexMaxPatternBytes = 16 * 1024;
inline constexpr int kRegexMaxGroupDepth = 128;
inline constexpr unsigned kRegexMaxRepeatBound = 1000;  // n and m in {n}, {n,}, {n,m}
// Grammar elements (literal bytes and classes, roughly) once every {m,n} is unrolled.
inline constexpr unsigned long long kRegexMaxExpandedElements = 1ull << 19;
inline constexpr size_t kRegexMaxOutputBytes = 1 << 20;

// One GBNF expression (wrapped in parentheses, no rule definitions, so it can be pasted into any
// rule body) matching the strings described above. Errors name the unsupported feature and offset.
Result<std::string> regex_to_gbnf(std::string_view pattern, RegexTarget target);

}  // namespace hearth::grammar
