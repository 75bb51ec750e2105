// JSON Schema -> GBNF. One walk over the schema emits one rule per subschema; $ref targets are
// memoised to rule names and compiled from a work list, so recursive schemas become recursive
// rules and the walk itself never recurses deeper than kMaxDepth. What the grammar accepts is a
// subset of what the schema accepts, chosen so that the subset is easy to state:
//   - objects: declared properties in declared order (optional ones may be left out), extra
//     properties (when additionalProperties allows them) after the declared ones, with keys that
//     use no escapes and are none of the declared names (a duplicate key would let JSON.parse keep
//     a value the property's own schema never checked);
//   - numbers: at most 15 integer digits (16 for unbounded integers), 15 fraction digits, 2
//     exponent digits (3 could spell 1e999, which JSON.parse reads as Infinity); with bounds, no
//     exponent and magnitudes below 10^15 (exact in a double, so ajv compares what we counted);
//   - date: February stops at the 28th; maxLength/maxItems above kMaxRepeat are clamped to it;
//   - strings: \u escapes of UTF-16 surrogates are left out, so one `char` is one code point and
//     minLength/maxLength count as ajv counts;
//   - oneOf is compiled as anyOf (a document matching two branches would be invalid for oneOf);
//   - enum/const emit each value's compact serialization, all values in one prefix-factored trie.
// Hostile schemas end in an Error, never a throw or a hang: nesting past kMaxDepth, output past
// kMaxGrammarBytes, minLength/minItems past kMaxRepeat, left-recursive $ref cycles; object lookups
// go through std::map because ordered_json's are linear.
// This file is past 1,500 lines because the keyword handlers share the compiler's rule table and
// memo; splitting them would mean passing that state across files for no reader's gain.
#include "grammar/json_schema.h"

#include "base/utf8.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "grammar/regex.h"

namespace hearth::grammar {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kMaxDepth = 64;                           // nested subschemas, per $ref target
constexpr size_t kMaxGrammarBytes = size_t{2} << 20;    // "schema too large" above this
constexpr uint64_t kMaxRepeat = 10000;                  // bounded repetitions {m,n}
constexpr int64_t kMaxMagnitude = 999'999'999'999'999;  // 15 digits: exact in a double
constexpr int kMaxInlineNesting = 24;  // parenthesis depth in one rule before spilling to a rule
constexpr size_t kMaxExcludedKeyChars = 1024;  // longest declared name when extra keys exclude it
constexpr size_t kMaxMergeParts = 100000;      // allOf/$ref parts flattened, over the whole schema

// ---- Errors -------------------------------------------------------------------------------------

std::string show(const std::string& ptr) { return ptr.empty() ? "/" : ptr; }

std::string child(const std::string& ptr, std::string_view token) {
  std::string out = ptr + "/";
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

Error unsupported(std::string_view keyword, const std::string& ptr) {
  return make_error("JSON Schema keyword '{}' at {} is not supported", keyword, show(ptr));
}

Error malformed(std::string_view keyword, const std::string& ptr, std::string_view what) {
  return make_error("JSON Schema keyword '{}' at {} must be {}", keyword, show(ptr), what);
}

Error accepts_nothing(const std::string& ptr, std::string_view why) {
  return make_error("JSON Schema at {} accepts nothing ({})", show(ptr), why);
}

// ---- Keywords -----------------------------------------------------------------------------------

// Keywords that change which documents are valid. Everything else (title, description, default,
// examples, $schema, $id, $comment, deprecated, readOnly, writeOnly, contentMediaType, unknown
// vendor keywords such as OpenAI's "strict") is an annotation and ignored, as validators do.
const std::set<std::string, std::less<>>& validity_keywords() {
  static const std::set<std::string, std::less<>> k = {"type",
                                                       "enum",
                                                       "const",
                                                       "$ref",
                                                       "allOf",
                                                       "anyOf",
                                                       "oneOf",
                                                       "not",
                                                       "if",
                                                       "then",
                                                       "else",
                                                       "properties",
                                                       "required",
                                                       "additionalProperties",
                                                       "patternProperties",
                                                       "propertyNames",
                                                       "minProperties",
                                                       "maxProperties",
                                                       "dependentRequired",
                                                       "dependentSchemas",
                                                       "dependencies",
                                                       "unevaluatedProperties",
                                                       "unevaluatedItems",
                                                       "items",
                                                       "prefixItems",
                                                       "additionalItems",
                                                       "minItems",
                                                       "maxItems",
                                                       "uniqueItems",
                                                       "contains",
                                                       "minContains",
                                                       "maxContains",
                                                       "minLength",
                                                       "maxLength",
                                                       "pattern",
                                                       "format",
                                                       "minimum",
                                                       "maximum",
                                                       "exclusiveMinimum",
                                                       "exclusiveMaximum",
                                                       "multipleOf",
                                                       "$dynamicRef",
                                                       "$recursiveRef"};
  return k;
}

bool is_validity_keyword(std::string_view k) { return validity_keywords().count(k) != 0; }

// Rejects keywords we cannot honour. Some are harmless in their trivial forms.
Status check_unsupported(const Json& s, const std::string& ptr) {
  static const std::set<std::string, std::less<>> never = {"not",
                                                           "if",
                                                           "then",
                                                           "else",
                                                           "propertyNames",
                                                           "unevaluatedProperties",
                                                           "unevaluatedItems",
                                                           "contains",
                                                           "minContains",
                                                           "maxContains",
                                                           "multipleOf",
                                                           "$dynamicRef",
                                                           "$recursiveRef"};
  static const std::set<std::string, std::less<>> unless_empty = {
      "patternProperties", "dependentRequired", "dependentSchemas", "dependencies"};
  for (const auto& [k, v] : s.items()) {
    if (never.count(k)) return unsupported(k, ptr);
    if (unless_empty.count(k) && !(v.is_object() && v.empty())) return unsupported(k, ptr);
    if (k == "uniqueItems" && !v.is_boolean()) return malformed(k, ptr, "a boolean");
    if (k == "uniqueItems" && v.get<bool>()) return unsupported(k, ptr);
  }
  return Status::Ok();
}

enum TypeBit : unsigned {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kString = 16,
  kNumber = 32,
  kInteger = 64,
  kAllTypes = 127,
};

constexpr std::pair<const char*, unsigned> kTypeNames[] = {
    {"null", kNull},     {"boolean", kBoolean}, {"object", kObject},  {"array", kArray},
    {"string", kString}, {"number", kNumber},   {"integer", kInteger}};

Result<unsigned> parse_type(const Json& t, const std::string& ptr) {
  auto one = [&](const Json& name) -> Result<unsigned> {
    if (name.is_string()) {
      for (const auto& [n, bit] : kTypeNames) {
        if (name.get<std::string>() == n) return bit;
      }
    }
    return malformed("type", ptr, "a type name or an array of type names");
  };
  if (!t.is_array()) return one(t);
  unsigned bits = 0;
  for (const auto& e : t) {
    HEARTH_TRY(unsigned bit, one(e));
    bits |= bit;
  }
  return bits;
}

// The types a schema's own keywords can describe, when "type" is absent: a subset is fine, so
// {"minLength": 3} becomes "a string of 3 or more" rather than "anything".
unsigned implied_types(const Json& s) {
  static const std::pair<const char*, unsigned> by_keyword[] = {{"minLength", kString},
                                                                {"maxLength", kString},
                                                                {"pattern", kString},
                                                                {"format", kString},
                                                                {"minimum", kNumber},
                                                                {"maximum", kNumber},
                                                                {"exclusiveMinimum", kNumber},
                                                                {"exclusiveMaximum", kNumber},
                                                                {"properties", kObject},
                                                                {"required", kObject},
                                                                {"additionalProperties", kObject},
                                                                {"minProperties", kObject},
                                                                {"maxProperties", kObject},
                                                                {"items", kArray},
                                                                {"prefixItems", kArray},
                                                                {"additionalItems", kArray},
                                                                {"minItems", kArray},
                                                                {"maxItems", kArray}};
  unsigned bits = 0;
  for (const auto& [k, bit] : by_keyword) {
    if (s.contains(k)) bits |= bit;
  }
  return bits == 0 ? kAllTypes : bits;
}

// A non-negative integer keyword (minLength, maxItems, ...); absent -> nullopt.
Result<std::optional<uint64_t>> get_count(const Json& s, const char* key, const std::string& ptr) {
  if (!s.contains(key)) return std::optional<uint64_t>{};
  const Json& v = s[key];
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
    return std::optional<uint64_t>{v.get<uint64_t>()};
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d >= 0 && std::floor(d) == d) {
      return std::optional<uint64_t>{d >= 1e18 ? uint64_t{1000000000000000000} : uint64_t(d)};
    }
  }
  return malformed(key, ptr, "a non-negative integer");
}

