#include "api/sse_reader.h"

namespace hearth::api {

Status SseReader::feed(std::string_view bytes, const std::function<void(std::string_view)>& on_data) {
  for (char c : bytes) {
    if (c == '\n' && after_cr_) {
      after_cr_ = false;
      continue;
    }
    after_cr_ = c == '\r';
    if (c == '\n' || c == '\r') {
      line(line_, on_data);
      line_.clear();
      continue;
    }
    if (line_.size() + data_.size() >= max_)
      return make_error("an event of the stream is longer than {} bytes", max_);
    line_ += c;
  }
  return {};
}

void SseReader::line(std::string_view text, const std::function<void(std::string_view)>& on_data) {
  if (text.empty()) {  // the blank line: dispatch
    if (has_data_) on_data(data_);
    data_.clear();
    has_data_ = false;
    return;
  }
  if (text.front() == ':') return;  // a comment
  const size_t colon = text.find(':');
  const std::string_view field = text.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field != "data") return;  // event, id, retry: nothing a chat client needs
  if (has_data_) data_ += '\n';
  data_ += value;
  has_data_ = true;
}

}  // namespace hearth::api
