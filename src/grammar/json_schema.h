// JSON Schema -> GBNF: the grammar that constrains a model's output to documents a request's
// response_format / tool parameter schema accepts. The grammar may accept a subset of the valid
// documents (declared properties in declared order, bounded digit counts, canonical forms) but
// everything it accepts validates (checked with ajv + ajv-formats in tests). Schemas come from
// strangers: every failure is an Error value naming the keyword and its JSON pointer; nothing
// throws, recursion and output size are bounded.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"

namespace hearth::grammar {

struct JsonSchemaOptions {
  // Whitespace allowed between JSON tokens. Bounded so a model cannot spend its budget on blanks.
  bool compact = false;  // true: no whitespace at all
  // The rule that matches a whole document. Another name lets a caller embed the schema's grammar
  // in a larger one (a tool call's arguments inside the model's call syntax); the other rules'
  // names (ws, string, ...) stay as they are.
  std::string root_rule = "root";
};

// GBNF text whose rule `root` matches JSON documents that the schema accepts. Outputs matched by
// the grammar must ALWAYS validate against the schema (checked by ajv in tests); the grammar may
// accept a subset of the valid documents (e.g. declared properties in declared order).
// A keyword that changes validity and is not supported is an error naming it and its JSON pointer.
Result<std::string> json_schema_to_gbnf(const nlohmann::ordered_json& schema,
                                        const JsonSchemaOptions& options = {});

// GBNF for "any JSON value" (OpenAI's response_format {type: json_object}: root must be an object).
std::string json_object_gbnf(const JsonSchemaOptions& options = {});

}  // namespace hearth::grammar
