#include "api/responses.h"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace hearth::api::responses {
namespace {

// A present, non-null field, or nullptr.
const ojson* given(const ojson& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null() ? &*it : nullptr;
}

bool one_of(const ojson& v, std::initializer_list<std::string_view> names) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  return std::find(names.begin(), names.end(), s) != names.end();
}

// ---- the request ----------------------------------------------------------------------------

// Request fields hearth reads, then hearth's chat extensions (passed through for
// parse_chat_request to check).
constexpr std::string_view kFields[] = {
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
    "temperature", "top_p", "reasoning", "text", "stream", "stream_options", "store", "include", "metadata", "user",
    "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "service_tier", "truncation", "top_logprobs",
    "previous_response_id", "conversation", "background"};
constexpr std::string_view kChatExtensions[] = {"top_k", "min_p", "presence_penalty", "frequency_penalty",
                                                "repetition_penalty", "seed", "stop", "logit_bias", "ignore_eos",
                                                "chat_template_kwargs"};

// The text of a message's content: a string, or parts (input_text, output_text, refusal).
ApiResult<std::string> content_text(const ojson& content, const std::string& where) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    return bad_request(fmt::format("{}.content must be a string or an array of content parts", where), "input");
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const ojson& part = content[j];
    const std::string at = fmt::format("{}.content[{}]", where, j);
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      return bad_request(fmt::format("{} must be an object with a string 'type'", at), "input");
    const std::string type = part["type"].get<std::string>();
    const char* key = type == "input_text" || type == "output_text" || type == "text" ? "text"
                      : type == "refusal"                                             ? "refusal"
                                                                                      : nullptr;
    if (!key) {
      if (type == "input_image" || type == "input_file" || type == "input_audio")
        return bad_request(fmt::format("{} is an '{}' part: hearth takes text only (input_text)", at, type), "input");
      return bad_request(fmt::format("{} has unknown type '{}' (input_text, output_text or refusal)", at, type),
                         "input");
    }
    auto t = part.find(key);
    if (t == part.end() || !t->is_string())
      return bad_request(fmt::format("{}.{} must be a string", at, key), "input");
    text += t->get<std::string>();
  }
  return text;
}

// `input` as chat messages (after the instructions' system message, if any).
std::optional<ApiError> translate_input(const ojson& input, ojson& messages) {
  if (input.is_string()) {
    messages.push_back({{"role", "user"}, {"content", input.get<std::string>()}});
    return std::nullopt;
  }
  if (!input.is_array()) return bad_request("'input' must be a string or an array of input items", "input");
  std::map<std::string, std::string, std::less<>> call_names;  // call_id -> function name
  for (size_t i = 0; i < input.size(); ++i) {
    const ojson& item = input[i];
    const std::string where = fmt::format("input[{}]", i);
    if (!item.is_object()) return bad_request(fmt::format("{} must be an object", where), "input");
    const ojson* type_field = given(item, "type");
    if (type_field && !type_field->is_string())
      return bad_request(fmt::format("{}.type must be a string", where), "input");
    const std::string type = type_field ? type_field->get<std::string>() : "message";
    auto string_field = [&](const char* key) -> ApiResult<std::string> {
      const ojson* v = given(item, key);
      if (!v || !v->is_string())
        return bad_request(fmt::format("{} ({}) needs a string '{}'", where, type, key), "input");
      return v->get<std::string>();
    };
    if (type == "message") {
      const ojson* role = given(item, "role");
      if (!role || !one_of(*role, {"user", "system", "developer", "assistant"}))
        return bad_request(fmt::format("{}.role must be one of user, system, developer, assistant", where), "input");
      const ojson* content = given(item, "content");
      if (!content) return bad_request(fmt::format("{}.content is required", where), "input");
      auto text = content_text(*content, where);
      if (auto* e = std::get_if<ApiError>(&text)) return *e;
      messages.push_back({{"role", role->get<std::string>()}, {"content", std::get<std::string>(text)}});
    } else if (type == "function_call") {
      auto call_id = string_field("call_id");
      if (auto* e = std::get_if<ApiError>(&call_id)) return *e;
      auto name = string_field("name");
      if (auto* e = std::get_if<ApiError>(&name)) return *e;
      auto arguments = string_field("arguments");
      if (auto* e = std::get_if<ApiError>(&arguments)) return *e;
      call_names[std::get<std::string>(call_id)] = std::get<std::string>(name);
      ojson call = {{"id", std::get<std::string>(call_id)},
                    {"type", "function"},
                    {"function", {{"name", std::get<std::string>(name)}, {"arguments", std::get<std::string>(arguments)}}}};
      // A turn's calls (and the text said before them) are one assistant message in chat.
      if (messages.empty() || messages.back()["role"] != "assistant")
        messages.push_back({{"role", "assistant"}, {"content", nullptr}});
      ojson& turn = messages.back();
      if (!turn.contains("tool_calls")) turn["tool_calls"] = ojson::array();
      turn["tool_calls"].push_back(std::move(call));
    } else if (type == "function_call_output") {
      auto call_id = string_field("call_id");
      if (auto* e = std::get_if<ApiError>(&call_id)) return *e;
      const ojson* output = given(item, "output");
      if (!output) return bad_request(fmt::format("{} (function_call_output) needs an 'output'", where), "input");
      auto text = content_text(*output, where + ".output");
      if (auto* e = std::get_if<ApiError>(&text)) return *e;
      ojson msg = {{"role", "tool"}, {"tool_call_id", std::get<std::string>(call_id)}, {"content", std::get<std::string>(text)}};
      if (auto it = call_names.find(std::get<std::string>(call_id)); it != call_names.end()) msg["name"] = it->second;
      messages.push_back(std::move(msg));
    } else if (type == "reasoning") {
      // Earlier turns' reasoning: chat templates drop it from history, so hearth does too.
    } else if (type == "item_reference") {
      return bad_request(fmt::format("{} is an item_reference: hearth stores no responses or items, so send the "
                                     "item itself", where),
                         "input");
    } else {
      return bad_request(fmt::format("{} has type '{}', which hearth does not take (message, function_call, "
                                     "function_call_output, reasoning)", where, type),
                         "input");
    }
  }
  return std::nullopt;
}

