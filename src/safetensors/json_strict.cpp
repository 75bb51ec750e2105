#include "safetensors/json_strict.h"

#include <set>
#include <vector>

namespace hearth::safetensors {
namespace {

struct DuplicateKey {
  std::string key;
};
struct TooDeep {};

template <typename Json>
Result<Json> parse_strict(std::string_view text, const std::string& what, uint64_t base_offset, int max_depth) {
  // One key set per open object; arrays need no entry because keys only occur in objects.
  std::vector<std::set<std::string>> open_objects;
  typename Json::parser_callback_t callback = [&](int depth, typename Json::parse_event_t event, Json& parsed) {
    if (depth > max_depth) throw TooDeep{};
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.template get<std::string>()).second)
          throw DuplicateKey{parsed.template get<std::string>()};
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const DuplicateKey& e) {
    return make_error("{}: duplicate key '{}'", what, e.key);
  } catch (const TooDeep&) {
    return make_error("{}: JSON nested deeper than {} levels", what, max_depth);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error("{}: invalid JSON at offset {}: {}", what, base_offset + e.byte, e.what());
  } catch (const std::exception& e) {
    return make_error("{}: invalid JSON: {}", what, e.what());
  }
}

}  // namespace

Result<nlohmann::ordered_json> parse_json_strict(std::string_view text, const std::string& what,
                                                 uint64_t base_offset, int max_depth) {
  return parse_strict<nlohmann::ordered_json>(text, what, base_offset, max_depth);
}

Result<nlohmann::json> parse_json_strict_unordered(std::string_view text, const std::string& what,
                                                   uint64_t base_offset, int max_depth) {
  return parse_strict<nlohmann::json>(text, what, base_offset, max_depth);
}

}  // namespace hearth::safetensors
