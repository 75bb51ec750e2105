#include "model/hf_qwen35.h"

#include <cstring>
#include <string>

namespace hearth {

std::optional<VHeadMove> qwen35_v_head_move(std::string_view gguf_name, const Qwen35Heads& h) {
  if (!h.reorders() || !gguf_name.starts_with("blk.")) return std::nullopt;
  const size_t dot = gguf_name.find('.', 4);
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view rest = gguf_name.substr(dot + 1);
  const int64_t qk_rows = 2 * h.n_k * h.head_k;  // q and k stay where they are
  if (rest == "attn_qkv.weight" || rest == "ssm_conv1d.weight") return VHeadMove{false, qk_rows, h.head_v};
  if (rest == "attn_gate.weight") return VHeadMove{false, 0, h.head_v};
  if (rest == "ssm_beta.weight" || rest == "ssm_alpha.weight" || rest == "ssm_a" || rest == "ssm_dt.bias")
    return VHeadMove{false, 0, 1};
  if (rest == "ssm_out.weight") return VHeadMove{true, 0, h.head_v};
  return std::nullopt;
}

int64_t qwen35_v_head_source(int64_t p, const Qwen35Heads& h, int64_t head_dim, bool to_tiled) {
  const int64_t per_k = h.n_v / h.n_k, x = p % head_dim, head = p / head_dim;
  if (to_tiled) {  // tiled head (j, g) = j * n_k + g comes from grouped head g * per_k + j
    const int64_t j = head / h.n_k, g = head % h.n_k;
    return (g * per_k + j) * head_dim + x;
  }
  const int64_t g = head / per_k, j = head % per_k;  // grouped head (g, j) from tiled j * n_k + g
  return (j * h.n_k + g) * head_dim + x;
}

void qwen35_move_v_heads(const VHeadMove& move, const Qwen35Heads& h, const uint8_t* src, uint8_t* dst,
                         int64_t rows, int64_t cols, uint64_t elem_bytes, bool to_tiled) {
  const uint64_t row_bytes = static_cast<uint64_t>(cols) * elem_bytes;
  if (move.columns) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        std::memcpy(dst + r * row_bytes + c * elem_bytes,
                    src + r * row_bytes + qwen35_v_head_source(c, h, move.head_dim, to_tiled) * elem_bytes,
                    elem_bytes);
    return;
  }
  std::memcpy(dst, src, static_cast<uint64_t>(move.first_row) * row_bytes);
  for (int64_t r = move.first_row; r < rows; ++r) {
    const int64_t from = move.first_row + qwen35_v_head_source(r - move.first_row, h, move.head_dim, to_tiled);
    std::memcpy(dst + r * row_bytes, src + from * row_bytes, row_bytes);
  }
}

Status qwen35_move_tensor(const VHeadMove& move, const Qwen35Heads& heads, const TensorView& view, bool to_tiled,
                          const std::string& where, std::vector<uint8_t>& out) {
  const int64_t rows = view.n_dims <= 1 ? view.ne[0] : view.ne[1], cols = view.n_dims <= 1 ? 1 : view.ne[0];
  const int64_t moved = move.columns ? cols : rows - move.first_row;
  if (view.n_dims > 2 || moved != heads.n_v * move.head_dim)
    return make_error("{}: {} {} where the value heads take {} ({} heads of {})", where,
                      move.columns ? "columns" : "rows", moved, heads.n_v * move.head_dim, heads.n_v, move.head_dim);
  out.resize(view.n_bytes);
  qwen35_move_v_heads(move, heads, static_cast<const uint8_t*>(view.data), out.data(), rows, cols,
                      view.n_bytes / static_cast<uint64_t>(rows * cols), to_tiled);
  return {};
}

Qwen35Value qwen35_value_change(std::string_view hf_name) {
  if (hf_name.ends_with(".A_log")) return Qwen35Value::kNegExp;
  if (hf_name.ends_with("norm.weight") && !hf_name.ends_with("linear_attn.norm.weight")) return Qwen35Value::kPlusOne;
  return Qwen35Value::kNone;
}

}  // namespace hearth
