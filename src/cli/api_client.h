// A small blocking client of hearth's own HTTP API (or any OpenAI-compatible server), for
// `hearth chat`: JSON requests, and chat completions streamed as server-sent events. Plain HTTP
// only; the interactive chat runs on the user's machine or next to the server.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace hearth::cli {

struct StreamedChat {
  std::string content;
  std::string reasoning;
  std::string finish_reason;                     // "" when stopped before the server said
  std::optional<nlohmann::json> usage;           // the usage chunk, when the server sent one
  bool interrupted = false;                      // interrupt() ended it
};

class ApiClient {
 public:
  // `url`: http://HOST[:PORT][/] (a trailing /v1 is accepted and dropped).
  static Result<ApiClient> create(const std::string& url, std::string api_key);

  Result<nlohmann::json> get(const std::string& path) const;
  Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body) const;

  // POSTs a chat completion with stream: true; calls on_delta(content, reasoning) per chunk.
  Result<StreamedChat> stream_chat(nlohmann::json body,
                                   const std::function<void(std::string_view, std::string_view)>& on_delta) const;

  // Ends the running stream_chat from a signal handler (async-signal-safe): its socket is shut
  // down, the server sees the client leave and cancels the request.
  static void interrupt();

 private:
  std::string host_, port_, key_;
};

}  // namespace hearth::cli
