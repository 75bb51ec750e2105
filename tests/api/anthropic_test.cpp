#include "api/anthropic.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "api/api_fixture.h"

namespace hearth::api::anthropic {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

ojson body_with(const char* extra_json) {
  ojson b = ojson::parse(
      R"({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})");
  const ojson extra = ojson::parse(extra_json);
  for (const auto& item : extra.items()) b[item.key()] = item.value();
  return b;
}

ojson chat_of(const ojson& body) {
  auto r = to_chat_request(body);
  if (std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << std::get<ApiError>(r).message;
    return {};
  }
  return std::get<Translated>(r).chat_body;
}

// The 400's message, or "" (and a failure) when the body was accepted.
std::string refusal(const ojson& body) {
  auto r = to_chat_request(body);
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << "accepted: " << body.dump();
    return "";
  }
  EXPECT_EQ(std::get<ApiError>(r).status, 400);
  return std::get<ApiError>(r).message;
}

#define EXPECT_REFUSED(body, needle) \
  EXPECT_NE(refusal(body).find(needle), std::string::npos) << refusal(body)

TEST(AnthropicRequest, SystemAndStringContent) {
  ojson chat = chat_of(body_with(R"({"system": "be brief"})"));
  EXPECT_EQ(chat["model"], "m");
  EXPECT_EQ(chat["max_tokens"], 16);
  EXPECT_EQ(chat["messages"], ojson::parse(R"([{"role": "system", "content": "be brief"},
                                                {"role": "user", "content": "hi"}])"));
  EXPECT_FALSE(chat.contains("stream"));
  EXPECT_FALSE(chat.contains("chat_template_kwargs"));

  chat = chat_of(body_with(
      R"({"system": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                                          {"type": "text", "text": "b"}]})"));
  EXPECT_EQ(chat["messages"][0], ojson::parse(R"({"role": "system", "content": "a\nb"})"));
  // An empty system prompt is no system message.
  EXPECT_EQ(chat_of(body_with(R"({"system": ""})"))["messages"].size(), 1u);
}

TEST(AnthropicRequest, UserTextBlocksJoinAndTurnsCombine) {
  ojson chat = chat_of(body_with(R"({"messages": [
      {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two", "citations": []}]},
      {"role": "user", "content": "three"}]})"));
  EXPECT_EQ(chat["messages"],
            ojson::parse(R"([{"role": "user", "content": "one\ntwo\n\nthree"}])"));
  // A role "system" message (SystemMessageParam) stays where it is.
  chat = chat_of(
      body_with(R"({"messages": [{"role": "system", "content": [{"type": "text", "text": "s"}]},
                                            {"role": "user", "content": "u"}]})"));
  EXPECT_EQ(chat["messages"][0], ojson::parse(R"({"role": "system", "content": "s"})"));
}

