#include "model/presets.h"

#include "model/rerank.h"


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

// A Mixture-of-Experts shape: `hp` with n_expert experts of width n_ff_exp, n_used per token.
HParams moe(HParams hp, int64_t n_expert, int64_t n_used, int64_t n_ff_exp) {
  hp.n_expert = n_expert;
  hp.n_expert_used = n_used;
  hp.n_ff_exp = n_ff_exp;
  return hp;
}

// One shared expert of `width` beside the routed ones (Qwen3.5-MoE).
HParams shared_expert(HParams hp, int64_t width) {
  hp.n_expert_shared = 1;
  hp.n_ff_shexp = width;
  return hp;
}

// gpt-oss: 64-wide heads (q_dim != n_embd), a sliding window on every other layer.
HParams gpt_oss(HParams hp, int64_t n_expert, int64_t n_used, int64_t n_swa) {
  hp = moe(hp, n_expert, n_used, hp.n_ff);
  hp.n_swa = n_swa;
  return hp;
}

// Gemma 3: a window on five layers of six, the windowed ones roped at base 10000.
HParams gemma3(HParams hp, int64_t n_swa) {
  hp.n_swa = n_swa;
  hp.rope_freq_base_swa = 10000.0;
  return hp;
}

// Gemma 2: a window on every other layer, attention scores soft-capped at 50 and logits at 30.
HParams gemma2(HParams hp, int64_t n_swa) {
  hp.n_swa = n_swa;
  hp.attn_logit_softcap = 50.0;
  hp.final_logit_softcap = 30.0;
  return hp;
}

// DeepSeek's Multi-head Latent Attention: queries through a rank-q_lora path (0: one matrix), keys
// and values from a kv_lora-wide latent; per head nope + rot query/key dimensions and v_head value
// ones. The cache is one KV head of the latent and the roped part (head_dim = kv_lora + rot), and
// YaRN's attention scale takes mscale_all_dim (rope_yarn_log_mul).
HParams mla(HParams hp, int64_t q_lora, int64_t kv_lora, int64_t nope, int64_t rot, int64_t v_head,
            double mscale_all_dim) {
  hp.n_lora_q = q_lora;
  hp.n_lora_kv = kv_lora;
  hp.head_dim_k_mla = nope + rot;
  hp.head_dim_v_mla = v_head;
  hp.n_rot = rot;
  hp.head_dim = kv_lora + rot;
  hp.n_head_kv = 1;
  hp.rope_yarn_log_mul = mscale_all_dim;
  return hp;
}

// DeepSeekMoE: n_dense_lead dense layers first, then n_expert routed experts of n_ff_exp (n_used
// per token) beside n_shared shared ones; V2's softmax gating, weights neither normalised nor scaled.
HParams deepseek_moe(HParams hp, int64_t n_dense_lead, int64_t n_expert, int64_t n_used, int64_t n_ff_exp,
                     int64_t n_shared) {
  hp = moe(hp, n_expert, n_used, n_ff_exp);
  hp.n_layer_dense_lead = n_dense_lead;
  hp.n_expert_shared = n_shared;
  hp.gating = ExpertGating::kSoftmax;
  return hp;
}

// DeepSeek V3's router: sigmoid gating with a selection bias (exp_probs_b), the experts in
// n_groups groups of which n_groups_used are chosen from, weights normalised and scaled.
HParams v3_routing(HParams hp, int64_t n_groups, int64_t n_groups_used, double scale) {
  hp.gating = ExpertGating::kSigmoid;
  hp.expert_weights_norm = true;
  hp.expert_weights_scale = scale;
  hp.n_expert_groups = n_groups;
  hp.n_group_used = n_groups_used;
  return hp;
}

