// A one-line progress bar on stderr for long tools (quantize, mkmodel); silent when stderr is not
// a terminal except for the final line, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hearth {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total);
  void update(uint64_t done, const std::string& detail = "");
  void finish(const std::string& summary = "");

 private:
  std::string label_;
  uint64_t total_;
  bool interactive_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace hearth
