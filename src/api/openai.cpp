#include "api/openai.h"

#include <algorithm>
#include <span>

#include <fmt/format.h>

#include <random>

namespace hearth::api {
namespace {

// Field readers: absent or null means "use the default"; a present value of the wrong type or
// out of range is a 400 naming the field.
std::optional<ApiError> read_number(const ojson& body, const char* key, double lo, double hi, float& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return bad_request(fmt::format("'{}' must be a number", key), key);
  const double v = it->get<double>();
  if (!(v >= lo && v <= hi)) return bad_request(fmt::format("'{}' must be between {} and {}", key, lo, hi), key);
  out = static_cast<float>(v);
  return std::nullopt;
}

std::optional<ApiError> read_int(const ojson& body, const char* key, int64_t lo, int64_t hi,
                                 std::optional<int64_t>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() && !(it->is_number_float() && it->get<double>() == std::floor(it->get<double>())))
    return bad_request(fmt::format("'{}' must be an integer", key), key);
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!(d >= double(lo) && d <= double(hi)))
      return bad_request(fmt::format("'{}' must be between {} and {}", key, lo, hi), key);
    out = static_cast<int64_t>(d);
    return std::nullopt;
  }
  const bool neg = it->is_number_integer() && !it->is_number_unsigned() && it->get<int64_t>() < 0;
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(hi))
    return bad_request(fmt::format("'{}' must be between {} and {}", key, lo, hi), key);
  const int64_t v = neg || !it->is_number_unsigned() ? it->get<int64_t>() : static_cast<int64_t>(it->get<uint64_t>());
  if (v < lo || v > hi) return bad_request(fmt::format("'{}' must be between {} and {}", key, lo, hi), key);
  out = v;
  return std::nullopt;
}

std::optional<ApiError> read_bool(const ojson& body, const char* key, bool& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return bad_request(fmt::format("'{}' must be a boolean", key), key);
  out = it->get<bool>();
  return std::nullopt;
}

#define API_TRY(expr)                           \
  do {                                          \
    if (auto api_error_ = (expr)) return *api_error_; \
  } while (0)

// Every field a generation request may carry (those chat and completions share, then each
// one's own). Anything else is a 400 that names it: a field hearth does not honour is never
// silently ignored. `user` is accepted as the opaque caller tag it is (nothing to honour).
constexpr std::string_view kCommonFields[] = {
    "model", "stream", "stream_options", "n", "best_of", "max_tokens", "max_completion_tokens", "temperature", "top_p",
    "top_k", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "seed", "logit_bias", "stop",
    "ignore_eos", "return_tokens_as_token_ids", "user", "logprobs", "structured_outputs"};
constexpr std::string_view kChatFields[] = {"messages", "top_logprobs", "chat_template_kwargs", "tools", "tool_choice",
                                            "parallel_tool_calls", "response_format", "reasoning_budget"};
constexpr std::string_view kCompletionFields[] = {"prompt", "echo", "suffix"};

std::optional<ApiError> check_fields(const ojson& body, std::span<const std::string_view> own) {
  for (const auto& item : body.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 cannot capture one
    const auto known = [&](std::span<const std::string_view> names) {
      return std::find(names.begin(), names.end(), key) != names.end();
    };
    if (!known(kCommonFields) && !known(own))
      return bad_request(fmt::format("'{}' is not supported by this server", key), key);
  }
  return std::nullopt;
}


// The prompt ends with an empty, closed reasoning block (Qwen3 with enable_thinking false renders
// "<think>\n\n</think>\n\n"): the answer comes straight away.
bool prompt_closes_reasoning(std::string_view prompt) {
  while (!prompt.empty() && (prompt.back() == '\n' || prompt.back() == ' ')) prompt.remove_suffix(1);
  return prompt.ends_with("</think>");
}

// response_format / structured_outputs, compiled for the engine.
std::optional<ApiError> parse_structured(const ojson& body, const ModelContext& m, GenerationPlan& plan) {
  auto gbnf = structured_output_gbnf(body, plan.chat);
  if (std::holds_alternative<ApiError>(gbnf)) return std::get<ApiError>(gbnf);
  const std::optional<std::string>& text = std::get<0>(gbnf);
  if (!text) return std::nullopt;
  const char* param = body.contains("structured_outputs") ? "structured_outputs" : "response_format";
  if (!m.grammars) return bad_request("structured outputs are not available for this model", param);
  std::string source = *text;
  // A model that thinks first keeps its thinking: the constraint starts after </think>.
  if (plan.chat && m.output_formats.reasoning == chat::ReasoningFormat::kThinkTags && !plan.prompts.empty() &&
      !prompt_closes_reasoning(plan.prompts[0].text))
    source = allow_reasoning_first(source, chat::prompt_opens_reasoning(plan.prompts[0].text, m.output_formats));
  auto compiled = m.grammars->compile(source);
  if (!compiled.ok()) return bad_request(compiled.error().message, param);
  plan.grammar = std::move(*compiled);
  if (plan.ignore_eos) return bad_request("'ignore_eos' cannot be combined with structured outputs", "ignore_eos");
  return std::nullopt;
}

