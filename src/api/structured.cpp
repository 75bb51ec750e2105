#include "api/structured.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "grammar/json_schema.h"
#include "grammar/regex.h"

namespace hearth::api {

using ojson = nlohmann::ordered_json;

std::shared_ptr<const grammar::TokenVocab> make_token_vocab(const tokenizer::Tokenizer& tok, int32_t n_vocab,
                                                            const std::vector<std::string>& markers) {
  std::vector<std::string> pieces(static_cast<size_t>(std::max(n_vocab, 0)));
  std::vector<int32_t> text_less;
  for (int32_t id = 0; id < n_vocab; ++id) {
    if (id >= tok.n_vocab()) continue;  // empty: matches nothing
    pieces[size_t(id)] = tok.token_to_piece(id, true);
    if (tok.is_control(id) && std::find(markers.begin(), markers.end(), pieces[size_t(id)]) == markers.end())
      text_less.push_back(id);
  }
  std::vector<int32_t> eog(tok.eog_ids().begin(), tok.eog_ids().end());
  return std::make_shared<grammar::TokenVocab>(std::move(pieces), text_less, std::move(eog));
}

std::shared_ptr<const grammar::TokenVocab> GrammarCache::vocab() {
  std::lock_guard lock(mutex_);
  if (!vocab_) vocab_ = make_token_vocab(tok_, n_vocab_, markers_);
  return vocab_;
}

Result<std::shared_ptr<const grammar::CompiledGrammar>> GrammarCache::compile(const std::string& gbnf) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(gbnf); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  auto parsed = grammar::parse_gbnf(gbnf);
  if (!parsed.ok()) return parsed.error();
  auto compiled = std::make_shared<const grammar::CompiledGrammar>(std::move(*parsed), vocab());
  // The start state's masks are computed here, on the request's thread, rather than on the engine
  // thread at the first step, where a cold position would hold up every running sequence.
  grammar::GrammarMatcher first(compiled);
  if (!first.failed()) first.mask();
  if (first.failed())
    return make_error("the grammar is too ambiguous to follow: over {} parses live at its start, or its first token "
                      "mask over the work bound", grammar::Automaton::kMaxHeads);
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(gbnf); it != index_.end()) return it->second->second;
  if (lru_.size() >= kEntries) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  lru_.emplace_front(gbnf, compiled);
  index_.emplace(gbnf, lru_.begin());
  return std::shared_ptr<const grammar::CompiledGrammar>(compiled);
}