TEST(AnthropicRequest, AssistantBlocksAndToolResults) {
  ojson chat = chat_of(body_with(R"({"messages": [
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": [
          {"type": "thinking", "thinking": "need the tool", "signature": "sig"},
          {"type": "redacted_thinking", "data": "opaque"},
          {"type": "text", "text": "Checking."},
          {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "days": 2}},
          {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}]},
      {"role": "user", "content": [
          {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
          {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
           "content": [{"type": "text", "text": "no"}, {"type": "text", "text": "clock"}]},
          {"type": "tool_result", "tool_use_id": "toolu_3"},
          {"type": "text", "text": "thanks"}]}]})"));
  EXPECT_EQ(chat["messages"], ojson::parse(R"([
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": "Checking.", "reasoning_content": "need the tool", "tool_calls": [
          {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"days\":2}"}},
          {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
      {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no\nclock"},
      {"role": "tool", "tool_call_id": "toolu_3", "content": ""},
      {"role": "user", "content": "thanks"}])"))
      << chat["messages"].dump(2);

  // An assistant string turn; consecutive assistant turns combine, tool calls included.
  chat = chat_of(body_with(R"({"messages": [
      {"role": "user", "content": "q"},
      {"role": "assistant", "content": "a"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r"}]}]})"));
  EXPECT_EQ(chat["messages"][1],
            ojson::parse(R"({"role": "assistant", "content": "a", "tool_calls": [
      {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})"));
}

TEST(AnthropicRequest, ToolsAndToolChoice) {
  ojson chat = chat_of(body_with(R"({"tools": [
      {"name": "get_weather", "description": "Weather by city", "cache_control": {"type": "ephemeral"},
       "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
      {"type": "custom", "name": "noop", "input_schema": {"type": "object"}, "strict": true}]})"));
  EXPECT_EQ(chat["tools"], ojson::parse(R"([
      {"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
      {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}, "strict": true}}])"));
  EXPECT_FALSE(chat.contains("tool_choice"));

  struct Case {
    const char* choice;
    const char* expected;
    bool parallel_off;
  };
  for (const Case& c :
       {Case{R"({"type": "auto"})", R"("auto")", false},
        Case{R"({"type": "any", "disable_parallel_tool_use": true})", R"("required")", true},
        Case{R"({"type": "tool", "name": "get_weather"})",
             R"({"type": "function", "function": {"name": "get_weather"}})", false},
        Case{R"({"type": "auto", "disable_parallel_tool_use": false})", R"("auto")", false},
        Case{R"({"type": "none"})", R"("none")", false}}) {
    ojson body =
        body_with(R"({"tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]})");
    body["tool_choice"] = ojson::parse(c.choice);
    chat = chat_of(body);
    EXPECT_EQ(chat["tool_choice"], ojson::parse(c.expected)) << c.choice;
    EXPECT_EQ(chat.contains("parallel_tool_calls"), c.parallel_off) << c.choice;
    if (c.parallel_off) {
      EXPECT_EQ(chat["parallel_tool_calls"], false);
    }
  }
}

