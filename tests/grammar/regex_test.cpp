// regex_to_gbnf: errors for every unsupported feature and invalid pattern, limits on hostile input,
// well-formed output, and acceptance of regex_cases.h through a tiny test-only GBNF matcher (the
// expression subset the compiler emits, matched over code points by sets of end positions).
#include "grammar/regex.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "regex_cases.h"

namespace hearth::grammar {
namespace {

using CodePoints = std::vector<uint32_t>;

CodePoints decode_utf8(std::string_view s) {
  CodePoints out;
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<uint8_t>(s[i]);
    size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

// The canonical JSON encoding of a value (JSON.stringify's), without the quotes.
CodePoints json_encode(std::string_view value) {
  CodePoints out;
  for (uint32_t c : decode_utf8(value)) {
    const char* esc = c == '"'    ? "\\\""
                      : c == '\\' ? "\\\\"
                      : c == '\b' ? "\\b"
                      : c == '\f' ? "\\f"
                      : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t"
                                  : nullptr;
    if (esc != nullptr) {
      for (const char* p = esc; *p != 0; ++p) out.push_back(static_cast<uint8_t>(*p));
    } else if (c < 0x20) {
      std::string u = fmt::format("\\u{:04x}", c);
      for (char ch : u) out.push_back(static_cast<uint8_t>(ch));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ----- A tiny GBNF expression parser and matcher (test only) -----

struct G {
  enum Kind { kLiteral, kClass, kAny, kSeq, kAlt, kRepeat } kind;
  CodePoints text;                                    // kLiteral
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // kClass
  bool negated = false;
  std::vector<std::unique_ptr<G>> kids;  // kSeq, kAlt, kRepeat (1)
  uint32_t min = 0, max = 0;             // kRepeat, UINT32_MAX = unbounded
};

class GParser {
 public:
  explicit GParser(std::string_view s) : s_(s) {}
  // Null when the text is not one well-formed expression.
  std::unique_ptr<G> parse() {
    auto g = alt();
    skip();
    if (!ok_ || pos_ != s_.size()) return nullptr;
    return g;
  }

 private:
  void skip() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  uint32_t hex(size_t n) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      if (pos_ >= s_.size() || !isxdigit(static_cast<unsigned char>(s_[pos_]))) {
        ok_ = false;
        return 0;
      }
      char c = s_[pos_++];
      v = v * 16 + (isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
  }
  uint32_t chr() {
    if (pos_ >= s_.size()) {
      ok_ = false;
      return 0;
    }
    if (s_[pos_] != '\\') {
      CodePoints one = decode_utf8(s_.substr(pos_, 1));
      EXPECT_LT(static_cast<uint8_t>(s_[pos_]), 0x80) << "the output should be ASCII";
      ++pos_;
      return one[0];
    }
    ++pos_;
    if (pos_ >= s_.size()) {
      ok_ = false;
      return 0;
    }
    char e = s_[pos_++];
    switch (e) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'x':
        return hex(2);
      case 'u':
        return hex(4);
      case 'U':
        return hex(8);
      case '"':
      case '\\':
      case '[':
      case ']':
      case '-':
      case '^':
        return static_cast<uint8_t>(e);
      default:
        ok_ = false;
        return 0;
    }
  }
  std::unique_ptr<G> alt() {
    auto g = std::make_unique<G>();
    g->kind = G::kAlt;
    g->kids.push_back(seq());
    while (ok_ && eat('|')) g->kids.push_back(seq());
    return g;
  }
  std::unique_ptr<G> seq() {
    auto g = std::make_unique<G>();
    g->kind = G::kSeq;
    while (ok_) {
      skip();
      if (pos_ >= s_.size() || s_[pos_] == '|' || s_[pos_] == ')') break;
      auto item = primary();
      while (ok_ && item) item = postfix(std::move(item));
      if (!ok_) break;
      g->kids.push_back(std::move(last_));
    }
    if (g->kids.empty() && !allow_empty_seq_) ok_ = false;  // the compiler writes "" instead
    return g;
  }
  // Returns the item back while another postfix follows; stores the finished item in last_.
  std::unique_ptr<G> postfix(std::unique_ptr<G> item) {
    uint32_t min = 0, max = 0;
    if (pos_ < s_.size() && s_[pos_] == '*') {
      min = 0, max = UINT32_MAX, ++pos_;
    } else if (pos_ < s_.size() && s_[pos_] == '+') {
      min = 1, max = UINT32_MAX, ++pos_;
    } else if (pos_ < s_.size() && s_[pos_] == '?') {
      min = 0, max = 1, ++pos_;
    } else if (pos_ < s_.size() && s_[pos_] == '{') {
      ++pos_;
      min = number();
      max = min;
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        max = pos_ < s_.size() && isdigit(static_cast<unsigned char>(s_[pos_])) ? number()
                                                                                : UINT32_MAX;
      }
      if (pos_ >= s_.size() || s_[pos_] != '}' || max < min) ok_ = false;
      ++pos_;
    } else {
      last_ = std::move(item);
      return nullptr;
    }
    auto r = std::make_unique<G>();
    r->kind = G::kRepeat;
    r->min = min;
    r->max = max;
    r->kids.push_back(std::move(item));
    if (pos_ < s_.size() &&
        (s_[pos_] == '*' || s_[pos_] == '+' || s_[pos_] == '?' || s_[pos_] == '{')) {
      ok_ = false;  // the compiler parenthesises a repeated repetition
    }
    last_ = std::move(r);
    return nullptr;
  }
  uint32_t number() {
    uint32_t v = 0;
    bool any = false;
    while (pos_ < s_.size() && isdigit(static_cast<unsigned char>(s_[pos_]))) {
      v = v * 10 + (s_[pos_++] - '0');
      any = true;
    }
    if (!any) ok_ = false;
    return v;
  }
  std::unique_ptr<G> primary() {
    auto g = std::make_unique<G>();
    char c = s_[pos_];
    if (c == '"') {
      ++pos_;
      g->kind = G::kLiteral;
      while (ok_ && pos_ < s_.size() && s_[pos_] != '"') g->text.push_back(chr());
      if (pos_ >= s_.size()) ok_ = false;
      ++pos_;
    } else if (c == '[') {
      ++pos_;
      g->kind = G::kClass;
      if (pos_ < s_.size() && s_[pos_] == '^') g->negated = true, ++pos_;
      while (ok_ && pos_ < s_.size() && s_[pos_] != ']') {
        uint32_t lo = chr();
        uint32_t hi = lo;
        if (pos_ + 1 < s_.size() && s_[pos_] == '-' && s_[pos_ + 1] != ']') {
          ++pos_;
          hi = chr();
        }
        if (hi < lo) ok_ = false;
        g->ranges.push_back({lo, hi});
      }
      if (pos_ >= s_.size() || g->ranges.empty()) ok_ = false;
      ++pos_;
    } else if (c == '.') {
      ++pos_;
      g->kind = G::kAny;
    } else if (c == '(') {
      ++pos_;
      g = alt();
      if (!eat(')')) ok_ = false;
    } else {
      ok_ = false;
    }
    return g;
  }

  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
  bool allow_empty_seq_ = false;
  std::unique_ptr<G> last_;
};

using Positions = std::set<size_t>;

Positions match(const G& g, const CodePoints& t, const Positions& starts) {
  Positions out;
  switch (g.kind) {
    case G::kLiteral:
      for (size_t p : starts) {
        if (p + g.text.size() <= t.size() &&
            std::equal(g.text.begin(), g.text.end(), t.begin() + p)) {
          out.insert(p + g.text.size());
        }
      }
      return out;
    case G::kClass:
    case G::kAny:
      for (size_t p : starts) {
        if (p >= t.size()) continue;
        bool in = g.kind == G::kAny;
        for (auto [lo, hi] : g.ranges) in = in || (t[p] >= lo && t[p] <= hi);
        if (in != g.negated || g.kind == G::kAny) out.insert(p + 1);
      }
      return out;
    case G::kSeq: {
      Positions cur = starts;
      for (const auto& k : g.kids) cur = match(*k, t, cur);
      return cur;
    }
    case G::kAlt:
      for (const auto& k : g.kids) {
        Positions e = match(*k, t, starts);
        out.insert(e.begin(), e.end());
      }
      return out;
    case G::kRepeat: {
      Positions cur = starts;
      if (g.min == 0) out = cur;
      for (uint32_t n = 1; n <= g.max && !cur.empty(); ++n) {
        cur = match(*g.kids[0], t, cur);
        if (n >= g.min) {
          size_t before = out.size();
          out.insert(cur.begin(), cur.end());
          if (g.max == UINT32_MAX && n > g.min && out.size() == before) break;  // fixpoint
        }
      }
      return out;
    }
  }
  return out;
}

bool accepts(const std::string& gbnf, const CodePoints& text) {
  std::unique_ptr<G> g = GParser(gbnf).parse();
  if (!g) return false;
  return match(*g, text, {0}).count(text.size()) > 0;
}

// Outer parentheses, balanced quotes, brackets and parentheses outside literals and classes.
bool well_formed(const std::string& s) {
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return false;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"' || c == '[') {
      char close = c == '"' ? '"' : ']';
      for (++i; i < s.size() && s[i] != close; ++i) {
        if (s[i] == '\\') ++i;
      }
      if (i >= s.size()) return false;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return false;
      if (depth == 0 && i + 1 != s.size()) return false;  // one expression
    } else if (c == ']') {
      return false;
    }
  }
  return depth == 0 && GParser(s).parse() != nullptr;
}

// The deepest parenthesis nesting outside literals and classes.
int paren_depth(const std::string& s) {
  int depth = 0;
  int deepest = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"' || s[i] == '[') {
      char close = s[i] == '"' ? '"' : ']';
      for (++i; i < s.size() && s[i] != close; ++i) {
        if (s[i] == '\\') ++i;
      }
    } else if (s[i] == '(') {
      deepest = std::max(deepest, ++depth);
    } else if (s[i] == ')') {
      --depth;
    }
  }
  return deepest;
}