// Qwen3.5: every `interval`-th layer attends (n_rot of each head roped, over interleaved
// M-RoPE sections that text sees as one position), the others are Gated DeltaNet layers of
// k_heads query/key and v_heads value heads of ssm_head, with a convolution of `kernel` taps.
HParams qwen35(HParams hp, int64_t n_rot, std::vector<int64_t> sections, int64_t interval, int64_t k_heads,
               int64_t v_heads, int64_t ssm_head, int64_t kernel) {
  hp.n_rot = n_rot;
  hp.rope_sections = std::move(sections);
  for (int64_t il = 0; il < hp.n_layer; ++il) hp.recurrent_layers.push_back((il + 1) % interval != 0 ? 1 : 0);
  hp.ssm_n_k_heads = k_heads;
  hp.ssm_n_v_heads = v_heads;
  hp.ssm_head_dim = ssm_head;
  hp.ssm_conv_kernel = kernel;
  return hp;
}

// An embedding model: hidden states pooled as llama.cpp's pooling type says.
HParams embedding(HParams hp, Pooling pooling) {
  hp.pooling = pooling;
  return hp;
}

// A reranker: the last token's state through a head of n_cls classes ("yes", "no").
HParams reranker(HParams hp) {
  hp.pooling = Pooling::kRank;
  hp.n_cls_out = 2;
  return hp;
}

// EmbeddingGemma: Gemma 3's shape with windows of n_swa (local layers roped at base 10000),
// bidirectional, mean pooling and Dense modules of width n_dense.
HParams embedding_gemma(HParams hp, int64_t n_swa, int64_t n_dense) {
  hp = gemma3(hp, n_swa);
  hp.pooling = Pooling::kMean;
  hp.causal = false;
  hp.n_dense = n_dense;
  return hp;
}

// Gemma 4: Gemma 3's layers, five windowed to one full, the full ones with their own head size
// (head_dim_full) and KV head count (n_head_kv_full); window layers rope every dimension at base
// 10000, full ones a quarter of theirs at the model's base (Preset::proportional_rope).
HParams gemma4(HParams hp, int64_t n_swa, int64_t head_dim_full, int64_t n_head_kv_full, int64_t pattern = 6) {
  hp.n_swa = n_swa;
  hp.rope_freq_base_swa = 10000.0;
  hp.final_logit_softcap = 30.0;
  hp.swa_layers = swa_layers_from_pattern(hp.n_layer, pattern);
  hp.head_dim_swa = hp.head_dim;
  hp.n_rot_swa = hp.head_dim;
  hp.head_dim = hp.n_rot = head_dim_full;
  for (int64_t il = 0; il < hp.n_layer; ++il)
    hp.n_head_kv_arr.push_back(hp.swa_layers[size_t(il)] ? hp.n_head_kv : n_head_kv_full);
  return hp;
}

// Gemma 4 E2B/E4B: per-layer embeddings n_pl wide, the last n_shared layers reading earlier
// layers' keys and values; with double_wide their FFNs are twice as wide (E2B).
HParams gemma4_e(HParams hp, int64_t n_pl, int64_t n_shared, bool double_wide) {
  hp.n_embd_per_layer = n_pl;
  hp.n_kv_shared = n_shared;
  if (double_wide)
    for (int64_t il = 0; il < hp.n_layer; ++il) hp.n_ff_arr.push_back(il < hp.n_layer - n_shared ? hp.n_ff : 2 * hp.n_ff);
  if (double_wide) hp.n_ff *= 2;  // the widest
  return hp;
}

// A BERT encoder (bge, MiniLM): LayerNorm eps 1e-12, two token types, attention both ways.
HParams bert(HParams hp, Pooling pooling) {
  hp.pooling = pooling;
  hp.norm_eps = 1e-12;
  hp.causal = false;
  hp.n_token_types = 2;
  return hp;
}

// XLM-RoBERTa as llama.cpp converts it to bert: one token type, LayerNorm eps 1e-5.
HParams xlm_roberta(HParams hp) {
  hp.n_token_types = 1;
  hp.norm_eps = 1e-5;
  return hp;
}

// A BERT cross-encoder (BertForSequenceClassification): the [CLS] state through its pooler (cls:
// dense and tanh) and a one-logit head (cls.output), the logit being the relevance score.
HParams cross_encoder(HParams hp) {
  hp = bert(hp, Pooling::kRank);
  hp.n_cls_out = 1;
  return hp;
}

