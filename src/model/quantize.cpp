#include "model/quantize.h"

#include <algorithm>
#include <cctype>

#include "tensor/quant.h"

namespace hearth {
namespace {

struct NamedRecipe {
  std::string_view name;
  DType base;  // the type most tensors get
  int file_type;
};

// llama_ftype values (llama.h) and each recipe's base type.
constexpr NamedRecipe kRecipes[] = {
    {"F32", DType::F32, 0},      {"F16", DType::F16, 1},       {"BF16", DType::BF16, 32},
    {"Q4_0", DType::Q4_0, 2},    {"Q4_1", DType::Q4_1, 3},     {"Q8_0", DType::Q8_0, 7},
    {"Q5_0", DType::Q5_0, 8},    {"Q5_1", DType::Q5_1, 9},     {"Q4_K_S", DType::Q4_K, 14},
    {"Q4_K_M", DType::Q4_K, 15}, {"Q5_K_S", DType::Q5_K, 16},  {"Q5_K_M", DType::Q5_K, 17},
    {"Q6_K", DType::Q6_K, 18},
};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// llama.cpp's substitute when a row length is not a multiple of the K-quant block (256).
DType fallback_for(DType type, int64_t ne0) {
  DType out;
  switch (type) {
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::IQ4_XS: out = DType::IQ4_NL; break;
    case DType::Q4_K: out = DType::Q5_0; break;
    case DType::Q5_K: out = DType::Q5_1; break;
    case DType::Q6_K: out = DType::Q8_0; break;
    default: out = DType::F16; break;
  }
  if (ne0 % dtype_info(out).block_elems != 0) out = DType::F16;
  return out;
}

}  // namespace

std::string recipe_names() {
  std::string names;
  for (const NamedRecipe& r : kRecipes) names += (names.empty() ? "" : ", ") + std::string(r.name);
  return names + " (recipes); or any quantizable tensor type, e.g. q4_k, q5_k, q6_k, q8_0, f16";
}

Result<RecipeChoice> parse_type_or_recipe(const std::string& name) {
  const std::string up = upper(name);
  for (const NamedRecipe& r : kRecipes)
    if (r.name == up) return RecipeChoice{up, std::nullopt, r.file_type};
  if (std::optional<DType> t = dtype_from_name(name)) {
    if (!dtype_info(*t).can_quantize)
      return make_error("type '{}' cannot be produced by hearth (yet)", name);
    int file_type = 0;
    for (const NamedRecipe& r : kRecipes)
      if (r.base == *t) {
        file_type = r.file_type;
        break;
      }
    return RecipeChoice{name, *t, file_type};
  }
  return make_error("unknown type or recipe '{}'; known: {}", name, recipe_names());
}

RecipeContext make_recipe_context(std::string arch, const HParams& hp) {
  RecipeContext ctx;
  ctx.arch = std::move(arch);
  ctx.hp = hp;
  return ctx;
}

uint32_t recipe_file_type(const RecipeChoice& recipe) {
  return static_cast<uint32_t>(recipe.file_type);
}

DType choose_type(const RecipeChoice& recipe, RecipeContext& ctx, const std::string& tensor_name,
                  const TensorView& shape) {
  (void)ctx;
  // Only matrices are quantized; norms, biases and rope factors keep their type.
  if (shape.n_dims < 2 || !tensor_name.ends_with("weight")) return shape.type;
  DType want = recipe.pure.value_or(DType::F32);
  if (!recipe.pure) {
    for (const NamedRecipe& r : kRecipes)
      if (r.name == recipe.name) want = r.base;
  }
  if (shape.ne[0] % dtype_info(want).block_elems != 0) want = fallback_for(want, shape.ne[0]);
  return want;
}

Result<QuantizeReport> quantize_model(const ModelFile& in, const std::string& out_path,
                                      const RecipeChoice& recipe, int n_threads) {
  if (in.format() != SourceFormat::kGguf && in.format() != SourceFormat::kHuggingFace)
    return make_error("{}: unsupported source", in.path());
  HEARTH_TRY(HParams hp, read_hparams(in));
  RecipeContext ctx = make_recipe_context(in.architecture(), hp);
  ctx.has_output = in.find_tensor("output.weight") != nullptr;

  gguf::Writer writer;
  for (const gguf::KeyValue& kv : in.metadata()) writer.set(kv.key, kv.value);
  writer.set_u32("general.quantization_version", 2);
  writer.set_u32("general.file_type", recipe_file_type(recipe));

  QuantizeReport report;
  std::vector<OutputTensor> outputs;
  for (const ModelTensor& t : in.tensors()) {
    report.in.n_params += static_cast<uint64_t>(t.view.n_elements());
    report.in.n_bytes += t.view.n_bytes;
    OutputTensor out;
    out.name = t.name;
    out.shape = t.view;
    out.shape.data = nullptr;
    out.shape.type = choose_type(recipe, ctx, t.name, t.view);
    if (out.shape.type == t.view.type) {
      out.passthrough = t.view.data;
    } else {
      const DTypeInfo& src = dtype_info(t.view.type);
      if (!src.can_dequantize)
        return make_error("{}: tensor '{}' has type {} which hearth cannot convert", in.path(),
                          t.name, src.name);
      const uint8_t* base = static_cast<const uint8_t*>(t.view.data);
      const uint64_t src_row_bytes = *row_bytes(t.view.type, static_cast<uint64_t>(t.view.ne[0]));
      const DType src_type = t.view.type;
      const int64_t ne0 = t.view.ne[0];
      out.rows = [base, src_row_bytes, src_type, ne0](int64_t row, float* dst) {
        dequantize_row(src_type, base + static_cast<uint64_t>(row) * src_row_bytes, dst, ne0);
      };
    }
    report.tensor_types.emplace_back(t.name, out.shape.type);
    outputs.push_back(std::move(out));
  }
  HEARTH_TRY(report.out, write_tensor_pipeline(writer, outputs, out_path, n_threads, "quantize"));
  return report;
}

}  // namespace hearth
