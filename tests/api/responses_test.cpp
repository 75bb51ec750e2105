// The Responses API layer on its own: requests translated into chat-completions bodies (and the
// fields refused with a 400 naming them), the Response object, and the stream's events, which a
// copy of the official SDK's accumulation (lib/responses/ResponseAccumulator.ts) must fold into
// the object that response.completed carries.
#include <gtest/gtest.h>

#include "api/responses.h"

namespace hearth::api::responses {
namespace {

ojson J(const std::string& text) { return ojson::parse(text); }

ojson chat_of(const ojson& body) {
  auto r = to_chat_request(body);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << e->message;
  return std::holds_alternative<Translated>(r) ? std::get<Translated>(r).chat_body : ojson();
}

Translated translated(const ojson& body) {
  auto r = to_chat_request(body);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << e->message;
    return {};
  }
  return std::get<Translated>(r);
}

ApiError error_of(const ojson& body) {
  auto r = to_chat_request(body);
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  return ApiError{0, "", "", std::nullopt, std::nullopt, 0};
}

// ---- requests -------------------------------------------------------------------------------

TEST(ResponsesRequest, StringInputAndInstructions) {
  Translated t = translated(J(R"({"model": "m", "input": "Hi", "instructions": "Be brief."})"));
  EXPECT_EQ(t.model, "m");
  EXPECT_FALSE(t.stream);
  EXPECT_EQ(t.chat_body, J(R"({"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                                         {"role": "user", "content": "Hi"}]})"));
  EXPECT_EQ(t.echo["instructions"], "Be brief.");
  EXPECT_EQ(t.echo["tool_choice"], "auto");
  EXPECT_EQ(t.echo["parallel_tool_calls"], true);
  EXPECT_EQ(t.echo["tools"], ojson::array());
  EXPECT_EQ(t.echo["text"], J(R"({"format": {"type": "text"}, "verbosity": "medium"})"));
  EXPECT_EQ(t.echo["reasoning"], J(R"({"effort": null, "summary": null})"));
  EXPECT_EQ(t.echo["metadata"], ojson::object());
  EXPECT_EQ(t.echo["truncation"], "disabled");
  EXPECT_TRUE(t.echo["max_output_tokens"].is_null());
  EXPECT_TRUE(t.echo["temperature"].is_null());
}

