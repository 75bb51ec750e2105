// The tree-walking evaluator (interpreter.cpp: statements and expressions; builtins.cpp: filters,
// tests, string and dict methods, global functions). Internal to src/chat; the public API is
// template.h.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/syntax.h"
#include "chat/template.h"
#include "chat/value.h"

namespace hearth::chat {

// A variable scope. Loops and macro calls open a child scope; `set` writes the innermost one.
struct Env {
  std::shared_ptr<Env> parent;
  std::unordered_map<std::string, Value> vars;

  explicit Env(std::shared_ptr<Env> p = nullptr) : parent(std::move(p)) {}
  Value lookup(const std::string& name) const;
  void set(const std::string& name, Value value) { vars[name] = std::move(value); }
};
using EnvPtr = std::shared_ptr<Env>;

class Interpreter {
 public:
  Interpreter(const RenderLimits& limits, const std::tm& now) : limits_(limits), now_(now) {}

  // Declares the globals (true/false/none, namespace, range, raise_exception, strftime_now).
  void setup_globals(Env& env);
  std::string run(const Node& program, const EnvPtr& env);

  Value eval(const Node& node, const EnvPtr& env);
  std::string block(const NodeList& body, const EnvPtr& env);
  Value call(const Value& fn, std::vector<Value>& args, const EnvPtr& env);

  // Resource accounting: loop iterations, bytes produced, call depth.
  void count_iterations(int64_t n);
  void count_bytes(size_t n);
  void check_string(const std::string& s) const;
  void check_array(size_t n) const;

  // builtins.cpp
  Value apply_filter(const Value& operand, const Node& filter, const EnvPtr& env);
  bool apply_test(const std::string& name, const Value& operand, const Value* arg, size_t offset) const;
  Value member(const Value& object, const Value& property);
  std::string strftime(const std::string& format) const;

 private:
  struct Args {
    std::vector<Value> positional;
    Object keywords;
  };
  Args eval_args(const NodeList& args, const EnvPtr& env);

  Value eval_binary(const Node& node, const EnvPtr& env);
  Value eval_unary(const Node& node, const EnvPtr& env);
  Value eval_member(const Node& node, const EnvPtr& env);
  Value eval_slice(const Value& object, const Node& slice, const EnvPtr& env);
  Value eval_call(const Node& node, const EnvPtr& env);
  Value eval_set(const Node& node, const EnvPtr& env);
  Value eval_for(const Node& node, const EnvPtr& env);
  Value eval_macro(const Node& node, const EnvPtr& env);
  Value eval_call_statement(const Node& node, const EnvPtr& env);
  void bind_macro_args(const std::string& name, const NodeList& params, const Node* body_owner,
                       std::vector<Value>& args, const EnvPtr& scope);

  RenderLimits limits_;
  std::tm now_;
  int depth_ = 0;
  int call_depth_ = 0;
  int64_t iterations_ = 0;
  size_t bytes_ = 0;
};

// Compare as the reference's sort does (numbers with numbers, strings case-insensitively unless
// case_sensitive); throws for other pairs.
int compare_values(const Value& a, const Value& b, bool case_sensitive);

}  // namespace hearth::chat
