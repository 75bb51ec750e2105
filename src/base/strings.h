// Small string helpers shared across layers.
#pragma once

#include <string>
#include <string_view>

namespace hearth {

// Replaces every non-overlapping occurrence of `from` (left to right, not rescanning what was
// inserted) with `to`, in one pass. An empty `from` changes nothing.
inline void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty() || s.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

}  // namespace hearth
