// Request -> template context -> prompt.
#include "chat/chat_request.h"

namespace hearth::chat {

const char* const kChatMlTemplate =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

Result<nlohmann::ordered_json> build_context(const nlohmann::ordered_json& request, const ChatDefaults& defaults) {
  using json = nlohmann::ordered_json;
  if (!request.is_object()) return make_error("request: expected a JSON object");
  if (!request.contains("messages") || !request["messages"].is_array()) {
    return make_error("request.messages: expected an array");
  }
  json messages = request["messages"];
  for (size_t i = 0; i < messages.size(); ++i) {
    json& m = messages[i];
    if (!m.is_object()) return make_error("request.messages[{}]: expected an object", i);
    if (!m.contains("role") || !m["role"].is_string()) return make_error("request.messages[{}].role: expected a string", i);
    if (!m.contains("tool_calls") || !m["tool_calls"].is_array()) continue;
    for (size_t j = 0; j < m["tool_calls"].size(); ++j) {
      json& call = m["tool_calls"][j];
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
        return make_error("request.messages[{}].tool_calls[{}].function: expected an object", i, j);
      }
      json& fn = call["function"];
      if (fn.contains("arguments") && fn["arguments"].is_string()) {
        json parsed = json::parse(fn["arguments"].get<std::string>(), nullptr, false);
        if (parsed.is_object()) fn["arguments"] = std::move(parsed);
      }
    }
  }
  json context = json::object();
  context["messages"] = std::move(messages);
  if (request.contains("tools") && !request["tools"].is_null()) context["tools"] = request["tools"];
  context["add_generation_prompt"] = request.value("add_generation_prompt", true);
  auto token = [&](const char* key, const std::string& def) -> Result<std::string> {
    if (!request.contains(key) || request[key].is_null()) return def;
    if (!request[key].is_string()) return make_error("request.{}: expected a string", key);
    return request[key].get<std::string>();
  };
  Result<std::string> bos = token("bos_token", defaults.bos_token);
  if (!bos.ok()) return bos.error();
  Result<std::string> eos = token("eos_token", defaults.eos_token);
  if (!eos.ok()) return eos.error();
  context["bos_token"] = *bos;
  context["eos_token"] = *eos;
  if (request.contains("chat_template_kwargs") && !request["chat_template_kwargs"].is_null()) {
    if (!request["chat_template_kwargs"].is_object()) return make_error("request.chat_template_kwargs: expected an object");
    for (const auto& [k, v] : request["chat_template_kwargs"].items()) context[k] = v;
  }
  return context;
}

Result<std::string> apply_chat_template(const Template& tmpl, const nlohmann::ordered_json& request,
                                        const ChatDefaults& defaults, const RenderOptions& options) {
  Result<nlohmann::ordered_json> context = build_context(request, defaults);
  if (!context.ok()) return context.error();
  return tmpl.render(*context, options);
}

}  // namespace hearth::chat