// Function tools -> chat tools; OpenAI's hosted tools (web_search, file_search, mcp, ...) are
// skipped. `echo` gets the function tools as given.
std::optional<ApiError> translate_tools(const ojson& tools, ojson& chat_tools, ojson& echo) {
  if (!tools.is_array()) return bad_request("'tools' must be an array", "tools");
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& t = tools[i];
    if (!t.is_object() || !t.contains("type") || !t["type"].is_string())
      return bad_request(fmt::format("tools[{}] must be an object with a string 'type'", i), "tools");
    if (t["type"] != "function") continue;
    ojson fn = ojson::object();
    for (const auto& item : t.items()) {
      const std::string& key = item.key();
      if (key == "type") continue;
      if (key != "name" && key != "description" && key != "parameters" && key != "strict")
        return bad_request(fmt::format("tools[{}].{} is not supported", i, key), "tools");
      if (!item.value().is_null()) fn[key] = item.value();
    }
    if (!fn.contains("name") || !fn["name"].is_string())
      return bad_request(fmt::format("tools[{}] (function) needs a string 'name'", i), "tools");
    chat_tools.push_back({{"type", "function"}, {"function", std::move(fn)}});
    echo.push_back(t);
  }
  return std::nullopt;
}

ApiResult<ojson> translate_tool_choice(const ojson& choice) {
  if (one_of(choice, {"none", "auto", "required"})) return choice;
  if (choice.is_string())
    return bad_request(fmt::format("'tool_choice' '{}' is not one of none, auto, required", choice.get<std::string>()),
                       "tool_choice");
  if (!choice.is_object() || !choice.contains("type") || !choice["type"].is_string())
    return bad_request("'tool_choice' must be none, auto, required or {\"type\": \"function\", \"name\": ...}",
                       "tool_choice");
  const std::string type = choice["type"].get<std::string>();
  if (type != "function")
    return bad_request(fmt::format("'tool_choice' of type '{}' is not supported: hearth offers function tools only",
                                   type),
                       "tool_choice");
  const ojson* name = given(choice, "name");
  if (!name || !name->is_string())
    return bad_request("'tool_choice' {\"type\": \"function\"} needs a string 'name'", "tool_choice");
  return ojson{{"type", "function"}, {"function", {{"name", *name}}}};
}

