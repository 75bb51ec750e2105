// Model-output parsers: recorded-style outputs per family (well-formed and broken), each parsed
// whole and in pieces of every size 1..n, which must all agree; format detection on fragments of
// the real chat templates (and on the files in shared/testdata/chat_templates when present).
#include "chat/output_parser.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

namespace hearth::chat {
namespace {

struct Parsed {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> calls;
};

void add(Parsed& parsed, OutputDelta delta) {
  parsed.content += delta.content;
  parsed.reasoning += delta.reasoning;
  for (ToolCall& call : delta.calls) parsed.calls.push_back(std::move(call));
}

struct Config {
  explicit Config(OutputFormats f, std::vector<std::string> t = {"get_weather", "get_time"})
      : formats(f), tools(std::move(t)) {}
  OutputFormats formats;
  std::vector<std::string> tools;
  bool starts_in_reasoning = false;
  OutputParserOptions extra;
  OutputParserOptions options() const {
    OutputParserOptions o = extra;
    o.id_seed = 7;
    return o;
  }
};

// Cuts at the given offsets (sorted, inside the text).
Parsed run_cuts(const Config& setup, std::string_view text, const std::vector<size_t>& cuts) {
  OutputParser parser(setup.formats, setup.tools, setup.starts_in_reasoning, setup.options());
  Parsed parsed;
  size_t from = 0;
  for (size_t cut : cuts) {
    add(parsed, parser.feed(text.substr(from, cut - from)));
    from = cut;
  }
  add(parsed, parser.feed(text.substr(from)));
  add(parsed, parser.finish());
  return parsed;
}

Parsed run_pieces(const Config& setup, std::string_view text, size_t piece) {
  std::vector<size_t> cuts;
  for (size_t at = piece; at < text.size(); at += piece) cuts.push_back(at);
  return run_cuts(setup, text, cuts);
}

void expect_same(const Parsed& a, const Parsed& b, const std::string& how) {
  EXPECT_EQ(a.content, b.content) << how;
  EXPECT_EQ(a.reasoning, b.reasoning) << how;
  EXPECT_EQ(a.calls, b.calls) << how;
}

// Parses `text` whole, in pieces of every size 1..n and at random cuts; all must agree.
Parsed parse(const Config& setup, std::string_view text) {
  Parsed whole = run_cuts(setup, text, {});
  for (size_t piece = 1; piece < text.size(); ++piece) {
    expect_same(whole, run_pieces(setup, text, piece), "piece size " + std::to_string(piece));
  }
  std::mt19937 rng(1);
  for (int trial = 0; trial < 20 && text.size() > 1; ++trial) {
    std::vector<size_t> cuts;
    for (size_t at = 1; at < text.size(); ++at) {
      if (rng() % 4 == 0) cuts.push_back(at);
    }
    expect_same(whole, run_cuts(setup, text, cuts), "random cuts, trial " + std::to_string(trial));
  }
  return whole;
}

// The order in which content (c), reasoning (r) and calls (name) appear, fed byte by byte.
std::string event_order(const Config& setup, std::string_view text) {
  OutputParser parser(setup.formats, setup.tools, setup.starts_in_reasoning, setup.options());
  std::string order;
  auto note = [&](const OutputDelta& d) {
    auto mark = [&](const std::string& tag) {
      if (order.size() < tag.size() || order.substr(order.size() - tag.size()) != tag) order += tag;
    };
    if (!d.reasoning.empty()) mark("r ");
    if (!d.content.empty()) mark("c ");
    for (const ToolCall& call : d.calls) order += call.name + " ";
  };
  for (char c : text) note(parser.feed(std::string_view(&c, 1)));
  note(parser.finish());
  return order;
}

std::string call_summary(const std::vector<ToolCall>& calls) {
  std::string out;
  for (const ToolCall& call : calls) out += call.name + call.arguments + ";";
  return out;
}

const Config kHermes{OutputFormats{ToolCallFormat::kHermes, ReasoningFormat::kThinkTags}};
const Config kLlama{OutputFormats{ToolCallFormat::kLlama3Json, ReasoningFormat::kNone}};
const Config kMistral{OutputFormats{ToolCallFormat::kMistral, ReasoningFormat::kNone}};
const Config kDeepSeek{OutputFormats{ToolCallFormat::kDeepSeekV3, ReasoningFormat::kThinkTags}};
const Config kQwenCoder{OutputFormats{ToolCallFormat::kQwen3CoderXml, ReasoningFormat::kNone},
                        {"write_file", "get_weather"}};
const Config kGptOss{OutputFormats{ToolCallFormat::kGptOss, ReasoningFormat::kGptOss}};

// ---- Hermes (Qwen2.5 / Qwen3 / Hermes) ----

TEST(OutputParserHermes, OneCall) {
  Parsed p = parse(kHermes,
                   "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
                   "\"unit\": \"celsius\"}}\n</tool_call>");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"city":"Paris","unit":"celsius"})");
  EXPECT_EQ(p.calls[0].id.size(), 29u);
  EXPECT_TRUE(p.calls[0].id.starts_with("call_"));
}