struct Bound {
  double value = 0;
  bool exclusive = false;
};

// minimum/exclusiveMinimum (lower) or maximum/exclusiveMaximum (upper), the tighter one, with
// draft 4's boolean exclusiveMinimum/exclusiveMaximum.
Result<std::optional<Bound>> get_bound(const Json& s, bool lower, const std::string& ptr) {
  const char* inclusive_key = lower ? "minimum" : "maximum";
  const char* exclusive_key = lower ? "exclusiveMinimum" : "exclusiveMaximum";
  std::optional<Bound> inclusive, exclusive;
  if (s.contains(inclusive_key)) {
    if (!s[inclusive_key].is_number()) return malformed(inclusive_key, ptr, "a number");
    inclusive = Bound{s[inclusive_key].get<double>(), false};
  }
  if (s.contains(exclusive_key)) {
    const Json& e = s[exclusive_key];
    if (e.is_boolean()) {
      if (e.get<bool>() && inclusive) inclusive->exclusive = true;
    } else if (e.is_number()) {
      exclusive = Bound{e.get<double>(), true};
    } else {
      return malformed(exclusive_key, ptr, "a number");
    }
  }
  if (!inclusive) return exclusive;
  if (!exclusive) return inclusive;
  bool exclusive_tighter =
      lower ? exclusive->value >= inclusive->value : exclusive->value <= inclusive->value;
  return exclusive_tighter ? exclusive : inclusive;
}

// ---- Text ---------------------------------------------------------------------------------------

bool decode_utf8(std::string_view s, std::vector<uint32_t>& out) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t n = 0;
    if (c < 0x80) {
      cp = c, n = 1;
    } else if ((c >> 5) == 6) {
      cp = c & 0x1f, n = 2;
    } else if ((c >> 4) == 14) {
      cp = c & 0x0f, n = 3;
    } else if ((c >> 3) == 30) {
      cp = c & 0x07, n = 4;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out.push_back(cp);
    i += n;
  }
  return true;
}

// One code point inside a GBNF literal or character class. Non-ASCII stays UTF-8.
void append_gbnf_char(std::string& out, uint32_t cp, bool in_class) {
  switch (cp) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (in_class && (cp == ']' || cp == '[' || cp == '-')) {  // '^' only matters first
    out += '\\';
    out += char(cp);
  } else if (cp < 0x20 || cp == 0x7F) {
    out += fmt::format("\\x{:02X}", cp);
  } else {
    utf8_append(out, cp);
  }
}

std::string gbnf_literal(const std::vector<uint32_t>& cps, size_t begin, size_t end) {
  std::string out = "\"";
  for (size_t i = begin; i < end; ++i) append_gbnf_char(out, cps[i], false);
  return out + "\"";
}

std::string gbnf_literal(std::string_view ascii) {
  std::string out = "\"";
  for (char c : ascii) append_gbnf_char(out, static_cast<unsigned char>(c), false);
  return out + "\"";
}

// Joins the non-empty parts with spaces.
std::string seq(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

// Alternatives as one atom: "( a | b )", or the single alternative.
std::string group(const std::vector<std::string>& alts) {
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : " ") + alts[i];
  return out + " )";
}

// `atom` repeated lo..hi times (hi absent: unbounded); "" for exactly zero times.
std::string repeat(const std::string& atom, uint64_t lo, std::optional<uint64_t> hi) {
  if (!hi) {
    if (lo == 0) return atom + "*";
    if (lo == 1) return atom + "+";
    return fmt::format("{}{{{},}}", atom, lo);
  }
  if (*hi == 0) return "";
  if (lo == *hi) return lo == 1 ? atom : fmt::format("{}{{{}}}", atom, lo);
  if (lo == 0 && *hi == 1) return atom + "?";
  return fmt::format("{}{{{},{}}}", atom, lo, *hi);
}

bool is_identifier(std::string_view e) {
  if (e.empty()) return false;
  for (char c : e) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) return false;
  }
  return true;
}

// The bare rule names among a rule body's top-level alternatives: the only places this compiler
// puts a rule reference at the start of an alternative (anyOf branches, $ref aliases). A cycle
// through them would be left recursion.
std::vector<std::string> left_edge_names(std::string_view body) {
  std::vector<std::string> out;
  int depth = 0;
  size_t start = 0;
  auto flush = [&](size_t end) {
    std::string_view alt = body.substr(start, end - start);
    while (!alt.empty() && alt.front() == ' ') alt.remove_prefix(1);
    while (!alt.empty() && alt.back() == ' ') alt.remove_suffix(1);
    if (is_identifier(alt)) out.emplace_back(alt);
  };
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '"' || c == '[') {
      char close = c == '"' ? '"' : ']';
      for (++i; i < body.size() && body[i] != close; ++i) {
        if (body[i] == '\\') ++i;
      }
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (c == '|' && depth == 0) {
      flush(i);
      start = i + 1;
    }
  }
  flush(body.size());
  return out;
}

// ---- Digit ranges -------------------------------------------------------------------------------

std::string digit_class(char lo, char hi) {
  if (lo == hi) return gbnf_literal(std::string(1, lo));
  return fmt::format("[{}-{}]", lo, hi);
}

// Equal-length decimal strings a <= b: the alternatives spelling every number between them.
void same_length_range(const std::string& a, const std::string& b, const std::string& prefix,
                       std::vector<std::string>& alts) {
  size_t n = a.size(), i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i == n) {
    alts.push_back(seq({prefix, gbnf_literal(a)}));
    return;
  }
  std::string head = seq({prefix, i ? gbnf_literal(a.substr(0, i)) : ""});
  std::string rest_a = a.substr(i + 1), rest_b = b.substr(i + 1);
  size_t k = n - i - 1;
  bool a_floor = rest_a.find_first_not_of('0') == std::string::npos;
  bool b_ceil = rest_b.find_first_not_of('9') == std::string::npos;
  char lo = a[i], hi = b[i];
  if (!a_floor) {
    same_length_range(rest_a, std::string(k, '9'), seq({head, gbnf_literal(std::string(1, lo))}),
                      alts);
    ++lo;
  }
  if (!b_ceil) --hi;
  if (lo <= hi) alts.push_back(seq({head, digit_class(lo, hi), repeat("[0-9]", k, k)}));
  if (!b_ceil) {
    same_length_range(std::string(k, '0'), rest_b, seq({head, gbnf_literal(std::string(1, b[i]))}),
                      alts);
  }
}

// Canonical decimal spellings (no leading zeros) of the integers in [lo, hi], 0 <= lo <= hi.
std::string uint_range(int64_t lo, int64_t hi) {
  std::vector<std::string> alts;
  std::string a = std::to_string(lo), b = std::to_string(hi);
  if (a.size() == b.size()) {
    same_length_range(a, b, "", alts);
  } else {
    same_length_range(a, std::string(a.size(), '9'), "", alts);
    if (b.size() - a.size() >= 2) {
      alts.push_back(seq({"[1-9]", repeat("[0-9]", a.size(), b.size() - 2)}));
    }
    same_length_range("1" + std::string(b.size() - 1, '0'), b, "", alts);
  }
  return group(alts);
}

// ---- Fixed rules --------------------------------------------------------------------------------

// Rules every grammar may share, in output order, and what each one uses.
struct FixedRule {
  const char* name;
  std::vector<const char*> uses;
};

