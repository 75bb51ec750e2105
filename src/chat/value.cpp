// Runtime values: construction, printing, JSON, equality, conversion from request JSON.
#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace hearth::chat {

const Value* Object::find(const std::string& key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value* Object::find(const std::string& key) {
  for (auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Object::set(const std::string& key, Value value) {
  if (Value* existing = find(key)) {
    *existing = std::move(value);
  } else {
    entries.emplace_back(key, std::move(value));
  }
}

bool Object::erase(const std::string& key) {
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (it->first == key) {
      entries.erase(it);
      return true;
    }
  }
  return false;
}

Value Value::null() {
  Value v;
  v.kind = Kind::kNull;
  return v;
}
Value Value::boolean(bool x) {
  Value v;
  v.kind = Kind::kBool;
  v.b = x;
  return v;
}
Value Value::integer(int64_t x) {
  Value v;
  v.kind = Kind::kInt;
  v.i = x;
  return v;
}
Value Value::number(double x) {
  Value v;
  v.kind = Kind::kFloat;
  v.f = x;
  return v;
}
Value Value::string(std::string x) {
  Value v;
  v.kind = Kind::kString;
  v.s = std::move(x);
  return v;
}
Value Value::array(Array items, Kind kind) {
  Value v;
  v.kind = kind;
  v.arr = std::make_shared<Array>(std::move(items));
  return v;
}
Value Value::object(Object o, Kind kind) {
  Value v;
  v.kind = kind;
  v.obj = std::make_shared<Object>(std::move(o));
  return v;
}
Value Value::function(NativeFn f) {
  Value v;
  v.kind = Kind::kFunction;
  v.fn = std::make_shared<NativeFn>(std::move(f));
  return v;
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNull: return false;
    case Kind::kBool: return b;
    case Kind::kInt: return i != 0;
    case Kind::kFloat: return f != 0 && !std::isnan(f);
    case Kind::kString: return !s.empty();
    case Kind::kArray:
    case Kind::kTuple: return !arr->empty();
    case Kind::kObject:
    case Kind::kKwargs: return !obj->entries.empty();
    case Kind::kNamespace:
    case Kind::kFunction: return true;
  }
  return false;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kUndefined: return "UndefinedValue";
    case Kind::kNull: return "NullValue";
    case Kind::kBool: return "BooleanValue";
    case Kind::kInt: return "IntegerValue";
    case Kind::kFloat: return "FloatValue";
    case Kind::kString: return "StringValue";
    case Kind::kArray: return "ArrayValue";
    case Kind::kTuple: return "TupleValue";
    case Kind::kObject: return "ObjectValue";
    case Kind::kKwargs: return "KeywordArgumentsValue";
    case Kind::kNamespace: return "NamespaceValue";
    case Kind::kFunction: return "FunctionValue";
  }
  return "?";
}

// ECMAScript Number::toString: shortest round-trip digits, fixed notation for exponents in
// [-7, 21), exponential ("1e+21", "1.5e-7") outside.
std::string js_number_to_string(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return "0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e_at = sci.find('e');
  std::string digits = sci.substr(0, e_at);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(e_at + 1));
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // position of the decimal point
  std::string out;
  if (k <= n && n <= 21) {
    out = digits + std::string(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out = digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out = "0." + std::string(static_cast<size_t>(-n), '0') + digits;
  } else {
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return sign + out;
}

std::string to_display(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return "undefined";
    case Kind::kNull: return "null";
    case Kind::kBool: return v.b ? "true" : "false";
    case Kind::kInt: return std::to_string(v.i);
    case Kind::kFloat:
      if (v.f == 0 && std::signbit(v.f)) return "-0.0";
      if (std::isfinite(v.f) && std::fmod(v.f, 1.0) == 0 && std::fabs(v.f) < 1e21) {
        return js_number_to_string(v.f) + ".0";
      }
      return js_number_to_string(v.f);
    case Kind::kString: return v.s;
    case Kind::kArray:
    case Kind::kTuple:
    case Kind::kObject:
    case Kind::kKwargs:
    case Kind::kNamespace: return to_json(v, JsonOptions{}, false);
    case Kind::kFunction: return "[function]";
  }
  return "";
}