TEST(OutputParserHermes, TextAndTwoCalls) {
  const char* text =
      "I'll check both for you.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
      "{\"city\": \"Paris\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"timezone\": "
      "\"Europe/Paris\"}}\n</tool_call>";
  Parsed p = parse(kHermes, text);
  EXPECT_EQ(p.content, "I'll check both for you.");
  EXPECT_EQ(call_summary(p.calls),
            R"(get_weather{"city":"Paris"};get_time{"timezone":"Europe/Paris"};)");
  EXPECT_NE(p.calls[0].id, p.calls[1].id);
  EXPECT_EQ(event_order(kHermes, text), "c get_weather get_time ");
}

TEST(OutputParserHermes, TextAfterCallStaysContent) {
  Parsed p = parse(kHermes,
                   "Checking.\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
                   "{}}\n</tool_call>\nDone, see above.");
  EXPECT_EQ(p.content, "Checking.Done, see above.");
  EXPECT_EQ(call_summary(p.calls), "get_time{};");
  EXPECT_EQ(event_order(kHermes,
                        "Checking.\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
                        "{}}\n</tool_call>\nDone."),
            "c get_time c ");
}

TEST(OutputParserHermes, Qwen3ThinkingThenCall) {
  const char* text =
      "<think>\nThe user wants the weather in Paris. I should call get_weather.\n</think>\n\n"
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>";
  Parsed p = parse(kHermes, text);
  EXPECT_EQ(p.reasoning, "The user wants the weather in Paris. I should call get_weather.");
  EXPECT_EQ(p.content, "");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};)");
  EXPECT_EQ(event_order(kHermes, text), "r get_weather ");
}

TEST(OutputParserHermes, ThinkingThenAnswer) {
  Parsed p = parse(kHermes, "\n<think>\nEasy: 2+2=4.\n</think>\n\nThe answer is **4**.\n");
  EXPECT_EQ(p.reasoning, "Easy: 2+2=4.");
  EXPECT_EQ(p.content, "The answer is **4**.\n");
}

TEST(OutputParserHermes, StartsInReasoning) {
  Config setup = kHermes;
  setup.starts_in_reasoning = true;
  Parsed p = parse(setup, "Okay, the user asks for the time.\n</think>\n\nIt is noon.");
  EXPECT_EQ(p.reasoning, "Okay, the user asks for the time.");
  EXPECT_EQ(p.content, "It is noon.");
  // </think> never came: it was all reasoning.
  Parsed q = parse(setup, "Still thinking about <tool_call> and more");
  EXPECT_EQ(q.reasoning, "Still thinking about <tool_call> and more");
  EXPECT_EQ(q.content, "");
  EXPECT_TRUE(q.calls.empty());
}

TEST(OutputParserHermes, UnknownToolIsContent) {
  const char* text =
      "<tool_call>\n{\"name\": \"launch_rocket\", \"arguments\": {\"target\": "
      "\"moon\"}}\n</tool_call>";
  Parsed p = parse(kHermes, text);
  EXPECT_EQ(p.content, text);
  EXPECT_TRUE(p.calls.empty());
}

TEST(OutputParserHermes, BadJsonIsContent) {
  const char* text =
      "Here:\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "Paris}}\n</tool_call>";
  Parsed p = parse(kHermes, text);
  EXPECT_EQ(p.content, text);
  EXPECT_TRUE(p.calls.empty());
}

