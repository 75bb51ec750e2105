// The per-family tool-call region readers behind OutputParser: each looks at one region (from its
// opener on), says whether it is complete, and turns it into validated calls or verbatim text.
// Formats as the families' own chat templates write them (shared/testdata/chat_templates).
#include <algorithm>
#include <cctype>

#include "chat/output_parser.h"

namespace hearth::chat::detail {

using nlohmann::ordered_json;

namespace {

constexpr std::string_view kWs = " \t\r\n";
constexpr size_t kMaxNameBytes = 128;  // a tool name longer than this is not a name (Mistral v11)

std::string_view trim(std::string_view s) {
  size_t begin = s.find_first_not_of(kWs);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kWs) - begin + 1);
}

size_t skip_ws(std::string_view s, size_t i) {
  while (i < s.size() && kWs.find(s[i]) != std::string_view::npos) ++i;
  return i;
}

bool consume(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// One past the end of the JSON object or array opening at text[start], found by matching brackets
// outside strings; npos while it is still open. Whether it parses is checked afterwards.
size_t json_extent(std::string_view text, size_t start) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = start; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

RegionResult need_more() {
  RegionResult result;
  result.need_more = true;
  return result;
}

// The first `consumed` bytes as one decided item: the call when there is one, else verbatim text.
RegionResult single(std::string_view text, size_t consumed, std::optional<ToolCall> call) {
  RegionResult result;
  result.consumed = consumed;
  if (call)
    result.items.push_back({std::move(call), {}});
  else
    result.items.push_back({std::nullopt, std::string(text.substr(0, consumed))});
  return result;
}

std::optional<ToolCall> call_from_text(std::string_view json_text, const ToolSet& tools) {
  std::optional<ordered_json> parsed = parse_json(trim(json_text));
  if (!parsed) return std::nullopt;
  return tools.call_from_json(*parsed);
}

// Qwen3-Coder writes values raw: '<parameter=' + name + '>\n' + value + '\n</parameter>\n'.
std::string_view strip_one_newline(std::string_view value) {
  if (value.starts_with('\n')) value.remove_prefix(1);
  if (value.ends_with('\n')) value.remove_suffix(1);
  return value;
}

ordered_json typed_value(std::string_view type, std::string_view raw) {
  if (type == "string") return std::string(raw);
  std::optional<ordered_json> parsed = parse_json(trim(raw));
  if (type == "integer" || type == "number") {
    if (parsed && parsed->is_number()) return *parsed;
  } else if (type == "boolean") {
    std::string lower(trim(raw));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower == "true" || lower == "false") return lower == "true";
  } else if (type == "object" || type == "array") {
    if (parsed && (type == "object" ? parsed->is_object() : parsed->is_array())) return *parsed;
  } else if (type.empty() || type == "null") {
    if (parsed) return *parsed;
  }
  return std::string(raw);
}

// "<function=NAME>" then "<parameter=P>value</parameter>"... then "</function>", whitespace around.
// A value missing its "</parameter>" ends at the next "<parameter=" or "</function>".
std::optional<ToolCall> parse_xml_function(std::string_view s, const ToolSet& tools) {
  s = trim(s);
  if (!consume(s, "<function=")) return std::nullopt;
  size_t gt = s.find('>');
  if (gt == std::string_view::npos) return std::nullopt;
  std::string name(trim(s.substr(0, gt)));
  s.remove_prefix(gt + 1);
  ordered_json args = ordered_json::object();
  while (true) {
    s = trim(s);
    if (consume(s, "</function>")) break;
    if (!consume(s, "<parameter=")) return std::nullopt;
    gt = s.find('>');
    if (gt == std::string_view::npos) return std::nullopt;
    std::string param(trim(s.substr(0, gt)));
    s.remove_prefix(gt + 1);
    size_t close = s.find("</parameter>");
    size_t stop = std::min(s.find("<parameter="), s.find("</function>"));
    std::string_view value;
    if (close != std::string_view::npos && (stop == std::string_view::npos || close <= stop)) {
      value = s.substr(0, close);
      s.remove_prefix(close + std::string_view("</parameter>").size());
    } else {
      if (stop == std::string_view::npos) return std::nullopt;
      value = s.substr(0, stop);
      s.remove_prefix(stop);
    }
    args[param] = typed_value(tools.parameter_type(name, param), strip_one_newline(value));
  }
  if (!trim(s).empty()) return std::nullopt;
  return tools.make_call(name, &args);
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

// DeepSeek V3/R1 write "function<｜tool▁sep｜>NAME\n```json\n{...}\n```"; V3.1 writes
// "NAME<｜tool▁sep｜>{...}".
std::optional<ToolCall> parse_deepseek_call(std::string_view inner, const ToolSet& tools) {
  constexpr std::string_view kSep = "<｜tool▁sep｜>";
  size_t sep = inner.find(kSep);
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view before = trim(inner.substr(0, sep));
  std::string_view after = inner.substr(sep + kSep.size());
  std::string_view name = before;
  std::string_view args = after;
  if (before == "function") {
    size_t newline = after.find('\n');
    if (newline == std::string_view::npos) return std::nullopt;
    name = trim(after.substr(0, newline));
    args = after.substr(newline + 1);
  }
  args = trim(args);
  if (consume(args, "```json") || consume(args, "```")) {
    if (!args.ends_with("```")) return std::nullopt;
    args.remove_suffix(3);
  }
  std::optional<ordered_json> parsed = parse_json(trim(args));
  if (!parsed) return std::nullopt;
  return tools.make_call(name, &*parsed);
}

}  // namespace

