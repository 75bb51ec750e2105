// The GBNF parser's refusals, and the token-mask matcher held against the obvious reference: a
// fresh matcher replaying the accepted tokens and then trying each token of the vocabulary.
#include <gtest/gtest.h>

#include <random>

#include "grammar/grammar.h"
#include "grammar/matcher.h"

namespace hearth::grammar {
namespace {

std::shared_ptr<const CompiledGrammar> compile(std::string_view text, std::shared_ptr<const TokenVocab> vocab) {
  auto g = parse_gbnf(text);
  EXPECT_TRUE(g.ok()) << g.error().message;
  return std::make_shared<CompiledGrammar>(std::move(*g), std::move(vocab));
}

// Whole-string acceptance through accept_bytes, split at every byte.
bool matches(std::string_view gbnf, std::string_view text) {
  auto vocab = std::make_shared<TokenVocab>(std::vector<std::string>{"x"}, std::vector<int32_t>{}, std::vector<int32_t>{});
  auto g = parse_gbnf(gbnf);
  if (!g.ok()) ADD_FAILURE() << g.error().message;
  GrammarMatcher m(std::make_shared<CompiledGrammar>(std::move(*g), vocab));
  for (char c : text)
    if (!m.accept_bytes(std::string_view(&c, 1))) return false;
  return m.can_finish();
}

TEST(Gbnf, MatchesWhatItSays) {
  EXPECT_TRUE(matches(R"(root ::= "ab" | "c")", "ab"));
  EXPECT_TRUE(matches(R"(root ::= "ab" | "c")", "c"));
  EXPECT_FALSE(matches(R"(root ::= "ab" | "c")", "a"));
  EXPECT_FALSE(matches(R"(root ::= "ab" | "c")", "abc"));
  EXPECT_TRUE(matches(R"(root ::= [a-c]+ "!")", "abcab!"));
  EXPECT_FALSE(matches(R"(root ::= [a-c]+ "!")", "!"));
  EXPECT_TRUE(matches(R"(root ::= [^a]*)", "xyz\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_FALSE(matches(R"(root ::= [^a]*)", "xa"));
  EXPECT_FALSE(matches(R"(root ::= [^a]*)", "\xC3"));           // half a character
  EXPECT_FALSE(matches(R"(root ::= .)", "\xC0\x80"));           // overlong
  EXPECT_FALSE(matches(R"(root ::= .)", "\xED\xA0\x80"));       // a surrogate
  EXPECT_TRUE(matches(R"(root ::= [\u00e9-\u00ff])", "\xC3\xA9"));
  EXPECT_FALSE(matches(R"(root ::= [\u00e9-\u00ff])", "\xC3\xA8"));
  EXPECT_TRUE(matches("root ::= x{2,3}\nx ::= \"ab\"", "abab"));
  EXPECT_TRUE(matches("root ::= x{2,3}\nx ::= \"ab\"", "ababab"));
  EXPECT_FALSE(matches("root ::= x{2,3}\nx ::= \"ab\"", "ab"));
  EXPECT_FALSE(matches("root ::= x{2,3}\nx ::= \"ab\"", "abababab"));
  EXPECT_TRUE(matches("root ::= \"a\"{2,}", "aaaaa"));
  EXPECT_TRUE(matches("root ::= (\"a\" | \"b\"\n   | \"c\")? \"d\"  # comment\n", "cd"));
  EXPECT_TRUE(matches("root ::= (\"a\" | \"b\"\n   | \"c\")? \"d\"  # comment\n", "d"));
  EXPECT_TRUE(matches("root ::= list\nlist ::= \"[\" (item (\",\" item)*)? \"]\"\nitem ::= [0-9] | list", "[1,[2,[]],3]"));
  EXPECT_FALSE(matches("root ::= list\nlist ::= \"[\" (item (\",\" item)*)? \"]\"\nitem ::= [0-9] | list", "[1,[2,]"));
  EXPECT_TRUE(matches(R"(root ::= "\x41\u00e9\n\"")", "A\xC3\xA9\n\""));
}

TEST(Gbnf, RefusesWhatCannotRun) {
  auto err = [](std::string_view text) {
    auto g = parse_gbnf(text);
    return g.ok() ? std::string("(accepted)") : g.error().message;
  };
  EXPECT_NE(err("root ::= x").find("never defines"), std::string::npos);
  EXPECT_NE(err("a ::= \"x\"").find("no 'root'"), std::string::npos);
  EXPECT_NE(err("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(err("root ::= a\na ::= b? a \"x\" | \"y\"\nb ::= \"z\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\" root").find("never finish"), std::string::npos);
  EXPECT_NE(err("root ::= [^\\x00-\\U0010FFFF]").find("never finish"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"{5,2}").find("max below min"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"{0,99999999}").find("repetition count"), std::string::npos);
  EXPECT_NE(err("root ::= \"abc").find("unterminated"), std::string::npos);
  EXPECT_NE(err("root ::= [abc").find("unterminated"), std::string::npos);
  EXPECT_NE(err("root ::= * \"a\"").find("follows nothing"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
  EXPECT_NE(err("root ::= [z-a]").find("backwards"), std::string::npos);
  EXPECT_NE(err("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
  std::string deep = "root ::= " + std::string(1000, '(') + "\"a\"" + std::string(1000, ')');
  EXPECT_NE(err(deep).find("deeper"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"{2}{3}").find("follows nothing"), std::string::npos);
  GrammarLimits small;
  small.max_elements = 1000;
  auto big = parse_gbnf("root ::= \"a\"{5000}", "root", small);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("too large"), std::string::npos);
  // Errors say where.
  EXPECT_NE(err("root ::= \"a\"\nx ::= )").find("line 2"), std::string::npos);
}

// A vocabulary with every 1- and 2-byte string over a small alphabet, some longer tokens, a
// multi-byte character split across tokens, and one end-of-generation token (id 0).
std::shared_ptr<const TokenVocab> test_vocab() {
  std::vector<std::string> pieces{"<eos>"};
  const std::string alphabet = "ab{}\":, 01\\n";
  for (char c : alphabet) pieces.emplace_back(1, c);
  for (char c : alphabet)
    for (char d : alphabet) pieces.push_back(std::string{c, d});
  for (const char* s : {"\"a\"", "\"ab\":", "{\"", "\"}", "aaaa", "abab", "\xC3", "\xA9", "\xC3\xA9", "\"\xC3\xA9\"", "1010", "\":\"",
                        "\xED\xA0", "\xED\x9F", "\xED\x9F\xBF", "\xF4\x90", "\xE0\x80", "\xC1", "\xC0", "\xF5"})
    pieces.emplace_back(s);
  return std::make_shared<TokenVocab>(std::move(pieces), std::vector<int32_t>{}, std::vector<int32_t>{0});
}

// Random walks through the grammar: at every step the mask equals the brute-force answer.
void check_against_reference(std::string_view gbnf, uint32_t seed, int steps) {
  auto vocab = test_vocab();
  auto g = compile(gbnf, vocab);
  std::mt19937 rng(seed);
  GrammarMatcher m(g);
  std::vector<int32_t> history;
  for (int step = 0; step < steps; ++step) {
    const TokenMask& mask = m.mask();
    std::vector<int32_t> allowed;
    for (int32_t t = 0; t < vocab->n_vocab(); ++t) {
      GrammarMatcher ref(g);
      for (int32_t h : history) ASSERT_TRUE(ref.accept(h));
      const bool ok = ref.accept(t);
      ASSERT_EQ(mask.test(t), ok) << "grammar " << gbnf << " after " << history.size() << " tokens, token '"
                                  << vocab->piece(t) << "'";
      if (ok) allowed.push_back(t);
    }
    if (allowed.empty()) break;
    const int32_t pick = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
    ASSERT_TRUE(m.accept(pick));
    history.push_back(pick);
    if (vocab->is_end(pick)) break;
  }
}

TEST(Matcher, MaskEqualsTheBruteForceAnswer) {
  const char* json_like = R"(root ::= obj
obj ::= "{" ws (pair ("," ws pair)*)? "}"
pair ::= str ws ":" ws val ws
val ::= str | num | obj | "[" ws (val ("," ws val)*)? "]"
str ::= "\"" ([^"\\] | "\\n")* "\""
num ::= "-"? [0-9]{1,4}
ws ::= " "?
)";
  for (uint32_t seed = 0; seed < 12; ++seed) check_against_reference(json_like, seed, 40);
  for (uint32_t seed = 0; seed < 4; ++seed) check_against_reference(R"(root ::= ("ab" | "a" "b"+ | [0-9]{2,5} ":")*)", seed, 30);
  for (uint32_t seed = 0; seed < 4; ++seed) check_against_reference("root ::= \"\\u00e9\"+ (\"a\" | \"\\\"\")", seed, 12);
  // Partial characters: a token that starts a surrogate (ED A0), an out-of-range (F4 90) or an
  // overlong (E0 80) sequence is never allowed, since nothing could complete it.
  for (uint32_t seed = 0; seed < 4; ++seed) check_against_reference("root ::= [^a]{1,6}", seed, 8);
}

TEST(Matcher, NoTokenThatNothingCouldComplete) {
  auto vocab = test_vocab();
  GrammarMatcher m(compile("root ::= [^a]+", vocab));
  const TokenMask& mask = m.mask();
  for (int32_t t = 0; t < vocab->n_vocab(); ++t) {
    const std::string_view p = vocab->piece(t);
    if (p == "\xED\xA0" || p == "\xF4\x90" || p == "\xE0\x80" || p == "\xC0" || p == "\xC1" || p == "\xF5") {
      EXPECT_FALSE(mask.test(t)) << "token " << t;
    }
    if (p == "\xED\x9F" || p == "\xC3") {
      EXPECT_TRUE(mask.test(t)) << "token " << t;
    }
  }
}

TEST(Matcher, AnEmptyClassLeavesNoDeadEnd) {
  auto vocab = test_vocab();
  GrammarMatcher m(compile("root ::= \"a\" [\\uD800-\\uDFFF] | \"b\"", vocab));
  const TokenMask& mask = m.mask();
  for (int32_t t = 0; t < vocab->n_vocab(); ++t) EXPECT_EQ(mask.test(t), vocab->piece(t) == "b") << vocab->piece(t);
}

TEST(Matcher, HopelesslyAmbiguousGrammarsFailInsteadOfHanging) {
  // 4,000 copies of one class under a star: every byte keeps 4,000 parses alive.
  std::string alts;
  for (int i = 0; i < 4000; ++i) alts += (i ? " | " : "") + std::string("[^\"]");
  auto vocab = test_vocab();
  // Budgets lowered so the test costs little (the server's are 40M and 60M steps).
  auto g = parse_gbnf("root ::= (" + alts + ")*");
  ASSERT_TRUE(g.ok());
  GrammarMatcher m(std::make_shared<CompiledGrammar>(std::move(*g), vocab, 200'000, 300'000));
  EXPECT_TRUE(m.mask().words.empty() || m.failed());  // over the budget: the matcher fails
  EXPECT_TRUE(m.failed());
  // A rule of 100,000 alternatives after a prefix expands only up to the head bound.
  std::string many;
  for (int i = 0; i < 100000; ++i) many += (i ? " | " : "") + std::string("\"a\"");
  GrammarMatcher big(compile("root ::= \"{\" x\nx ::= " + many, vocab));
  big.mask();
  EXPECT_FALSE(big.accept_bytes("{a") && !big.failed());
}

TEST(Matcher, EndOfGenerationOnlyWhenFinished) {
  auto vocab = test_vocab();
  GrammarMatcher m(compile(R"(root ::= "ab")", vocab));
  EXPECT_FALSE(m.mask().test(0));
  EXPECT_FALSE(m.accept(0));
  EXPECT_TRUE(m.accept_bytes("ab"));
  EXPECT_TRUE(m.finished());
  const TokenMask& mask = m.mask();
  EXPECT_TRUE(mask.test(0));
  EXPECT_EQ(mask.count(), 1u);
  EXPECT_TRUE(m.accept(0));
}

}  // namespace
}  // namespace hearth::grammar
