// The web chat (/) and dashboard (/dashboard) that `hearth serve` ships inside its binary: the
// files of src/server/web/, embedded at build time by cmake/embed_web_assets.cmake.
#pragma once

#include <span>
#include <string_view>

namespace hearth::server {

struct WebAsset {
  std::string_view path;          // the URL path it is served at, e.g. "/assets/chat.js"
  std::string_view content_type;  // text types are UTF-8 (the server says so)
  std::string_view body;
};

std::span<const WebAsset> web_assets();

// The asset served at `path` ("/" and "/dashboard" name the two pages), or nullptr.
inline const WebAsset* find_web_asset(std::string_view path) {
  for (const WebAsset& a : web_assets())
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace hearth::server