std::optional<ordered_json> parse_json(std::string_view text) {
  ordered_json value =
      ordered_json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

bool ToolSet::has(std::string_view name) const {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::optional<ToolCall> ToolSet::make_call(std::string_view name,
                                           const ordered_json* arguments) const {
  if (name.empty() || !has(name)) return std::nullopt;
  ordered_json object = ordered_json::object();
  if (arguments != nullptr && !arguments->is_null()) {
    if (arguments->is_object()) {
      object = *arguments;
    } else if (arguments->is_string()) {  // some models write the arguments as a JSON string
      std::optional<ordered_json> parsed = parse_json(arguments->get<std::string>());
      if (!parsed || !parsed->is_object()) return std::nullopt;
      object = std::move(*parsed);
    } else {
      return std::nullopt;
    }
  }
  return ToolCall{
      {}, std::string(name), object.dump(-1, ' ', false, ordered_json::error_handler_t::replace)};
}

std::optional<ToolCall> ToolSet::call_from_json(const ordered_json& object) const {
  if (!object.is_object()) return std::nullopt;
  auto name = object.find("name");
  if (name == object.end() || !name->is_string()) return std::nullopt;
  const ordered_json* arguments = nullptr;
  if (auto it = object.find("arguments"); it != object.end())
    arguments = &*it;
  else if (auto it2 = object.find("parameters"); it2 != object.end())
    arguments = &*it2;
  return make_call(name->get_ref<const std::string&>(), arguments);
}

std::string ToolSet::parameter_type(std::string_view tool, std::string_view parameter) const {
  auto schema = parameter_schemas.find(tool);
  if (schema == parameter_schemas.end() || !schema->second.is_object()) return {};
  auto properties = schema->second.find("properties");
  if (properties == schema->second.end() || !properties->is_object()) return {};
  auto property = properties->find(std::string(parameter));
  if (property == properties->end() || !property->is_object()) return {};
  auto type = property->find("type");
  if (type == property->end()) return {};
  if (type->is_string()) return type->get<std::string>();
  if (type->is_array()) {  // ["integer", "null"]: the first non-null type
    for (const ordered_json& t : *type) {
      if (t.is_string() && t.get_ref<const std::string&>() != "null") return t.get<std::string>();
    }
  }
  return {};
}

std::vector<std::string_view> call_openers(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return {"<tool_call>"};
    case ToolCallFormat::kQwen3CoderXml:
      return {"<tool_call>", "<function="};  // the wrapper is sometimes skipped
    case ToolCallFormat::kMistral:
      return {"[TOOL_CALLS]"};
    case ToolCallFormat::kDeepSeekV3:
      return {"<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>"};
    case ToolCallFormat::kLlama3Json:
      return {"<|python_tag|>"};  // plus "{" at the content start
    case ToolCallFormat::kNone:
    case ToolCallFormat::kGptOss:
      return {};
  }
  return {};
}

// <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>. A call missing only its closing tag
// at the end of the output still counts.
RegionResult read_hermes_region(std::string_view text, bool at_end, const ToolSet& tools) {
  constexpr std::string_view kOpen = "<tool_call>", kClose = "</tool_call>";
  size_t close = text.find(kClose, kOpen.size());
  if (close == std::string_view::npos && !at_end) return need_more();
  size_t inner_end = close == std::string_view::npos ? text.size() : close;
  size_t consumed = close == std::string_view::npos ? text.size() : close + kClose.size();
  return single(text, consumed,
                call_from_text(text.substr(kOpen.size(), inner_end - kOpen.size()), tools));
}

// <tool_call>\n<function=f>\n<parameter=p>\nvalue\n</parameter>\n</function>\n</tool_call>, or the
// bare <function=...>...</function>.
RegionResult read_qwen3_coder_region(std::string_view text, bool at_end, const ToolSet& tools) {
  constexpr std::string_view kOpen = "<tool_call>";
  bool wrapped = text.starts_with(kOpen);
  std::string_view close_marker = wrapped ? "</tool_call>" : "</function>";
  size_t close = text.find(close_marker, wrapped ? kOpen.size() : 0);
  if (close == std::string_view::npos && !at_end) return need_more();
  size_t consumed = close == std::string_view::npos ? text.size() : close + close_marker.size();
  std::string_view inner =
      wrapped ? text.substr(kOpen.size(),
                            (close == std::string_view::npos ? text.size() : close) - kOpen.size())
              : text.substr(0, consumed);
  return single(text, consumed, parse_xml_function(inner, tools));
}

// v3: [TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "..."}, ...], all valid or all text.
// v11+: [TOOL_CALLS]f[CALL_ID]abc123xyz[ARGS]{...} ([CALL_ID] optional; one call per opener).
RegionResult read_mistral_region(std::string_view text, bool at_end, const ToolSet& tools) {
  constexpr std::string_view kOpen = "[TOOL_CALLS]", kArgs = "[ARGS]", kCallId = "[CALL_ID]";
  const RegionResult all_text = single(text, text.size(), std::nullopt);
  size_t i = skip_ws(text, kOpen.size());
  if (i == text.size()) return at_end ? all_text : need_more();
  if (text[i] == '[' &&
      !text.substr(i).starts_with(kArgs.substr(0, std::min(text.size() - i, kArgs.size())))) {
    size_t end = json_extent(text, i);
    if (end == std::string_view::npos) return at_end ? all_text : need_more();
    std::optional<ordered_json> array = parse_json(text.substr(i, end - i));
    RegionResult result;
    result.consumed = end;
    bool valid = array && array->is_array() && !array->empty();
    for (size_t k = 0; valid && k < array->size(); ++k) {
      std::optional<ToolCall> call = tools.call_from_json((*array)[k]);
      if (!call)
        valid = false;
      else
        result.items.push_back({std::move(call), {}});
    }
    return valid ? result : single(text, end, std::nullopt);
  }
  size_t n = i;
  while (n < text.size() && is_name_char(text[n])) ++n;
  if (n - i > kMaxNameBytes) return single(text, n, std::nullopt);
  if (n == text.size()) return at_end ? all_text : need_more();
  std::string_view name = text.substr(i, n - i);
  size_t k = n;
  if (text.substr(k).starts_with(kCallId)) {  // the model's own id; the server issues its own
    size_t args = text.find(kArgs, k);
    if (args == std::string_view::npos) return at_end ? all_text : need_more();
    k = args;
  }
  std::string_view rest = text.substr(k);
  if (rest.starts_with(kArgs)) {
    k += kArgs.size();
  } else if (rest.front() != '{') {
    bool partial = kArgs.starts_with(rest) || kCallId.starts_with(rest);
    if (partial && !at_end) return need_more();
    return single(text, partial ? text.size() : k, std::nullopt);
  }
  k = skip_ws(text, k);
  if (k == text.size()) return at_end ? all_text : need_more();
  if (text[k] != '{') return single(text, k, std::nullopt);
  size_t end = json_extent(text, k);
  if (end == std::string_view::npos) return at_end ? all_text : need_more();
  std::optional<ordered_json> args = parse_json(text.substr(k, end - k));
  return single(text, end, args ? tools.make_call(name, &*args) : std::nullopt);
}

// <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>...<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>...
// <｜tool▁calls▁end｜>, read as a whole block; a lone <｜tool▁call▁begin｜>...<｜tool▁call▁end｜>
// too. Invalid calls in a block with valid ones come back as their own text; a block with no valid
// call comes back whole.
RegionResult read_deepseek_region(std::string_view text, bool at_end, const ToolSet& tools) {
  constexpr std::string_view kBlockOpen = "<｜tool▁calls▁begin｜>",
                             kBlockClose = "<｜tool▁calls▁end｜>";
  constexpr std::string_view kCallOpen = "<｜tool▁call▁begin｜>",
                             kCallClose = "<｜tool▁call▁end｜>";
  bool block = text.starts_with(kBlockOpen);
  size_t i = block ? kBlockOpen.size() : 0;
  RegionResult result;
  bool any_call = false;
  while (true) {
    size_t j = block ? skip_ws(text, i) : i;
    std::string_view rest = text.substr(j);
    if (block && rest.starts_with(kBlockClose)) {
      i = j + kBlockClose.size();
      break;
    }
    if (rest.starts_with(kCallOpen)) {
      size_t close = text.find(kCallClose, j + kCallOpen.size());
      if (close == std::string_view::npos) {
        if (!at_end) return need_more();
        result.items.push_back({std::nullopt, std::string(rest)});
        i = text.size();
        break;
      }
      size_t after = close + kCallClose.size();
      std::optional<ToolCall> call = parse_deepseek_call(
          text.substr(j + kCallOpen.size(), close - j - kCallOpen.size()), tools);
      any_call = any_call || call.has_value();
      if (call)
        result.items.push_back({std::move(call), {}});
      else
        result.items.push_back({std::nullopt, std::string(text.substr(j, after - j))});
      i = after;
      if (!block) break;
      continue;
    }
    // Neither marker: wait while it may still become one, else the block ends before it.
    bool partial = !rest.empty() && (kCallOpen.starts_with(rest) || kBlockClose.starts_with(rest));
    if ((rest.empty() || partial) && !at_end) return need_more();
    break;
  }
  if (!any_call) return single(text, i, std::nullopt);
  result.consumed = i;
  return result;
}

// Llama 3.1+: the content is a JSON call {"name": "f", "parameters": {...}} (or "arguments"),
// maybe after <|python_tag|>; several may be joined by ";". Only the valid calls up to the first
// thing that is not one are taken; the rest stays content.
RegionResult read_llama3_region(std::string_view text, bool at_end, const ToolSet& tools) {
  constexpr std::string_view kPythonTag = "<|python_tag|>";
  size_t i = skip_ws(text, 0);
  if (text.substr(i).starts_with(kPythonTag)) i = skip_ws(text, i + kPythonTag.size());
  RegionResult result;
  size_t decided = 0;  // end of the last valid call
  while (true) {
    if (i == text.size()) {
      if (!at_end) return need_more();
      break;
    }
    if (text[i] != '{') break;
    size_t end = json_extent(text, i);
    if (end == std::string_view::npos) {
      if (!at_end) return need_more();
      break;
    }
    std::optional<ToolCall> call = call_from_text(text.substr(i, end - i), tools);
    if (!call) break;
    result.items.push_back({std::move(call), {}});
    decided = end;
    size_t next = skip_ws(text, end);
    if (next == text.size()) {
      if (!at_end) return need_more();  // a ";" and another call may follow
      break;
    }
    if (text[next] != ';') break;
    i = skip_ws(text, next + 1);
  }
  if (result.items.empty()) {
    // Not a call: the opener (python tag or "{") and what was read so far go back as text.
    size_t first = skip_ws(text, 0);
    size_t consumed = text.substr(first).starts_with(kPythonTag) ? first + kPythonTag.size()
                                                                 : std::min(text.size(), first + 1);
    size_t end = first < text.size() && text[first] == '{' ? json_extent(text, first)
                                                           : std::string_view::npos;
    return single(text, end == std::string_view::npos ? consumed : end, std::nullopt);
  }
  result.consumed = decided;
  return result;
}

}  // namespace hearth::chat::detail
