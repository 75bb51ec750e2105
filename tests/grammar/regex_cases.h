// Acceptance cases for grammar/regex.h, shared by the C++ tests and a JavaScript cross-check.
// target "raw": the whole text must match, as new RegExp("^(?:" + pattern + ")$", "u").
// target "json": the strings are DECODED values; a match is new RegExp(pattern, "u").test(value),
// and the grammar sees the value's JSON encoding (without the quotes).
// Every pattern is valid ECMAScript with the u flag. No string contains U+0000 (C strings).
#pragma once

namespace hearth::grammar::test {

struct RegexCase {
  const char* pattern;
  const char* target;  // "raw" or "json"
  const char* matching;
  const char* non_matching;
};

inline constexpr RegexCase kRegexCases[] = {
    // literals, alternation, groups
    {R"(abc)", "raw", "abc", "abcd"},
    {R"(a|b|)", "raw", "", "ab"},
    {R"((?:a|bc)d)", "raw", "bcd", "abcd"},
    {R"((?:))", "raw", "", "a"},
    {R"((?<year>\d{4})-(?<m>\d\d))", "raw", "2024-05", "2024-5"},
    {R"(日本語?)", "raw", "日本", "日本語語"},
    {R"("\\)", "raw", "\"\\", "\""},
    // quantifiers and bounds
    {R"(colou?r)", "raw", "color", "colouur"},
    {R"(a*b+)", "raw", "aaab", "aaa"},
    {R"((ab){2})", "raw", "abab", "ab"},
    {R"((ab){2,})", "raw", "ababab", "ab"},
    {R"(x{2,4})", "raw", "xxxx", "xxxxx"},
    {R"(x{2,4})", "raw", "xx", "x"},
    {R"(x{0,1}y)", "raw", "y", "xxy"},
    {R"(a{0})", "raw", "", "a"},
    {R"(a{3}?)", "raw", "aaa", "aa"},
    {R"(a+?b*?c??)", "raw", "aab", "b"},
    {R"((a+)+b)", "raw", "aaab", "aaa"},
    {R"((a|a)*c)", "raw", "aac", "aab"},
    {R"((a*)*b)", "raw", "aab", "ac"},
    {R"((a?b?)+c)", "raw", "abbac", "abca"},
    // classes
    {R"([a-c]+)", "raw", "abccba", "abd"},
    {R"([^a-c])", "raw", "d", "b"},
    {R"([^a-c])", "raw", "\n", "ab"},
    {R"([\d\s_-]+)", "raw", "1 _-2", "1a"},
    {R"([a-])", "raw", "-", "b"},
    {R"([--0])", "raw", "/", "a"},
    {R"([\]\[\-\^]+)", "raw", "]-[^", "a"},
    {R"([😀-😂])", "raw", "😁", "😃"},
    {R"([^])", "raw", "\n", "ab"},
    // class escapes and dot
    {R"(\d{3}-\d{4})", "raw", "555-1234", "555-12345"},
    {R"(\D\W\S)", "raw", "a!x", "1!x"},
    {R"(\w+)", "raw", "hello_World9", "héllo"},
    {R"(\s+)", "raw", " \t\n\r\v\f\u00a0\u2028\u3000\ufeff", " x"},
    {R"(.)", "raw", "é", "\n"},
    {R"(.+)", "raw", "a😀b", "a\u2028b"},
    {R"(.)", "raw", "\U0001F600", "\r"},
    // character escapes
    {R"(\x41\u0042\u{1F600})", "raw", "AB😀", "AB"},
    {R"(\uD83D\uDE00)", "raw", "😀", "x"},
    {R"(\t\n\r\f\v)", "raw", "\t\n\r\f\v", "\t\n\r\f"},
    {R"(\cJ)", "raw", "\n", "J"},
    {R"(\.\*\+\?\(\)\[\]\{\}\|\/\^\$\\)", "raw", ".*+?()[]{}|/^$\\", "x"},
    // anchors (no-ops in raw mode)
    {R"(^abc$)", "raw", "abc", "xabc"},
    {R"(^a|b$)", "raw", "b", "ab"},
    // JSON string content: unanchored unless ^ / $
    {R"(abc)", "json", "xxabcxx", "ab c"},
    {R"(^abc)", "json", "abcxx", "xabc"},
    {R"(abc$)", "json", "xxabc", "abcx"},
    {R"(^\d+$)", "json", "123", "12a"},
    {R"(^a|b$)", "json", "ax", "xa"},
    {R"(^$)", "json", "", "a"},
    {R"(^(a|)$)", "json", "", "aa"},
    {R"(^a{2,}$)", "json", "aaaa", "a"},
    {R"(^\w{2,3}$)", "json", "ab_", "abcd"},
    {R"(^[a-z]+(?:-[a-z]+)*$)", "json", "foo-bar", "foo--bar"},
    {R"(^(\([0-9]{3}\))?[0-9]{3}-[0-9]{4}$)", "json", "(888)555-1212", "(800)FLOWERS"},
    {R"(^(?:[01]?\d|2[0-3]):[0-5]\d$)", "json", "23:59", "24:00"},
    // JSON: quotes, backslashes and control characters are escaped in the encoding
    {R"(")", "json", "say \"hi\"", "say hi"},
    {R"(^\\+$)", "json", "\\\\", "\\a"},
    {R"(^[^a]$)", "json", "\"", "a"},
    {R"(^[^a]$)", "json", "\\", "ab"},
    {R"(^[^a]$)", "json", "\x1b", "a"},
    {R"(^.$)", "json", "\t", "\n"},
    {R"(^.{3}$)", "json", "a\"\\", "ab"},
    {R"(^[\s]+$)", "json", " \t\n\r", "a"},
    {R"(^\x01\x1f$)", "json", "\x01\x1f", "\x01"},
    {R"(^[\x00-\x1f]+$)", "json", "\x02\x1b\x0b\b", "a"},
    {R"(^[^\x00-\x1f"\\]*$)", "json", "plain text", "quote\""},
    {R"(^[^"]*$)", "json", "no quotes \\ here", "a\"b"},
    {R"(^[\b]$)", "json", "\b", "b"},
    {R"(^\/\d$)", "json", "/1", "\\1"},
    {R"("[^"\\]*")", "json", "x\"quoted\"y", "\"a\\\"b"},
    // JSON: non-ASCII
    {R"(^é+ü$)", "json", "ééü", "eü"},
    {R"(😀{2})", "json", "x😀😀y", "😀x😀"},
    {R"(^\u{10FFFF}$)", "json", "\U0010FFFF", "a"},
    {R"(^[\u0080-\uFFFF]+$)", "json", "é中", "a"},
    {R"(^[\u4e00-\u9fa5]{2,4}$)", "json", "中文", "中"},
    {R"(^[^\u0000-\u007f]$)", "json", "😀", "z"},
};

}  // namespace hearth::grammar::test