// How a chat answer is read (reasoning and tool calls split from the text: chat/output_parser.h)
// and constrained (a tool call's grammar; room for reasoning before a structured answer).
std::optional<ApiError> plan_chat_output(const ojson& body, const ModelContext& m,
                                         const std::optional<ToolRequest>& tools, GenerationPlan& plan) {
  chat::OutputFormats formats = m.output_formats;
  const bool calls = tools && tools->choice != ToolRequest::Choice::kNone;
  if (calls) {
    plan.tool_names = tools->names;
    for (size_t i = 0; i < tools->names.size(); ++i) plan.tool_schemas[tools->names[i]] = tools->parameters[i];
  } else {
    formats.tools = chat::ToolCallFormat::kNone;
  }
  plan.starts_in_reasoning = chat::prompt_opens_reasoning(plan.prompts[0].text, formats);
  std::optional<int64_t> budget;
  API_TRY(read_int(body, "reasoning_budget", 0, int64_t{1} << 30, budget));
  if (budget) {
    // Thinking in <think> ... </think> (Qwen3, DeepSeek R1, QwQ): the budget ends it by forcing
    // "</think>" (one token in those vocabularies).
    if (formats.reasoning != chat::ReasoningFormat::kThinkTags)
      return bad_request("'reasoning_budget' needs a model that thinks in <think> ... </think>", "reasoning_budget");
    plan.reasoning_budget = *budget;
    plan.reasoning_open = m.tokenizer->encode("<think>", false, true);
    plan.reasoning_close = m.tokenizer->encode("</think>", false, true);
  }
  if (formats.tools != chat::ToolCallFormat::kNone || formats.reasoning != chat::ReasoningFormat::kNone)
    plan.output = formats;
  const bool forced = calls && (tools->choice == ToolRequest::Choice::kRequired || tools->choice == ToolRequest::Choice::kNamed);
  if (calls && (forced || !plan.grammar)) {
    if (forced && plan.grammar)
      return bad_request("a required tool call cannot also follow response_format / structured_outputs", "tool_choice");
    auto g = tool_call_grammar(formats.tools, *tools);
    if (!g.ok()) {
      // Under auto a schema the grammar compiler cannot take only loses the guarantee (calls are
      // still parsed and checked); a forced call must be guaranteed, so it is an error.
      if (forced) return bad_request(g.error().message, "tool_choice");
    } else if (*g) {
      if (!m.grammars) return bad_request("tool_choice needs structured outputs, which this model does not offer", "tool_choice");
      std::string gbnf = (*g)->gbnf;
      if (forced && formats.reasoning == chat::ReasoningFormat::kThinkTags && !prompt_closes_reasoning(plan.prompts[0].text))
        gbnf = allow_reasoning_first(gbnf, plan.starts_in_reasoning);
      auto compiled = m.grammars->compile(gbnf);
      if (!compiled.ok()) {
        if (forced) return bad_request(compiled.error().message, "tool_choice");
      } else {
        plan.grammar = std::move(*compiled);
        plan.grammar_after = (*g)->after;
      }
    }
  }
  return std::nullopt;
}