// Gemma's turn markers, for its chat template over a vocabulary that lacks them (its own 262k
// SentencePiece vocabulary is not in testdata).
const std::vector<std::string_view> kGemmaTurnTokens = {"<start_of_turn>", "<end_of_turn>"};

// The harmony format's markers (o200k_harmony's special tokens).
const std::vector<std::string_view> kHarmonyTokens = {
    "<|startoftext|>", "<|return|>", "<|constrain|>", "<|channel|>", "<|start|>", "<|end|>",
    "<|message|>", "<|call|>"};

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
      // Qwen/Qwen3.5-0.8B: 24 layers of 1024, three Gated DeltaNet layers (16 heads of 128, a
      // 4-tap convolution) to one gated attention layer (8 query heads of 256 over 2 KV heads, a
      // quarter of each roped at base 10M), SwiGLU of 3584, tied embeddings, Qwen3.5's 248k
      // vocabulary (llama.cpp's test vocabulary: mkmodel --vocab-dir the bundle's models/). The tiny
      // variant: four layers of 256 (one attending), 2 key and 4 value heads of 64, over the
      // Qwen2 vocabulary.
      {.name = "qwen3.5-0.8b", .arch = "qwen35", .vocab_file = "ggml-vocab-qwen35.gguf", .chat_template = "",
       .hp = qwen35(shape(1024, 24, 8, 2, 3584, 262144, 1e7, 1e-6, 256), 64, {11, 11, 10, 0}, 4, 16, 16, 128, 4),
       .tied_output = true},
      {.name = "qwen3.5-tiny", .arch = "qwen35", .vocab_file = "ggml-vocab-qwen2.gguf",
       .chat_template = "Qwen-Qwen3-0.6B.jinja",
       .hp = qwen35(shape(256, 4, 4, 2, 512, 4096, 1e7, 1e-6, 64), 16, {3, 3, 2, 0}, 4, 2, 4, 64, 4),
       .tied_output = true, .eos_token_id = 151645, .add_bos_token = false},
      // Qwen/Qwen3.5-35B-A3B's shape: 40 layers of 2048; Gated DeltaNet layers of 16 key and 32
      // value heads of 128; gated attention layers of 16 query heads of 256 over 2 KV heads; in
      // every layer 256 experts of 512 (8 per token) beside one gated shared expert of 512; untied
      // output. The tiny variant: qwen3.5-tiny's layers with 16 experts of 256 (4 per token).
      {.name = "qwen3.5-35b-a3b", .arch = "qwen35moe", .vocab_file = "ggml-vocab-qwen35.gguf", .chat_template = "",
       .hp = shared_expert(moe(qwen35(shape(2048, 40, 16, 2, 512, 262144, 1e7, 1e-6, 256), 64, {11, 11, 10, 0}, 4,
                                      16, 32, 128, 4),
                               256, 8, 512),
                           512)},
      {.name = "qwen3.5-moe-tiny", .arch = "qwen35moe", .vocab_file = "ggml-vocab-qwen2.gguf",
       .chat_template = "Qwen-Qwen3-0.6B.jinja",
       .hp = shared_expert(
           moe(qwen35(shape(256, 4, 4, 2, 256, 4096, 1e7, 1e-6, 64), 16, {3, 3, 2, 0}, 4, 2, 4, 64, 4), 16, 4, 256), 256),
       .tied_output = true, .eos_token_id = 151645, .add_bos_token = false},
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
      // Mixture of Experts. Qwen3-30B-A3B: 128 experts of 768, 8 per token, untied output; its
      // dense n_ff (6144) is written but unused, as in the released file. Mixtral 8x7B: llama with 8 experts of
      // n_ff, 2 per token. The tiny variants keep the routing shapes: 16 experts / 4 used (the
      // router softmax in whole 16-lane groups) and 8 / 2 (its scalar tail), and an expert width
      // that is a multiple of 256 so K-quants apply to ffn_down_exps.
      {"qwen3-30b-a3b", "qwen3moe", "ggml-vocab-qwen2.gguf", "Qwen-Qwen3-0.6B.jinja",
       moe(shape(2048, 48, 32, 4, 6144, 40960, 1e6, 1e-6, 128), 128, 8, 768), false, std::nullopt,
       151645, false},
      {"qwen3-30b-a3b-tiny", "qwen3moe", "ggml-vocab-qwen2.gguf", "Qwen-Qwen3-0.6B.jinja",
       moe(shape(256, 2, 4, 2, 512, 2048, 1e6, 1e-6, 128), 16, 4, 256), true, std::nullopt, 151645,
       false},
      {"mixtral-8x7b", "llama", "ggml-vocab-llama-spm.gguf", "",
       moe(shape(4096, 32, 32, 8, 14336, 32768, 1e6, 1e-5), 8, 2, 14336), false, std::nullopt,
       std::nullopt, std::nullopt},
      {"mixtral-8x7b-tiny", "llama", "ggml-vocab-llama-spm.gguf", "",
       moe(shape(256, 2, 4, 2, 512, 2048, 1e6, 1e-5), 8, 2, 512), false, std::nullopt, std::nullopt,
       std::nullopt},
      // gpt-oss-20b: 24 layers alternating a 128-token window with full attention, 32 experts of
      // 2880, 4 per token, YaRN x32 over 4096. The tiny variant keeps every feature at a window of
      // 16 (so the test prompts cross it) and 16 experts / 4 used.
      {"gpt-oss-20b", "gpt-oss", "ggml-vocab-qwen2.gguf", "openai-gpt-oss-120b.jinja",
       gpt_oss(shape(2880, 24, 64, 8, 2880, 131072, 150000, 1e-5, 64), 32, 4, 128), false,
       std::nullopt, std::nullopt, false, YarnScaling{}, kHarmonyTokens, "<|return|>"},
      {"gpt-oss-20b-tiny", "gpt-oss", "ggml-vocab-qwen2.gguf", "openai-gpt-oss-120b.jinja",
       gpt_oss(shape(256, 2, 8, 2, 256, 8192, 150000, 1e-5, 64), 16, 4, 16), false, std::nullopt,
       std::nullopt, false, YarnScaling{}, kHarmonyTokens, "<|return|>"},
      // DeepSeek-V2-Lite: 27 layers of 2048 (the first dense, n_ff 10944), 16 heads with queries of
      // one matrix (no q_lora), a 512-wide latent, heads of 128 + 64 roped, values of 128; 64 experts
      // of 1408 (6 per token) beside 2 shared; YaRN x40 over 4096 with mscale_all_dim 0.707; over
      // DeepSeek-LLM's 102k vocabulary from llama.cpp's bundled vocabularies (--vocab-dir).
      // DeepSeek-V3 (and R1): 61 layers of 7168 (3 dense, n_ff 18432), 128 heads, q_lora 1536, the
      // same latent and heads, 256 experts of 2048 (8 per token) in 8 groups (4 chosen) beside one
      // shared, sigmoid gating with a selection bias, weights normalised and scaled by 2.5; use
      // --layers for a machine's memory. The tiny variants keep every feature at 256 wide: 3 layers
      // (1 dense), 4 heads of 64 + 32 over a 128-wide latent, 16 experts of 256 (4 per token; V3's in
      // 4 groups of 4, 2 chosen), YaRN x4 over 1024, over the DeepSeek-Coder test vocabulary.
      {.name = "deepseek-v2-lite", .arch = "deepseek2", .vocab_file = "ggml-vocab-deepseek-llm.gguf",
       .chat_template = "",
       .hp = deepseek_moe(mla(shape(2048, 27, 16, 16, 10944, 163840, 10000, 1e-6), 0, 512, 128, 64, 128, 0.707),
                          1, 64, 6, 1408, 2),
       .tied_output = false, .yarn = YarnScaling{40.0, 4096}},
      {.name = "deepseek-v2-lite-tiny", .arch = "deepseek2", .vocab_file = "ggml-vocab-deepseek-coder.gguf",
       .chat_template = "",
       .hp = deepseek_moe(mla(shape(256, 3, 4, 4, 512, 4096, 10000, 1e-6), 0, 128, 64, 32, 64, 0.707), 1, 16, 4,
                          256, 2),
       .tied_output = false, .yarn = YarnScaling{4.0, 1024}},
      {.name = "deepseek-v3", .arch = "deepseek2", .vocab_file = "ggml-vocab-deepseek-llm.gguf",
       .chat_template = "deepseek-ai-DeepSeek-V3.1.jinja",
       .hp = v3_routing(deepseek_moe(mla(shape(7168, 61, 128, 128, 18432, 163840, 10000, 1e-6), 1536, 512, 128, 64,
                                         128, 1.0),
                                     3, 256, 8, 2048, 1),
                        8, 4, 2.5),
       .tied_output = false, .yarn = YarnScaling{40.0, 4096}},
      {.name = "deepseek-v3-tiny", .arch = "deepseek2", .vocab_file = "ggml-vocab-deepseek-coder.gguf",
       .chat_template = "deepseek-ai-DeepSeek-V3.1.jinja",
       .hp = v3_routing(deepseek_moe(mla(shape(256, 3, 4, 4, 512, 4096, 10000, 1e-6), 128, 128, 64, 32, 64, 1.0), 1,
                                     16, 4, 256, 1),
                        4, 2, 2.5),
       .tied_output = false, .yarn = YarnScaling{4.0, 1024}},
      // Gemma 3 1B: 4 query heads of 256 over one KV head, GeGLU of 6912, a 512-token window on
      // five layers of six (rope base 10k there, 1M on the global ones), tied embeddings. The tiny
      // variant keeps six layers (one global) and a window of 16, so the test prompts cross it.
      {"gemma-3-1b", "gemma3", "ggml-vocab-llama-spm.gguf", "google-gemma-2-2b-it.jinja",
       gemma3(shape(1152, 26, 4, 1, 6912, 32768, 1e6, 1e-6, 256), 512), true, std::nullopt, std::nullopt,
       true, std::nullopt, kGemmaTurnTokens, "<end_of_turn>"},
      {"gemma-3-1b-tiny", "gemma3", "ggml-vocab-llama-spm.gguf", "google-gemma-2-2b-it.jinja",
       gemma3(shape(256, 6, 4, 1, 512, 2048, 1e6, 1e-6, 128), 16), true, std::nullopt, std::nullopt, true,
       std::nullopt, kGemmaTurnTokens, "<end_of_turn>"},
      // google/gemma-4-31B-it's shape: 60 layers of 5376, 32 query heads; windowed layers (1024
      // positions) 16 KV heads of 256, every sixth layer full: 4 KV heads of 512 with no attn_v,
      // a quarter of each head roped; Gemma 4's 262k vocabulary and chat template from llama.cpp's
      // bundled vocabulary (--vocab-dir). The tiny variant: gemma-3-1b-tiny's size over the
      // SentencePiece test vocabulary, windowed heads of 64 (2 KV), full heads of 128 (1 KV).
      {.name = "gemma-4-31b", .arch = "gemma4", .vocab_file = "ggml-vocab-gemma-4.gguf", .chat_template = "",
       .hp = gemma4(shape(5376, 60, 32, 16, 21504, 262144, 1e6, 1e-6, 256), 1024, 512, 4), .tied_output = true,
       .proportional_rope = 0.25, .keys_as_values_full = true},
      // google/gemma-4-26B-A4B's shape, as the bundled vocabulary's metadata gives it: 30 layers of
      // 2816, 16 query heads; windowed layers (1024) 8 KV heads of 256, full ones 2 of 512; in
      // every layer a dense GeGLU FFN of 2112 beside 128 experts of 704 (8 per token), the
      // experts' gate and up fused as llama.cpp's converter writes them. The tiny variant:
      // gemma-4-tiny's layers with 16 experts of 128, 4 per token.
      {.name = "gemma-4-26b-a4b", .arch = "gemma4", .vocab_file = "ggml-vocab-gemma-4.gguf", .chat_template = "",
       .hp = moe(gemma4(shape(2816, 30, 16, 8, 2112, 262144, 1e6, 1e-6, 256), 1024, 512, 2), 128, 8, 704),
       .tied_output = true, .proportional_rope = 0.25, .keys_as_values_full = true, .fused_expert_gate_up = true},
      {.name = "gemma-4-a4b-tiny", .arch = "gemma4", .vocab_file = "ggml-vocab-llama-spm.gguf",
       .chat_template = "google-gemma-2-2b-it.jinja",
       .hp = moe(gemma4(shape(256, 6, 4, 2, 512, 2048, 1e6, 1e-6, 64), 16, 128, 1), 16, 4, 128), .tied_output = true,
       .add_bos_token = true, .extra_control_tokens = kGemmaTurnTokens, .eos_token = "<end_of_turn>",
       .proportional_rope = 0.25, .keys_as_values_full = true, .fused_expert_gate_up = true},
      {.name = "gemma-4-tiny", .arch = "gemma4", .vocab_file = "ggml-vocab-llama-spm.gguf",
       .chat_template = "google-gemma-2-2b-it.jinja",
       .hp = gemma4(shape(256, 6, 4, 2, 512, 2048, 1e6, 1e-6, 64), 16, 128, 1), .tied_output = true,
       .add_bos_token = true, .extra_control_tokens = kGemmaTurnTokens, .eos_token = "<end_of_turn>",
       .proportional_rope = 0.25, .keys_as_values_full = true},
      // google/gemma-4-E2B-it's text model: 35 layers of 1536, 8 query heads over one KV head,
      // windowed layers (512 positions) of 256, every fifth layer full (512 wide, a quarter roped),
      // attn_v everywhere; 256 per-layer embedding numbers per layer; the last 20 layers share the
      // keys of layers 13 (windowed) and 14 (full), their GeGLU twice as wide (12288 for 6144).
      // E4B: 42 layers of 2560, 2 KV heads, GeGLU of 10240 (not doubled), five windowed layers to
      // one full, the last 18 sharing. The tiny variant: 10 layers of 256 (4 windowed to 1 full),
      // 32 per-layer numbers, the last 5 layers shared (reading layers 3 and 4) and double-wide.
      {.name = "gemma-4-e2b", .arch = "gemma4", .vocab_file = "ggml-vocab-gemma-4.gguf", .chat_template = "",
       .hp = gemma4_e(gemma4(shape(1536, 35, 8, 1, 6144, 131072, 1e6, 1e-6, 256), 512, 512, 1, 5), 256, 20, true),
       .tied_output = true, .proportional_rope = 0.25},
      {.name = "gemma-4-e4b", .arch = "gemma4", .vocab_file = "ggml-vocab-gemma-4.gguf", .chat_template = "",
       .hp = gemma4_e(gemma4(shape(2560, 42, 8, 2, 10240, 131072, 1e6, 1e-6, 256), 512, 512, 2), 256, 18, false),
       .tied_output = true, .proportional_rope = 0.25},
      {.name = "gemma-4-e2b-tiny", .arch = "gemma4", .vocab_file = "ggml-vocab-llama-spm.gguf",
       .chat_template = "google-gemma-2-2b-it.jinja",
       .hp = gemma4_e(gemma4(shape(256, 10, 4, 1, 512, 2048, 1e6, 1e-6, 64), 16, 128, 1, 5), 32, 5, true),
       .tied_output = true, .add_bos_token = true, .extra_control_tokens = kGemmaTurnTokens,
       .eos_token = "<end_of_turn>", .proportional_rope = 0.25},
      // Phi-3 mini (4k): 32 heads of 96 (MHA), fused QKV and gate/up of 8192, the 32k SentencePiece
      // vocabulary of Phi-3; the tiny variant 4 heads of 64 over two layers.
      {"phi-3-mini", "phi3", "ggml-vocab-phi-3.gguf", "microsoft-Phi-3.5-mini-instruct.jinja",
       shape(3072, 32, 32, 32, 8192, 4096, 10000, 1e-5), false, std::nullopt, std::nullopt, std::nullopt},
      {"phi-3-mini-tiny", "phi3", "ggml-vocab-phi-3.gguf", "microsoft-Phi-3.5-mini-instruct.jinja",
       shape(256, 2, 4, 4, 512, 4096, 10000, 1e-5), false, std::nullopt, std::nullopt, std::nullopt},
      // Gemma 2 2B: 8 query heads of 256 over 4 KV heads, GeGLU of 9216, a 4096-token window on
      // every other layer, soft-capping; the tiny variant a window of 16 over four layers.
      {"gemma-2-2b", "gemma2", "ggml-vocab-llama-spm.gguf", "google-gemma-2-2b-it.jinja",
       gemma2(shape(2304, 26, 8, 4, 9216, 8192, 10000, 1e-6, 256), 4096), true, std::nullopt, std::nullopt,
       true, std::nullopt, kGemmaTurnTokens, "<end_of_turn>"},
      {"gemma-2-2b-tiny", "gemma2", "ggml-vocab-llama-spm.gguf", "google-gemma-2-2b-it.jinja",
       gemma2(shape(256, 4, 4, 2, 512, 2048, 10000, 1e-6, 128), 16), true, std::nullopt, std::nullopt, true,
       std::nullopt, kGemmaTurnTokens, "<end_of_turn>"},
      // Qwen3-Embedding-0.6B: Qwen3-0.6B's shape at a 32k context, the last token's final hidden
      // state as the embedding, with <|endoftext|> appended to every input (add_eos_token) as its
      // GGUF files and sentence-transformers do. The tiny variant: qwen3-tiny's shape.
      {"qwen3-embedding-0.6b", "qwen3", "ggml-vocab-qwen2.gguf", "",
       embedding(shape(1024, 28, 16, 8, 3072, 32768, 1e6, 1e-6, 128), Pooling::kLast), true, std::nullopt,
       std::nullopt, false, std::nullopt, {}, std::nullopt, true},
      {"qwen3-embedding-tiny", "qwen3", "ggml-vocab-qwen2.gguf", "",
       embedding(shape(256, 2, 4, 2, 512, 2048, 1e6, 1e-6, 128), Pooling::kLast), true, std::nullopt,
       std::nullopt, false, std::nullopt, {}, std::nullopt, true},
      // Qwen3-Reranker-0.6B: Qwen3-0.6B's shape with a two-row head (the lm_head's "yes" and "no"
      // rows in the released files) and its rerank prompt. The tiny variant: qwen3-tiny's shape.
      {"qwen3-reranker-0.6b", "qwen3", "ggml-vocab-qwen2.gguf", "",
       reranker(shape(1024, 28, 16, 8, 3072, 40960, 1e6, 1e-6, 128)), true, std::nullopt, std::nullopt, false,
       std::nullopt, {}, std::nullopt, std::nullopt, kQwen3RerankTemplate},
      {"qwen3-reranker-tiny", "qwen3", "ggml-vocab-qwen2.gguf", "",
       reranker(shape(256, 2, 4, 2, 512, 2048, 1e6, 1e-6, 128)), true, std::nullopt, std::nullopt, false,
       std::nullopt, {}, std::nullopt, std::nullopt, kQwen3RerankTemplate},
      // BAAI/bge-small-en-v1.5: a 12-layer BERT of 384 with the [CLS] state as the embedding, over
      // BERT's uncased WordPiece vocabulary (llama.cpp's bert-bge test vocabulary, from the
      // llama.cpp sources node-llama-cpp ships: mkmodel --vocab-dir there). The tiny variant: two
      // layers of 256 with 4 heads of 64.
      {.name = "bge-small", .arch = "bert", .vocab_file = "ggml-vocab-bert-bge.gguf", .chat_template = "",
       .hp = bert(shape(384, 12, 12, 12, 1536, 512, 10000, 1e-12), Pooling::kCls), .tied_output = false},
      {.name = "bge-small-tiny", .arch = "bert", .vocab_file = "ggml-vocab-bert-bge.gguf", .chat_template = "",
       .hp = bert(shape(256, 2, 4, 4, 512, 512, 10000, 1e-12), Pooling::kCls), .tied_output = false},
      // google/embeddinggemma-300m: Gemma 3's layers (24 of 768, 3 heads of 256 over 1 KV head, a
      // 512-token window on five layers of six) attending both ways, mean pooling, Dense modules
      // 768 -> 3072 -> 768, over the SentencePiece test vocabulary (Gemma's 262k one is not in
      // testdata). The tiny variant: six layers of 256 (five windowed, one full, as the pattern
      // is) with a 16-token window, so inputs longer than the window exercise it.
      {.name = "embeddinggemma-300m", .arch = "gemma-embedding", .vocab_file = "ggml-vocab-llama-spm.gguf",
       .chat_template = "", .hp = embedding_gemma(shape(768, 24, 3, 1, 1152, 2048, 1e6, 1e-6, 256), 512, 3072),
       .tied_output = true},
      {.name = "embeddinggemma-tiny", .arch = "gemma-embedding", .vocab_file = "ggml-vocab-llama-spm.gguf",
       .chat_template = "", .hp = embedding_gemma(shape(256, 6, 4, 1, 512, 2048, 1e6, 1e-6, 64), 16, 512),
       .tied_output = true},
      // nomic-ai/nomic-embed-text-v1.5: a 12-layer BERT of 768 with rope (base 1000) and SwiGLU,
      // the mean of its states as the embedding, over BERT's uncased vocabulary. The tiny
      // variant: two layers of 256, 4 heads of 64.
      {.name = "nomic-embed-text-v1.5", .arch = "nomic-bert", .vocab_file = "ggml-vocab-bert-bge.gguf",
       .chat_template = "", .hp = bert(shape(768, 12, 12, 12, 3072, 2048, 1000, 1e-12), Pooling::kMean),
       .tied_output = false},
      {.name = "nomic-bert-tiny", .arch = "nomic-bert", .vocab_file = "ggml-vocab-bert-bge.gguf", .chat_template = "",
       .hp = bert(shape(256, 2, 4, 4, 512, 2048, 1000, 1e-12), Pooling::kMean), .tied_output = false},
      // BAAI/bge-m3: XLM-RoBERTa-large as a BERT (24 layers of 1024, 8192 positions, one token type)
      // with [CLS] pooling, over XLM-R's 250k Unigram vocabulary (llama.cpp's nomic-bert-moe test
      // vocabulary is that one). The tiny variant: two layers of 256, 4 heads of 64.
      {.name = "bge-m3", .arch = "bert", .vocab_file = "ggml-vocab-nomic-bert-moe.gguf", .chat_template = "",
       .hp = xlm_roberta(bert(shape(1024, 24, 16, 16, 4096, 8192, 10000, 1e-5), Pooling::kCls)), .tied_output = false},
      {.name = "bge-m3-tiny", .arch = "bert", .vocab_file = "ggml-vocab-nomic-bert-moe.gguf", .chat_template = "",
       .hp = xlm_roberta(bert(shape(256, 2, 4, 4, 512, 8192, 10000, 1e-5), Pooling::kCls)), .tied_output = false},
      // cross-encoder/ms-marco-MiniLM-L-6-v2: a 6-layer BERT of 384 scoring (query, document)
      // pairs, [CLS] query [SEP] document; the tiny variant: bge-small-tiny's shape.
      {.name = "ms-marco-minilm-l6", .arch = "bert", .vocab_file = "ggml-vocab-bert-bge.gguf", .chat_template = "",
       .hp = cross_encoder(shape(384, 6, 12, 12, 1536, 512, 10000, 1e-12)), .tied_output = false},
      {.name = "bert-reranker-tiny", .arch = "bert", .vocab_file = "ggml-vocab-bert-bge.gguf", .chat_template = "",
       .hp = cross_encoder(shape(256, 2, 4, 4, 512, 512, 10000, 1e-12)), .tied_output = false},
  };
  return table;
}

const Preset* find_preset(std::string_view name) {
  for (const Preset& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace hearth
