// GBNF text -> Grammar (grammar.h): a recursive-descent parser that lowers as it goes, then the
// checks that keep the matcher finite (every rule defined, none left-recursive, every rule able
// to finish).
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "base/utf8.h"
#include "grammar/grammar.h"

namespace hearth::grammar {

bool CodepointClass::contains(uint32_t cp) const {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](uint32_t v, const std::pair<uint32_t, uint32_t>& r) { return v < r.first; });
  return it != ranges.begin() && cp <= std::prev(it)->second;
}

bool CodepointClass::intersects(uint32_t lo, uint32_t hi) const {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), hi,
                             [](uint32_t v, const std::pair<uint32_t, uint32_t>& r) { return v < r.first; });
  return it != ranges.begin() && std::prev(it)->second >= lo;
}

namespace {

constexpr uint32_t kMaxCodepoint = 0x10FFFF;

CodepointClass normalise_with_surrogates(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negate) {
  std::sort(ranges.begin(), ranges.end());
  CodepointClass merged;
  for (const auto& r : ranges) {
    if (!merged.ranges.empty() && r.first <= merged.ranges.back().second + 1)
      merged.ranges.back().second = std::max(merged.ranges.back().second, r.second);
    else
      merged.ranges.push_back(r);
  }
  if (!negate) return merged;
  CodepointClass complement;
  uint32_t next = 0;
  for (const auto& r : merged.ranges) {
    if (r.first > next) complement.ranges.emplace_back(next, r.first - 1);
    next = r.second + 1;
  }
  if (next <= kMaxCodepoint) complement.ranges.emplace_back(next, kMaxCodepoint);
  return complement;
}

// Sorted, merged ranges (complemented when `negate`), without the surrogates U+D800-DFFF: they are
// not characters, UTF-8 cannot encode them, and leaving them in would let a token that starts one
// (bytes ED A0-BF) through a mask although nothing could complete it.
CodepointClass normalise(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negate) {
  CodepointClass cls = normalise_with_surrogates(std::move(ranges), negate);
  CodepointClass out;
  for (const auto& [lo, hi] : cls.ranges) {
    if (lo < 0xD800) out.ranges.emplace_back(lo, std::min<uint32_t>(hi, 0xD7FF));
    if (hi > 0xDFFF) out.ranges.emplace_back(std::max<uint32_t>(lo, 0xE000), hi);
  }
  return out;
}

class Parser {
 public:
  Parser(std::string_view text, const GrammarLimits& limits) : src_(text), limits_(limits) {}

  Result<Grammar> run(std::string_view root_name) {
    if (src_.size() > limits_.max_text_bytes)
      return make_error("grammar is {} bytes, over the limit of {}", src_.size(), limits_.max_text_bytes);
    skip(true);
    while (pos_ < src_.size()) {
      if (!parse_rule()) return Error{error_};
      skip(true);
    }
    auto root = names_.find(std::string(root_name));
    if (root == names_.end() || !defined_[root->second])
      return make_error("grammar has no '{}' rule", root_name);
    for (uint32_t r = 0; r < rules_.size(); ++r)
      if (!defined_[r]) return make_error("grammar uses rule '{}' but never defines it", names_of_[r]);
    Grammar g;
    g.root = root->second;
    g.classes = std::move(classes_);
    g.rule_names = std::move(names_of_);
    g.rule_alts.resize(rules_.size());
    for (uint32_t r = 0; r < rules_.size(); ++r) {
      for (const auto& alt : rules_[r]) {
        g.rule_alts[r].push_back(static_cast<uint32_t>(g.elements.size()));
        g.elements.insert(g.elements.end(), alt.begin(), alt.end());
        g.elements.push_back({Element::kEnd, r});
      }
    }
    if (Status s = check(g); !s) return s.error();
    return g;
  }

 private:
  using Sequence = std::vector<Element>;
  using Alternatives = std::vector<Sequence>;

  bool fail(std::string message) {
    if (error_.empty()) {
      size_t line = 1, col = 1;
      for (size_t i = 0; i < pos_ && i < src_.size(); ++i) {
        if (src_[i] == '\n') {
          ++line;
          col = 1;
        } else {
          ++col;
        }
      }
      error_ = fmt::format("grammar line {} column {}: {}", line, col, message);
    }
    return false;
  }

  bool at_end() const { return pos_ >= src_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }

  // Spaces, tabs and comments; newlines too when `newlines` (inside parentheses, after '|' and
  // between rules), since a newline ends a rule otherwise.
  void skip(bool newlines) {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
        ++pos_;
      } else if (c == '#') {
        while (!at_end() && peek() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  std::string_view parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    return src_.substr(start, pos_ - start);
  }

  uint32_t rule_id(std::string_view name) {
    auto [it, inserted] = names_.emplace(std::string(name), static_cast<uint32_t>(rules_.size()));
    if (inserted) {
      rules_.emplace_back();
      defined_.push_back(false);
      names_of_.emplace_back(name);
    }
    return it->second;
  }

  // A rule made by lowering (a group, a repetition); named after the rule being parsed.
  uint32_t new_rule(Alternatives alts) {
    const uint32_t id = static_cast<uint32_t>(rules_.size());
    rules_.push_back(std::move(alts));
    defined_.push_back(true);
    names_of_.push_back(fmt::format("{}-{}", current_name_, id));
    return id;
  }

  bool count(size_t n) {
    elements_ += n;
    if (elements_ > limits_.max_elements)
      return fail(fmt::format("grammar is too large (over {} elements)", limits_.max_elements));
    if (rules_.size() > limits_.max_rules) return fail(fmt::format("grammar has over {} rules", limits_.max_rules));
    return true;
  }

  bool parse_rule() {
    const std::string_view name = parse_name();
    if (name.empty()) return fail("expected a rule name");
    skip(false);
    if (src_.substr(pos_, 3) != "::=") return fail(fmt::format("expected '::=' after '{}'", name));
    pos_ += 3;
    const uint32_t id = rule_id(name);
    if (defined_[id]) return fail(fmt::format("rule '{}' is defined twice", name));
    defined_[id] = true;
    current_name_ = std::string(name);
    Alternatives alts;
    if (!parse_alternatives(alts, 0)) return false;
    rules_[id] = std::move(alts);
    skip(false);
    if (!at_end() && peek() != '\n') return fail(fmt::format("unexpected '{}'", peek()));
    return true;
  }

  bool parse_alternatives(Alternatives& alts, size_t depth) {
    if (depth > limits_.max_nesting)
      return fail(fmt::format("grammar nests parentheses deeper than {}", limits_.max_nesting));
    for (;;) {
      Sequence seq;
      if (!parse_sequence(seq, depth)) return false;
      alts.push_back(std::move(seq));
      skip(depth > 0);
      if (peek() != '|') return true;
      ++pos_;
      skip(true);
    }
  }

  bool parse_sequence(Sequence& seq, size_t depth) {
    size_t last_start = SIZE_MAX;  // where the last term's elements begin (postfix operators apply to it)
    for (;;) {
      skip(depth > 0);
      if (at_end()) return true;
      const char c = peek();
      const size_t start = seq.size();
      if (c == '"') {
        ++pos_;
        std::string bytes;
        while (!at_end() && peek() != '"') {
          uint32_t cp;
          if (!parse_char(cp)) return false;
          utf8_append(bytes, cp);
        }
        if (at_end()) return fail("unterminated string literal");
        ++pos_;
        if (!count(bytes.size())) return false;
        for (unsigned char b : bytes) seq.push_back({Element::kByte, b});
        last_start = bytes.empty() ? SIZE_MAX : start;
      } else if (c == '[') {
        uint32_t cls;
        if (!parse_class(cls)) return false;
        seq.push_back({Element::kClass, cls});
        last_start = start;
      } else if (c == '.') {
        ++pos_;
        seq.push_back({Element::kClass, add_class(normalise({{0, kMaxCodepoint}}, false))});
        last_start = start;
      } else if (c == '(') {
        ++pos_;
        Alternatives inner;
        if (!parse_alternatives(inner, depth + 1)) return false;
        skip(true);
        if (peek() != ')') return fail("expected ')'");
        ++pos_;
        seq.push_back({Element::kRule, new_rule(std::move(inner))});
        last_start = start;
      } else if (is_name_char(c)) {
        const size_t save = pos_;
        const std::string_view name = parse_name();
        // A name followed by '::=' starts the next rule (rules may follow without a blank line
        // only after a newline, but be forgiving inside nothing: stop the sequence here).
        size_t look = pos_;
        while (look < src_.size() && (src_[look] == ' ' || src_[look] == '\t')) ++look;
        if (src_.substr(look, 3) == "::=") {
          pos_ = save;
          return depth == 0 ? true : fail("rule definition inside parentheses");
        }
        seq.push_back({Element::kRule, rule_id(name)});
        last_start = start;
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (last_start == SIZE_MAX) return fail(fmt::format("'{}' follows nothing it could repeat", c));
        uint32_t min = 0, max = 0;
        bool unbounded = false;
        ++pos_;
        if (c == '*') {
          unbounded = true;
        } else if (c == '+') {
          min = 1;
          unbounded = true;
        } else if (c == '?') {
          max = 1;
        } else if (!parse_braces(min, max, unbounded)) {
          return false;
        }
        if (!repeat(seq, last_start, min, max, unbounded)) return false;
        last_start = SIZE_MAX;  // "x**" is an error, as in llama.cpp
      } else {
        return true;  // '|', ')', newline: the caller decides
      }
      if (!count(1)) return false;
    }
  }

  bool parse_braces(uint32_t& min, uint32_t& max, bool& unbounded) {
    auto number = [&](uint32_t& out) {
      skip(false);
      const size_t start = pos_;
      uint64_t v = 0;
      while (!at_end() && peek() >= '0' && peek() <= '9') {
        v = v * 10 + uint64_t(peek() - '0');
        if (v > limits_.max_repeat) return fail(fmt::format("repetition count over {}", limits_.max_repeat));
        ++pos_;
      }
      if (pos_ == start) return fail("expected a number in '{m,n}'");
      out = static_cast<uint32_t>(v);
      skip(false);
      return true;
    };
    if (!number(min)) return false;
    if (peek() == '}') {
      ++pos_;
      max = min;
      return true;
    }
    if (peek() != ',') return fail("expected ',' or '}' in '{m,n}'");
    ++pos_;
    skip(false);
    if (peek() == '}') {
      ++pos_;
      unbounded = true;
      return true;
    }
    if (!number(max)) return false;
    if (peek() != '}') return fail("expected '}'");
    ++pos_;
    if (max < min) return fail(fmt::format("repetition {{{},{}}} has max below min", min, max));
    return true;
  }

  // Replaces seq[start..] (one term) by its repetition {min, max} (max ignored when unbounded).
  bool repeat(Sequence& seq, size_t start, uint32_t min, uint32_t max, bool unbounded) {
    Sequence term(seq.begin() + static_cast<std::ptrdiff_t>(start), seq.end());
    seq.resize(start);
    // A multi-element term (a literal) is repeated as a whole, through a rule of its own.
    Element item = term.size() == 1 ? term[0] : Element{Element::kRule, new_rule({term})};
    if (!count(size_t(min) + (unbounded ? 3 : 4 * size_t(max - min)))) return false;
    for (uint32_t i = 0; i < min; ++i) seq.push_back(item);
    if (unbounded) {
      // star ::= item star | (empty): the reference to itself ends its alternative, a tail call.
      const uint32_t star = new_rule({});
      rules_[star] = {{item, {Element::kRule, star}}, {}};
      seq.push_back({Element::kRule, star});
    } else if (max > min) {
      // x{0,k} as nested optionals: opt_k ::= x opt_(k-1) | (empty), so matching stays linear.
      uint32_t inner = new_rule({{item}, {}});
      for (uint32_t i = 1; i < max - min; ++i) inner = new_rule({{item, {Element::kRule, inner}}, {}});
      seq.push_back({Element::kRule, inner});
    }
    return true;
  }

  uint32_t add_class(CodepointClass cls) {
    classes_.push_back(std::move(cls));
    return static_cast<uint32_t>(classes_.size() - 1);
  }

  bool parse_class(uint32_t& out) {
    ++pos_;  // '['
    bool negate = false;
    if (peek() == '^') {
      negate = true;
      ++pos_;
    }
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    while (!at_end() && peek() != ']') {
      uint32_t lo, hi;
      if (!parse_char(lo)) return false;
      hi = lo;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < src_.size()) {
        ++pos_;
        if (!parse_char(hi)) return false;
        if (hi < lo) return fail("character range goes backwards");
      }
      ranges.emplace_back(lo, hi);
      if (ranges.size() > 100000) return fail("character class too large");
    }
    if (at_end()) return fail("unterminated character class");
    ++pos_;
    out = add_class(normalise(std::move(ranges), negate));
    return true;
  }