// The fields chat and completions share.
std::optional<ApiError> parse_common(const ojson& body, const ModelContext& m, GenerationPlan& plan) {
  if (auto e = check_model(body, m)) return e;
  API_TRY(read_bool(body, "stream", plan.stream));
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad_request("'stream_options' must be an object", "stream_options");
    if (!plan.stream) return bad_request("'stream_options' is only allowed with stream: true", "stream_options");
    API_TRY(read_bool(*it, "include_usage", plan.include_usage));
  }
  std::optional<int64_t> n;
  API_TRY(read_int(body, "n", 1, m.max_n, n));
  plan.n = static_cast<int>(n.value_or(1));
  std::optional<int64_t> best_of;
  API_TRY(read_int(body, "best_of", 1, m.max_n, best_of));
  if (best_of && *best_of != plan.n) return bad_request("'best_of' other than n is not supported", "best_of");

  std::optional<int64_t> max_tokens, max_completion_tokens;
  API_TRY(read_int(body, "max_tokens", 1, int64_t{1} << 40, max_tokens));
  API_TRY(read_int(body, "max_completion_tokens", 1, int64_t{1} << 40, max_completion_tokens));
  plan.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;

  SamplingParams& s = plan.sampling;
  s.temperature = 1.0f;  // OpenAI's defaults: plain sampling from the model's distribution
  s.top_k = 0;
  s.top_p = 1.0f;
  s.min_p = 0.0f;
  s.penalty_last_n = -1;
  API_TRY(read_number(body, "temperature", 0.0, 2.0, s.temperature));
  API_TRY(read_number(body, "top_p", 0.0, 1.0, s.top_p));
  if (body.contains("top_p") && body["top_p"].is_number() && s.top_p <= 0.0f)
    return bad_request("'top_p' must be in (0, 1]", "top_p");
  std::optional<int64_t> top_k;
  API_TRY(read_int(body, "top_k", -1, m.n_vocab, top_k));
  s.top_k = top_k && *top_k > 0 ? static_cast<int32_t>(*top_k) : 0;
  API_TRY(read_number(body, "min_p", 0.0, 1.0, s.min_p));
  API_TRY(read_number(body, "presence_penalty", -2.0, 2.0, s.presence_penalty));
  API_TRY(read_number(body, "frequency_penalty", -2.0, 2.0, s.frequency_penalty));
  API_TRY(read_number(body, "repetition_penalty", 0.01, 10.0, s.repeat_penalty));
  std::optional<int64_t> seed;
  API_TRY(read_int(body, "seed", INT64_MIN, INT64_MAX, seed));
  if (seed) {
    plan.seeded = true;
    s.seed = static_cast<uint64_t>(*seed);
  }
  if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad_request("'logit_bias' must be an object of token id -> bias", "logit_bias");
    for (const auto& [key, value] : it->items()) {
      char* end = nullptr;
      errno = 0;
      const long long id = key.empty() ? -1 : std::strtoll(key.c_str(), &end, 10);
      if (key.empty() || errno != 0 || *end != '\0' || id < 0 || id >= m.n_vocab)
        return bad_request(fmt::format("logit_bias key '{}' is not a token id of this model", key), "logit_bias");
      if (!value.is_number() || !(value.get<double>() >= -100.0 && value.get<double>() <= 100.0))
        return bad_request("logit_bias values must be numbers between -100 and 100", "logit_bias");
      s.logit_bias[static_cast<int32_t>(id)] = value.get<float>();
    }
  }
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      plan.stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      if (it->size() > 16) return bad_request("'stop' takes at most 16 strings", "stop");
      for (const auto& v : *it) {
        if (!v.is_string()) return bad_request("'stop' must be a string or an array of strings", "stop");
        plan.stop.push_back(v.get<std::string>());
      }
    } else {
      return bad_request("'stop' must be a string or an array of strings", "stop");
    }
    for (const std::string& stop : plan.stop)
      if (stop.empty()) return bad_request("'stop' strings must not be empty", "stop");
  }
  API_TRY(read_bool(body, "ignore_eos", plan.ignore_eos));
  API_TRY(read_bool(body, "return_tokens_as_token_ids", plan.tokens_as_ids));
  return std::nullopt;
}

constexpr size_t kMaxJsonDepth = 256;

// nlohmann's parser recurses per nesting level: bound the depth before parsing, so a body of a
// million '[' is a 400, not a stack overflow.
bool json_depth_ok(const std::string& text) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace

std::vector<int32_t> encode_prompt(const tokenizer::Tokenizer& tok, const std::string& text) {
  // WordPiece's [CLS] ... [SEP] come from the tokenizer, as llama.cpp adds them.
  if (tok.type() == tokenizer::VocabType::kWpm) return tok.encode(text, /*add_special=*/true, /*parse_special=*/true);
  std::vector<int32_t> ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
  // BOS as the model asks, unless the text (e.g. a chat template) already starts with it.
  if (tok.add_bos() && tok.bos() >= 0 && (ids.empty() || ids.front() != tok.bos())) ids.insert(ids.begin(), tok.bos());
  if (tok.add_eos() && tok.eos() >= 0) ids.push_back(tok.eos());
  return ids;
}