std::string gbnf_literal(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

// Renames every rule of a GBNF text (definitions and references) to prefix + name, so that
// grammars compiled separately (one per tool's parameters) can live in one file. Literals and
// classes are skipped: only identifiers outside them that name a defined rule are renamed.
std::string prefix_rules(const std::string& gbnf, const std::string& prefix) {
  auto is_name = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  };
  std::set<std::string> defined;
  for (size_t line = 0; line < gbnf.size();) {
    size_t end = gbnf.find('\n', line);
    if (end == std::string::npos) end = gbnf.size();
    const size_t def = gbnf.find("::=", line);
    if (def != std::string::npos && def < end) {
      std::string name = gbnf.substr(line, def - line);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
      if (!name.empty() && std::all_of(name.begin(), name.end(), is_name)) defined.insert(name);
    }
    line = end + 1;
  }
  std::string out;
  for (size_t i = 0; i < gbnf.size();) {
    const char c = gbnf[i];
    if (c == '"' || c == '[') {  // copy a literal or class whole, escapes included
      const char close = c == '"' ? '"' : ']';
      size_t j = i + 1;
      while (j < gbnf.size() && gbnf[j] != close) j += gbnf[j] == '\\' ? 2 : 1;
      out.append(gbnf, i, std::min(j + 1, gbnf.size()) - i);
      i = j + 1;
    } else if (c == '#') {
      const size_t j = gbnf.find('\n', i);
      i = j == std::string::npos ? gbnf.size() : j;
    } else if (is_name(c)) {
      size_t j = i;
      while (j < gbnf.size() && is_name(gbnf[j])) ++j;
      const std::string word = gbnf.substr(i, j - i);
      out += defined.count(word) ? prefix + word : word;
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}


std::string allow_reasoning_first(const std::string& gbnf, bool starts_inside) {
  // "Anything up to and including </think>" as a grammar: the states of a matcher for the
  // marker (KMP), one rule each; state k has seen the marker's first k characters.
  const std::string marker = "</think>";
  std::string out = prefix_rules(gbnf, "answer-");
  out += starts_inside ? "root ::= think-0 [ \\n]{0,4} answer-root\n"
                      : "root ::= \"<think>\" think-0 [ \\n]{0,4} answer-root | answer-root\n";
  auto next = [&](size_t k, char c) {  // the state after c in state k
    std::string seen = marker.substr(0, k) + c;
    for (size_t len = std::min(seen.size(), marker.size()); len > 0; --len)
      if (seen.compare(seen.size() - len, len, marker, 0, len) == 0) return len;
    return size_t(0);
  };
  const std::string chars = "</think>";  // distinct: < / t h i n k >
  for (size_t k = 0; k < marker.size(); ++k) {
    out += fmt::format("think-{} ::= ", k);
    std::string others;
    for (size_t j = 0; j < chars.size(); ++j) {
      const char c = chars[j];
      if (chars.find(c) != j) continue;
      const size_t to = next(k, c);
      out += fmt::format("{}{} think-{}", j ? " | " : "", gbnf_literal(std::string(1, c)), to);
      others += c == '/' ? "/" : std::string(1, c);
    }
    out += fmt::format(" | [^{}] think-0\n", others);
  }
  out += fmt::format("think-{} ::= \"\"\n", marker.size());
  return out;
}

namespace {

// `root` matching exactly one of the strings, as a trie of rules (one per branching point): the
// matcher then follows one path per prefix instead of one per string, and nesting stays flat.
std::string choice_gbnf(std::vector<std::string> strings) {
  std::sort(strings.begin(), strings.end());
  strings.erase(std::unique(strings.begin(), strings.end()), strings.end());
  std::string rules;
  size_t next_rule = 0;
  // A frame: the rule `name` for strings[lo, hi) past their first `depth` bytes, which they share.
  struct Frame {
    size_t lo, hi, depth;
    std::string name;
  };
  std::vector<Frame> todo{{0, strings.size(), 0, "root"}};
  while (!todo.empty()) {
    Frame f = todo.back();
    todo.pop_back();
    std::string alts;
    for (size_t i = f.lo; i < f.hi;) {
      if (strings[i].size() == f.depth) {  // one string ends here
        alts += (alts.empty() ? "" : " | ") + std::string("\"\"");
        ++i;
        continue;
      }
      // The group sharing the next character (whole UTF-8 characters: a GBNF literal cannot hold
      // part of one), and how many characters they share beyond it.
      auto char_len = [](const std::string& str, size_t at) {
        const auto c = static_cast<unsigned char>(str[at]);
        const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
        return std::min(n, str.size() - at);
      };
      const size_t first = char_len(strings[i], f.depth);
      const std::string_view head = std::string_view(strings[i]).substr(f.depth, first);
      size_t j = i + 1;
      while (j < f.hi && std::string_view(strings[j]).substr(f.depth, first) == head) ++j;
      size_t common = f.depth + first;
      while (common < strings[i].size()) {
        const size_t n = char_len(strings[i], common);
        const std::string_view c = std::string_view(strings[i]).substr(common, n);
        bool all = true;
        for (size_t k = i + 1; k < j && all; ++k) all = std::string_view(strings[k]).substr(common, n) == c;
        if (!all) break;
        common += n;
      }
      const std::string literal = gbnf_literal(strings[i].substr(f.depth, common - f.depth));
      if (j == i + 1 && common == strings[i].size()) {
        alts += (alts.empty() ? "" : " | ") + literal;
      } else {
        const std::string name = fmt::format("choice-{}", next_rule++);
        alts += (alts.empty() ? "" : " | ") + literal + " " + name;
        todo.push_back({i, j, common, name});
      }
      i = j;
    }
    rules += f.name + " ::= " + alts + "\n";
  }
  return rules;
}

ApiResult<std::optional<std::string>> from_schema(const ojson& schema, const std::string& param) {
  if (!schema.is_object() && !schema.is_boolean())
    return bad_request("the JSON Schema must be an object (or a boolean)", param);
  auto gbnf = grammar::json_schema_to_gbnf(schema);
  if (!gbnf.ok()) return bad_request(fmt::format("{}: {}", param, gbnf.error().message), param);
  return std::optional<std::string>(std::move(*gbnf));
}

ApiResult<std::optional<std::string>> from_response_format(const ojson& format) {
  const std::string param = "response_format";
  if (!format.is_object() || !format.contains("type") || !format["type"].is_string())
    return bad_request("'response_format' must be an object with a string 'type'", param);
  const std::string type = format["type"].get<std::string>();
  for (const auto& item : format.items())
    if (item.key() != "type" && item.key() != "json_schema")
      return bad_request(fmt::format("'response_format.{}' is not supported", item.key()), param);
  if (type == "text") return std::optional<std::string>();
  if (type == "json_object") return std::optional<std::string>(grammar::json_object_gbnf());
  if (type != "json_schema")
    return bad_request(fmt::format("'response_format' type '{}' is not supported: text, json_object or json_schema", type),
                       param);
  auto js = format.find("json_schema");
  if (js == format.end() || !js->is_object())
    return bad_request("'response_format.json_schema' must be an object with a 'schema'", param);
  for (const auto& item : js->items()) {
    const std::string& key = item.key();
    if (key != "name" && key != "schema" && key != "strict" && key != "description")
      return bad_request(fmt::format("'response_format.json_schema.{}' is not supported", key), param);
  }
  if (auto name = js->find("name"); name != js->end() && !name->is_string())
    return bad_request("'response_format.json_schema.name' must be a string", param);
  if (auto strict = js->find("strict"); strict != js->end() && !strict->is_boolean() && !strict->is_null())
    return bad_request("'response_format.json_schema.strict' must be a boolean", param);
  auto schema = js->find("schema");
  if (schema == js->end()) return bad_request("'response_format.json_schema.schema' is required", param);
  return from_schema(*schema, param);
}

// vLLM's structured_outputs: exactly one of json, regex, choice, grammar (or json_object).
ApiResult<std::optional<std::string>> from_structured_outputs(const ojson& so) {
  const std::string param = "structured_outputs";
  if (!so.is_object()) return bad_request("'structured_outputs' must be an object", param);
  std::optional<std::string> out;
  int given = 0;
  for (const auto& item : so.items()) {
    const std::string& key = item.key();
    const ojson& v = item.value();
    if (v.is_null()) continue;
    ++given;
    if (key == "json") {
      ojson schema = v;
      if (v.is_string()) {
        schema = ojson::parse(v.get<std::string>(), nullptr, false);
        if (schema.is_discarded()) return bad_request("'structured_outputs.json' is a string that is not JSON", param);
      }
      auto r = from_schema(schema, param);
      if (std::holds_alternative<ApiError>(r)) return r;
      out = std::move(std::get<0>(r));
    } else if (key == "json_object") {
      if (!v.is_boolean()) return bad_request("'structured_outputs.json_object' must be a boolean", param);
      if (v.get<bool>()) out = grammar::json_object_gbnf();
      else --given;
    } else if (key == "regex") {
      if (!v.is_string()) return bad_request("'structured_outputs.regex' must be a string", param);
      auto expr = grammar::regex_to_gbnf(v.get<std::string>(), grammar::RegexTarget::kRaw);
      if (!expr.ok()) return bad_request("structured_outputs.regex: " + expr.error().message, param);
      out = "root ::= " + *expr + "\n";
    } else if (key == "choice") {
      if (!v.is_array() || v.empty()) return bad_request("'structured_outputs.choice' must be a non-empty array of strings", param);
      if (v.size() > 100000) return bad_request("'structured_outputs.choice' takes at most 100000 strings", param);
      std::vector<std::string> strings;
      for (const auto& item : v) {
        if (!item.is_string() || item.get<std::string>().empty() || item.get<std::string>().size() > 4096)
          return bad_request("'structured_outputs.choice' must hold non-empty strings of at most 4096 bytes", param);
        strings.push_back(item.get<std::string>());
      }
      out = choice_gbnf(std::move(strings));
    } else if (key == "grammar") {
      if (!v.is_string()) return bad_request("'structured_outputs.grammar' must be a string of GBNF", param);
      out = v.get<std::string>();
    } else {
      return bad_request(fmt::format("'structured_outputs.{}' is not supported (json, regex, choice, grammar, json_object)", key),
                         param);
    }
  }
  if (given > 1) return bad_request("'structured_outputs' takes exactly one of json, regex, choice, grammar", param);
  return out;
}

}  // namespace

ApiResult<std::optional<std::string>> structured_output_gbnf(const ojson& body, bool chat) {
  std::optional<std::string> out;
  if (auto it = body.find("structured_outputs"); it != body.end() && !it->is_null()) {
    auto r = from_structured_outputs(*it);
    if (std::holds_alternative<ApiError>(r)) return r;
    out = std::move(std::get<0>(r));
  }
  if (auto it = body.find("response_format"); chat && it != body.end() && !it->is_null()) {
    auto r = from_response_format(*it);
    if (std::holds_alternative<ApiError>(r)) return r;
    if (std::get<0>(r)) {
      if (out) return bad_request("'response_format' and 'structured_outputs' cannot both constrain the output", "response_format");
      out = std::move(std::get<0>(r));
    }
  }
  return out;
}

}  // namespace hearth::api
