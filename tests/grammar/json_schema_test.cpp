// JSON Schema -> GBNF: errors name the keyword and its JSON pointer; hostile schemas (deep
// nesting, huge enums, recursive $refs, wrong-typed keywords) end in an error or a bounded grammar,
// quickly and without throwing. What the grammars accept is checked against the grammar matcher
// and ajv with the cases in json_schema_cases.h; no test here pins exact GBNF text.
#include "grammar/json_schema.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "grammar/json_schema_cases.h"

namespace hearth::grammar {
namespace {

using Json = nlohmann::ordered_json;

Result<std::string> compile(const std::string& schema, bool compact = false) {
  return json_schema_to_gbnf(Json::parse(schema), {.compact = compact});
}

// The schema fails with a message containing every one of `needles`.
void expect_error(const std::string& schema, const std::vector<std::string>& needles) {
  auto r = compile(schema);
  ASSERT_FALSE(r.ok()) << schema << "\ncompiled to:\n" << *r;
  for (const auto& n : needles) {
    EXPECT_NE(r.error().message.find(n), std::string::npos)
        << "message '" << r.error().message << "' lacks '" << n << "' for " << schema;
  }
}

TEST(JsonSchemaToGbnf, EveryCaseCompilesInBothModes) {
  for (const auto& c : testing::kJsonSchemaCases) {
    for (bool compact : {false, true}) {
      auto r = compile(c.schema, compact);
      ASSERT_TRUE(r.ok()) << c.schema << ": " << r.error().message;
      EXPECT_EQ(r->rfind("root ::= ", 0), 0u) << *r;
      // Compact grammars allow no whitespace at all.
      if (compact) {
        EXPECT_EQ(r->find("ws ::="), std::string::npos) << *r;
      }
    }
  }
}

TEST(JsonSchemaToGbnf, CasesAreWellFormedJson) {
  for (const auto& c : testing::kJsonSchemaCases) {
    EXPECT_TRUE(Json::accept(c.schema)) << c.schema;
    EXPECT_TRUE(Json::accept(c.valid)) << c.valid;
    if (c.invalid) {
      EXPECT_TRUE(Json::accept(c.invalid)) << c.invalid;
    }
  }
  EXPECT_GE(std::size(testing::kJsonSchemaCases), 40u);
}

TEST(JsonSchemaToGbnf, OutputIsDeterministic) {
  for (const auto& c : testing::kJsonSchemaCases) {
    auto a = compile(c.schema), b = compile(c.schema);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
}

TEST(JsonSchemaToGbnf, EveryRuleIsDefinedOnce) {
  for (const auto& c : testing::kJsonSchemaCases) {
    auto r = compile(c.schema);
    ASSERT_TRUE(r.ok());
    std::vector<std::string> names;
    size_t pos = 0;
    while (pos < r->size()) {
      size_t eol = r->find('\n', pos);
      std::string line = r->substr(pos, eol - pos);
      size_t sep = line.find(" ::= ");
      ASSERT_NE(sep, std::string::npos) << line;
      EXPECT_FALSE(line.substr(sep + 5).empty()) << line;
      names.push_back(line.substr(0, sep));
      pos = eol + 1;
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end()) << *r;
  }
}

TEST(JsonSchemaToGbnf, UnsupportedKeywordsNameKeywordAndPointer) {
  struct Case {
    const char* schema;
    const char* keyword;
    const char* pointer;
  };
  const Case cases[] = {
      {R"({"not":{"type":"string"}})", "'not'", "at /"},
      {R"({"if":{"type":"string"},"then":{"minLength":1}})", "'if'", "at /"},
      {R"({"type":"object","properties":{"a":{"then":{}}}})", "'then'", "/properties/a"},
      {R"({"else":{}})", "'else'", "at /"},
      {R"({"type":"object","patternProperties":{"^x":{}}})", "'patternProperties'", "at /"},
      {R"({"type":"object","propertyNames":{"maxLength":3}})", "'propertyNames'", "at /"},
      {R"({"dependentRequired":{"a":["b"]}})", "'dependentRequired'", "at /"},
      {R"({"dependentSchemas":{"a":{}}})", "'dependentSchemas'", "at /"},
      {R"({"dependencies":{"a":["b"]}})", "'dependencies'", "at /"},
      {R"({"type":"object","properties":{"tags":{"type":"array","uniqueItems":true}}})",
       "'uniqueItems'", "/properties/tags"},
      {R"({"type":"array","contains":{"type":"integer"}})", "'contains'", "at /"},
      {R"({"type":"array","items":{"minContains":2}})", "'minContains'", "/items"},
      {R"({"unevaluatedProperties":false})", "'unevaluatedProperties'", "at /"},
      {R"({"unevaluatedItems":false})", "'unevaluatedItems'", "at /"},
      {R"({"type":"object","minProperties":2})", "'minProperties'", "at /"},
      {R"({"type":"object","maxProperties":2})", "'maxProperties'", "at /"},
      {R"({"type":"number","multipleOf":0.5})", "'multipleOf'", "at /"},
      {R"({"$defs":{"x":{"type":"integer","multipleOf":2}},"$ref":"#/$defs/x"})", "'multipleOf'",
       "/$defs/x"},
      {R"({"$dynamicRef":"#meta"})", "'$dynamicRef'", "at /"},
      {R"({"$ref":"https://example.com/schema.json"})", "'$ref'", "at /"},
      {R"({"$ref":"other.json#/x"})", "'$ref'", "at /"},
      {R"({"$ref":"#anchor"})", "'$ref'", "at /"},
      {R"({"type":"array","items":{"$ref":"#/$defs/missing"}})", "'$ref'", "/items"},
      {R"({"allOf":[{"type":"string","pattern":"a"},{"type":"string","pattern":"b"}]})", "'allOf'",
       "at /"},
      {R"({"allOf":[{"type":"object","properties":{"a":{}},"additionalProperties":false},
           {"properties":{"b":{}}}]})",
       "'allOf'", "at /"},
      {R"({"type":"number","minimum":0.5})", "'minimum'", "at /"},
      {R"({"type":"number","exclusiveMaximum":2.25})", "'exclusiveMaximum'", "at /"},
      {R"({"type":"string","format":"hostname"})", "'hostname'", "at /"},
      {R"({"type":"object","properties":{"d":{"type":"string","format":"date",
           "minLength":3}}})",
       "'minLength'", "/properties/d"},
      {R"({"enum":["a"],"pattern":"a"})", "'pattern'", "at /"},
  };
  for (const auto& c : cases) expect_error(c.schema, {c.keyword, c.pointer});
}

TEST(JsonSchemaToGbnf, TrivialFormsOfUnsupportedKeywordsAreAccepted) {
  for (const char* s :
       {R"({"type":"array","uniqueItems":false})", R"({"type":"object","patternProperties":{}})",
        R"({"type":"object","properties":{"a":{}},"required":["a"],
                            "minProperties":1,"maxProperties":1})",
        R"({"dependentRequired":{},"type":"string"})"}) {
    auto r = compile(s);
    EXPECT_TRUE(r.ok()) << s << ": " << r.error().message;
  }
}

