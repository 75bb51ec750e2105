#include "api/tools.h"

#include <fmt/format.h>


#include "api/structured.h"
#include "grammar/json_schema.h"

namespace hearth::api {

using ojson = nlohmann::ordered_json;

namespace {

// The most calls a forced grammar allows in one answer (parallel_tool_calls).
constexpr int kMaxParallelCalls = 8;

bool valid_tool_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

// One grammar with a rule `<prefix>root` per tool, matching its arguments object.
Result<std::string> argument_rules(const ToolRequest& tools, const std::vector<size_t>& which, bool compact) {
  std::string out;
  for (size_t i : which) {
    grammar::JsonSchemaOptions options;
    options.compact = compact;
    auto g = grammar::json_schema_to_gbnf(tools.parameters[i], options);
    if (!g.ok()) return make_error("tool '{}' parameters: {}", tools.names[i], g.error().message);
    out += prefix_rules(*g, fmt::format("t{}-", i));
  }
  return out;
}

// Qwen3-Coder's XML call for tool i: its declared parameters in order, each
// "<parameter=NAME>\nVALUE\n</parameter>\n" (optional ones may be left out). VALUE is raw text for a
// plain string (no '<' in it, so it cannot close the block; lengths kept), one of the strings for
// a string enum, and JSON for every other schema (the parser reads those values as JSON).
// Without `with_opener` the call starts after its "<tool_call>" (the rest of it, under auto).
Result<std::string> xml_call_rules(const ToolRequest& tools, size_t i, std::string& rules, bool with_opener) {
  const ojson& params = tools.parameters[i];
  const std::string name = tools.names[i];
  std::string body = gbnf_literal(std::string(with_opener ? "<tool_call>" : "") + "\n<function=" + name + ">\n");
  auto props = params.find("properties");
  if (props != params.end() && !props->is_object())
    return make_error("tool '{}' parameters: 'properties' must be an object", name);
  std::vector<std::string> required;
  if (auto r = params.find("required"); r != params.end() && r->is_array())
    for (const auto& v : *r)
      if (v.is_string()) required.push_back(v.get<std::string>());
  size_t j = 0;
  const ojson none = ojson::object();
  const ojson& declared = props == params.end() ? none : *props;
  for (auto it = declared.begin(); it != declared.end(); ++it) {
    const std::string pname = it.key();
    const ojson& pschema = it.value();
    std::string value;
    const bool plain_string = pschema.is_object() && pschema.contains("type") && pschema["type"] == "string" &&
                              !pschema.contains("enum") && !pschema.contains("const") && !pschema.contains("pattern") &&
                              !pschema.contains("format");
    if (plain_string) {
      // Read without throwing: a wrong type is an error, not an exception.
      auto length = [&](const char* key, int64_t fallback) -> int64_t {
        auto v = pschema.find(key);
        if (v == pschema.end()) return fallback;
        return v->is_number_integer() ? v->get<int64_t>() : int64_t{-2};
      };
      const int64_t lo = length("minLength", 0), hi = length("maxLength", -1);
      if (hi == -2) return make_error("tool '{}' parameter '{}': maxLength must be an integer", name, pname);
      if (lo < 0 || lo > 10000 || hi > 10000 || (hi >= 0 && hi < lo))
        return make_error("tool '{}' parameter '{}': minLength/maxLength out of range", name, pname);
      value = hi < 0 ? fmt::format("[^<]{{{},}}", lo) : fmt::format("[^<]{{{},{}}}", lo, hi);
    } else if (pschema.is_object() && pschema.contains("enum") && pschema["enum"].is_array() &&
               std::all_of(pschema["enum"].begin(), pschema["enum"].end(), [](const ojson& v) { return v.is_string(); })) {
      for (const auto& v : pschema["enum"]) value += (value.empty() ? "" : " | ") + gbnf_literal(v.get<std::string>());
      value = "( " + value + " )";
    } else if (pschema.is_object() && pschema.contains("type") && pschema["type"] == "string") {
      // Raw text with a pattern or format would need those compiled for raw text, not JSON.
      return make_error("tool '{}' parameter '{}': a string with a pattern or format cannot be forced in Qwen3-Coder's "
                        "XML calls yet", name, pname);
    } else {
      auto g = grammar::json_schema_to_gbnf(pschema);
      if (!g.ok()) return make_error("tool '{}' parameter '{}': {}", name, pname, g.error().message);
      const std::string prefix = fmt::format("t{}-p{}-", i, j);
      rules += prefix_rules(*g, prefix);
      value = prefix + "root";
    }
    const std::string block = gbnf_literal("<parameter=" + pname + ">\n") + " " + value + " " +
                              gbnf_literal("\n</parameter>\n");
    const bool req = std::find(required.begin(), required.end(), pname) != required.end();
    body += " " + (req ? block : "( " + block + " )?");
    ++j;
  }
  return body + " " + gbnf_literal("</function>\n</tool_call>");
}

}  // namespace

ApiResult<std::optional<ToolRequest>> parse_tools(const ojson& body) {
  auto given = [&](const char* key) {
    auto it = body.find(key);
    return it != body.end() && !it->is_null() ? &*it : static_cast<const ojson*>(nullptr);
  };
  ToolRequest r;
  if (const ojson* parallel = given("parallel_tool_calls")) {
    if (!parallel->is_boolean()) return bad_request("'parallel_tool_calls' must be a boolean", "parallel_tool_calls");
    r.parallel = parallel->get<bool>();
  }
  const ojson* tools = given("tools");
  if (tools && !tools->is_array()) return bad_request("'tools' must be an array", "tools");
  if (tools && tools->size() > 512) return bad_request("'tools' takes at most 512 tools", "tools");
  for (size_t i = 0; tools && i < tools->size(); ++i) {
    const ojson& t = (*tools)[i];
    if (!t.is_object() || !t.contains("type") || !t["type"].is_string())
      return bad_request(fmt::format("tools[{}] must be an object with a string 'type'", i), "tools");
    if (t["type"] != "function")
      return bad_request(fmt::format("tools[{}] has type '{}': only 'function' tools are supported", i,
                                     t["type"].get<std::string>()),
                         "tools");
    auto fn = t.find("function");
    if (fn == t.end() || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string())
      return bad_request(fmt::format("tools[{}].function must be an object with a string 'name'", i), "tools");
    const std::string name = (*fn)["name"].get<std::string>();
    if (!valid_tool_name(name))
      return bad_request(fmt::format("tools[{}].function.name '{}' must be 1-64 of a-z, A-Z, 0-9, _ and -", i, name),
                         "tools");
    if (std::find(r.names.begin(), r.names.end(), name) != r.names.end())
      return bad_request(fmt::format("two tools are named '{}': tool names must be distinct", name), "tools");
    ojson params = ojson::object({{"type", "object"}, {"properties", ojson::object()}});
    if (auto p = fn->find("parameters"); p != fn->end() && !p->is_null()) {
      if (!p->is_object())
        return bad_request(fmt::format("tool '{}': 'parameters' must be a JSON Schema object", name), "tools");
      if (auto type = p->find("type"); type != p->end() && *type != "object")
        return bad_request(fmt::format("tool '{}': 'parameters' must describe an object (its type is {})", name,
                                       type->dump()),
                           "tools");
      params = *p;
      if (!params.contains("type")) params["type"] = "object";
    }
    for (const auto& item : fn->items())
      if (item.key() != "name" && item.key() != "description" && item.key() != "parameters" && item.key() != "strict")
        return bad_request(fmt::format("tools[{}].function.{} is not supported", i, item.key()), "tools");
    r.names.push_back(name);
    r.parameters.push_back(std::move(params));
  }
  if (const ojson* choice = given("tool_choice")) {
    if (choice->is_string()) {
      const std::string c = choice->get<std::string>();
      if (c == "none") r.choice = ToolRequest::Choice::kNone;
      else if (c == "auto") r.choice = ToolRequest::Choice::kAuto;
      else if (c == "required") r.choice = ToolRequest::Choice::kRequired;
      else return bad_request(fmt::format("'tool_choice' '{}' is not one of none, auto, required", c), "tool_choice");
    } else if (choice->is_object() && choice->value("type", "") == "function" && choice->contains("function") &&
               (*choice)["function"].is_object() && (*choice)["function"].contains("name") &&
               (*choice)["function"]["name"].is_string()) {
      r.choice = ToolRequest::Choice::kNamed;
      r.named = (*choice)["function"]["name"].get<std::string>();
      if (std::find(r.names.begin(), r.names.end(), r.named) == r.names.end())
        return bad_request(fmt::format("'tool_choice' names '{}', which is not among the tools", r.named), "tool_choice");
    } else {
      return bad_request("'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                         "tool_choice");
    }
  }
  if (r.names.empty()) {
    if (r.choice == ToolRequest::Choice::kRequired)
      return bad_request("'tool_choice' is 'required' but no tools are given", "tool_choice");
    return std::optional<ToolRequest>();
  }
  return std::optional<ToolRequest>(std::move(r));
}

std::vector<std::string> tool_call_markers(chat::ToolCallFormat format) {
  switch (format) {
    case chat::ToolCallFormat::kMistral: return {"[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"};
    case chat::ToolCallFormat::kDeepSeekV3:
      return {"<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>",
              "<｜tool▁calls▁end｜>"};
    case chat::ToolCallFormat::kGptOss: return {"<|channel|>", "<|constrain|>", "<|message|>", "<|start|>", "<|end|>"};
    case chat::ToolCallFormat::kLlama3Json: return {"<|python_tag|>"};
    default: return {};
  }
}

Result<std::optional<ToolGrammar>> tool_call_grammar(chat::ToolCallFormat format, const ToolRequest& tools) {
  using Choice = ToolRequest::Choice;
  if (tools.choice == Choice::kNone) return std::optional<ToolGrammar>();
  const bool forced = tools.choice == Choice::kRequired || tools.choice == Choice::kNamed;
  std::vector<size_t> which;
  for (size_t i = 0; i < tools.names.size(); ++i)
    if (tools.choice != Choice::kNamed || tools.names[i] == tools.named) which.push_back(i);
  // A call is `opener` then `after_opener` in the family's syntax; forced, the grammar is calls
  // from the first token (joined by `separator` when parallel); under auto it starts after the
  // opener and is the rest of one call.
  std::string opener, after_opener, separator;
  auto alternatives = [&](auto&& one) {
    std::string alts;
    for (size_t i : which) alts += (alts.empty() ? "" : " | ") + one(i);
    return "( " + alts + " )";
  };
  switch (format) {
    case chat::ToolCallFormat::kHermes:
      // <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>, as Qwen's templates show it.
      opener = "<tool_call>";
      after_opener = "\"\\n\" " + alternatives([&](size_t i) {
        return gbnf_literal("{\"name\": \"" + tools.names[i] + "\", \"arguments\": ") + fmt::format(" t{}-root ", i) +
               gbnf_literal("}");
      }) + " \"\\n</tool_call>\"";
      separator = "\"\\n\"";
      break;
    case chat::ToolCallFormat::kLlama3Json:
      // {"name": "f", "parameters": {...}}: the whole answer, one call (no opener to wait for).
      after_opener = alternatives([&](size_t i) {
        return gbnf_literal("{\"name\": \"" + tools.names[i] + "\", \"parameters\": ") + fmt::format(" t{}-root ", i) +
               gbnf_literal("}");
      });
      break;
    case chat::ToolCallFormat::kMistral:
      // [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...] (the v3 form, which every Mistral
      // parser reads).
      opener = "[TOOL_CALLS]";
      {
        const std::string one = alternatives([&](size_t i) {
          return gbnf_literal("{\"name\": \"" + tools.names[i] + "\", \"arguments\": ") + fmt::format(" t{}-root ", i) +
                 gbnf_literal("}");
        });
        after_opener = "\"[\" " + one + (tools.parallel ? fmt::format(" ( \", \" {} ){{0,{}}}", one, kMaxParallelCalls - 1) : "") + " \"]\"";
      }
      break;
    case chat::ToolCallFormat::kDeepSeekV3:
      opener = "<｜tool▁calls▁begin｜>";
      {
        const std::string one = alternatives([&](size_t i) {
          return gbnf_literal("<｜tool▁call▁begin｜>function<｜tool▁sep｜>" + tools.names[i] + "\n```json\n") +
                 fmt::format(" t{}-root ", i) + gbnf_literal("\n```<｜tool▁call▁end｜>");
        });
        after_opener = one + (tools.parallel ? fmt::format(" ( {} ){{0,{}}}", one, kMaxParallelCalls - 1) : "") + " " +
                       gbnf_literal("<｜tool▁calls▁end｜>");
      }
      break;
    case chat::ToolCallFormat::kGptOss:
      // <|channel|>commentary to=functions.f <|constrain|>json<|message|>{...}; <|call|> ends
      // generation (it is an end-of-generation token), so the grammar stops before it.
      opener = "<|channel|>commentary to=functions.";
      after_opener = alternatives([&](size_t i) {
        return gbnf_literal(tools.names[i] + " <|constrain|>json<|message|>") + fmt::format(" t{}-root ", i);
      });
      break;
    case chat::ToolCallFormat::kQwen3CoderXml: {
      // Calls in XML; the arguments' grammar is per parameter (xml_call_rules), not one JSON.
      opener = "<tool_call>";
      std::string rules, alts;
      for (size_t i : which) {
        auto one = xml_call_rules(tools, i, rules, /*with_opener=*/forced);
        if (!one.ok()) return one.error();
        alts += (alts.empty() ? "" : " | ") + ("( " + *one + " )");
      }
      ToolGrammar g;
      const std::string call = "( " + alts + " )";
      if (forced) {
        g.gbnf = "root ::= " + call +
                 (tools.parallel ? fmt::format(" ( \"\\n\" {} ){{0,{}}}", call, kMaxParallelCalls - 1) : "") + "\n" + rules;
      } else {
        g.after = opener;  // then the rest of one call
        g.gbnf = "root ::= " + call + "\n" + rules;
      }
      return std::optional<ToolGrammar>(std::move(g));
    }
    default:
      if (forced)
        return make_error("tool_choice '{}' is not supported for this model's tool-call format ({}) yet",
                          tools.choice == Choice::kNamed ? "named" : "required", chat::to_string(format));
      return std::optional<ToolGrammar>();
  }
  auto args = argument_rules(tools, which, /*compact=*/false);
  if (!args.ok()) return args.error();
  ToolGrammar g;
  if (forced) {
    const std::string one = opener.empty() ? after_opener : gbnf_literal(opener) + " " + after_opener;
    // Parallel calls: at most kMaxParallelCalls, so a model that keeps calling still finishes.
    const bool repeat = tools.parallel && !separator.empty();
    g.gbnf = "root ::= " + one +
             (repeat ? fmt::format(" ( {} {} ){{0,{}}}", separator, one, kMaxParallelCalls - 1) : "") + "\n" + *args;
  } else {
    if (opener.empty()) return std::optional<ToolGrammar>();  // auto: nothing marks a call's start
    g.after = opener;
    g.gbnf = "root ::= " + after_opener + "\n" + *args;
  }
  return std::optional<ToolGrammar>(std::move(g));
}

}  // namespace hearth::api