TEST(AnthropicRequest, SamplingStreamThinkingOutputConfig) {
  auto r =
      to_chat_request(body_with(R"({"stream": true, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
      "stop_sequences": ["END", "###"], "metadata": {"user_id": "u-1"}, "cache_control": {"type": "ephemeral"},
      "thinking": {"type": "enabled", "budget_tokens": 2048}})"));
  ASSERT_TRUE(std::holds_alternative<Translated>(r)) << std::get<ApiError>(r).message;
  const Translated& t = std::get<Translated>(r);
  EXPECT_TRUE(t.stream);
  EXPECT_EQ(t.model, "m");
  EXPECT_EQ(t.thinking_budget_tokens, 2048);
  EXPECT_EQ(t.chat_body["stream"], true);
  EXPECT_EQ(t.chat_body["temperature"], 0.5);
  EXPECT_EQ(t.chat_body["top_p"], 0.9);
  EXPECT_EQ(t.chat_body["top_k"], 40);
  EXPECT_EQ(t.chat_body["stop"], ojson::parse(R"(["END", "###"])"));
  EXPECT_EQ(t.chat_body["chat_template_kwargs"], ojson::parse(R"({"enable_thinking": true})"));

  EXPECT_EQ(chat_of(body_with(R"({"thinking": {"type": "disabled"}})"))["chat_template_kwargs"],
            ojson::parse(R"({"enable_thinking": false})"));
  EXPECT_EQ(chat_of(body_with(R"({"thinking": {"type": "adaptive", "display": "summarized"}})"))
                ["chat_template_kwargs"],
            ojson::parse(R"({"enable_thinking": true})"));
  EXPECT_EQ(
      chat_of(body_with(
          R"({"output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}})"))
          ["response_format"],
      ojson::parse(
          R"({"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"}}})"));
  // Nulls are absent fields.
  ojson chat = chat_of(body_with(
      R"({"system": null, "temperature": null, "tools": null, "thinking": null, "stream": null})"));
  EXPECT_FALSE(chat.contains("temperature"));
  EXPECT_FALSE(chat.contains("tools"));
}

TEST(AnthropicRequest, CountTokensTakesNoMaxTokensAndNoStream) {
  ojson body = ojson::parse(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  auto r = to_chat_request_for_count(body);
  ASSERT_TRUE(std::holds_alternative<Translated>(r));
  EXPECT_FALSE(std::get<Translated>(r).chat_body.contains("max_tokens"));
  EXPECT_NE(refusal(body).find("'max_tokens' is required"), std::string::npos);
  body["stream"] = true;
  ASSERT_TRUE(std::holds_alternative<ApiError>(to_chat_request_for_count(body)));
  EXPECT_EQ(count_tokens_body(12), json::parse(R"({"input_tokens": 12})"));
}

TEST(AnthropicRequest, RefusesWhatItCannotHonour) {
  for (const char* field :
       {"service_tier", "container", "mcp_servers", "context_management", "speed", "frobnicate"}) {
    ojson body = body_with("{}");
    body[field] = "x";
    EXPECT_REFUSED(body, std::string("'") + field + "' is not supported");
  }
  EXPECT_REFUSED(
      body_with(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "see"},
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]})"),
      "'messages[0].content[1]' is a 'image' block");
  EXPECT_REFUSED(
      body_with(
          R"({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]})"),
      "'document' block");
  EXPECT_REFUSED(
      body_with(
          R"({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
      "content": [{"type": "image", "source": {}}]}]}]})"),
      "'messages[0].content[0].content[0]' is a 'image' block");
  EXPECT_REFUSED(body_with(R"({"system": [{"type": "image"}]})"), "'system[0]' is a 'image' block");
  for (const char* type :
       {"web_search_20250305", "bash_20250124", "text_editor_20250124", "computer_20250124"}) {
    ojson body = body_with(R"({"tools": [{"name": "x", "input_schema": {"type": "object"}}]})");
    body["tools"][0]["type"] = type;
    EXPECT_REFUSED(body, std::string("has type '") + type + "': server tools are not supported");
  }
  EXPECT_REFUSED(
      body_with(
          R"({"tools": [{"name": "x", "input_schema": {"type": "object"}, "defer_loading": true}]})"),
      "'tools[0].defer_loading' is not supported");
  EXPECT_REFUSED(
      body_with(
          R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "{"}]})"),
      "prefill");
  EXPECT_REFUSED(
      body_with(
          R"({"messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
                                            {"role": "user", "content": "q"}]})"),
      "only user messages");
  EXPECT_REFUSED(
      body_with(
          R"({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]})"),
      "only assistant messages");
  EXPECT_REFUSED(
      body_with(R"({"thinking": {"type": "enabled", "budget_tokens": 100, "display": "omitted"}})"),
      "thinking.display");
  EXPECT_REFUSED(body_with(R"({"output_config": {"effort": "high"}})"), "output_config.effort");
  EXPECT_REFUSED(body_with(R"({"metadata": {"user_id": "u", "tier": 1}})"),
                 "'metadata.tier' is not supported");
  EXPECT_REFUSED(body_with(R"({"messages": [{"role": "user", "content": "q", "name": "bob"}]})"),
                 "'messages[0].name' is not supported");
}