TEST(OutputParserHermes, MissingNameIsContent) {
  const char* text = "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
  EXPECT_EQ(parse(kHermes, text).content, text);
  const char* array_args =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": [\"Paris\"]}\n</tool_call>";
  EXPECT_EQ(parse(kHermes, array_args).content, array_args);
}

TEST(OutputParserHermes, TruncatedCallIsContent) {
  const char* text =
      "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par";
  Parsed p = parse(kHermes, text);
  EXPECT_EQ(p.content, text);
  EXPECT_TRUE(p.calls.empty());
}

TEST(OutputParserHermes, MissingClosingTagAtEndStillCalls) {
  Parsed p = parse(
      kHermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};)");
  EXPECT_EQ(p.content, "");
}

TEST(OutputParserHermes, ArgumentsAsJsonString) {
  Parsed p = parse(kHermes,
                   "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": "
                   "\\\"Paris\\\"}\"}\n</tool_call>");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};)");
}

TEST(OutputParserHermes, LookalikesAreContent) {
  const char* text =
      "Use a < b, then <tool> and <tool_cal";  // ends in a partial marker: text at finish
  Parsed p = parse(kHermes, text);
  EXPECT_EQ(p.content, text);
}

TEST(OutputParserHermes, UnicodeArgumentsKept) {
  Parsed p = parse(kHermes,
                   "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich "
                   "東京\"}}\n</tool_call>");
  EXPECT_EQ(call_summary(p.calls), "get_weather{\"city\":\"Zürich 東京\"};");
}

TEST(OutputParserHermes, NoToolsOfferedMeansNoCalls) {
  Config setup = kHermes;
  setup.tools = {};
  const char* text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>";
  Parsed p = parse(setup, text);
  EXPECT_EQ(p.content, text);
  EXPECT_TRUE(p.calls.empty());
}

TEST(OutputParserHermes, ContentStreamsPromptly) {
  OutputParser parser(kHermes.formats, kHermes.tools, false, {});
  EXPECT_EQ(parser.feed("Hello").content, "Hello");
  EXPECT_EQ(parser.feed(" world, <to").content, " world,");  // the space waits for visible text
  EXPECT_EQ(parser.feed("day> ok").content, " <today> ok");
  EXPECT_EQ(parser.finish().content, "");
}

TEST(OutputParserHermes, MovableMidStream) {  // the server may keep parsers in a growing vector
  OutputParser first(kHermes.formats, kHermes.tools, false, {});
  EXPECT_EQ(first.feed("<think>plan").reasoning, "plan");
  OutputParser moved = std::move(first);
  OutputDelta delta = moved.feed(" more</think>\nanswer");
  EXPECT_EQ(delta.reasoning, " more");
  EXPECT_EQ(delta.content, "answer");
}

TEST(OutputParserPlain, NoFormatsPassesEverythingThrough) {
  Config setup{OutputFormats{ToolCallFormat::kNone, ReasoningFormat::kNone}};
  const char* text = "  <think>not parsed</think> <tool_call>{}</tool_call>\n\n";
  Parsed p = parse(setup, text);
  EXPECT_EQ(p.content, text);
  EXPECT_EQ(p.reasoning, "");
}

// ---- Llama 3.1 / 3.2 / 3.3 JSON ----

TEST(OutputParserLlama3, JsonCall) {
  Parsed p = parse(
      kLlama, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"San Francisco, CA\"}}");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"San Francisco, CA"};)");
  EXPECT_EQ(p.content, "");
}

TEST(OutputParserLlama3, PythonTagAndWhitespace) {
  Parsed p = parse(
      kLlama, "<|python_tag|>{\"name\": \"get_time\", \"parameters\": {\"timezone\": \"UTC\"}}");
  EXPECT_EQ(call_summary(p.calls), R"(get_time{"timezone":"UTC"};)");
  Parsed q = parse(kLlama, "\n\n{\"name\": \"get_time\", \"arguments\": {}}");
  EXPECT_EQ(call_summary(q.calls), "get_time{};");
  EXPECT_EQ(q.content, "");
}

TEST(OutputParserLlama3, SemicolonSeparatedCalls) {
  Parsed p = parse(kLlama,
                   "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": "
                   "\"get_time\", \"parameters\": {}}");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};get_time{};)");
}