std::string to_js_string(const Value& v) {
  switch (v.kind) {
    case Kind::kFloat: return js_number_to_string(v.f);
    case Kind::kArray:
    case Kind::kTuple: {
      // Array.prototype.toString joins the elements' own toString (RuntimeValue.toString, so
      // objects print as JSON), null and undefined as empty.
      std::string out;
      for (size_t k = 0; k < v.arr->size(); ++k) {
        if (k) out += ',';
        const Value& item = (*v.arr)[k];
        if (!item.is_null() && !item.is_undefined()) out += to_display(item);
      }
      return out;
    }
    case Kind::kObject:
    case Kind::kKwargs:
    case Kind::kNamespace: return "[object Map]";
    default: return to_display(v);
  }
}

namespace {

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t k = 0; k < s.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    char buf[16];
    if (c < 0x20) {
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c < 0x7F || !ensure_ascii) {
      out += static_cast<char>(c);
    } else if (c == 0x7F) {
      out += "\\u007f";
    } else {
      // Decode one UTF-8 sequence; astral characters become a UTF-16 surrogate pair.
      uint32_t cp = 0;
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0F : 0x1F);
      for (size_t m = 1; m < len && k + m < s.size(); ++m) cp = (cp << 6) | (s[k + m] & 0x3F);
      k += len - 1;
      if (cp >= 0x10000) {
        cp -= 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      }
      out += buf;
    }
  }
  out += '"';
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options, bool undefined_to_null, int depth) {
  if (depth > 256) throw TemplateError("tojson: value nested too deeply", kNoOffset);
  std::string item_sep = ", ", key_sep = ": ";
  if (options.has_separators) {
    item_sep = options.item_separator;
    key_sep = options.key_separator;
  } else if (options.indent > 0) {
    item_sep = ",";
  }
  switch (v.kind) {
    case Kind::kNull: return "null";
    case Kind::kUndefined: return undefined_to_null ? "null" : "undefined";
    case Kind::kBool: return v.b ? "true" : "false";
    case Kind::kInt: return std::to_string(v.i);
    case Kind::kFloat: return std::isfinite(v.f) ? js_number_to_string(v.f) : "null";
    case Kind::kString: {
      std::string out;
      append_json_string(out, v.s, options.ensure_ascii);
      return out;
    }
    case Kind::kArray:
    case Kind::kObject:
    case Kind::kNamespace: {
      const bool indent = options.indent > 0;
      const std::string unit = indent ? std::string(static_cast<size_t>(options.indent), ' ') : "";
      std::string base = "\n";
      for (int d = 0; d < depth; ++d) base += unit;
      const std::string child = base + unit;
      std::string out;
      if (v.kind == Kind::kArray) {
        out += '[';
        for (size_t k = 0; k < v.arr->size(); ++k) {
          if (k) out += item_sep;
          if (indent) out += child;
          out += to_json((*v.arr)[k], options, undefined_to_null, depth + 1);
        }
        if (indent && !v.arr->empty()) out += base;
        out += ']';
        return out;
      }
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& e : v.obj->entries) entries.push_back(&e);
      if (options.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
      }
      out += '{';
      for (size_t k = 0; k < entries.size(); ++k) {
        if (k) out += item_sep;
        if (indent) out += child;
        append_json_string(out, entries[k]->first, options.ensure_ascii);
        out += key_sep;
        out += to_json(entries[k]->second, options, undefined_to_null, depth + 1);
      }
      if (indent && !entries.empty()) out += base;
      out += '}';
      return out;
    }
    default: throw TemplateError(std::string("Cannot convert to JSON: ") + kind_name(v.kind), kNoOffset);
  }
}

