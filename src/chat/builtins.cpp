// Filters, tests, string and dict methods and global functions, each as @huggingface/jinja
// defines it (which is narrower than Python Jinja2: e.g. str.strip() takes no characters, and
// only the filters listed here exist; anything else is a clear error).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "chat/interpreter.h"

namespace hearth::chat {
namespace {

[[noreturn]] void fail(const std::string& message) { throw TemplateError(message, kNoOffset); }

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string ascii_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string ascii_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string title_case(std::string s) {
  for (size_t k = 0; k < s.size(); ++k) {
    if (is_word(s[k]) && (k == 0 || !is_word(s[k - 1]))) s[k] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[k])));
  }
  return s;
}

// JavaScript parseInt(s, 10) / parseFloat(s): leading whitespace, a sign, the longest numeric
// prefix; NaN (here: false) when there is none.
bool js_parse_int(const std::string& s, int64_t* out) {
  const std::string t = js_trim(s, true, false);
  size_t k = 0;
  bool neg = false;
  if (k < t.size() && (t[k] == '+' || t[k] == '-')) neg = t[k++] == '-';
  const size_t start = k;
  double v = 0;
  while (k < t.size() && std::isdigit(static_cast<unsigned char>(t[k]))) v = v * 10 + (t[k++] - '0');
  if (k == start) return false;
  if (v > 9.2e18) v = 9.2e18;
  *out = static_cast<int64_t>(neg ? -v : v);
  return true;
}
bool js_parse_float(const std::string& s, double* out) {
  const std::string t = js_trim(s, true, false);
  if (t.rfind("Infinity", 0) == 0 || t.rfind("+Infinity", 0) == 0 || t.rfind("-Infinity", 0) == 0) {
    *out = t[0] == '-' ? -INFINITY : INFINITY;
    return true;
  }
  // Only decimal syntax (strtod would also take hex and "nan").
  size_t k = 0;
  if (k < t.size() && (t[k] == '+' || t[k] == '-')) ++k;
  size_t digits = 0;
  while (k < t.size() && std::isdigit(static_cast<unsigned char>(t[k]))) ++k, ++digits;
  if (k < t.size() && t[k] == '.') {
    ++k;
    while (k < t.size() && std::isdigit(static_cast<unsigned char>(t[k]))) ++k, ++digits;
  }
  if (digits == 0) return false;
  if (k < t.size() && (t[k] == 'e' || t[k] == 'E')) {
    size_t e = k + 1;
    if (e < t.size() && (t[e] == '+' || t[e] == '-')) ++e;
    if (e < t.size() && std::isdigit(static_cast<unsigned char>(t[e]))) {
      while (e < t.size() && std::isdigit(static_cast<unsigned char>(t[e]))) ++e;
      k = e;
    }
  }
  *out = std::strtod(t.substr(0, k).c_str(), nullptr);
  return true;
}

