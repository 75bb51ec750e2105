// Tool calling on chat completions: the request's `tools`, `tool_choice` and
// `parallel_tool_calls`, checked; and the grammar that holds the model to its family's own call
// syntax with arguments that validate against the tool's schema: from the first token for
// `required` or a named tool, and from the call's opening marker on for `auto` (the model may
// answer in text, but a call it starts is well formed).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_error.h"
#include "base/result.h"
#include "chat/output_parser.h"

namespace hearth::api {

struct ToolRequest {
  enum class Choice { kNone, kAuto, kRequired, kNamed };
  std::vector<std::string> names;
  std::vector<nlohmann::ordered_json> parameters;  // [i]: tool i's JSON Schema (an object's)
  Choice choice = Choice::kAuto;
  std::string named;                               // kNamed: which tool
  bool parallel = true;
};

// nullopt when the request offers no tools (absent or an empty list). Tools must be functions
// with distinct names of [a-zA-Z0-9_-]{1,64} and parameters that describe an object.
ApiResult<std::optional<ToolRequest>> parse_tools(const nlohmann::ordered_json& body);

struct ToolGrammar {
  std::string gbnf;
  std::string after;  // the grammar starts once this text is generated ("" = from the first token)
};

// The call grammar for `format`, or nullopt where the choice or format needs none (kNone, or
// `auto` on a format whose calls have no opening marker). Errors name what cannot be compiled.
Result<std::optional<ToolGrammar>> tool_call_grammar(chat::ToolCallFormat format, const ToolRequest& tools);

// The special tokens a format's call syntax is written in, which its grammar must be able to
// produce although they are control tokens (Mistral's [TOOL_CALLS], DeepSeek's markers).
std::vector<std::string> tool_call_markers(chat::ToolCallFormat format);

}  // namespace hearth::api