const std::vector<FixedRule>& fixed_rules() {
  static const std::vector<FixedRule> rules = {
      {"ws", {}},
      {"value", {"object", "array", "string", "number", "boolean", "null"}},
      {"object", {"ws", "member"}},
      {"member", {"ws", "string", "value"}},
      {"array", {"ws", "value"}},
      {"string", {"char"}},
      {"char", {"hex4"}},
      {"hex4", {}},
      {"key-char", {}},
      {"number", {}},
      {"integer", {}},
      {"boolean", {}},
      {"null", {}},
      {"date", {}},
      {"time", {}},
      {"date-time", {"date", "time"}},
      {"uuid", {}},
      {"email", {"email-label"}},
      {"email-label", {}},
      {"ipv4", {"ipv4-octet"}},
      {"ipv4-octet", {}},
  };
  return rules;
}

std::string fixed_rule_body(std::string_view name, bool compact) {
  const char* w = compact ? "" : " ws";
  if (name == "ws") return R"(( " " | "\n" [ \t]{0,20} )?)";
  if (name == "value") return "object | array | string | number | boolean | null";
  if (name == "object") {
    return fmt::format(R"("{{"{0} ( member ({0} ","{0} member )*{0} )? "}}")", w);
  }
  if (name == "member") return fmt::format(R"(string{0} ":"{0} value)", w);
  if (name == "array") {
    return fmt::format(R"("["{0} ( value ({0} ","{0} value )*{0} )? "]")", w);
  }
  if (name == "string") return R"("\"" char* "\"")";
  // Any code point but '"', '\' and controls, or an escape. \u escapes of UTF-16 surrogates are
  // left out so that one char is one code point (what minLength/maxLength count).
  if (name == "char") return R"([^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" hex4 ))";
  if (name == "hex4") return "[0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}";
  if (name == "key-char") return R"([^"\\\x00-\x1F])";
  if (name == "number") {
    return R"("-"? ( "0" | [1-9] [0-9]{0,14} ) ( "." [0-9]{1,15} )? ( [eE] [-+]? [0-9]{1,2} )?)";
  }
  if (name == "integer") return R"("-"? ( "0" | [1-9] [0-9]{0,15} ))";
  if (name == "boolean") return R"("true" | "false")";
  if (name == "null") return R"("null")";
  // RFC 3339 full-date with real month lengths; February stops at 28 (29 is valid only in leap
  // years, which a grammar cannot see cheaply).
  if (name == "date") {
    return R"([0-9]{4} "-" ( ( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ))"
           R"( | ( "0" [469] | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" ))"
           R"( | "02" "-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) ))";
  }
  if (name == "time") {
    return R"(( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,9} )?)"
           R"( ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ))";
  }
  if (name == "date-time") return R"(date "T" time)";
  if (name == "uuid") {
    return R"([0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12})";
  }
  // A conservative subset of ajv-formats' full email: dot-atoms of [A-Za-z0-9_+-] @ two or more
  // DNS labels.
  if (name == "email") {
    // Bounded (atoms of 1-16, at most 4 of them; labels of 1-16, at most 4 after the first): a
    // subset well inside RFC 5321's 64-byte local part, so a model cannot ramble inside a format.
    return R"([a-zA-Z0-9_+-]{1,16} ( "." [a-zA-Z0-9_+-]{1,16} ){0,3} "@" email-label ( "." email-label ){1,4})";
  }
  if (name == "email-label") return R"([a-zA-Z0-9] ( [a-zA-Z0-9-]{0,14} [a-zA-Z0-9] )?)";
  if (name == "ipv4") {
    return R"(ipv4-octet "." ipv4-octet "." ipv4-octet "." ipv4-octet)";
  }
  if (name == "ipv4-octet")
    return R"("25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9]? [0-9])";
  return "";
}

constexpr const char* kFormats[] = {"date", "time", "date-time", "uuid", "email", "ipv4"};

// ---- Compiler -----------------------------------------------------------------------------------

class Compiler {
 public:
  Compiler(const Json& root, const JsonSchemaOptions& options)
      : root_(root), compact_(options.compact), root_name_(options.root_rule) {
    for (const auto& f : fixed_rules()) taken_.insert(f.name);
  }

  Result<std::string> compile() {
    ref_rules_[""] = root_name_;
    size_t root_index = reserve(root_name_);
    HEARTH_TRY(std::string body, expr(root_, "", root_name_, 0));
    HEARTH_RETURN_IF_ERROR(define(root_index, std::move(body), ""));
    while (!pending_.empty()) {
      auto [target, ptr, index] = pending_.front();
      pending_.pop_front();
      std::string name = rules_[index].name;  // a copy: expr() grows rules_
      HEARTH_TRY(std::string ref_body, expr(*target, ptr, name, 0));
      HEARTH_RETURN_IF_ERROR(define(index, std::move(ref_body), ptr));
    }
    HEARTH_RETURN_IF_ERROR(check_left_recursion());
    return render();
  }

  std::string any_object() {
    size_t root_index = reserve(root_name_);
    rules_[root_index].body = use("object");
    return render();
  }

 private:
  struct Rule {
    std::string name;
    std::string body;  // empty: reserved, not yet defined (or dropped as an alias)
    std::string ptr;
  };
  struct Pending {
    const Json* target;
    std::string ptr;
    size_t index;
  };

  // ---- rule table

  std::string unique_name(std::string_view hint) {
    std::string base;
    for (char c : hint) {
      bool alnum = std::isalnum(static_cast<unsigned char>(c));
      if (!alnum && base.empty()) continue;  // no leading '-' (a property named "" or "$x")
      base += alnum ? c : '-';
      if (base.size() >= 64) break;
    }
    if (base.empty()) base = "x";
    std::string name = base;
    for (int i = 2; taken_.count(name); ++i) name = fmt::format("{}-{}", base, i);
    taken_.insert(name);
    return name;
  }

  size_t reserve(std::string_view hint) {
    rules_.push_back({unique_name(hint), "", ""});
    return rules_.size() - 1;
  }

  Status define(size_t index, std::string body, const std::string& ptr) {
    bytes_ += rules_[index].name.size() + body.size() + 6;
    if (bytes_ > kMaxGrammarBytes) {
      return make_error("JSON Schema too large: its grammar exceeds {} bytes", kMaxGrammarBytes);
    }
    rules_[index].body = std::move(body);
    rules_[index].ptr = ptr;
    return Status::Ok();
  }

  Result<std::string> add_rule(std::string_view hint, std::string body, const std::string& ptr) {
    size_t index = reserve(hint);
    HEARTH_RETURN_IF_ERROR(define(index, std::move(body), ptr));
    return rules_[index].name;
  }

  // A rule for schema `s`: its own, or the one its expression already names.
  Result<std::string> rule(const Json& s, const std::string& ptr, std::string_view hint,
                           int depth) {
    size_t index = reserve(hint);
    std::string name = rules_[index].name;  // a copy: expr() grows rules_
    HEARTH_TRY(std::string body, expr(s, ptr, name, depth));
    if (is_identifier(body)) {
      taken_.erase(rules_[index].name);
      rules_[index].name.clear();  // dropped; render skips it
      return body;
    }
    HEARTH_RETURN_IF_ERROR(define(index, std::move(body), ptr));
    return rules_[index].name;
  }

  std::string use(const char* fixed) {
    if (used_.insert(fixed).second) {
      for (const auto& f : fixed_rules()) {
        if (std::string_view(f.name) == fixed) {
          for (const char* u : f.uses) {
            if (!(compact_ && std::string_view(u) == "ws")) use(u);
          }
        }
      }
    }
    return fixed;
  }

  // Whitespace between tokens: "" when compact.
  std::string ws() { return compact_ ? "" : use("ws"); }
  std::string comma() { return seq({ws(), "\",\"", ws()}); }

  std::string render() const {
    std::string out;
    for (const Rule& r : rules_) {
      if (!r.name.empty() && !r.body.empty()) out += r.name + " ::= " + r.body + "\n";
    }
    for (const auto& f : fixed_rules()) {
      if (used_.count(f.name))
        out += fmt::format("{} ::= {}\n", f.name, fixed_rule_body(f.name, compact_));
    }
    return out;
  }