// JS Array.prototype.join over the underlying values (null/undefined print empty).
std::string js_join(const Array& items, const std::string& sep) {
  std::string out;
  for (size_t k = 0; k < items.size(); ++k) {
    if (k) out += sep;
    const Value& v = items[k];
    if (v.is_null() || v.is_undefined()) continue;
    out += to_js_string(v);
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (count == 0) return s;
  int64_t remaining = count < 0 ? INT64_MAX : count;
  std::string out;
  if (from.empty()) {
    // Insert `to` before every character and at the end (JavaScript's /(?=)/gu).
    const auto chars = code_points(s);
    for (const auto& c : chars) {
      if (remaining > 0) {
        out += to;
        --remaining;
      }
      out += c;
    }
    if (remaining > 0) out += to;
    return out;
  }
  size_t at = 0;
  while (true) {
    const size_t hit = remaining > 0 ? s.find(from, at) : std::string::npos;
    if (hit == std::string::npos) break;
    out.append(s, at, hit - at);
    out += to;
    at = hit + from.size();
    --remaining;
  }
  out.append(s, at, std::string::npos);
  return out;
}

Value get_attribute(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v.is_attr_container()) {
      const Value* found = v.obj->find(part);
      v = found ? *found : Value::undefined();
    } else if (v.is_array()) {
      char* end = nullptr;
      const long idx = std::strtol(part.c_str(), &end, 10);
      if (end == part.c_str() || idx < 0 || static_cast<size_t>(idx) >= v.arr->size()) return Value::undefined();
      v = (*v.arr)[static_cast<size_t>(idx)];
    } else {
      return Value::undefined();
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return v;
}

const Value* keyword(const Value* kwargs, const char* name) {
  return kwargs != nullptr ? kwargs->obj->find(name) : nullptr;
}

}  // namespace

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_null() && b.is_null()) return 0;
  if (a.is_null() || b.is_null()) fail(std::string("cannot compare ") + kind_name(a.kind) + " with " + kind_name(b.kind));
  if (a.is_undefined() && b.is_undefined()) return 0;
  if (a.is_undefined() || b.is_undefined()) {
    fail(std::string("cannot compare ") + kind_name(a.kind) + " with " + kind_name(b.kind));
  }
  const bool an = a.is_numeric() || a.kind == Kind::kBool, bn = b.is_numeric() || b.kind == Kind::kBool;
  if (an && bn) {
    const double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind != b.kind) fail(std::string("cannot compare different types: ") + kind_name(a.kind) + " and " + kind_name(b.kind));
  if (a.is_string()) {
    // JavaScript compares UTF-16 code units; for text without astral characters this is the
    // UTF-8 byte order.
    const std::string x = case_sensitive ? a.s : ascii_lower(a.s);
    const std::string y = case_sensitive ? b.s : ascii_lower(b.s);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  fail(std::string("cannot compare type: ") + kind_name(a.kind));
}

// The methods of a mapping (get, items, keys, values, dictsort); undefined for other names.
static Value object_method(const Value& self, const std::string& name) {
    if (name == "get") {
      return Value::function([self](Interpreter&, std::vector<Value>& args, const EnvPtr&) {
        if (args.empty() || !args[0].is_string()) {
          fail(std::string("object key must be a string: got ") + (args.empty() ? "UndefinedValue" : kind_name(args[0].kind)));
        }
        if (const Value* v = self.obj->find(args[0].s)) return *v;
        return args.size() > 1 ? args[1] : Value::null();
      });
    }
    if (name == "items" || name == "keys" || name == "values") {
      return Value::function([self, name](Interpreter&, std::vector<Value>&, const EnvPtr&) {
        Array out;
        for (const auto& [k, v] : self.obj->entries) {
          if (name == "items") out.push_back(Value::array({Value::string(k), v}));
          else if (name == "keys") out.push_back(Value::string(k));
          else out.push_back(v);
        }
        return Value::array(std::move(out));
      });
    }
    if (name == "dictsort") {
      return Value::function([self](Interpreter&, std::vector<Value>& args, const EnvPtr&) {
        const Value* kwargs = !args.empty() && args.back().kind == Kind::kKwargs ? &args.back() : nullptr;
        const size_t npos = args.size() - (kwargs ? 1 : 0);
        auto arg = [&](size_t k, const char* name, Value def) {
          if (k < npos) return args[k];
          if (const Value* v = keyword(kwargs, name)) return *v;
          return def;
        };
        const Value cs = arg(0, "case_sensitive", Value::boolean(false));
        const Value by = arg(1, "by", Value::string("key"));
        const Value rev = arg(2, "reverse", Value::boolean(false));
        if (cs.kind != Kind::kBool) fail("case_sensitive must be a boolean");
        if (!by.is_string() || (by.s != "key" && by.s != "value")) fail("by must be either 'key' or 'value'");
        if (rev.kind != Kind::kBool) fail("reverse must be a boolean");
        Array items;
        for (const auto& [k, v] : self.obj->entries) items.push_back(Value::array({Value::string(k), v}));
        const size_t index = by.s == "key" ? 0 : 1;
        std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
          const int r = compare_values((*a.arr)[index], (*b.arr)[index], cs.b);
          return rev.b ? r > 0 : r < 0;
        });
        return Value::array(std::move(items));
      });
    }
  return Value::undefined();
}

