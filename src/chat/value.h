// Runtime values of the chat-template engine. The semantics follow @huggingface/jinja (the
// reference every test compares against), which differs from Python Jinja2 in visible ways:
// booleans print as "true"/"false", floats print JavaScript-style ("1.0" for integral values,
// shortest round-trip otherwise), `==` is JavaScript's loose equality on scalars and identity on
// containers, and tojson is JSON.stringify with Python-like separators.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::chat {

// Thrown inside the engine; the public API (template.h) turns it into an Error with the
// template's line and column. `offset` is a byte offset into the template source (npos: none).
struct TemplateError : std::runtime_error {
  TemplateError(const std::string& message, size_t offset_in_source)
      : std::runtime_error(message), offset(offset_in_source) {}
  size_t offset;
};
inline constexpr size_t kNoOffset = static_cast<size_t>(-1);

enum class Kind : uint8_t {
  kUndefined, kNull, kBool, kInt, kFloat, kString,
  kArray, kTuple, kObject, kKwargs, kNamespace, kFunction,
};

struct Value;
class Interpreter;
struct Env;
using Array = std::vector<Value>;

// Insertion-ordered string-keyed map (templates see keys in the order the request gave them).
struct Object {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value value);
  bool erase(const std::string& key);
};

// A callable: global functions, string/dict methods, macros and `caller`.
using NativeFn = std::function<Value(Interpreter&, std::vector<Value>& args, const std::shared_ptr<Env>& env)>;

struct Value {
  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<Array> arr;    // kArray, kTuple
  std::shared_ptr<Object> obj;   // kObject, kKwargs, kNamespace
  std::shared_ptr<NativeFn> fn;  // kFunction

  static Value undefined() { return Value{}; }
  static Value null();
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value number(double v);  // kFloat
  static Value string(std::string v);
  static Value array(Array items = {}, Kind kind = Kind::kArray);
  static Value object(Object o = {}, Kind kind = Kind::kObject);
  static Value function(NativeFn f);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_null() const { return kind == Kind::kNull; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_numeric() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  bool is_array() const { return kind == Kind::kArray || kind == Kind::kTuple; }
  bool is_object() const { return kind == Kind::kObject || kind == Kind::kKwargs; }
  bool is_attr_container() const { return is_object() || kind == Kind::kNamespace; }
  double as_double() const { return kind == Kind::kInt ? static_cast<double>(i) : kind == Kind::kBool ? (b ? 1 : 0) : f; }

  bool truthy() const;
};

const char* kind_name(Kind kind);  // the reference's type names ("StringValue", ...)

// JavaScript's Number.prototype.toString for a double.
std::string js_number_to_string(double v);

// How `{{ value }}` prints a value (the reference's RuntimeValue.toString).
std::string to_display(const Value& v);

// `a ~ b` and `a + b` on strings stringify the underlying JavaScript value (so 1.0 gives "1").
std::string to_js_string(const Value& v);

struct JsonOptions {
  int indent = -1;  // < 0: none
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_separators = false;
  std::string item_separator, key_separator;
};
// JSON.stringify with the reference's separators; undefined prints as null (or "undefined" when
// !undefined_to_null, as containers do when printed directly).
std::string to_json(const Value& v, const JsonOptions& options, bool undefined_to_null = true, int depth = 0);

// JS loose equality (`==`) as the reference applies it to runtime values.
bool loose_equals(const Value& a, const Value& b);
// JS strict equality (`===`) of the underlying values (`in` on arrays, unique, equalto).
bool strict_equals(const Value& a, const Value& b);

// Request JSON -> runtime values. Integral numbers become integers, as JSON.parse + the
// reference's conversion do (1.0 in JSON is the integer 1 in JavaScript).
Value from_json(const nlohmann::ordered_json& j);

// UTF-8 helpers the engine needs to behave like JavaScript strings.
size_t utf16_length(const std::string& s);
std::vector<std::string> code_points(const std::string& s);
bool is_js_space_at(const std::string& s, size_t pos, size_t* len);
std::string js_trim(const std::string& s, bool start, bool end);

}  // namespace hearth::chat