TEST(AnthropicRequest, WrongTypesAre400sNamingTheField) {
  ojson no_max = body_with("{}");
  no_max.erase("max_tokens");
  EXPECT_REFUSED(no_max, "'max_tokens' is required");
  struct Case {
    const char* extra;
    const char* needle;
  };
  for (
      const Case& c : std::initializer_list<Case>{
          {R"({"max_tokens": 0})", "'max_tokens' must be between 1"},
          {R"({"max_tokens": "16"})", "'max_tokens' must be an integer"},
          {R"({"max_tokens": 1.5})", "'max_tokens' must be an integer"},
          {R"({"max_tokens": 18446744073709551615})", "'max_tokens' must be at most"},
          {R"({"model": 7})", "'model' must be a string"},
          {R"({"messages": []})", "'messages' must be a non-empty array"},
          {R"({"messages": {"role": "user"}})", "'messages' must be a non-empty array"},
          {R"({"messages": ["hi"]})", "'messages[0]' must be an object"},
          {R"({"messages": [{"role": "user"}]})", "'messages[0].content' is required"},
          {R"({"messages": [{"role": "user", "content": 5}]})",
           "'messages[0].content' must be a string or an array"},
          {R"({"messages": [{"role": "bot", "content": "x"}]})", "'messages[0].role' is 'bot'"},
          {R"({"messages": [{"role": 1, "content": "x"}]})", "'messages[0].role' must be a string"},
          {R"({"messages": [{"role": "user", "content": ["x"]}]})",
           "'messages[0].content[0]' must be a content block"},
          {R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})",
           "'messages[0].content[0].type' is required"},
          {R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]})",
           "'messages[0].content[0].text' must be a string"},
          {R"({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}]},
                {"role": "user", "content": "x"}]})",
           "'messages[0].content[0].input' must be an object"},
          {R"({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": 4}]}]})",
           "'messages[0].content[0].tool_use_id' must be a string"},
          {R"({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}]}]})",
           "is_error' must be a boolean"},
          {R"({"system": 3})", "'system' must be a string or an array"},
          {R"({"temperature": 1.5})", "'temperature' must be between 0 and 1"},
          {R"({"temperature": "hot"})", "'temperature' must be a number"},
          {R"({"top_k": -1})", "'top_k' must be between 0"},
          {R"({"stream": "yes"})", "'stream' must be a boolean"},
          {R"({"stop_sequences": "END"})", "'stop_sequences' must be an array"},
          {R"({"stop_sequences": [""]})", "non-empty strings"},
          {R"({"stop_sequences": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]})",
           "at most 16"},
          {R"({"tools": {}})", "'tools' must be an array"},
          {R"({"tools": [{"name": "f"}]})", "'tools[0].input_schema' must be a JSON Schema object"},
          {R"({"tools": [{"name": "f", "input_schema": {"type": "array"}}]})",
           "'tools[0].input_schema.type' must be 'object'"},
          {R"({"tools": [{"input_schema": {"type": "object"}}]})", "'tools[0].name' is required"},
          {R"({"tool_choice": "auto"})", "'tool_choice' must be an object"},
          {R"({"tool_choice": {"type": "maybe"}})", "'tool_choice.type' is 'maybe'"},
          {R"({"tool_choice": {"type": "tool"}})", "'tool_choice.name' is required"},
          {R"({"tool_choice": {"type": "none", "disable_parallel_tool_use": true}})",
           "not supported"},
          {R"({"tool_choice": {"type": "any", "disable_parallel_tool_use": 1}})",
           "must be a boolean"},
          {R"({"thinking": true})", "'thinking' must be an object"},
          {R"({"thinking": {"type": "enabled"}})", "'thinking.budget_tokens' is required"},
          {R"({"thinking": {"type": "enabled", "budget_tokens": 0}})",
           "'thinking.budget_tokens' must be between 1"},
          {R"({"thinking": {"type": "between_tools"}})", "'thinking.type' is 'between_tools'"},
          {R"({"output_config": {"format": {"type": "json_object"}}})", "must be 'json_schema'"},
          {R"({"metadata": "u"})", "'metadata' must be an object"},
          {R"({"metadata": {"user_id": 5}})", "'metadata.user_id' must be a string"},
          {R"({"cache_control": "yes"})", "'cache_control' must be an object"},
      }) {
    EXPECT_REFUSED(body_with(c.extra), c.needle);
  }
  auto r = to_chat_request(ojson::array());
  ASSERT_TRUE(std::holds_alternative<ApiError>(r));
  EXPECT_EQ(std::get<ApiError>(r).message, "the request body must be a JSON object");
  auto hot = to_chat_request(body_with(R"({"temperature": 2})"));
  ASSERT_TRUE(std::holds_alternative<ApiError>(hot));
  EXPECT_EQ(std::get<ApiError>(hot).param, "temperature");
}

