#include "api/anthropic.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <random>
#include <string_view>

namespace hearth::api::anthropic {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

#define ANTHROPIC_TRY(expr)                   \
  do {                                        \
    if (auto error_ = (expr)) return *error_; \
  } while (0)

using Maybe = std::optional<ApiError>;

// Anthropic's own bounds where hearth has none of its own: 100,000 messages per request; stop
// sequences as many as hearth's "stop" takes.
constexpr size_t kMaxMessages = 100000;
constexpr size_t kMaxStopSequences = 16;

// The top-level field a JSON path starts with, for ApiError::param.
std::string top_field(std::string_view path) {
  return std::string(path.substr(0, path.find_first_of(".[")));
}

ApiError error_at(std::string_view path, const std::string& what) {
  return bad_request(fmt::format("'{}' {}", path, what), top_field(path));
}

std::string type_of(const ojson& v) { return v.type_name(); }

const ojson* given(const ojson& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null() ? &*it : nullptr;
}

// Every key of `obj` must be among `allowed`: hearth never drops a field it does not honour.
Maybe check_keys(const ojson& obj, std::initializer_list<std::string_view> allowed,
                 std::string_view path) {
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return error_at(path.empty() ? key : fmt::format("{}.{}", path, key),
                      "is not supported by this server");
  }
  return std::nullopt;
}

Maybe read_string(const ojson& obj, const char* key, std::string_view path, bool required,
                  std::string& out) {
  const ojson* v = given(obj, key);
  const std::string where = fmt::format("{}.{}", path, key);
  if (!v) return required ? Maybe(error_at(where, "is required")) : std::nullopt;
  if (!v->is_string()) return error_at(where, "must be a string, not " + type_of(*v));
  out = v->get<std::string>();
  return std::nullopt;
}

// A JSON integer in [lo, hi] (1.0 is not an integer here, as in Anthropic's API).
Maybe read_int(const ojson& v, std::string_view path, int64_t lo, int64_t hi, int64_t& out) {
  if (!v.is_number_integer()) return error_at(path, "must be an integer, not " + type_of(v));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
    return error_at(path, fmt::format("must be at most {}", hi));
  const int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) return error_at(path, fmt::format("must be between {} and {}", lo, hi));
  out = n;
  return std::nullopt;
}

Maybe read_number(const ojson& v, std::string_view path, double lo, double hi) {
  if (!v.is_number()) return error_at(path, "must be a number, not " + type_of(v));
  const double d = v.get<double>();
  if (!(d >= lo && d <= hi))
    return error_at(path, fmt::format("must be between {} and {}", lo, hi));
  return std::nullopt;
}

Maybe check_cache_control(const ojson& obj, std::string_view path) {
  if (const ojson* c = given(obj, "cache_control"); c && !c->is_object())
    return error_at(
        path.empty() ? std::string("cache_control") : fmt::format("{}.cache_control", path),
        "must be an object");
  return std::nullopt;
}

// The block kinds that carry something hearth cannot take (images, files, server tools' traffic).
ApiError unsupported_block(std::string_view path, const std::string& type) {
  return error_at(
      path, fmt::format("is a '{}' block, which this server does not support (text, tool_use, "
                        "tool_result and thinking blocks only)",
                        type));
}

// A text block {type: "text", text, cache_control?, citations?}, appended to `out`.
Maybe read_text_block(const ojson& block, std::string_view path, std::string& out) {
  ANTHROPIC_TRY(check_keys(block, {"type", "text", "cache_control", "citations"}, path));
  ANTHROPIC_TRY(check_cache_control(block, path));
  if (const ojson* c = given(block, "citations"); c && !c->is_array())
    return error_at(fmt::format("{}.citations", path), "must be an array");
  std::string text;
  ANTHROPIC_TRY(read_string(block, "text", path, true, text));
  out += text;
  return std::nullopt;
}

Maybe block_type(const ojson& block, std::string_view path, std::string& type) {
  if (!block.is_object())
    return error_at(path, "must be a content block object, not " + type_of(block));
  return read_string(block, "type", path, true, type);
}