TEST(ResponsesRequest, EveryInputItemKind) {
  ojson chat = chat_of(J(R"({"input": [
      {"role": "developer", "content": "dev"},
      {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "sys"}]},
      {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
      {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "hmm"}]},
      {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
       "content": [{"type": "output_text", "text": "Let me look.", "annotations": [], "logprobs": []}]},
      {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get", "arguments": "{\"a\":1}",
       "status": "completed"},
      {"type": "function_call", "call_id": "call_2", "name": "put", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "call_1", "output": "one"},
      {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "two"}]},
      {"type": "function_call", "call_id": "call_3", "name": "get", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "call_3", "output": "three"},
      {"role": "assistant", "content": "Done."},
      {"role": "user", "content": "thanks"}]})"));
  EXPECT_EQ(chat["messages"], J(R"([
      {"role": "developer", "content": "dev"},
      {"role": "system", "content": "sys"},
      {"role": "user", "content": "ab"},
      {"role": "assistant", "content": "Let me look.", "tool_calls": [
          {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"a\":1}"}},
          {"id": "call_2", "type": "function", "function": {"name": "put", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "one", "name": "get"},
      {"role": "tool", "tool_call_id": "call_2", "content": "two", "name": "put"},
      {"role": "assistant", "content": null, "tool_calls": [
          {"id": "call_3", "type": "function", "function": {"name": "get", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "call_3", "content": "three", "name": "get"},
      {"role": "assistant", "content": "Done."},
      {"role": "user", "content": "thanks"}])"));
}

TEST(ResponsesRequest, ToolsAndToolChoice) {
  Translated t = translated(J(R"({"input": "x", "tools": [
      {"type": "function", "name": "get", "description": "Gets.", "parameters": {"type": "object", "properties": {}},
       "strict": true},
      {"type": "web_search_preview"},
      {"type": "file_search", "vector_store_ids": ["vs"]},
      {"type": "mcp", "server_label": "x"},
      {"type": "function", "name": "put", "parameters": null, "strict": null}],
    "tool_choice": {"type": "function", "name": "get"}, "parallel_tool_calls": false})"));
  EXPECT_EQ(t.chat_body["tools"], J(R"([
      {"type": "function", "function": {"name": "get", "description": "Gets.",
                                        "parameters": {"type": "object", "properties": {}}, "strict": true}},
      {"type": "function", "function": {"name": "put"}}])"));
  EXPECT_EQ(t.chat_body["tool_choice"], J(R"({"type": "function", "function": {"name": "get"}})"));
  EXPECT_EQ(t.chat_body["parallel_tool_calls"], false);
  ASSERT_EQ(t.echo["tools"].size(), 2u);  // the function tools, as given
  EXPECT_EQ(t.echo["tools"][0]["description"], "Gets.");
  EXPECT_EQ(t.echo["tools"][1]["name"], "put");
  EXPECT_EQ(t.echo["tool_choice"], J(R"({"type": "function", "name": "get"})"));
  EXPECT_EQ(t.echo["parallel_tool_calls"], false);
  for (const char* choice : {"auto", "none", "required"})
    EXPECT_EQ(chat_of(ojson{{"input", "x"}, {"tool_choice", choice}})["tool_choice"], choice);
  // Only hosted tools: the chat request has none.
  EXPECT_FALSE(chat_of(J(R"({"input": "x", "tools": [{"type": "web_search"}]})")).contains("tools"));
}

TEST(ResponsesRequest, SamplingLengthReasoningFormat) {
  Translated t = translated(J(R"({"input": "x", "max_output_tokens": 64, "temperature": 0.5, "top_p": 0.9,
      "reasoning": {"effort": "minimal", "summary": "auto"},
      "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": true},
               "verbosity": "low"},
      "top_k": 20, "seed": 7, "stop": ["END"], "user": "u1", "metadata": {"k": "v"}, "store": true,
      "include": ["reasoning.encrypted_content"], "prompt_cache_key": "p", "safety_identifier": "s",
      "truncation": "disabled", "service_tier": "auto", "top_logprobs": 0})"));
  const ojson& c = t.chat_body;
  EXPECT_EQ(c["max_tokens"], 64);
  EXPECT_EQ(c["temperature"], 0.5);
  EXPECT_EQ(c["top_p"], 0.9);
  EXPECT_EQ(c["top_k"], 20);
  EXPECT_EQ(c["seed"], 7);
  EXPECT_EQ(c["stop"], J(R"(["END"])"));
  EXPECT_EQ(c["user"], "u1");
  EXPECT_EQ(c["chat_template_kwargs"], J(R"({"enable_thinking": false, "reasoning_effort": "low"})"));
  EXPECT_EQ(c["response_format"],
            J(R"({"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": true}})"));
  for (const char* key : {"metadata", "store", "include", "prompt_cache_key", "reasoning", "text", "truncation"})
    EXPECT_FALSE(c.contains(key)) << key;
  EXPECT_EQ(t.echo["max_output_tokens"], 64);
  EXPECT_EQ(t.echo["temperature"], 0.5);
  EXPECT_EQ(t.echo["reasoning"], J(R"({"effort": "minimal", "summary": "auto"})"));
  EXPECT_EQ(t.echo["text"]["verbosity"], "low");
  EXPECT_EQ(t.echo["text"]["format"]["name"], "r");
  EXPECT_EQ(t.echo["metadata"], J(R"({"k": "v"})"));
  EXPECT_EQ(t.echo["user"], "u1");

  EXPECT_EQ(chat_of(J(R"({"input": "x", "reasoning": {"effort": "high"}})"))["chat_template_kwargs"],
            J(R"({"enable_thinking": true, "reasoning_effort": "high"})"));
  EXPECT_EQ(chat_of(J(R"({"input": "x", "reasoning": {"effort": "none"},
                          "chat_template_kwargs": {"enable_thinking": true}})"))["chat_template_kwargs"],
            J(R"({"enable_thinking": true, "reasoning_effort": "low"})"));  // the explicit kwarg wins
  EXPECT_FALSE(chat_of(J(R"({"input": "x", "reasoning": {"summary": "auto"}})")).contains("chat_template_kwargs"));
  EXPECT_EQ(chat_of(J(R"({"input": "x", "text": {"format": {"type": "json_object"}}})"))["response_format"],
            J(R"({"type": "json_object"})"));
  EXPECT_FALSE(chat_of(J(R"({"input": "x", "text": {"format": {"type": "text"}}})")).contains("response_format"));
}

TEST(ResponsesRequest, StreamAsksTheChatSideForUsage) {
  Translated t = translated(J(R"({"input": "x", "stream": true, "store": false,
                                  "stream_options": {"include_obfuscation": false}})"));
  EXPECT_TRUE(t.stream);
  EXPECT_EQ(t.chat_body["stream"], true);
  EXPECT_EQ(t.chat_body["stream_options"], J(R"({"include_usage": true})"));
  EXPECT_FALSE(translated(J(R"({"input": "x", "stream": false})")).chat_body.contains("stream"));
}

TEST(ResponsesRequest, RefusalsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"input": "x", "previous_response_id": "resp_1"})", "previous_response_id"},
      {R"({"input": "x", "conversation": "conv_1"})", "conversation"},
      {R"({"input": "x", "background": true})", "background"},
      {R"({"input": "x", "background": "yes"})", "background"},
      {R"({"input": "x", "prompt": {"id": "pmpt_1"}})", "prompt"},
      {R"({"input": "x", "max_tool_calls": 3})", "max_tool_calls"},
      {R"({"input": "x", "messages": []})", "messages"},
      {R"({"input": "x", "truncation": "auto"})", "truncation"},
      {R"({"input": "x", "top_logprobs": 5})", "top_logprobs"},
      {R"({})", "input"},
      {R"({"input": null})", "input"},
      {R"({"input": []})", "input"},
      {R"({"input": 3})", "input"},
      {R"({"input": [3]})", "input"},
      {R"({"input": [{"type": 5}]})", "input"},
      {R"({"input": [{"content": "no role"}]})", "input"},
      {R"({"input": [{"role": "tool", "content": "x"}]})", "input"},
      {R"({"input": [{"role": "user"}]})", "input"},
      {R"({"input": [{"role": "user", "content": 5}]})", "input"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_text", "text": 5}]}]})", "input"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://x"}]}]})", "input"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]})", "input"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_audio"}]}]})", "input"},
      {R"({"input": [{"role": "user", "content": ["text"]}]})", "input"},
      {R"({"input": [{"type": "item_reference", "id": "msg_1"}]})", "input"},
      {R"({"input": [{"type": "web_search_call", "id": "ws_1"}]})", "input"},
      {R"({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]})", "input"},
      {R"({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]})", "input"},
      {R"({"input": [{"type": "function_call_output", "call_id": "c"}]})", "input"},
      {R"({"input": [{"type": "function_call_output", "call_id": "c",
                      "output": [{"type": "input_image", "image_url": "x"}]}]})", "input"},
      {R"({"input": "x", "instructions": 5})", "instructions"},
      {R"({"input": "x", "model": 5})", "model"},
      {R"({"input": "x", "stream": "yes"})", "stream"},
      {R"({"input": "x", "stream_options": {"include_obfuscation": true}})", "stream_options"},
      {R"({"input": "x", "stream": true, "stream_options": {"include_usage": true}})", "stream_options"},
      {R"({"input": "x", "tools": {}})", "tools"},
      {R"({"input": "x", "tools": [5]})", "tools"},
      {R"({"input": "x", "tools": [{"type": "function"}]})", "tools"},
      {R"({"input": "x", "tools": [{"type": "function", "name": "f", "function": {}}]})", "tools"},
      {R"({"input": "x", "tool_choice": "any"})", "tool_choice"},
      {R"({"input": "x", "tool_choice": {"type": "web_search_preview"}})", "tool_choice"},
      {R"({"input": "x", "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}})", "tool_choice"},
      {R"({"input": "x", "tool_choice": {"type": "function"}})", "tool_choice"},
      {R"({"input": "x", "tool_choice": 1})", "tool_choice"},
      {R"({"input": "x", "parallel_tool_calls": 1})", "parallel_tool_calls"},
      {R"({"input": "x", "max_output_tokens": 0})", "max_output_tokens"},
      {R"({"input": "x", "max_output_tokens": -5})", "max_output_tokens"},
      {R"({"input": "x", "max_output_tokens": 1.5})", "max_output_tokens"},
      {R"({"input": "x", "max_output_tokens": "10"})", "max_output_tokens"},
      {R"({"input": "x", "reasoning": "high"})", "reasoning"},
      {R"({"input": "x", "reasoning": {"effort": "extreme"}})", "reasoning"},
      {R"({"input": "x", "reasoning": {"effort": 3}})", "reasoning"},
      {R"({"input": "x", "reasoning": {"summary": "long"}})", "reasoning"},
      {R"({"input": "x", "reasoning": {"mode": "pro"}})", "reasoning"},
      {R"({"input": "x", "text": "json"})", "text"},
      {R"({"input": "x", "text": {"format": {"type": "grammar"}}})", "text"},
      {R"({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}})", "text"},
      {R"({"input": "x", "text": {"format": {"type": "json_schema", "schema": {}, "json_schema": {}}}})", "text"},
      {R"({"input": "x", "text": {"format": "json_object"}})", "text"},
      {R"({"input": "x", "text": {"verbosity": "loud"}})", "text"},
      {R"({"input": "x", "text": {"style": 1}})", "text"},
      {R"({"input": "x", "include": "all"})", "include"},
      {R"({"input": "x", "include": [1]})", "include"},
      {R"({"input": "x", "metadata": {"k": 1}})", "metadata"},
      {R"({"input": "x", "metadata": []})", "metadata"},
      {R"({"input": "x", "user": 5})", "user"},
      {R"({"input": "x", "prompt_cache_key": []})", "prompt_cache_key"},
  };
  for (const auto& [body, param] : cases) {
    ApiError e = error_of(J(body));
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param.value_or(""), param) << body << " -> " << e.message;
    EXPECT_FALSE(e.message.empty()) << body;
  }
  EXPECT_NE(error_of(J(R"({"input": "x", "previous_response_id": "r"})")).message.find("store"), std::string::npos);
  EXPECT_NE(error_of(J(R"({"input": [{"role": "user", "content": [{"type": "input_image"}]}]})")).message.find("input_image"),
            std::string::npos);
  EXPECT_EQ(error_of(J("[1]")).status, 400);
  // Nulls are absent fields.
  EXPECT_EQ(error_of(J(R"({"input": "x", "previous_response_id": null, "background": false, "tools": null,
                           "conversation": null, "text": null, "reasoning": null, "truncation": null})")).status, 0);
}