std::string compile(std::string_view pattern, RegexTarget target = RegexTarget::kRaw) {
  Result<std::string> r = regex_to_gbnf(pattern, target);
  return r.ok() ? *r : "ERROR: " + r.error().message;
}

std::string head(std::string_view s) { return std::string(s.substr(0, 200)); }

// Expects an error whose message contains `what`, for one target or (by default) both.
void expect_error(std::string_view pattern, std::string_view what,
                  std::optional<RegexTarget> only = std::nullopt) {
  for (RegexTarget t : {RegexTarget::kRaw, RegexTarget::kJsonStringContent}) {
    if (only && t != *only) continue;
    Result<std::string> r = regex_to_gbnf(pattern, t);
    ASSERT_FALSE(r.ok()) << head(pattern) << " compiled to " << head(*r);
    EXPECT_NE(r.error().message.find(what), std::string::npos)
        << head(pattern) << ": " << r.error().message;
  }
}

bool raw_accepts(std::string_view pattern, std::string_view text) {
  std::string g = compile(pattern);
  EXPECT_TRUE(well_formed(g)) << pattern << " -> " << g;
  return accepts(g, decode_utf8(text));
}

bool json_accepts(std::string_view pattern, std::string_view value) {
  std::string g = compile(pattern, RegexTarget::kJsonStringContent);
  EXPECT_TRUE(well_formed(g)) << pattern << " -> " << g;
  return accepts(g, json_encode(value));
}