TEST(JsonSchemaToGbnf, AnnotationsAndUnknownKeywordsAreIgnored) {
  auto plain = compile(R"({"type":"object","properties":{"a":{"type":"string"}}})");
  auto annotated = compile(
      R"({"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","title":"T",
          "description":"d","$comment":"c","type":"object","strict":true,
          "properties":{"a":{"type":"string","default":"z","examples":["q"],"deprecated":true,
          "readOnly":true,"writeOnly":false,"contentMediaType":"text/plain"}}})");
  ASSERT_TRUE(plain.ok() && annotated.ok()) << annotated.error().message;
  EXPECT_EQ(*plain, *annotated);
}

TEST(JsonSchemaToGbnf, MalformedKeywordsNamePointer) {
  struct Case {
    const char* schema;
    const char* keyword;
    const char* pointer;
  };
  const Case cases[] = {
      {R"({"type":"object","required":5})", "'required'", "at /"},
      {R"({"type":"object","required":[1]})", "'required'", "at /"},
      {R"({"type":"object","properties":[]})", "'properties'", "at /"},
      {R"({"type":"object","properties":{"a":{"type":"strin"}}})", "'type'", "/properties/a"},
      {R"({"type":5})", "'type'", "at /"},
      {R"({"type":"string","minLength":-1})", "'minLength'", "at /"},
      {R"({"type":"string","maxLength":"10"})", "'maxLength'", "at /"},
      {R"({"type":"array","minItems":1.5})", "'minItems'", "at /"},
      {R"({"type":"array","prefixItems":{}})", "'prefixItems'", "at /"},
      {R"({"type":"integer","minimum":"0"})", "'minimum'", "at /"},
      {R"({"enum":5})", "'enum'", "at /"},
      {R"({"anyOf":[]})", "'anyOf'", "at /"},
      {R"({"allOf":{}})", "'allOf'", "at /"},
      {R"({"$ref":5})", "'$ref'", "at /"},
      {R"({"type":"object","additionalProperties":5})", "'additionalProperties'", "at /"},
      {R"({"type":"string","format":7})", "'format'", "at /"},
  };
  for (const auto& c : cases) expect_error(c.schema, {c.keyword, c.pointer});
  for (const char* s : {"5", R"("string")", "[]", "null", "[{}]"}) expect_error(s, {"at /"});
  expect_error(R"({"type":"object","properties":{"a":7}})", {"/properties/a"});
}