// Every field of a full request replaced by values of every JSON type: an answer, never a throw.
TEST(ResponsesRequest, HostileValuesNeverThrow) {
  const ojson full = J(R"({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "a"}]},
      {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "c", "output": "o"}],
      "instructions": "i", "tools": [{"type": "function", "name": "f", "parameters": {}}], "tool_choice": "auto",
      "max_output_tokens": 5, "reasoning": {"effort": "low"}, "text": {"format": {"type": "json_schema", "schema": {}}},
      "stream": true, "stream_options": {"include_obfuscation": true}, "metadata": {"a": "b"}, "include": ["x"],
      "chat_template_kwargs": {"a": 1}})");
  const ojson junk[] = {nullptr, 5, -1, 1.5, "s", true, ojson::array(), ojson::object(), J("[null]"), J("[{}]"),
                        J(R"({"type": 1})"), J(R"([{"type": "message"}])")};
  std::vector<ojson::json_pointer> paths;
  const ojson flat = full.flatten();
  for (const auto& item : flat.items()) {
    ojson::json_pointer p(item.key());
    for (; !p.empty(); p = p.parent_pointer()) paths.push_back(p);
  }
  for (const auto& p : paths)
    for (const ojson& v : junk) {
      ojson body = full;
      body[p] = v;
      ApiResult<Translated> r = bad_request("");
      EXPECT_NO_THROW(r = to_chat_request(body)) << p.to_string();
      // Caught by the checks, not by the catch-all that guards against a missed one.
      if (auto* e = std::get_if<ApiError>(&r)) {
        EXPECT_EQ(e->message.find("malformed request"), std::string::npos) << p.to_string() << ": " << e->message;
      }
    }
}