TEST(OutputParserLlama3, JsonThatIsNotACallIsContent) {
  const char* text = "{\"answer\": 42, \"unit\": \"none\"}";
  EXPECT_EQ(parse(kLlama, text).content, text);
  const char* unknown = "{\"name\": \"launch_rocket\", \"parameters\": {}}";
  EXPECT_EQ(parse(kLlama, unknown).content, unknown);
}

TEST(OutputParserLlama3, OnlyAtTheStart) {
  const char* text =
      "The call would be {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
  Parsed p = parse(kLlama, text);
  EXPECT_EQ(p.content, text);
  EXPECT_TRUE(p.calls.empty());
}

TEST(OutputParserLlama3, TruncatedAndBuiltinToolsAreContent) {
  const char* truncated = "{\"name\": \"get_weather\", \"parameters\": {\"city\": ";
  EXPECT_EQ(parse(kLlama, truncated).content, truncated);
  const char* builtin = "<|python_tag|>brave_search.call(query=\"weather in Paris\")";
  EXPECT_EQ(parse(kLlama, builtin).content, builtin);
}

TEST(OutputParserLlama3, TextAfterCall) {
  Parsed p = parse(kLlama, "{\"name\": \"get_time\", \"parameters\": {}} and some trailing words");
  EXPECT_EQ(call_summary(p.calls), "get_time{};");
  EXPECT_EQ(p.content, "and some trailing words");
}

// ---- Mistral ----

TEST(OutputParserMistral, V3Array) {
  Parsed p = parse(
      kMistral,
      "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": "
      "\"a1b2c3d4e\"}, "
      "{\"name\": \"get_time\", \"arguments\": {\"timezone\": \"CET\"}, \"id\": \"f5g6h7i8j\"}]");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};get_time{"timezone":"CET"};)");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].id.size(), 9u);  // Mistral templates reject any other id length
  EXPECT_EQ(p.content, "");
}

TEST(OutputParserMistral, V3ArrayWithUnknownToolIsContent) {
  const char* text =
      "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {}}, {\"name\": \"nope\", "
      "\"arguments\": {}}]";
  Parsed p = parse(kMistral, text);
  EXPECT_EQ(p.content, text);
  EXPECT_TRUE(p.calls.empty());
}

TEST(OutputParserMistral, V11ArgsForm) {
  Parsed p = parse(kMistral,
                   "Let me look that up.[TOOL_CALLS]get_weather[ARGS]{\"city\": "
                   "\"Paris\"}[TOOL_CALLS]get_time[ARGS]{}");
  EXPECT_EQ(p.content, "Let me look that up.");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};get_time{};)");
}

TEST(OutputParserMistral, V11WithCallId) {  // Mistral Small 3.2
  Parsed p =
      parse(kMistral,
            "[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{\"city\": \"Paris\", \"days\": 3}");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris","days":3};)");
}

TEST(OutputParserMistral, BrokenCallsAreContent) {
  for (const char* text :
       {"[TOOL_CALLS]launch_rocket[ARGS]{\"target\": \"moon\"}",
        "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Par",
        "[TOOL_CALLS]get_weather[ARGS]{\"city\": Paris}",
        "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}",
        "[TOOL_CALLS]get weather"}) {
    Parsed p = parse(kMistral, text);
    EXPECT_EQ(p.content, text);
    EXPECT_TRUE(p.calls.empty()) << text;
  }
}

// ---- DeepSeek V3 / R1 / V3.1 ----

TEST(OutputParserDeepSeek, R1ThinkingAndTwoCalls) {
  const char* text =
      "<think>\nI need the weather and the time.\n</think>\n\n"
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"
      "\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n"
      "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{\"timezone\": "
      "\"CET\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  Parsed p = parse(kDeepSeek, text);
  EXPECT_EQ(p.reasoning, "I need the weather and the time.");
  EXPECT_EQ(p.content, "");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};get_time{"timezone":"CET"};)");
}

TEST(OutputParserDeepSeek, V31Form) {
  Parsed p = parse(
      kDeepSeek,
      "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": "
      "\"Paris\"}"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  EXPECT_EQ(p.content, "Let me check.");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};)");
}