// A string, or an array of text blocks joined by "\n" (system prompts, tool results).
Maybe read_text_content(const ojson& v, std::string_view path, std::string& out) {
  if (v.is_string()) {
    out = v.get<std::string>();
    return std::nullopt;
  }
  if (!v.is_array())
    return error_at(path, "must be a string or an array of text blocks, not " + type_of(v));
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string where = fmt::format("{}[{}]", path, i);
    std::string type;
    ANTHROPIC_TRY(block_type(v[i], where, type));
    if (type != "text") return unsupported_block(where, type);
    if (i > 0) out += "\n";
    ANTHROPIC_TRY(read_text_block(v[i], where, out));
  }
  return std::nullopt;
}

// Appends an OpenAI message, combining it with the last one when both are user or both
// assistant turns, as Anthropic combines consecutive turns of one role.
void push_message(ojson& messages, ojson message) {
  const std::string role = message["role"].get<std::string>();
  if (!messages.empty() && (role == "user" || role == "assistant") &&
      messages.back()["role"] == role) {
    ojson& last = messages.back();
    auto join = [&](const char* key) {
      if (!message.contains(key)) return;
      std::string a = last.value(key, ""), b = message[key].get<std::string>();
      last[key] = a.empty() ? b : b.empty() ? a : a + "\n\n" + b;
    };
    join("content");
    join("reasoning_content");
    if (message.contains("tool_calls")) {
      if (!last.contains("tool_calls")) last["tool_calls"] = ojson::array();
      for (auto& call : message["tool_calls"]) last["tool_calls"].push_back(std::move(call));
    }
    return;
  }
  messages.push_back(std::move(message));
}

Maybe read_tool_result(const ojson& block, std::string_view path, ojson& messages) {
  ANTHROPIC_TRY(
      check_keys(block, {"type", "tool_use_id", "content", "is_error", "cache_control"}, path));
  ANTHROPIC_TRY(check_cache_control(block, path));
  std::string id, text;
  ANTHROPIC_TRY(read_string(block, "tool_use_id", path, true, id));
  if (id.empty()) return error_at(fmt::format("{}.tool_use_id", path), "must not be empty");
  if (const ojson* c = given(block, "content"))
    ANTHROPIC_TRY(read_text_content(*c, fmt::format("{}.content", path), text));
  if (const ojson* e = given(block, "is_error")) {
    if (!e->is_boolean()) return error_at(fmt::format("{}.is_error", path), "must be a boolean");
    if (e->get<bool>()) text = "Error: " + text;
  }
  push_message(messages, ojson{{"role", "tool"}, {"tool_call_id", id}, {"content", text}});
  return std::nullopt;
}

// A user turn: runs of text blocks become user messages, each tool_result a tool message.
Maybe read_user(const ojson& content, std::string_view path, ojson& messages) {
  if (content.is_string()) {
    push_message(messages, ojson{{"role", "user"}, {"content", content.get<std::string>()}});
    return std::nullopt;
  }
  std::string text;
  bool have_text = false;
  auto flush = [&] {
    if (have_text) push_message(messages, ojson{{"role", "user"}, {"content", text}});
    text.clear();
    have_text = false;
  };
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string where = fmt::format("{}[{}]", path, i);
    std::string type;
    ANTHROPIC_TRY(block_type(content[i], where, type));
    if (type == "text") {
      if (have_text) text += "\n";
      have_text = true;
      ANTHROPIC_TRY(read_text_block(content[i], where, text));
    } else if (type == "tool_result") {
      flush();
      ANTHROPIC_TRY(read_tool_result(content[i], where, messages));
    } else if (type == "tool_use" || type == "thinking" || type == "redacted_thinking") {
      return error_at(where,
                      fmt::format("is a '{}' block, which only assistant messages may hold", type));
    } else {
      return unsupported_block(where, type);
    }
  }
  if (content.empty()) have_text = true;  // an empty turn stays a turn
  flush();
  return std::nullopt;
}