  // One character of a literal or class: an escape or one UTF-8 encoded code point.
  bool parse_char(uint32_t& cp) {
    const unsigned char c = static_cast<unsigned char>(peek());
    if (c == '\\') {
      ++pos_;
      if (at_end()) return fail("escape at end of grammar");
      const char e = peek();
      ++pos_;
      switch (e) {
        case 'n': cp = '\n'; return true;
        case 'r': cp = '\r'; return true;
        case 't': cp = '\t'; return true;
        case '0': cp = 0; return true;
        case 'x': return parse_hex(2, cp);
        case 'u': return parse_hex(4, cp);
        case 'U': return parse_hex(8, cp);
        case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '.':
          cp = static_cast<unsigned char>(e);
          return true;
        default: return fail(fmt::format("unknown escape '\\{}'", e));
      }
    }
    if (c == '\n' || c == '\r') return fail("line break inside a literal or class (write \\n)");
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || pos_ + size_t(len) > src_.size()) return fail("invalid UTF-8 in grammar");
    cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < len; ++i) {
      const unsigned char cc = static_cast<unsigned char>(src_[pos_ + size_t(i)]);
      if ((cc & 0xC0) != 0x80) return fail("invalid UTF-8 in grammar");
      cp = (cp << 6) | (cc & 0x3F);
    }
    pos_ += size_t(len);
    return true;
  }

  bool parse_hex(int digits, uint32_t& cp) {
    cp = 0;
    for (int i = 0; i < digits; ++i) {
      const char h = peek();
      const int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (v < 0) return fail("expected a hex digit");
      cp = cp * 16 + uint32_t(v);
      ++pos_;
    }
    if (cp > kMaxCodepoint) return fail("code point beyond U+10FFFF");
    return true;
  }

  // Nullable and productive rules (fixpoints), then: no left recursion, everything finishes.
  Status check(const Grammar& g) {
    const size_t n = g.n_rules();
    std::vector<char> nullable(n, 0), productive(n, 0);
    auto element_ok = [&](const Element& e, const std::vector<char>& rules, bool want_nullable) {
      if (e.kind == Element::kRule) return rules[e.value] != 0;
      if (want_nullable) return false;
      return e.kind == Element::kByte || !g.classes[e.value].ranges.empty();
    };
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<char>& flag = pass == 0 ? nullable : productive;
      for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t r = 0; r < n; ++r) {
          if (flag[r]) continue;
          for (uint32_t start : g.rule_alts[r]) {
            bool all = true;
            for (uint32_t i = start; g.elements[i].kind != Element::kEnd && all; ++i)
              all = element_ok(g.elements[i], flag, pass == 0);
            if (all) {
              flag[r] = 1;
              changed = true;
              break;
            }
          }
        }
      }
    }
    // Rules reachable from the root must all be able to finish.
    std::vector<char> reached(n, 0);
    std::vector<uint32_t> todo{g.root};
    reached[g.root] = 1;
    while (!todo.empty()) {
      const uint32_t r = todo.back();
      todo.pop_back();
      if (!productive[r])
        return make_error("grammar rule '{}' can never finish (its recursion has no base case, or it matches nothing)",
                          g.rule_names[r]);
      for (uint32_t start : g.rule_alts[r])
        for (uint32_t i = start; g.elements[i].kind != Element::kEnd; ++i)
          if (g.elements[i].kind == Element::kRule && !reached[g.elements[i].value]) {
            reached[g.elements[i].value] = 1;
            todo.push_back(g.elements[i].value);
          }
    }
    // Left recursion: a cycle through "may begin with" edges. Iterative DFS, three colours.
    std::vector<std::vector<uint32_t>> begins(n);
    for (uint32_t r = 0; r < n; ++r)
      for (uint32_t start : g.rule_alts[r])
        for (uint32_t i = start; g.elements[i].kind != Element::kEnd; ++i) {
          const Element& e = g.elements[i];
          if (e.kind != Element::kRule) break;
          begins[r].push_back(e.value);
          if (!nullable[e.value]) break;
        }
    std::vector<char> colour(n, 0);  // 0 new, 1 on the path, 2 done
    for (uint32_t s = 0; s < n; ++s) {
      if (colour[s] || !reached[s]) continue;
      std::vector<std::pair<uint32_t, size_t>> path{{s, 0}};
      colour[s] = 1;
      while (!path.empty()) {
        auto& [r, next] = path.back();
        if (next < begins[r].size()) {
          const uint32_t t = begins[r][next++];
          if (colour[t] == 1) return make_error("grammar rule '{}' is left-recursive", g.rule_names[t]);
          if (colour[t] == 0) {
            colour[t] = 1;
            path.emplace_back(t, 0);
          }
        } else {
          colour[r] = 2;
          path.pop_back();
        }
      }
    }
    return Status::Ok();
  }

  std::string_view src_;
  size_t pos_ = 0;
  GrammarLimits limits_;
  std::string error_;
  std::string current_name_;
  size_t elements_ = 0;
  std::unordered_map<std::string, uint32_t> names_;
  std::vector<Alternatives> rules_;
  std::vector<bool> defined_;
  std::vector<std::string> names_of_;
  std::vector<CodepointClass> classes_;
};

}  // namespace

Result<Grammar> parse_gbnf(std::string_view text, std::string_view root, const GrammarLimits& limits) {
  Parser parser(text, limits);
  return parser.run(root);
}

}  // namespace hearth::grammar
