// Random-weight models of real architectures: what every test and benchmark runs on, since
// nothing is downloaded. Deterministic by seed, and the same seed gives the same underlying F32
// weights whatever the stored type, so an F32 and a Q4_K model of one seed are comparable.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "model/presets.h"
#include "model/tensor_pipeline.h"

namespace hearth {

struct MkModelOptions {
  std::string preset;
  std::string type = "f32";       // a tensor type ("q8_0") or a quantize recipe ("Q4_K_M")
  std::string output;             // path of the .gguf
  uint64_t seed = 1;
  std::string vocab_dir;          // folder holding the preset's vocab GGUF
  std::string chat_template_dir;  // folder of .jinja templates ("" = keep the vocab's template)
  int n_threads = 2;
  int64_t n_layer = 0;            // > 0: keep only the first n_layer layers of the preset
  int64_t n_expert = 0;           // > 0: keep only n_expert routed experts (expert groups shrink with them)
  // DeepSeek as llama.cpp's converters wrote it before MLA support: one attn_kv_b per layer (the same
  // weights as the attn_k_b / attn_v_b of the same seed), heads described uncompressed.
  bool legacy_kv_b = false;
};

// Summary of what was written, for the CLI.
struct MkModelReport {
  std::string preset;
  std::string arch;
  PipelineStats stats;
  int64_t n_vocab = 0;
};

Result<MkModelReport> make_random_model(const MkModelOptions& options);

// The deterministic F32 value generator behind mkmodel: row `row` of tensor `name` for `seed`.
// Exposed so tests can check a written model against the values it should hold.
struct WeightInit {
  enum class Kind { kNormal, kOnesPlusNoise, kRopeFactors, kMinusOnePlusNoise } kind;
  float stddev;
};
void random_row(uint64_t seed, const std::string& tensor_name, int64_t row, const WeightInit& init,
                float* out, int64_t n);

}  // namespace hearth
