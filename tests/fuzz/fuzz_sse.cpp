// libFuzzer target for the server-sent events reader (`hearth chat` reads a stream from a server
// the user named): any bytes, fed whole and fed in pieces the input itself chooses, must give the
// same events, within the size bound, and never crash or hang.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "api/sse_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 16;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto read = [&](size_t step, std::vector<std::string>& out) {
    hearth::api::SseReader reader(4096);
    for (size_t i = 0; i < stream.size(); i += step)
      if (!reader.feed(stream.substr(i, step), [&](std::string_view d) { out.emplace_back(d); }).ok()) return false;
    return true;
  };
  std::vector<std::string> whole, pieces;
  const bool ok_whole = read(stream.size() ? stream.size() : 1, whole);
  const bool ok_pieces = read(piece, pieces);
  if (ok_whole != ok_pieces || (ok_whole && whole != pieces)) std::abort();
  for (const std::string& e : whole)
    if (e.size() > 4096) std::abort();
  return 0;
}
