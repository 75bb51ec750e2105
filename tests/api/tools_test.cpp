// Tool requests and their grammars: what parse_tools refuses, and that the grammars built from
// separately compiled pieces (prefix_rules) and per family accept the calls the output parser
// reads back as valid calls.
#include <gtest/gtest.h>

#include "api/structured.h"
#include "api/tools.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"

namespace hearth::api {
namespace {

bool accepts(const std::string& gbnf, std::string_view text) {
  auto g = grammar::parse_gbnf(gbnf);
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.error().message) << "\n" << gbnf;
  if (!g.ok()) return false;
  auto vocab = std::make_shared<grammar::TokenVocab>(std::vector<std::string>{}, std::vector<int32_t>{},
                                                     std::vector<int32_t>{});
  grammar::GrammarMatcher m(std::make_shared<grammar::CompiledGrammar>(std::move(*g), vocab));
  return m.accept_bytes(text) && m.can_finish();
}

TEST(PrefixRules, RenamesRulesNotTextInsideLiteralsOrClasses) {
  const std::string g = "root ::= \"root \" item [root]\nitem ::= \"item\" | root-2\nroot-2 ::= \"x\\\"root\"\n";
  const std::string renamed = prefix_rules(g, "p-");
  EXPECT_NE(renamed.find("p-root ::="), std::string::npos);
  EXPECT_NE(renamed.find("p-item"), std::string::npos);
  const std::string wrapped = "root ::= p-root\n" + renamed;
  for (std::string_view text : {"root itemr", "root x\"rooto", "root itemt"}) EXPECT_EQ(accepts(wrapped, text), accepts(g, text)) << text;
}

ToolRequest two_tools(ToolRequest::Choice choice) {
  nlohmann::ordered_json body = nlohmann::ordered_json::parse(R"({"tools": [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string", "maxLength": 8}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
      "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}]})");
  auto r = parse_tools(body);
  EXPECT_TRUE(std::holds_alternative<std::optional<ToolRequest>>(r));
  ToolRequest t = *std::get<std::optional<ToolRequest>>(r);
  t.choice = choice;
  return t;
}

TEST(ToolGrammar, EachFamilysForcedGrammarTakesItsOwnCallSyntax) {
  const ToolRequest tools = two_tools(ToolRequest::Choice::kRequired);
  const std::pair<chat::ToolCallFormat, std::string> calls[] = {
      {chat::ToolCallFormat::kHermes, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\":1,\"b\":2}}\n</tool_call>"},
      {chat::ToolCallFormat::kLlama3Json, "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"Oslo\"}}"},
      {chat::ToolCallFormat::kMistral, "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\":1,\"b\":2}}]"},
      {chat::ToolCallFormat::kGptOss, "<|channel|>commentary to=functions.add <|constrain|>json<|message|>{\"a\":1,\"b\":2}"},
      {chat::ToolCallFormat::kQwen3CoderXml,
       "<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n<parameter=unit>\nc\n</parameter>\n"
       "</function>\n</tool_call>"},
  };
  for (const auto& [format, call] : calls) {
    auto g = tool_call_grammar(format, tools);
    ASSERT_TRUE(g.ok() && *g) << chat::to_string(format);
    EXPECT_TRUE((*g)->after.empty());
    EXPECT_TRUE(accepts((*g)->gbnf, call)) << chat::to_string(format) << ": " << call;
    // Arguments outside the schema are not calls the grammar can produce.
    std::string bad = call;
    bad.replace(bad.find("Oslo") != std::string::npos ? bad.find("Oslo") : bad.find("1"), 1,
                bad.find("Oslo") != std::string::npos ? "OsloOsloO" : "\"");
    EXPECT_FALSE(accepts((*g)->gbnf, bad)) << chat::to_string(format) << ": " << bad;
  }
  // auto: the grammar waits for the opener and then holds one call to the syntax.
  auto lazy = tool_call_grammar(chat::ToolCallFormat::kHermes, two_tools(ToolRequest::Choice::kAuto));
  ASSERT_TRUE(lazy.ok() && *lazy);
  EXPECT_EQ((*lazy)->after, "<tool_call>");
  EXPECT_TRUE(accepts((*lazy)->gbnf, "\n{\"name\": \"add\", \"arguments\": {\"a\":1,\"b\":2}}\n</tool_call>"));
  auto lazy_xml = tool_call_grammar(chat::ToolCallFormat::kQwen3CoderXml, two_tools(ToolRequest::Choice::kAuto));
  ASSERT_TRUE(lazy_xml.ok() && *lazy_xml);
  EXPECT_EQ((*lazy_xml)->after, "<tool_call>");
  EXPECT_TRUE(accepts((*lazy_xml)->gbnf, "\n<function=add>\n<parameter=a>\n1\n</parameter>\n<parameter=b>\n2\n</parameter>\n"
                                          "</function>\n</tool_call>"));
  // Every family's auto grammar (where it has one) compiles.
  for (auto f : {chat::ToolCallFormat::kHermes, chat::ToolCallFormat::kMistral, chat::ToolCallFormat::kDeepSeekV3,
                 chat::ToolCallFormat::kGptOss, chat::ToolCallFormat::kQwen3CoderXml}) {
    auto g = tool_call_grammar(f, two_tools(ToolRequest::Choice::kAuto));
    ASSERT_TRUE(g.ok() && *g) << chat::to_string(f);
    EXPECT_TRUE(grammar::parse_gbnf((*g)->gbnf).ok()) << chat::to_string(f) << "\n" << (*g)->gbnf;
  }
  // No call syntax to force in a format without one.
  EXPECT_FALSE(tool_call_grammar(chat::ToolCallFormat::kNone, tools).ok());
}

TEST(ToolRequests, RefusedWithTheReason) {
  auto error = [](const char* text) {
    auto r = parse_tools(nlohmann::ordered_json::parse(text));
    return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).message : std::string("(accepted)");
  };
  EXPECT_NE(error(R"({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]})")
                .find("describe an object"), std::string::npos);
  EXPECT_NE(error(R"({"tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]})")
                .find("distinct"), std::string::npos);
  EXPECT_NE(error(R"({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}})")
                .find("not among"), std::string::npos);
  EXPECT_NE(error(R"({"tool_choice": "required"})").find("no tools"), std::string::npos);
  EXPECT_NE(error(R"({"tools": [{"type": "code_interpreter"}]})").find("only 'function'"), std::string::npos);
  EXPECT_EQ(error(R"({"tools": [], "tool_choice": "none"})"), "(accepted)");
}

}  // namespace
}  // namespace hearth::api
