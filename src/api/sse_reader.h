// Reads a text/event-stream (server-sent events) body as it arrives, in pieces of any size: the
// data of each event (its "data:" lines joined by '\n'), once the blank line that ends it is in.
// The stream comes from a server the user named, so it is bounded: an event longer than the
// limit is an error, not a growing buffer.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth::api {

class SseReader {
 public:
  explicit SseReader(size_t max_event_bytes = size_t{16} << 20) : max_(max_event_bytes) {}

  // Takes the next bytes; calls on_data for each event completed by them (events without a data
  // field are skipped, as the standard says). Lines end in "\n", "\r\n" or "\r".
  Status feed(std::string_view bytes, const std::function<void(std::string_view data)>& on_data);

 private:
  void line(std::string_view text, const std::function<void(std::string_view)>& on_data);

  size_t max_;
  std::string line_;       // the line being read
  std::string data_;       // the event's data so far
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte was '\r' (a following '\n' belongs to it)
};

}  // namespace hearth::api
