// The server-sent events reader of `hearth chat`'s client: events as the standard (WHATWG HTML,
// "Interpreting an event stream") delimits them, whatever pieces the bytes arrive in.
#include "api/sse_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hearth::api {
namespace {

std::vector<std::string> read_in_pieces(const std::string& stream, size_t piece) {
  SseReader reader;
  std::vector<std::string> out;
  for (size_t i = 0; i < stream.size(); i += piece) {
    Status st = reader.feed(std::string_view(stream).substr(i, piece), [&](std::string_view d) { out.emplace_back(d); });
    EXPECT_TRUE(st.ok()) << st.message();
  }
  return out;
}

TEST(SseReader, EventsWhateverThePieces) {
  // CRLF and lone CR line ends, a comment, other fields, a field without a colon, an event with
  // no data (not dispatched), two data lines joined, "data:" without its space, an unfinished
  // event at the end (not dispatched).
  const std::string stream =
      ": keep-alive\r\n\r\n"
      "data: {\"a\":1}\n\n"
      "event: message\r\ndata: first\r\ndata: second\r\n\r\n"
      "id: 7\rretry: 10\r\r"
      "data:tight\n\n"
      "data\n\n"
      "data: [DONE]\n\n"
      "data: never finished\n";
  const std::vector<std::string> want = {"{\"a\":1}", "first\nsecond", "tight", "", "[DONE]"};
  for (size_t piece : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, stream.size()})
    EXPECT_EQ(read_in_pieces(stream, piece), want) << "pieces of " << piece;
}

TEST(SseReader, AnEventOverTheLimitIsAnError) {
  SseReader reader(64);
  int events = 0;
  const auto count = [&](std::string_view) { ++events; };
  EXPECT_TRUE(reader.feed("data: short\n\n", count).ok());
  const Status st = reader.feed("data: " + std::string(100, 'x'), count);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("longer than 64 bytes"), std::string::npos);
  EXPECT_EQ(events, 1);
}

}  // namespace
}  // namespace hearth::api
