// (schema, valid instance, invalid instance) triples for the JSON Schema -> GBNF compiler.
// Every `valid` instance validates with ajv (Ajv2020, strict: false, ajv-formats 3.0.1 "full")
// AND lies in the subset the compiled grammar accepts (declared properties in declared order, no
// whitespace, canonical numbers); every `invalid` instance fails ajv, so a sound grammar must
// reject it. Used by the acceptance tests against the grammar matcher and against ajv.
#pragma once

namespace hearth::grammar::testing {

struct JsonSchemaCase {
  const char* schema;
  const char* valid;
  const char* invalid;
};

inline constexpr JsonSchemaCase kJsonSchemaCases[] = {
    // ---- types
    {R"({"type":"string"})", R"("hi \"there\"\n\u00e9")", R"(5)"},
    {R"({"type":"number"})", R"(-12.5e3)", R"("12")"},
    {R"({"type":"integer"})", R"(-42)", R"(4.5)"},
    {R"({"type":"boolean"})", R"(false)", R"(0)"},
    {R"({"type":"null"})", R"(null)", R"(false)"},
    {R"({"type":"object"})", R"({"a":[1,{"b":null}],"c":"d"})", R"([])"},
    {R"({"type":"array"})", R"([1,"a",{"b":true},[]])", R"({})"},
    {R"({"type":["string","null"]})", R"(null)", R"(1)"},
    {R"({"type":["integer","boolean"]})", R"(true)", R"(1.5)"},
    {R"(true)", R"({"x":[1,2,3]})", nullptr},
    {R"({})", R"([null,"x"])", nullptr},
    {R"({"description":"annotations only","title":"t","default":1,"examples":[2]})", R"(7)",
     nullptr},
    // ---- enum / const
    {R"({"enum":["red","green","blue"]})", R"("green")", R"("yellow")"},
    {R"({"enum":["a","ab","abc",1,null,true,{"k":[1]}]})", R"({"k":[1]})", R"("abcd")"},
    {R"({"const":"fixed"})", R"("fixed")", R"("fixe")"},
    {R"({"const":{"a":1,"b":[true,null]}})", R"({"a":1,"b":[true,null]})", R"({"a":1})"},
    {R"({"type":"string","enum":["x","yy",3]})", R"("yy")", R"(3)"},
    {R"({"type":"string","enum":["a","bb","ccc"],"minLength":2})", R"("ccc")", R"("a")"},
    {R"({"enum":["\u00e9t\u00e9","\"quoted\"","back\\slash"]})", R"("\"quoted\"")", R"("quoted")"},
    // ---- objects
    {R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},
        "required":["name","age"],"additionalProperties":false})",
     R"({"name":"Ann","age":31})", R"({"name":"Ann"})"},
    {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},
        "required":["b"]})",
     R"({"b":"x"})", R"({"a":1})"},
    {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}}})", R"({})",
     R"({"a":"not an int"})"},
    {R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],
        "additionalProperties":true})",
     R"({"a":1,"extra":[1,2],"more":{}})", R"({"extra":1})"},
    {R"({"type":"object","properties":{"a":{"type":"integer"}},
        "additionalProperties":{"type":"string"}})",
     R"({"a":1,"x":"y","ab":"z"})", R"({"a":1,"x":2})"},
    {R"({"type":"object","additionalProperties":{"type":"integer"}})", R"({"k":1,"j":2})",
     R"({"k":"v"})"},
    {R"({"type":"object","required":["id"]})", R"({"id":[1]})", R"({"other":1})"},
    {R"({"type":"object","properties":{"p":{"type":"object","properties":{"q":{"type":"array",
        "items":{"type":"object","properties":{"r":{"type":"null"}},"required":["r"]}}},
        "required":["q"]}},"required":["p"]})",
     R"({"p":{"q":[{"r":null},{"r":null}]}})", R"({"p":{"q":[{}]}})"},
    {R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],
        "minProperties":1,"maxProperties":1})",
     R"({"a":5})", R"({})"},
    // ---- arrays
    {R"({"type":"array","items":{"type":"integer"}})", R"([1,-2,3])", R"([1,"2"])"},
    {R"({"type":"array","items":{"type":"string"},"minItems":2,"maxItems":3})", R"(["a","b"])",
     R"(["a"])"},
    {R"({"type":"array","items":{"type":"boolean"},"maxItems":2})", R"([])",
     R"([true,false,true])"},
    {R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}]})",
     R"(["a",1,null,{}])", R"([1,"a"])"},
    {R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false})",
     R"(["a",1])", R"(["a",1,2])"},
    {R"({"type":"array","prefixItems":[{"type":"string"}],"items":{"type":"number"},
        "minItems":3})",
     R"(["a",1.5,2])", R"(["a",1])"},
    {R"({"type":"array","items":{"type":"array","items":{"type":"integer"},"minItems":1}})",
     R"([[1],[2,3]])", R"([[]])"},
    // ---- $ref / $defs / definitions
    {R"({"$defs":{"pos":{"type":"integer","minimum":1}},"type":"object",
        "properties":{"n":{"$ref":"#/$defs/pos"}},"required":["n"]})",
     R"({"n":3})", R"({"n":0})"},
    {R"({"definitions":{"s":{"type":"string","maxLength":2}},"type":"array",
        "items":{"$ref":"#/definitions/s"}})",
     R"(["ab","c"])", R"(["abc"])"},
    {R"({"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},
        "children":{"type":"array","items":{"$ref":"#/$defs/node"}}},
        "required":["value"],"additionalProperties":false}},"$ref":"#/$defs/node"})",
     R"({"value":1,"children":[{"value":2},{"value":3,"children":[]}]})",
     R"({"value":1,"children":[{"children":[]}]})"},
    {R"({"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]},
        "v":{"type":"boolean"}},"required":["next","v"]})",
     R"({"next":{"next":null,"v":true},"v":false})", R"({"next":{"next":null},"v":false})"},
    {R"({"type":"object","properties":{"a":{"type":"string","enum":["x","y"]},
        "b":{"$ref":"#/properties/a"}},"required":["a","b"]})",
     R"({"a":"x","b":"y"})", R"({"a":"x","b":"z"})"},
    {R"({"$defs":{"a~b":{"type":"integer"},"c/d":{"type":"boolean"}},"type":"array",
        "prefixItems":[{"$ref":"#/$defs/a~0b"},{"$ref":"#/$defs/c~1d"}],"items":false})",
     R"([1,true])", R"([true,1])"},
    // ---- anyOf / oneOf / allOf
    {R"({"anyOf":[{"type":"string","maxLength":1},{"type":"integer","minimum":10}]})", R"(10)",
     R"(9)"},
    {R"({"oneOf":[{"type":"boolean"},{"type":"null"}]})", R"(null)", R"("null")"},
    {R"({"type":"object","properties":{"kind":{"type":"string"}},"required":["kind"],
        "anyOf":[{"properties":{"kind":{"const":"a"}}},{"properties":{"kind":{"const":"b"}}}]})",
     R"({"kind":"b"})", R"({"kind":"c"})"},
    {R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
        {"properties":{"b":{"type":"string"}},"required":["b"]}]})",
     R"({"a":1,"b":"x"})", R"({"a":1})"},
    {R"({"$defs":{"base":{"type":"object","properties":{"id":{"type":"integer"}},
        "required":["id"]}},"allOf":[{"$ref":"#/$defs/base"},
        {"properties":{"name":{"type":"string"}}}]})",
     R"({"id":7,"name":"n"})", R"({"name":"n"})"},
    {R"({"allOf":[{"type":"integer","minimum":0},{"maximum":5}]})", R"(5)", R"(6)"},
    {R"({"allOf":[{"properties":{"x":{"type":"integer","minimum":0}},"required":["x"]},
        {"properties":{"x":{"maximum":3}}}],"type":"object"})",
     R"({"x":3})", R"({"x":4})"},
    // ---- string formats
    {R"({"type":"string","format":"date"})", R"("2024-02-28")", R"("2023-02-30")"},
    {R"({"type":"string","format":"date"})", R"("1999-12-31")", R"("1999-13-01")"},
    {R"({"type":"string","format":"time"})", R"("23:59:59.123+05:30")", R"("24:00:00Z")"},
    {R"({"type":"string","format":"date-time"})", R"("2024-04-30T08:15:00Z")",
     R"("2024-04-31T08:15:00Z")"},
    {R"({"type":"string","format":"uuid"})", R"("123e4567-e89b-12d3-a456-426614174000")",
     R"("123e4567-e89b-12d3-a456-42661417400")"},
    {R"({"type":"string","format":"email"})", R"("first.last+tag@mail.example.com")",
     R"("no-at-sign.example.com")"},
    {R"({"type":"string","format":"ipv4"})", R"("192.168.0.255")", R"("256.1.1.1")"},
    // ---- string lengths (code points; an escape is one character)
    {R"({"type":"string","minLength":2,"maxLength":3})", R"("\n\u00e9")", R"("a")"},
    {R"({"type":"string","maxLength":2})", R"("日本")", R"("日本語")"},
    {R"({"type":"string","minLength":3})", R"("a\"b")", R"("ab")"},
    // ---- numeric bounds
    {R"({"type":"integer","minimum":0,"maximum":100})", R"(100)", R"(101)"},
    {R"({"type":"integer","minimum":-5,"maximum":17})", R"(-5)", R"(-6)"},
    {R"({"type":"integer","minimum":1})", R"(123456)", R"(0)"},
    {R"({"type":"integer","maximum":0})", R"(-987)", R"(1)"},
    {R"({"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10})", R"(9)", R"(10)"},
    {R"({"type":"integer","minimum":-1000,"maximum":-10})", R"(-10)", R"(-9)"},
    {R"({"type":"integer","minimum":1.5,"maximum":3.5})", R"(3)", R"(1)"},
    {R"({"type":"number","minimum":0,"maximum":100})", R"(99.75)", R"(100.5)"},
    {R"({"type":"number","minimum":0,"maximum":100})", R"(100.000)", R"(-0.5)"},
    {R"({"type":"number","minimum":-1,"maximum":1})", R"(-0.5)", R"(-1.5)"},
    {R"({"type":"number","exclusiveMinimum":0,"maximum":1})", R"(0.25)", R"(0)"},
    {R"({"type":"number","minimum":10})", R"(1234.5)", R"(9.99)"},
    {R"({"type":"number","exclusiveMaximum":-2})", R"(-2.5)", R"(-2)"},
};

// Cases that need regex_to_gbnf (the `pattern` keyword).
inline constexpr JsonSchemaCase kJsonSchemaPatternCases[] = {
    {R"({"type":"string","pattern":"^[a-z]+$"})", R"("abc")", R"("abC")"},
    {R"({"type":"string","pattern":"^\\d{3}-\\d{4}$"})", R"("555-1234")", R"("5551234")"},
    {R"({"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]{2}$"}},
        "required":["code"]})",
     R"({"code":"FR"})", R"({"code":"fra"})"},
};

}  // namespace hearth::grammar::testing