// Every node of a full request replaced by every JSON type: an answer each time, never a throw.
TEST(AnthropicRequest, NeverThrowsOnHostileShapes) {
  const ojson full = ojson::parse(
      R"({"model": "m", "max_tokens": 8, "stream": true, "system": [{"type": "text", "text": "s"}],
      "messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]},
                   {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": ""},
                       {"type": "tool_use", "id": "a", "name": "f", "input": {"x": [1, {"y": null}]}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": "r"}]}]}],
      "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "tool", "name": "f"},
      "thinking": {"type": "enabled", "budget_tokens": 10}, "stop_sequences": ["x"], "metadata": {"user_id": "u"},
      "output_config": {"format": {"type": "json_schema", "schema": {}}}, "temperature": 0.1, "top_k": 3})");
  const std::vector<ojson> replacements = ojson::parse(
      R"([null, 0, -1, 1.5, 18446744073709551615, "", "x", true, [], {}, [1, "a", null], {"type": 1}, {"type": "text"}])");
  const ojson flat = full.flatten();
  size_t cases = 0;
  std::function<void(const ojson&, const ojson::json_pointer&)> visit =
      [&](const ojson& node, const ojson::json_pointer& at) {
        for (const ojson& r : replacements) {
          ojson mutated = full;
          mutated[at] = r;
          EXPECT_NO_THROW({
            (void)to_chat_request(mutated);
            (void)to_chat_request_for_count(mutated);
          }) << at.to_string();
          ++cases;
        }
        if (node.is_object())
          for (const auto& item : node.items()) visit(item.value(), at / item.key());
        if (node.is_array())
          for (size_t i = 0; i < node.size(); ++i) visit(node[i], at / i);
      };
  for (const auto& item : full.items()) visit(item.value(), ojson::json_pointer("/" + item.key()));
  EXPECT_GT(cases, 500u);
  EXPECT_TRUE(std::holds_alternative<Translated>(to_chat_request(full)));
}

// The translated bodies are ones hearth's own chat path accepts.
TEST(AnthropicRequest, TranslationsPassParseChatRequest) {
  for (
      const char* extra : {
          R"({"system": "s", "temperature": 0.2, "top_k": 5, "top_p": 0.5, "stop_sequences": ["x"], "stream": true})",
          R"({"thinking": {"type": "enabled", "budget_tokens": 100}})",
          R"({"tools": [{"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}],
               "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
               "messages": [{"role": "user", "content": "q"},
                            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": "b"}}]},
                            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]})",
          R"({"output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}})",
      }) {
    ojson chat = chat_of(body_with(extra));
    auto plan = parse_chat_request(chat, fx().ctx);
    EXPECT_TRUE(std::holds_alternative<GenerationPlan>(plan))
        << extra << "\n"
        << (std::holds_alternative<ApiError>(plan) ? std::get<ApiError>(plan).message : "");
  }
}

TEST(AnthropicErrors, TypeFollowsStatus) {
  for (auto [status, type] :
       std::initializer_list<std::pair<int, const char*>>{{400, "invalid_request_error"},
                                                          {401, "authentication_error"},
                                                          {403, "permission_error"},
                                                          {404, "not_found_error"},
                                                          {413, "request_too_large"},
                                                          {422, "invalid_request_error"},
                                                          {429, "rate_limit_error"},
                                                          {500, "api_error"},
                                                          {503, "overloaded_error"},
                                                          {529, "overloaded_error"}}) {
    json e = error_body(api_error(status, "boom"));
    EXPECT_EQ(e, json({{"type", "error"}, {"error", {{"type", type}, {"message", "boom"}}}}))
        << status;
  }
  EXPECT_EQ(
      error_event(bad_request("x")),
      "event: error\ndata: "
      "{\"error\":{\"message\":\"x\",\"type\":\"invalid_request_error\"},\"type\":\"error\"}\n\n");
}