// An assistant turn: text -> content, tool_use -> tool_calls, thinking -> reasoning_content.
Maybe read_assistant(const ojson& content, std::string_view path, ojson& messages) {
  ojson message = {{"role", "assistant"}, {"content", ""}};
  if (content.is_string()) {
    message["content"] = content.get<std::string>();
    push_message(messages, std::move(message));
    return std::nullopt;
  }
  std::string text, reasoning;
  ojson calls = ojson::array();
  for (size_t i = 0; i < content.size(); ++i) {
    const ojson& block = content[i];
    const std::string where = fmt::format("{}[{}]", path, i);
    std::string type;
    ANTHROPIC_TRY(block_type(block, where, type));
    if (type == "text") {
      if (!text.empty()) text += "\n";
      ANTHROPIC_TRY(read_text_block(block, where, text));
    } else if (type == "tool_use") {
      ANTHROPIC_TRY(
          check_keys(block, {"type", "id", "name", "input", "cache_control", "caller"}, where));
      ANTHROPIC_TRY(check_cache_control(block, where));
      std::string id, name;
      ANTHROPIC_TRY(read_string(block, "id", where, true, id));
      ANTHROPIC_TRY(read_string(block, "name", where, true, name));
      if (id.empty() || name.empty()) return error_at(where, "needs a non-empty 'id' and 'name'");
      const ojson* input = given(block, "input");
      if (!input || !input->is_object())
        return error_at(fmt::format("{}.input", where), "must be an object");
      calls.push_back(
          {{"id", id},
           {"type", "function"},
           {"function",
            {{"name", name},
             {"arguments", input->dump(-1, ' ', false, ojson::error_handler_t::replace)}}}});
    } else if (type == "thinking") {
      ANTHROPIC_TRY(check_keys(block, {"type", "thinking", "signature", "cache_control"}, where));
      std::string thinking, signature;
      ANTHROPIC_TRY(read_string(block, "thinking", where, true, thinking));
      ANTHROPIC_TRY(read_string(block, "signature", where, false, signature));
      if (!reasoning.empty() && !thinking.empty()) reasoning += "\n";
      reasoning += thinking;
    } else if (type == "redacted_thinking") {
      // Encrypted reasoning of another model: nothing a template could show.
      ANTHROPIC_TRY(check_keys(block, {"type", "data", "cache_control"}, where));
    } else if (type == "tool_result") {
      return error_at(where, "is a 'tool_result' block, which only user messages may hold");
    } else {
      return unsupported_block(where, type);
    }
  }
  message["content"] = text;
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  if (!calls.empty()) message["tool_calls"] = std::move(calls);
  push_message(messages, std::move(message));
  return std::nullopt;
}

Maybe read_messages(const ojson& body, ojson& messages) {
  const ojson* list = given(body, "messages");
  if (!list || !list->is_array() || list->empty())
    return error_at("messages", "must be a non-empty array");
  if (list->size() > kMaxMessages)
    return error_at("messages", fmt::format("takes at most {} messages", kMaxMessages));
  for (size_t i = 0; i < list->size(); ++i) {
    const ojson& m = (*list)[i];
    const std::string path = fmt::format("messages[{}]", i);
    if (!m.is_object()) return error_at(path, "must be an object with 'role' and 'content'");
    ANTHROPIC_TRY(check_keys(m, {"role", "content"}, path));
    std::string role;
    ANTHROPIC_TRY(read_string(m, "role", path, true, role));
    const ojson* content = given(m, "content");
    const std::string where = path + ".content";
    if (!content) return error_at(where, "is required");
    if (!content->is_string() && !content->is_array())
      return error_at(where,
                      "must be a string or an array of content blocks, not " + type_of(*content));
    if (role == "user") {
      ANTHROPIC_TRY(read_user(*content, where, messages));
    } else if (role == "assistant") {
      if (i + 1 == list->size())
        return error_at(
            path,
            "is an assistant message: continuing a final assistant message (prefill) is not "
            "supported by this server; end with a user message");
      ANTHROPIC_TRY(read_assistant(*content, where, messages));
    } else if (role == "system") {
      std::string text;
      ANTHROPIC_TRY(read_text_content(*content, where, text));
      messages.push_back({{"role", "system"}, {"content", text}});
    } else {
      return error_at(path + ".role",
                      fmt::format("is '{}': it must be 'user' or 'assistant'", role));
    }
  }
  return std::nullopt;
}

