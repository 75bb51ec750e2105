// The OpenAI API's request and response shapes: validation of /v1/chat/completions and
// /v1/completions bodies into a generation plan (prompt tokens, sampling, stops), and the JSON of
// responses and stream chunks. Parsing is strict about types and ranges (400 with the offending
// `param`) and lenient about fields it does not know (clients send extras such as `user`).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_request.h"
#include "chat/template.h"
#include "model/arch.h"
#include "sampling/sampler.h"
#include "api/api_error.h"
#include "api/structured.h"
#include "api/tools.h"
#include "chat/output_parser.h"
#include "tokenizer/tokenizer.h"

namespace hearth::api {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// What the API layer knows of the model being served.
struct ModelContext {
  std::string name;                // the id clients use in "model"
  std::vector<std::string> aliases;// also accepted in "model"
  const tokenizer::Tokenizer* tokenizer = nullptr;
  const chat::Template* chat_template = nullptr;
  chat::ChatDefaults chat_defaults;
  int64_t max_context = 0;         // prompt + completion tokens per sequence
  int32_t n_vocab = 0;
  int64_t max_n = 16;              // most choices per request
  Pooling pooling = Pooling::kNone;// how the model pools embeddings (kNone: it serves none)
  bool generates = true;           // false: an encoder (BERT), which serves embeddings only
  int64_t n_embd = 0;              // width of its embeddings
  std::string rerank_template;     // a reranker's prompt (tokenizer.chat_template.rerank), if it has one
  GrammarCache* grammars = nullptr;// structured outputs (none: they are refused)
  chat::OutputFormats output_formats;  // how its answers carry reasoning and tool calls (from the template)
};

struct PromptPlan {
  std::vector<int32_t> tokens;
  std::string text;                // for echo
};

struct GenerationPlan {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;
  int n = 1;
  std::vector<PromptPlan> prompts;  // completions may batch several prompts
  SamplingParams sampling;
  bool seeded = false;
  std::optional<int64_t> max_tokens;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  int top_logprobs = -1;            // -1: none
  bool echo = false;
  bool tokens_as_ids = false;       // vLLM's return_tokens_as_token_ids: logprobs name tokens "token_id:N"
  std::shared_ptr<const grammar::CompiledGrammar> grammar;  // structured outputs or a tool call's
  std::string grammar_after;        // the grammar starts after this text (a tool call's opener under auto)
  // Chat answers split into content, reasoning and tool calls (chat/output_parser.h), when the
  // model reasons or the request offers tools.
  std::optional<chat::OutputFormats> output;
  std::vector<std::string> tool_names;                  // the tools a call may name
  std::map<std::string, ojson, std::less<>> tool_schemas;  // their parameters, to type XML arguments
  bool starts_in_reasoning = false;  // the prompt opened <think>
  // reasoning_budget: tokens of thinking before </think> is forced (-1: none), and the tokens of
  // <think> and </think>.
  int64_t reasoning_budget = -1;
  std::vector<int32_t> reasoning_open, reasoning_close;
};

// A request body: JSON (valid UTF-8, nesting at most 256 deep, so parsing cannot exhaust the
// stack) holding an object.
ApiResult<ojson> parse_json_body(const std::string& text);

// A prompt's tokens: BOS and EOS as the model asks (BOS not twice; WordPiece: [CLS] and [SEP]),
// special tokens parsed.
std::vector<int32_t> encode_prompt(const tokenizer::Tokenizer& tok, const std::string& text);

ApiResult<GenerationPlan> parse_chat_request(const ojson& body, const ModelContext& m);
ApiResult<GenerationPlan> parse_completion_request(const ojson& body, const ModelContext& m);

// Checks that prompt + max_tokens fit the context and fills in max_tokens for each prompt
// (default: the rest of the context). Returns max_tokens per prompt.
ApiResult<std::vector<int64_t>> resolve_lengths(const GenerationPlan& plan, const ModelContext& m);

// 404 unless `model` is absent or names the served model.
std::optional<ApiError> check_model(const ojson& body, const ModelContext& m);

// A token's text and bytes, for logprobs (the piece may be part of a UTF-8 character).
json logprob_entry_chat(const tokenizer::Tokenizer& tok, int32_t id, float logprob,
                        const std::vector<std::pair<int32_t, float>>& top, bool as_id);
// The text of a token in logprobs: its piece, or "token_id:N".
std::string token_name(const tokenizer::Tokenizer& tok, int32_t id, bool as_id);

std::string random_id(const char* prefix);

// Serialises JSON whose strings may hold bytes that are not UTF-8 (replaced by U+FFFD).
std::string dump(const json& j);

}  // namespace hearth::api