const std::vector<chat::ToolCall> kCalls = {
    {"toolu_a", "get_weather", R"({"city":"Paris","units":["c"]})"}, {"toolu_b", "get_time", "{}"}};

TEST(AnthropicMessage, Shape) {
  Usage usage{10, 5, 4};
  json m = message("msg_1", "m", "thought", "Answer", kCalls, "tool_calls", "", usage);
  EXPECT_EQ(m, json::parse(R"({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
      "content": [{"type": "thinking", "thinking": "thought", "signature": ""},
                  {"type": "text", "text": "Answer"},
                  {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris", "units": ["c"]}},
                  {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}],
      "stop_reason": "tool_use", "stop_sequence": null, "stop_details": null,
      "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4}})"))
      << m.dump(2);

  // Nothing at all: one empty text block. Thinking only: no text block.
  EXPECT_EQ(message("i", "m", "", "", {}, "stop", "", {})["content"],
            json::parse(R"([{"type": "text", "text": ""}])"));
  EXPECT_EQ(message("i", "m", "t", "", {}, "length", "", {})["content"],
            json::parse(R"([{"type": "thinking", "thinking": "t", "signature": ""}])"));
  // Text that is not UTF-8 is replaced, not thrown on.
  EXPECT_EQ(message("i", "m", "", "a\xff", {}, "stop", "", {})["content"][0]["text"],
            "a\xEF\xBF\xBD");
}

TEST(AnthropicMessage, StopReasons) {
  EXPECT_EQ(stop_reason("stop", "", false), "end_turn");
  EXPECT_EQ(stop_reason("stop", "END", false), "stop_sequence");
  EXPECT_EQ(stop_reason("length", "", true), "max_tokens");
  EXPECT_EQ(stop_reason("tool_calls", "", true), "tool_use");
  EXPECT_EQ(stop_reason("stop", "", true), "tool_use");
  EXPECT_EQ(stop_reason("content_filter", "", false), "refusal");
  EXPECT_EQ(stop_reason("error", "", false), "end_turn");
  json m = message("i", "m", "", "done", {}, "stop", "END", {});
  EXPECT_EQ(m["stop_reason"], "stop_sequence");
  EXPECT_EQ(m["stop_sequence"], "END");
  EXPECT_EQ(message("i", "m", "", "done", {}, "length", "", {})["stop_reason"], "max_tokens");
}

struct Event {
  std::string name;
  json data;
};

std::vector<Event> parse_sse(const std::string& text) {
  std::vector<Event> events;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated event";
    if (end == std::string::npos) break;
    const std::string chunk = text.substr(pos, end - pos);
    EXPECT_EQ(chunk.rfind("event: ", 0), 0u) << chunk;
    const size_t nl = chunk.find('\n');
    EXPECT_EQ(chunk.compare(nl + 1, 6, "data: "), 0) << chunk;
    Event e{chunk.substr(7, nl - 7), json::parse(chunk.substr(nl + 7))};
    EXPECT_EQ(e.data["type"], e.name);
    events.push_back(std::move(e));
    pos = end + 2;
  }
  return events;
}