TEST(ResponsesRequest, ChatErrorsAreRenamed) {
  ApiError e = to_responses_error(bad_request("'max_tokens' must be between 1 and 2", "max_tokens"));
  EXPECT_EQ(e.param, "max_output_tokens");
  EXPECT_EQ(e.message, "'max_output_tokens' must be between 1 and 2");
  e = to_responses_error(bad_request("'messages' must be a non-empty array", "messages"));
  EXPECT_EQ(e.param, "input");
  EXPECT_EQ(e.message, "'input' must be a non-empty array");
  e = to_responses_error(bad_request("'response_format.json_schema.schema' is required", "response_format"));
  EXPECT_EQ(e.param, "text");
  EXPECT_EQ(e.message, "'text.format.schema' is required");
  e = to_responses_error(bad_request("tools[0].function.name 'a b' must be 1-64 of a-z", "tools"));
  EXPECT_EQ(e.message, "tools[0].name 'a b' must be 1-64 of a-z");
  e = to_responses_error(bad_request("'temperature' must be between 0 and 2", "temperature"));
  EXPECT_EQ(e.param, "temperature");
}

// ---- the Response object --------------------------------------------------------------------

const ojson kEcho = [] {
  auto r = to_chat_request(J(R"({"input": "x", "instructions": "be", "max_output_tokens": 9})"));
  return std::get<Translated>(r).echo;
}();

