// Qwen3.5's Gated DeltaNet tensors between Hugging Face's layout and GGUF's, as llama.cpp's
// converter moves them (conversion/qwen.py: Qwen3NextModel and _LinearAttentionVReorderBase):
//   - HF groups the value heads by key head ([k0: v0..v(r-1)], [k1: ...]); GGUF tiles them
//     ([v0 of k0, v0 of k1, ...], [v1 of k0, ...]) so that ggml can broadcast the key heads. That
//     reorders the V rows of in_proj_qkv and of the conv kernel, the rows of in_proj_z/a/b, the
//     entries of A_log and dt_bias, and the columns of out_proj, when there are more value heads
//     than key heads.
//   - ssm_a = -exp(A_log); every RMSNorm weight but the gated one (linear_attn.norm) is stored
//     zero-centred in HF and gets +1; the conv kernel [C, 1, K] loses its middle axis.
// Both directions are here, so the loader (hf_loader.cpp) and the writer (hf_writer.cpp) agree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tensor/tensor_view.h"

namespace hearth {

struct Qwen35Heads {
  int64_t n_k = 0;     // linear_num_key_heads (ssm.group_count)
  int64_t n_v = 0;     // linear_num_value_heads (ssm.time_step_rank)
  int64_t head_k = 0;  // linear_key_head_dim (ssm.state_size)
  int64_t head_v = 0;  // linear_value_head_dim (ssm.inner_size / n_v)
  bool reorders() const { return n_k > 0 && n_v > n_k && n_v % n_k == 0; }
};

// How one tensor's value heads move: along its rows (from `first_row` on, in runs of `head_dim`
// rows per head) or along the columns of every row.
struct VHeadMove {
  bool columns = false;
  int64_t first_row = 0;
  int64_t head_dim = 1;
};

// The move a GGUF tensor of a recurrent layer takes ("blk.N.attn_qkv.weight", ...), if any.
std::optional<VHeadMove> qwen35_v_head_move(std::string_view gguf_name, const Qwen35Heads& heads);

// Position p of the moved range after the move takes its value from the returned position before
// it: to_tiled = HF -> GGUF, else GGUF -> HF. p < n_v * head_dim.
int64_t qwen35_v_head_source(int64_t p, const Qwen35Heads& heads, int64_t head_dim, bool to_tiled);

// Copies a [rows][cols] tensor of `elem_bytes` elements from src to dst with `move` applied.
void qwen35_move_v_heads(const VHeadMove& move, const Qwen35Heads& heads, const uint8_t* src, uint8_t* dst,
                         int64_t rows, int64_t cols, uint64_t elem_bytes, bool to_tiled);

// A 1-D or 2-D tensor's bytes with `move` applied, into `out`; an error naming `where` when its
// rows (or columns) do not hold the value heads.
Status qwen35_move_tensor(const VHeadMove& move, const Qwen35Heads& heads, const TensorView& view, bool to_tiled,
                          const std::string& where, std::vector<uint8_t>& out);

// The value change of a tensor, by its HF name ("model.layers.0.linear_attn.A_log", after any
// "model.language_model." prefix is taken off).
enum class Qwen35Value { kNone, kNegExp, kPlusOne };
Qwen35Value qwen35_value_change(std::string_view hf_name);

}  // namespace hearth
