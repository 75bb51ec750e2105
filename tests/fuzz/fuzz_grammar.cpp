// libFuzzer target for the grammar compilers, which take text from strangers: GBNF (a request's
// structured_outputs.grammar), JSON Schemas (response_format, tool parameters) and regexes
// (structured_outputs.regex, a schema's pattern). The first byte picks the front end; whatever it
// compiles must parse as GBNF, and the matcher then runs the rest of the input through it. Any
// crash, hang or unbounded allocation is a finding; errors are fine.
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "grammar/regex.h"

using namespace hearth::grammar;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0] % 4;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  // The input splits at the first NUL: the grammar source, then text to match.
  const size_t cut = rest.find('\0');
  const std::string_view source = rest.substr(0, cut);
  const std::string_view text = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
  std::string gbnf;
  if (mode == 0) {
    gbnf = std::string(source);
  } else if (mode == 1) {
    const auto schema = nlohmann::ordered_json::parse(source, nullptr, false);
    if (schema.is_discarded()) return 0;
    auto g = json_schema_to_gbnf(schema, JsonSchemaOptions{.compact = (size & 1) != 0});
    if (!g.ok()) return 0;
    gbnf = *g;
  } else {
    auto expr = regex_to_gbnf(source, mode == 2 ? RegexTarget::kRaw : RegexTarget::kJsonStringContent);
    if (!expr.ok()) return 0;
    gbnf = "root ::= " + *expr + "\n";
  }
  auto grammar = parse_gbnf(gbnf);
  if (!grammar.ok()) {
    // A front end wrote GBNF the parser refuses: a bug, except a schema whose recursion has no
    // base case, which the JSON Schema compiler leaves for the parser's check to name.
    if (mode >= 2 || (mode == 1 && grammar.error().message.find("never finish") == std::string::npos)) std::abort();
    return 0;
  }
  auto vocab = std::make_shared<TokenVocab>(std::vector<std::string>{"{", "\"", "a", "1", "\xC3\xA9", "\xC3", " "},
                                            std::vector<int32_t>{}, std::vector<int32_t>{});
  GrammarMatcher m(std::make_shared<CompiledGrammar>(std::move(*grammar), vocab));
  m.mask();
  for (size_t i = 0; i < text.size() && i < 512; ++i) {
    if (!m.accept_bytes(text.substr(i, 1))) break;
    if (i % 16 == 0) m.mask();
  }
  return 0;
}