Maybe read_tools(const ojson& body, ojson& chat) {
  const ojson* tools = given(body, "tools");
  if (!tools) return std::nullopt;
  if (!tools->is_array()) return error_at("tools", "must be an array, not " + type_of(*tools));
  ojson out = ojson::array();
  for (size_t i = 0; i < tools->size(); ++i) {
    const ojson& t = (*tools)[i];
    const std::string path = fmt::format("tools[{}]", i);
    if (!t.is_object()) return error_at(path, "must be an object");
    if (const ojson* type = given(t, "type"); type && *type != "custom") {
      if (!type->is_string()) return error_at(path + ".type", "must be a string");
      return error_at(
          path, fmt::format("has type '{}': server tools are not supported by this server, only "
                            "custom tools (name, description, input_schema)",
                            type->get<std::string>()));
    }
    ANTHROPIC_TRY(check_keys(
        t, {"type", "name", "description", "input_schema", "cache_control", "strict"}, path));
    ANTHROPIC_TRY(check_cache_control(t, path));
    std::string name, description;
    ANTHROPIC_TRY(read_string(t, "name", path, true, name));
    ANTHROPIC_TRY(read_string(t, "description", path, false, description));
    const ojson* schema = given(t, "input_schema");
    if (!schema || !schema->is_object())
      return error_at(path + ".input_schema", "must be a JSON Schema object");
    if (auto type = schema->find("type"); type != schema->end() && *type != "object")
      return error_at(path + ".input_schema.type", "must be 'object'");
    ojson fn = {{"name", name}};
    if (t.contains("description")) fn["description"] = description;
    fn["parameters"] = *schema;
    if (const ojson* strict = given(t, "strict")) {
      if (!strict->is_boolean()) return error_at(path + ".strict", "must be a boolean");
      fn["strict"] = *strict;
    }
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  chat["tools"] = std::move(out);
  return std::nullopt;
}

Maybe read_tool_choice(const ojson& body, ojson& chat) {
  const ojson* choice = given(body, "tool_choice");
  if (!choice) return std::nullopt;
  if (!choice->is_object()) return error_at("tool_choice", "must be an object with a 'type'");
  std::string type;
  ANTHROPIC_TRY(read_string(*choice, "type", "tool_choice", true, type));
  if (type == "none") {
    ANTHROPIC_TRY(check_keys(*choice, {"type"}, "tool_choice"));
    chat["tool_choice"] = "none";
    return std::nullopt;
  }
  if (type == "auto" || type == "any") {
    ANTHROPIC_TRY(check_keys(*choice, {"type", "disable_parallel_tool_use"}, "tool_choice"));
    chat["tool_choice"] = type == "auto" ? "auto" : "required";
  } else if (type == "tool") {
    ANTHROPIC_TRY(
        check_keys(*choice, {"type", "name", "disable_parallel_tool_use"}, "tool_choice"));
    std::string name;
    ANTHROPIC_TRY(read_string(*choice, "name", "tool_choice", true, name));
    chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", name}}}};
  } else {
    return error_at("tool_choice.type",
                    fmt::format("is '{}': it must be auto, any, tool or none", type));
  }
  if (const ojson* d = given(*choice, "disable_parallel_tool_use")) {
    if (!d->is_boolean())
      return error_at("tool_choice.disable_parallel_tool_use", "must be a boolean");
    if (d->get<bool>()) chat["parallel_tool_calls"] = false;
  }
  return std::nullopt;
}

Maybe read_thinking(const ojson& body, ojson& chat, Translated& t) {
  const ojson* thinking = given(body, "thinking");
  if (!thinking) return std::nullopt;
  if (!thinking->is_object()) return error_at("thinking", "must be an object with a 'type'");
  std::string type;
  ANTHROPIC_TRY(read_string(*thinking, "type", "thinking", true, type));
  bool enable = true;
  if (type == "enabled") {
    ANTHROPIC_TRY(check_keys(*thinking, {"type", "budget_tokens", "display"}, "thinking"));
    const ojson* budget = given(*thinking, "budget_tokens");
    if (!budget) return error_at("thinking.budget_tokens", "is required");
    int64_t n = 0;
    ANTHROPIC_TRY(read_int(*budget, "thinking.budget_tokens", 1, INT64_MAX, n));
    t.thinking_budget_tokens = n;
  } else if (type == "adaptive") {
    ANTHROPIC_TRY(check_keys(*thinking, {"type", "display"}, "thinking"));
  } else if (type == "disabled") {
    ANTHROPIC_TRY(check_keys(*thinking, {"type"}, "thinking"));
    enable = false;
  } else {
    return error_at("thinking.type",
                    fmt::format("is '{}': it must be enabled, adaptive or disabled", type));
  }
  if (const ojson* display = given(*thinking, "display"); display && *display != "summarized")
    return error_at("thinking.display",
                    "must be 'summarized' (this server always returns the thinking)");
  chat["chat_template_kwargs"] = {{"enable_thinking", enable}};
  return std::nullopt;
}

Maybe read_output_config(const ojson& body, ojson& chat) {
  const ojson* config = given(body, "output_config");
  if (!config) return std::nullopt;
  if (!config->is_object()) return error_at("output_config", "must be an object");
  ANTHROPIC_TRY(check_keys(*config, {"format", "effort"}, "output_config"));
  if (given(*config, "effort"))
    return error_at("output_config.effort", "is not supported by this server");
  const ojson* format = given(*config, "format");
  if (!format) return std::nullopt;
  if (!format->is_object()) return error_at("output_config.format", "must be an object");
  ANTHROPIC_TRY(check_keys(*format, {"type", "schema"}, "output_config.format"));
  std::string type;
  ANTHROPIC_TRY(read_string(*format, "type", "output_config.format", true, type));
  if (type != "json_schema") return error_at("output_config.format.type", "must be 'json_schema'");
  const ojson* schema = given(*format, "schema");
  if (!schema || !schema->is_object())
    return error_at("output_config.format.schema", "must be a JSON Schema object");
  chat["response_format"] = {{"type", "json_schema"},
                             {"json_schema", {{"name", "output"}, {"schema", *schema}}}};
  return std::nullopt;
}

Maybe read_sampling(const ojson& body, ojson& chat) {
  if (const ojson* v = given(body, "temperature")) {
    ANTHROPIC_TRY(read_number(*v, "temperature", 0.0, 1.0));
    chat["temperature"] = *v;
  }
  if (const ojson* v = given(body, "top_p")) {
    ANTHROPIC_TRY(read_number(*v, "top_p", 0.0, 1.0));
    chat["top_p"] = *v;
  }
  if (const ojson* v = given(body, "top_k")) {
    int64_t k = 0;
    ANTHROPIC_TRY(read_int(*v, "top_k", 0, INT32_MAX, k));
    chat["top_k"] = k;
  }
  if (const ojson* v = given(body, "stop_sequences")) {
    if (!v->is_array()) return error_at("stop_sequences", "must be an array of strings");
    if (v->size() > kMaxStopSequences)
      return error_at("stop_sequences", fmt::format("takes at most {} strings", kMaxStopSequences));
    for (const ojson& s : *v)
      if (!s.is_string() || s.get_ref<const std::string&>().empty())
        return error_at("stop_sequences", "must be an array of non-empty strings");
    if (!v->empty()) chat["stop"] = *v;
  }
  return std::nullopt;
}

Maybe read_metadata(const ojson& body) {
  const ojson* metadata = given(body, "metadata");
  if (!metadata) return std::nullopt;
  if (!metadata->is_object()) return error_at("metadata", "must be an object");
  ANTHROPIC_TRY(check_keys(*metadata, {"user_id"}, "metadata"));
  std::string user;  // an opaque caller tag: nothing to honour
  return read_string(*metadata, "user_id", "metadata", false, user);
}

const std::initializer_list<std::string_view> kFields = {
    "model",          "messages",    "max_tokens",  "system",        "metadata",
    "stop_sequences", "stream",      "temperature", "top_p",         "top_k",
    "tools",          "tool_choice", "thinking",    "output_config", "cache_control"};

ApiResult<Translated> translate(const ojson& body, bool for_count) {
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  ANTHROPIC_TRY(check_keys(body, kFields, ""));
  Translated t;
  ojson& chat = t.chat_body;
  chat = ojson::object();
  if (const ojson* model = given(body, "model")) {
    if (!model->is_string()) return error_at("model", "must be a string");
    t.model = model->get<std::string>();
    chat["model"] = t.model;
  }
  ojson messages = ojson::array();
  if (const ojson* system = given(body, "system")) {
    std::string text;
    ANTHROPIC_TRY(read_text_content(*system, "system", text));
    if (!text.empty()) messages.push_back({{"role", "system"}, {"content", text}});
  }
  ANTHROPIC_TRY(read_messages(body, messages));
  chat["messages"] = std::move(messages);

  if (const ojson* max_tokens = given(body, "max_tokens")) {
    int64_t n = 0;
    ANTHROPIC_TRY(read_int(*max_tokens, "max_tokens", 1, INT64_MAX, n));
    chat["max_tokens"] = n;
  } else if (!for_count) {
    return error_at("max_tokens", "is required (an integer >= 1)");
  }
  if (const ojson* stream = given(body, "stream")) {
    if (!stream->is_boolean()) return error_at("stream", "must be a boolean");
    t.stream = stream->get<bool>();
    if (t.stream && for_count) return error_at("stream", "cannot be true when counting tokens");
    if (t.stream) chat["stream"] = true;
  }
  ANTHROPIC_TRY(read_sampling(body, chat));
  ANTHROPIC_TRY(read_tools(body, chat));
  ANTHROPIC_TRY(read_tool_choice(body, chat));
  ANTHROPIC_TRY(read_thinking(body, chat, t));
  ANTHROPIC_TRY(read_output_config(body, chat));
  ANTHROPIC_TRY(read_metadata(body));
  ANTHROPIC_TRY(check_cache_control(body, ""));
  return t;
}

ApiResult<Translated> translate_guarded(const ojson& body, bool for_count) {
  try {
    return translate(body, for_count);
  } catch (const nlohmann::json::exception& e) {  // a shape the readers above did not foresee
    return bad_request(fmt::format("the request could not be read: {}", e.what()));
  }
}

// ---- responses ----

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

std::string sse(const char* event, const ojson& data) {
  return fmt::format("event: {}\ndata: {}\n\n", event, dump(data));
}

// How many bytes at the end of `s` begin a UTF-8 sequence that is not complete yet.
size_t incomplete_utf8_tail(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: the lead is further back
    const size_t len = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return len > back ? back : 0;
  }
  return 0;
}