Value Interpreter::member(const Value& object, const Value& property) {
  if (object.is_attr_container()) {
    if (!property.is_string()) fail(std::string("cannot access property with non-string: got ") + kind_name(property.kind));
    if (const Value* v = object.obj->find(property.s)) return *v;
    if (object.kind == Kind::kNamespace) return Value::undefined();
    return object_method(object, property.s);
  }
  if (object.is_array() || object.is_string()) {
    if (property.kind == Kind::kInt) {
      if (object.is_array()) {
        const auto n = static_cast<int64_t>(object.arr->size());
        const int64_t k = property.i < 0 ? n + property.i : property.i;
        return k >= 0 && k < n ? (*object.arr)[static_cast<size_t>(k)] : Value::undefined();
      }
      const auto chars = code_points(object.s);
      const auto n = static_cast<int64_t>(chars.size());
      const int64_t k = property.i < 0 ? n + property.i : property.i;
      return k >= 0 && k < n ? Value::string(chars[static_cast<size_t>(k)]) : Value::undefined();
    }
    if (!property.is_string()) {
      fail(std::string("cannot access property with non-string/non-number: got ") + kind_name(property.kind));
    }
    if (object.is_array()) {
      return property.s == "length" ? Value::integer(static_cast<int64_t>(object.arr->size())) : Value::undefined();
    }
  } else if (!property.is_string()) {
    fail(std::string("cannot access property with non-string: got ") + kind_name(property.kind));
  }
  if (!object.is_string()) return Value::undefined();
  // String methods.
  const std::string& name = property.s;
  const std::string self = object.s;
  if (name == "length") return Value::integer(static_cast<int64_t>(utf16_length(self)));
  auto method = [](auto body) { return Value::function(body); };
  if (name == "upper") return method([self](Interpreter&, std::vector<Value>&, const EnvPtr&) { return Value::string(ascii_upper(self)); });
  if (name == "lower") return method([self](Interpreter&, std::vector<Value>&, const EnvPtr&) { return Value::string(ascii_lower(self)); });
  if (name == "strip") return method([self](Interpreter&, std::vector<Value>&, const EnvPtr&) { return Value::string(js_trim(self, true, true)); });
  if (name == "lstrip") return method([self](Interpreter&, std::vector<Value>&, const EnvPtr&) { return Value::string(js_trim(self, true, false)); });
  if (name == "rstrip") return method([self](Interpreter&, std::vector<Value>&, const EnvPtr&) { return Value::string(js_trim(self, false, true)); });
  if (name == "title") return method([self](Interpreter&, std::vector<Value>&, const EnvPtr&) { return Value::string(title_case(self)); });
  if (name == "capitalize") {
    return method([self](Interpreter&, std::vector<Value>&, const EnvPtr&) {
      std::string s = self;
      if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
      return Value::string(s);
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool starts = name == "startswith";
    return method([self, starts, name](Interpreter&, std::vector<Value>& args, const EnvPtr&) {
      if (args.empty()) fail(name + "() requires at least one argument");
      auto test = [&](const std::string& p) {
        return p.size() <= self.size() && (starts ? self.compare(0, p.size(), p) == 0 : self.compare(self.size() - p.size(), p.size(), p) == 0);
      };
      if (args[0].is_string()) return Value::boolean(test(args[0].s));
      if (args[0].is_array()) {
        for (const auto& item : *args[0].arr) {
          if (!item.is_string()) fail(name + "() tuple elements must be strings");
          if (test(item.s)) return Value::boolean(true);
        }
        return Value::boolean(false);
      }
      fail(name + "() argument must be a string or tuple of strings");
    });
  }
  if (name == "split") {
    return method([self](Interpreter& in, std::vector<Value>& args, const EnvPtr&) {
      const Value sep = !args.empty() ? args[0] : Value::null();
      if (!sep.is_string() && !sep.is_null()) fail("split: sep must be a string or none");
      const Value maxsplit = args.size() > 1 ? args[1] : Value::integer(-1);
      if (maxsplit.kind != Kind::kInt) fail("split: maxsplit must be an integer");
      Array out;
      if (sep.is_null()) {
        const std::string text = js_trim(self, true, false);
        size_t k = 0, len = 0;
        while (k < text.size()) {
          while (k < text.size() && is_js_space_at(text, k, &len)) k += len;
          if (k >= text.size()) break;
          if (maxsplit.i != -1 && static_cast<int64_t>(out.size()) >= maxsplit.i) {
            out.push_back(Value::string(text.substr(k)));
            break;
          }
          const size_t start = k;
          while (k < text.size() && !is_js_space_at(text, k, &len)) ++k;
          out.push_back(Value::string(text.substr(start, k - start)));
        }
      } else {
        if (sep.s.empty()) fail("empty separator");
        std::vector<std::string> parts;
        size_t at = 0;
        while (true) {
          const size_t hit = self.find(sep.s, at);
          if (hit == std::string::npos) break;
          parts.push_back(self.substr(at, hit - at));
          at = hit + sep.s.size();
        }
        parts.push_back(self.substr(at));
        if (maxsplit.i != -1 && static_cast<int64_t>(parts.size()) > maxsplit.i) {
          std::string rest;
          for (size_t k = static_cast<size_t>(maxsplit.i); k < parts.size(); ++k) rest += (k > static_cast<size_t>(maxsplit.i) ? sep.s : "") + parts[k];
          parts.resize(static_cast<size_t>(maxsplit.i));
          parts.push_back(rest);
        }
        for (auto& p : parts) out.push_back(Value::string(std::move(p)));
      }
      in.check_array(out.size());
      return Value::array(std::move(out));
    });
  }
  if (name == "replace") {
    return method([self](Interpreter& in, std::vector<Value>& args, const EnvPtr&) {
      if (args.size() < 2) fail("replace() requires at least two arguments");
      if (!args[0].is_string() || !args[1].is_string()) fail("replace() arguments must be strings");
      Value count = Value::null();
      if (args.size() > 2) {
        if (args[2].kind == Kind::kKwargs) {
          const Value* c = args[2].obj->find("count");
          count = c ? *c : Value::null();
        } else {
          count = args[2];
        }
      }
      if (count.kind != Kind::kInt && !count.is_null()) fail("replace() count argument must be a number or none");
      std::string out = replace_all(self, args[0].s, args[1].s, count.is_null() ? -1 : count.i);
      in.count_bytes(out.size());
      in.check_string(out);
      return Value::string(std::move(out));
    });
  }
  return Value::undefined();
}

bool Interpreter::apply_test(const std::string& name, const Value& v, const Value* arg, size_t offset) const {
  const Kind k = v.kind;
  if (name == "boolean") return k == Kind::kBool;
  if (name == "callable") return k == Kind::kFunction;
  if (name == "odd" || name == "even") {
    if (k != Kind::kInt) throw TemplateError("cannot " + name + " on " + kind_name(k), offset);
    return name == "odd" ? v.i % 2 != 0 : v.i % 2 == 0;
  }
  if (name == "false") return k == Kind::kBool && !v.b;
  if (name == "true") return k == Kind::kBool && v.b;
  if (name == "none") return k == Kind::kNull;
  if (name == "string") return k == Kind::kString;
  if (name == "number") return v.is_numeric();
  if (name == "integer") return k == Kind::kInt;
  if (name == "iterable") return k == Kind::kArray || k == Kind::kString;
  if (name == "mapping") return v.is_object();
  if (name == "sequence") return v.is_array() || v.is_object() || k == Kind::kString;
  if (name == "lower") return k == Kind::kString && v.s == ascii_lower(v.s);
  if (name == "upper") return k == Kind::kString && v.s == ascii_upper(v.s);
  if (name == "defined") return k != Kind::kUndefined;
  if (name == "undefined") return k == Kind::kUndefined;
  if (name == "equalto" || name == "eq") return strict_equals(v, arg != nullptr ? *arg : Value::undefined());
  throw TemplateError("unknown test: " + name, offset);
}

Value Interpreter::apply_filter(const Value& operand, const Node& filter, const EnvPtr& env) {
  if (filter.type == NodeType::kIdent) {
    const std::string& name = filter.text;
    if (name == "safe") return operand;
    if (name == "tojson") {
      std::string s = to_json(operand, JsonOptions{});
      count_bytes(s.size());
      check_string(s);
      return Value::string(std::move(s));
    }
    if (operand.is_array()) {
      const Array& a = *operand.arr;
      if (name == "list") return operand;
      if (name == "first" || name == "last") {
        if (a.empty()) fail("'" + name + "' of an empty list");
        return name == "first" ? a.front() : a.back();
      }
      if (name == "length") return Value::integer(static_cast<int64_t>(a.size()));
      if (name == "reverse") return Value::array(Array(a.rbegin(), a.rend()));
      if (name == "sort") {
        Array sorted = a;
        std::stable_sort(sorted.begin(), sorted.end(), [](const Value& x, const Value& y) { return compare_values(x, y, false) < 0; });
        return Value::array(std::move(sorted));
      }
      if (name == "join") return Value::string(js_join(a, ""));
      if (name == "string") return Value::string(to_json(operand, JsonOptions{}, false));
      if (name == "unique") {
        Array out;
        for (const auto& item : a) {
          bool seen = false;
          for (const auto& o : out) seen = seen || strict_equals(o, item);
          if (!seen) out.push_back(item);
        }
        return Value::array(std::move(out));
      }
      fail("unknown list filter: " + name);
    }
    if (operand.is_string()) {
      const std::string& s = operand.s;
      if (name == "length") return Value::integer(static_cast<int64_t>(utf16_length(s)));
      if (name == "upper") return Value::string(ascii_upper(s));
      if (name == "lower") return Value::string(ascii_lower(s));
      if (name == "title") return Value::string(title_case(s));
      if (name == "capitalize") {
        std::string c = s;
        if (!c.empty()) c[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(c[0])));
        return Value::string(c);
      }
      if (name == "trim") return Value::string(js_trim(s, true, true));
      if (name == "indent") {
        std::string out;
        size_t start = 0;
        bool first = true;
        while (true) {
          const size_t nl = s.find('\n', start);
          const std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
          if (!first) out += '\n';
          out += (first || line.empty()) ? line : "    " + line;
          first = false;
          if (nl == std::string::npos) break;
          start = nl + 1;
        }
        count_bytes(out.size());
        check_string(out);
        return Value::string(out);
      }
      if (name == "join" || name == "string") return operand;
      if (name == "int") {
        int64_t v = 0;
        return Value::integer(js_parse_int(s, &v) ? v : 0);
      }
      if (name == "float") {
        double v = 0;
        return Value::number(js_parse_float(s, &v) ? v : 0);
      }
      fail("unknown string filter: " + name);
    }
    if (operand.is_numeric()) {
      const bool is_int = operand.kind == Kind::kInt;
      if (name == "abs") return is_int ? Value::integer(std::llabs(operand.i)) : Value::number(std::fabs(operand.f));
      if (name == "int") {
        if (is_int) return operand;
        const double f = std::floor(operand.f);
        if (!std::isfinite(f) || std::fabs(f) > 9.2e18) fail("int: value out of range");
        return Value::integer(static_cast<int64_t>(f));
      }
      if (name == "float") return Value::number(operand.as_double());
      if (name == "string") return Value::string(to_display(operand));
      fail("unknown number filter: " + name);
    }
    if (operand.is_object()) {
      if (name == "length") return Value::integer(static_cast<int64_t>(operand.obj->entries.size()));
      const Value method = object_method(operand, name);
      if (method.kind == Kind::kFunction) {
        std::vector<Value> none;
        return call(method, none, env);
      }
      fail("unknown mapping filter: " + name);
    }
    if (operand.kind == Kind::kBool) {
      if (name == "bool") return operand;
      if (name == "int") return Value::integer(operand.b ? 1 : 0);
      if (name == "float") return Value::number(operand.b ? 1 : 0);
      if (name == "string") return Value::string(operand.b ? "true" : "false");
      fail("unknown boolean filter: " + name);
    }
    fail("cannot apply filter \"" + name + "\" to type: " + kind_name(operand.kind));
  }
  if (filter.type != NodeType::kCall || filter.a->type != NodeType::kIdent) fail("unknown filter");
  const std::string& name = filter.a->text;
  Args args = eval_args(filter.body, env);
  auto arg = [&](size_t k, const char* key) -> const Value* {
    if (k < args.positional.size()) return &args.positional[k];
    return args.keywords.find(key);
  };
  if (name == "tojson") {
    JsonOptions opt;
    if (const Value* indent = args.keywords.find("indent"); indent && !indent->is_null()) {
      if (indent->kind != Kind::kInt) fail("tojson: indent must be a number");
      opt.indent = static_cast<int>(std::clamp<int64_t>(indent->i, -1, 64));
    }
    if (const Value* v = args.keywords.find("ensure_ascii")) {
      if (v->kind != Kind::kBool) fail("tojson: ensure_ascii must be a boolean");
      opt.ensure_ascii = v->b;
    }
    if (const Value* v = args.keywords.find("sort_keys")) {
      if (v->kind != Kind::kBool) fail("tojson: sort_keys must be a boolean");
      opt.sort_keys = v->b;
    }
    if (const Value* v = args.keywords.find("separators"); v && !v->is_null()) {
      if (!v->is_array() || v->arr->size() != 2 || !(*v->arr)[0].is_string() || !(*v->arr)[1].is_string()) {
        fail("tojson: separators must be a tuple of two strings");
      }
      opt.has_separators = true;
      opt.item_separator = (*v->arr)[0].s;
      opt.key_separator = (*v->arr)[1].s;
    }
    std::string s = to_json(operand, opt);
    count_bytes(s.size());
    check_string(s);
    return Value::string(std::move(s));
  }
  if (name == "join") {
    const Value* sep = arg(0, "separator");
    if (sep && !sep->is_string()) fail("join: separator must be a string");
    const std::string separator = sep ? sep->s : "";
    std::string out;
    if (operand.is_string()) {
      const auto chars = code_points(operand.s);
      for (size_t k = 0; k < chars.size(); ++k) out += (k ? separator : "") + chars[k];
    } else if (operand.is_array()) {
      out = js_join(*operand.arr, separator);
    } else {
      fail(std::string("cannot apply filter \"join\" to type: ") + kind_name(operand.kind));
    }
    count_bytes(out.size());
    check_string(out);
    return Value::string(std::move(out));
  }
  if (name == "int" || name == "float") {
    const bool is_int = name == "int";
    const Value* def = arg(0, "default");
    const Value fallback = def ? *def : is_int ? Value::integer(0) : Value::number(0);
    if (operand.is_string()) {
      if (is_int) {
        int64_t v = 0;
        return js_parse_int(operand.s, &v) ? Value::integer(v) : fallback;
      }
      double v = 0;
      return js_parse_float(operand.s, &v) ? Value::number(v) : fallback;
    }
    if (operand.is_numeric()) return operand;
    if (operand.kind == Kind::kBool) return is_int ? Value::integer(operand.b ? 1 : 0) : Value::number(operand.b ? 1 : 0);
    fail("cannot apply filter \"" + name + "\" to type: " + kind_name(operand.kind));
  }
  if (name == "default" || name == "d") {
    if (name == "d") fail("unknown filter: d");
    const Value def = !args.positional.empty() ? args.positional[0] : Value::string("");
    const Value* boolean = arg(1, "boolean");
    if (boolean && boolean->kind != Kind::kBool) fail("`default` filter flag must be a boolean");
    if (operand.is_undefined() || (boolean && boolean->b && !operand.truthy())) return def;
    return operand;
  }
  if (operand.is_array()) {
    const Array& a = *operand.arr;
    if (name == "sort") {
      const Value* rev = arg(0, "reverse");
      const Value* cs = arg(1, "case_sensitive");
      const Value* attr = arg(2, "attribute");
      if (rev && rev->kind != Kind::kBool) fail("reverse must be a boolean");
      if (cs && cs->kind != Kind::kBool) fail("case_sensitive must be a boolean");
      if (attr && !attr->is_string() && attr->kind != Kind::kInt && !attr->is_null()) {
        fail("attribute must be a string, integer, or none");
      }
      const bool reverse = rev && rev->b, case_sensitive = cs && cs->b;
      std::string path;
      const bool by_attr = attr && !attr->is_null();
      if (by_attr) path = attr->is_string() ? attr->s : std::to_string(attr->i);
      Array sorted = a;
      std::stable_sort(sorted.begin(), sorted.end(), [&](const Value& x, const Value& y) {
        const int r = by_attr ? compare_values(get_attribute(x, path), get_attribute(y, path), case_sensitive)
                              : compare_values(x, y, case_sensitive);
        return reverse ? r > 0 : r < 0;
      });
      return Value::array(std::move(sorted));
    }
    if (name == "selectattr" || name == "rejectattr") {
      const bool select = name == "selectattr";
      for (const auto& item : a) {
        if (!item.is_attr_container()) fail("`" + name + "` can only be applied to array of objects");
      }
      for (const auto& n : filter.body) {
        if (n->type != NodeType::kString) fail("arguments of `" + name + "` must be strings");
      }
      if (args.positional.empty()) fail("`" + name + "` needs an attribute name");
      const std::string attr = args.positional[0].s;
      const Value* test_name = args.positional.size() > 1 ? &args.positional[1] : nullptr;
      const Value* test_arg = args.positional.size() > 2 ? &args.positional[2] : nullptr;
      Array out;
      for (const auto& item : a) {
        const Value* v = item.obj->find(attr);
        bool result = false;
        if (v != nullptr) result = test_name ? apply_test(test_name->s, *v, test_arg, kNoOffset) : v->truthy();
        if (result == select) out.push_back(item);
      }
      return Value::array(std::move(out));
    }
    if (name == "map") {
      const Value* attr = args.keywords.find("attribute");
      if (attr == nullptr) fail("`map` without `attribute` is not supported");
      if (!attr->is_string()) fail("map: attribute must be a string");
      const Value* def = args.keywords.find("default");
      Array out;
      for (const auto& item : a) {
        if (!item.is_attr_container()) fail("items in map must be objects");
        Value v = get_attribute(item, attr->s);
        out.push_back(v.is_undefined() && def ? *def : v);
      }
      return Value::array(std::move(out));
    }
    fail("unknown list filter: " + name);
  }
  if (operand.is_string()) {
    if (name == "indent") {
      const Value* width = arg(0, "width");
      if (width && width->kind != Kind::kInt) fail("indent: width must be a number");
      const Value* first = arg(1, "first");
      const Value* blank = arg(2, "blank");
      const std::string pad(static_cast<size_t>(std::clamp<int64_t>(width ? width->i : 4, 0, 1024)), ' ');
      std::string out;
      size_t start = 0;
      bool is_first = true;
      while (true) {
        const size_t nl = operand.s.find('\n', start);
        const std::string line = operand.s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if (!is_first) out += '\n';
        const bool skip = (!(first && first->truthy()) && is_first) || (!(blank && blank->truthy()) && line.empty());
        out += skip ? line : pad + line;
        is_first = false;
        if (nl == std::string::npos) break;
        start = nl + 1;
        count_bytes(pad.size());
      }
      count_bytes(out.size());
      check_string(out);
      return Value::string(std::move(out));
    }
    if (name == "replace") {
      std::vector<Value> call_args = args.positional;
      call_args.push_back(Value::object(std::move(args.keywords), Kind::kKwargs));
      return call(member(operand, Value::string("replace")), call_args, env);
    }
    fail("unknown string filter: " + name);
  }
  if (operand.is_object()) {
    const Value builtin = object_method(operand, name);
    if (builtin.kind == Kind::kFunction) {
      std::vector<Value> call_args = args.positional;
      if (!args.keywords.entries.empty()) call_args.push_back(Value::object(std::move(args.keywords), Kind::kKwargs));
      return call(builtin, call_args, env);
    }
    fail("unknown mapping filter: " + name);
  }
  fail("cannot apply filter \"" + name + "\" to type: " + kind_name(operand.kind));
}

std::string Interpreter::strftime(const std::string& format) const {
  static const char* kMonths[] = {"January", "February", "March", "April", "May", "June", "July",
                                  "August", "September", "October", "November", "December"};
  auto pad2 = [](int n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  std::string out;
  for (size_t k = 0; k < format.size(); ++k) {
    if (format[k] != '%' || k + 1 >= format.size()) {
      out += format[k];
      continue;
    }
    const char c = format[k + 1];
    const int mon = std::clamp(now_.tm_mon, 0, 11);
    switch (c) {
      case 'Y': out += std::to_string(now_.tm_year + 1900); break;
      case 'm': out += pad2(now_.tm_mon + 1); break;
      case 'd': out += pad2(now_.tm_mday); break;
      case 'b': out += std::string(kMonths[mon]).substr(0, 3); break;
      case 'B': out += kMonths[mon]; break;
      case 'H': out += pad2(now_.tm_hour); break;
      case 'M': out += pad2(now_.tm_min); break;
      case '%': out += '%'; break;
      default: out += format.substr(k, 2); break;
    }
    ++k;
  }
  return out;
}

void Interpreter::setup_globals(Env& env) {
  env.set("false", Value::boolean(false));
  env.set("true", Value::boolean(true));
  env.set("none", Value::null());
  env.set("False", Value::boolean(false));
  env.set("True", Value::boolean(true));
  env.set("None", Value::null());
  env.set("raise_exception", Value::function([](Interpreter&, std::vector<Value>& args, const EnvPtr&) -> Value {
    std::string message;
    for (size_t k = 0; k < args.size(); ++k) message += (k ? "," : "") + to_js_string(args[k]);
    fail("raise_exception: " + message);
  }));
  env.set("range", Value::function([](Interpreter& in, std::vector<Value>& args, const EnvPtr&) {
    std::vector<int64_t> n;
    for (const auto& a : args) {
      if (a.kind == Kind::kKwargs) continue;
      if (a.kind != Kind::kInt) fail("range() arguments must be integers");
      n.push_back(a.i);
    }
    if (n.empty() || n.size() > 3) fail("range() takes 1 to 3 arguments");
    const int64_t start = n.size() == 1 ? 0 : n[0], stop = n.size() == 1 ? n[0] : n[1], step = n.size() == 3 ? n[2] : 1;
    if (step == 0) fail("range() step must not be zero");
    Array out;
    for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
      in.count_iterations(1);
      in.check_array(out.size() + 1);
      out.push_back(Value::integer(k));
    }
    return Value::array(std::move(out));
  }));
  env.set("strftime_now", Value::function([](Interpreter& in, std::vector<Value>& args, const EnvPtr&) {
    if (args.empty() || !args[0].is_string()) fail("strftime_now() needs a format string");
    return Value::string(in.strftime(args[0].s));
  }));
  env.set("namespace", Value::function([](Interpreter&, std::vector<Value>& args, const EnvPtr&) {
    std::vector<Value> positional = args;
    Object entries;
    Value kwargs;
    if (!positional.empty() && positional.back().kind == Kind::kKwargs) {
      kwargs = positional.back();
      positional.pop_back();
    }
    if (positional.size() > 1) fail("namespace expected at most 1 argument");
    if (positional.size() == 1) {
      const Value& src = positional[0];
      if (src.is_object()) {
        for (const auto& [k, v] : src.obj->entries) entries.set(k, v);
      } else if (src.is_array()) {
        for (const auto& pair : *src.arr) {
          if (!pair.is_array() || pair.arr->size() != 2 || !(*pair.arr)[0].is_string()) {
            fail("namespace expected an object or an iterable of [key, value] pairs");
          }
          entries.set((*pair.arr)[0].s, (*pair.arr)[1]);
        }
      } else {
        fail(std::string("'") + kind_name(src.kind) + "' object is not iterable");
      }
    }
    if (kwargs.obj) {
      for (const auto& [k, v] : kwargs.obj->entries) entries.set(k, v);
    }
    return Value::object(std::move(entries), Kind::kNamespace);
  }));
}

}  // namespace hearth::chat