// The JSON encoding text itself (already encoded), for non-canonical encodings.
bool json_accepts_encoded(std::string_view pattern, std::string_view encoded) {
  return accepts(compile(pattern, RegexTarget::kJsonStringContent), decode_utf8(encoded));
}

TEST(Regex, Cases) {
  for (const test::RegexCase& c : test::kRegexCases) {
    bool json = std::string_view(c.target) == "json";
    RegexTarget target = json ? RegexTarget::kJsonStringContent : RegexTarget::kRaw;
    std::string g = compile(c.pattern, target);
    ASSERT_TRUE(well_formed(g)) << c.pattern << " -> " << g;
    auto encode = [&](const char* s) { return json ? json_encode(s) : decode_utf8(s); };
    EXPECT_TRUE(accepts(g, encode(c.matching)))
        << c.pattern << " (" << c.target << ") should match '" << c.matching << "': " << g;
    EXPECT_FALSE(accepts(g, encode(c.non_matching)))
        << c.pattern << " (" << c.target << ") should not match '" << c.non_matching << "': " << g;
  }
}

TEST(Regex, OutputIsOneParenthesisedExpression) {
  for (const char* p : {"a", "", "a|b", "(a|b)*c", "[^\"\\\\]+", "\\d{2,5}", "^$", "a??"}) {
    for (RegexTarget t : {RegexTarget::kRaw, RegexTarget::kJsonStringContent}) {
      std::string g = compile(p, t);
      EXPECT_TRUE(well_formed(g)) << p << " -> " << g;
    }
  }
}