// What @anthropic-ai/sdk's MessageStream accumulates: the message from message_start, blocks
// pushed at content_block_start (whose index must be the next one), deltas appended, the
// input_json_delta text parsed at content_block_stop, message_delta's fields.
json accumulate(const std::vector<Event>& events) {
  json m;
  std::vector<std::string> json_buf;
  int open = -1;
  for (const Event& e : events) {
    if (e.name == "message_start") {
      EXPECT_TRUE(m.is_null());
      m = e.data["message"];
      EXPECT_EQ(m["content"], json::array());
    } else if (e.name == "content_block_start") {
      EXPECT_EQ(open, -1) << "a block starts while another is open";
      EXPECT_EQ(e.data["index"], m["content"].size());
      open = e.data["index"];
      m["content"].push_back(e.data["content_block"]);
      json_buf.emplace_back();
    } else if (e.name == "content_block_delta") {
      EXPECT_EQ(e.data["index"], open);
      json& block = m["content"][open];
      const json& d = e.data["delta"];
      if (d["type"] == "text_delta") {
        EXPECT_EQ(block["type"], "text");
        block["text"] = block["text"].get<std::string>() + d["text"].get<std::string>();
      } else if (d["type"] == "thinking_delta") {
        EXPECT_EQ(block["type"], "thinking");
        block["thinking"] = block["thinking"].get<std::string>() + d["thinking"].get<std::string>();
      } else if (d["type"] == "signature_delta") {
        EXPECT_EQ(block["type"], "thinking");
        block["signature"] = d["signature"];
      } else if (d["type"] == "input_json_delta") {
        EXPECT_EQ(block["type"], "tool_use");
        json_buf[open] += d["partial_json"].get<std::string>();
      } else {
        ADD_FAILURE() << "unknown delta " << d.dump();
      }
    } else if (e.name == "content_block_stop") {
      EXPECT_EQ(e.data["index"], open);
      if (m["content"][open]["type"] == "tool_use" && !json_buf[open].empty())
        m["content"][open]["input"] = json::parse(json_buf[open]);
      open = -1;
    } else if (e.name == "message_delta") {
      EXPECT_EQ(open, -1);
      for (const auto& item : e.data["delta"].items()) m[item.key()] = item.value();
      for (const auto& item : e.data["usage"].items()) m["usage"][item.key()] = item.value();
    } else if (e.name != "ping" && e.name != "message_stop") {
      ADD_FAILURE() << "unexpected event " << e.name;
    }
  }
  return m;
}

std::vector<std::string> names(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) {
    std::string name = e.name;
    if (e.data.contains("index")) name += ":" + std::to_string(e.data["index"].get<int>());
    if (e.name == "content_block_start")
      name += ":" + e.data["content_block"]["type"].get<std::string>();
    if (e.name == "content_block_delta") name += ":" + e.data["delta"]["type"].get<std::string>();
    out.push_back(name);
  }
  return out;
}

