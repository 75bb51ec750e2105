// libFuzzer target: arbitrary bytes as a GGUF file. Every input must parse or fail cleanly; a
// parsed file's tensor views must lie inside the input (touched here so ASan checks them).
#include <cstddef>
#include <cstdint>

#include "gguf/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = hearth::gguf::File::parse(std::span<const uint8_t>(data, size), "fuzz");
  if (!file.ok()) return 0;
  volatile uint8_t sink = 0;
  for (const hearth::gguf::TensorInfo& t : file->tensors()) {
    const auto* bytes = static_cast<const uint8_t*>(t.view.data);
    if (t.view.n_bytes > 0) sink = sink ^ bytes[0] ^ bytes[t.view.n_bytes - 1];
  }
  (void)sink;
  return 0;
}
