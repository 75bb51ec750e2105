// Anthropic's Messages API (/v1/messages, /v1/messages/count_tokens) as a translation layer over
// hearth's OpenAI chat path: a Messages request becomes the equivalent chat-completions body (which
// parse_chat_request validates and plans), and the chat output (content, reasoning, tool calls,
// chat/output_parser.h) becomes a Message or its stream of server-sent events.
//
// What is refused (400 naming the field or block) rather than silently dropped: image, document,
// search-result and server-tool blocks; server tools (web search, bash, text editor, ...);
// container, mcp_servers, service_tier and every other field hearth does not honour; an assistant
// prefill (a final assistant message: hearth's templates cannot continue one); thinking with
// display "omitted"; output_config.effort. Accepted and without effect: cache_control anywhere
// (hearth caches prefixes by itself), metadata.user_id (opaque), citations on text blocks and
// signatures of past thinking (nothing to check them against).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/api_error.h"
#include "chat/output_parser.h"

namespace hearth::api::anthropic {

struct Translated {
  nlohmann::ordered_json chat_body;  // an OpenAI chat-completions body for parse_chat_request
  bool stream = false;
  std::string model;                              // as requested ("" when absent)
  std::optional<int64_t> thinking_budget_tokens;  // thinking {type: enabled, budget_tokens}
};

// A Messages request -> the chat body. Mapping:
//   system (string | text blocks), role "system" messages   -> system messages
//   user: text blocks -> one user message (blocks joined by "\n"); tool_result -> a "tool" message
//     each (tool_call_id; text content; is_error prefixes "Error: "), in the blocks' order
//   assistant: text -> content; tool_use -> tool_calls (arguments = JSON text of input);
//     thinking -> reasoning_content; redacted_thinking -> dropped
//   consecutive user (or assistant) turns are combined, as Anthropic does ("\n\n" between them)
//   tools [{name, description, input_schema}] -> function tools; tool_choice auto|any|tool|none ->
//     auto|required|named|none, disable_parallel_tool_use -> parallel_tool_calls: false
//   max_tokens, stop_sequences -> stop, temperature (0..1), top_p, top_k, stream, model
//   thinking enabled|adaptive -> chat_template_kwargs.enable_thinking true; disabled -> false
//   output_config.format {type: json_schema, schema} -> response_format json_schema
// Never throws; any malformed input is a 400 whose message names the field (JSON path).
ApiResult<Translated> to_chat_request(const nlohmann::ordered_json& body);
// /v1/messages/count_tokens: the same body with max_tokens optional and no streaming.
ApiResult<Translated> to_chat_request_for_count(const nlohmann::ordered_json& body);

// {"type": "error", "error": {"type", "message"}}, the type from the HTTP status: 400 (and any
// other 4xx) invalid_request_error, 401 authentication_error, 403 permission_error, 404
// not_found_error, 413 request_too_large, 429 rate_limit_error, 503/529 overloaded_error, other
// 5xx api_error.
nlohmann::json error_body(const ApiError& e);
// The same error as an SSE event, for a failure after the stream started ("event: error").
std::string error_event(const ApiError& e);

// /v1/messages/count_tokens' answer: {"input_tokens": n}.
nlohmann::json count_tokens_body(int64_t input_tokens);

struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cache_read_input_tokens = 0;
};

// hearth's finish reason ("stop", "length", "tool_calls", "content_filter", "error") -> Anthropic's
// stop_reason: a matched stop sequence -> stop_sequence, length -> max_tokens, calls -> tool_use,
// content_filter -> refusal, anything else -> end_turn.
std::string stop_reason(const std::string& finish_reason, const std::string& stop_sequence,
                        bool has_tool_calls);

// A whole (non-streaming) Message: {id, type: "message", role: "assistant", model, content:
// [thinking block if any reasoning, text block if any content (an empty one when nothing else),
// tool_use blocks], stop_reason, stop_sequence (the matched one, else null), stop_details: null,
// usage {input_tokens, output_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens}}.
nlohmann::json message(const std::string& id, const std::string& model,
                       const std::string& reasoning, const std::string& content,
                       const std::vector<chat::ToolCall>& calls, const std::string& finish_reason,
                       const std::string& stop_sequence, const Usage& usage);

// A Message as server-sent events ("event: NAME\ndata: JSON\n\n"): message_start (empty content),
// ping, then one block per run of one kind of output, indexed 0, 1, 2, ... in order:
//   thinking: content_block_start {thinking: "", signature: ""}, thinking_delta..., a
//     signature_delta "" (Anthropic always sends one before the block stops), content_block_stop
//   text: content_block_start {text: ""}, text_delta..., content_block_stop
//   tool_use: content_block_start {id, name, input: {}}, one input_json_delta holding the whole
//     arguments JSON, content_block_stop
// then message_delta {delta: {stop_reason, stop_sequence, stop_details}, usage} and message_stop.
// Given output in the order reasoning -> content -> calls (how models answer), the blocks equal
// message()'s for the same totals; text after a call opens a new text block.
// Text is held back at an incomplete UTF-8 sequence, so a character split across deltas arrives
// whole. Each call returns the SSE text to send (possibly empty).
class MessageStream {
 public:
  MessageStream(std::string id, std::string model, int64_t input_tokens);

  std::string start();                              // message_start + ping (once)
  std::string add(const chat::OutputDelta& delta);  // reasoning, then content, then calls
  std::string finish(const std::string& finish_reason, const std::string& stop_sequence,
                     const Usage& usage);

 private:
  enum class Block { kNone, kThinking, kText };
  std::string open(Block kind);  // closes the open block unless it is `kind`, then opens one
  std::string close();
  std::string flush_held();  // the held-back bytes of the open block, as one delta

  std::string id_, model_;
  int64_t input_tokens_;
  bool started_ = false, finished_ = false, any_call_ = false;
  Block open_ = Block::kNone;
  int index_ = -1;    // of the open (or last) block
  std::string held_;  // an incomplete UTF-8 sequence at the end of the open block's text
};

// "msg_" + 24 alphanumerics.
std::string random_message_id();

}  // namespace hearth::api::anthropic
