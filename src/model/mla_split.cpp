#include "model/mla_split.h"

#include <fmt/format.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "tensor/quant.h"

namespace hearth {

namespace {

bool is_plain_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Adds one owned 3-D tensor [n_head][ne1][ne0] under `gguf_name`.
void add_owned(ModelFile::Parts& parts, const std::string& gguf_name, const std::string& source_name, DType type,
               int64_t ne0, int64_t ne1, int64_t n_head, std::shared_ptr<std::vector<uint8_t>> buf) {
  TensorView t;
  t.type = type;
  t.n_dims = 3;
  t.ne = {ne0, ne1, n_head, 1};
  t.data = buf->data();
  t.n_bytes = buf->size();
  parts.tensors.push_back(ModelTensor{gguf_name, source_name, t});
  parts.keep_alive.push_back(std::move(buf));
}

const gguf::Value* find_key(const ModelFile::Parts& parts, const std::string& key) {
  for (const gguf::KeyValue& kv : parts.metadata)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

void set_u32(ModelFile::Parts& parts, const std::string& key, int64_t value) {
  const gguf::Value v{static_cast<uint32_t>(value)};
  for (gguf::KeyValue& kv : parts.metadata)
    if (kv.key == key) {
      kv.value = v;
      return;
    }
  parts.metadata.push_back(gguf::KeyValue{key, v});
}

// "blk.N.attn_kv_b.weight" -> N.
std::optional<int64_t> kv_b_layer(const std::string& name) {
  constexpr std::string_view kPrefix = "blk.", kSuffix = ".attn_kv_b.weight";
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix) || name.size() <= kPrefix.size() + kSuffix.size())
    return std::nullopt;
  int64_t layer = 0;
  for (size_t i = kPrefix.size(); i < name.size() - kSuffix.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || layer > (int64_t{1} << 20)) return std::nullopt;
    layer = layer * 10 + (name[i] - '0');
  }
  return layer;
}

}  // namespace

Status split_kv_b(const TensorView& kv_b, const std::string& where, const MlaHeadShape& d, int64_t layer,
                  ModelFile::Parts& parts) {
  const int64_t h = d.n_head, nope = d.nope, v = d.v_head, lora = d.kv_lora;
  // Each count is at most 2^17 (the loaders bound them), so these products fit in int64.
  if (h <= 0 || nope <= 0 || v <= 0 || lora <= 0 || h > (1 << 17) || nope > (1 << 17) || v > (1 << 17) ||
      lora > (1 << 17))
    return make_error("{}: head count and widths must be in 1..131072", where);
  if (kv_b.n_dims != 2 || kv_b.ne[0] != lora || kv_b.ne[1] != h * (nope + v))
    return make_error("{}: shape [{}, {}], expected [{}, {}] (heads * (qk_nope + v_head) rows of kv_lora_rank)",
                      where, kv_b.ne[1], kv_b.ne[0], h * (nope + v), lora);
  const DTypeInfo& info = dtype_info(kv_b.type);
  const std::optional<uint64_t> row = row_bytes(kv_b.type, uint64_t(lora));
  if (!row || !info.can_dequantize || *row * uint64_t(h * (nope + v)) > kv_b.n_bytes)
    return make_error("{}: a {} matrix with rows of {} cannot be split into attn_k_b and attn_v_b", where,
                      info.name, lora);
  const auto* src = static_cast<const uint8_t*>(kv_b.data);
  const auto head_rows = [&](int64_t head) { return src + uint64_t(head * (nope + v)) * *row; };

  // Values: each head's v_head rows, as they are.
  auto v_buf = std::make_shared<std::vector<uint8_t>>(uint64_t(h * v) * *row);
  for (int64_t head = 0; head < h; ++head)
    std::memcpy(v_buf->data() + uint64_t(head * v) * *row, head_rows(head) + uint64_t(nope) * *row,
                uint64_t(v) * *row);

  // Keys: each head's nope rows transposed to kv_lora rows of nope.
  const bool plain = is_plain_float(kv_b.type);
  const uint64_t es = plain ? *row / uint64_t(lora) : sizeof(float);
  auto k_buf = std::make_shared<std::vector<uint8_t>>(uint64_t(h * nope * lora) * es);
  std::vector<float> f32(plain ? 0 : size_t(lora));
  for (int64_t head = 0; head < h; ++head) {
    uint8_t* dst = k_buf->data() + uint64_t(head * lora * nope) * es;
    for (int64_t c = 0; c < nope; ++c) {
      const uint8_t* in = head_rows(head) + uint64_t(c) * *row;
      if (plain) {
        for (int64_t r = 0; r < lora; ++r) std::memcpy(dst + uint64_t(r * nope + c) * es, in + uint64_t(r) * es, es);
      } else {
        dequantize_row(kv_b.type, in, f32.data(), lora);
        for (int64_t r = 0; r < lora; ++r) std::memcpy(dst + uint64_t(r * nope + c) * es, &f32[size_t(r)], es);
      }
    }
  }
  add_owned(parts, fmt::format("blk.{}.attn_k_b.weight", layer), where + " (split)", plain ? kv_b.type : DType::F32,
            nope, lora, h, std::move(k_buf));
  add_owned(parts, fmt::format("blk.{}.attn_v_b.weight", layer), where + " (split)", kv_b.type, lora, v, h,
            std::move(v_buf));
  return Status::Ok();
}