TEST(ResponsesObject, ReasoningTextAndCalls) {
  std::vector<chat::ToolCall> calls = {{"call_a", "get", "{\"x\":1}"}, {"call_b", "put", "{}"}};
  Usage u{10, 20, 4, 7};
  ojson r = response_object("resp_1", 1700000000, "m", kEcho, "think", "Hello", calls, "tool_calls", u);
  EXPECT_EQ(r["id"], "resp_1");
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["created_at"], 1700000000);
  EXPECT_EQ(r["status"], "completed");
  EXPECT_TRUE(r["error"].is_null());
  EXPECT_TRUE(r["incomplete_details"].is_null());
  EXPECT_EQ(r["model"], "m");
  EXPECT_EQ(r["instructions"], "be");
  EXPECT_EQ(r["max_output_tokens"], 9);
  EXPECT_EQ(r["tool_choice"], "auto");
  EXPECT_FALSE(r.contains("output_text"));  // an SDK convenience, not on the wire
  EXPECT_EQ(r["usage"], J(R"({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 20,
                               "output_tokens_details": {"reasoning_tokens": 7}, "total_tokens": 30})"));
  const ojson& out = r["output"];
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0]["type"], "reasoning");
  EXPECT_EQ(out[0]["id"].get<std::string>().rfind("rs_", 0), 0u);
  EXPECT_EQ(out[0]["summary"], ojson::array());
  EXPECT_EQ(out[0]["content"], J(R"([{"type": "reasoning_text", "text": "think"}])"));
  EXPECT_EQ(out[1]["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(out[1]["id"].get<std::string>().size(), 4u + 24u);
  ojson msg = out[1];
  msg.erase("id");
  EXPECT_EQ(msg, J(R"({"type": "message", "status": "completed", "role": "assistant", "content": [
                      {"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]})"));
  ojson fc = out[2];
  EXPECT_EQ(fc["id"].get<std::string>().rfind("fc_", 0), 0u);
  fc.erase("id");
  EXPECT_EQ(fc, J(R"({"type": "function_call", "status": "completed", "arguments": "{\"x\":1}", "call_id": "call_a",
                     "name": "get"})"));
  EXPECT_EQ(out[3]["call_id"], "call_b");
  EXPECT_NE(out[2]["id"], out[3]["id"]);
}

TEST(ResponsesObject, TextOnlyAndIncomplete) {
  ojson r = response_object("resp_1", 1, "m", kEcho, "", "Hi", {}, "stop", Usage{});
  ASSERT_EQ(r["output"].size(), 1u);
  EXPECT_EQ(r["output"][0]["type"], "message");
  r = response_object("resp_1", 1, "m", kEcho, "", "Hi th", {}, "length", Usage{1, 2, 0, 0});
  EXPECT_EQ(r["status"], "incomplete");
  EXPECT_EQ(r["incomplete_details"], J(R"({"reason": "max_output_tokens"})"));
  EXPECT_EQ(r["output"][0]["status"], "incomplete");
  r = response_object("resp_1", 1, "m", kEcho, "", "", {}, "stop", Usage{});
  EXPECT_EQ(r["output"], ojson::array());
}

// ---- the stream -----------------------------------------------------------------------------

struct Event {
  std::string type;
  ojson data;
};

std::vector<Event> parse_sse(const std::string& text) {
  std::vector<Event> events;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "an unterminated event";
    if (end == std::string::npos) break;
    const std::string block = text.substr(pos, end - pos);
    pos = end + 2;
    const size_t nl = block.find('\n');
    EXPECT_EQ(block.rfind("event: ", 0), 0u) << block;
    EXPECT_EQ(block.compare(nl + 1, 6, "data: "), 0) << block;
    EXPECT_EQ(block.find('\n', nl + 1), std::string::npos) << "data on one line";
    Event e{block.substr(7, nl - 7), ojson::parse(block.substr(nl + 7))};
    EXPECT_EQ(e.data["type"], e.type);
    events.push_back(std::move(e));
  }
  return events;
}

// The official SDK's accumulateResponse (lib/responses/ResponseAccumulator.ts), for the events
// hearth sends, with the checks that make the SDK throw turned into test failures.
ojson accumulate(const std::vector<Event>& events) {
  ojson snap;
  for (const Event& ev : events) {
    const ojson& e = ev.data;
    if (snap.is_null()) {
      EXPECT_EQ(ev.type, "response.created") << "the first event";
      snap = e["response"];
      continue;
    }
    auto output = [&]() -> ojson& {
      const size_t i = e["output_index"].get<size_t>();
      EXPECT_LT(i, snap["output"].size()) << ev.type << ": missing output";
      return snap["output"][std::min(i, snap["output"].size() - 1)];
    };
    auto content = [&](ojson& list) -> ojson& {
      const size_t i = e["content_index"].get<size_t>();
      EXPECT_LT(i, list.size()) << ev.type << ": missing content";
      return list[std::min(i, list.size() - 1)];
    };
    const std::string& t = ev.type;
    if (t == "response.created" || t == "response.in_progress" || t == "response.completed" ||
        t == "response.incomplete") {
      snap = e["response"];
    } else if (t == "response.output_item.added") {
      snap["output"].push_back(e["item"]);
    } else if (t == "response.output_item.done") {
      output() = e["item"];
    } else if (t == "response.content_part.added") {
      ojson& o = output();
      if (o["type"] == "message" && e["part"]["type"] != "reasoning_text") o["content"].push_back(e["part"]);
      else if (o["type"] == "reasoning" && e["part"]["type"] == "reasoning_text") o["content"].push_back(e["part"]);
      else ADD_FAILURE() << "a part the SDK drops";
    } else if (t == "response.content_part.done") {
      ojson& o = output();
      content(o["content"]) = e["part"];
    } else if (t == "response.output_text.delta") {
      ojson& part = content(output()["content"]);
      EXPECT_EQ(part["type"], "output_text");
      part["text"] = part["text"].get<std::string>() + e["delta"].get<std::string>();
      EXPECT_TRUE(e["logprobs"].is_array());
    } else if (t == "response.output_text.done") {
      content(output()["content"])["text"] = e["text"];
    } else if (t == "response.reasoning_text.delta") {
      ojson& part = content(output()["content"]);
      EXPECT_EQ(part["type"], "reasoning_text");
      part["text"] = part["text"].get<std::string>() + e["delta"].get<std::string>();
    } else if (t == "response.reasoning_text.done") {
      content(output()["content"])["text"] = e["text"];
    } else if (t == "response.function_call_arguments.delta") {
      ojson& o = output();
      EXPECT_EQ(o["type"], "function_call");
      o["arguments"] = o["arguments"].get<std::string>() + e["delta"].get<std::string>();
    } else if (t == "response.function_call_arguments.done") {
      output()["arguments"] = e["arguments"];
      EXPECT_TRUE(e.contains("name"));
    } else {
      ADD_FAILURE() << "unexpected event " << t;
    }
  }
  return snap;
}

// The stream, and checks every stream must pass: numbering, item ids, and the accumulated
// snapshot before the last event equal to the final object's output.
std::vector<Event> run_stream(const std::vector<chat::OutputDelta>& deltas, const std::string& finish,
                              ojson* final_response = nullptr) {
  ResponseStream s("resp_x", 1700000000, "m", kEcho);
  std::string text = s.start();
  for (const auto& d : deltas) text += s.add(d);
  text += s.finish(finish, Usage{3, 5, 0, 1});
  EXPECT_EQ(s.add({"more", "", {}}), "");  // nothing after the end
  std::vector<Event> events = parse_sse(text);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].data["sequence_number"], i) << events[i].type;
  EXPECT_GE(events.size(), 3u);
  if (events.size() < 3) return events;
  EXPECT_EQ(events[0].type, "response.created");
  EXPECT_EQ(events[1].type, "response.in_progress");
  for (int i : {0, 1}) {
    EXPECT_EQ(events[i].data["response"]["status"], "in_progress");
    EXPECT_EQ(events[i].data["response"]["output"], ojson::array());
    EXPECT_TRUE(events[i].data["response"]["usage"].is_null());
  }
  // Deltas and dones name the item they belong to.
  for (const Event& e : events)
    if (e.data.contains("item_id")) {
      const ojson& added = [&]() -> const ojson& {
        for (const Event& a : events)
          if (a.type == "response.output_item.added" && a.data["output_index"] == e.data["output_index"]) return a.data;
        return events[0].data;
      }();
      EXPECT_EQ(added["item"]["id"], e.data["item_id"]) << e.type;
    }
  std::vector<Event> before_end(events.begin(), events.end() - 1);
  ojson snap = accumulate(before_end);
  const ojson& last = events.back().data["response"];
  EXPECT_EQ(snap["output"], last["output"]);
  EXPECT_EQ(accumulate(events), last);
  if (final_response) *final_response = last;
  return events;
}

