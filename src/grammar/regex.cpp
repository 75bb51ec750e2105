// Regex -> GBNF: the pattern is decoded from UTF-8, parsed by recursive descent (depth bounded by
// kRegexMaxGroupDepth) into a small tree of code-point sets, concatenations, alternations and
// repetitions, normalised, and printed as one GBNF expression.
//
// Two normalisations matter for grammar engines, not only for size:
//   * A star over a nullable body, (a*)* or (a?b?)+, becomes a star over a non-nullable body with
//     the same language ((a|b)* here). Grammar engines expand x* into R ::= x R | "" and reject or
//     loop on R when x can match nothing (hidden left recursion; llama.cpp rejects it).
//   * Alternatives that are single sets merge into one set (a|b|[cd] -> [a-d]); an empty
//     alternative becomes `?`, so "" appears only for a pattern that matches exactly the empty
//     text.
//
// kJsonStringContent prints every set through its JSON encoding: plain code points other than
// `"`, `\` and U+0000-U+001F as themselves, `"` `\` and \b \t \n \f \r as two-character escapes,
// the other control characters as \u00xx (lowercase hex, one canonical form). An unanchored end is
// padded with any JSON string content (JsonAny), which consumes whole escapes only, so a match can
// never start or end inside an escape.
#include "grammar/regex.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace hearth::grammar {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr uint32_t kUnbounded = UINT32_MAX;

// ---------------------------------------------------------------------------------------------
// Code-point sets: sorted, disjoint, non-adjacent closed ranges.

struct Range {
  uint32_t lo;
  uint32_t hi;
};
using CharSet = std::vector<Range>;