// text.format -> response_format (nothing for plain text).
ApiResult<ojson> translate_format(const ojson& format) {
  if (!format.is_object() || !format.contains("type") || !format["type"].is_string())
    return bad_request("'text.format' must be an object with a string 'type'", "text");
  const std::string type = format["type"].get<std::string>();
  auto only = [&](std::initializer_list<std::string_view> keys) -> std::optional<ApiError> {
    for (const auto& item : format.items())
      if (std::find(keys.begin(), keys.end(), item.key()) == keys.end())
        return bad_request(fmt::format("'text.format.{}' is not supported for type '{}'", item.key(), type), "text");
    return std::nullopt;
  };
  if (type == "text") {
    if (auto e = only({"type"})) return *e;
    return ojson();
  }
  if (type == "json_object") {
    if (auto e = only({"type"})) return *e;
    return ojson{{"type", "json_object"}};
  }
  if (type != "json_schema")
    return bad_request(fmt::format("'text.format' type '{}' is not one of text, json_object, json_schema", type),
                       "text");
  if (auto e = only({"type", "name", "schema", "description", "strict"})) return *e;
  if (!given(format, "schema")) return bad_request("'text.format.schema' is required for json_schema", "text");
  ojson js = ojson::object();
  for (const char* key : {"name", "schema", "description", "strict"})
    if (const ojson* v = given(format, key)) js[key] = *v;
  return ojson{{"type", "json_schema"}, {"json_schema", std::move(js)}};
}

std::optional<ApiError> check_string(const ojson& body, const char* key) {
  const ojson* v = given(body, key);
  if (v && !v->is_string()) return bad_request(fmt::format("'{}' must be a string", key), key);
  return std::nullopt;
}

std::optional<ApiError> check_bool(const ojson& body, const char* key) {
  const ojson* v = given(body, key);
  if (v && !v->is_boolean()) return bad_request(fmt::format("'{}' must be a boolean", key), key);
  return std::nullopt;
}

#define RESPONSES_TRY(expr)                        \
  do {                                             \
    if (auto responses_error_ = (expr)) return *responses_error_; \
  } while (0)