std::vector<std::string> types(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) out.push_back(e.type);
  return out;
}

// A non-stream object without its item ids, to compare with a stream's.
ojson without_ids(ojson r) {
  for (auto& item : r["output"]) item.erase("id");
  return r;
}

TEST(ResponsesStream, TextOnly) {
  ojson last;
  auto events = run_stream({{"Hel", "", {}}, {"lo", "", {}}}, "stop", &last);
  EXPECT_EQ(types(events), (std::vector<std::string>{
                               "response.created", "response.in_progress", "response.output_item.added",
                               "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
                               "response.output_text.done", "response.content_part.done", "response.output_item.done",
                               "response.completed"}));
  EXPECT_EQ(events[2].data["item"], J(R"({"id": ")" + last["output"][0]["id"].get<std::string>() +
                                      R"(", "type": "message", "status": "in_progress", "role": "assistant", "content": []})"));
  EXPECT_EQ(events[3].data["part"], J(R"({"type": "output_text", "text": "", "annotations": [], "logprobs": []})"));
  EXPECT_EQ(events[4].data["delta"], "Hel");
  EXPECT_EQ(events[6].data["text"], "Hello");
  EXPECT_EQ(events[7].data["part"]["text"], "Hello");
  for (int i = 3; i <= 7; ++i) {
    EXPECT_EQ(events[i].data["output_index"], 0);
    EXPECT_EQ(events[i].data["content_index"], 0);
  }
  EXPECT_EQ(last["status"], "completed");
  EXPECT_EQ(last["usage"]["total_tokens"], 8);
  EXPECT_EQ(without_ids(last),
            without_ids(response_object("resp_x", 1700000000, "m", kEcho, "", "Hello", {}, "stop", Usage{3, 5, 0, 1})));
}