TEST(JsonSchemaToGbnf, SchemasThatAcceptNothing) {
  expect_error("false", {"accepts nothing"});
  expect_error(R"({"type":[]})", {"accepts nothing"});
  expect_error(R"({"anyOf":[false,false]})", {"accepts nothing"});
  expect_error(R"({"allOf":[{"type":"string"},{"type":"integer"}]})", {"accepts nothing"});
  expect_error(R"({"type":"string","minLength":5,"maxLength":2})", {"accepts nothing"});
  expect_error(R"({"type":"integer","minimum":5,"maximum":4})", {"accepts nothing"});
  expect_error(R"({"type":"integer","exclusiveMinimum":4,"exclusiveMaximum":5})",
               {"accepts nothing"});
  expect_error(R"({"type":"array","items":false,"minItems":1})", {"accepts nothing"});
  expect_error(R"({"type":"object","required":["a"],"additionalProperties":false})",
               {"accepts nothing", "'a'"});
  expect_error(R"({"type":"object","properties":{"a":false},"required":["a"]})",
               {"accepts nothing", "/properties/a"});
  expect_error(R"({"enum":["a","b"],"type":"integer"})", {"accepts nothing"});
  // A false subschema where absence is allowed is fine.
  EXPECT_TRUE(compile(R"({"type":"object","properties":{"a":false,"b":{}}})").ok());
  EXPECT_TRUE(compile(R"({"type":"array","prefixItems":[{},false]})").ok());
  EXPECT_TRUE(compile(R"({"anyOf":[false,{"type":"null"}]})").ok());
}

TEST(JsonSchemaToGbnf, DeepNestingIsAnErrorNotACrash) {
  for (const char* wrap :
       {R"({"type":"object","properties":{"a":%}})", R"({"items":%})", R"({"anyOf":[%]})",
        R"({"allOf":[%]})", R"({"additionalProperties":%})"}) {
    std::string schema = "{}";
    std::string w = wrap;
    size_t hole = w.find('%');
    for (int i = 0; i < 1000; ++i) schema = w.substr(0, hole) + schema + w.substr(hole + 1);
    expect_error(schema, {"deeper than"});
  }
  // 50 levels are fine.
  std::string schema = "{}";
  for (int i = 0; i < 50; ++i) schema = R"({"type":"array","items":)" + schema + "}";
  EXPECT_TRUE(compile(schema).ok());
}

TEST(JsonSchemaToGbnf, HugeStringEnumIsFactoredAndFast) {
  Json values = Json::array();
  for (int i = 0; i < 100000; ++i) values.push_back(fmt::format("item-{:06d}-x", i));
  Json schema = {{"type", "string"}, {"enum", values}};
  auto r = json_schema_to_gbnf(schema);
  ASSERT_TRUE(r.ok()) << r.error().message;
  // Prefix-factored: the shared prefix is spelled once, not 100,000 times.
  size_t spelled = 0;
  for (size_t pos = r->find("item-"); pos != std::string::npos; pos = r->find("item-", pos + 1)) {
    ++spelled;
  }
  EXPECT_EQ(spelled, 1u) << r->substr(0, 300);
}

