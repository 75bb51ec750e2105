#include "model/model_file.h"

#include <filesystem>

#include "model/mla_split.h"

namespace hearth {

ModelFile::ModelFile(Parts parts)
    : format_(parts.format),
      path_(std::move(parts.path)),
      gguf_version_(parts.gguf_version),
      metadata_(std::move(parts.metadata)),
      tensors_(std::move(parts.tensors)),
      keep_alive_(std::move(parts.keep_alive)),
      mappings_(std::move(parts.mappings)),
      hf_tokenizer_dir_(std::move(parts.hf_tokenizer_dir)) {}

Result<ModelFile> ModelFile::from_gguf(gguf::File file) {
  auto shared = std::make_shared<const gguf::File>(std::move(file));
  ModelFile::Parts parts;
  parts.format = SourceFormat::kGguf;
  parts.path = shared->name();
  parts.gguf_version = shared->version();
  parts.metadata = shared->metadata();
  parts.tensors.reserve(shared->tensors().size());
  for (const gguf::TensorInfo& t : shared->tensors())
    parts.tensors.push_back(ModelTensor{t.name, t.name, t.view, t.offset});
  parts.keep_alive.push_back(shared);  // the views borrow its mapping
  if (shared->mapping()) parts.mappings.push_back(shared->mapping());
  HEARTH_RETURN_IF_ERROR(upgrade_legacy_mla(parts));
  return ModelFile(std::move(parts));
}

Result<ModelFile> ModelFile::open(const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return make_error("{}: no such file or directory", path);
  if (std::filesystem::is_directory(status)) return open_hf_folder(path);
  HEARTH_TRY(gguf::File file, gguf::File::open(path));
  return from_gguf(std::move(file));
}

void ModelFile::release_pages(const TensorView& view) const {
  for (const auto& m : mappings_) m->release(view.data, view.n_bytes);
}

std::string ModelFile::architecture() const {
  return get_string("general.architecture").value_or("");
}

std::string ModelFile::arch_key(std::string_view suffix) const {
  return architecture() + "." + std::string(suffix);
}

const gguf::Value* ModelFile::find(std::string_view key) const {
  for (const gguf::KeyValue& kv : metadata_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

std::optional<int64_t> ModelFile::get_int(std::string_view key) const {
  const gguf::Value* v = find(key);
  return v ? v->as_int() : std::nullopt;
}

std::optional<double> ModelFile::get_float(std::string_view key) const {
  const gguf::Value* v = find(key);
  return v ? v->as_float() : std::nullopt;
}

std::optional<std::string> ModelFile::get_string(std::string_view key) const {
  const gguf::Value* v = find(key);
  const std::string* s = v ? v->as_string() : nullptr;
  return s ? std::optional<std::string>(*s) : std::nullopt;
}

const ModelTensor* ModelFile::find_tensor(std::string_view name) const {
  for (const ModelTensor& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace hearth
