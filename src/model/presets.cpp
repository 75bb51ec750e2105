#include "model/presets.h"


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

}  // namespace hearth