ApiResult<ojson> parse_json_body(const std::string& text) {
  if (!json_depth_ok(text)) return bad_request("the JSON body is nested too deeply");
  ojson body = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return bad_request("the body is not valid JSON (UTF-8)");
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  return body;
}

std::optional<ApiError> check_model(const ojson& body, const ModelContext& m) {
  auto it = body.find("model");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return bad_request("'model' must be a string", "model");
  const std::string name = it->get<std::string>();
  if (name == m.name) return std::nullopt;
  for (const std::string& a : m.aliases)
    if (name == a) return std::nullopt;
  ApiError e = api_error(404, fmt::format("The model '{}' does not exist. This server serves '{}'.", name, m.name),
                         "invalid_request_error", "model_not_found");
  e.param = "model";
  return e;
}

// An encoder computes embeddings and generates no text.
std::optional<ApiError> check_generates(const ModelContext& m) {
  if (m.generates) return std::nullopt;
  return bad_request(fmt::format("the model '{}' is an encoder: it serves {}, not text generation", m.name,
                                 m.pooling == Pooling::kRank ? "/v1/rerank" : "/v1/embeddings"),
                     "model");
}

ApiResult<GenerationPlan> parse_chat_request(const ojson& body, const ModelContext& m) {
  GenerationPlan plan;
  plan.chat = true;
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  if (auto e = check_generates(m)) return *e;
  auto msgs = body.find("messages");
  if (msgs == body.end() || !msgs->is_array() || msgs->empty())
    return bad_request("'messages' must be a non-empty array", "messages");
  if (auto e = check_fields(body, kChatFields)) return *e;
  for (const auto& msg : *msgs) {
    if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string())
      return bad_request("each message must be an object with a string 'role'", "messages");
    const std::string role = msg["role"].get<std::string>();
    if (role != "system" && role != "developer" && role != "user" && role != "assistant" && role != "tool")
      return bad_request(fmt::format("unknown message role '{}' (system, developer, user, assistant or tool)", role),
                         "messages");
    auto c = msg.find("content");
    if (c != msg.end() && !c->is_null() && !c->is_string() && !c->is_array())
      return bad_request("message 'content' must be a string or an array of content parts", "messages");
    if (c != msg.end() && c->is_array())
      for (const auto& part : *c)
        if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
            !part["text"].is_string())
          return bad_request("only text content parts are supported", "messages");
  }
  auto tools = parse_tools(body);
  if (std::holds_alternative<ApiError>(tools)) return std::get<ApiError>(tools);
  if (auto it = body.find("chat_template_kwargs"); it != body.end() && !it->is_null() && !it->is_object())
    return bad_request("'chat_template_kwargs' must be an object", "chat_template_kwargs");
  if (auto e = parse_common(body, m, plan)) return *e;
  bool logprobs = false;
  API_TRY(read_bool(body, "logprobs", logprobs));
  std::optional<int64_t> top;
  API_TRY(read_int(body, "top_logprobs", 0, 20, top));
  if (top && !logprobs) return bad_request("'top_logprobs' requires 'logprobs': true", "top_logprobs");
  plan.top_logprobs = logprobs ? static_cast<int>(top.value_or(0)) : -1;

  // Content parts become plain text for the template, as most templates expect a string; the
  // developer role (OpenAI's newer name for system) is system to the templates, which know only that.
  ojson request = body;
  for (auto& msg : request["messages"]) {
    if (msg["role"] == "developer") msg["role"] = "system";
    auto c = msg.find("content");
    if (c != msg.end() && c->is_array()) {
      std::string text;
      for (const auto& part : *c) text += part["text"].get<std::string>();
      *c = text;
    }
  }
  auto prompt = chat::apply_chat_template(*m.chat_template, request, m.chat_defaults);
  if (!prompt.ok()) return bad_request("chat template: " + prompt.error().message, "messages");
  PromptPlan p;
  p.text = *prompt;
  p.tokens = encode_prompt(*m.tokenizer, p.text);
  plan.prompts.push_back(std::move(p));
  if (auto e = parse_structured(body, m, plan)) return *e;
  if (auto e = plan_chat_output(body, m, std::get<0>(tools), plan)) return *e;
  return plan;
}

