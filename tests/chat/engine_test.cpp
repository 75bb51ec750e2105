// Engine unit tests: expressions, filters, whitespace control, loops, macros, namespace, errors
// and resource limits. Expected strings follow @huggingface/jinja 0.5.11 (the reference).
#include <gtest/gtest.h>

#include "chat/chat_request.h"
#include "chat/template.h"

namespace hearth::chat {
namespace {

std::string render(const std::string& source, const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object()) {
  Result<Template> t = Template::parse(source);
  if (!t.ok()) return "PARSE ERROR: " + t.error().message;
  Result<std::string> out = t->render(ctx);
  if (!out.ok()) return "ERROR: " + out.error().message;
  return *out;
}

bool fails(const std::string& source, const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object()) {
  return render(source, ctx).find("ERROR") == 0 || render(source, ctx).find("PARSE ERROR") == 0;
}

TEST(ChatEngine, Literals) {
  EXPECT_EQ(render("{{ 'a\\n\\'b' }}|{{ \"x\" }}|{{ 1 + 2 }}|{{ 1.5 }}|{{ 2.0 }}|{{ true }}|{{ None }}|{{ False }}"),
            "a\n'b|x|3|1.5|2.0|true||false");
  EXPECT_EQ(render("{{ [1, 'a', [true]] }}"), "[1, \"a\", [true]]");
  EXPECT_EQ(render("{{ {'a': 1, 'b': [2]} }}"), "{\"a\": 1, \"b\": [2]}");
  EXPECT_EQ(render("{{ 'ab' 'cd' }}"), "abcd");
}

TEST(ChatEngine, Arithmetic) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ 7 / 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1 - -1 }} {{ 3 * 1.5 }}"),
            "3 3.5 1 -1 1024 2 4.5");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ 2.0 ~ true }}"), "a12true");
  EXPECT_EQ(render("{{ 'a' + 'b' }} {{ [1] + [2] }}"), "ab [1, 2]");
  EXPECT_TRUE(fails("{{ 'a' * 3 }}"));
  EXPECT_TRUE(fails("{{ 9223372036854775807 + 1 }}"));
}

TEST(ChatEngine, Comparisons) {
  EXPECT_EQ(render("{{ 1 == 1.0 }} {{ 'a' == 'a' }} {{ 'a' != 'b' }} {{ 2 > 1 }} {{ x == none }}"),
            "true true true true true");
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }}"),
            "true true true true");
  EXPECT_EQ(render("{{ not 1 == 2 }} {{ 1 and 'x' }} {{ 0 or 'y' }} {{ 'a' if false else 'b' }}"),
            "true x y b");
}

TEST(ChatEngine, Tests) {
  EXPECT_EQ(render("{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} "
                   "{{ {} is mapping }} {{ [] is iterable }} {{ 'a' is sequence }} {{ 1 is number }} "
                   "{{ true is boolean }} {{ false is false }} {{ 3 is odd }} {{ 4 is even }} {{ 1 is not string }}"),
            "false true true true true true true true true true true true true");
}

TEST(ChatEngine, MembersAndSlices) {
  const nlohmann::ordered_json ctx = {{"m", {{"role", "user"}, {"content", "héllo"}}}, {"xs", {1, 2, 3, 4}}};
  EXPECT_EQ(render("{{ m.role }} {{ m['content'] }} {{ m.missing is defined }} {{ xs[-1] }} {{ xs[1:3] }} {{ xs[::-1] }}", ctx),
            "user héllo false 4 [2, 3] [4, 3, 2, 1]");
  EXPECT_EQ(render("{{ m.content[1] }} {{ m.content[:2] }} {{ m.content|length }} {{ xs.length }}", ctx), "é hé 5 4");
  EXPECT_EQ(render("{{ m.get('role') }} {{ m.get('x', 'd') }} {{ m.items()|list|length }} {{ m.keys()|join(',') }}", ctx),
            "user d 2 role,content");
}

TEST(ChatEngine, StringMethods) {
  EXPECT_EQ(render("{{ '  a b  '.strip() }}|{{ ' a'.lstrip() }}|{{ 'a '.rstrip() }}|{{ 'ab'.upper() }}|{{ 'AB'.lower() }}"),
            "a b|a|a|AB|ab");
  EXPECT_EQ(render("{{ 'hello world'.title() }}|{{ 'abc'.startswith('a') }}|{{ 'abc'.endswith(('x', 'c')) }}"),
            "Hello World|true|true");
  EXPECT_EQ(render("{{ 'a,b,c'.split(',') }}|{{ 'a b  c'.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'aaa'.replace('a', 'b', 2) }}"),
            "[\"a\", \"b\", \"c\"]|[\"a\", \"b\", \"c\"]|[\"a\", \"b,c\"]|bba");
}

