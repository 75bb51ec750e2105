// libFuzzer target: arbitrary bytes as a safetensors file. The parser must return an error or a
// File whose every tensor lies inside the input; anything else (a crash, a sanitizer report, a
// view outside the buffer) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "safetensors/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto file = hearth::safetensors::File::parse(bytes, "fuzz.safetensors");
  if (!file.ok()) return 0;
  for (const hearth::safetensors::TensorInfo& t : file->tensors()) {
    if (t.data < data || t.n_bytes() > size || t.data + t.n_bytes() > data + size) std::abort();
    auto view = hearth::safetensors::to_view(t, file->name());
    if (view.ok() && view->n_bytes != t.n_bytes()) std::abort();
  }
  return 0;
}
