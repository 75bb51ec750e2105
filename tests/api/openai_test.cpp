// The OpenAI request layer on its own: malformed bodies and fields become ApiErrors naming the
// field, valid ones become plans with OpenAI's defaults. (Run under ASan+UBSan by `make san-test`;
// the server peer test drives the same paths over HTTP with the official client.)
#include <gtest/gtest.h>

#include "api/api_fixture.h"
#include "api/openai.h"

namespace hearth::api {
namespace {

ApiError error_of(const std::string& body, bool chat) {
  ApiResult<ojson> j = parse_json_body(body);
  if (auto* e = std::get_if<ApiError>(&j)) return *e;
  auto plan = chat ? parse_chat_request(std::get<ojson>(j), fx().ctx) : parse_completion_request(std::get<ojson>(j), fx().ctx);
  if (auto* e = std::get_if<ApiError>(&plan)) return *e;
  auto lengths = resolve_lengths(std::get<GenerationPlan>(plan), fx().ctx);
  if (auto* e = std::get_if<ApiError>(&lengths)) return *e;
  return ApiError{0, "", "", std::nullopt, std::nullopt, 0};
}

TEST(ApiMalformed, BodiesThatAreNotJsonObjectsAre400) {
  for (const std::string& body : std::vector<std::string>{"", "{", "[1]", "3", "null", "\"x\"", "{\"a\":1}x", std::string("{\"a\":\"\xff\"}"),
                                 std::string("{\"a\":\"\xed\xa0\x80\"}"), std::string(100000, '['),
                                 "{\"a\":" + std::string(300, '[') + std::string(300, ']') + "}"}) {
    ApiError e = error_of(body, true);
    EXPECT_EQ(e.status, 400) << body.substr(0, 40);
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(ApiMalformed, WrongFieldsNameTheParam) {
  const std::string m = R"("messages":[{"role":"user","content":"hi"}])";
  const std::pair<std::string, std::string> cases[] = {
      {R"({"messages":"x"})", "messages"},
      {R"({"messages":[]})", "messages"},
      // A content part whose type is not a string (found by fuzz_openai: it threw).
      {R"({"messages":[{"role":"user","content":[{"type":{"5":100},"text":"b"}]}]})", "messages"},
      {"{" + m + R"(,"temperature":3})", "temperature"},
      {"{" + m + R"(,"top_p":0})", "top_p"},
      {"{" + m + R"(,"max_tokens":0})", "max_tokens"},
      {"{" + m + R"(,"max_tokens":1e300})", "max_tokens"},
      {"{" + m + R"(,"n":0})", "n"},
      {"{" + m + R"(,"stop":[""]})", "stop"},
      {"{" + m + R"(,"seed":"1"})", "seed"},
      {"{" + m + R"(,"logit_bias":{"x":1}})", "logit_bias"},
      {"{" + m + R"(,"logit_bias":{"1":101}})", "logit_bias"},
      {"{" + m + R"(,"top_logprobs":2})", "top_logprobs"},
      {"{" + m + R"(,"stream_options":{"include_usage":true}})", "stream_options"},
      {"{" + m + R"(,"max_tokens":60})", "messages"},  // context_length_exceeded
  };
  for (const auto& [body, param] : cases) {
    ApiError e = error_of(body, true);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param.value_or(""), param) << body;
  }
  EXPECT_EQ(error_of("{" + m + R"(,"max_tokens":60})", true).code.value_or(""), "context_length_exceeded");
  ApiError wrong_model = error_of("{" + m + R"(,"model":"other"})", true);
  EXPECT_EQ(wrong_model.status, 404);
  EXPECT_EQ(wrong_model.code.value_or(""), "model_not_found");
  for (const std::string& p : std::vector<std::string>{R"({"prompt":[]})", R"({"prompt":[-1]})", R"({"prompt":[1e9]})", R"({"prompt":{}})",
                              R"({"prompt":""})", R"({"prompt":"x","logprobs":21})", R"({"prompt":"x","suffix":"y"})"})
    EXPECT_EQ(error_of(p, false).status, 400) << p;
}

// A field hearth does not honour is a 400 naming it, never silently ignored: unknown fields,
// tools and structured outputs it cannot compile, unknown roles. The neutral values (no tools,
// tool_choice none/auto, response_format text), `user` and the developer role are fine, and so are
// the tools and structured outputs it does honour (peers/structured_outputs.test.mjs and
// peers/tools.test.mjs hold them against ajv, RegExp and the official clients).
TEST(ApiMalformed, FieldsNotHonouredAre400s) {
  const std::string m = R"("messages":[{"role":"user","content":"hi"}])";
  const std::string tool = R"([{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}])";
  const std::pair<std::string, std::string> refused[] = {
      {"{" + m + R"(,"frobnicate":1})", "frobnicate"},
      {"{" + m + R"(,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"array"}}}]})", "tools"},
      {"{" + m + R"(,"tools":"x"})", "tools"},
      {"{" + m + R"(,"tool_choice":"required"})", "tool_choice"},
      {"{" + m + R"(,"tool_choice":{"type":"function","function":{"name":"f"}}})", "tool_choice"},
      {"{" + m + R"(,"response_format":{"type":"yaml"}})", "response_format"},
      {"{" + m + R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"not":{}}}}})", "response_format"},
      {"{" + m + R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x"}}})", "response_format"},
      {"{" + m + R"(,"response_format":{"type":"json_object","strict":true}})", "response_format"},
      {"{" + m + R"(,"response_format":"json"})", "response_format"},
      {"{" + m + R"(,"structured_outputs":{"choice":[]}})", "structured_outputs"},
      {"{" + m + R"(,"structured_outputs":{"grammar":"root ::= root"}})", "structured_outputs"},
      {R"({"messages":[{"role":"wizard","content":"hi"}]})", "messages"},
      // ChatML has no tool-call syntax: a call cannot be forced in it.
      {"{" + m + R"(,"tools":)" + tool + R"(,"tool_choice":"required"})", "tool_choice"},
  };
  for (const auto& [body, param] : refused) {
    ApiError e = error_of(body, true);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param.value_or(""), param) << body;
  }
  EXPECT_EQ(error_of(R"({"prompt":"x","messages":[]})", false).param.value_or(""), "messages");
  for (const std::string& fine :
       {"{" + m + R"(,"tools":[],"tool_choice":"none","parallel_tool_calls":false,"user":"u"})",
        "{" + m + R"(,"response_format":{"type":"text"},"tool_choice":"auto"})",
        "{" + m + R"(,"response_format":{"type":"json_object"}})",
        "{" + m + R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"integer"}}}})",
        "{" + m + R"(,"structured_outputs":{"choice":["a","b"]}})",
        "{" + m + R"(,"tools":)" + tool + R"(,"tool_choice":"auto"})",
        std::string(R"({"messages":[{"role":"developer","content":"be brief"},{"role":"user","content":"hi"}]})")}) {
    auto body = parse_json_body(fine);
    ASSERT_TRUE(std::holds_alternative<ojson>(body)) << fine;
    auto plan = parse_chat_request(std::get<ojson>(body), fx().ctx);
    EXPECT_TRUE(std::holds_alternative<GenerationPlan>(plan)) << fine;
  }
}

