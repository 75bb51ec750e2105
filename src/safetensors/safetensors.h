// Hugging Face safetensors files: a validating parser over an mmap (zero-copy tensor bytes), a
// folder loader (single file or sharded with model.safetensors.index.json) and a streaming writer.
// This layer knows the file format only, nothing about model architectures.
//
// Layout: u64 little-endian N, then N bytes of UTF-8 JSON
//   {"<tensor>": {"dtype": "F16", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<string>": "<string>"}}
// (possibly padded with trailing spaces), then the data section. Offsets are relative to the
// data section; like the reference implementation we require the tensors to tile the data
// section exactly (no overlaps, no holes, nothing after the last tensor), which rules out
// polyglot files. Shapes are row-major: the LAST dimension is the contiguous one, the reverse of
// ggml's ne[] order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "tensor/tensor_view.h"

namespace hearth::safetensors {

// Element types the format names. Only F32/F16/BF16 are usable as model weights in hearth; the
// rest parse (so a file with e.g. an I64 position-id buffer is still readable) but to_view()
// refuses them.
enum class Dtype {
  F64,
  F32,
  F16,
  BF16,
  I64,
  I32,
  I16,
  I8,
  U64,
  U32,
  U16,
  U8,
  BOOL,
  F8_E4M3,
  F8_E5M2
};

std::string_view dtype_name(Dtype type);                      // "BF16", as written in the header
uint32_t dtype_bytes(Dtype type);                             // bytes per element
std::optional<Dtype> dtype_from_name(std::string_view name);  // exact (case-sensitive) match
// The hearth type for a dtype usable as model weights (F32, F16, BF16); nullopt otherwise.
std::optional<DType> model_dtype(Dtype type);
// The safetensors dtype that stores hearth `type` unchanged (F32, F16, BF16); nullopt otherwise.
std::optional<Dtype> from_model_dtype(DType type);

// Limits against hostile files; the header cap matches the reference implementation's.
struct ParseLimits {
  uint64_t max_header_bytes = 100'000'000;
  int max_dims = 8;
  int max_json_depth = 16;
};

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<uint64_t> shape;  // row-major, as in the file: [rows, cols]
  uint64_t begin = 0;           // data_offsets, relative to the data section
  uint64_t end = 0;
  const uint8_t* data = nullptr;  // begin of the bytes inside the parsed buffer

  uint64_t n_bytes() const { return end - begin; }
  uint64_t n_elements() const;  // product of shape (validated not to overflow at parse time)
};

// The tensor as a hearth TensorView: ggml dimension order (ne[0] = last safetensors dim), data
// borrowed from the file. Fails for dtypes that are not model weights or more than 4 dims;
// `file_name` appears in the error.
Result<TensorView> to_view(const TensorInfo& info, const std::string& file_name);

class File {
 public:
  // Maps and validates `path`. Errors name the file, the tensor (field) and the byte offset.
  static Result<File> open(const std::string& path, const ParseLimits& limits = {});
  // Validates bytes that the caller keeps alive (fuzzing, tests). `name` appears in errors.
  static Result<File> parse(std::span<const uint8_t> bytes, const std::string& name,
                            const ParseLimits& limits = {});

  const std::string& name() const { return name_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute: 8 + header length

  // Sorted by data offset (the on-disk order of the bytes).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  // The optional "__metadata__" string map.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The mapping that tensor bytes point into (null when parsing caller-owned bytes); hold it to
  // keep views alive after this File is gone.
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }

 private:
  std::shared_ptr<const MappedFile> mapping_;
  std::string name_;
  uint64_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;

  friend class HeaderParser;
};

// A Hugging Face model folder's weights: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` ({"weight_map": {tensor: shard file name}}). Shard names must be
// plain file names inside the folder; every mapped tensor must be in its shard and every shard
// tensor must be mapped.
class Folder {
 public:
  static Result<Folder> open(const std::string& dir, const ParseLimits& limits = {});

  struct Entry {
    size_t shard = 0;   // index into shards()
    size_t tensor = 0;  // index into shards()[shard].tensors()
  };

  const std::string& dir() const { return dir_; }
  const std::vector<File>& shards() const { return shards_; }
  // Every tensor, shard by shard, each shard in data order.
  const std::vector<Entry>& entries() const { return entries_; }
  const TensorInfo& info(const Entry& entry) const {
    return shards_[entry.shard].tensors()[entry.tensor];
  }
  // nullptr when absent.
  const Entry* find(std::string_view name) const;

 private:
  std::string dir_;
  std::vector<File> shards_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> entries_ index
};

// Streaming writer. The header is built from the declared tensors; then each tensor's `write`
// callback is called in order and must emit exactly n_bytes (product of shape x element size),
// in as many pieces as it likes, so a large model is never held in memory whole.
using Emit = std::function<Status(std::span<const uint8_t> bytes)>;
struct TensorToWrite {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<uint64_t> shape;  // row-major
  std::function<Status(const Emit& emit)> write;
};

// Writes `path` (via `path`.tmp + rename). `metadata` becomes "__metadata__". The header is
// padded with spaces to a multiple of 8 bytes, as the reference writer does.
Status write_file(const std::string& path, const std::vector<TensorToWrite>& tensors,
                  const std::map<std::string, std::string>& metadata);

// The header JSON that write_file would produce (tests build malformed variants from it).
Result<std::string> build_header(const std::vector<TensorToWrite>& tensors,
                                 const std::map<std::string, std::string>& metadata);

}  // namespace hearth::safetensors