TEST(JsonSchemaToGbnf, OversizedSchemasAreRejected) {
  Json values = Json::array();
  for (int i = 0; i < 100000; ++i) values.push_back(fmt::format("{:032x}-{}", i * 2654435761u, i));
  auto r = json_schema_to_gbnf(Json{{"enum", values}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("too large"), std::string::npos) << r.error().message;

  // Many properties, each a long enum: over the cap through many rules.
  Json props = Json::object();
  Json big = Json::array();
  for (int i = 0; i < 2000; ++i) big.push_back(fmt::format("{:040x}", i * 2654435761u));
  for (int i = 0; i < 200; ++i) props[fmt::format("p{}", i)] = Json{{"enum", big}};
  r = json_schema_to_gbnf(Json{{"type", "object"}, {"properties", props}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("too large"), std::string::npos) << r.error().message;
}

TEST(JsonSchemaToGbnf, WideSchemasCompileInLinearTime) {
  Json required = Json::array();
  for (int i = 0; i < 100000; ++i) required.push_back(fmt::format("r{}", i));
  auto r = json_schema_to_gbnf(Json{{"type", "object"}, {"required", required}});
  EXPECT_FALSE(r.ok());  // over the size cap, found quickly

  // Built as text: inserting into an ordered_json object one key at a time is quadratic.
  std::string text = "{";
  for (int i = 0; i < 20000; ++i)
    text += fmt::format(R"({}"p{}":{{"type":"integer"}})", i ? "," : "", i);
  Json branch = {{"properties", Json::parse(text + "}")}};
  r = json_schema_to_gbnf(Json{{"type", "object"}, {"allOf", Json::array({branch, branch})}});
  (void)r;  // either way: the point is the time

  Json any = Json::array();
  for (int i = 0; i < 100000; ++i) any.push_back(Json{{"const", i}});
  r = json_schema_to_gbnf(Json{{"anyOf", any}});
  (void)r;

  text = "{";
  Json refs = Json::array();
  for (int i = 0; i < 20000; ++i) {
    text += fmt::format(R"({}"d{}":{{"type":"object"}})", i ? "," : "", i);
    refs.push_back(Json{{"$ref", fmt::format("#/$defs/d{}", i % 100)}});
  }
  Json defs = Json::parse(text + "}");
  r = json_schema_to_gbnf(Json{{"$defs", defs}, {"allOf", refs}});
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST(JsonSchemaToGbnf, HugeRepetitionCountsAreCapped) {
  expect_error(R"({"type":"string","minLength":1000000000})", {"'minLength'", "limit"});
  expect_error(R"({"type":"array","minItems":1e9})", {"'minItems'", "limit"});
  // Huge maxima are clamped (a subset of the valid documents), not errors.
  auto r = compile(R"({"type":"string","maxLength":1000000000})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->find("1000000000"), std::string::npos);
  EXPECT_TRUE(compile(R"({"type":"array","items":{"type":"integer"},"maxItems":1e18})").ok());
}

TEST(JsonSchemaToGbnf, RecursiveRefsTerminate) {
  // Only itself: left recursion, reported rather than emitted.
  expect_error(R"({"$ref":"#"})", {"refers to itself"});
  expect_error(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},
                   "$ref":"#/$defs/a"})",
               {"refers to itself"});
  expect_error(R"({"anyOf":[{"$ref":"#"},{"type":"null"}]})", {"refers to itself"});
  expect_error(R"({"allOf":[{"$ref":"#"}]})", {"deeper than"});
  // Recursion under a consuming token is a recursive rule, even without a base case.
  for (const char* s : {R"({"type":"object","properties":{"self":{"$ref":"#"}},
                            "required":["self"]})",
                        R"({"type":"array","items":{"$ref":"#"},"minItems":1})",
                        R"({"$defs":{"n":{"type":"object","properties":{"k":{"$ref":"#/$defs/n"},
                            "v":{"type":"integer"}}}},"$ref":"#/$defs/n"})"}) {
    auto r = compile(s);
    ASSERT_TRUE(r.ok()) << s << ": " << r.error().message;
  }
  // A long chain of $defs is compiled iteratively.
  Json defs = Json::object();
  for (int i = 0; i < 5000; ++i) {
    defs[fmt::format("d{}", i)] =
        Json{{"type", "array"}, {"items", {{"$ref", fmt::format("#/$defs/d{}", i + 1)}}}};
  }
  defs["d5000"] = Json{{"type", "integer"}};
  auto r = json_schema_to_gbnf(Json{{"$defs", defs}, {"$ref", "#/$defs/d0"}});
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST(JsonSchemaToGbnf, RefsUseJsonPointers) {
  for (const char* s : {R"({"definitions":{"x":{"type":"integer"}},"$ref":"#/definitions/x"})",
                        R"({"$defs":{"a b":{"type":"integer"}},"$ref":"#/$defs/a%20b"})",
                        R"({"$defs":{"a/b":{"type":"integer"}},"$ref":"#/$defs/a~1b"})",
                        R"({"prefixItems":[{"type":"string"}],"items":{"$ref":"#/prefixItems/0"}})",
                        R"({"type":"object","properties":{"a":{"type":"integer"},
                            "b":{"$ref":"#/properties/a","description":"same as a"}}})"}) {
    auto r = compile(s);
    EXPECT_TRUE(r.ok()) << s << ": " << r.error().message;
  }
}