CharSet normalized(CharSet s) {
  std::sort(s.begin(), s.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  CharSet out;
  for (const Range& r : s) {
    if (!out.empty() && r.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

CharSet complement(const CharSet& s) {
  CharSet out;
  uint32_t next = 0;
  for (const Range& r : s) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return out;
}

CharSet intersect(const CharSet& a, const CharSet& b) {
  CharSet out;
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    uint32_t lo = std::max(a[i].lo, b[j].lo);
    uint32_t hi = std::min(a[i].hi, b[j].hi);
    if (lo <= hi) out.push_back({lo, hi});
    if (a[i].hi < b[j].hi) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

CharSet subtract(const CharSet& a, const CharSet& b) { return intersect(a, complement(b)); }

bool single(const CharSet& s) { return s.size() == 1 && s[0].lo == s[0].hi; }
bool full(const CharSet& s) { return s.size() == 1 && s[0].lo == 0 && s[0].hi == kMaxCodePoint; }

// ECMAScript definitions (u flag, no i flag).
CharSet digit_set() { return {{'0', '9'}}; }
CharSet word_set() { return normalized({{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}); }
CharSet space_set() {  // WhiteSpace and LineTerminator
  return normalized({{0x09, 0x0D},
                     {0x20, 0x20},
                     {0xA0, 0xA0},
                     {0x1680, 0x1680},
                     {0x2000, 0x200A},
                     {0x2028, 0x2029},
                     {0x202F, 0x202F},
                     {0x205F, 0x205F},
                     {0x3000, 0x3000},
                     {0xFEFF, 0xFEFF}});
}
CharSet dot_set() {  // everything but LineTerminator
  return complement(normalized({{0x0A, 0x0A}, {0x0D, 0x0D}, {0x2028, 0x2029}}));
}

// ---------------------------------------------------------------------------------------------
// The tree: an arena of nodes built bottom-up, normalised at construction.

enum class Kind { kEmpty, kNever, kSet, kConcat, kAlt, kRepeat, kJsonAny };

struct Node {
  Kind kind = Kind::kEmpty;
  bool nullable = true;
  CharSet set;            // kSet, never empty
  std::vector<int> kids;  // kConcat, kAlt (2+ each); kRepeat (1)
  uint32_t min = 0;       // kRepeat
  uint32_t max = 0;       // kRepeat; kUnbounded for no upper bound
};

class Ast {
 public:
  const Node& at(int id) const { return nodes_[static_cast<size_t>(id)]; }

  int empty() { return add({}); }
  int never() {
    Node n;
    n.kind = Kind::kNever;
    n.nullable = false;
    return add(std::move(n));
  }
  int json_any() {  // any JSON string content, itself nullable
    Node n;
    n.kind = Kind::kJsonAny;
    return add(std::move(n));
  }

  int set(CharSet s) {
    if (s.empty()) return never();
    Node n;
    n.kind = Kind::kSet;
    n.nullable = false;
    n.set = std::move(s);
    return add(std::move(n));
  }

  int concat(const std::vector<int>& kids) {
    std::vector<int> flat;
    for (int k : kids) {
      const Node& n = at(k);
      if (n.kind == Kind::kNever) return never();
      if (n.kind == Kind::kEmpty) continue;
      if (n.kind == Kind::kConcat) {
        flat.insert(flat.end(), n.kids.begin(), n.kids.end());
      } else {
        flat.push_back(k);
      }
    }
    if (flat.empty()) return empty();
    if (flat.size() == 1) return flat[0];
    Node n;
    n.kind = Kind::kConcat;
    n.nullable = std::all_of(flat.begin(), flat.end(), [&](int k) { return at(k).nullable; });
    n.kids = std::move(flat);
    return add(std::move(n));
  }

  int alt(const std::vector<int>& kids) {
    std::vector<int> flat;
    bool has_empty = false;
    int merged_set = -1;  // index in flat of the one set all single-set alternatives merge into
    CharSet merged;
    auto take = [&](int k) {
      const Node& n = at(k);
      if (n.kind == Kind::kNever) return;
      if (n.kind == Kind::kEmpty) {
        has_empty = true;
      } else if (n.kind == Kind::kSet) {
        merged.insert(merged.end(), n.set.begin(), n.set.end());
        if (merged_set < 0) {
          merged_set = static_cast<int>(flat.size());
          flat.push_back(-1);
        }
      } else {
        flat.push_back(k);
      }
    };
    for (int k : kids) {
      if (at(k).kind == Kind::kAlt) {
        for (int kk : at(k).kids) take(kk);
      } else {
        take(k);
      }
    }
    if (merged_set >= 0) flat[static_cast<size_t>(merged_set)] = set(normalized(std::move(merged)));
    if (flat.empty()) return has_empty ? empty() : never();
    int body = flat[0];
    if (flat.size() > 1) {
      Node n;
      n.kind = Kind::kAlt;
      n.nullable = std::any_of(flat.begin(), flat.end(), [&](int k) { return at(k).nullable; });
      n.kids = std::move(flat);
      body = add(std::move(n));
    }
    if (has_empty && !at(body).nullable) return repeat(body, 0, 1);
    return body;
  }

  int repeat(int kid, uint32_t min, uint32_t max) {
    const Node& k = at(kid);
    if (max == 0 || k.kind == Kind::kEmpty) return empty();
    if (k.kind == Kind::kNever) return min == 0 ? empty() : never();
    if (min == 1 && max == 1) return kid;
    if (k.nullable) {
      // x{m,n} = x{0,n} when x matches "", and x{m,} = x* = y* for a non-nullable y (see top).
      min = 0;
      if (max == kUnbounded) {
        kid = star_body(kid);
        if (at(kid).kind == Kind::kNever) return empty();
      }
    }
    Node n;
    n.kind = Kind::kRepeat;
    n.nullable = min == 0;
    n.kids = {kid};
    n.min = min;
    n.max = max;
    return add(std::move(n));
  }

 private:
  int add(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size()) - 1;
  }

  // A non-nullable y with y* = x*. For nullable x: (a|b)* = (a'|b')*, (a b)* with both nullable
  // = (a'|b')* since each of a, b is inside (a b)* and (a b) inside (a|b)*, and x{m,n}* = x'*.
  // Recursion depth is bounded by the tree depth (the parser's group limit).
  int star_body(int id) {
    const Node& n = at(id);
    if (!n.nullable) return id;
    switch (n.kind) {
      case Kind::kEmpty:
      case Kind::kJsonAny:  // never under a repetition
        return never();
      case Kind::kRepeat:
        return star_body(n.kids[0]);
      case Kind::kConcat:
      case Kind::kAlt: {
        std::vector<int> kids = n.kids;  // copy: star_body may grow nodes_
        for (int& k : kids) k = star_body(k);
        return alt(kids);
      }
      default:
        return id;
    }
  }

  std::vector<Node> nodes_;
};

// ---------------------------------------------------------------------------------------------
// Parser: ECMAScript Pattern grammar with the u flag. Lenient in one way only: an identity escape
// of any ASCII punctuation (\" \' \- \: ...) is accepted outside classes too, as Python allows.

struct Branch {  // one top-level alternative
  int node = -1;
  bool anchored_start = false;
  bool anchored_end = false;
};

bool is_hex(uint32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
uint32_t hex_value(uint32_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
bool is_alnum(uint32_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

class Parser {
 public:
  Parser(std::string_view pattern, Ast& ast) : pattern_(pattern), ast_(ast) {}

  Result<std::vector<Branch>> parse() {
    if (pattern_.size() > kRegexMaxPatternBytes) {
      return make_error("regex too long: {} bytes (limit {})", pattern_.size(),
                        kRegexMaxPatternBytes);
    }
    HEARTH_RETURN_IF_ERROR(decode());
    std::vector<Branch> branches;
    while (true) {
      Branch b;
      HEARTH_TRY(b.node, parse_alternative(&b));
      branches.push_back(b);
      if (at_end()) break;
      if (peek() == ')') return fail("unmatched ')'");
      ++pos_;  // '|'
    }
    return branches;
  }

 private:
  // Decodes UTF-8 into code points, remembering each one's byte offset for error messages.
  Status decode() {
    size_t i = 0;
    while (i < pattern_.size()) {
      auto b0 = static_cast<uint8_t>(pattern_[i]);
      size_t len = b0 < 0x80           ? 1
                   : (b0 >> 5) == 0x6  ? 2
                   : (b0 >> 4) == 0xE  ? 3
                   : (b0 >> 3) == 0x1E ? 4
                                       : 0;
      if (len == 0 || i + len > pattern_.size()) {
        return make_error("regex: invalid UTF-8 at offset {}", i);
      }
      uint32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
      for (size_t k = 1; k < len; ++k) {
        auto b = static_cast<uint8_t>(pattern_[i + k]);
        if ((b >> 6) != 0x2) return make_error("regex: invalid UTF-8 at offset {}", i);
        cp = (cp << 6) | (b & 0x3F);
      }
      static constexpr uint32_t kMinForLen[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMinForLen[len] || cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return make_error("regex: invalid UTF-8 at offset {}", i);
      }
      cps_.push_back(cp);
      offsets_.push_back(i);
      i += len;
    }
    offsets_.push_back(pattern_.size());
    return Status::Ok();
  }

  bool at_end() const { return pos_ >= cps_.size(); }
  uint32_t peek(size_t ahead = 0) const {
    return pos_ + ahead < cps_.size() ? cps_[pos_ + ahead] : UINT32_MAX;
  }
  size_t offset(size_t at) const { return offsets_[std::min(at, cps_.size())]; }

  template <typename... Args>
  Error fail_at(size_t at, fmt::format_string<Args...> format, Args&&... args) {
    return make_error("regex: {} at offset {}", fmt::format(format, std::forward<Args>(args)...),
                      offset(at));
  }
  template <typename... Args>
  Error fail(fmt::format_string<Args...> format, Args&&... args) {
    return fail_at(pos_, format, std::forward<Args>(args)...);
  }

  // Alternative: Term*. `top` is non-null at depth 0, where ^ may open and $ may close it.
  Result<int> parse_alternative(Branch* top) {
    std::vector<int> items;
    while (!at_end() && peek() != '|' && peek() != ')') {
      uint32_t c = peek();
      if (c == '^') {
        if (top == nullptr || !items.empty() || top->anchored_start) {
          return fail(
              "'^' is supported only at the start of the pattern or of a top-level "
              "alternative");
        }
        top->anchored_start = true;
        ++pos_;
        if (!at_end() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{')) {
          return fail("nothing to repeat (quantifier after '^')");
        }
        continue;
      }
      if (c == '$') {
        if (top == nullptr || top->anchored_end || !(pos_ + 1 >= cps_.size() || peek(1) == '|')) {
          return fail(
              "'$' is supported only at the end of the pattern or of a top-level "
              "alternative");
        }
        top->anchored_end = true;
        ++pos_;
        continue;
      }
      HEARTH_TRY(int atom, parse_atom());
      HEARTH_TRY(int term, parse_quantifier(atom));
      items.push_back(term);
    }
    return ast_.concat(items);
  }

  Result<int> parse_disjunction() {
    std::vector<int> alternatives;
    while (true) {
      HEARTH_TRY(int a, parse_alternative(nullptr));
      alternatives.push_back(a);
      if (at_end() || peek() != '|') break;
      ++pos_;
    }
    return ast_.alt(alternatives);
  }

  Result<int> parse_atom() {
    uint32_t c = peek();
    switch (c) {
      case '(':
        return parse_group();
      case '[':
        return parse_class();
      case '.':
        ++pos_;
        return ast_.set(dot_set());
      case '\\': {
        HEARTH_TRY(ClassAtom e, parse_escape(/*in_class=*/false));
        return ast_.set(e.is_set ? e.set : CharSet{{e.cp, e.cp}});
      }
      case '*':
      case '+':
      case '?':
        return fail("nothing to repeat ('{}')", static_cast<char>(c));
      case '{':
        return fail("nothing to repeat or lone '{{' (escape a literal brace as \\{{)");
      case '}':
        return fail("lone '}}' (escape a literal brace as \\}})");
      case ']':
        return fail("lone ']' (escape it as \\])");
      default:
        ++pos_;
        return ast_.set({{c, c}});
    }
  }

  Result<int> parse_group() {
    size_t open = pos_;
    ++pos_;  // '('
    if (peek() == '?') {
      uint32_t c1 = peek(1);
      uint32_t c2 = peek(2);
      if (c1 == ':') {
        pos_ += 2;
      } else if (c1 == '=' || c1 == '!') {
        return fail_at(open, "lookahead '(?{}' is unsupported", static_cast<char>(c1));
      } else if (c1 == '<' && (c2 == '=' || c2 == '!')) {
        return fail_at(open, "lookbehind '(?<{}' is unsupported", static_cast<char>(c2));
      } else if (c1 == 'P' && c2 == '=') {
        return fail_at(open, "backreference '(?P=' is unsupported");
      } else if (c1 == '<' || (c1 == 'P' && c2 == '<')) {
        pos_ += c1 == '<' ? 2 : 3;  // named group; Python's (?P<name>...) is accepted too
        size_t name_start = pos_;
        while (!at_end() && peek() != '>') {
          uint32_t n = peek();
          if (!(is_alnum(n) || n == '_' || n == '$' || n >= 0x80)) {
            return fail("invalid character in group name");
          }
          ++pos_;
        }
        if (at_end() || pos_ == name_start) return fail_at(open, "invalid group name");
        ++pos_;  // '>'
      } else {
        return fail_at(open, "inline flags or modifiers '(?' are unsupported");
      }
    }
    if (++depth_ > kRegexMaxGroupDepth) {
      return fail_at(open, "groups nested deeper than {}", kRegexMaxGroupDepth);
    }
    HEARTH_TRY(int body, parse_disjunction());
    --depth_;
    if (at_end()) return fail_at(open, "unterminated group");
    ++pos_;  // ')'
    return body;
  }

  // Parses a decimal number, saturating (the caller rejects anything over the repeat bound).
  uint32_t parse_number() {
    uint64_t v = 0;
    while (is_digit(peek())) {
      v = std::min<uint64_t>(v * 10 + (peek() - '0'), 1ull << 32);
      ++pos_;
    }
    return static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX - 1));
  }

  Result<int> parse_quantifier(int atom) {
    if (at_end()) return atom;
    size_t start = pos_;
    uint32_t c = peek();
    uint32_t min = 0;
    uint32_t max = 0;
    if (c == '*') {
      min = 0, max = kUnbounded;
      ++pos_;
    } else if (c == '+') {
      min = 1, max = kUnbounded;
      ++pos_;
    } else if (c == '?') {
      min = 0, max = 1;
      ++pos_;
    } else if (c == '{') {
      ++pos_;
      if (!is_digit(peek())) return fail_at(start, "incomplete quantifier or lone '{{'");
      min = parse_number();
      max = min;
      if (peek() == ',') {
        ++pos_;
        max = is_digit(peek()) ? parse_number() : kUnbounded;
      }
      if (peek() != '}') return fail_at(start, "incomplete quantifier or lone '{{'");
      ++pos_;
      if (min > kRegexMaxRepeatBound || (max != kUnbounded && max > kRegexMaxRepeatBound)) {
        return fail_at(start, "repetition bound over {}", kRegexMaxRepeatBound);
      }
      if (max < min) return fail_at(start, "numbers out of order in {{}} quantifier");
    } else {
      return atom;
    }
    if (peek() == '?') ++pos_;  // lazy: same language
    uint32_t next = peek();
    if (next == '*' || next == '+' || next == '?' || next == '{') {
      return fail("nothing to repeat (quantifier after a quantifier)");
    }
    return ast_.repeat(atom, min, max);
  }

  struct ClassAtom {
    bool is_set = false;  // \d \w \s and their negations
    uint32_t cp = 0;
    CharSet set;
  };

  Result<int> parse_class() {
    size_t open = pos_;
    ++pos_;  // '['
    bool negate = false;
    if (peek() == '^') {
      negate = true;
      ++pos_;
    }
    CharSet set;
    while (true) {
      if (at_end()) return fail_at(open, "unterminated character class");
      if (peek() == ']') break;
      size_t atom_start = pos_;
      HEARTH_TRY(ClassAtom lo, parse_class_atom());
      if (peek() == '-' && peek(1) != ']' && peek(1) != UINT32_MAX) {
        ++pos_;  // '-'
        HEARTH_TRY(ClassAtom hi, parse_class_atom());
        if (lo.is_set || hi.is_set) {
          return fail_at(atom_start, "character class escape used as a range bound");
        }
        if (lo.cp > hi.cp) return fail_at(atom_start, "range out of order in character class");
        set.push_back({lo.cp, hi.cp});
      } else if (lo.is_set) {
        set.insert(set.end(), lo.set.begin(), lo.set.end());
      } else {
        set.push_back({lo.cp, lo.cp});
      }
    }
    ++pos_;  // ']'
    set = normalized(std::move(set));
    return ast_.set(negate ? complement(set) : set);
  }

  Result<ClassAtom> parse_class_atom() {
    if (peek() == '\\') return parse_escape(/*in_class=*/true);
    ClassAtom a;
    a.cp = peek();
    ++pos_;
    return a;
  }

  Result<uint32_t> parse_hex_digits(size_t n, size_t escape_start) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!is_hex(peek())) return fail_at(escape_start, "invalid hexadecimal escape");
      v = v * 16 + hex_value(peek());
      ++pos_;
    }
    return v;
  }

  // \uHHHH, \u{H...}, and a \uHHHH\uHHHH surrogate pair as one code point (u flag).
  Result<uint32_t> parse_unicode_escape(size_t escape_start) {
    if (peek() == '{') {
      ++pos_;
      uint64_t v = 0;
      size_t digits = 0;
      while (is_hex(peek())) {
        v = std::min<uint64_t>(v * 16 + hex_value(peek()), kMaxCodePoint + 1ull);
        ++pos_, ++digits;
      }
      if (digits == 0 || peek() != '}' || v > kMaxCodePoint) {
        return fail_at(escape_start, "invalid \\u{{...}} escape");
      }
      ++pos_;
      return static_cast<uint32_t>(v);
    }
    HEARTH_TRY(uint32_t v, parse_hex_digits(4, escape_start));
    if (v >= 0xD800 && v <= 0xDBFF && peek() == '\\' && peek(1) == 'u' && is_hex(peek(2)) &&
        is_hex(peek(3)) && is_hex(peek(4)) && is_hex(peek(5))) {
      uint32_t trail = (hex_value(peek(2)) << 12) | (hex_value(peek(3)) << 8) |
                       (hex_value(peek(4)) << 4) | hex_value(peek(5));
      if (trail >= 0xDC00 && trail <= 0xDFFF) {
        pos_ += 6;
        return 0x10000 + ((v - 0xD800) << 10) + (trail - 0xDC00);
      }
    }
    return v;
  }

  Result<ClassAtom> parse_escape(bool in_class) {
    size_t start = pos_;
    ++pos_;  // '\'
    if (at_end()) return fail_at(start, "trailing backslash");
    uint32_t c = peek();
    ++pos_;
    ClassAtom a;
    auto set_of = [&](CharSet s) {
      a.is_set = true;
      a.set = std::move(s);
      return a;
    };
    auto cp_of = [&](uint32_t cp) {
      a.cp = cp;
      return a;
    };
    switch (c) {
      case 'd':
        return set_of(digit_set());
      case 'D':
        return set_of(complement(digit_set()));
      case 'w':
        return set_of(word_set());
      case 'W':
        return set_of(complement(word_set()));
      case 's':
        return set_of(space_set());
      case 'S':
        return set_of(complement(space_set()));
      case 'f':
        return cp_of(0x0C);
      case 'n':
        return cp_of(0x0A);
      case 'r':
        return cp_of(0x0D);
      case 't':
        return cp_of(0x09);
      case 'v':
        return cp_of(0x0B);
      case 'p':
      case 'P':
        return fail_at(start, "Unicode property escape '\\{}' is unsupported",
                       static_cast<char>(c));
      case 'b':
        if (in_class) return cp_of(0x08);
        return fail_at(start, "word boundary '\\b' is unsupported");
      case 'B':
        return fail_at(start, "word boundary '\\B' is unsupported");
      case 'k':
        return fail_at(start, "named backreference '\\k' is unsupported");
      case '0':
        if (is_digit(peek()))
          return fail_at(start, "octal escape '\\0{}' is invalid", peek() - '0');
        return cp_of(0);
      case 'c': {
        uint32_t letter = peek();
        if (!((letter >= 'a' && letter <= 'z') || (letter >= 'A' && letter <= 'Z'))) {
          return fail_at(start, "invalid control escape '\\c'");
        }
        ++pos_;
        return cp_of(letter % 32);
      }
      case 'x': {
        HEARTH_TRY(uint32_t v, parse_hex_digits(2, start));
        return cp_of(v);
      }
      case 'u': {
        HEARTH_TRY(uint32_t v, parse_unicode_escape(start));
        return cp_of(v);
      }
      default:
        break;
    }
    if (c >= '1' && c <= '9') {
      if (in_class) return fail_at(start, "invalid escape '\\{}' in character class", c - '0');
      return fail_at(start, "backreference '\\{}' is unsupported", c - '0');
    }
    if (c >= 0x20 && c < 0x7F && !is_alnum(c)) return cp_of(c);  // \. \* \/ \- \" ...
    if (c < 0x80) return fail_at(start, "unsupported escape '\\{}'", static_cast<char>(c));
    return fail_at(start, "unsupported escape of a non-ASCII character");
  }

  std::string_view pattern_;
  Ast& ast_;
  std::vector<uint32_t> cps_;
  std::vector<size_t> offsets_;  // byte offset of each code point, plus the end
  size_t pos_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Printer.

// Bytes of one code point in a grammar literal: UTF-8, or its JSON escape.
uint64_t encoded_bytes(uint32_t cp, bool json) {
  if (json && (cp == '"' || cp == '\\')) return 2;
  if (json && cp < 0x20)
    return cp == 0x08 || cp == 0x09 || cp == 0x0A || cp == 0x0C || cp == 0x0D ? 2 : 6;
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

// Grammar elements after unrolling every {m,n}, as a grammar engine does: a literal code point
// counts its encoded bytes, a class 1 (a JSON-mode set up to 16, for its escape alternatives).
// Saturates just above the limit.
uint64_t expanded_size(const Ast& ast, int id, bool json) {
  constexpr uint64_t kCap = kRegexMaxExpandedElements + 1;
  const Node& n = ast.at(id);
  switch (n.kind) {
    case Kind::kEmpty:
    case Kind::kNever:
      return 0;
    case Kind::kSet:
      if (!single(n.set)) return json ? 16 : 1;
      return encoded_bytes(n.set[0].lo, json);
    case Kind::kJsonAny:
      return 16;
    case Kind::kConcat:
    case Kind::kAlt: {
      uint64_t sum = 0;
      for (int k : n.kids) sum = std::min(kCap, sum + expanded_size(ast, k, json));
      return sum;
    }
    case Kind::kRepeat: {
      uint64_t copies = n.max == kUnbounded ? uint64_t{n.min} + 1 : std::max<uint64_t>(n.max, 1);
      return std::min(kCap, copies * expanded_size(ast, n.kids[0], json));  // both <= ~2^20
    }
  }
  return 0;
}

// Where an expression is printed: as an alternative of `|`, an item of a sequence, or the
// operand of a postfix operator (which must be a single literal char, class or group).
enum class Ctx { kBranch, kItem, kOperand };

class Printer {
 public:
  Printer(const Ast& ast, RegexTarget target)
      : ast_(ast), json_(target == RegexTarget::kJsonStringContent) {}

  // False when the output grew past kRegexMaxOutputBytes (printing stops early).
  bool print_root(int id) {
    out_ += '(';
    print(id, Ctx::kBranch);
    out_ += ')';
    return out_.size() <= kRegexMaxOutputBytes;
  }
  std::string take() { return std::move(out_); }

 private:
  bool overflow() const { return out_.size() > kRegexMaxOutputBytes; }

  void print(int id, Ctx ctx) {
    if (overflow()) return;
    const Node& n = ast_.at(id);
    switch (n.kind) {
      case Kind::kEmpty:
      case Kind::kNever:  // unreachable: the root is checked, and no node holds a kNever
        out_ += "\"\"";
        return;
      case Kind::kSet:
        print_set(n.set, ctx);
        return;
      case Kind::kJsonAny:
        if (ctx == Ctx::kOperand) out_ += '(';
        print_json_any();
        if (ctx == Ctx::kOperand) out_ += ')';
        return;
      case Kind::kAlt: {
        bool wrap = ctx != Ctx::kBranch;
        if (wrap) out_ += '(';
        for (size_t i = 0; i < n.kids.size(); ++i) {
          if (i > 0) out_ += " | ";
          print(n.kids[i], Ctx::kBranch);
        }
        if (wrap) out_ += ')';
        return;
      }
      case Kind::kConcat: {
        bool wrap = ctx == Ctx::kOperand;
        if (wrap) out_ += '(';
        print_sequence(n.kids);
        if (wrap) out_ += ')';
        return;
      }
      case Kind::kRepeat: {
        bool wrap = ctx == Ctx::kOperand;
        if (wrap) out_ += '(';
        print(n.kids[0], Ctx::kOperand);
        print_repeat_suffix(n.min, n.max);
        if (wrap) out_ += ')';
        return;
      }
    }
  }

  // Runs of single code points become one literal.
  void print_sequence(const std::vector<int>& kids) {
    std::vector<uint32_t> literal;  // GBNF literal content, as code points
    bool first = true;
    auto separate = [&] {
      if (!first) out_ += ' ';
      first = false;
    };
    auto flush = [&] {
      if (literal.empty()) return;
      separate();
      append_literal(literal);
      literal.clear();
    };
    for (int k : kids) {
      const Node& n = ast_.at(k);
      if (n.kind == Kind::kSet && single(n.set)) {
        append_encoding(n.set[0].lo, literal);
        continue;
      }
      flush();
      separate();
      print(k, Ctx::kItem);
      if (overflow()) return;
    }
    flush();
  }

  void print_repeat_suffix(uint32_t min, uint32_t max) {
    if (max == kUnbounded) {
      if (min == 0) {
        out_ += '*';
      } else if (min == 1) {
        out_ += '+';
      } else {
        out_ += fmt::format("{{{},}}", min);
      }
    } else if (min == 0 && max == 1) {
      out_ += '?';
    } else if (min == max) {
      out_ += fmt::format("{{{}}}", min);
    } else {
      out_ += fmt::format("{{{},{}}}", min, max);
    }
  }

  // The code points a grammar literal needs for one code point of the value.
  void append_encoding(uint32_t cp, std::vector<uint32_t>& literal) const {
    if (!json_ || (cp >= 0x20 && cp != '"' && cp != '\\')) {
      literal.push_back(cp);
      return;
    }
    literal.push_back('\\');
    switch (cp) {
      case '"':
        literal.push_back('"');
        return;
      case '\\':
        literal.push_back('\\');
        return;
      case 0x08:
        literal.push_back('b');
        return;
      case 0x09:
        literal.push_back('t');
        return;
      case 0x0A:
        literal.push_back('n');
        return;
      case 0x0C:
        literal.push_back('f');
        return;
      case 0x0D:
        literal.push_back('r');
        return;
      default:
        break;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    for (uint32_t c : {uint32_t{'u'}, uint32_t{'0'}, uint32_t{'0'}}) literal.push_back(c);
    literal.push_back(static_cast<uint8_t>(kHex[cp >> 4]));
    literal.push_back(static_cast<uint8_t>(kHex[cp & 0xF]));
  }

  void append_literal(const std::vector<uint32_t>& text) {
    out_ += '"';
    for (uint32_t c : text) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (c >= 0x20 && c < 0x7F) {
            out_ += static_cast<char>(c);
          } else {
            append_code_point_escape(c);
          }
      }
    }
    out_ += '"';
  }

  void append_code_point_escape(uint32_t c) {
    if (c < 0x80) {
      out_ += fmt::format("\\x{:02X}", c);
    } else if (c <= 0xFFFF) {
      out_ += fmt::format("\\u{:04X}", c);
    } else {
      out_ += fmt::format("\\U{:08X}", c);
    }
  }

  void append_class_char(uint32_t c) {
    if (is_alnum(c)) {
      out_ += static_cast<char>(c);
    } else {
      append_code_point_escape(c);  // also - ^ ] [ \ ": no escape rules to get wrong
    }
  }

  // A class, negated when that needs fewer ranges; the full set is `.`.
  void append_class(const CharSet& s) {
    if (full(s)) {
      out_ += '.';
      return;
    }
    CharSet neg = complement(s);
    // On a tie, [^...] reads better when the set reaches the last code point.
    bool negate = neg.size() < s.size() || (neg.size() == s.size() && s.back().hi == kMaxCodePoint);
    const CharSet& ranges = negate ? neg : s;
    out_ += negate ? "[^" : "[";
    for (const Range& r : ranges) {
      append_class_char(r.lo);
      if (r.hi == r.lo) continue;
      if (r.hi != r.lo + 1) out_ += '-';
      append_class_char(r.hi);
    }
    out_ += ']';
  }

  void print_set(const CharSet& s, Ctx ctx) {
    if (single(s)) {
      std::vector<uint32_t> literal;
      append_encoding(s[0].lo, literal);
      bool wrap = ctx == Ctx::kOperand && literal.size() > 1;
      if (wrap) out_ += '(';
      append_literal(literal);
      if (wrap) out_ += ')';
      return;
    }
    if (!json_) {
      append_class(s);
      return;
    }
    // JSON: plain code points | "\\" [escape letters] | "\\u000" [hex] | "\\u001" [hex].
    CharSet plain = subtract(s, {{0x00, 0x1F}, {'"', '"'}, {'\\', '\\'}});
    CharSet escape_letters;
    for (auto [cp, letter] : {std::pair<uint32_t, uint32_t>{'"', '"'},
                              {'\\', '\\'},
                              {0x08, 'b'},
                              {0x0C, 'f'},
                              {0x0A, 'n'},
                              {0x0D, 'r'},
                              {0x09, 't'}}) {
      if (!intersect(s, {{cp, cp}}).empty()) escape_letters.push_back({letter, letter});
    }
    CharSet hex_low[2];  // \u000X and \u001X
    for (uint32_t cp = 0; cp < 0x20; ++cp) {
      bool short_form = cp == 0x08 || cp == 0x09 || cp == 0x0A || cp == 0x0C || cp == 0x0D;
      if (short_form || intersect(s, {{cp, cp}}).empty()) continue;
      uint32_t low = cp & 0xF;
      uint32_t hex = low < 10 ? '0' + low : 'a' + low - 10;
      hex_low[cp >> 4].push_back({hex, hex});
    }
    int pieces = (plain.empty() ? 0 : 1) + (escape_letters.empty() ? 0 : 1) +
                 (hex_low[0].empty() ? 0 : 1) + (hex_low[1].empty() ? 0 : 1);
    // A lone piece is one token unless it is an escape prefix followed by a class.
    bool lone_sequence = plain.empty() && pieces == 1 &&
                         ((!escape_letters.empty() && !single(escape_letters)) ||
                          (!hex_low[0].empty() && !single(hex_low[0])) ||
                          (!hex_low[1].empty() && !single(hex_low[1])));
    bool wrap = (ctx != Ctx::kBranch && pieces > 1) || (ctx == Ctx::kOperand && lone_sequence);
    if (wrap) out_ += '(';
    bool first = true;
    auto bar = [&] {
      if (!first) out_ += " | ";
      first = false;
    };
    if (!plain.empty()) {
      bar();
      if (single(plain)) {
        append_literal({plain[0].lo});
      } else {
        append_class(plain);
      }
    }
    auto escape_piece = [&](std::vector<uint32_t> prefix, const CharSet& tail) {
      bar();
      if (single(tail)) {
        prefix.push_back(tail[0].lo);
        append_literal(prefix);
      } else {
        append_literal(prefix);
        out_ += ' ';
        append_class(normalized(tail));
      }
    };
    if (!escape_letters.empty()) escape_piece({'\\'}, escape_letters);
    if (!hex_low[0].empty()) escape_piece({'\\', 'u', '0', '0', '0'}, hex_low[0]);
    if (!hex_low[1].empty()) escape_piece({'\\', 'u', '0', '0', '1'}, hex_low[1]);
    if (wrap) out_ += ')';
  }

  // Any JSON string content: whole characters and whole escapes.
  void print_json_any() {
    out_ +=
        "([^\\x00-\\x1F\\x22\\x5C] | \"\\\\\" ([\\x22\\x2F\\x5Cbfnrt] | \"u\" "
        "[0-9A-Fa-f] [0-9A-Fa-f] [0-9A-Fa-f] [0-9A-Fa-f]))*";
  }

  const Ast& ast_;
  bool json_;
  std::string out_;
};

}  // namespace

Result<std::string> regex_to_gbnf(std::string_view pattern, RegexTarget target) {
  Ast ast;
  Parser parser(pattern, ast);
  HEARTH_TRY(std::vector<Branch> branches, parser.parse());

  int root = -1;
  if (target == RegexTarget::kRaw) {
    std::vector<int> nodes;
    for (const Branch& b : branches) nodes.push_back(b.node);
    root = ast.alt(nodes);
  } else {
    // Unanchored ends take any JSON string content. A nullable branch with an open end matches
    // every string (the empty match at that end), so the grammar is just "any content".
    bool matches_all = false;
    bool same_anchors = true;
    for (const Branch& b : branches) {
      if (ast.at(b.node).nullable && (!b.anchored_start || !b.anchored_end)) matches_all = true;
      same_anchors = same_anchors && b.anchored_start == branches[0].anchored_start &&
                     b.anchored_end == branches[0].anchored_end;
    }
    auto padded = [&](int core, bool anchored_start, bool anchored_end) {
      std::vector<int> seq;
      if (!anchored_start) seq.push_back(ast.json_any());
      seq.push_back(core);
      if (!anchored_end) seq.push_back(ast.json_any());
      return ast.concat(seq);
    };
    if (matches_all) {
      root = ast.json_any();
    } else if (same_anchors) {
      std::vector<int> nodes;
      for (const Branch& b : branches) nodes.push_back(b.node);
      root = padded(ast.alt(nodes), branches[0].anchored_start, branches[0].anchored_end);
    } else {
      std::vector<int> nodes;
      for (const Branch& b : branches) {
        nodes.push_back(padded(b.node, b.anchored_start, b.anchored_end));
      }
      root = ast.alt(nodes);
    }
  }

  if (ast.at(root).kind == Kind::kNever) {
    return make_error(
        "regex: the pattern can never match (it needs a character from an empty "
        "class such as [])");
  }
  if (expanded_size(ast, root, target == RegexTarget::kJsonStringContent) >
      kRegexMaxExpandedElements) {
    return make_error("regex too large: its repetitions expand to over {} elements",
                      kRegexMaxExpandedElements);
  }
  Printer printer(ast, target);
  if (!printer.print_root(root)) {
    return make_error("regex too large: the grammar would exceed {} bytes", kRegexMaxOutputBytes);
  }
  return printer.take();
}

}  // namespace hearth::grammar
