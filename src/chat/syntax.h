// Tokens and the syntax tree of the chat-template engine. The lexer (lexer.cpp) applies the
// reference's preprocessing (one trailing newline dropped, lstrip_blocks and trim_blocks on, as
// Hugging Face renders chat templates) and whitespace control; the parser (parser.cpp) mirrors the
// reference's grammar, including its precedences (`is` tests bind tighter than `*`, and
// comparisons chain left to right instead of Python's pairwise chaining).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hearth::chat {

enum class Tok : uint8_t {
  kText, kNumber, kString, kIdent, kEquals, kOpenParen, kCloseParen, kOpenStatement, kCloseStatement,
  kOpenExpression, kCloseExpression, kOpenBracket, kCloseBracket, kOpenCurly, kCloseCurly, kComma, kDot,
  kColon, kPipe, kAdditive, kMultiplicative, kPower, kComparison, kUnary, kComment,
};

struct Token {
  Tok type;
  std::string value;
  size_t offset;  // byte offset of the token in the original template source
};

// Throws TemplateError on a malformed template.
std::vector<Token> tokenize(const std::string& source);

enum class NodeType : uint8_t {
  // statements
  kProgram, kIf, kFor, kBreak, kContinue, kSet, kMacro, kCallStatement, kFilterStatement, kComment,
  // expressions
  kText, kInt, kFloat, kString, kIdent, kArray, kTuple, kObject, kMember, kCall, kBinary, kUnary,
  kFilter, kTest, kSelect, kTernary, kSlice, kKeywordArg, kSpread, kKeywordSpread,
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

// One node type with named slots; which slots a node uses is listed per type below.
struct Node {
  NodeType type;
  size_t offset = 0;  // where in the source the node starts (error messages)
  std::string text;   // kText/kString value, kIdent name, operator, kMacro name, test name
  int64_t int_value = 0;
  double float_value = 0;
  bool negate = false;  // kTest: `is not`; kMember: computed (`[...]`)
  NodePtr a, b, c;      // kIf test; kFor loopvar/iterable; kSet assignee/value; kMember object/property;
                        // kCall callee; kBinary left/right; kUnary/kFilter/kTest operand (a);
                        // kFilter filter (b: kIdent or kCall); kSelect lhs/test; kTernary cond/true/false;
                        // kSlice start/stop/step; kKeywordArg key/value; kSpread argument;
                        // kCallStatement call (a); kFilterStatement filter (a)
  NodeList body;       // statement bodies; kArray/kTuple items; kCall args; kMacro parameters (params)
  NodeList alternate;  // kIf else branch; kFor else block; kMacro/kCallStatement parameters
  std::vector<std::pair<NodePtr, NodePtr>> pairs;  // kObject
};

// Throws TemplateError.
NodePtr parse(const std::vector<Token>& tokens);

}  // namespace hearth::chat