ApiResult<Translated> translate(const ojson& body) {
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    const auto known = [&](std::span<const std::string_view> names) {
      return std::find(names.begin(), names.end(), key) != names.end();
    };
    if (!known(kFields) && !known(kChatExtensions))
      return bad_request(fmt::format("'{}' is not supported by this server", key), key);
  }
  // What needs a stored response, or a job that outlives the request.
  if (given(body, "previous_response_id"))
    return bad_request("hearth does not store responses, so 'previous_response_id' cannot continue one: send the "
                       "whole conversation in 'input'",
                       "previous_response_id");
  if (given(body, "conversation"))
    return bad_request("hearth does not store conversations: send the whole conversation in 'input'", "conversation");
  RESPONSES_TRY(check_bool(body, "background"));
  if (const ojson* b = given(body, "background"); b && b->get<bool>())
    return bad_request("'background' responses are not supported (hearth stores no responses)", "background");

  for (const char* key : {"model", "instructions", "user", "prompt_cache_key", "prompt_cache_retention",
                          "safety_identifier", "service_tier"})
    RESPONSES_TRY(check_string(body, key));
  for (const char* key : {"stream", "store", "parallel_tool_calls"}) RESPONSES_TRY(check_bool(body, key));

  Translated out;
  ojson& chat = out.chat_body;
  chat = ojson::object();
  if (const ojson* model = given(body, "model")) {
    out.model = model->get<std::string>();
    chat["model"] = out.model;
  }

  // Messages: the instructions first, then the input items.
  ojson messages = ojson::array();
  const ojson* instructions = given(body, "instructions");
  if (instructions && !instructions->get<std::string>().empty())
    messages.push_back({{"role", "system"}, {"content", *instructions}});
  const ojson* input = given(body, "input");
  if (!input) return bad_request("'input' is required", "input");
  RESPONSES_TRY(translate_input(*input, messages));
  if (messages.empty()) return bad_request("'input' holds no messages", "input");
  chat["messages"] = std::move(messages);

  // Tools.
  ojson echo_tools = ojson::array();
  if (const ojson* tools = given(body, "tools")) {
    ojson chat_tools = ojson::array();
    RESPONSES_TRY(translate_tools(*tools, chat_tools, echo_tools));
    if (!chat_tools.empty()) chat["tools"] = std::move(chat_tools);
  }
  if (const ojson* choice = given(body, "tool_choice")) {
    auto c = translate_tool_choice(*choice);
    if (auto* e = std::get_if<ApiError>(&c)) return *e;
    chat["tool_choice"] = std::get<ojson>(c);
  }
  if (const ojson* p = given(body, "parallel_tool_calls")) chat["parallel_tool_calls"] = *p;

  // Sampling and length.
  if (const ojson* m = given(body, "max_output_tokens")) {
    if (!m->is_number_integer() || (m->is_number_unsigned() ? m->get<uint64_t>() < 1 : m->get<int64_t>() < 1))
      return bad_request("'max_output_tokens' must be a positive integer", "max_output_tokens");
    chat["max_tokens"] = *m;
  }
  for (const char* key : {"temperature", "top_p"})
    if (const ojson* v = given(body, key)) chat[key] = *v;
  for (std::string_view key : kChatExtensions)
    if (const ojson* v = given(body, std::string(key).c_str())) chat[std::string(key)] = *v;
  if (const ojson* user = given(body, "user")) chat["user"] = *user;

  // Reasoning: the effort switches the template's thinking (Qwen3's enable_thinking; gpt-oss reads
  // reasoning_effort). An explicit chat_template_kwargs entry wins.
  ojson echo_reasoning = {{"effort", nullptr}, {"summary", nullptr}};
  if (const ojson* r = given(body, "reasoning")) {
    if (!r->is_object()) return bad_request("'reasoning' must be an object", "reasoning");
    for (const auto& item : r->items()) {
      const std::string& key = item.key();
      if (key != "effort" && key != "summary" && key != "generate_summary")
        return bad_request(fmt::format("'reasoning.{}' is not supported", key), "reasoning");
    }
    const ojson* effort = given(*r, "effort");
    if (effort && !one_of(*effort, {"none", "minimal", "low", "medium", "high", "xhigh", "max"}))
      return bad_request("'reasoning.effort' must be one of none, minimal, low, medium, high, xhigh, max", "reasoning");
    const ojson* summary = given(*r, "summary");
    if (!summary) summary = given(*r, "generate_summary");
    if (summary && !one_of(*summary, {"auto", "concise", "detailed"}))
      return bad_request("'reasoning.summary' must be one of auto, concise, detailed", "reasoning");
    if (effort) {
      echo_reasoning["effort"] = *effort;
      const std::string e = effort->get<std::string>();
      const bool thinking = e != "none" && e != "minimal";
      const char* level = !thinking || e == "low" ? "low" : e == "medium" ? "medium" : "high";
      if (!chat.contains("chat_template_kwargs")) chat["chat_template_kwargs"] = ojson::object();
      ojson& kwargs = chat["chat_template_kwargs"];
      if (kwargs.is_object()) {  // otherwise parse_chat_request refuses it
        if (!kwargs.contains("enable_thinking")) kwargs["enable_thinking"] = thinking;
        if (!kwargs.contains("reasoning_effort")) kwargs["reasoning_effort"] = level;
      }
    }
    if (summary) echo_reasoning["summary"] = *summary;
  }

  // Output format.
  ojson echo_text = {{"format", {{"type", "text"}}}, {"verbosity", "medium"}};
  if (const ojson* t = given(body, "text")) {
    if (!t->is_object()) return bad_request("'text' must be an object", "text");
    for (const auto& item : t->items())
      if (item.key() != "format" && item.key() != "verbosity")
        return bad_request(fmt::format("'text.{}' is not supported", item.key()), "text");
    if (const ojson* format = given(*t, "format")) {
      auto rf = translate_format(*format);
      if (auto* e = std::get_if<ApiError>(&rf)) return *e;
      if (!std::get<ojson>(rf).is_null()) chat["response_format"] = std::get<ojson>(rf);
      echo_text["format"] = *format;
    }
    if (const ojson* v = given(*t, "verbosity")) {
      if (!one_of(*v, {"low", "medium", "high"}))
        return bad_request("'text.verbosity' must be one of low, medium, high", "text");
      echo_text["verbosity"] = *v;
    }
  }

  // Streaming: the chat side reports usage at the end, which response.completed needs.
  if (const ojson* s = given(body, "stream")) out.stream = s->get<bool>();
  if (const ojson* so = given(body, "stream_options")) {
    if (!so->is_object()) return bad_request("'stream_options' must be an object", "stream_options");
    if (!out.stream) return bad_request("'stream_options' is only allowed with stream: true", "stream_options");
    for (const auto& item : so->items()) {
      if (item.key() != "include_obfuscation")
        return bad_request(fmt::format("'stream_options.{}' is not supported", item.key()), "stream_options");
      if (!item.value().is_boolean() && !item.value().is_null())
        return bad_request("'stream_options.include_obfuscation' must be a boolean", "stream_options");
    }
  }
  if (out.stream) {
    chat["stream"] = true;
    chat["stream_options"] = {{"include_usage", true}};
  }

  // Accepted, with nothing to do: include (hearth has no encrypted reasoning, logprobs or hosted
  // tools to add), metadata (echoed), the cache and tier hints.
  if (const ojson* inc = given(body, "include")) {
    if (!inc->is_array()) return bad_request("'include' must be an array of strings", "include");
    for (const ojson& v : *inc)
      if (!v.is_string()) return bad_request("'include' must be an array of strings", "include");
  }
  const ojson* metadata = given(body, "metadata");
  if (metadata) {
    if (!metadata->is_object() || metadata->size() > 16)
      return bad_request("'metadata' must be an object of at most 16 string values", "metadata");
    for (const auto& item : metadata->items())
      if (!item.value().is_string() || item.key().size() > 64 || item.value().get_ref<const std::string&>().size() > 512)
        return bad_request("'metadata' values must be strings (keys at most 64 characters, values 512)", "metadata");
  }
  if (const ojson* t = given(body, "truncation"); t && !one_of(*t, {"disabled"}))
    return bad_request("hearth does not truncate input: 'truncation' must be 'disabled'", "truncation");
  if (const ojson* tl = given(body, "top_logprobs"); tl && !(tl->is_number_integer() && tl->get<int64_t>() == 0))
    return bad_request("'top_logprobs' is not supported", "top_logprobs");

  // What the Response object repeats, with OpenAI's defaults.
  ojson& echo = out.echo;
  echo = ojson::object();
  echo["background"] = false;
  echo["instructions"] = instructions ? *instructions : ojson();
  echo["max_output_tokens"] = body.value("max_output_tokens", ojson());
  echo["parallel_tool_calls"] = body.value("parallel_tool_calls", ojson(true));
  if (echo["parallel_tool_calls"].is_null()) echo["parallel_tool_calls"] = true;
  echo["previous_response_id"] = nullptr;
  echo["reasoning"] = std::move(echo_reasoning);
  if (given(body, "service_tier")) echo["service_tier"] = "default";
  echo["temperature"] = body.value("temperature", ojson());
  echo["text"] = std::move(echo_text);
  echo["tool_choice"] = given(body, "tool_choice") ? body["tool_choice"] : ojson("auto");
  echo["tools"] = std::move(echo_tools);
  echo["top_p"] = body.value("top_p", ojson());
  echo["truncation"] = "disabled";
  for (const char* key : {"user", "prompt_cache_key", "safety_identifier"})
    if (const ojson* v = given(body, key)) echo[key] = *v;
  echo["metadata"] = metadata ? *metadata : ojson::object();
  return out;
}

