// Chat templates: a Jinja2 engine with @huggingface/jinja's semantics (the reference the peer
// tests compare against byte for byte), for the templates models ship in tokenizer_config.json /
// GGUF `tokenizer.chat_template`. Templates are untrusted input: there is no file or system
// access, and rendering is bounded in call depth, loop iterations, work and output size. Every
// failure is a one-line Error naming the template line and column.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace hearth::chat {

struct Node;

struct RenderLimits {
  size_t max_output_bytes = 16u << 20;    // any single string, the output included
  size_t max_work_bytes = 512u << 20;     // total bytes produced by string operations
  int64_t max_loop_iterations = 1000000;  // across the whole render (range() sizes included)
  size_t max_array_items = 1000000;
  int max_call_depth = 64;                // nested macro calls
  int max_eval_depth = 1500;              // nested expression evaluation (stack bound)
};

struct RenderOptions {
  RenderLimits limits;
  // The time strftime_now() formats (local time); unset = now.
  bool has_now = false;
  std::tm now{};
};

class Template {
 public:
  static Result<Template> parse(std::string source);

  // context: a JSON object whose keys become template variables (messages, tools,
  // add_generation_prompt, bos_token, ...).
  Result<std::string> render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const;

  const std::string& source() const { return *source_; }

 private:
  std::shared_ptr<const std::string> source_;
  std::shared_ptr<const Node> program_;
};

// "line L, column C" of a byte offset in a source text (1-based; columns count bytes).
std::string describe_offset(const std::string& source, size_t offset);

}  // namespace hearth::chat