ojson usage_json(const Usage& u) {
  return {{"input_tokens", u.input_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", u.cache_read_input_tokens},
          {"output_tokens", u.output_tokens}};
}

ojson tool_use_block(const chat::ToolCall& call, bool with_input) {
  ojson input = ojson::object();
  if (with_input) {
    ojson parsed = ojson::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) input = std::move(parsed);  // always, for the output parser's calls
  }
  return {{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", std::move(input)}};
}

ojson message_json(const std::string& id, const std::string& model, ojson content,
                   const ojson& stop_reason, const ojson& stop_sequence, const Usage& usage) {
  return {{"id", id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", model},
          {"content", std::move(content)},
          {"stop_reason", stop_reason},
          {"stop_sequence", stop_sequence},
          {"stop_details", nullptr},
          {"usage", usage_json(usage)}};
}

ojson stop_sequence_json(const std::string& reason, const std::string& stop_sequence) {
  return reason == "stop_sequence" ? ojson(stop_sequence) : ojson(nullptr);
}

}  // namespace

ApiResult<Translated> to_chat_request(const ojson& body) { return translate_guarded(body, false); }

ApiResult<Translated> to_chat_request_for_count(const ojson& body) {
  return translate_guarded(body, true);
}

json error_body(const ApiError& e) {
  const char* type = "invalid_request_error";
  switch (e.status) {
    case 401:
      type = "authentication_error";
      break;
    case 403:
      type = "permission_error";
      break;
    case 404:
      type = "not_found_error";
      break;
    case 413:
      type = "request_too_large";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 503:
    case 529:
      type = "overloaded_error";
      break;
    default:
      type = e.status >= 500 ? "api_error" : "invalid_request_error";
  }
  return {{"type", "error"}, {"error", {{"type", type}, {"message", e.message}}}};
}

std::string error_event(const ApiError& e) {
  return fmt::format("event: error\ndata: {}\n\n",
                     error_body(e).dump(-1, ' ', false, json::error_handler_t::replace));
}

json count_tokens_body(int64_t input_tokens) { return {{"input_tokens", input_tokens}}; }

std::string stop_reason(const std::string& finish_reason, const std::string& stop_sequence,
                        bool has_tool_calls) {
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "tool_calls") return "tool_use";
  if (finish_reason == "content_filter") return "refusal";
  if (!stop_sequence.empty()) return "stop_sequence";
  if (has_tool_calls) return "tool_use";
  return "end_turn";
}

json message(const std::string& id, const std::string& model, const std::string& reasoning,
             const std::string& content, const std::vector<chat::ToolCall>& calls,
             const std::string& finish_reason, const std::string& stop_sequence,
             const Usage& usage) {
  ojson blocks = ojson::array();
  if (!reasoning.empty())
    blocks.push_back({{"type", "thinking"}, {"thinking", reasoning}, {"signature", ""}});
  if (!content.empty() || (reasoning.empty() && calls.empty()))
    blocks.push_back({{"type", "text"}, {"text", content}});
  for (const chat::ToolCall& call : calls) blocks.push_back(tool_use_block(call, true));
  const std::string reason = stop_reason(finish_reason, stop_sequence, !calls.empty());
  // Through the text form: strings that are not UTF-8 become U+FFFD here, not a throw in dump().
  return json::parse(dump(message_json(id, model, std::move(blocks), reason,
                                       stop_sequence_json(reason, stop_sequence), usage)));
}

MessageStream::MessageStream(std::string id, std::string model, int64_t input_tokens)
    : id_(std::move(id)), model_(std::move(model)), input_tokens_(input_tokens) {}

std::string MessageStream::start() {
  if (started_) return "";
  started_ = true;
  Usage usage;
  usage.input_tokens = input_tokens_;
  return sse("message_start",
             {{"type", "message_start"},
              {"message", message_json(id_, model_, ojson::array(), nullptr, nullptr, usage)}}) +
         sse("ping", {{"type", "ping"}});
}

std::string MessageStream::flush_held() {
  if (held_.empty() || open_ == Block::kNone) return "";
  const bool thinking = open_ == Block::kThinking;
  ojson delta = {{"type", thinking ? "thinking_delta" : "text_delta"},
                 {thinking ? "thinking" : "text", held_}};
  held_.clear();
  return sse("content_block_delta",
             {{"type", "content_block_delta"}, {"index", index_}, {"delta", std::move(delta)}});
}

std::string MessageStream::close() {
  if (open_ == Block::kNone) return "";
  std::string out = flush_held();
  if (open_ == Block::kThinking)  // hearth signs nothing; the SDKs expect the delta all the same
    out +=
        sse("content_block_delta", {{"type", "content_block_delta"},
                                    {"index", index_},
                                    {"delta", {{"type", "signature_delta"}, {"signature", ""}}}});
  out += sse("content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
  open_ = Block::kNone;
  return out;
}

std::string MessageStream::open(Block kind) {
  if (open_ == kind) return "";
  std::string out = close();
  open_ = kind;
  ++index_;
  ojson block = kind == Block::kThinking
                    ? ojson{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}
                    : ojson{{"type", "text"}, {"text", ""}};
  out += sse(
      "content_block_start",
      {{"type", "content_block_start"}, {"index", index_}, {"content_block", std::move(block)}});
  return out;
}

std::string MessageStream::add(const chat::OutputDelta& delta) {
  std::string out = start();
  if (finished_) return out;
  auto text = [&](Block kind, const std::string& piece) {
    if (piece.empty()) return;
    out += open(kind);
    held_ += piece;
    // erase, not resize: a cut that can only shorten (GCC 12 warns of resize's growing branch).
    const size_t cut = held_.size() - std::min(incomplete_utf8_tail(held_), held_.size());
    std::string tail = held_.substr(cut);
    held_.erase(cut);
    out += flush_held();
    held_ = std::move(tail);
  };
  text(Block::kThinking, delta.reasoning);
  text(Block::kText, delta.content);
  for (const chat::ToolCall& call : delta.calls) {
    out += close();
    ++index_;
    any_call_ = true;
    out += sse("content_block_start", {{"type", "content_block_start"},
                                       {"index", index_},
                                       {"content_block", tool_use_block(call, false)}});
    out += sse("content_block_delta",
               {{"type", "content_block_delta"},
                {"index", index_},
                {"delta", {{"type", "input_json_delta"}, {"partial_json", call.arguments}}}});
    out += sse("content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
  }
  return out;
}

std::string MessageStream::finish(const std::string& finish_reason,
                                  const std::string& stop_sequence, const Usage& usage) {
  std::string out = start();
  if (finished_) return out;
  finished_ = true;
  out += close();
  if (index_ < 0) {  // nothing came: one empty text block, as message() answers
    out += open(Block::kText);
    out += close();
  }
  const std::string reason = stop_reason(finish_reason, stop_sequence, any_call_);
  out += sse("message_delta", {{"type", "message_delta"},
                               {"delta",
                                {{"stop_reason", reason},
                                 {"stop_sequence", stop_sequence_json(reason, stop_sequence)},
                                 {"stop_details", nullptr}}},
                               {"usage", usage_json(usage)}});
  out += sse("message_stop", {{"type", "message_stop"}});
  return out;
}

std::string random_message_id() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id = "msg_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(rng)];
  return id;
}

}  // namespace hearth::api::anthropic