// ---- the response ---------------------------------------------------------------------------

ojson text_part(const std::string& text) {
  return {{"type", "output_text"}, {"text", text}, {"annotations", ojson::array()}, {"logprobs", ojson::array()}};
}

ojson reasoning_part(const std::string& text) { return {{"type", "reasoning_text"}, {"text", text}}; }

ojson reasoning_item(const std::string& id, const std::string& text) {
  return {{"id", id}, {"type", "reasoning"}, {"summary", ojson::array()}, {"content", ojson::array({reasoning_part(text)})}};
}

ojson message_item(const std::string& id, const std::string& text, const char* status) {
  return {{"id", id}, {"type", "message"}, {"status", status}, {"role", "assistant"},
          {"content", ojson::array({text_part(text)})}};
}

ojson call_item(const std::string& id, const chat::ToolCall& call, const std::string& arguments, const char* status) {
  return {{"id", id}, {"type", "function_call"}, {"status", status}, {"arguments", arguments},
          {"call_id", call.id}, {"name", call.name}};
}

ojson usage_object(const Usage& u) {
  return {{"input_tokens", u.input_tokens},
          {"input_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"output_tokens", u.output_tokens},
          {"output_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
          {"total_tokens", u.input_tokens + u.output_tokens}};
}

// The Response object around `output`: status "in_progress" (no usage yet), "completed" or
// "incomplete".
ojson build(const std::string& id, int64_t created_at, const std::string& model, const ojson& echo, const char* status,
            ojson output, const Usage* usage) {
  ojson r = ojson::object();
  r["id"] = id;
  r["object"] = "response";
  r["created_at"] = created_at;
  r["status"] = status;
  r["error"] = nullptr;
  r["incomplete_details"] = std::string_view(status) == "incomplete"
                                ? ojson{{"reason", "max_output_tokens"}}
                                : ojson();
  r["model"] = model;
  r["output"] = std::move(output);
  if (echo.is_object())
    for (const auto& item : echo.items())
      if (!r.contains(item.key())) r[item.key()] = item.value();
  r["usage"] = usage ? usage_object(*usage) : ojson();
  return r;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

}  // namespace

ApiResult<Translated> to_chat_request(const ojson& body) {
  try {
    return translate(body);
  } catch (const std::exception& e) {  // a type the checks above missed: still a 400, never a crash
    return bad_request(fmt::format("malformed request: {}", e.what()));
  }
}

ApiError to_responses_error(ApiError e) {
  static const std::pair<std::string_view, std::string_view> kParams[] = {
      {"messages", "input"}, {"max_tokens", "max_output_tokens"}, {"max_completion_tokens", "max_output_tokens"},
      {"response_format", "text"}};
  if (e.param)
    for (const auto& [chat, resp] : kParams)
      if (*e.param == chat) e.param = std::string(resp);
  replace_all(e.message, "'messages'", "'input'");
  replace_all(e.message, "in the messages", "in the input");
  replace_all(e.message, "length of the messages", "length of the input");
  replace_all(e.message, "'max_tokens'", "'max_output_tokens'");
  replace_all(e.message, "'response_format.json_schema.", "'text.format.");
  replace_all(e.message, "'response_format'", "'text.format'");
  replace_all(e.message, "response_format", "text.format");
  replace_all(e.message, "{\"type\": \"function\", \"function\": {\"name\": ...}}", "{\"type\": \"function\", \"name\": ...}");
  if (e.param == "tools") replace_all(e.message, "].function.", "].");
  return e;
}

ojson response_object(const std::string& id, int64_t created_at, const std::string& model, const ojson& echo,
                      const std::string& reasoning, const std::string& content,
                      const std::vector<chat::ToolCall>& calls, const std::string& finish_reason, const Usage& usage) {
  const bool truncated = finish_reason == "length";
  ojson output = ojson::array();
  if (!reasoning.empty()) output.push_back(reasoning_item(random_id("rs_"), reasoning));
  if (!content.empty())
    output.push_back(message_item(random_id("msg_"), content, truncated && calls.empty() ? "incomplete" : "completed"));
  for (const chat::ToolCall& call : calls) output.push_back(call_item(random_id("fc_"), call, call.arguments, "completed"));
  return build(id, created_at, model, echo, truncated ? "incomplete" : "completed", std::move(output), &usage);
}

// ---- the stream -----------------------------------------------------------------------------

ResponseStream::ResponseStream(std::string id, int64_t created_at, std::string model, ojson echo)
    : id_(std::move(id)), model_(std::move(model)), created_at_(created_at), echo_(std::move(echo)) {}

std::string ResponseStream::event(const char* type, ojson data) {
  ojson e = {{"type", type}, {"sequence_number", seq_++}};
  for (auto& item : data.items()) e[item.key()] = std::move(item.value());
  return fmt::format("event: {}\ndata: {}\n\n", type, dump(e));
}

std::string ResponseStream::start() {
  if (started_) return {};
  started_ = true;
  std::string out = event("response.created", {{"response", build(id_, created_at_, model_, echo_, "in_progress", ojson::array(), nullptr)}});
  out += event("response.in_progress", {{"response", build(id_, created_at_, model_, echo_, "in_progress", ojson::array(), nullptr)}});
  return out;
}

std::string ResponseStream::open(Kind kind) {
  if (open_ == kind) return {};
  std::string out = close(false);
  open_ = kind;
  open_text_.clear();
  const size_t index = items_.size();
  if (kind == Kind::kReasoning) {
    open_id_ = random_id("rs_");
    ojson item = {{"id", open_id_}, {"type", "reasoning"}, {"summary", ojson::array()}, {"content", ojson::array()}};
    out += event("response.output_item.added", {{"output_index", index}, {"item", std::move(item)}});
    out += event("response.content_part.added", {{"item_id", open_id_}, {"output_index", index}, {"content_index", 0},
                                                 {"part", reasoning_part("")}});
  } else {
    open_id_ = random_id("msg_");
    ojson item = {{"id", open_id_}, {"type", "message"}, {"status", "in_progress"}, {"role", "assistant"},
                  {"content", ojson::array()}};
    out += event("response.output_item.added", {{"output_index", index}, {"item", std::move(item)}});
    out += event("response.content_part.added", {{"item_id", open_id_}, {"output_index", index}, {"content_index", 0},
                                                 {"part", text_part("")}});
  }
  return out;
}

std::string ResponseStream::close(bool truncated) {
  if (open_ == Kind::kNone) return {};
  std::string out;
  const size_t index = items_.size();
  if (open_ == Kind::kReasoning) {
    out += event("response.reasoning_text.done", {{"item_id", open_id_}, {"output_index", index}, {"content_index", 0},
                                                  {"text", open_text_}});
    out += event("response.content_part.done", {{"item_id", open_id_}, {"output_index", index}, {"content_index", 0},
                                                {"part", reasoning_part(open_text_)}});
    items_.push_back(reasoning_item(open_id_, open_text_));
  } else {
    out += event("response.output_text.done", {{"item_id", open_id_}, {"output_index", index}, {"content_index", 0},
                                               {"text", open_text_}, {"logprobs", ojson::array()}});
    out += event("response.content_part.done", {{"item_id", open_id_}, {"output_index", index}, {"content_index", 0},
                                                {"part", text_part(open_text_)}});
    items_.push_back(message_item(open_id_, open_text_, truncated ? "incomplete" : "completed"));
  }
  out += event("response.output_item.done", {{"output_index", index}, {"item", items_.back()}});
  open_ = Kind::kNone;
  open_text_.clear();
  return out;
}

std::string ResponseStream::add(const chat::OutputDelta& delta) {
  if (finished_) return {};
  std::string out = start();
  if (!delta.reasoning.empty()) {
    out += open(Kind::kReasoning);
    open_text_ += delta.reasoning;
    out += event("response.reasoning_text.delta", {{"item_id", open_id_}, {"output_index", items_.size()},
                                                   {"content_index", 0}, {"delta", delta.reasoning}});
  }
  if (!delta.content.empty()) {
    out += open(Kind::kMessage);
    open_text_ += delta.content;
    out += event("response.output_text.delta", {{"item_id", open_id_}, {"output_index", items_.size()},
                                                {"content_index", 0}, {"delta", delta.content},
                                                {"logprobs", ojson::array()}});
  }
  for (const chat::ToolCall& call : delta.calls) {
    out += close(false);
    const size_t index = items_.size();
    const std::string id = random_id("fc_");
    out += event("response.output_item.added", {{"output_index", index}, {"item", call_item(id, call, "", "in_progress")}});
    out += event("response.function_call_arguments.delta",
                 {{"item_id", id}, {"output_index", index}, {"delta", call.arguments}});
    out += event("response.function_call_arguments.done",
                 {{"item_id", id}, {"output_index", index}, {"name", call.name}, {"arguments", call.arguments}});
    items_.push_back(call_item(id, call, call.arguments, "completed"));
    out += event("response.output_item.done", {{"output_index", index}, {"item", items_.back()}});
  }
  return out;
}

std::string ResponseStream::finish(const std::string& finish_reason, const Usage& usage) {
  if (finished_) return {};
  std::string out = start();
  const bool truncated = finish_reason == "length";
  out += close(truncated);
  finished_ = true;
  const char* status = truncated ? "incomplete" : "completed";
  out += event(truncated ? "response.incomplete" : "response.completed",
               {{"response", build(id_, created_at_, model_, echo_, status, items_, &usage)}});
  return out;
}

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

}  // namespace hearth::api::responses