TEST(Regex, EmptyPatterns) {
  EXPECT_TRUE(raw_accepts("", ""));
  EXPECT_FALSE(raw_accepts("", "a"));
  EXPECT_TRUE(json_accepts("", "anything"));  // unanchored: the empty match is everywhere
  EXPECT_TRUE(json_accepts("a*", "bbb"));
  EXPECT_TRUE(json_accepts("^a*", "bbb"));
  EXPECT_FALSE(json_accepts("^a*$", "bbb"));
  EXPECT_TRUE(json_accepts("^$", ""));
}

TEST(Regex, NulAndControlCharacters) {
  std::string nul(1, '\0');
  EXPECT_TRUE(raw_accepts("\\0", nul));
  EXPECT_TRUE(raw_accepts("[\\0-\\x1f]", nul));
  EXPECT_TRUE(json_accepts("^\\0$", nul));
  EXPECT_TRUE(json_accepts("^.$", nul));
  EXPECT_TRUE(json_accepts_encoded("^\\x7f$", "\x7f"));     // DEL needs no escape
  EXPECT_FALSE(json_accepts_encoded("^[^a]$", "\\u0061"));  // a is not admitted
  EXPECT_FALSE(json_accepts_encoded("^[^a]$", "\""));       // raw quote is not valid content
  EXPECT_FALSE(json_accepts_encoded("^.$", "\\n"));         // \n is excluded by `.`
  EXPECT_FALSE(json_accepts_encoded("^.*$", "\\"));         // lone backslash
  EXPECT_TRUE(json_accepts_encoded("^.$", "\\u001f"));
  EXPECT_TRUE(json_accepts_encoded("x", "\\u0000\\\"\\\\x\\ud83d\\ude00"));  // any prefix escapes
  EXPECT_FALSE(json_accepts_encoded("n", "\\n"));  // a match never starts inside an escape
  EXPECT_TRUE(json_accepts_encoded("n", "\\\\n"));
}

TEST(Regex, NullableStarsAreNormalised) {
  // (a*)* and friends must not print a star over something that can match "".
  for (const char* p :
       {"(a*)*", "(a?b?)+", "(a|b*)*", "(a{0,3}){2,}", "((a*)*)*", "(|a)*", "(?:)*", "(a*|b)+c"}) {
    std::string g = compile(p);
    ASSERT_TRUE(well_formed(g)) << p << " -> " << g;
    EXPECT_EQ(g.find("*)*"), std::string::npos) << p << " -> " << g;
    EXPECT_EQ(g.find("?)*"), std::string::npos) << p << " -> " << g;
    EXPECT_EQ(g.find("?)+"), std::string::npos) << p << " -> " << g;
  }
  EXPECT_TRUE(raw_accepts("(a?b?)+", "babba"));
  EXPECT_TRUE(raw_accepts("(a?b?)+", ""));
  EXPECT_TRUE(raw_accepts("(a{0,3}){2,}", "aaaaaaa"));
  EXPECT_TRUE(raw_accepts("(a*|b)+c", "abbac"));
}