ApiResult<GenerationPlan> parse_completion_request(const ojson& body, const ModelContext& m) {
  GenerationPlan plan;
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  if (auto e = check_generates(m)) return *e;
  if (auto e = check_fields(body, kCompletionFields)) return *e;
  auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null()) return bad_request("'prompt' is required", "prompt");
  auto token_array = [&](const ojson& arr) -> std::optional<PromptPlan> {
    PromptPlan p;
    for (const auto& v : arr) {
      if (!v.is_number_integer()) return std::nullopt;
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= m.n_vocab) return std::nullopt;
      p.tokens.push_back(static_cast<int32_t>(id));
    }
    p.text = m.tokenizer->decode(p.tokens);
    return p;
  };
  const char* bad_prompt = "'prompt' must be a string, an array of strings, or an array of token ids (or of such arrays), with ids in the vocabulary";
  if (prompt->is_string()) {
    plan.prompts.push_back({encode_prompt(*m.tokenizer, prompt->get<std::string>()), prompt->get<std::string>()});
  } else if (prompt->is_array() && !prompt->empty()) {
    if ((*prompt)[0].is_number()) {
      auto p = token_array(*prompt);
      if (!p) return bad_request(bad_prompt, "prompt");
      plan.prompts.push_back(std::move(*p));
    } else {
      if (prompt->size() > 64) return bad_request("'prompt' takes at most 64 prompts", "prompt");
      for (const auto& item : *prompt) {
        if (item.is_string()) {
          plan.prompts.push_back({encode_prompt(*m.tokenizer, item.get<std::string>()), item.get<std::string>()});
        } else if (item.is_array()) {
          auto p = token_array(item);
          if (!p) return bad_request(bad_prompt, "prompt");
          plan.prompts.push_back(std::move(*p));
        } else {
          return bad_request(bad_prompt, "prompt");
        }
      }
    }
  } else {
    return bad_request(bad_prompt, "prompt");
  }
  for (const PromptPlan& p : plan.prompts)
    if (p.tokens.empty()) return bad_request("the prompt is empty", "prompt");
  if (auto it = body.find("suffix"); it != body.end() && !it->is_null())
    return bad_request("'suffix' is not supported", "suffix");
  if (auto e = parse_common(body, m, plan)) return *e;
  if (auto e = parse_structured(body, m, plan)) return *e;
  if (!body.contains("max_tokens") && !body.contains("max_completion_tokens")) plan.max_tokens = 16;  // OpenAI's default
  std::optional<int64_t> logprobs;
  API_TRY(read_int(body, "logprobs", 0, 20, logprobs));
  plan.top_logprobs = logprobs ? static_cast<int>(*logprobs) : -1;
  API_TRY(read_bool(body, "echo", plan.echo));
  if (plan.echo && plan.top_logprobs >= 0)
    return bad_request("'echo' together with 'logprobs' is not supported", "echo");
  if (plan.prompts.size() * size_t(plan.n) > size_t(m.max_n) * 4)
    return bad_request("too many choices: prompts x n is limited", "n");
  return plan;
}

ApiResult<std::vector<int64_t>> resolve_lengths(const GenerationPlan& plan, const ModelContext& m) {
  std::vector<int64_t> out;
  for (const PromptPlan& p : plan.prompts) {
    const auto n_prompt = static_cast<int64_t>(p.tokens.size());
    const int64_t want = plan.max_tokens.value_or(std::max<int64_t>(m.max_context - n_prompt, 0));
    if (n_prompt >= m.max_context || n_prompt + want > m.max_context) {
      ApiError e = bad_request(
          fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                      "({} in the {}, {} in the completion). Please reduce the length of the {} or completion.",
                      m.max_context, n_prompt + want, n_prompt, plan.chat ? "messages" : "prompt", want,
                      plan.chat ? "messages" : "prompt"),
          plan.chat ? "messages" : "prompt");
      e.code = "context_length_exceeded";
      return e;
    }
    out.push_back(want);
  }
  return out;
}

std::string token_name(const tokenizer::Tokenizer& tok, int32_t id, bool as_id) {
  return as_id ? fmt::format("token_id:{}", id) : tok.token_to_piece(id, true);
}

json logprob_entry_chat(const tokenizer::Tokenizer& tok, int32_t id, float logprob,
                        const std::vector<std::pair<int32_t, float>>& top, bool as_id) {
  auto bytes_of = [](const std::string& s) {
    json b = json::array();
    for (unsigned char c : s) b.push_back(int(c));
    return b;
  };
  const std::string piece = token_name(tok, id, as_id);
  json entry = {{"token", piece}, {"logprob", logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", json::array()}};
  for (const auto& [tid, lp] : top) {
    const std::string tp = token_name(tok, tid, as_id);
    entry["top_logprobs"].push_back({{"token", tp}, {"logprob", lp}, {"bytes", bytes_of(tp)}});
  }
  return entry;
}

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace hearth::api
