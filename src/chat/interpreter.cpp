// Statement and expression evaluation with @huggingface/jinja's semantics: scopes (a loop body
// shares one scope across iterations; macros see their caller's scope), `and`/`or` returning an
// operand, arithmetic on integers and floats, and `{{ }}` printing through to_display.
#include <algorithm>
#include <cmath>

#include "chat/interpreter.h"

namespace hearth::chat {
namespace {

struct BreakSignal {};
struct ContinueSignal {};

[[noreturn]] void fail(const std::string& message, size_t offset = kNoOffset) {
  throw TemplateError(message, offset);
}

Value int_or_float(double v, bool is_float) {
  if (is_float) return Value::number(v);
  if (!std::isfinite(v) || std::fabs(v) > 9.2e18) fail("integer overflow");
  return Value::integer(static_cast<int64_t>(v));
}

// Names a macro body reads that Jinja binds specially (kwargs, varargs).
void find_special_names(const Node* node, bool& kwargs, bool& varargs) {
  if (node == nullptr) return;
  if (node->type == NodeType::kIdent) {
    if (node->text == "kwargs") kwargs = true;
    if (node->text == "varargs") varargs = true;
  }
  find_special_names(node->a.get(), kwargs, varargs);
  find_special_names(node->b.get(), kwargs, varargs);
  find_special_names(node->c.get(), kwargs, varargs);
  for (const auto& n : node->body) find_special_names(n.get(), kwargs, varargs);
  for (const auto& n : node->alternate) find_special_names(n.get(), kwargs, varargs);
  for (const auto& [k, v] : node->pairs) {
    find_special_names(k.get(), kwargs, varargs);
    find_special_names(v.get(), kwargs, varargs);
  }
}

}  // namespace

Value Env::lookup(const std::string& name) const {
  for (const Env* e = this; e != nullptr; e = e->parent.get()) {
    auto it = e->vars.find(name);
    if (it != e->vars.end()) return it->second;
  }
  return Value::undefined();
}

void Interpreter::count_iterations(int64_t n) {
  iterations_ += n;
  if (iterations_ > limits_.max_loop_iterations) {
    fail("loop iteration limit exceeded (" + std::to_string(limits_.max_loop_iterations) + ")");
  }
}

void Interpreter::count_bytes(size_t n) {
  bytes_ += n;
  if (bytes_ > limits_.max_work_bytes) fail("template work limit exceeded (too much text produced)");
}

void Interpreter::check_string(const std::string& s) const {
  if (s.size() > limits_.max_output_bytes) {
    fail("output size limit exceeded (" + std::to_string(limits_.max_output_bytes) + " bytes)");
  }
}

void Interpreter::check_array(size_t n) const {
  if (n > limits_.max_array_items) fail("list size limit exceeded");
}

std::string Interpreter::run(const Node& program, const EnvPtr& env) {
  try {
    return block(program.body, env);
  } catch (const BreakSignal&) {
    fail("'break' outside a loop");
  } catch (const ContinueSignal&) {
    fail("'continue' outside a loop");
  }
}

std::string Interpreter::block(const NodeList& body, const EnvPtr& env) {
  std::string out;
  for (const auto& stmt : body) {
    const Value v = eval(*stmt, env);
    if (v.is_null() || v.is_undefined()) continue;
    if (v.is_string()) {
      out += v.s;
      count_bytes(v.s.size());
    } else {
      const std::string text = to_display(v);
      out += text;
      count_bytes(text.size());
    }
    check_string(out);
  }
  return out;
}

Value Interpreter::eval(const Node& node, const EnvPtr& env) {
  if (++depth_ > limits_.max_eval_depth) {
    --depth_;
    fail("template evaluation nested too deeply", node.offset);
  }
  struct Guard {
    int& d;
    ~Guard() { --d; }
  } guard{depth_};
  try {
    switch (node.type) {
      case NodeType::kProgram: return Value::string(block(node.body, env));
      case NodeType::kText:
      case NodeType::kString: return Value::string(node.text);
      case NodeType::kInt: return Value::integer(node.int_value);
      case NodeType::kFloat: return Value::number(node.float_value);
      case NodeType::kComment: return Value::null();
      case NodeType::kIdent: return env->lookup(node.text);
      case NodeType::kArray:
      case NodeType::kTuple: {
        Array items;
        for (const auto& n : node.body) items.push_back(eval(*n, env));
        return Value::array(std::move(items), node.type == NodeType::kTuple ? Kind::kTuple : Kind::kArray);
      }
      case NodeType::kObject: {
        Object o;
        for (const auto& [k, v] : node.pairs) {
          Value key = eval(*k, env);
          if (!key.is_string()) fail(std::string("object keys must be strings: got ") + kind_name(key.kind), k->offset);
          o.set(key.s, eval(*v, env));
        }
        return Value::object(std::move(o));
      }
      case NodeType::kIf: {
        const bool test = eval(*node.a, env).truthy();
        return Value::string(block(test ? node.body : node.alternate, env));
      }
      case NodeType::kFor: return eval_for(node, env);
      case NodeType::kBreak: throw BreakSignal{};
      case NodeType::kContinue: throw ContinueSignal{};
      case NodeType::kSet: return eval_set(node, env);
      case NodeType::kMacro: return eval_macro(node, env);
      case NodeType::kCallStatement: return eval_call_statement(node, env);
      case NodeType::kFilterStatement: {
        const Value rendered = Value::string(block(node.body, env));
        return apply_filter(rendered, *node.a, env);
      }
      case NodeType::kMember: return eval_member(node, env);
      case NodeType::kCall: return eval_call(node, env);
      case NodeType::kBinary: return eval_binary(node, env);
      case NodeType::kUnary: return eval_unary(node, env);
      case NodeType::kFilter: return apply_filter(eval(*node.a, env), *node.b, env);
      case NodeType::kTest: {
        const Value operand = eval(*node.a, env);
        const bool result = apply_test(node.text, operand, nullptr, node.offset);
        return Value::boolean(node.negate ? !result : result);
      }
      case NodeType::kSelect: {
        if (!eval(*node.b, env).truthy()) return Value::undefined();
        return eval(*node.a, env);
      }
      case NodeType::kTernary:
        return eval(*node.a, env).truthy() ? eval(*node.b, env) : eval(*node.c, env);
      case NodeType::kSlice:
      case NodeType::kKeywordArg:
      case NodeType::kSpread:
      case NodeType::kKeywordSpread: fail("unexpected expression here", node.offset);
    }
    fail("unknown node", node.offset);
  } catch (TemplateError& e) {
    if (e.offset == kNoOffset) e.offset = node.offset;
    throw;
  }
}

Interpreter::Args Interpreter::eval_args(const NodeList& args, const EnvPtr& env) {
  Args out;
  for (const auto& a : args) {
    if (a->type == NodeType::kSpread) {
      const Value v = eval(*a->a, env);
      if (!v.is_array()) fail(std::string("cannot unpack non-iterable type: ") + kind_name(v.kind), a->offset);
      for (const auto& item : *v.arr) out.positional.push_back(item);
    } else if (a->type != NodeType::kKeywordArg && a->type != NodeType::kKeywordSpread) {
      out.positional.push_back(eval(*a, env));
    }
  }
  for (const auto& a : args) {
    auto add = [&](const std::string& key, Value v) {
      if (out.keywords.find(key) != nullptr) fail("got multiple values for keyword argument '" + key + "'", a->offset);
      out.keywords.set(key, std::move(v));
    };
    if (a->type == NodeType::kKeywordArg) {
      add(a->text, eval(*a->b, env));
    } else if (a->type == NodeType::kKeywordSpread) {
      const Value v = eval(*a->a, env);
      if (!v.is_object()) fail(std::string("argument after ** must be a mapping, not ") + kind_name(v.kind), a->offset);
      for (const auto& [k, item] : v.obj->entries) add(k, item);
    }
  }
  return out;
}

Value Interpreter::call(const Value& fn, std::vector<Value>& args, const EnvPtr& env) {
  if (fn.kind != Kind::kFunction) {
    fail(std::string("cannot call something that is not a function: got ") + kind_name(fn.kind));
  }
  if (++call_depth_ > limits_.max_call_depth) {
    --call_depth_;
    fail("macro call depth limit exceeded (" + std::to_string(limits_.max_call_depth) + ")");
  }
  struct Guard {
    int& d;
    ~Guard() { --d; }
  } guard{call_depth_};
  return (*fn.fn)(*this, args, env);
}

Value Interpreter::eval_call(const Node& node, const EnvPtr& env) {
  Args args = eval_args(node.body, env);
  if (!args.keywords.entries.empty()) args.positional.push_back(Value::object(std::move(args.keywords), Kind::kKwargs));
  const Value fn = eval(*node.a, env);
  return call(fn, args.positional, env);
}

Value Interpreter::eval_binary(const Node& node, const EnvPtr& env) {
  const std::string& op = node.text;
  Value left = eval(*node.a, env);
  if (op == "and") return left.truthy() ? eval(*node.b, env) : left;
  if (op == "or") return left.truthy() ? left : eval(*node.b, env);
  Value right = eval(*node.b, env);
  if (op == "==") return Value::boolean(loose_equals(left, right));
  if (op == "!=") return Value::boolean(!loose_equals(left, right));
  if (left.is_undefined() || right.is_undefined()) {
    if (right.is_undefined() && (op == "in" || op == "not in")) return Value::boolean(op == "not in");
    fail("cannot perform operation " + op + " on undefined values");
  }
  if (left.is_null() || right.is_null()) fail("cannot perform operation " + op + " on null values");
  if (op == "~") {
    std::string s = to_js_string(left) + to_js_string(right);
    count_bytes(s.size());
    check_string(s);
    return Value::string(std::move(s));
  }
  const bool left_num = left.is_numeric() || left.kind == Kind::kBool;
  const bool right_num = right.is_numeric() || right.kind == Kind::kBool;
  if (op == "**" && left_num && right_num) {
    const double a = left.as_double(), b = right.as_double();
    if (a == 0 && b < 0) fail("0.0 cannot be raised to a negative power");
    const double r = std::pow(a, b);
    if (!std::isfinite(r)) fail("exponentiation result is not a finite real number");
    return int_or_float(r, left.kind == Kind::kFloat || right.kind == Kind::kFloat || b < 0);
  }
  if (left.is_numeric() && right.is_numeric()) {
    const bool is_float = left.kind == Kind::kFloat || right.kind == Kind::kFloat;
    if (!is_float && (op == "+" || op == "-" || op == "*")) {
      int64_t r = 0;
      const bool overflow = op == "+"   ? __builtin_add_overflow(left.i, right.i, &r)
                            : op == "-" ? __builtin_sub_overflow(left.i, right.i, &r)
                                        : __builtin_mul_overflow(left.i, right.i, &r);
      if (overflow) fail("integer overflow");
      return Value::integer(r);
    }
    const double a = left.as_double(), b = right.as_double();
    if (op == "+") return Value::number(a + b);
    if (op == "-") return Value::number(a - b);
    if (op == "*") return Value::number(a * b);
    if (op == "/") return Value::number(a / b);
    if (op == "//") {
      const double r = std::floor(a / b);
      if (!is_float && !std::isfinite(r)) fail("integer division by zero");
      return int_or_float(r, is_float);
    }
    if (op == "%") {
      if (!is_float) {
        if (right.i == 0) fail("integer modulo by zero");
        if (right.i == -1) return Value::integer(0);
        return Value::integer(left.i % right.i);  // JavaScript's % keeps the dividend's sign
      }
      return Value::number(std::fmod(a, b));
    }
    if (op == "<") return Value::boolean(a < b);
    if (op == ">") return Value::boolean(a > b);
    if (op == "<=") return Value::boolean(a <= b);
    if (op == ">=") return Value::boolean(a >= b);
  } else if (left.is_array() && right.is_array()) {
    if (op == "+") {
      check_array(left.arr->size() + right.arr->size());
      count_bytes((left.arr->size() + right.arr->size()) * sizeof(Value));
      Array items = *left.arr;
      items.insert(items.end(), right.arr->begin(), right.arr->end());
      return Value::array(std::move(items));
    }
  } else if (right.is_array()) {
    if (op == "in" || op == "not in") {
      bool member = false;
      for (const auto& item : *right.arr) {
        if (strict_equals(item, left)) {
          member = true;
          break;
        }
      }
      return Value::boolean(op == "in" ? member : !member);
    }
  }
  if ((left.is_string() || right.is_string()) && op == "+") {
    std::string s = to_js_string(left) + to_js_string(right);
    count_bytes(s.size());
    check_string(s);
    return Value::string(std::move(s));
  }
  if (left.is_string() && right.is_string() && (op == "in" || op == "not in")) {
    const bool found = right.s.find(left.s) != std::string::npos;
    return Value::boolean(op == "in" ? found : !found);
  }
  if (left.is_string() && right.is_object() && (op == "in" || op == "not in")) {
    const bool found = right.obj->find(left.s) != nullptr;
    return Value::boolean(op == "in" ? found : !found);
  }
  fail("unknown operator \"" + op + "\" between " + kind_name(left.kind) + " and " + kind_name(right.kind));
}

Value Interpreter::eval_unary(const Node& node, const EnvPtr& env) {
  const Value arg = eval(*node.a, env);
  if (node.text == "not") return Value::boolean(!arg.truthy());
  const double sign = node.text == "-" ? -1 : 1;
  if (arg.kind == Kind::kFloat) return Value::number(sign * arg.f);
  if (arg.kind == Kind::kInt || arg.kind == Kind::kBool) {
    const int64_t v = arg.kind == Kind::kBool ? (arg.b ? 1 : 0) : arg.i;
    if (sign < 0 && v == INT64_MIN) fail("integer overflow");
    return Value::integer(sign < 0 ? -v : v);
  }
  fail("unknown operator \"" + node.text + "\" for " + kind_name(arg.kind));
}

Value Interpreter::eval_slice(const Value& object, const Node& slice, const EnvPtr& env) {
  if (!object.is_array() && !object.is_string()) fail("slice object must be an array or string");
  auto bound = [&](const NodePtr& n, bool& present) -> int64_t {
    present = false;
    if (!n) return 0;
    const Value v = eval(*n, env);
    if (v.is_undefined()) return 0;
    if (v.kind != Kind::kInt) fail("slice indices must be integers or undefined");
    present = true;
    return v.i;
  };
  bool has_start = false, has_stop = false, has_step = false;
  int64_t start = bound(slice.a, has_start), stop = bound(slice.b, has_stop), step = bound(slice.c, has_step);
  if (!has_step) step = 1;
  if (step == 0) fail("slice step cannot be zero");
  std::vector<std::string> chars;
  if (object.is_string()) chars = code_points(object.s);
  const int64_t n = object.is_string() ? static_cast<int64_t>(chars.size()) : static_cast<int64_t>(object.arr->size());
  if (step > 0) {
    start = !has_start ? 0 : start < 0 ? std::max(n + start, int64_t{0}) : std::min(start, n);
    stop = !has_stop ? n : stop < 0 ? std::max(n + stop, int64_t{0}) : std::min(stop, n);
  } else {
    start = !has_start ? n - 1 : start < 0 ? std::max(n + start, int64_t{-1}) : std::min(start, n - 1);
    stop = !has_stop ? -1 : stop < -1 ? std::max(n + stop, int64_t{-1}) : std::min(stop, n - 1);
  }
  const int64_t dir = step > 0 ? 1 : -1;
  if (object.is_string()) {
    std::string out;
    for (int64_t k = start; dir * k < dir * stop; k += step) out += chars[static_cast<size_t>(k)];
    return Value::string(std::move(out));
  }
  Array out;
  for (int64_t k = start; dir * k < dir * stop; k += step) out.push_back((*object.arr)[static_cast<size_t>(k)]);
  return Value::array(std::move(out));
}

Value Interpreter::eval_member(const Node& node, const EnvPtr& env) {
  const Value object = eval(*node.a, env);
  Value property;
  if (node.negate) {  // computed: obj[expr]
    if (node.b->type == NodeType::kSlice) return eval_slice(object, *node.b, env);
    property = eval(*node.b, env);
  } else if (node.b->type == NodeType::kInt) {
    property = Value::integer(node.b->int_value);
  } else {
    property = Value::string(node.b->text);
  }
  return member(object, property);
}

Value Interpreter::eval_set(const Node& node, const EnvPtr& env) {
  Value rhs = node.b ? eval(*node.b, env) : Value::string(block(node.body, env));
  const Node& target = *node.a;
  if (target.type == NodeType::kIdent) {
    env->set(target.text, std::move(rhs));
  } else if (target.type == NodeType::kTuple) {
    if (!rhs.is_array()) fail(std::string("cannot unpack non-iterable type in set: ") + kind_name(rhs.kind));
    if (rhs.arr->size() != target.body.size()) {
      fail(std::string("too ") + (target.body.size() > rhs.arr->size() ? "few" : "many") + " items to unpack in set");
    }
    for (size_t k = 0; k < target.body.size(); ++k) {
      if (target.body[k]->type != NodeType::kIdent) fail("cannot unpack to a non-identifier in set");
      env->set(target.body[k]->text, (*rhs.arr)[k]);
    }
  } else if (target.type == NodeType::kMember) {
    const Value object = eval(*target.a, env);
    if (object.kind != Kind::kNamespace) fail("cannot assign an attribute on a non-namespace object");
    if (target.negate || target.b->type != NodeType::kIdent) fail("cannot assign to a member with a non-identifier property");
    object.obj->set(target.b->text, std::move(rhs));
  } else {
    fail("invalid target of an assignment");
  }
  return Value::null();
}

Value Interpreter::eval_for(const Node& node, const EnvPtr& env) {
  auto scope = std::make_shared<Env>(env);
  const Node* test = nullptr;
  Value iterable;
  if (node.b->type == NodeType::kSelect) {
    iterable = eval(*node.b->a, scope);
    test = node.b->b.get();
  } else {
    iterable = eval(*node.b, scope);
  }
  if (!iterable.is_array() && !iterable.is_object()) {
    fail(std::string("expected an iterable or object in a for loop: got ") + kind_name(iterable.kind), node.b->offset);
  }
  Array source;
  if (iterable.is_object()) {
    for (const auto& [k, v] : iterable.obj->entries) source.push_back(Value::string(k));
  } else {
    source = *iterable.arr;
  }
  auto bind = [&](const EnvPtr& target, const Value& current) {
    if (node.a->type == NodeType::kIdent) {
      target->set(node.a->text, current);
      return;
    }
    if (!current.is_array()) fail(std::string("cannot unpack non-iterable type: ") + kind_name(current.kind), node.a->offset);
    if (current.arr->size() != node.a->body.size()) {
      fail(std::string("too ") + (node.a->body.size() > current.arr->size() ? "few" : "many") + " items to unpack",
           node.a->offset);
    }
    for (size_t k = 0; k < node.a->body.size(); ++k) {
      if (node.a->body[k]->type != NodeType::kIdent) fail("cannot unpack to a non-identifier", node.a->offset);
      target->set(node.a->body[k]->text, (*current.arr)[k]);
    }
  };
  Array items;
  for (const auto& current : source) {
    count_iterations(1);
    if (test != nullptr) {
      auto loop_scope = std::make_shared<Env>(scope);
      bind(loop_scope, current);
      if (!eval(*test, loop_scope).truthy()) continue;
    }
    items.push_back(current);
  }
  std::string result;
  bool no_iteration = true;
  const auto n = static_cast<int64_t>(items.size());
  for (int64_t k = 0; k < n; ++k) {
    count_iterations(1);
    Object loop;
    loop.set("index", Value::integer(k + 1));
    loop.set("index0", Value::integer(k));
    loop.set("revindex", Value::integer(n - k));
    loop.set("revindex0", Value::integer(n - k - 1));
    loop.set("first", Value::boolean(k == 0));
    loop.set("last", Value::boolean(k == n - 1));
    loop.set("length", Value::integer(n));
    loop.set("previtem", k > 0 ? items[static_cast<size_t>(k - 1)] : Value::undefined());
    loop.set("nextitem", k < n - 1 ? items[static_cast<size_t>(k + 1)] : Value::undefined());
    scope->set("loop", Value::object(std::move(loop)));
    bind(scope, items[static_cast<size_t>(k)]);
    try {
      result += block(node.body, scope);
      check_string(result);
    } catch (const ContinueSignal&) {
      continue;
    } catch (const BreakSignal&) {
      break;
    }
    no_iteration = false;
  }
  if (no_iteration) result += block(node.alternate, scope);
  return Value::string(std::move(result));
}

void Interpreter::bind_macro_args(const std::string& name, const NodeList& params, const Node* body_owner,
                                  std::vector<Value>& args, const EnvPtr& scope) {
  bool wants_kwargs = false, wants_varargs = false;
  find_special_names(body_owner, wants_kwargs, wants_varargs);
  Object keywords;
  if (!args.empty() && args.back().kind == Kind::kKwargs) {
    keywords = *args.back().obj;
    args.pop_back();
  }
  std::vector<const Node*> pending;
  for (size_t k = 0; k < params.size(); ++k) {
    const Node& p = *params[k];
    const std::string& pname = p.text;  // kIdent name or kKeywordArg key
    bool given = k < args.size();
    Value v = given ? args[k] : Value::undefined();
    if (!given) {
      if (const Value* kw = keywords.find(pname)) {
        v = *kw;
        keywords.erase(pname);
        given = true;
      }
    }
    if (!given && p.type == NodeType::kKeywordArg) pending.push_back(&p);
    scope->set(pname, std::move(v));
  }
  if (wants_kwargs) {
    scope->set("kwargs", Value::object(std::move(keywords)));
  } else if (!keywords.entries.empty()) {
    fail("macro " + name + " takes no keyword argument '" + keywords.entries.front().first + "'");
  }
  if (wants_varargs) {
    Array rest;
    for (size_t k = params.size(); k < args.size(); ++k) rest.push_back(args[k]);
    scope->set("varargs", Value::array(std::move(rest)));
  } else if (args.size() > params.size()) {
    fail("macro " + name + " takes not more than " + std::to_string(params.size()) + " argument(s)");
  }
  for (const Node* p : pending) scope->set(p->text, eval(*p->b, scope));
}

Value Interpreter::eval_macro(const Node& node, const EnvPtr& env) {
  const Node* macro = &node;
  env->set(node.text, Value::function([macro](Interpreter& in, std::vector<Value>& args, const EnvPtr& caller_env) {
    auto scope = std::make_shared<Env>(caller_env);
    in.bind_macro_args("'" + macro->text + "'", macro->alternate, macro, args, scope);
    return Value::string(in.block(macro->body, scope));
  }));
  return Value::null();
}

Value Interpreter::eval_call_statement(const Node& node, const EnvPtr& env) {
  const Node* stmt = &node;
  EnvPtr defining_env = env;
  Value caller = Value::function([stmt, defining_env](Interpreter& in, std::vector<Value>& args, const EnvPtr&) {
    auto scope = std::make_shared<Env>(defining_env);
    in.bind_macro_args("None", stmt->alternate, stmt, args, scope);
    return Value::string(in.block(stmt->body, scope));
  });
  Args args = eval_args(node.a->body, env);
  args.positional.push_back(Value::object(std::move(args.keywords), Kind::kKwargs));
  const Value fn = eval(*node.a->a, env);
  auto call_env = std::make_shared<Env>(env);
  call_env->set("caller", std::move(caller));
  return call(fn, args.positional, call_env);
}

}  // namespace hearth::chat
