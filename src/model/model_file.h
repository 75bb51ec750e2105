// The format-independent description of a model on disk. A GGUF file and a Hugging Face folder
// (config.json + safetensors) both become this: GGUF-style metadata keys
// ("llama.embedding_length", "tokenizer.chat_template", ...) plus tensors under their GGUF names
// ("blk.0.attn_q.weight"). Every later layer (forward pass, inspect, quantize) reads only this.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "gguf/gguf.h"
#include "tensor/tensor_view.h"

namespace hearth {

enum class SourceFormat { kGguf, kHuggingFace };

struct ModelTensor {
  std::string name;         // GGUF name, e.g. "blk.3.ffn_down.weight"
  std::string source_name;  // name in the source file ("model.layers.3.mlp.down_proj.weight")
  TensorView view;          // borrows the mapping, or an owned buffer of this ModelFile
  uint64_t offset = 0;      // GGUF: offset in the data section (0 for other sources)
};

class ModelFile {
 public:
  // A regular file is read as GGUF; a directory as a Hugging Face folder.
  static Result<ModelFile> open(const std::string& path);
  // A parsed GGUF (its views borrow the file's mapping or the caller's bytes, kept alive here).
  static Result<ModelFile> from_gguf(gguf::File file);

  SourceFormat format() const { return format_; }
  const std::string& path() const { return path_; }
  uint32_t gguf_version() const { return gguf_version_; }  // 0 for HF folders

  // general.architecture ("llama", "qwen2", "qwen3", ...)
  std::string architecture() const;

  const std::vector<gguf::KeyValue>& metadata() const { return metadata_; }
  const gguf::Value* find(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // "{arch}.{suffix}", e.g. arch_key("block_count") -> "qwen2.block_count"
  std::string arch_key(std::string_view suffix) const;

  const std::vector<ModelTensor>& tensors() const { return tensors_; }
  const ModelTensor* find_tensor(std::string_view name) const;

  // For HF folders: the folder holding tokenizer.json / tokenizer_config.json ("" for GGUF).
  const std::string& hf_tokenizer_dir() const { return hf_tokenizer_dir_; }

  // Drops the resident pages of a tensor that lives in a file map (see MappedFile::release), once
  // its bytes have been copied (packed); tensors in owned buffers are left alone.
  void release_pages(const TensorView& view) const;

  // Construction pieces used by the loaders (model_file.cpp, hf_loader.cpp).
  struct Parts {
    SourceFormat format = SourceFormat::kGguf;
    std::string path;
    uint32_t gguf_version = 0;
    std::vector<gguf::KeyValue> metadata;
    std::vector<ModelTensor> tensors;
    std::vector<std::shared_ptr<const void>> keep_alive;  // mappings and owned buffers
    std::vector<std::shared_ptr<const MappedFile>> mappings;  // the file maps among them
    std::string hf_tokenizer_dir;
  };
  explicit ModelFile(Parts parts);
  ModelFile() = default;

 private:
  SourceFormat format_ = SourceFormat::kGguf;
  std::string path_;
  uint32_t gguf_version_ = 0;
  std::vector<gguf::KeyValue> metadata_;
  std::vector<ModelTensor> tensors_;
  std::vector<std::shared_ptr<const void>> keep_alive_;
  std::vector<std::shared_ptr<const MappedFile>> mappings_;
  std::string hf_tokenizer_dir_;
};

// Loads a Hugging Face folder (implemented in hf_loader.cpp).
Result<ModelFile> open_hf_folder(const std::string& dir);

}  // namespace hearth
