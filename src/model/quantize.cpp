#include "model/quantize.h"

#include "tensor/quant.h"

namespace hearth {
namespace {

// A plain type for every quantizable matrix; where a row does not fit its block, llama.cpp's
// substitute of about the same size, else F16.
DType pure_type_for(DType type, const TensorView& shape) {
  if (shape.ne[0] % dtype_info(type).block_elems == 0) return type;
  DType out;
  switch (type) {
    case DType::Q2_K:
    case DType::Q3_K: out = DType::Q4_0; break;
    case DType::Q4_K: out = DType::Q5_0; break;
    case DType::Q5_K: out = DType::Q5_1; break;
    case DType::Q6_K: out = DType::Q8_0; break;
    default: out = DType::F16; break;
  }
  return shape.ne[0] % dtype_info(out).block_elems == 0 ? out : DType::F16;
}

}  // namespace

std::string recipe_names() {
  std::string names;
  for (FileType t : all_file_types())
    if (dtype_info(file_type_base_dtype(t)).can_quantize)
      names += (names.empty() ? "" : ", ") + std::string(file_type_name(t));
  return names + " (llama.cpp recipes); or a tensor type for every matrix, e.g. q4_k, q8_0; or COPY (types kept)";
}

Result<RecipeChoice> parse_type_or_recipe(const std::string& name) {
  if (name == "COPY" || name == "copy") return RecipeChoice{name, std::nullopt, std::nullopt, true};
  if (std::optional<FileType> ft = file_type_from_name(name)) {
    if (!dtype_info(file_type_base_dtype(*ft)).can_quantize)
      return make_error("recipe '{}' needs {} which hearth cannot produce yet", name,
                        dtype_name(file_type_base_dtype(*ft)));
    return RecipeChoice{name, *ft, std::nullopt};
  }
  if (std::optional<DType> t = dtype_from_name(name)) {
    if (!dtype_info(*t).can_quantize)
      return make_error("type '{}' cannot be produced by hearth (yet)", name);
    return RecipeChoice{name, std::nullopt, *t};
  }
  return make_error("unknown type or recipe '{}'; known: {}", name, recipe_names());
}

uint32_t recipe_file_type(const RecipeChoice& recipe) {
  if (recipe.copy) return 0;  // quantize_model keeps the input's; mkmodel's weights are F32 (ALL_F32)
  if (recipe.recipe) return file_type_gguf_value(*recipe.recipe);
  // A pure type is recorded as the recipe with that base type, as llama-quantize --pure does.
  for (FileType t : all_file_types())
    if (file_type_base_dtype(t) == *recipe.pure) return file_type_gguf_value(t);
  return 0;
}

Result<std::vector<DType>> plan_tensor_types(const RecipeChoice& recipe, const std::string& arch,
                                             const HParams& hp,
                                             std::span<const RecipeTensor> tensors) {
  if (recipe.recipe) {
    RecipeInput input;
    input.arch = arch;
    input.n_layer = static_cast<int>(hp.n_layer);
    input.n_head = static_cast<int>(hp.n_head);
    input.n_head_kv = static_cast<int>(hp.n_head_kv);
    input.n_expert = static_cast<int>(hp.n_expert);
    return plan_quantization(*recipe.recipe, input, tensors);
  }
  std::vector<DType> types;
  for (const RecipeTensor& t : tensors)
    types.push_back(!recipe.copy && tensor_is_quantizable(t.name, t.shape) ? pure_type_for(*recipe.pure, t.shape)
                                                                           : t.shape.type);
  return types;
}

Result<QuantizeReport> quantize_model(const ModelFile& in, const std::string& out_path,
                                      const RecipeChoice& recipe, int n_threads) {
  HEARTH_TRY(HParams hp, read_hparams(in));
  std::vector<RecipeTensor> plan_in;
  for (const ModelTensor& t : in.tensors()) plan_in.push_back(RecipeTensor{t.name, t.view});
  HEARTH_TRY(std::vector<DType> types, plan_tensor_types(recipe, in.architecture(), hp, plan_in));

  gguf::Writer writer;
  for (const gguf::KeyValue& kv : in.metadata()) writer.set(kv.key, kv.value);
  writer.set_u32("general.quantization_version", 2);
  if (!recipe.copy || in.find("general.file_type") == nullptr)
    writer.set_u32("general.file_type", recipe_file_type(recipe));

  QuantizeReport report;
  std::vector<OutputTensor> outputs;
  for (size_t i = 0; i < in.tensors().size(); ++i) {
    const ModelTensor& t = in.tensors()[i];
    report.in.n_params += static_cast<uint64_t>(t.view.n_elements());
    report.in.n_bytes += t.view.n_bytes;
    OutputTensor out;
    out.name = t.name;
    out.shape = t.view;
    out.shape.data = nullptr;
    out.shape.type = types[i];
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
