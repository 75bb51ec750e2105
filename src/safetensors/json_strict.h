// Strict JSON parsing for files from outside (safetensors headers, index.json, config.json):
// nlohmann's exceptions stop here, duplicate keys in any object are an error (nlohmann would
// silently keep the last one) and nesting is capped so a hostile file cannot exhaust the stack.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth::safetensors {

// `what` prefixes errors ("model.safetensors: header"); `base_offset` is added to the byte
// position of a syntax error so it is an offset in the file.
Result<nlohmann::ordered_json> parse_json_strict(std::string_view text, const std::string& what,
                                                 uint64_t base_offset, int max_depth);
// The same checks into nlohmann::json, whose objects are sorted maps: for objects of many keys (a
// tokenizer.json's vocabulary), which ordered_json inserts in linear time each (a 151k-token
// vocabulary took 26 s). Key order is lost.
Result<nlohmann::json> parse_json_strict_unordered(std::string_view text, const std::string& what,
                                                   uint64_t base_offset, int max_depth);

}  // namespace hearth::safetensors
