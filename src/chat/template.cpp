// Template: parse once, render many times; engine errors become one-line Errors with the
// template position.
#include "chat/template.h"

#include "chat/interpreter.h"

namespace hearth::chat {

std::string describe_offset(const std::string& source, size_t offset) {
  if (offset == kNoOffset) return "template";
  size_t line = 1, col = 1;
  for (size_t k = 0; k < offset && k < source.size(); ++k) {
    if (source[k] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return fmt::format("template line {}, column {}", line, col);
}

Result<Template> Template::parse(std::string source) {
  Template t;
  t.source_ = std::make_shared<const std::string>(std::move(source));
  try {
    t.program_ = chat::parse(tokenize(*t.source_));
  } catch (const TemplateError& e) {
    return make_error("{}: syntax error: {}", describe_offset(*t.source_, e.offset), e.what());
  }
  return t;
}

Result<std::string> Template::render(const nlohmann::ordered_json& context, const RenderOptions& options) const {
  if (!context.is_object()) return make_error("template context must be a JSON object");
  std::tm now{};
  if (options.has_now) {
    now = options.now;
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &now);
  }
  Interpreter interpreter(options.limits, now);
  auto env = std::make_shared<Env>();
  interpreter.setup_globals(*env);
  for (const auto& [key, value] : context.items()) {
    if (env->vars.count(key) != 0) return make_error("context variable '{}' is reserved", key);
    env->set(key, from_json(value));
  }
  try {
    return interpreter.run(*program_, env);
  } catch (const TemplateError& e) {
    return make_error("{}: {}", describe_offset(*source_, e.offset), e.what());
  }
}

}  // namespace hearth::chat