TEST(JsonSchemaToGbnf, NeverThrowsOnWrongTypedKeywords) {
  const char* keywords[] = {"type",
                            "enum",
                            "const",
                            "$ref",
                            "allOf",
                            "anyOf",
                            "oneOf",
                            "properties",
                            "required",
                            "additionalProperties",
                            "items",
                            "prefixItems",
                            "additionalItems",
                            "minItems",
                            "maxItems",
                            "minLength",
                            "maxLength",
                            "pattern",
                            "format",
                            "minimum",
                            "maximum",
                            "exclusiveMinimum",
                            "exclusiveMaximum",
                            "uniqueItems",
                            "minProperties",
                            "maxProperties",
                            "$defs"};
  const Json values[] = {5,
                         -1,
                         1e300,
                         -1e300,
                         "x",
                         nullptr,
                         true,
                         false,
                         Json::array(),
                         Json::object(),
                         Json::array({1, "a", nullptr}),
                         Json{{"type", 5}},
                         Json::array({Json::object(), false})};
  for (const char* k : keywords) {
    for (const Json& v : values) {
      for (const char* type : {"object", "array", "string", "integer", "number", ""}) {
        Json s = Json{{k, v}};
        if (*type) s["type"] = type;
        Json nested = Json{{"type", "object"}, {"properties", {{"p", s}}}, {"required", {"p"}}};
        for (const Json& schema : {s, nested}) {
          EXPECT_NO_THROW({
            auto r = json_schema_to_gbnf(schema);
            (void)r;
          }) << schema.dump();
        }
      }
    }
  }
  // Invalid UTF-8 built in memory (a parser would have refused it).
  Json bad = {{"enum", Json::array({std::string("\xff\xfe")})}};
  EXPECT_FALSE(json_schema_to_gbnf(bad).ok());
  Json bad_key = {{"type", "object"}, {"properties", {{std::string("a\xc3"), Json::object()}}}};
  EXPECT_FALSE(json_schema_to_gbnf(bad_key).ok());
}

TEST(JsonSchemaToGbnf, AnyJsonObjectGrammar) {
  std::string g = json_object_gbnf();
  EXPECT_EQ(g.rfind("root ::= object\n", 0), 0u) << g;
  EXPECT_NE(g.find("value ::="), std::string::npos);
  EXPECT_NE(g.find("ws ::="), std::string::npos);
  std::string compact = json_object_gbnf({.compact = true});
  EXPECT_EQ(compact.find("ws"), std::string::npos) << compact;
  EXPECT_EQ(g, json_object_gbnf());
}

TEST(JsonSchemaToGbnf, RuleNamesFollowTheSchema) {
  auto r =
      compile(R"({"$defs":{"Node":{"type":"object","properties":{"next":{"$ref":"#/$defs/Node"}}}},
                       "type":"object","properties":{"name":{"type":"string","maxLength":3},
                       "node":{"$ref":"#/$defs/Node"}}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_NE(r->find("\ndefs-Node ::= "), std::string::npos) << *r;
  EXPECT_NE(r->find("\nname ::= "), std::string::npos) << *r;
}

// `pattern` needs regex_to_gbnf (grammar/regex.h). DISABLED until it lands; enable it then.
TEST(JsonSchemaToGbnf, PatternCasesCompile) {
  for (const auto& c : testing::kJsonSchemaPatternCases) {
    auto r = compile(c.schema);
    EXPECT_TRUE(r.ok()) << c.schema << ": " << r.error().message;
  }
  // Errors from the regex compiler name the keyword and pointer.
  expect_error(R"({"type":"object","properties":{"a":{"type":"string","pattern":"(?<=x)y"}}})",
               {"'pattern'", "/properties/a"});
}

}  // namespace
}  // namespace hearth::grammar
