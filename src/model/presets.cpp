#include "model/presets.h"

#include <cmath>
#include <numbers>

namespace hearth {
namespace {

HParams shape(int64_t n_embd, int64_t n_layer, int64_t n_head, int64_t n_head_kv, int64_t n_ff,
              int64_t n_ctx, double freq_base, double rms_eps, int64_t head_dim = 0) {
  HParams hp;
  hp.n_embd = n_embd;
  hp.n_layer = n_layer;
  hp.n_head = n_head;
  hp.n_head_kv = n_head_kv;
  hp.n_ff = n_ff;
  hp.n_ctx_train = n_ctx;
  hp.rope_freq_base = freq_base;
  hp.rms_eps = rms_eps;
  hp.head_dim = head_dim ? head_dim : n_embd / n_head;
  hp.n_rot = hp.head_dim;
  return hp;
}

}  // namespace

// Shapes from each model's published config.json.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      {"qwen2.5-0.5b", "qwen2", "ggml-vocab-qwen2.gguf", "Qwen-Qwen2.5-7B-Instruct.jinja",
       shape(896, 24, 14, 2, 4864, 32768, 1e6, 1e-6), true, std::nullopt, 151645, false},
      {"qwen2.5-1.5b", "qwen2", "ggml-vocab-qwen2.gguf", "Qwen-Qwen2.5-7B-Instruct.jinja",
       shape(1536, 28, 12, 2, 8960, 32768, 1e6, 1e-6), true, std::nullopt, 151645, false},
      {"llama-3.2-1b", "llama", "ggml-vocab-llama-bpe.gguf",
       "meta-llama-Llama-3.2-3B-Instruct.jinja", shape(2048, 16, 32, 8, 8192, 131072, 500000, 1e-5),
       true, Llama3RopeScaling{}, 128009, true},
      {"qwen3-0.6b", "qwen3", "ggml-vocab-qwen2.gguf", "Qwen-Qwen3-0.6B.jinja",
       shape(1024, 28, 16, 8, 3072, 40960, 1e6, 1e-6, 128), true, std::nullopt, 151645, false},
      {"qwen2.5-tiny", "qwen2", "ggml-vocab-qwen2.gguf", "Qwen-Qwen2.5-7B-Instruct.jinja",
       shape(256, 2, 4, 2, 512, 2048, 1e6, 1e-6), true, std::nullopt, 151645, false},
      {"llama-3.2-tiny", "llama", "ggml-vocab-llama-bpe.gguf",
       "meta-llama-Llama-3.2-3B-Instruct.jinja", shape(256, 2, 4, 2, 512, 2048, 500000, 1e-5),
       true, Llama3RopeScaling{}, 128009, true},
      {"qwen3-tiny", "qwen3", "ggml-vocab-qwen2.gguf", "Qwen-Qwen3-0.6B.jinja",
       shape(256, 2, 4, 2, 512, 2048, 1e6, 1e-6, 128), true, std::nullopt, 151645, false},
      // Untied output and Llama-2-style SentencePiece vocabulary: covers the other loader paths.
      {"llama-spm-tiny", "llama", "ggml-vocab-llama-spm.gguf", "", shape(256, 2, 4, 4, 512, 2048,
       10000, 1e-5), false, std::nullopt, std::nullopt, std::nullopt},
  };
  return table;
}

const Preset* find_preset(std::string_view name) {
  for (const Preset& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

// Llama 3.1's frequency-dependent scaling: long wavelengths are divided by `factor`, short ones
// kept, and the band between blended smoothly (stored as the divisor per rotated pair).
std::vector<float> llama3_rope_factors(const Llama3RopeScaling& s, int64_t n_rot, double freq_base) {
  const double low_freq_wavelen = s.original_context / s.low_freq_factor;
  const double high_freq_wavelen = s.original_context / s.high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < n_rot; i += 2) {
    double freq = 1.0 / std::pow(freq_base, static_cast<double>(i) / static_cast<double>(n_rot));
    double wavelen = 2.0 * std::numbers::pi / freq;
    double f;
    if (wavelen < high_freq_wavelen) {
      f = 1.0;
    } else if (wavelen > low_freq_wavelen) {
      f = s.factor;
    } else {
      double smooth = (s.original_context / wavelen - s.low_freq_factor) /
                      (s.high_freq_factor - s.low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / s.factor + smooth);
    }
    factors.push_back(static_cast<float>(f));
  }
  return factors;
}

}  // namespace hearth
