// OpenAI's Responses API (POST /v1/responses) as a translation layer over chat completions: a
// Responses request becomes the equivalent chat-completions body (which parse_chat_request then
// checks and plans), and the chat pipeline's output (content, reasoning, whole tool calls from
// chat/output_parser.h) becomes a Response object, or its stream of typed SSE events.
//
// Stateless: hearth stores no responses. `store` is accepted (true, OpenAI's default, as well as
// false) but nothing is kept, so `previous_response_id`, `conversation` and `item_reference`
// input items, which would need a stored response, are 400s that say so; so is `background`.
//
// Supported request fields: model, input (a string, or items: messages with input_text /
// output_text / refusal parts, function_call, function_call_output; reasoning items are dropped),
// instructions, tools (function tools; other tool types, hosted by OpenAI, are ignored),
// tool_choice, parallel_tool_calls, max_output_tokens, temperature, top_p, reasoning {effort,
// summary} (effort none/minimal: chat_template_kwargs.enable_thinking false, else true; the effort
// is also passed as chat_template_kwargs.reasoning_effort for templates that read it, gpt-oss),
// text {format, verbosity}, stream, stream_options, store, include, metadata, user,
// prompt_cache_key, prompt_cache_retention, safety_identifier, service_tier, truncation
// ("disabled"), top_logprobs (0). Accepted but without effect: summary, verbosity, include,
// prompt-cache hints, service_tier. hearth's own chat extensions pass through unchanged: top_k,
// min_p, presence_penalty, frequency_penalty, repetition_penalty, seed, stop, logit_bias,
// ignore_eos, chat_template_kwargs. Anything else is a 400 naming it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_error.h"
#include "chat/output_parser.h"

namespace hearth::api::responses {

using ojson = nlohmann::ordered_json;

struct Translated {
  ojson chat_body;     // for parse_chat_request (stream: true also asks for usage in the stream)
  bool stream = false;
  std::string model;   // as the request named it ("" if absent)
  // The request fields a Response object repeats: instructions, tools (the function ones, as
  // given), tool_choice, temperature, top_p, max_output_tokens, parallel_tool_calls, text,
  // reasoning, metadata, truncation, ... with OpenAI's defaults where absent.
  ojson echo;
};

// Never throws: a malformed body is a 400 naming the Responses field.
ApiResult<Translated> to_chat_request(const ojson& body);

// parse_chat_request's and resolve_lengths' errors about the translated body name chat fields
// (messages, max_tokens, response_format); this renames them to the Responses ones (input,
// max_output_tokens, text) in `param` and in the message.
ApiError to_responses_error(ApiError e);

struct Usage {
  int64_t input_tokens = 0, output_tokens = 0, cached_tokens = 0, reasoning_tokens = 0;
};

// The Response object of a finished request: output items in the order reasoning, message (if any
// text), function calls; status "completed", or "incomplete" with incomplete_details {reason:
// "max_output_tokens"} when finish_reason is "length" (the message item is then "incomplete").
ojson response_object(const std::string& id, int64_t created_at, const std::string& model, const ojson& echo,
                      const std::string& reasoning, const std::string& content,
                      const std::vector<chat::ToolCall>& calls, const std::string& finish_reason, const Usage& usage);

// The stream of one response as SSE text ("event: TYPE\ndata: JSON\n\n"), each event numbered by
// sequence_number from 0. Items open and close as the kind of output changes (reasoning, text,
// a call), so output_index follows the order the model produced them; the closing
// response.completed / response.incomplete carries the whole object with those same items.
class ResponseStream {
 public:
  ResponseStream(std::string id, int64_t created_at, std::string model, ojson echo);
  // response.created and response.in_progress.
  std::string start();
  // Within one delta: reasoning, then content, then calls (the order the parser's formats write).
  std::string add(const chat::OutputDelta& delta);
  // Closes the open item and ends with response.completed or response.incomplete ("length").
  std::string finish(const std::string& finish_reason, const Usage& usage);

 private:
  enum class Kind { kNone, kReasoning, kMessage };
  std::string event(const char* type, ojson data);
  std::string open(Kind kind);
  std::string close(bool truncated);

  std::string id_, model_;
  int64_t created_at_ = 0;
  ojson echo_;
  int64_t seq_ = 0;
  bool started_ = false, finished_ = false;
  ojson items_ = ojson::array();  // finished items, in output order
  Kind open_ = Kind::kNone;
  std::string open_id_, open_text_;
};

// prefix + 24 lowercase hex digits ("resp_", "msg_", "rs_", "fc_").
std::string random_id(const char* prefix);

// One line of JSON; bytes that are not UTF-8 become U+FFFD (never throws).
std::string dump(const ojson& j);

}  // namespace hearth::api::responses