  Status check_left_recursion() const {
    std::map<std::string, std::vector<std::string>, std::less<>> edges;
    std::map<std::string, const Rule*, std::less<>> by_name;
    for (const Rule& r : rules_) {
      if (r.name.empty()) continue;
      edges[r.name] = left_edge_names(r.body);
      by_name[r.name] = &r;
    }
    // Iterative depth-first search; 1 = on the stack, 2 = done.
    std::map<std::string, int, std::less<>> state;
    for (const auto& [start, unused] : edges) {
      if (state[start]) continue;
      std::vector<std::pair<std::string, size_t>> stack = {{start, 0}};
      state[start] = 1;
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        const auto& out = edges[node];
        if (next == out.size()) {
          state[node] = 2;
          stack.pop_back();
          continue;
        }
        const std::string& to = out[next++];
        if (!edges.count(to)) continue;  // a fixed rule
        if (state[to] == 1) {
          return make_error(
              "JSON Schema at {} refers to itself without consuming input ($ref cycle through "
              "anyOf/oneOf or an alias), which is not supported",
              show(by_name[to]->ptr));
        }
        if (state[to] == 0) {
          state[to] = 1;
          stack.push_back({to, 0});
        }
      }
    }
    return Status::Ok();
  }

  // ---- $ref

  struct Target {
    const Json* schema;
    std::string ptr;
  };

  Result<Target> resolve(const Json& ref, const std::string& ptr) {
    if (!ref.is_string()) return malformed("$ref", ptr, "a string");
    const std::string& text = ref.get_ref<const std::string&>();
    auto known = resolved_.find(text);  // ordered_json's key lookups are linear: resolve once
    if (known != resolved_.end()) return known->second;
    HEARTH_TRY(Target t, resolve_uncached(text, ptr));
    resolved_.emplace(text, t);
    return t;
  }

  Result<Target> resolve_uncached(const std::string& text, const std::string& ptr) {
    if (text.empty() || text[0] != '#') {
      return make_error(
          "JSON Schema keyword '$ref' at {}: only local references ('#...') are "
          "supported, not '{}'",
          show(ptr), text);
    }
    std::string fragment;  // percent-decoded
    for (size_t i = 1; i < text.size(); ++i) {
      if (text[i] == '%' && i + 2 < text.size() && std::isxdigit((unsigned char)text[i + 1]) &&
          std::isxdigit((unsigned char)text[i + 2])) {
        fragment += char(std::stoi(text.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        fragment += text[i];
      }
    }
    if (!fragment.empty() && fragment[0] != '/') {
      return make_error(
          "JSON Schema keyword '$ref' at {}: anchor references ('{}') are not "
          "supported, only JSON pointers",
          show(ptr), text);
    }
    const Json* node = &root_;
    std::string canonical;
    size_t pos = 0;
    while (pos < fragment.size()) {
      size_t end = fragment.find('/', pos + 1);
      if (end == std::string::npos) end = fragment.size();
      std::string token;
      for (size_t i = pos + 1; i < end; ++i) {
        if (fragment[i] == '~' && i + 1 < end &&
            (fragment[i + 1] == '0' || fragment[i + 1] == '1')) {
          token += fragment[++i] == '0' ? '~' : '/';
        } else {
          token += fragment[i];
        }
      }
      pos = end;
      if (node->is_object() && node->contains(token)) {
        node = &(*node)[token];
      } else if (node->is_array() && !token.empty() &&
                 token.find_first_not_of("0123456789") == std::string::npos && token.size() < 10 &&
                 std::stoul(token) < node->size()) {
        node = &(*node)[std::stoul(token)];
      } else {
        return make_error("JSON Schema keyword '$ref' at {}: '{}' does not resolve", show(ptr),
                          text);
      }
      canonical = child(canonical, token);
    }
    return Target{node, canonical};
  }

  Result<std::string> ref_rule(const Json& ref, const std::string& ptr) {
    HEARTH_TRY(Target t, resolve(ref, ptr));
    auto it = ref_rules_.find(t.ptr);
    if (it != ref_rules_.end()) return it->second;
    std::string hint;
    for (char c : t.ptr) {
      if (c != '$') hint += c;
    }
    while (!hint.empty() && (hint[0] == '/' || hint[0] == '-')) hint.erase(0, 1);
    size_t index = reserve(hint);
    ref_rules_[t.ptr] = rules_[index].name;
    pending_.push_back({t.schema, t.ptr, index});
    return rules_[index].name;
  }

  // ---- allOf (and $ref beside other keywords, and anyOf's siblings): merged into one schema

  Status flatten(const Json& s, const std::string& ptr, int depth,
                 std::vector<std::pair<const Json*, std::string>>& out) {
    if (depth > kMaxDepth) {
      return make_error("JSON Schema nested deeper than {} levels at {}", kMaxDepth, show(ptr));
    }
    if (++flatten_calls_ > kMaxMergeParts) {
      return make_error("JSON Schema too large: allOf/$ref merging at {} exceeds {} parts",
                        show(ptr), kMaxMergeParts);
    }
    if (s.is_boolean()) {
      if (!s.get<bool>()) return accepts_nothing(ptr, "false schema in allOf");
      return Status::Ok();
    }
    if (!s.is_object())
      return make_error("JSON Schema at {} must be an object or a boolean", show(ptr));
    HEARTH_RETURN_IF_ERROR(check_unsupported(s, ptr));
    if (s.contains("$ref")) {
      HEARTH_TRY(Target t, resolve(s["$ref"], ptr));
      HEARTH_RETURN_IF_ERROR(flatten(*t.schema, t.ptr, depth + 1, out));
    }
    if (s.contains("allOf")) {
      const Json& all = s["allOf"];
      if (!all.is_array() || all.empty()) return malformed("allOf", ptr, "a non-empty array");
      for (size_t i = 0; i < all.size(); ++i) {
        HEARTH_RETURN_IF_ERROR(
            flatten(all[i], child(child(ptr, "allOf"), std::to_string(i)), depth + 1, out));
      }
    }
    out.emplace_back(&s, ptr);
    return Status::Ok();
  }

  Result<Json> merge(const std::vector<std::pair<const Json*, std::string>>& parts,
                     const std::string& ptr) {
    Json merged = Json::object();
    unsigned types = kAllTypes;
    bool typed = false;
    std::vector<std::pair<const Json*, std::string>> closed;  // parts with additionalProperties
    // Properties gathered here (ordered_json's lookups are linear); some become {"allOf": [...]}.
    std::vector<std::pair<std::string, Json>> props;
    std::map<std::string, size_t> prop_index;
    std::set<std::string> wrapped, seen_required;
    auto cannot = [&](std::string_view k) {
      return make_error(
          "JSON Schema keyword 'allOf' at {} cannot be merged (keyword '{}' differs "
          "between branches)",
          show(ptr), k);
    };
    for (const auto& [part, part_ptr] : parts) {
      for (const auto& [k, v] : part->items()) {
        if (k == "$ref" || k == "allOf" || !is_validity_keyword(k)) continue;
        if (k == "type") {
          HEARTH_TRY(unsigned t, parse_type(v, part_ptr));
          if (t & kNumber) t |= kInteger;
          types &= t;
          typed = true;
        } else if (k == "properties") {
          if (!v.is_object()) return malformed(k, part_ptr, "an object");
          for (const auto& [name, sub] : v.items()) {
            auto [it, fresh] = prop_index.emplace(name, props.size());
            if (fresh) {
              props.emplace_back(name, sub);
              continue;
            }
            Json& merged_sub = props[it->second].second;
            if (!wrapped.insert(name).second) {
              merged_sub["allOf"].push_back(sub);
            } else {
              merged_sub = Json{{"allOf", Json::array({merged_sub, sub})}};
            }
          }
        } else if (k == "required") {
          if (!v.is_array()) return malformed(k, part_ptr, "an array of strings");
          Json& req = merged["required"];
          if (req.is_null()) req = Json::array();
          for (const auto& name : v) {
            if (!name.is_string()) return malformed(k, part_ptr, "an array of strings");
            if (seen_required.insert(name.get<std::string>()).second) req.push_back(name);
          }
        } else if (k == "additionalProperties") {
          if (!(v.is_boolean() && v.get<bool>())) closed.emplace_back(part, part_ptr);
        } else if (!merged.contains(k)) {
          merged[k] = v;
        } else if (merged[k] != v) {
          bool lower = k == "minLength" || k == "minItems" || k == "minimum" ||
                       k == "exclusiveMinimum" || k == "minProperties";
          bool upper = k == "maxLength" || k == "maxItems" || k == "maximum" ||
                       k == "exclusiveMaximum" || k == "maxProperties";
          if (!(lower || upper) || !v.is_number() || !merged[k].is_number()) return cannot(k);
          bool take = lower ? v.get<double>() > merged[k].get<double>()
                            : v.get<double>() < merged[k].get<double>();
          if (take) merged[k] = v;
        }
      }
    }
    if (!props.empty()) {
      // Keys are unique: append to ordered_json's underlying vector, skipping its linear lookup.
      Json out = Json::object();
      using Entries = std::vector<std::pair<const std::string, Json>>;
      auto& entries = static_cast<Entries&>(out.get_ref<Json::object_t&>());
      for (auto& [n, sub] : props) entries.emplace_back(n, std::move(sub));
      merged["properties"] = std::move(out);
    }
    if (typed) {
      if (types == 0) return accepts_nothing(ptr, "allOf branches allow no common type");
      Json names = Json::array();
      for (const auto& [n, bit] : kTypeNames) {
        if ((types & bit) && !(bit == kInteger && (types & kNumber))) names.push_back(n);
      }
      merged["type"] = names;
    }
    // A branch that closes its object must declare every property the merged object may carry.
    for (const auto& [part, part_ptr] : closed) {
      const Json& ap = (*part)["additionalProperties"];
      if (!ap.is_boolean())
        return unsupported("additionalProperties", child(part_ptr, "additionalProperties"));
      std::set<std::string> own;
      if (part->contains("properties") && (*part)["properties"].is_object()) {
        for (const auto& [n, unused] : (*part)["properties"].items()) own.insert(n);
      }
      std::vector<std::string> names(seen_required.begin(), seen_required.end());
      for (const auto& [n, unused] : props) names.push_back(n);
      for (const auto& n : names) {
        if (!own.count(n)) {
          return make_error(
              "JSON Schema keyword 'allOf' at {} cannot be merged: property '{}' "
              "is excluded by additionalProperties: false at {}",
              show(ptr), n, show(part_ptr));
        }
      }
      merged["additionalProperties"] = false;
    }
    return merged;
  }

  // ---- schemas

  // The GBNF expression for schema `s`; `name` is the rule it will define (children are named
  // after it).
  Result<std::string> expr(const Json& s, const std::string& ptr, const std::string& name,
                           int depth) {
    if (depth > kMaxDepth) {
      return make_error("JSON Schema nested deeper than {} levels at {}", kMaxDepth, show(ptr));
    }
    if (bytes_ > kMaxGrammarBytes) {
      return make_error("JSON Schema too large: its grammar exceeds {} bytes", kMaxGrammarBytes);
    }
    if (s.is_boolean()) {
      if (s.get<bool>()) return use("value");
      return accepts_nothing(ptr, "false schema");
    }
    if (!s.is_object()) {
      return make_error("JSON Schema at {} must be an object or a boolean", show(ptr));
    }
    HEARTH_RETURN_IF_ERROR(check_unsupported(s, ptr));

    bool has_other = false;  // validity keywords besides $ref
    for (const auto& [k, v] : s.items()) has_other |= k != "$ref" && is_validity_keyword(k);
    if (s.contains("allOf") || (s.contains("$ref") && has_other)) {
      std::vector<std::pair<const Json*, std::string>> parts;
      HEARTH_RETURN_IF_ERROR(flatten(s, ptr, depth + 1, parts));
      HEARTH_TRY(Json merged, merge(parts, ptr));
      return expr(merged, ptr, name, depth + 1);
    }
    if (s.contains("$ref")) return ref_rule(s["$ref"], ptr);

    if (s.contains("anyOf") || s.contains("oneOf")) return any_of(s, ptr, name, depth);
    if (s.contains("enum") || s.contains("const")) return enum_expr(s, ptr, name);

    unsigned types = implied_types(s);
    if (s.contains("type")) {
      HEARTH_TRY(types, parse_type(s["type"], ptr));
    }
    if (types & kNumber) types &= ~unsigned{kInteger};
    if (types == kAllTypes - kInteger && implied_types(s) == kAllTypes) return use("value");
    std::vector<std::string> alts;
    if (types & kObject) {
      HEARTH_TRY(std::string e, object_expr(s, ptr, name, depth));
      alts.push_back(std::move(e));
    }
    if (types & kArray) {
      HEARTH_TRY(std::string e, array_expr(s, ptr, name, depth));
      alts.push_back(std::move(e));
    }
    if (types & kString) {
      HEARTH_TRY(std::string e, string_expr(s, ptr));
      alts.push_back(std::move(e));
    }
    if (types & (kNumber | kInteger)) {
      HEARTH_TRY(std::string e, number_expr(s, ptr, (types & kNumber) == 0));
      alts.push_back(std::move(e));
    }
    if (types & kBoolean) alts.push_back(use("boolean"));
    if (types & kNull) alts.push_back(use("null"));
    if (alts.empty()) return accepts_nothing(ptr, "empty type list");
    if (alts.size() == 1) return alts[0];
    std::string out;
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return out;
  }

  // anyOf / oneOf. oneOf is compiled as anyOf: a document matching two branches is accepted
  // though oneOf rejects it. Keywords beside anyOf apply to every branch, so they are merged in.
  Result<std::string> any_of(const Json& s, const std::string& ptr, const std::string& name,
                             int depth) {
    if (s.contains("anyOf") && s.contains("oneOf")) return unsupported("oneOf", ptr);
    const char* key = s.contains("anyOf") ? "anyOf" : "oneOf";
    const Json& branches = s[key];
    if (!branches.is_array() || branches.empty()) return malformed(key, ptr, "a non-empty array");
    Json siblings = Json::object();
    for (const auto& [k, v] : s.items()) {
      if (k != key && is_validity_keyword(k)) siblings[k] = v;
    }
    std::vector<std::string> alts;
    for (size_t i = 0; i < branches.size(); ++i) {
      const Json& b = branches[i];
      std::string bptr = child(child(ptr, key), std::to_string(i));
      if (b.is_boolean() && !b.get<bool>()) continue;  // adds nothing to the union
      std::string hint = fmt::format("{}-{}", name, i);
      if (siblings.empty()) {
        HEARTH_TRY(std::string r, rule(b, bptr, hint, depth + 1));
        alts.push_back(std::move(r));
      } else {
        std::vector<std::pair<const Json*, std::string>> parts;
        HEARTH_RETURN_IF_ERROR(flatten(siblings, ptr, depth + 1, parts));
        HEARTH_RETURN_IF_ERROR(flatten(b, bptr, depth + 1, parts));
        HEARTH_TRY(Json merged, merge(parts, bptr));
        HEARTH_TRY(std::string r, rule(merged, bptr, hint, depth + 1));
        alts.push_back(std::move(r));
      }
    }
    if (alts.empty()) return accepts_nothing(ptr, fmt::format("every {} branch is false", key));
    std::string out;
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return out;
  }

  // ---- enum / const

  // Whether value `v` passes the keywords allowed beside enum/const.
  Result<bool> value_allowed(const Json& v, const Json& s, unsigned types, const std::string& ptr) {
    unsigned kind = v.is_null()      ? kNull
                    : v.is_boolean() ? kBoolean
                    : v.is_object()  ? kObject
                    : v.is_array()   ? kArray
                    : v.is_string()  ? kString
                                     : kNumber;
    if (kind == kNumber) {
      bool integral = v.is_number_integer() || std::floor(v.get<double>()) == v.get<double>();
      if (!(types & kNumber) && !((types & kInteger) && integral)) return false;
      double x = v.get<double>();
      HEARTH_TRY(auto lo, get_bound(s, true, ptr));
      HEARTH_TRY(auto hi, get_bound(s, false, ptr));
      if (lo && (x < lo->value || (lo->exclusive && x == lo->value))) return false;
      if (hi && (x > hi->value || (hi->exclusive && x == hi->value))) return false;
      return true;
    }
    if (!(types & kind)) return false;
    if (kind == kString) {
      std::vector<uint32_t> cps;
      if (!decode_utf8(v.get_ref<const std::string&>(), cps)) return false;
      HEARTH_TRY(auto min_len, get_count(s, "minLength", ptr));
      HEARTH_TRY(auto max_len, get_count(s, "maxLength", ptr));
      if (min_len && cps.size() < *min_len) return false;
      if (max_len && cps.size() > *max_len) return false;
    }
    return true;
  }

  Result<std::string> enum_expr(const Json& s, const std::string& ptr, const std::string& name) {
    static const std::set<std::string, std::less<>> allowed = {"enum",
                                                               "const",
                                                               "type",
                                                               "minLength",
                                                               "maxLength",
                                                               "minimum",
                                                               "maximum",
                                                               "exclusiveMinimum",
                                                               "exclusiveMaximum"};
    for (const auto& [k, v] : s.items()) {
      if (is_validity_keyword(k) && !allowed.count(k)) {
        return make_error("JSON Schema keyword '{}' beside enum/const at {} is not supported", k,
                          show(ptr));
      }
    }
    unsigned types = kAllTypes;
    if (s.contains("type")) {
      HEARTH_TRY(types, parse_type(s["type"], ptr));
    }
    std::vector<const Json*> values;
    if (s.contains("enum")) {
      if (!s["enum"].is_array()) return malformed("enum", ptr, "an array");
      for (const auto& v : s["enum"]) values.push_back(&v);
    }
    if (s.contains("const")) {
      const Json& c = s["const"];
      if (s.contains("enum")) {
        bool listed =
            std::any_of(values.begin(), values.end(), [&](const Json* v) { return *v == c; });
        values.clear();
        if (listed) values.push_back(&c);
      } else {
        values.push_back(&c);
      }
    }
    std::vector<std::vector<uint32_t>> spellings;
    size_t total = 0;
    for (const Json* v : values) {
      HEARTH_TRY(bool ok, value_allowed(*v, s, types, ptr));
      if (!ok) continue;
      std::string text = v->dump();
      total += text.size();
      if (total > kMaxGrammarBytes) {
        return make_error("JSON Schema too large: enum at {} exceeds {} bytes", show(ptr),
                          kMaxGrammarBytes);
      }
      std::vector<uint32_t> cps;
      if (!decode_utf8(text, cps)) return malformed("enum", ptr, "valid UTF-8");
      spellings.push_back(std::move(cps));
    }
    if (spellings.empty())
      return accepts_nothing(ptr, "no enum/const value passes the other keywords");
    std::sort(spellings.begin(), spellings.end());
    spellings.erase(std::unique(spellings.begin(), spellings.end()), spellings.end());
    return trie(spellings, 0, spellings.size(), 0, 0, name, ptr);
  }

  // Alternatives for spellings[lo, hi), which share their first `pos` code points, written as a
  // prefix-factored trie so no byte position branches more ways than the values differ there.
  Result<std::string> trie(const std::vector<std::vector<uint32_t>>& v, size_t lo, size_t hi,
                           size_t pos, int nesting, const std::string& name,
                           const std::string& ptr) {
    if (nesting >= kMaxInlineNesting) {
      HEARTH_TRY(std::string body, trie(v, lo, hi, pos, 0, name, ptr));
      return add_rule(name + "-t", std::move(body), ptr);
    }
    bool can_end = v[lo].size() == pos;  // sorted: the exact prefix comes first
    if (can_end) ++lo;
    std::vector<std::string> alts;
    for (size_t i = lo; i < hi;) {
      size_t j = i + 1;
      while (j < hi && v[j][pos] == v[i][pos]) ++j;
      // Longest common prefix of the group: first and last agree wherever all do.
      size_t end = pos + 1;
      while (end < v[i].size() && end < v[j - 1].size() && v[i][end] == v[j - 1][end]) ++end;
      std::string rest;
      if (!(j - i == 1 && end == v[i].size())) {
        HEARTH_TRY(rest, trie(v, i, j, end, nesting + 1, name, ptr));
      }
      alts.push_back(seq({gbnf_literal(v[i], pos, end), rest}));
      i = j;
    }
    if (alts.empty()) return std::string();
    if (!can_end) {
      if (nesting == 0 && alts.size() > 1) {  // a whole rule body needs no parentheses
        std::string out;
        for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
        return out;
      }
      return group(alts);
    }
    std::string g = group(alts);
    return alts.size() == 1 ? "( " + g + " )?" : g + "?";
  }

  // ---- strings

  Result<std::string> string_expr(const Json& s, const std::string& ptr) {
    HEARTH_TRY(auto min_len, get_count(s, "minLength", ptr));
    HEARTH_TRY(auto max_len, get_count(s, "maxLength", ptr));
    bool lengths = min_len.has_value() || max_len.has_value();
    if (s.contains("format")) {
      if (!s["format"].is_string()) return malformed("format", ptr, "a string");
      const std::string& f = s["format"].get_ref<const std::string&>();
      if (std::find(std::begin(kFormats), std::end(kFormats), f) == std::end(kFormats)) {
        return make_error("JSON Schema format '{}' at {} is not supported", f, show(ptr));
      }
      if (s.contains("pattern")) return unsupported("pattern", ptr);  // beside format
      if (lengths) return unsupported(min_len ? "minLength" : "maxLength", ptr);
      return seq({R"("\"")", use(f.c_str()), R"("\"")"});
    }
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) return malformed("pattern", ptr, "a string");
      if (lengths) return unsupported(min_len ? "minLength" : "maxLength", ptr);  // beside pattern
      auto content =
          regex_to_gbnf(s["pattern"].get<std::string>(), RegexTarget::kJsonStringContent);
      if (!content.ok()) {
        return make_error("JSON Schema keyword 'pattern' at {}: {}", show(ptr),
                          content.error().message);
      }
      return seq({R"("\"")", content.value(), R"("\"")"});
    }
    if (!lengths) return use("string");
    uint64_t lo = min_len.value_or(0);
    std::optional<uint64_t> hi = max_len;
    if (hi && *hi < lo) return accepts_nothing(ptr, "maxLength < minLength");
    if (lo > kMaxRepeat) {
      return make_error("JSON Schema keyword 'minLength' at {} exceeds the limit of {}", show(ptr),
                        kMaxRepeat);
    }
    if (hi && *hi > kMaxRepeat) hi = kMaxRepeat;  // a subset: strings longer than this are rare
    return seq({R"("\"")", repeat(use("char"), lo, hi), R"("\"")"});
  }

  // ---- numbers

// GCC 12 at -O2 reports std::optional<Bound> members as maybe-uninitialized here (a known false
// positive with optionals that are reset and re-read); every read is behind has_value().
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
  Result<std::string> number_expr(const Json& s, const std::string& ptr, bool integer) {
    HEARTH_TRY(auto lo, get_bound(s, true, ptr));
    HEARTH_TRY(auto hi, get_bound(s, false, ptr));
    if (!lo && !hi) return use(integer ? "integer" : "number");
    const double cap = double(kMaxMagnitude);
    if (integer) {
      // Integers in [a, b] exactly; outside +-kMaxMagnitude counts as unbounded.
      double a = -cap, b = cap;
      if (lo) a = std::max(a, lo->exclusive ? std::floor(lo->value) + 1 : std::ceil(lo->value));
      if (hi) b = std::min(b, hi->exclusive ? std::ceil(hi->value) - 1 : std::floor(hi->value));
      if (!(a <= b))
        return accepts_nothing(ptr, "no integer of at most 15 digits within the bounds");
      auto ia = int64_t(a), ib = int64_t(b);
      std::vector<std::string> alts;
      if (ia < 0) alts.push_back(seq({R"("-")", uint_range(std::max<int64_t>(1, -ib), -ia)}));
      if (ib >= 0) alts.push_back(uint_range(std::max<int64_t>(0, ia), ib));
      return group(alts);
    }
    for (bool lower : {true, false}) {
      const std::optional<Bound>& b = lower ? lo : hi;
      if (b && (!std::isfinite(b->value) || std::floor(b->value) != b->value)) {
        const char* key = lower ? (b->exclusive ? "exclusiveMinimum" : "minimum")
                                : (b->exclusive ? "exclusiveMaximum" : "maximum");
        return make_error(
            "JSON Schema keyword '{}' at {}: non-integer bounds are not supported "
            "for numbers",
            key, show(ptr));
      }
    }
    // Bounds beyond the digit cap loosen to "none" or leave nothing.
    if (lo && lo->value > cap) return accepts_nothing(ptr, "minimum beyond 10^15");
    if (hi && hi->value < -cap) return accepts_nothing(ptr, "maximum beyond -10^15");
    if (lo && lo->value < -cap) lo.reset();
    if (hi && hi->value > cap) hi.reset();
    std::vector<std::string> alts;
    // Value >= 0: magnitude from max(lo, 0) up to hi (number_side drops an empty range).
    if (!hi || hi->value >= 0) {
      Bound low = lo && lo->value >= 0 ? *lo : Bound{0, false};
      number_side("", low, hi, alts);
    }
    // Value < 0: magnitude from max(-hi, 0) up to -lo.
    if (!lo || lo->value < 0) {
      Bound low = hi && hi->value <= 0 ? Bound{-hi->value, hi->exclusive} : Bound{0, false};
      std::optional<Bound> high;
      if (lo) high = Bound{-lo->value, lo->exclusive};
      number_side(R"("-")", low, high, alts);
    }
    if (alts.empty())
      return accepts_nothing(ptr, "no number of at most 15 integer digits within the bounds");
    return group(alts);
  }
#pragma GCC diagnostic pop

  // Decimals whose magnitude m = I.f lies between `low` and `high` (absent: the digit cap).
  static void number_side(const char* sign, Bound low, std::optional<Bound> high,
                          std::vector<std::string>& alts) {
    static const char* kAnyFraction = R"(( "." [0-9]{1,15} )?)";
    static const char* kZeroFraction = R"(( "." "0"{1,15} )?)";
    static const char* kNonzeroFraction = R"("." [0-9]{0,14} [1-9])";
    auto a = int64_t(low.value);
    int64_t b = high ? int64_t(high->value) : kMaxMagnitude;
    bool b_closed = high && !high->exclusive;
    if (a > b || (a == b && (low.exclusive || !b_closed))) return;
    if (a == b) {
      alts.push_back(seq({sign, uint_range(a, a), kZeroFraction}));
      return;
    }
    int64_t first = a;
    if (low.exclusive) {
      alts.push_back(seq({sign, uint_range(a, a), kNonzeroFraction}));
      ++first;
    }
    int64_t last = high ? b - 1 : b;
    if (first <= last) alts.push_back(seq({sign, uint_range(first, last), kAnyFraction}));
    if (b_closed) alts.push_back(seq({sign, uint_range(b, b), kZeroFraction}));
  }

  // ---- objects

  Result<std::string> object_expr(const Json& s, const std::string& ptr, const std::string& name,
                                  int depth) {
    static const Json kTrue = true;
    struct Prop {
      std::string key;
      const Json* schema;
      std::string ptr;
      bool required = false;
    };
    std::vector<Prop> props;
    std::map<std::string, size_t, std::less<>> index;  // key -> props[i]
    if (s.contains("properties")) {
      const Json& p = s["properties"];
      if (!p.is_object()) return malformed("properties", ptr, "an object");
      for (const auto& [k, v] : p.items()) {
        index[k] = props.size();
        props.push_back({k, &v, child(child(ptr, "properties"), k), false});
      }
    }
    const Json* additional =
        s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    if (additional && !additional->is_boolean() && !additional->is_object()) {
      return malformed("additionalProperties", ptr, "a boolean or a schema");
    }
    bool closed = additional && additional->is_boolean() && !additional->get<bool>();
    if (s.contains("required")) {
      const Json& req = s["required"];
      if (!req.is_array()) return malformed("required", ptr, "an array of strings");
      for (const auto& r : req) {
        if (!r.is_string()) return malformed("required", ptr, "an array of strings");
        const std::string& key = r.get_ref<const std::string&>();
        auto it = index.find(key);
        if (it != index.end()) {
          props[it->second].required = true;
          continue;
        }
        if (closed) {
          return accepts_nothing(ptr, fmt::format("required property '{}' is excluded by "
                                                  "additionalProperties: false",
                                                  key));
        }
        index[key] = props.size();
        props.push_back({key, additional ? additional : &kTrue,
                         additional ? child(ptr, "additionalProperties") : child(ptr, "required"),
                         true});
      }
    }
    // Extra properties: allowed when additionalProperties allows them, or when nothing is
    // declared at all ({"type": "object"} means any object).
    bool extras = additional ? !closed : props.empty();
    size_t n_required =
        std::count_if(props.begin(), props.end(), [](const Prop& p) { return p.required; });
    HEARTH_TRY(auto min_props, get_count(s, "minProperties", ptr));
    HEARTH_TRY(auto max_props, get_count(s, "maxProperties", ptr));
    if (min_props && *min_props > n_required) return unsupported("minProperties", ptr);
    if (max_props && (extras || *max_props < props.size()))
      return unsupported("maxProperties", ptr);

    if (props.empty() && extras && (!additional || additional->is_boolean())) return use("object");

    std::string extra_kv;
    if (extras) {
      std::string value = use("value");
      if (additional && additional->is_object()) {
        HEARTH_TRY(value, rule(*additional, child(ptr, "additionalProperties"),
                               name + "-additional", depth + 1));
      }
      std::string key = use("string");
      if (!props.empty()) {
        std::vector<std::vector<uint32_t>> names;
        for (const Prop& p : props) {
          std::vector<uint32_t> cps;
          if (!decode_utf8(p.key, cps)) return malformed("properties", ptr, "keyed by valid UTF-8");
          if (cps.size() > kMaxExcludedKeyChars) {
            return make_error(
                "JSON Schema at {}: property names longer than {} characters beside "
                "additionalProperties are not supported",
                show(ptr), kMaxExcludedKeyChars);
          }
          names.push_back(std::move(cps));
        }
        std::sort(names.begin(), names.end());
        names.erase(std::unique(names.begin(), names.end()), names.end());
        HEARTH_TRY(std::string content,
                   other_key(names, 0, names.size(), 0, 0, name + "-key", ptr));
        HEARTH_TRY(key, add_rule(name + "-key", seq({R"("\"")", content, R"("\"")"}), ptr));
      }
      HEARTH_TRY(extra_kv,
                 add_rule(name + "-extra-kv", seq({key, ws(), R"(":")", ws(), value}), ptr));
    }

    // A property whose schema is false must be absent (its name stays excluded from extra keys).
    for (const Prop& p : props) {
      if (p.required && p.schema->is_boolean() && !p.schema->get<bool>()) {
        return accepts_nothing(p.ptr,
                               fmt::format("required property '{}' has schema false", p.key));
      }
    }
    props.erase(std::remove_if(
                    props.begin(), props.end(),
                    [](const Prop& p) { return p.schema->is_boolean() && !p.schema->get<bool>(); }),
                props.end());
    std::vector<std::string> kvs;
    for (const Prop& p : props) {
      std::string hint = name == root_name_ ? p.key : name + "-" + p.key;
      HEARTH_TRY(std::string value, rule(*p.schema, p.ptr, hint, depth + 1));
      std::vector<uint32_t> key;
      if (!decode_utf8(Json(p.key).dump(), key))
        return malformed("properties", ptr, "keyed by valid UTF-8");
      HEARTH_TRY(
          std::string kv,
          add_rule(hint + "-kv",
                   seq({gbnf_literal(key, 0, key.size()), ws(), R"(":")", ws(), value}), p.ptr));
      kvs.push_back(std::move(kv));
    }

    // Declared properties in order; optional ones may be skipped. The body's first property is
    // one of those up to the first required one; after it, each later property is preceded by a
    // comma. tail(j) spells properties j.. once one has been written.
    const size_t n = props.size();
    size_t first_required = n;
    for (size_t i = 0; i < n; ++i) {
      if (props[i].required) {
        first_required = i;
        break;
      }
    }
    std::string extras_tail = extras ? "( " + seq({comma(), extra_kv}) + " )*" : "";
    auto piece = [&](size_t j) {
      std::string p = seq({comma(), kvs[j]});
      return props[j].required ? p : "( " + p + " )?";
    };
    size_t last_first = first_required < n ? first_required : (n ? n - 1 : 0);
    std::vector<std::string> tails(n + 1);
    tails[n] = extras_tail;
    if (last_first == 0) {
      // Only tails[1] is used: written front to back (prepending would copy it n times).
      std::string tail;
      for (size_t j = 1; j < n; ++j) {
        if (!tail.empty()) tail += ' ';
        tail += piece(j);
        if (tail.size() > kMaxGrammarBytes) {
          return make_error("JSON Schema too large: its grammar exceeds {} bytes",
                            kMaxGrammarBytes);
        }
      }
      if (n) tails[1] = seq({tail, extras_tail});
    } else {
      // Several first choices share their tails: one rule per tail, chained.
      for (size_t j = n; j-- > 1;) {
        HEARTH_TRY(tails[j], add_rule(fmt::format("{}-tail-{}", name, j),
                                      seq({piece(j), tails[j + 1]}), ptr));
      }
    }
    std::vector<std::string> firsts;
    for (size_t k = 0; k < n && k <= last_first; ++k) firsts.push_back(seq({kvs[k], tails[k + 1]}));
    if (first_required == n && extras) firsts.push_back(seq({extra_kv, extras_tail}));
    if (firsts.empty()) return seq({R"("{")", ws(), R"("}")"});
    std::string body = group(firsts);
    if (first_required < n) return seq({R"("{")", ws(), body, ws(), R"("}")"});
    return seq({R"("{")", ws(), "(", body, ws(), ")?", R"("}")"});
  }

  // Key content (no escapes) that is none of names[lo, hi), all of which share their first `pos`
  // code points with the text matched so far.
  Result<std::string> other_key(const std::vector<std::vector<uint32_t>>& v, size_t lo, size_t hi,
                                size_t pos, int nesting, const std::string& name,
                                const std::string& ptr) {
    if (nesting >= kMaxInlineNesting) {
      HEARTH_TRY(std::string body, other_key(v, lo, hi, pos, 0, name, ptr));
      return add_rule(name + "-k", std::move(body), ptr);
    }
    bool is_name = lo < hi && v[lo].size() == pos;  // ending here would spell a declared name
    if (is_name) ++lo;
    auto key_char = [](uint32_t c) { return c >= 0x20 && c != '"' && c != '\\'; };
    std::string free_class = R"([^"\\\x00-\x1F)";
    std::vector<std::string> alts;
    for (size_t i = lo; i < hi;) {
      size_t j = i + 1;
      while (j < hi && v[j][pos] == v[i][pos]) ++j;
      uint32_t c = v[i][pos];
      if (key_char(c)) {
        append_gbnf_char(free_class, c, true);
        HEARTH_TRY(std::string rest, other_key(v, i, j, pos + 1, nesting + 1, name, ptr));
        alts.push_back(seq({gbnf_literal(v[i], pos, pos + 1), rest}));
      }
      i = j;
    }
    alts.insert(alts.begin(), seq({free_class + "]", use("key-char") + "*"}));
    std::string g = group(alts);
    if (is_name) return g;
    return alts.size() == 1 ? "( " + g + " )?" : g + "?";
  }

  // ---- arrays

  Result<std::string> array_expr(const Json& s, const std::string& ptr, const std::string& name,
                                 int depth) {
    static const Json kTrue = true;
    std::vector<std::pair<const Json*, std::string>> prefix;
    const Json* rest = &kTrue;
    std::string rest_ptr = ptr;
    auto take_prefix = [&](const char* key) -> Status {
      const Json& p = s[key];
      if (!p.is_array()) return malformed(key, ptr, "an array of schemas");
      for (size_t i = 0; i < p.size(); ++i)
        prefix.emplace_back(&p[i], child(child(ptr, key), std::to_string(i)));
      return Status::Ok();
    };
    if (s.contains("prefixItems")) {
      HEARTH_RETURN_IF_ERROR(take_prefix("prefixItems"));
      if (s.contains("items")) rest = &s["items"], rest_ptr = child(ptr, "items");
    } else if (s.contains("items") && s["items"].is_array()) {  // draft 7 tuples
      HEARTH_RETURN_IF_ERROR(take_prefix("items"));
      if (s.contains("additionalItems"))
        rest = &s["additionalItems"], rest_ptr = child(ptr, "additionalItems");
    } else if (s.contains("items")) {
      rest = &s["items"], rest_ptr = child(ptr, "items");
    }
    if (!rest->is_boolean() && !rest->is_object()) return malformed("items", ptr, "a schema");
    HEARTH_TRY(auto min_items, get_count(s, "minItems", ptr));
    HEARTH_TRY(auto max_items, get_count(s, "maxItems", ptr));
    uint64_t lo = min_items.value_or(0);
    std::optional<uint64_t> hi = max_items;
    const size_t k = prefix.size();
    bool rest_closed = rest->is_boolean() && !rest->get<bool>();
    if (rest_closed && (!hi || *hi > k)) hi = k;
    for (size_t i = 0; i < k; ++i) {  // a false prefix item ends the array before it
      const Json& item = *prefix[i].first;
      if (item.is_boolean() && !item.get<bool>() && (!hi || *hi > i)) hi = i;
    }
    if (hi && *hi < lo)
      return accepts_nothing(ptr, "no array length satisfies minItems/maxItems/items");
    if (lo > kMaxRepeat) {
      return make_error("JSON Schema keyword 'minItems' at {} exceeds the limit of {}", show(ptr),
                        kMaxRepeat);
    }
    if (hi && *hi > kMaxRepeat) hi = kMaxRepeat;  // a subset
    if (hi && *hi == 0) return seq({R"("[")", ws(), R"("]")"});
    if (k == 0 && lo == 0 && !hi && rest->is_boolean()) return use("array");

    std::vector<std::string> elems;
    for (size_t i = 0; i < k && (!hi || i < *hi); ++i) {
      HEARTH_TRY(std::string r, rule(*prefix[i].first, prefix[i].second,
                                     fmt::format("{}-item-{}", name, i), depth + 1));
      elems.push_back(std::move(r));
    }
    std::string rest_rule;
    if (!hi || *hi > k) {
      HEARTH_TRY(rest_rule, rule(*rest, rest_ptr, name + "-item", depth + 1));
    }
    // list(i): the elements from position i on, positions before i present; element 0 is
    // mandatory here (an empty array is handled outside).
    std::string list;
    uint64_t need = std::max<uint64_t>(lo, 1);
    if (!hi || *hi > k) {
      uint64_t from = k;
      uint64_t min_count = need > from ? need - from : 0;
      std::optional<uint64_t> max_count;
      if (hi) max_count = *hi - from;
      if (from == 0) {
        std::optional<uint64_t> more;
        if (max_count) more = *max_count - 1;
        list =
            seq({rest_rule, repeat("( " + seq({comma(), rest_rule}) + " )", min_count - 1, more)});
      } else {
        list = repeat("( " + seq({comma(), rest_rule}) + " )", min_count, max_count);
      }
    }
    for (size_t i = elems.size(); i-- > 0;) {
      std::string p = seq({i ? comma() : "", elems[i], list});
      list = (i == 0 || i < need) ? p : "( " + p + " )?";
    }
    if (lo > 0) return seq({R"("[")", ws(), list, ws(), R"("]")"});
    return seq({R"("[")", ws(), "(", list, ws(), ")?", R"("]")"});
  }

  const Json& root_;
  bool compact_;
  std::string root_name_;
  std::vector<Rule> rules_;
  std::set<std::string, std::less<>> taken_;
  std::set<std::string, std::less<>> used_;
  std::map<std::string, std::string> ref_rules_;  // JSON pointer -> rule name
  std::map<std::string, Target> resolved_;        // $ref text -> its target
  std::deque<Pending> pending_;
  size_t bytes_ = 0;
  size_t flatten_calls_ = 0;
};

}  // namespace

Result<std::string> json_schema_to_gbnf(const nlohmann::ordered_json& schema,
                                        const JsonSchemaOptions& options) {
  try {
    return Compiler(schema, options).compile();
  } catch (const std::exception& e) {  // nlohmann type/parse errors on hostile input
    return make_error("JSON Schema could not be compiled: {}", e.what());
  }
}

std::string json_object_gbnf(const JsonSchemaOptions& options) {
  static const Json kEmpty = Json::object();
  return Compiler(kEmpty, options).any_object();
}

}  // namespace hearth::grammar