TEST(ChatEngine, Filters) {
  const nlohmann::ordered_json ctx = {
      {"tools", {{{"type", "function"}, {"name", "b"}}, {{"type", "code"}, {"name", "a"}}}},
      {"obj", {{"k", "v"}, {"n", 1}}}};
  EXPECT_EQ(render("{{ tools|selectattr('type', 'equalto', 'function')|map(attribute='name')|join(',') }}", ctx), "b");
  EXPECT_EQ(render("{{ tools|rejectattr('type', 'equalto', 'function')|map(attribute='name')|list }}", ctx), "[\"a\"]");
  EXPECT_EQ(render("{{ tools|map(attribute='name')|sort|first }} {{ [3,1,2]|sort|last }} {{ [1,1,2]|unique|length }}", ctx),
            "a 3 2");
  EXPECT_EQ(render("{{ obj|tojson }}|{{ obj|tojson(indent=2) }}|{{ 'é\"'|tojson }}|{{ 'é'|tojson(ensure_ascii=true) }}", ctx),
            "{\"k\": \"v\", \"n\": 1}|{\n  \"k\": \"v\",\n  \"n\": 1\n}|\"é\\\"\"|\"\\u00e9\"");
  EXPECT_EQ(render("{{ obj|tojson(separators=(',', ':')) }}", ctx), "{\"k\":\"v\",\"n\":1}");
  EXPECT_EQ(render("{{ obj|items|list|length }} {{ obj|length }} {{ x|default('d') }} {{ ''|default('e', true) }}", ctx),
            "2 2 d e");
  EXPECT_EQ(render("{{ '  t '|trim }}|{{ 'a\nb'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ '12x'|int }}|{{ '1.5'|float }}"),
            "t|a\n  b|  a\n  b|12|1.5");
  EXPECT_EQ(render("{{ 1|string }}{{ true|string }}{{ [1]|string }}|{{ -3|abs }}|{{ 2.7|int }}|{{ 'ab'|capitalize }}"),
            "1true[1]|3|2|Ab");
  EXPECT_TRUE(fails("{{ 1|nosuchfilter }}"));
}

TEST(ChatEngine, WhitespaceControl) {
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a\n  {%- if true %}\nb\n{%- endif %}\n"), "ab");
  // trim_blocks and lstrip_blocks are on, as Hugging Face renders chat templates.
  EXPECT_EQ(render("x\n    {% if true %}\ny\n    {% endif %}\nz"), "x\ny\nz");
  EXPECT_EQ(render("a {# comment #} b"), "a  b");
  EXPECT_EQ(render("a {#- comment -#} b"), "ab");
  EXPECT_EQ(render("line\n"), "line");  // one trailing newline is dropped
}

TEST(ChatEngine, Loops) {
  EXPECT_EQ(render("{% for x in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}"
                   "{{ loop.length }};{% endfor %}"),
            "10truefalse33;21falsefalse23;32falsetrue13;");
  EXPECT_EQ(render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in [1,2,3,4] if x is even %}{{ x }}{% endfor %}"), "24");
  EXPECT_EQ(render("{% for x in range(5) %}{% if x == 3 %}{% break %}{% endif %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}"),
            "02");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }} {% endfor %}"), "a=1 b=2 ");
  EXPECT_EQ(render("{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}"), "ab");
  // A `set` inside a loop does not leak out of it.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1");
}

TEST(ChatEngine, NamespaceAndSet) {
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "6");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set x %}block {{ 1 }}{% endset %}[{{ x }}]"), "[block 1]");
  EXPECT_TRUE(fails("{% set d = {} %}{% set d.x = 1 %}"));
}

TEST(ChatEngine, MacrosAndCall) {
  EXPECT_EQ(render("{% macro greet(name, p='Hi') %}{{ p }} {{ name }}{% endmacro %}{{ greet('a') }}/{{ greet('b', p='Yo') }}"),
            "Hi a/Yo b");
  EXPECT_EQ(render("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inner{% endcall %}"), "[inner]");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
  EXPECT_TRUE(fails("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}"));
}

TEST(ChatEngine, Errors) {
  const std::string e = render("line one\n{{ raise_exception('bad role') }}");
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("bad role"), std::string::npos) << e;
  EXPECT_NE(render("{% if x %}").find("PARSE ERROR"), std::string::npos);
  EXPECT_NE(render("{{ 'unterminated }}").find("PARSE ERROR"), std::string::npos);
  EXPECT_NE(render("{% frobnicate %}").find("unknown statement"), std::string::npos);
  EXPECT_NE(render("{{ x.y() }}").find("not a function"), std::string::npos);
  EXPECT_NE(render("{{ 1 < 'a' }}").find("ERROR"), std::string::npos);
  EXPECT_NE(render("{% break %}").find("outside a loop"), std::string::npos);
}

TEST(ChatEngine, Limits) {
  // Unbounded macro recursion, deep nesting, huge loops and exponential output all fail cleanly.
  EXPECT_NE(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("depth"), std::string::npos);
  EXPECT_NE(render("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(render("{{ " + std::string(5000, '-') + "1 }}").find("ERROR"), std::string::npos);
  EXPECT_NE(render("{% for i in range(100000000) %}{% endfor %}").find("limit"), std::string::npos);
  EXPECT_NE(render("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(10) %}{% endfor %}{% endfor %}{% endfor %}")
                .find("limit"),
            std::string::npos);
  EXPECT_NE(render("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                .find("limit"),
            std::string::npos);
  EXPECT_NE(render("{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}")
                .find("limit"),
            std::string::npos);
}

TEST(ChatRequest, ChatMlFallbackAndContext) {
  Result<Template> t = Template::parse(kChatMlTemplate);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const auto request = nlohmann::ordered_json::parse(R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"U"}]})");
  Result<std::string> out = apply_chat_template(*t, request, ChatDefaults{});
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
  const auto no_prompt = nlohmann::ordered_json::parse(
      R"({"messages":[{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}],
          "add_generation_prompt":false,"chat_template_kwargs":{"enable_thinking":false}})");
  Result<nlohmann::ordered_json> ctx = build_context(no_prompt, ChatDefaults{"<s>", "</s>"});
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ((*ctx)["messages"][0]["tool_calls"][0]["function"]["arguments"]["a"], 1);
  EXPECT_EQ((*ctx)["bos_token"], "<s>");
  EXPECT_EQ((*ctx)["enable_thinking"], false);
  EXPECT_EQ((*ctx)["add_generation_prompt"], false);
}

}  // namespace
}  // namespace hearth::chat
