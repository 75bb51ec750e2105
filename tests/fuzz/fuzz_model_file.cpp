// libFuzzer target: arbitrary bytes as a GGUF model. Past the GGUF parser: the model-file layer
// (an older DeepSeek file's attn_kv_b split in memory), the hyperparameters every later layer
// sizes buffers from, the tensor table checked against the architecture's slots, and the KV
// cache's layer shapes. Every input must be accepted or refused cleanly, and nothing may be sized
// from an unchecked value (the run's -malloc_limit_mb catches that).
#include <cstddef>
#include <cstdint>

#include "check_model.h"
#include "gguf/gguf.h"
#include "model/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = hearth::gguf::File::parse(std::span<const uint8_t>(data, size), "fuzz");
  if (!file.ok()) return 0;
  auto model = hearth::ModelFile::from_gguf(std::move(*file));
  if (!model.ok()) return 0;
  hearth::fuzz::check_model(*model);
  return 0;
}
