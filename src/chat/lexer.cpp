// Template source -> tokens, following @huggingface/jinja's lexer: preprocessing with
// lstrip_blocks and trim_blocks, `{%-`/`-%}` whitespace control, and a sign directly before a
// number becoming part of the literal unless the previous token is an operand.
#include <cctype>

#include "chat/syntax.h"
#include "chat/value.h"

namespace hearth::chat {
namespace {

// The preprocessed text with, for every byte, its offset in the original source.
struct Mapped {
  std::string text;
  std::vector<size_t> origin;
  void push(char c, size_t at) {
    text += c;
    origin.push_back(at);
  }
};

bool starts_block_tag(const Mapped& m, size_t k) {
  return k + 1 < m.text.size() && m.text[k] == '{' &&
         (m.text[k + 1] == '#' || m.text[k + 1] == '%' || m.text[k + 1] == '-');
}

Mapped preprocess(const std::string& source) {
  Mapped in;
  for (size_t k = 0; k < source.size(); ++k) in.push(source[k], k);
  if (!in.text.empty() && in.text.back() == '\n') {
    in.text.pop_back();
    in.origin.pop_back();
  }
  // lstrip_blocks: spaces and tabs from the start of a line up to a block or comment tag.
  Mapped lstripped;
  for (size_t k = 0; k < in.text.size();) {
    const bool line_start = k == 0 || in.text[k - 1] == '\n' || in.text[k - 1] == '\r';
    if (line_start) {
      size_t e = k;
      while (e < in.text.size() && (in.text[e] == ' ' || in.text[e] == '\t')) ++e;
      if (e > k && starts_block_tag(in, e)) k = e;
    }
    if (k < in.text.size()) {
      lstripped.push(in.text[k], in.origin[k]);
      ++k;
    }
  }
  // trim_blocks: the newline right after a block or comment tag.
  Mapped trimmed;
  const std::string& t = lstripped.text;
  for (size_t k = 0; k < t.size(); ++k) {
    trimmed.push(t[k], lstripped.origin[k]);
    if (t[k] == '}' && k >= 1 && (t[k - 1] == '#' || t[k - 1] == '%' || t[k - 1] == '-') && k + 1 < t.size() &&
        t[k + 1] == '\n') {
      ++k;
    }
  }
  // {% generation %} / {% endgeneration %} (assistant-mask markers) vanish, their whitespace
  // control applied to the whitespace around them.
  Mapped out;
  const std::string& s = trimmed.text;
  for (size_t k = 0; k < s.size();) {
    size_t ws_end = k;
    size_t len = 0;
    while (ws_end < s.size() && is_js_space_at(s, ws_end, &len)) ws_end += len;
    bool matched = false;
    if (s.compare(ws_end, 2, "{%") == 0) {
      size_t p = ws_end + 2;
      const bool lstrip = p < s.size() && s[p] == '-';
      if (lstrip) ++p;
      while (p < s.size() && is_js_space_at(s, p, &len)) p += len;
      if (s.compare(p, 3, "end") == 0) p += 3;
      if (s.compare(p, 10, "generation") == 0) {
        p += 10;
        while (p < s.size() && is_js_space_at(s, p, &len)) p += len;
        const bool rstrip = p < s.size() && s[p] == '-';
        if (rstrip) ++p;
        if (s.compare(p, 2, "%}") == 0) {
          p += 2;
          size_t after_end = p;
          while (after_end < s.size() && is_js_space_at(s, after_end, &len)) after_end += len;
          if (!lstrip) {
            for (size_t q = k; q < ws_end; ++q) out.push(s[q], trimmed.origin[q]);
          }
          if (!rstrip) {
            for (size_t q = p; q < after_end; ++q) out.push(s[q], trimmed.origin[q]);
          }
          k = after_end;
          matched = true;
        }
      }
    }
    if (!matched) {
      // Copy the whitespace run (if any) and one more character.
      const size_t stop = ws_end > k ? ws_end : k + 1;
      for (size_t q = k; q < stop && q < s.size(); ++q) out.push(s[q], trimmed.origin[q]);
      k = stop;
    }
  }
  return out;
}

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Lexer {
  Mapped src;
  size_t pos = 0;
  std::vector<Token> tokens;

  [[noreturn]] void fail(const std::string& message, size_t at) const {
    throw TemplateError(message, at < src.origin.size() ? src.origin[at] : (src.origin.empty() ? 0 : src.origin.back()));
  }
  char at(size_t k) const { return k < src.text.size() ? src.text[k] : '\0'; }
  bool ws(size_t k) const {
    size_t len = 0;
    return k < src.text.size() && is_js_space_at(src.text, k, &len);
  }
  void skip_ws() {
    size_t len = 0;
    while (pos < src.text.size() && is_js_space_at(src.text, pos, &len)) pos += len;
  }
  void push(Tok type, std::string value, size_t start) {
    tokens.push_back(Token{type, std::move(value), start < src.origin.size() ? src.origin[start] : src.origin.back()});
  }
  void strip_trailing_whitespace() {
    if (!tokens.empty() && tokens.back().type == Tok::kText) {
      tokens.back().value = js_trim(tokens.back().value, false, true);
      if (tokens.back().value.empty()) tokens.pop_back();
    }
  }

  // A quoted string's body up to the closing quote, with escapes decoded.
  std::string string_body(char quote) {
    std::string out;
    const size_t start = pos;
    while (true) {
      if (pos >= src.text.size()) fail("unterminated string literal", start);
      const char c = src.text[pos];
      if (c == quote) break;
      if (c == '\\') {
        ++pos;
        if (pos >= src.text.size()) fail("unexpected end of input in string literal", start);
        const char e = src.text[pos++];
        if (e == 'x' || e == 'u') {
          const size_t n = e == 'x' ? 2 : 4;
          const std::string hex = src.text.substr(pos, n);
          if (hex.size() != n || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
            fail("invalid hexadecimal escape sequence \\" + std::string(1, e) + hex, pos);
          }
          append_utf8(out, static_cast<uint32_t>(std::stoul(hex, nullptr, 16)));
          pos += n;
          continue;
        }
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'v': out += '\v'; break;
          case '\'': out += '\''; break;
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          default: fail(std::string("unexpected escaped character: ") + e, pos - 1);
        }
        continue;
      }
      out += c;
      ++pos;
    }
    ++pos;  // closing quote
    return out;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string digits() {
    const size_t start = pos;
    while (is_digit(at(pos))) ++pos;
    return src.text.substr(start, pos - start);
  }

  void run() {
    const std::string& s = src.text;
    int curly_depth = 0;
    while (pos < s.size()) {
      const bool text_allowed = tokens.empty() || tokens.back().type == Tok::kCloseStatement ||
                                tokens.back().type == Tok::kCloseExpression || tokens.back().type == Tok::kComment;
      if (text_allowed) {
        const size_t start = pos;
        while (pos < s.size() && !(s[pos] == '{' && (at(pos + 1) == '%' || at(pos + 1) == '{' || at(pos + 1) == '#'))) {
          ++pos;
        }
        if (pos > start) {
          push(Tok::kText, s.substr(start, pos - start), start);
          continue;
        }
      }
      if (s[pos] == '{' && at(pos + 1) == '#') {
        const size_t start = pos;
        pos += 2;
        const bool strip_before = at(pos) == '-';
        if (strip_before) ++pos;
        const size_t body = pos;
        while (!(at(pos) == '#' && at(pos + 1) == '}')) {
          if (pos + 2 >= s.size()) fail("missing end of comment tag", start);
          ++pos;
        }
        std::string comment = s.substr(body, pos - body);
        const bool strip_after = !comment.empty() && comment.back() == '-';
        if (strip_after) comment.pop_back();
        if (strip_before) strip_trailing_whitespace();
        push(Tok::kComment, comment, start);
        pos += 2;
        if (strip_after) skip_ws();
        continue;
      }
      if (s.compare(pos, 3, "{%-") == 0) {
        strip_trailing_whitespace();
        push(Tok::kOpenStatement, "{%", pos);
        pos += 3;
        continue;
      }
      if (s.compare(pos, 3, "{{-") == 0) {
        strip_trailing_whitespace();
        push(Tok::kOpenExpression, "{{", pos);
        curly_depth = 0;
        pos += 3;
        continue;
      }
      skip_ws();
      if (pos >= s.size()) fail("unexpected end of input inside a tag", pos);
      if (s.compare(pos, 3, "-%}") == 0) {
        push(Tok::kCloseStatement, "%}", pos);
        pos += 3;
        skip_ws();
        continue;
      }
      if (s.compare(pos, 3, "-}}") == 0) {
        push(Tok::kCloseExpression, "}}", pos);
        pos += 3;
        skip_ws();
        continue;
      }
      const char c = s[pos];
      if (c == '-' || c == '+') {
        if (tokens.empty() || tokens.back().type == Tok::kText) fail(std::string("unexpected character: ") + c, pos);
        const Tok last = tokens.back().type;
        if (last != Tok::kIdent && last != Tok::kNumber && last != Tok::kString && last != Tok::kCloseParen &&
            last != Tok::kCloseBracket) {
          const size_t start = pos;
          ++pos;
          std::string num = digits();
          if (!num.empty() && at(pos) == '.' && is_digit(at(pos + 1))) {
            ++pos;
            num += "." + digits();
          }
          push(num.empty() ? Tok::kUnary : Tok::kNumber, std::string(1, c) + num, start);
          continue;
        }
      }
      if (lex_operator(curly_depth)) continue;
      if (c == '\'' || c == '"') {
        const size_t start = pos;
        ++pos;
        push(Tok::kString, string_body(c), start);
        continue;
      }
      if (is_digit(c)) {
        const size_t start = pos;
        std::string num = digits();
        if ((tokens.empty() || tokens.back().type != Tok::kDot) && at(pos) == '.' && is_digit(at(pos + 1))) {
          ++pos;
          num += "." + digits();
        }
        push(Tok::kNumber, num, start);
        continue;
      }
      if (is_word(c)) {
        const size_t start = pos;
        while (pos < s.size() && is_word(s[pos])) ++pos;
        push(Tok::kIdent, s.substr(start, pos - start), start);
        continue;
      }
      fail(std::string("unexpected character '") + c + "'", pos);
    }
  }

  bool lex_operator(int& curly_depth) {
    static const std::pair<const char*, Tok> kTable[] = {
        {"{%", Tok::kOpenStatement}, {"%}", Tok::kCloseStatement}, {"{{", Tok::kOpenExpression},
        {"}}", Tok::kCloseExpression}, {"(", Tok::kOpenParen}, {")", Tok::kCloseParen}, {"{", Tok::kOpenCurly},
        {"}", Tok::kCloseCurly}, {"[", Tok::kOpenBracket}, {"]", Tok::kCloseBracket}, {",", Tok::kComma},
        {".", Tok::kDot}, {":", Tok::kColon}, {"|", Tok::kPipe}, {"<=", Tok::kComparison},
        {">=", Tok::kComparison}, {"==", Tok::kComparison}, {"!=", Tok::kComparison}, {"<", Tok::kComparison},
        {">", Tok::kComparison}, {"+", Tok::kAdditive}, {"-", Tok::kAdditive}, {"~", Tok::kAdditive},
        {"**", Tok::kPower}, {"*", Tok::kMultiplicative}, {"//", Tok::kMultiplicative},
        {"/", Tok::kMultiplicative}, {"%", Tok::kMultiplicative}, {"=", Tok::kEquals},
    };
    for (const auto& [seq, type] : kTable) {
      const std::string_view sv(seq);
      if (sv == "}}" && curly_depth > 0) continue;
      if (src.text.compare(pos, sv.size(), sv) != 0) continue;
      push(type, std::string(sv), pos);
      if (type == Tok::kOpenExpression) curly_depth = 0;
      if (type == Tok::kOpenCurly) ++curly_depth;
      if (type == Tok::kCloseCurly) --curly_depth;
      pos += sv.size();
      return true;
    }
    return false;
  }
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  Lexer lexer;
  lexer.src = preprocess(source);
  lexer.run();
  return std::move(lexer.tokens);
}

}  // namespace hearth::chat
