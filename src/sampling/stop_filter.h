// Stop strings over streamed text: text is released as it comes, except any tail that could still
// grow into a stop string, so a stop string is never emitted (not even partly).
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace hearth {

class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns what is safe to print now. Sets stopped() once a stop string appears.
  std::string push(const std::string& text) {
    pending_ += text;
    size_t cut = std::string::npos;
    for (const std::string& s : stops_) {
      size_t at = s.empty() ? std::string::npos : pending_.find(s);
      if (at != std::string::npos && at < cut) {
        cut = at;
        matched_ = s;
      }
    }
    if (cut != std::string::npos) {
      stopped_ = true;
      std::string out = pending_.substr(0, cut);
      pending_.clear();
      return out;
    }
    size_t keep = 0;  // longest suffix of pending_ that is a prefix of a stop string
    for (const std::string& s : stops_)
      for (size_t n = std::min(s.size() - 1, pending_.size()); n > keep; --n)
        if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
          keep = n;
          break;
        }
    std::string out = pending_.substr(0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    return out;
  }
  std::string flush() { return std::exchange(pending_, {}); }
  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }  // the stop string that stopped it

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace hearth
