// Per-tensor type choice of llama-quantize (llama.cpp de3ff81, src/llama-quant.cpp), written as
// one rule function per tensor role. Every rule here was checked against llama.cpp's own
// quantizer through tests/peers/build/llama-harness (quantize, then types); see
// tests/model/quantize_recipe_test.cpp and tests/peers/quantize_recipe.test.mjs.
#include "model/quantize_recipe.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace hearth {
namespace {

struct FileTypeEntry {
  FileType type;
  std::string_view name;
  DType base;  // the type of ordinary weights before the mix adjusts them
};

constexpr std::array kFileTypes = {
    FileTypeEntry{FileType::ALL_F32, "F32", DType::F32},
    FileTypeEntry{FileType::MOSTLY_F16, "F16", DType::F16},
    FileTypeEntry{FileType::Q4_0, "Q4_0", DType::Q4_0},
    FileTypeEntry{FileType::Q4_1, "Q4_1", DType::Q4_1},
    FileTypeEntry{FileType::Q8_0, "Q8_0", DType::Q8_0},
    FileTypeEntry{FileType::Q5_0, "Q5_0", DType::Q5_0},
    FileTypeEntry{FileType::Q5_1, "Q5_1", DType::Q5_1},
    FileTypeEntry{FileType::Q2_K, "Q2_K", DType::Q2_K},
    FileTypeEntry{FileType::Q3_K_S, "Q3_K_S", DType::Q3_K},
    FileTypeEntry{FileType::Q3_K_M, "Q3_K_M", DType::Q3_K},
    FileTypeEntry{FileType::Q3_K_L, "Q3_K_L", DType::Q3_K},
    FileTypeEntry{FileType::Q4_K_S, "Q4_K_S", DType::Q4_K},
    FileTypeEntry{FileType::Q4_K_M, "Q4_K_M", DType::Q4_K},
    FileTypeEntry{FileType::Q5_K_S, "Q5_K_S", DType::Q5_K},
    FileTypeEntry{FileType::Q5_K_M, "Q5_K_M", DType::Q5_K},
    FileTypeEntry{FileType::Q6_K, "Q6_K", DType::Q6_K},
    FileTypeEntry{FileType::IQ2_XXS, "IQ2_XXS", DType::IQ2_XXS},
    FileTypeEntry{FileType::IQ2_XS, "IQ2_XS", DType::IQ2_XS},
    FileTypeEntry{FileType::Q2_K_S, "Q2_K_S", DType::Q2_K},
    FileTypeEntry{FileType::IQ3_XS, "IQ3_XS", DType::IQ3_S},
    FileTypeEntry{FileType::IQ3_XXS, "IQ3_XXS", DType::IQ3_XXS},
    FileTypeEntry{FileType::IQ1_S, "IQ1_S", DType::IQ1_S},
    FileTypeEntry{FileType::IQ4_NL, "IQ4_NL", DType::IQ4_NL},
    FileTypeEntry{FileType::IQ3_S, "IQ3_S", DType::IQ3_S},
    FileTypeEntry{FileType::IQ3_M, "IQ3_M", DType::IQ3_S},
    // IQ2_S is "IQ2_XS-sized but better", so its ordinary weights are IQ2_XS; IQ2_M uses IQ2_S.
    FileTypeEntry{FileType::IQ2_S, "IQ2_S", DType::IQ2_XS},
    FileTypeEntry{FileType::IQ2_M, "IQ2_M", DType::IQ2_S},
    FileTypeEntry{FileType::IQ4_XS, "IQ4_XS", DType::IQ4_XS},
    FileTypeEntry{FileType::IQ1_M, "IQ1_M", DType::IQ1_M},
    FileTypeEntry{FileType::MOSTLY_BF16, "BF16", DType::BF16},
    FileTypeEntry{FileType::TQ1_0, "TQ1_0", DType::TQ1_0},
    FileTypeEntry{FileType::TQ2_0, "TQ2_0", DType::TQ2_0},
    FileTypeEntry{FileType::MXFP4_MOE, "MXFP4_MOE", DType::MXFP4},
};

constexpr std::array kAllFileTypes = [] {
  std::array<FileType, kFileTypes.size()> out{};
  for (size_t i = 0; i < kFileTypes.size(); ++i) out[i] = kFileTypes[i].type;
  return out;
}();

const FileTypeEntry& entry(FileType type) {
  for (const FileTypeEntry& e : kFileTypes)
    if (e.type == type) return e;
  HEARTH_CHECK(false, "unknown FileType");
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// The role a tensor plays, as far as the mixes care. Names are matched by substring so that
// expert and shared-expert variants (ffn_down_exps, ffn_up_shexp) share their dense twin's rule.
enum class Role { kTokenEmbd, kOutput, kAttnQ, kAttnK, kAttnV, kAttnOutput, kFfnUp, kFfnGate, kFfnDown, kOther };

Role role_of(std::string_view name) {
  if (name == "output.weight") return Role::kOutput;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Role::kTokenEmbd;
  // Fused QKV and MLA's kv_b carry the values, so they get the attn_v treatment and count as one.
  if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") || contains(name, "attn_v.weight"))
    return Role::kAttnV;
  if (contains(name, "attn_k.weight")) return Role::kAttnK;
  if (contains(name, "attn_q.weight")) return Role::kAttnQ;
  if (contains(name, "attn_output.weight")) return Role::kAttnOutput;
  if (contains(name, "ffn_up")) return Role::kFfnUp;
  if (contains(name, "ffn_gate")) return Role::kFfnGate;
  if (contains(name, "ffn_down")) return Role::kFfnDown;
  return Role::kOther;
}

// ggml_n_dims: trailing dimensions of extent 1 do not count, so a [n, 1] matrix is 1-D.
int effective_dims(const TensorView& shape) {
  for (int d = kMaxDims - 1; d >= 1; --d)
    if (shape.ne[d] > 1) return d + 1;
  return 1;
}

bool is_quantized(DType type) {
  switch (type) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::F64:
    case DType::I8: case DType::I16: case DType::I32: case DType::I64:
      return false;
    default:
      return true;
  }
}

int64_t block_elems(DType type) { return dtype_info(type).block_elems; }

// "More bits" layers of the *_M mixes: the first and last eighth, and every third one between.
bool use_more_bits(int i_layer, int n_layer) {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

bool is_one_of(FileType t, std::initializer_list<FileType> set) {
  return std::find(set.begin(), set.end(), t) != set.end();
}

// The 1- and 2-bit IQ mixes share one set of rules.
bool is_low_bit_iq(FileType t) {
  return is_one_of(t, {FileType::IQ2_XXS, FileType::IQ2_XS, FileType::IQ1_S, FileType::IQ2_S,
                       FileType::IQ2_M, FileType::IQ1_M});
}

// The layer an ffn tensor belongs to. Dense models count tensors as they come; MoE models read it
// from the name because Mixtral-style files interleave experts of different layers.
Result<int> ffn_layer(const RecipeInput& model, std::string_view name, int counter, int n_layer) {
  if (std::max(1, model.n_expert) == 1) return counter;
  constexpr std::string_view kPrefix = "blk.";
  int layer = -1;
  const char* end = name.data() + name.size();
  if (name.substr(0, kPrefix.size()) == kPrefix) {
    const char* first = name.data() + kPrefix.size();
    auto [ptr, ec] = std::from_chars(first, end, layer);
    if (ec != std::errc() || ptr == end || *ptr != '.') layer = -1;
  }
  if (layer < 0) return make_error("quantize: cannot tell the layer of MoE tensor '{}'", name);
  if (layer >= n_layer) return make_error("quantize: tensor '{}' names block {} of {}", name, layer, n_layer);
  return layer;
}

// output.weight, and token_embd.weight when it is also the output: the logits are sensitive, so
// these get 6 bits (or Q8_0 where 6-bit blocks do not fit the row).
DType output_rule(FileType ft, const RecipeInput& model, const TensorView& shape, DType t) {
  if (ft == FileType::MXFP4_MOE) return DType::Q8_0;
  if (model.arch == "falcon" || shape.ne[0] % block_elems(t) != 0) return DType::Q8_0;
  if (is_low_bit_iq(ft) || ft == FileType::IQ3_XXS) return DType::Q5_K;
  return t == DType::Q8_0 ? DType::Q8_0 : DType::Q6_K;
}

// An untied token_embd is only a lookup table, so the very low-bit mixes keep it a little larger.
DType token_embd_rule(FileType ft, DType t) {
  switch (ft) {
    case FileType::IQ2_XXS: case FileType::IQ2_XS: case FileType::IQ1_S: case FileType::IQ1_M:
      return DType::Q2_K;
    case FileType::IQ2_S: case FileType::IQ2_M: case FileType::IQ3_XXS:
      return DType::IQ3_S;
    case FileType::TQ1_0: case FileType::TQ2_0:
      return DType::Q4_K;
    default:
      return t;
  }
}

// attn_v (and fused qkv / kv_b): small when KV heads are shared (GQA), and errors in V pass straight
// into every head's output, so most mixes give it more bits.
DType attn_v_rule(FileType ft, const RecipeInput& model, const RecipeState& st, DType t) {
  const int gqa = model.n_gqa();
  const int i = st.i_attn_v;
  switch (ft) {
    case FileType::Q2_K: t = gqa >= 4 ? DType::Q4_K : DType::Q3_K; break;
    case FileType::Q2_K_S: if (gqa >= 4) t = DType::Q4_K; break;
    case FileType::IQ3_XXS:
      t = gqa >= 4 ? DType::Q4_K : (model.has_imatrix ? DType::IQ3_XXS : DType::IQ3_S);
      break;
    case FileType::IQ3_XS: case FileType::IQ3_S: if (gqa >= 4) t = DType::Q4_K; break;
    case FileType::IQ3_M: t = DType::Q4_K; break;
    case FileType::Q3_K_M: t = i < 2 ? DType::Q5_K : DType::Q4_K; break;
    case FileType::Q3_K_L: t = DType::Q5_K; break;
    case FileType::IQ4_NL: case FileType::IQ4_XS: if (gqa >= 4) t = DType::Q5_K; break;
    case FileType::Q4_K_M: case FileType::Q5_K_M: if (use_more_bits(i, st.n_attn_v)) t = DType::Q6_K; break;
    case FileType::Q4_K_S: if (i < 4) t = DType::Q5_K; break;
    default: break;
  }
  // 70B models share one V among 8 query heads, so V is 8x smaller than Q: extra bits are cheap.
  if (model.is_70b_class() && (t == DType::Q3_K || t == DType::Q4_K)) t = DType::Q5_K;
  if (model.n_expert == 8) t = DType::Q8_0;  // Mixtral: attention is a small part of the model
  return t;
}

// The 1- and 2-bit IQ mixes, for everything but output and token_embd.
DType low_bit_iq_rule(FileType ft, const RecipeInput& model, Role role, RecipeState& st, DType t) {
  const bool iq2_s_or_m = ft == FileType::IQ2_S || ft == FileType::IQ2_M;
  switch (role) {
    case Role::kAttnV:
      t = (model.n_gqa() >= 4 || model.n_expert >= 4) ? DType::Q4_K : iq2_s_or_m ? DType::IQ3_S : DType::Q2_K;
      ++st.i_attn_v;
      break;
    case Role::kAttnK:
      if (model.n_expert == 8) t = DType::Q4_K;
      break;
    case Role::kFfnDown:
      // Counted, not parsed from the name, even for MoE models.
      if (st.i_ffn_down < st.n_ffn_layers / 8) t = iq2_s_or_m ? DType::IQ3_S : DType::Q2_K;
      ++st.i_ffn_down;
      break;
    case Role::kAttnOutput:
      if (model.n_expert == 8) t = DType::Q5_K;
      else if (ft == FileType::IQ1_S || ft == FileType::IQ1_M) t = DType::IQ2_XXS;
      else if (iq2_s_or_m) t = DType::IQ3_S;
      break;
    default:
      break;
  }
  return t;
}

Result<DType> ffn_down_rule(FileType ft, const RecipeInput& model, std::string_view name, RecipeState& st,
                            DType t) {
  HEARTH_TRY(const int i, ffn_layer(model, name, st.i_ffn_down, st.n_ffn_layers));
  const int n = st.n_ffn_layers;
  const bool falcon = model.arch == "falcon";
  switch (ft) {
    case FileType::Q2_K: t = DType::Q3_K; break;
    case FileType::Q2_K_S: if (i < n / 8) t = DType::Q4_K; break;
    case FileType::IQ3_XXS: if (!model.has_imatrix) t = i < n / 8 ? DType::Q4_K : DType::Q3_K; break;
    case FileType::Q3_K_M:
      t = i < n / 16 ? DType::Q5_K : (!falcon || use_more_bits(i, n)) ? DType::Q4_K : DType::Q3_K;
      break;
    case FileType::IQ3_M:
      if (i < n / 8 || (model.n_expert == 8 && use_more_bits(i, n))) t = DType::Q4_K;
      break;
    case FileType::Q3_K_L: t = falcon ? DType::Q4_K : DType::Q5_K; break;
    case FileType::Q4_K_M:
      if (falcon) t = i < n / 16 ? DType::Q6_K : use_more_bits(i, n) ? DType::Q5_K : DType::Q4_K;
      else if (use_more_bits(i, n)) t = DType::Q6_K;
      break;
    case FileType::IQ4_NL: case FileType::IQ4_XS:
      if (i < n / 8 && !model.has_imatrix) t = DType::Q5_K;
      break;
    case FileType::Q5_K_M: if (use_more_bits(i, n)) t = DType::Q6_K; break;
    case FileType::Q4_K_S: if (!falcon && i < n / 8) t = DType::Q5_K; break;
    case FileType::Q4_0: case FileType::Q5_0:
      // Only with an importance matrix, so that plain Q4_0/Q5_0 files stay pure.
      if (model.has_imatrix && i < n / 8) t = ft == FileType::Q4_0 ? DType::Q4_1 : DType::Q5_1;
      break;
    default: break;
  }
  ++st.i_ffn_down;
  return t;
}

DType attn_output_rule(FileType ft, const RecipeInput& model, DType t) {
  if (model.arch == "falcon") return ft == FileType::Q3_K_L ? DType::Q4_K : t;
  if (model.n_expert == 8) {
    const bool bump = is_one_of(ft, {FileType::Q2_K, FileType::IQ3_XS, FileType::IQ3_XXS, FileType::Q3_K_S,
                                     FileType::Q3_K_M, FileType::IQ4_NL, FileType::Q4_K_S, FileType::Q4_K_M,
                                     FileType::IQ3_S, FileType::IQ3_M, FileType::IQ4_XS});
    return bump ? DType::Q5_K : t;
  }
  switch (ft) {
    case FileType::Q2_K: return DType::Q3_K;
    case FileType::IQ3_XXS: return DType::IQ3_S;
    case FileType::Q3_K_M: case FileType::IQ3_M: return DType::Q4_K;
    case FileType::Q3_K_L: return DType::Q5_K;
    default: return t;
  }
}

// ffn_up / ffn_gate: only IQ3_XS changes them, to IQ3_XXS in the middle three quarters.
Result<DType> ffn_up_gate_rule(FileType ft, const RecipeInput& model, std::string_view name, int& counter,
                               int n_layer, DType t) {
  HEARTH_TRY(const int i, ffn_layer(model, name, counter, n_layer));
  if (ft == FileType::IQ3_XS && i >= n_layer / 8 && i < 7 * n_layer / 8) t = DType::IQ3_XXS;
  ++counter;
  return t;
}

// The mix's choice for a quantizable tensor, before the shape fallback.
Result<DType> mix_rule(FileType ft, const RecipeInput& model, std::string_view name, const TensorView& shape,
                       RecipeState& st, DType t) {
  const Role role = role_of(name);
  if (role == Role::kOutput || (role == Role::kTokenEmbd && st.tied_output)) return output_rule(ft, model, shape, t);
  if (ft == FileType::MXFP4_MOE) {
    // Expert stacks (3-D) go to MXFP4, everything else to Q8_0. bailingmoe3's MLA projections are
    // 3-D too, so there only the ffn experts count.
    const bool ffn = role == Role::kFfnUp || role == Role::kFfnGate || role == Role::kFfnDown;
    return shape.ne[2] > 1 && (model.arch != "bailingmoe3" || ffn) ? DType::MXFP4 : DType::Q8_0;
  }
  if (role == Role::kTokenEmbd) return token_embd_rule(ft, t);
  if (is_low_bit_iq(ft)) return low_bit_iq_rule(ft, model, role, st, t);
  switch (role) {
    case Role::kAttnV: {
      t = attn_v_rule(ft, model, st, t);
      ++st.i_attn_v;
      return t;
    }
    case Role::kAttnK:
      if (model.n_expert == 8) return DType::Q8_0;
      if (ft == FileType::IQ3_XS) return DType::IQ3_XXS;
      if (ft == FileType::IQ3_XXS) return DType::IQ2_S;
      return t;
    case Role::kAttnQ:
      if (ft == FileType::IQ3_XS) return DType::IQ3_XXS;
      if (ft == FileType::IQ3_XXS) return DType::IQ2_S;
      return t;
    case Role::kFfnDown: return ffn_down_rule(ft, model, name, st, t);
    case Role::kAttnOutput: return attn_output_rule(ft, model, t);
    case Role::kFfnGate: return ffn_up_gate_rule(ft, model, name, st.i_ffn_gate, st.n_ffn_layers, t);
    case Role::kFfnUp: return ffn_up_gate_rule(ft, model, name, st.i_ffn_up, st.n_ffn_layers, t);
    default: return t;
  }
}

// Block-quantized rows must hold whole blocks. When the chosen type's 256-element block does not
// divide the row, take the closest 32-element type; if even 32 does not divide it, F16.
Result<DType> shape_fallback(const TensorView& shape, DType t, RecipeState& st) {
  const int64_t n_cols = shape.ne[0];
  if (n_cols % block_elems(t) == 0) return t;
  ++st.n_fallback;
  DType alt = t;
  switch (t) {
    case DType::IQ1_S: case DType::IQ1_M: case DType::IQ2_XXS: case DType::IQ2_XS:
    case DType::IQ2_S: case DType::IQ3_XXS: case DType::IQ3_S: case DType::IQ4_XS:
      alt = DType::IQ4_NL; break;
    case DType::Q2_K: case DType::Q3_K: case DType::TQ1_0: case DType::TQ2_0:
      alt = DType::Q4_0; break;
    case DType::Q4_K: alt = DType::Q5_0; break;
    case DType::Q5_K: alt = DType::Q5_1; break;
    case DType::Q6_K: alt = DType::Q8_0; break;
    default:
      if (block_elems(t) > 32) return make_error("quantize: no fallback type for {}", dtype_name(t));
      break;  // already a 32-element type: only F16 is left
  }
  return n_cols % block_elems(alt) == 0 ? alt : DType::F16;
}

int block_of(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return -1;
  int layer = -1;
  const char* first = name.data() + kPrefix.size();
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(first, end, layer);
  // sscanf("blk.%d.") semantics: the number is taken even if the dot is missing.
  if (ec != std::errc()) return -1;
  (void)ptr;
  return layer;
}

}  // namespace

std::string_view file_type_name(FileType type) { return entry(type).name; }

std::optional<FileType> file_type_from_name(std::string_view name) {
  for (const FileTypeEntry& e : kFileTypes) {
    if (e.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::toupper(static_cast<unsigned char>(name[i])) == static_cast<unsigned char>(e.name[i]);
    if (same) return e.type;
  }
  return std::nullopt;
}

std::span<const FileType> all_file_types() { return kAllFileTypes; }

DType file_type_base_dtype(FileType type) { return entry(type).base; }

bool RecipeInput::is_70b_class() const {
  // Mirrors the model-size labels of llama.cpp's loaders for the architectures that have a 70B.
  if (arch == "llama") return n_expert != 8 && n_layer == 80 && n_head != n_head_kv;
  if (arch == "qwen2" || arch == "deci" || arch == "olmo") return n_layer == 80;
  if (arch == "jais2") return n_layer == 68;
  return false;
}

RecipeState make_recipe_state(const RecipeInput& model, std::span<const std::string> tensor_names) {
  RecipeState st;
  st.n_ffn_layers = model.n_layer;
  for (const std::string& name : tensor_names) {
    const Role role = role_of(name);
    if (role == Role::kAttnV) ++st.n_attn_v;
    if (role == Role::kOutput) st.tied_output = false;
  }
  return st;
}

bool tensor_is_quantizable(std::string_view name, const TensorView& shape) {
  if (effective_dims(shape) < 2) return false;
  if (name.size() < 6 || name.substr(name.size() - 6) != "weight") return false;
  if (name == "position_embd.weight" || name == "token_types.weight") return false;  // BERT tables
  // Norms, MoE routers and tiny or index-valued tensors where quantization saves nothing or breaks
  // meaning.
  static constexpr std::string_view kKeep[] = {
      "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
      "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
      "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
      "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
      "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
      "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
      "time_mix_lerp_fused.weight", "attn_rel_b.weight",
      // vision / audio towers
      ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
      ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
  };
  for (std::string_view part : kKeep)
    if (contains(name, part)) return false;
  return true;
}

Result<DType> choose_tensor_type(FileType type, const RecipeInput& model, std::string_view name,
                                 const TensorView& shape, RecipeState& state) {
  if (!tensor_is_quantizable(name, shape)) return shape.type;
  const DType base = file_type_base_dtype(type);
  // F32 / F16 / BF16 files convert every quantizable weight and apply no mix.
  if (!is_quantized(base)) return base;
  HEARTH_TRY(const DType mixed, mix_rule(type, model, name, shape, state, base));
  return shape_fallback(shape, mixed, state);
}

std::vector<size_t> llama_tensor_order(std::span<const std::string> tensor_names) {
  std::vector<size_t> order(tensor_names.size());
  std::vector<int> blocks(tensor_names.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
    blocks[i] = block_of(tensor_names[i]);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (blocks[a] != blocks[b]) return blocks[a] < blocks[b];
    return tensor_names[a] < tensor_names[b];
  });
  return order;
}

Result<std::vector<DType>> plan_quantization(FileType type, const RecipeInput& model,
                                             std::span<const RecipeTensor> tensors) {
  std::vector<std::string> names;
  names.reserve(tensors.size());
  for (const RecipeTensor& t : tensors) names.push_back(t.name);
  RecipeState state = make_recipe_state(model, names);
  std::vector<DType> out(tensors.size(), DType::F32);
  for (size_t i : llama_tensor_order(names)) {
    HEARTH_TRY(out[i], choose_tensor_type(type, model, tensors[i].name, tensors[i].shape, state));
  }
  return out;
}

bool type_requires_imatrix(std::string_view name, DType chosen, FileType type) {
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight") return false;
  switch (chosen) {
    case DType::IQ3_XXS: case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S:
    case DType::IQ1_M: case DType::IQ1_S:
      return true;
    case DType::Q2_K:
      return type == FileType::Q2_K_S;
    default:
      return false;
  }
}

}  // namespace hearth