TEST(ResponsesStream, ReasoningThenText) {
  ojson last;
  auto events = run_stream({{"", "Let me", {}}, {"", " think", {}}, {"An", "", {}}, {"swer", "", {}}}, "stop", &last);
  EXPECT_EQ(types(events), (std::vector<std::string>{
                               "response.created", "response.in_progress",
                               "response.output_item.added", "response.content_part.added",
                               "response.reasoning_text.delta", "response.reasoning_text.delta",
                               "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
                               "response.output_item.added", "response.content_part.added",
                               "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
                               "response.content_part.done", "response.output_item.done", "response.completed"}));
  EXPECT_EQ(events[3].data["part"], J(R"({"type": "reasoning_text", "text": ""})"));
  EXPECT_EQ(events[6].data["text"], "Let me think");
  EXPECT_EQ(events[9].data["output_index"], 1);
  EXPECT_EQ(events[13].data["text"], "Answer");
  EXPECT_EQ(without_ids(last), without_ids(response_object("resp_x", 1700000000, "m", kEcho, "Let me think", "Answer",
                                                           {}, "stop", Usage{3, 5, 0, 1})));
}

TEST(ResponsesStream, TextThenTwoCalls) {
  const std::vector<chat::ToolCall> calls = {{"call_1", "get", "{\"city\":\"Paris\"}"}, {"call_2", "put", "{}"}};
  ojson last;
  auto events = run_stream({{"Checking.", "", {}}, {"", "", {calls[0]}}, {"", "", {calls[1]}}}, "tool_calls", &last);
  EXPECT_EQ(types(events), (std::vector<std::string>{
                               "response.created", "response.in_progress",
                               "response.output_item.added", "response.content_part.added", "response.output_text.delta",
                               "response.output_text.done", "response.content_part.done", "response.output_item.done",
                               "response.output_item.added", "response.function_call_arguments.delta",
                               "response.function_call_arguments.done", "response.output_item.done",
                               "response.output_item.added", "response.function_call_arguments.delta",
                               "response.function_call_arguments.done", "response.output_item.done",
                               "response.completed"}));
  const ojson& added = events[8].data;
  EXPECT_EQ(added["output_index"], 1);
  EXPECT_EQ(added["item"]["arguments"], "");
  EXPECT_EQ(added["item"]["status"], "in_progress");
  EXPECT_EQ(added["item"]["call_id"], "call_1");
  EXPECT_EQ(added["item"]["name"], "get");
  EXPECT_EQ(events[9].data["delta"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(events[10].data["name"], "get");
  EXPECT_EQ(events[10].data["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(events[12].data["output_index"], 2);
  EXPECT_EQ(last["output"][2]["call_id"], "call_2");
  EXPECT_EQ(without_ids(last), without_ids(response_object("resp_x", 1700000000, "m", kEcho, "", "Checking.", calls,
                                                           "tool_calls", Usage{3, 5, 0, 1})));
  // Both calls in one delta: the same items.
  ojson last2;
  run_stream({{"Checking.", "", calls}}, "tool_calls", &last2);
  EXPECT_EQ(without_ids(last2), without_ids(last));
}

TEST(ResponsesStream, IncompleteAtLength) {
  ojson last;
  auto events = run_stream({{"", "hmm", {}}, {"Par", "", {}}}, "length", &last);
  EXPECT_EQ(events.back().type, "response.incomplete");
  EXPECT_EQ(last["status"], "incomplete");
  EXPECT_EQ(last["incomplete_details"], J(R"({"reason": "max_output_tokens"})"));
  EXPECT_EQ(last["output"][1]["status"], "incomplete");
  EXPECT_EQ(without_ids(last), without_ids(response_object("resp_x", 1700000000, "m", kEcho, "hmm", "Par", {},
                                                           "length", Usage{3, 5, 0, 1})));
  // Cut off while thinking: the reasoning item closes, the response is incomplete.
  events = run_stream({{"", "hmm", {}}}, "length", &last);
  EXPECT_EQ(last["output"].size(), 1u);
  EXPECT_EQ(last["status"], "incomplete");
}

TEST(ResponsesStream, EmptyAndImplicitStart) {
  ojson last;
  auto events = run_stream({}, "stop", &last);
  EXPECT_EQ(types(events),
            (std::vector<std::string>{"response.created", "response.in_progress", "response.completed"}));
  EXPECT_EQ(last["output"], ojson::array());
  // add() before start() starts the stream; empty deltas add nothing.
  ResponseStream s("resp_y", 1, "m", kEcho);
  std::string text = s.add({});
  text += s.add({"a", "", {}});
  text += s.start();
  text += s.finish("stop", Usage{});
  text += s.finish("stop", Usage{});
  events = parse_sse(text);
  EXPECT_EQ(types(events).size(), 9u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].data["sequence_number"], i);
}

TEST(ResponsesStream, TextAfterACallIsANewMessage) {
  ojson last;
  run_stream({{"a", "", {}}, {"", "", {{"call_1", "f", "{}"}}}, {"b", "", {}}}, "stop", &last);
  ASSERT_EQ(last["output"].size(), 3u);
  EXPECT_EQ(last["output"][0]["content"][0]["text"], "a");
  EXPECT_EQ(last["output"][1]["type"], "function_call");
  EXPECT_EQ(last["output"][2]["content"][0]["text"], "b");
}

TEST(ResponsesStream, BytesThatAreNotUtf8AreReplaced) {
  ResponseStream s("resp_z", 1, "m", kEcho);
  std::string text = s.start();
  text += s.add({"\xff", "", {}});
  text += s.finish("stop", Usage{});
  auto events = parse_sse(text);
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events[4].data["delta"], "\xef\xbf\xbd");
}

}  // namespace
}  // namespace hearth::api::responses