// Beyond ECMAScript's u mode, as Python's re allows: identity escapes of any ASCII punctuation
// outside classes, and (?P<name>...) groups.
TEST(Regex, LenientExtensions) {
  EXPECT_TRUE(raw_accepts("a\\-b\\\"c\\'d\\:\\#\\ ", "a-b\"c'd:# "));
  EXPECT_TRUE(raw_accepts("(?P<word>\\w+)", "abc"));
  EXPECT_TRUE(json_accepts("^\\\"$", "\""));
}

TEST(Regex, UnsupportedFeatures) {
  expect_error("(a)\\1", "backreference '\\1'");
  expect_error("(?<x>a)\\k<x>", "backreference '\\k'");
  expect_error("(?P<x>a)(?P=x)", "backreference '(?P='");
  expect_error("a(?=b)", "lookahead");
  expect_error("a(?!b)", "lookahead");
  expect_error("(?<=a)b", "lookbehind");
  expect_error("(?<!a)b", "lookbehind");
  expect_error("\\bword", "word boundary");
  expect_error("a\\B", "word boundary");
  expect_error("(?i)abc", "inline flags");
  expect_error("(?i:abc)", "inline flags");
  expect_error("\\p{L}", "Unicode property");
  expect_error("[\\P{L}]", "Unicode property");
  expect_error("a^b", "'^'");
  expect_error("(^a)", "'^'");
  expect_error("a$b", "'$'");
  expect_error("(a$)", "'$'");
  expect_error("^^a", "'^'");
  expect_error("\\a", "unsupported escape");
  expect_error("\\Z", "unsupported escape");
}

TEST(Regex, ErrorsNameTheOffset) {
  Result<std::string> r = regex_to_gbnf("abc(?=x)", RegexTarget::kRaw);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("offset 3"), std::string::npos) << r.error().message;
  r = regex_to_gbnf("é\\1", RegexTarget::kRaw);  // byte offsets
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("offset 2"), std::string::npos) << r.error().message;
}

TEST(Regex, InvalidPatterns) {
  expect_error("(ab", "unterminated group");
  expect_error("ab)", "unmatched ')'");
  expect_error("[abc", "unterminated character class");
  expect_error("[z-a]", "out of order");
  expect_error("[\\d-z]", "range bound");
  expect_error("a{3,2}", "out of order");
  expect_error("*a", "nothing to repeat");
  expect_error("a|+", "nothing to repeat");
  expect_error("a**", "nothing to repeat");
  expect_error("a{2}{3}", "nothing to repeat");
  expect_error("a*??", "nothing to repeat");
  expect_error("^*", "nothing to repeat");
  expect_error("a{", "quantifier");
  expect_error("a{1", "quantifier");
  expect_error("a{,3}", "quantifier");
  expect_error("{", "lone '{'");
  expect_error("a}", "lone '}'");
  expect_error("a]", "lone ']'");
  expect_error("a\\", "trailing backslash");
  expect_error("\\x4", "hexadecimal");
  expect_error("\\u12", "hexadecimal");
  expect_error("\\u{110000}", "\\u{...}");
  expect_error("\\u{}", "\\u{...}");
  expect_error("\\c1", "control escape");
  expect_error("\\01", "octal");
  expect_error("(?<>a)", "group name");
  expect_error("(?<a-b>a)", "group name");
  expect_error("[]", "never match");
  expect_error("a[^\\s\\S]", "never match");
  expect_error(std::string("a\xff"), "invalid UTF-8");
  expect_error(std::string("\xc3"), "invalid UTF-8");
  expect_error(std::string("\xc0\xaf"), "invalid UTF-8");      // overlong
  expect_error(std::string("\xed\xa0\x80"), "invalid UTF-8");  // surrogate
}