TEST(AnthropicStream, ReasoningTextTwoCalls) {
  MessageStream s("msg_1", "m", 10);
  std::string sse = s.start();
  sse += s.add({.content = "", .reasoning = "Let me ", .calls = {}});
  sse += s.add({.content = "", .reasoning = "think.", .calls = {}});
  sse += s.add({.content = "Calling", .reasoning = "", .calls = {}});
  sse += s.add({.content = " tools.", .reasoning = "", .calls = {kCalls[0]}});
  sse += s.add({.content = "", .reasoning = "", .calls = {kCalls[1]}});
  sse += s.finish("tool_calls", "", {10, 7, 0});
  const std::vector<Event> events = parse_sse(sse);
  EXPECT_EQ(names(events),
            (std::vector<std::string>{
                "message_start", "ping", "content_block_start:0:thinking",
                "content_block_delta:0:thinking_delta", "content_block_delta:0:thinking_delta",
                "content_block_delta:0:signature_delta", "content_block_stop:0",
                "content_block_start:1:text", "content_block_delta:1:text_delta",
                "content_block_delta:1:text_delta", "content_block_stop:1",
                "content_block_start:2:tool_use", "content_block_delta:2:input_json_delta",
                "content_block_stop:2", "content_block_start:3:tool_use",
                "content_block_delta:3:input_json_delta", "content_block_stop:3", "message_delta",
                "message_stop"}));
  EXPECT_EQ(events[2].data["content_block"],
            json::parse(R"({"type": "thinking", "thinking": "", "signature": ""})"));
  EXPECT_EQ(events[7].data["content_block"], json::parse(R"({"type": "text", "text": ""})"));
  EXPECT_EQ(
      events[11].data["content_block"],
      json::parse(R"({"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}})"));
  EXPECT_EQ(events[0].data["message"]["usage"]["input_tokens"], 10);
  EXPECT_EQ(events[0].data["message"]["stop_reason"], nullptr);
  EXPECT_EQ(events[17].data["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(events[17].data["usage"]["output_tokens"], 7);
  EXPECT_EQ(accumulate(events), message("msg_1", "m", "Let me think.", "Calling tools.", kCalls,
                                        "tool_calls", "", {10, 7, 0}));
}

TEST(AnthropicStream, AccumulatesToTheSameMessage) {
  struct Case {
    std::vector<chat::OutputDelta> deltas;
    std::string finish, stop_sequence;
  };
  const std::string text = "Grüße, 世界 🌍!";  // multi-byte characters, fed a byte at a time below
  std::vector<chat::OutputDelta> bytewise;
  for (char c : text)
    bytewise.push_back({.content = std::string(1, c), .reasoning = "", .calls = {}});
  std::vector<chat::OutputDelta> think_bytewise;
  for (char c : text)
    think_bytewise.push_back({.content = "", .reasoning = std::string(1, c), .calls = {}});
  think_bytewise.push_back({.content = "ok", .reasoning = "", .calls = {}});
  const std::vector<Case> cases = {
      {{}, "stop", ""},
      {{{.content = "hello", .reasoning = "", .calls = {}}}, "stop", ""},
      {{{.content = "cut", .reasoning = "", .calls = {}}}, "length", ""},
      {{{.content = "done", .reasoning = "", .calls = {}}}, "stop", "END"},
      {{{.content = "", .reasoning = "only thinking", .calls = {}}}, "length", ""},
      {{{.content = "", .reasoning = "", .calls = kCalls}}, "tool_calls", ""},
      {{{.content = "a", .reasoning = "r", .calls = {kCalls[0]}}}, "tool_calls", ""},
      {bytewise, "stop", ""},
      {think_bytewise, "stop", ""},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::string reasoning, content;
    std::vector<chat::ToolCall> calls;
    MessageStream s("msg_x", "m", 3);
    std::string sse = s.start();
    for (const chat::OutputDelta& d : c.deltas) {
      reasoning += d.reasoning;
      content += d.content;
      calls.insert(calls.end(), d.calls.begin(), d.calls.end());
      sse += s.add(d);
    }
    const Usage usage{3, 9, 1};
    sse += s.finish(c.finish, c.stop_sequence, usage);
    const std::vector<Event> events = parse_sse(sse);
    EXPECT_EQ(accumulate(events),
              message("msg_x", "m", reasoning, content, calls, c.finish, c.stop_sequence, usage))
        << "case " << i << "\n"
        << sse;
    // No delta carries a broken character.
    for (const Event& e : events) {
      if (e.name != "content_block_delta") continue;
      const json& d = e.data["delta"];
      const std::string piece = d.value("text", d.value("thinking", std::string()));
      EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "case " << i;
    }
  }
}

TEST(AnthropicStream, StartsOnceFinishesOnceAndTextAfterACallIsANewBlock) {
  MessageStream s("msg_1", "m", 1);
  std::string sse =
      s.add({.content = "a", .reasoning = "", .calls = {kCalls[1]}});  // starts implicitly
  EXPECT_EQ(s.start(), "");
  sse += s.add({.content = "b", .reasoning = "", .calls = {}});
  sse += s.finish("stop", "", {});
  EXPECT_EQ(s.finish("stop", "", {}), "");
  EXPECT_EQ(s.add({.content = "late", .reasoning = "", .calls = {}}), "");
  const std::vector<Event> events = parse_sse(sse);
  const json m = accumulate(events);
  ASSERT_EQ(m["content"].size(), 3u);
  EXPECT_EQ(m["content"][0]["text"], "a");
  EXPECT_EQ(m["content"][1]["type"], "tool_use");
  EXPECT_EQ(m["content"][2]["text"], "b");
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_EQ(events.back().name, "message_stop");
}

TEST(AnthropicStream, MessageIds) {
  const std::string a = random_message_id(), b = random_message_id();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 4u + 24u);
  EXPECT_EQ(a.rfind("msg_", 0), 0u);
  for (char c : a.substr(4)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << a;
}

}  // namespace
}  // namespace hearth::api::anthropic