TEST(ApiPlan, DefaultsAreOpenAIs) {
  auto j = parse_json_body(R"({"prompt":["a b", [1, 2, 3]], "n": 2, "stop": "x", "seed": -5})");
  auto plan = parse_completion_request(std::get<ojson>(j), fx().ctx);
  ASSERT_TRUE(std::holds_alternative<GenerationPlan>(plan));
  const GenerationPlan& p = std::get<GenerationPlan>(plan);
  EXPECT_EQ(p.prompts.size(), 2u);
  EXPECT_EQ(p.prompts[1].tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.max_tokens.value_or(0), 16);  // completions' default
  EXPECT_EQ(p.sampling.temperature, 1.0f);
  EXPECT_EQ(p.sampling.top_p, 1.0f);
  EXPECT_EQ(p.sampling.top_k, 0);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"x"}));
  EXPECT_TRUE(p.seeded);
  EXPECT_EQ(p.top_logprobs, -1);

  auto chat = parse_json_body(R"({"messages":[{"role":"user","content":"hi"}]})");
  auto cp = parse_chat_request(std::get<ojson>(chat), fx().ctx);
  ASSERT_TRUE(std::holds_alternative<GenerationPlan>(cp));
  // ChatML: <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n, special tokens parsed.
  const auto& prompt = std::get<GenerationPlan>(cp).prompts[0];
  EXPECT_EQ(prompt.text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(prompt.tokens.front(), fx().tok.find_token("<|im_start|>"));
  auto lengths = resolve_lengths(std::get<GenerationPlan>(cp), fx().ctx);
  ASSERT_TRUE(std::holds_alternative<std::vector<int64_t>>(lengths));
  // No max_tokens: the rest of the context.
  EXPECT_EQ(std::get<std::vector<int64_t>>(lengths)[0], 64 - int64_t(prompt.tokens.size()));
}

}  // namespace
}  // namespace hearth::api