TEST(Regex, Limits) {
  expect_error("a{1001}", "over 1000");
  expect_error("a{1,1001}", "over 1000");
  expect_error("a{1001,}", "over 1000");
  expect_error("a{99999999999999999999}", "over 1000");
  EXPECT_TRUE(raw_accepts("a{1000}", std::string(1000, 'a')));
  expect_error("(a{1000}){1000}", "too large");
  expect_error("((a{100}){100}){100}", "too large");
  expect_error(std::string(kRegexMaxPatternBytes + 1, 'a'), "too long");
  expect_error(
      std::string(kRegexMaxGroupDepth + 1, '(') + std::string(kRegexMaxGroupDepth + 1, ')'),
      "nested deeper");
  // At the depth limit the output nests at most 4 levels deeper than the groups (GBNF parsers
  // limit nesting too), whatever the shapes inside.
  for (const char* open : {"(", "(?:a|", "(a*|b)?(?:\\W|"}) {
    for (const char* close : {")", ")*", "|\\s)?", ")c"}) {
      std::string p;
      for (int i = 0; i < kRegexMaxGroupDepth; ++i) p += open;
      p += "[^\"]";
      for (int i = 0; i < kRegexMaxGroupDepth; ++i) p += close;
      for (RegexTarget t : {RegexTarget::kRaw, RegexTarget::kJsonStringContent}) {
        std::string g = compile(p, t);
        ASSERT_TRUE(well_formed(g)) << head(p) << " -> " << head(g);
        EXPECT_LE(paren_depth(g), kRegexMaxGroupDepth + 4) << head(p);
      }
    }
  }
  EXPECT_TRUE(raw_accepts(std::string(100, '(') + "a" + std::string(100, ')'), "a"));
  // Output size: `.` prints ~100 bytes in JSON mode (plain class, escapes, \u00xx forms).
  std::string dots(15000, '.');
  EXPECT_TRUE(regex_to_gbnf(dots, RegexTarget::kRaw).ok());
  expect_error(dots, "too large", RegexTarget::kJsonStringContent);
}

TEST(Regex, HostilePatternsCompile) {
  for (const char* p :
       {"(a+)+$", "(a|a)*b", "(a|aa)+$", "^(a+)+$", "(.*a){20}", "(x+x+)+y", "((a*)*)*b",
        "(\\w+\\s?)*$", "^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*$"}) {
    for (RegexTarget t : {RegexTarget::kRaw, RegexTarget::kJsonStringContent}) {
      std::string g = compile(p, t);
      EXPECT_TRUE(well_formed(g)) << p << " -> " << g;
    }
  }
  EXPECT_TRUE(raw_accepts("(a+)+$", "aaaaaaaaaaaaaaaaaaaaaaaa"));
  EXPECT_FALSE(raw_accepts("(a|a)*b", "aaaaaaaaaaaaaaaaaaaaaaaa"));
}

// Random byte strings over regex syntax: never a crash, and every success is well formed.
TEST(Regex, FuzzNeverCrashes) {
  const std::string alphabet = "ab()[]{}|*+?^$.\\-,0123dDwWsSuxpk<>=!:P\"é";
  std::mt19937 rng(1234);
  int compiled = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string p;
    size_t len = rng() % 16;
    for (size_t k = 0; k < len; ++k) {
      size_t at = rng() % alphabet.size();
      p += alphabet[at];
    }
    for (RegexTarget t : {RegexTarget::kRaw, RegexTarget::kJsonStringContent}) {
      Result<std::string> r = regex_to_gbnf(p, t);
      if (!r.ok()) {
        EXPECT_FALSE(r.error().message.empty());
        continue;
      }
      ++compiled;
      ASSERT_TRUE(well_formed(*r)) << p << " -> " << *r;
    }
  }
  EXPECT_GT(compiled, 1000);
}

}  // namespace
}  // namespace hearth::grammar