namespace {
bool is_scalar(const Value& v) {
  return v.kind == Kind::kBool || v.kind == Kind::kInt || v.kind == Kind::kFloat || v.kind == Kind::kString;
}
bool is_nullish(const Value& v) { return v.kind == Kind::kNull || v.kind == Kind::kUndefined; }
bool same_container(const Value& a, const Value& b) {
  if (a.arr || b.arr) return a.arr == b.arr;
  if (a.obj || b.obj) return a.obj == b.obj;
  if (a.fn || b.fn) return a.fn == b.fn;
  return false;
}
double js_to_number(const std::string& s) {
  const std::string t = js_trim(s, true, true);
  if (t.empty()) return 0;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() ? d : std::nan("");
}
}  // namespace

bool strict_equals(const Value& a, const Value& b) {
  if (is_nullish(a) || is_nullish(b)) return a.kind == b.kind;
  if (a.is_numeric() && b.is_numeric()) return a.as_double() == b.as_double();
  if (a.kind == Kind::kString && b.kind == Kind::kString) return a.s == b.s;
  if (a.kind == Kind::kBool && b.kind == Kind::kBool) return a.b == b.b;
  if (is_scalar(a) || is_scalar(b)) return false;
  return same_container(a, b);
}

bool loose_equals(const Value& a, const Value& b) {
  if (is_nullish(a) || is_nullish(b)) return is_nullish(a) && is_nullish(b);
  if (a.kind == Kind::kString && b.kind == Kind::kString) return a.s == b.s;
  if (is_scalar(a) && is_scalar(b)) {
    const double x = a.kind == Kind::kString ? js_to_number(a.s) : a.as_double();
    const double y = b.kind == Kind::kString ? js_to_number(b.s) : b.as_double();
    return x == y;
  }
  if (is_scalar(a) || is_scalar(b)) return false;  // containers vs scalars: not worth JS's coercions
  return same_container(a, b);
}

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::null();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      return u <= static_cast<uint64_t>(INT64_MAX) ? Value::integer(static_cast<int64_t>(u))
                                                   : Value::number(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: {
      const double d = j.get<double>();
      if (std::isfinite(d) && std::fmod(d, 1.0) == 0 && std::fabs(d) < 9.007199254740992e15) {
        return Value::integer(static_cast<int64_t>(d));
      }
      return Value::number(d);
    }
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e));
      return Value::array(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object o;
      for (const auto& [k, e] : j.items()) o.set(k, from_json(e));
      return Value::object(std::move(o));
    }
    default: return Value::undefined();
  }
}

size_t utf16_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) n += c >= 0xF0 ? 2 : 1;
  }
  return n;
}

std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (size_t k = 0; k < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    len = std::min(len, s.size() - k);
    out.push_back(s.substr(k, len));
    k += len;
  }
  return out;
}

// JavaScript's WhiteSpace + LineTerminator set (what \s and String.prototype.trim use).
bool is_js_space_at(const std::string& s, size_t pos, size_t* len) {
  const unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c == ' ' || (c >= '\t' && c <= '\r')) {
    *len = 1;
    return true;
  }
  if (c < 0xC2) return false;
  uint32_t cp = 0;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  if (pos + n > s.size()) return false;
  cp = c & (n == 4 ? 0x07 : n == 3 ? 0x0F : 0x1F);
  for (size_t m = 1; m < n; ++m) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + m]) & 0x3F);
  const bool space = cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
                     cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
  if (space) *len = n;
  return space;
}

std::string js_trim(const std::string& s, bool start, bool end) {
  size_t b = 0, e = s.size();
  size_t len = 0;
  if (start) {
    while (b < e && is_js_space_at(s, b, &len)) b += len;
  }
  if (end) {
    while (e > b) {
      // Step back to the start of the last character.
      size_t p = e - 1;
      while (p > b && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
      if (is_js_space_at(s, p, &len) && p + len == e) {
        e = p;
      } else {
        break;
      }
    }
  }
  return s.substr(b, e - b);
}

}  // namespace hearth::chat