TEST(OutputParserDeepSeek, MissingBlockEndAtFinish) {
  Parsed p = parse(
      kDeepSeek,
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<｜tool▁call▁end｜>");
  EXPECT_EQ(call_summary(p.calls), "get_time{};");
  EXPECT_EQ(p.content, "");
}

TEST(OutputParserDeepSeek, UnknownToolBlockIsContent) {
  const char* text =
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>launch_rocket\n```json\n{}"
      "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  Parsed p = parse(kDeepSeek, text);
  EXPECT_EQ(p.content, text);
  EXPECT_TRUE(p.calls.empty());
}

TEST(OutputParserDeepSeek, BadCallBesideGoodOne) {
  const char* bad = "<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": }<｜tool▁call▁end｜>";
  std::string text = std::string(
                         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<"
                         "｜tool▁call▁end｜>") +
                     bad + "<｜tool▁calls▁end｜>";
  Parsed p = parse(kDeepSeek, text);
  EXPECT_EQ(call_summary(p.calls), "get_time{};");
  EXPECT_EQ(p.content, bad);
}

TEST(OutputParserDeepSeek, TruncatedIsContent) {
  const char* text =
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"
      "\"city\": \"Pa";
  Parsed p = parse(kDeepSeek, text);
  EXPECT_EQ(p.content, text);
  EXPECT_TRUE(p.calls.empty());
}

// ---- Qwen3-Coder XML ----

TEST(OutputParserQwen3Coder, WriteFileWithSchema) {
  Config setup = kQwenCoder;
  setup.extra.parameter_schemas["write_file"] = nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}, "mode": {"type": ["integer", "null"]}}})");
  const char* text =
      "I'll create the "
      "file.\n<tool_call>\n<function=write_file>\n<parameter=path>\n42\n</parameter>\n"
      "<parameter=content>\nif a < b:\n    "
      "print(\"hi\")\n\n</parameter>\n<parameter=mode>\n644\n</parameter>\n</function>\n</"
      "tool_call>";
  Parsed p = parse(setup, text);
  EXPECT_EQ(p.content, "I'll create the file.");
  EXPECT_EQ(call_summary(p.calls),
            R"(write_file{"path":"42","content":"if a < b:\n    print(\"hi\")\n","mode":644};)");
}

TEST(OutputParserQwen3Coder, ValuesWithoutSchema) {
  Parsed p =
      parse(kQwenCoder,
            "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</"
            "parameter>\n<parameter=days>\n3\n</parameter>\n"
            "<parameter=options>\n{\"hourly\": true}\n</parameter>\n</function>\n</tool_call>");
  EXPECT_EQ(call_summary(p.calls),
            R"(get_weather{"city":"Paris","days":3,"options":{"hourly":true}};)");
}

TEST(OutputParserQwen3Coder, TwoCallsAndMissingWrapperEnd) {
  Parsed p = parse(
      kQwenCoder,
      "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</"
      "tool_call>\n"
      "<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n</parameter>\n</function>\n");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};get_weather{"city":"Rome"};)");
  EXPECT_EQ(p.content, "");
}

TEST(OutputParserQwen3Coder, BareFunctionWithoutWrapper) {
  Parsed p =
      parse(kQwenCoder,
            "Sure.\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Oslo"};)");
  EXPECT_EQ(p.content, "Sure.");
}

TEST(OutputParserQwen3Coder, BrokenCallsAreContent) {
  for (const char* text : {
           "<tool_call>\n<function=delete_everything>\n<parameter=path>\n/\n</parameter>\n</"
           "function>\n</tool_call>",
           "<tool_call>\n<function=write_file>\n<parameter=path>\nmain.py\n</"
           "parameter>\n<parameter=content>\nimport os\n",
           "<tool_call>\n<function=write_file>\n<param=path>\nx\n</param>\n</function>\n</"
           "tool_call>",
       }) {
    Parsed p = parse(kQwenCoder, text);
    EXPECT_EQ(p.content, text);
    EXPECT_TRUE(p.calls.empty()) << text;
  }
}

// ---- gpt-oss (harmony) ----

TEST(OutputParserGptOss, AnalysisThenCall) {
  const char* text =
      "<|channel|>analysis<|message|>User asks for the weather in Paris. Use get_weather.<|end|>"
      "<|start|>assistant<|channel|>commentary to=functions.get_weather "
      "<|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>";
  Parsed p = parse(kGptOss, text);
  EXPECT_EQ(p.reasoning, "User asks for the weather in Paris. Use get_weather.");
  EXPECT_EQ(p.content, "");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};)");
  EXPECT_EQ(event_order(kGptOss, text), "r get_weather ");
}

TEST(OutputParserGptOss, AnalysisThenFinal) {
  Parsed p = parse(kGptOss,
                   "<|channel|>analysis<|message|>Simple "
                   "greeting.<|end|><|start|>assistant<|channel|>final<|message|>"
                   "Hello! How can I help?<|return|>");
  EXPECT_EQ(p.reasoning, "Simple greeting.");
  EXPECT_EQ(p.content, "Hello! How can I help?");
}

TEST(OutputParserGptOss, RecipientBeforeChannelAndNoCallToken) {
  // Right after the prompt's "<|start|>assistant"; the server may have stripped the <|call|> stop
  // token.
  Parsed p =
      parse(kGptOss,
            " to=functions.get_time<|channel|>commentary json<|message|>{\"timezone\": \"UTC\"}");
  EXPECT_EQ(call_summary(p.calls), R"(get_time{"timezone":"UTC"};)");
  EXPECT_EQ(p.content, "");
}

TEST(OutputParserGptOss, PreambleThenCall) {
  const char* text =
      "<|channel|>commentary<|message|>Checking the weather "
      "now.<|end|><|start|>assistant<|channel|>commentary "
      "to=functions.get_weather<|message|>{\"city\": \"Paris\"}<|call|>";
  Parsed p = parse(kGptOss, text);
  EXPECT_EQ(p.content, "Checking the weather now.");
  EXPECT_EQ(call_summary(p.calls), R"(get_weather{"city":"Paris"};)");
  EXPECT_EQ(event_order(kGptOss, text), "c get_weather ");
}

TEST(OutputParserGptOss, BrokenCallsAreContent) {
  for (const char* call : {"<|start|>assistant<|channel|>commentary to=functions.launch_rocket "
                           "<|constrain|>json<|message|>{}<|call|>",
                           "<|start|>assistant<|channel|>commentary to=functions.get_weather "
                           "<|constrain|>json<|message|>{\"city\": Paris}<|call|>",
                           "<|start|>assistant<|channel|>commentary "
                           "to=browser.search<|message|>{\"query\": \"x\"}<|call|>",
                           "<|start|>assistant<|channel|>commentary "
                           "to=functions.get_weather<|message|>{\"city\": \"Pa"}) {
    std::string text = std::string("<|channel|>analysis<|message|>Hmm.<|end|>") + call;
    Parsed p = parse(kGptOss, text);
    EXPECT_EQ(p.reasoning, "Hmm.");
    EXPECT_EQ(p.content, call);
    EXPECT_TRUE(p.calls.empty()) << call;
  }
}

TEST(OutputParserGptOss, TruncatedFinalAndPlainText) {
  Parsed p = parse(kGptOss,
                   "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|"
                   "message|>The answer is");
  EXPECT_EQ(p.reasoning, "Think.");
  EXPECT_EQ(p.content, "The answer is");
  Parsed q = parse(kGptOss, "Hello there, no harmony here.");
  EXPECT_EQ(q.content, "Hello there, no harmony here.");
  Parsed r = parse(kGptOss, "<|channel|>analysis<|message|>never finished thinking");
  EXPECT_EQ(r.reasoning, "never finished thinking");
}

// ---- detection ----

TEST(DetectOutputFormats, RealTemplateFragments) {
  using T = ToolCallFormat;
  using R = ReasoningFormat;
  // Qwen2.5-7B-Instruct
  EXPECT_EQ(
      detect_output_formats(
          R"({{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }})"),
      (OutputFormats{T::kHermes, R::kNone}));
  // Qwen3-0.6B
  EXPECT_EQ(
      detect_output_formats(
          R"({{- '<tool_call>\n{"name": "' }} ... {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }})"),
      (OutputFormats{T::kHermes, R::kThinkTags}));
  // Qwen3-Coder
  EXPECT_EQ(
      detect_output_formats(
          R"({{- '\n<tool_call>\n<function=' + tool_call.name + '>\n' }} {{- '<parameter=' + args_name + '>\n' }} {{- '</function>\n</tool_call>' }})"),
      (OutputFormats{T::kQwen3CoderXml, R::kNone}));
  // Mistral-Nemo-Instruct-2407, Mistral-Small-3.2, Devstral
  EXPECT_EQ(detect_output_formats(R"({{- "[TOOL_CALLS][" }})").tools, T::kMistral);
  EXPECT_EQ(
      detect_output_formats(
          R"({{- '[TOOL_CALLS]' + tool_call.function.name }} {{- '[CALL_ID]' + tool_call.id }} {{- '[ARGS]' + tool_call['function']['arguments']|tojson }})")
          .tools,
      T::kMistral);
  // DeepSeek-R1-Distill-Qwen-32B, DeepSeek-V3.1
  EXPECT_EQ(
      detect_output_formats(
          R"({% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' }})"),
      (OutputFormats{T::kDeepSeekV3, R::kThinkTags}));
  EXPECT_EQ(
      detect_output_formats(
          R"({{'<｜tool▁call▁begin｜>'+ tool['function']['name'] + '<｜tool▁sep｜>' + tool['function']['arguments'] | tojson + '<｜tool▁call▁end｜>'}} {%- else -%}{{'<think>'}})"),
      (OutputFormats{T::kDeepSeekV3, R::kThinkTags}));
  // gpt-oss-120b
  EXPECT_EQ(
      detect_output_formats(
          R"({{- "<|start|>assistant to=" }} {{- "functions." + tool_call.name + "<|channel|>commentary " }})"),
      (OutputFormats{T::kGptOss, R::kGptOss}));
  // Llama-3.1-8B-Instruct, Llama-3.2-3B-Instruct
  EXPECT_EQ(detect_output_formats(R"({{- "<|python_tag|>" + tool_call.name + ".call(" }})").tools,
            T::kLlama3Json);
  EXPECT_EQ(
      detect_output_formats(
          R"({{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }} {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }})")
          .tools,
      T::kLlama3Json);
  // Hermes-2-Pro: <tool_call> wins over its "parameters"
  EXPECT_EQ(
      detect_output_formats(
          R"(<tool_call>\n{"arguments": <args-dict>, "name": <function-name>}\n</tool_call> {"type": "object", "properties": {"parameters": ...}})")
          .tools,
      T::kHermes);
  // Gemma 2: no tools, no reasoning
  EXPECT_EQ(
      detect_output_formats(
          R"({{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }})"),
      (OutputFormats{T::kNone, R::kNone}));
}

TEST(DetectOutputFormats, SharedTemplateFiles) {
#ifdef HEARTH_SHARED_DIR
  const std::string dir = std::string(HEARTH_SHARED_DIR) + "/testdata/chat_templates/";
  auto read = [&](const std::string& name) {
    std::ifstream in(dir + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  ASSERT_FALSE(read("Qwen-Qwen3-0.6B.jinja").empty()) << "no templates in " << dir;
  using T = ToolCallFormat;
  using R = ReasoningFormat;
  struct Case {
    const char* file;
    OutputFormats expected;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"Qwen-Qwen2.5-7B-Instruct.jinja", {T::kHermes, R::kNone}},
           {"Qwen-Qwen3-0.6B.jinja", {T::kHermes, R::kThinkTags}},
           {"Qwen-QwQ-32B.jinja", {T::kHermes, R::kThinkTags}},
           {"Qwen3-Coder.jinja", {T::kQwen3CoderXml, R::kNone}},
           {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", {T::kHermes, R::kNone}},
           {"mistralai-Mistral-Nemo-Instruct-2407.jinja", {T::kMistral, R::kNone}},
           {"Mistral-Small-3.2-24B-Instruct-2506.jinja", {T::kMistral, R::kNone}},
           {"unsloth-mistral-Devstral-Small-2507.jinja", {T::kMistral, R::kNone}},
           {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", {T::kDeepSeekV3, R::kThinkTags}},
           {"deepseek-ai-DeepSeek-V3.1.jinja", {T::kDeepSeekV3, R::kThinkTags}},
           {"openai-gpt-oss-120b.jinja", {T::kGptOss, R::kGptOss}},
           {"meta-llama-Llama-3.1-8B-Instruct.jinja", {T::kLlama3Json, R::kNone}},
           {"meta-llama-Llama-3.2-3B-Instruct.jinja", {T::kLlama3Json, R::kNone}},
           {"google-gemma-2-2b-it.jinja", {T::kNone, R::kNone}},
       }) {
    std::string source = read(c.file);
    EXPECT_FALSE(source.empty()) << c.file;
    EXPECT_EQ(detect_output_formats(source), c.expected) << c.file;
  }
#else
  FAIL() << "HEARTH_SHARED_DIR not set: the shared chat templates are part of the test data";
#endif
}

TEST(DetectOutputFormats, PromptOpensReasoning) {
  OutputFormats think{ToolCallFormat::kHermes, ReasoningFormat::kThinkTags};
  EXPECT_TRUE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n", think));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n", think));
  EXPECT_TRUE(prompt_opens_reasoning("<｜Assistant｜><think>", think));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n",
                                      {ToolCallFormat::kHermes, ReasoningFormat::kNone}));
}

// Random outputs stitched from each family's markers and JSON/text fragments: whatever the mess,
// byte-at-a-time, random cuts and whole feeding agree, and nothing crashes.
TEST(OutputParserFuzz, StitchedFragmentsAgreeAcrossFragmentation) {
  const std::vector<std::string> common = {
      "Hello",
      " ",
      "\n",
      "<",
      "{",
      "}",
      "[",
      "]",
      "\"",
      ";",
      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}",
      "{\"name\": \"get_time\", \"parameters\": {}}",
      "{\"city\": \"Rome\"}",
      "get_weather",
      "<think>",
      "</think>",
      "é"};
  const std::vector<std::pair<Config, std::vector<std::string>>> families = {
      {kHermes, {"<tool_call>", "</tool_call>", "<tool_cal", "</tool"}},
      {kLlama, {"<|python_tag|>", "<|python"}},
      {kMistral, {"[TOOL_CALLS]", "[ARGS]", "[CALL_ID]", "abc123xyz", "[TOOL_"}},
      {kDeepSeek,
       {"<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>",
        "<｜tool▁calls▁end｜>", "function", "```json\n", "```", "<｜tool"}},
      {kQwenCoder,
       {"<tool_call>", "</tool_call>", "<function=get_weather>", "<parameter=city>", "</parameter>",
        "</function>", "<function=", "<param"}},
      {kGptOss,
       {"<|channel|>", "analysis", "final", "commentary", " to=functions.get_weather",
        "<|message|>", "<|end|>", "<|start|>assistant", "<|call|>", "<|return|>",
        " <|constrain|>json", "<|chan"}},
  };
  std::mt19937 rng(42);
  for (const auto& [config, markers] : families) {
    for (int trial = 0; trial < 150; ++trial) {
      std::string text;
      int n = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) {
        const std::vector<std::string>& pool = rng() % 2 ? markers : common;
        text += pool[rng() % pool.size()];
      }
      Parsed whole = run_cuts(config, text, {});
      expect_same(whole, run_pieces(config, text, 1), "bytes: " + text);
      std::vector<size_t> cuts;
      for (size_t at = 1; at < text.size(); ++at) {
        if (rng() % 3 == 0) cuts.push_back(at);
      }
      expect_same(whole, run_cuts(config, text, cuts), "cuts: " + text);
      // Nothing invented: every emitted byte count stays within the input's.
      size_t emitted = whole.content.size() + whole.reasoning.size();
      for (const ToolCall& call : whole.calls) emitted += call.name.size();
      EXPECT_LE(emitted, text.size() + 8) << text;
    }
  }
}

// A long Qwen3-Coder file write fed a few bytes at a time stays cheap enough to stream.
TEST(OutputParserQwen3Coder, LongValueStreams) {
  std::string body;
  for (int i = 0; i < 2000; ++i) body += "line " + std::to_string(i) + " <b>x</b>\n";
  std::string text =
      "<tool_call>\n<function=write_file>\n<parameter=path>\na.html\n</"
      "parameter>\n<parameter=content>\n" +
      body + "</parameter>\n</function>\n</tool_call>";
  Parsed p = run_pieces(kQwenCoder, text, 4);
  ASSERT_EQ(p.calls.size(), 1u);
  nlohmann::json args = nlohmann::json::parse(p.calls[0].arguments);
  EXPECT_EQ(args["content"], body.substr(0, body.size() - 1));
}

}  // namespace
}  // namespace hearth::chat