Status upgrade_legacy_mla(ModelFile::Parts& parts) {
  const gguf::Value* arch_v = find_key(parts, "general.architecture");
  const std::string* arch = arch_v ? arch_v->as_string() : nullptr;
  if (arch == nullptr || *arch != "deepseek2") return Status::Ok();
  const auto has = [&](const std::string& name) {
    for (const ModelTensor& t : parts.tensors)
      if (t.name == name) return true;
    return false;
  };
  bool any = false;
  for (const ModelTensor& t : parts.tensors) any = any || kv_b_layer(t.name).has_value();
  if (!any) return Status::Ok();

  const std::string a = *arch + ".";
  const bool current = find_key(parts, a + "attention.key_length_mla") != nullptr;
  const auto count = [&](const std::string& key) -> Result<int64_t> {
    const gguf::Value* v = find_key(parts, a + key);
    const std::optional<int64_t> x = v ? v->as_int() : std::nullopt;
    if (!x || *x <= 0 || *x > (1 << 17))
      return make_error("{}: {}{} must be an integer in 1..131072 (a DeepSeek file with the combined attn_kv_b)",
                        parts.path, a, key);
    return *x;
  };
  MlaHeadShape shape;
  HEARTH_TRY(shape.n_head, count("attention.head_count"));
  HEARTH_TRY(shape.kv_lora, count("attention.kv_lora_rank"));
  HEARTH_TRY(const int64_t rot, count("rope.dimension_count"));
  HEARTH_TRY(const int64_t key_length, count(current ? "attention.key_length_mla" : "attention.key_length"));
  HEARTH_TRY(shape.v_head, count(current ? "attention.value_length_mla" : "attention.value_length"));
  if (rot >= key_length)
    return make_error("{}: {}rope.dimension_count {} must be below the head width {} (qk_nope + rope)", parts.path, a,
                      rot, key_length);
  shape.nope = key_length - rot;

  std::vector<ModelTensor> kept;
  std::vector<ModelTensor> combined_tensors;
  for (ModelTensor& t : parts.tensors) (kv_b_layer(t.name) ? combined_tensors : kept).push_back(std::move(t));
  parts.tensors = std::move(kept);
  for (const ModelTensor& t : combined_tensors) {
    const int64_t layer = *kv_b_layer(t.name);
    const bool split = has(fmt::format("blk.{}.attn_k_b.weight", layer)) || has(fmt::format("blk.{}.attn_v_b.weight", layer));
    if (split) continue;  // converters that wrote both: the per-head tensors are the ones used
    HEARTH_RETURN_IF_ERROR(split_kv_b(t.view, parts.path + ": " + t.name, shape, layer, parts));
  }
  if (!current) {  // the older converter's keys described the heads of the uncompressed attention
    set_u32(parts, a + "attention.key_length_mla", key_length);
    set_u32(parts, a + "attention.value_length_mla", shape.v_head);
    set_u32(parts, a + "attention.key_length", shape.kv_lora + rot);
    set_u32(parts, a + "attention.value_length", shape.kv_lora);
    set_u32(parts, a + "attention.head_count_kv", 1);
  }
  return Status::Ok();
}

}  // namespace hearth
