// OpenAI-shaped chat requests -> the prompt text a model's chat template gives them.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "chat/template.h"

namespace hearth::chat {

// Used when a model ships no chat template: ChatML, `<|im_start|>{role}\n{content}<|im_end|>\n`
// per message and `<|im_start|>assistant\n` as the generation prompt.
extern const char* const kChatMlTemplate;

struct ChatDefaults {
  std::string bos_token;  // used when the request gives none
  std::string eos_token;
};

// The template context for a request: messages (tool_calls' `arguments` given as a JSON string
// are parsed into an object, as llama.cpp and transformers pass them to templates), tools when
// present, add_generation_prompt (default true), bos_token/eos_token (request, else defaults),
// then every chat_template_kwargs entry (overriding the above).
Result<nlohmann::ordered_json> build_context(const nlohmann::ordered_json& request, const ChatDefaults& defaults);

Result<std::string> apply_chat_template(const Template& tmpl, const nlohmann::ordered_json& request,
                                        const ChatDefaults& defaults, const RenderOptions& options = {});

}  // namespace hearth::chat
