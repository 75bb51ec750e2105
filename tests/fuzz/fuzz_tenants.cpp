// libFuzzer target for what strangers send the key store (`serve --db`): bearer secrets, key
// names, dates in admin requests and `hearth keys`. A secret either names a 16-hex-digit id or
// nothing; a date either parses and prints back as itself or is refused; a name is either refused
// or stored and read back unchanged (an in-memory SQLite store). Never a crash.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "tenants/store.h"
#include "tenants/usage_report.h"

using namespace hearth::tenants;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto id = secret_key_id(text); id && (id->size() != 16 || text.find(*id) != 3)) std::abort();
  if (auto t = parse_utc_time(text)) {
    const std::string back = utc_time_text(*t);
    if (text.size() == 20 ? back != text : back.substr(0, 10) != text) std::abort();
  }
  if (auto h = day_start_hour(text); h && hour_text(*h).substr(0, 10) != text) std::abort();
  static std::unique_ptr<Store> store = [] {
    auto s = Store::open(":memory:");
    if (!s) std::abort();
    return std::move(*s);
  }();
  KeyLimits limits;
  limits.models = {text};
  auto created = store->create_key(text, limits, make_secret(), 1);
  // A valid name is a valid model name too: it is stored unless it exists already.
  const bool name_ok = check_key_name(text).ok();
  if (!name_ok && created) std::abort();
  if (name_ok && !created && created.error().message.find("exists") == std::string::npos) std::abort();
  if (created) {
    auto keys = store->list_keys();
    bool found = false;
    for (const KeyRecord& k : *keys) found |= k.name == text && k.limits.models == limits.models;
    if (!found) std::abort();
  }
  return 0;
}
