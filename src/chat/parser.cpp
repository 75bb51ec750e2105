// Tokens -> syntax tree: a recursive-descent parser with @huggingface/jinja's grammar. Nesting is
// bounded (kMaxDepth) so a hostile template cannot overflow the stack.
#include <set>

#include "chat/syntax.h"
#include "chat/value.h"

namespace hearth::chat {
namespace {

constexpr int kMaxDepth = 200;

NodePtr make(NodeType type, size_t offset) {
  auto n = std::make_unique<Node>();
  n->type = type;
  n->offset = offset;
  return n;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  NodePtr program() {
    auto prog = make(NodeType::kProgram, 0);
    while (cur_ < t_.size()) prog->body.push_back(any());
    return prog;
  }

 private:
  const std::vector<Token>& t_;
  size_t cur_ = 0;
  int depth_ = 0;

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth) p.fail("template nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
  };

  [[noreturn]] void fail(const std::string& message) const {
    const size_t at = cur_ < t_.size() ? t_[cur_].offset : (t_.empty() ? 0 : t_.back().offset);
    throw TemplateError(message, at);
  }
  const Token& peek() const {
    if (cur_ >= t_.size()) fail("unexpected end of template");
    return t_[cur_];
  }
  size_t here() const { return cur_ < t_.size() ? t_[cur_].offset : (t_.empty() ? 0 : t_.back().offset); }
  bool is(Tok type, size_t ahead = 0) const { return cur_ + ahead < t_.size() && t_[cur_ + ahead].type == type; }
  bool is_ident(const char* name, size_t ahead = 0) const {
    return is(Tok::kIdent, ahead) && t_[cur_ + ahead].value == name;
  }
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(Tok::kOpenStatement) || !is(Tok::kIdent, 1)) return false;
    for (const char* n : names) {
      if (t_[cur_ + 1].value == n) return true;
    }
    return false;
  }
  const Token& expect(Tok type, const char* what) {
    if (!is(type)) fail(std::string("expected ") + what);
    return t_[cur_++];
  }
  void expect_ident(const char* name) {
    if (!is_ident(name)) fail(std::string("expected '") + name + "'");
    ++cur_;
  }
  // Parses statements until one of `names` opens ({% name ...), failing at the end of input.
  void block_until(NodeList& out, std::initializer_list<const char*> names, const char* opener) {
    while (!is_statement(names)) {
      if (cur_ >= t_.size()) fail(std::string("unclosed '") + opener + "' block");
      out.push_back(any());
    }
  }

  NodePtr any() {
    DepthGuard guard(*this);
    const Token& tok = peek();
    switch (tok.type) {
      case Tok::kComment: {
        ++cur_;
        return make(NodeType::kComment, tok.offset);
      }
      case Tok::kText: {
        auto n = make(NodeType::kText, tok.offset);
        n->text = tok.value;
        ++cur_;
        return n;
      }
      case Tok::kOpenStatement: return statement();
      case Tok::kOpenExpression: {
        ++cur_;
        NodePtr e = expression();
        expect(Tok::kCloseExpression, "'}}'");
        return e;
      }
      default: fail("unexpected token '" + tok.value + "'");
    }
  }

  NodePtr statement() {
    expect(Tok::kOpenStatement, "'{%'");
    if (!is(Tok::kIdent)) fail("expected a statement name after '{%'");
    const Token& name_tok = t_[cur_++];
    const std::string& name = name_tok.value;
    const size_t at = name_tok.offset;
    NodePtr result;
    if (name == "set") {
      result = set_statement(at);
    } else if (name == "if") {
      result = if_statement(at);
      expect(Tok::kOpenStatement, "'{%'");
      expect_ident("endif");
      expect(Tok::kCloseStatement, "'%}'");
    } else if (name == "macro") {
      result = make(NodeType::kMacro, at);
      NodePtr id = primary();
      if (id->type != NodeType::kIdent) fail("expected a macro name");
      result->text = id->text;
      args(result->alternate, true);
      expect(Tok::kCloseStatement, "'%}'");
      block_until(result->body, {"endmacro"}, "macro");
      expect(Tok::kOpenStatement, "'{%'");
      expect_ident("endmacro");
      expect(Tok::kCloseStatement, "'%}'");
    } else if (name == "for") {
      result = for_statement(at);
      expect(Tok::kOpenStatement, "'{%'");
      expect_ident("endfor");
      expect(Tok::kCloseStatement, "'%}'");
    } else if (name == "call") {
      result = make(NodeType::kCallStatement, at);
      if (is(Tok::kOpenParen)) args(result->alternate, true);
      NodePtr callee = primary();
      if (callee->type != NodeType::kIdent) fail("expected an identifier after 'call'");
      auto call = make(NodeType::kCall, callee->offset);
      call->a = std::move(callee);
      args(call->body, false);
      result->a = std::move(call);
      expect(Tok::kCloseStatement, "'%}'");
      block_until(result->body, {"endcall"}, "call");
      expect(Tok::kOpenStatement, "'{%'");
      expect_ident("endcall");
      expect(Tok::kCloseStatement, "'%}'");
    } else if (name == "break" || name == "continue") {
      result = make(name == "break" ? NodeType::kBreak : NodeType::kContinue, at);
      expect(Tok::kCloseStatement, "'%}'");
    } else if (name == "filter") {
      result = make(NodeType::kFilterStatement, at);
      NodePtr filter = primary();
      if (filter->type == NodeType::kIdent && is(Tok::kOpenParen)) filter = call_expression(std::move(filter));
      result->a = std::move(filter);
      expect(Tok::kCloseStatement, "'%}'");
      block_until(result->body, {"endfilter"}, "filter");
      expect(Tok::kOpenStatement, "'{%'");
      expect_ident("endfilter");
      expect(Tok::kCloseStatement, "'%}'");
    } else {
      cur_--;
      fail("unknown statement '" + name + "'");
    }
    return result;
  }

  NodePtr set_statement(size_t at) {
    auto n = make(NodeType::kSet, at);
    n->a = expression_sequence(false);
    if (is(Tok::kEquals)) {
      ++cur_;
      n->b = expression_sequence(false);
    } else {
      expect(Tok::kCloseStatement, "'%}' or '='");
      block_until(n->body, {"endset"}, "set");
      expect(Tok::kOpenStatement, "'{%'");
      expect_ident("endset");
    }
    expect(Tok::kCloseStatement, "'%}'");
    return n;
  }

  NodePtr if_statement(size_t at) {
    DepthGuard guard(*this);
    auto n = make(NodeType::kIf, at);
    n->a = expression();
    expect(Tok::kCloseStatement, "'%}'");
    block_until(n->body, {"elif", "else", "endif"}, "if");
    if (is_statement({"elif"})) {
      const size_t elif_at = t_[cur_ + 1].offset;
      cur_ += 2;
      n->alternate.push_back(if_statement(elif_at));
    } else if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::kCloseStatement, "'%}'");
      block_until(n->alternate, {"endif"}, "if");
    }
    return n;
  }

  NodePtr for_statement(size_t at) {
    auto n = make(NodeType::kFor, at);
    n->a = expression_sequence(true);
    if (n->a->type != NodeType::kIdent && n->a->type != NodeType::kTuple) {
      fail("expected an identifier or tuple as the loop variable");
    }
    if (!is_ident("in")) fail("expected 'in' after the loop variable");
    ++cur_;
    n->b = expression();
    expect(Tok::kCloseStatement, "'%}'");
    block_until(n->body, {"endfor", "else"}, "for");
    if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::kCloseStatement, "'%}'");
      block_until(n->alternate, {"endfor"}, "for");
    }
    return n;
  }

  NodePtr expression_sequence(bool primary_only) {
    const size_t at = here();
    NodeList items;
    items.push_back(primary_only ? primary() : expression());
    const bool tuple = is(Tok::kComma);
    while (tuple) {
      ++cur_;
      items.push_back(primary_only ? primary() : expression());
      if (!is(Tok::kComma)) break;
    }
    if (!tuple) return std::move(items[0]);
    auto n = make(NodeType::kTuple, at);
    n->body = std::move(items);
    return n;
  }

  NodePtr expression() {
    DepthGuard guard(*this);
    return if_expression();
  }

  NodePtr if_expression() {
    NodePtr a = logical_or();
    if (is_ident("if")) {
      const size_t at = here();
      ++cur_;
      NodePtr test = logical_or();
      if (is_ident("else")) {
        ++cur_;
        auto n = make(NodeType::kTernary, at);
        n->a = std::move(test);
        n->b = std::move(a);
        n->c = if_expression();
        return n;
      }
      auto n = make(NodeType::kSelect, at);
      n->a = std::move(a);
      n->b = std::move(test);
      return n;
    }
    return a;
  }

  NodePtr binary(std::string op, size_t at, NodePtr left, NodePtr right) {
    auto n = make(NodeType::kBinary, at);
    n->text = std::move(op);
    n->a = std::move(left);
    n->b = std::move(right);
    return n;
  }

  NodePtr logical_or() {
    NodePtr left = logical_and();
    while (is_ident("or")) {
      const size_t at = t_[cur_++].offset;
      left = binary("or", at, std::move(left), logical_and());
    }
    return left;
  }

  NodePtr logical_and() {
    NodePtr left = logical_not();
    while (is_ident("and")) {
      const size_t at = t_[cur_++].offset;
      left = binary("and", at, std::move(left), logical_not());
    }
    return left;
  }

  NodePtr logical_not() {
    if (is_ident("not")) {
      DepthGuard guard(*this);
      const size_t at = t_[cur_++].offset;
      auto n = make(NodeType::kUnary, at);
      n->text = "not";
      n->a = logical_not();
      return n;
    }
    return comparison();
  }

  NodePtr comparison() {
    NodePtr left = additive();
    while (true) {
      std::string op;
      const size_t at = here();
      if (is_ident("not") && is_ident("in", 1)) {
        op = "not in";
        cur_ += 2;
      } else if (is_ident("in")) {
        op = "in";
        ++cur_;
      } else if (is(Tok::kComparison)) {
        op = t_[cur_++].value;
      } else {
        break;
      }
      left = binary(op, at, std::move(left), additive());
    }
    return left;
  }

  NodePtr additive() {
    NodePtr left = multiplicative();
    while (is(Tok::kAdditive)) {
      const Token& op = t_[cur_++];
      left = binary(op.value, op.offset, std::move(left), multiplicative());
    }
    return left;
  }

  NodePtr multiplicative() {
    NodePtr left = power();
    while (is(Tok::kMultiplicative)) {
      const Token& op = t_[cur_++];
      left = binary(op.value, op.offset, std::move(left), power());
    }
    return left;
  }

  NodePtr power() {
    NodePtr left = test_expression();
    while (is(Tok::kPower)) {
      const Token& op = t_[cur_++];
      left = binary(op.value, op.offset, std::move(left), test_expression());
    }
    return left;
  }

  NodePtr test_expression() {
    NodePtr operand = filter_expression();
    while (is_ident("is")) {
      const size_t at = t_[cur_++].offset;
      const bool negate = is_ident("not");
      if (negate) ++cur_;
      NodePtr test = primary();
      if (test->type != NodeType::kIdent) fail("expected a test name after 'is'");
      auto n = make(NodeType::kTest, at);
      n->negate = negate;
      n->text = test->text;
      n->a = std::move(operand);
      operand = std::move(n);
    }
    return operand;
  }

  NodePtr filter_expression() {
    NodePtr operand = unary_sign();
    while (is(Tok::kPipe)) {
      const size_t at = t_[cur_++].offset;
      NodePtr filter = primary();
      if (filter->type != NodeType::kIdent) fail("expected a filter name after '|'");
      if (is(Tok::kOpenParen)) filter = call_expression(std::move(filter));
      auto n = make(NodeType::kFilter, at);
      n->a = std::move(operand);
      n->b = std::move(filter);
      operand = std::move(n);
    }
    return operand;
  }

  NodePtr unary_sign() {
    if (cur_ < t_.size() && (t_[cur_].type == Tok::kUnary || t_[cur_].type == Tok::kAdditive) &&
        (t_[cur_].value == "-" || t_[cur_].value == "+")) {
      DepthGuard guard(*this);
      const Token& op = t_[cur_++];
      auto n = make(NodeType::kUnary, op.offset);
      n->text = op.value;
      n->a = unary_sign();
      return n;
    }
    NodePtr member = member_expression(primary());
    if (is(Tok::kOpenParen)) return call_expression(std::move(member));
    return member;
  }

  NodePtr call_expression(NodePtr callee) {
    DepthGuard guard(*this);
    auto n = make(NodeType::kCall, callee->offset);
    n->a = std::move(callee);
    args(n->body, false);
    NodePtr expr = member_expression(std::move(n));
    if (is(Tok::kOpenParen)) expr = call_expression(std::move(expr));
    return expr;
  }

  // `( ... )` argument list of a call (parameters=false) or a macro's parameter list.
  void args(NodeList& out, bool parameters) {
    expect(Tok::kOpenParen, "'('");
    std::set<std::string> names;
    bool saw_keyword = false, saw_spread = false;
    while (!is(Tok::kCloseParen)) {
      if (cur_ >= t_.size()) fail("unclosed argument list");
      const bool kw_spread = is(Tok::kPower);
      const bool pos_spread = is(Tok::kMultiplicative) && t_[cur_].value == "*";
      if (parameters && (kw_spread || pos_spread)) fail("argument unpacking is not allowed in parameters");
      if (kw_spread) {
        auto n = make(NodeType::kKeywordSpread, t_[cur_++].offset);
        n->a = expression();
        out.push_back(std::move(n));
        if (is(Tok::kComma)) ++cur_;
        if (!is(Tok::kCloseParen)) fail("'**' must be applied to the final argument");
        break;
      }
      NodePtr arg;
      if (pos_spread) {
        if (saw_spread) fail("only one '*' argument unpacking is allowed");
        saw_spread = true;
        arg = make(NodeType::kSpread, t_[cur_++].offset);
        arg->a = expression();
      } else {
        arg = expression();
        if (is(Tok::kEquals)) {
          ++cur_;
          if (arg->type != NodeType::kIdent) fail("expected an identifier before '='");
          auto kw = make(NodeType::kKeywordArg, arg->offset);
          kw->text = arg->text;
          kw->a = std::move(arg);
          kw->b = expression();
          arg = std::move(kw);
        }
        if (parameters) {
          if (arg->type != NodeType::kIdent && arg->type != NodeType::kKeywordArg) {
            fail("expected an identifier in the parameter list");
          }
          if (!names.insert(arg->text).second) fail("duplicate parameter name '" + arg->text + "'");
        }
        if (arg->type == NodeType::kKeywordArg) {
          saw_keyword = true;
        } else if (saw_keyword) {
          fail(parameters ? "non-default parameter follows a default one" : "positional argument after keyword argument");
        } else if (saw_spread) {
          fail("positional argument after '*' unpacking");
        }
      }
      out.push_back(std::move(arg));
      if (is(Tok::kComma)) ++cur_;
    }
    ++cur_;  // ')'
  }

  NodePtr member_expression(NodePtr object) {
    while (is(Tok::kDot) || is(Tok::kOpenBracket)) {
      const Token& op = t_[cur_++];
      auto n = make(NodeType::kMember, op.offset);
      n->negate = op.type == Tok::kOpenBracket;  // computed
      if (n->negate) {
        n->b = subscript();
        expect(Tok::kCloseBracket, "']'");
      } else {
        n->b = primary();
        if (n->b->type != NodeType::kIdent && n->b->type != NodeType::kInt) {
          fail("expected an identifier or integer after '.'");
        }
      }
      n->a = std::move(object);
      object = std::move(n);
    }
    return object;
  }

  NodePtr subscript() {
    const size_t at = here();
    NodeList parts;  // nullptr: omitted slice bound
    bool slice = false;
    while (!is(Tok::kCloseBracket)) {
      if (cur_ >= t_.size()) fail("unclosed '['");
      if (is(Tok::kColon)) {
        parts.push_back(nullptr);
        ++cur_;
        slice = true;
      } else {
        parts.push_back(expression());
        if (is(Tok::kColon)) {
          ++cur_;
          slice = true;
        }
      }
    }
    if (parts.empty()) fail("expected an index or slice inside '[]'");
    if (!slice) return std::move(parts[0]);
    if (parts.size() > 3) fail("a slice takes at most 3 parts");
    auto n = make(NodeType::kSlice, at);
    n->a = parts.size() > 0 ? std::move(parts[0]) : nullptr;
    n->b = parts.size() > 1 ? std::move(parts[1]) : nullptr;
    n->c = parts.size() > 2 ? std::move(parts[2]) : nullptr;
    return n;
  }

  NodePtr primary() {
    DepthGuard guard(*this);
    const Token& tok = peek();
    ++cur_;
    switch (tok.type) {
      case Tok::kNumber: {
        if (tok.value.find('.') != std::string::npos) {
          auto n = make(NodeType::kFloat, tok.offset);
          n->float_value = std::stod(tok.value);
          return n;
        }
        auto n = make(NodeType::kInt, tok.offset);
        try {
          n->int_value = std::stoll(tok.value);
        } catch (const std::exception&) {
          cur_--;
          fail("integer literal out of range: " + tok.value);
        }
        return n;
      }
      case Tok::kString: {
        auto n = make(NodeType::kString, tok.offset);
        n->text = tok.value;
        while (is(Tok::kString)) n->text += t_[cur_++].value;
        return n;
      }
      case Tok::kIdent: {
        auto n = make(NodeType::kIdent, tok.offset);
        n->text = tok.value;
        return n;
      }
      case Tok::kOpenParen: {
        NodePtr e = expression_sequence(false);
        expect(Tok::kCloseParen, "')'");
        return e;
      }
      case Tok::kOpenBracket: {
        auto n = make(NodeType::kArray, tok.offset);
        while (!is(Tok::kCloseBracket)) {
          if (cur_ >= t_.size()) fail("unclosed '['");
          n->body.push_back(expression());
          if (is(Tok::kComma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      case Tok::kOpenCurly: {
        auto n = make(NodeType::kObject, tok.offset);
        while (!is(Tok::kCloseCurly)) {
          if (cur_ >= t_.size()) fail("unclosed '{'");
          NodePtr key = expression();
          expect(Tok::kColon, "':' between key and value");
          NodePtr value = expression();
          n->pairs.emplace_back(std::move(key), std::move(value));
          if (is(Tok::kComma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      default:
        cur_--;
        fail("unexpected token '" + tok.value + "'");
    }
  }
};

}  // namespace

NodePtr parse(const std::vector<Token>& tokens) { return Parser(tokens).program(); }

}  // namespace hearth::chat
