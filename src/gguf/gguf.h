// GGUF v2/v3 files: parsed metadata, tensor infos and zero-copy tensor views over an mmap, plus a
// writer. This layer knows the file format only, nothing about model architectures.
//
// Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv, then n_kv
// key/value pairs, then n_tensors tensor infos (name, u32 n_dims, u64 ne[n_dims], u32 type,
// u64 offset), padding to `general.alignment` (default 32), then the data section; each tensor
// offset is relative to the data section and aligned.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "tensor/tensor_view.h"

namespace hearth::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

std::string_view value_type_name(ValueType type);

struct Value;

// Arrays are homogeneous; `elem_type` is kept even when empty so a rewrite is byte-identical.
struct Array {
  ValueType elem_type = ValueType::UINT8;
  std::vector<Value> items;
};

struct Value {
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, Array, uint64_t, int64_t, double>;
  Storage v;

  ValueType type() const;
  // Integer of any width/sign, if it fits in int64 (u64 above INT64_MAX does not).
  std::optional<int64_t> as_int() const;
  std::optional<double> as_float() const;  // any integer or float type
  const std::string* as_string() const;
  const Array* as_array() const;
  std::optional<bool> as_bool() const;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  TensorView view;       // type, shape, data pointer into the mapping, n_bytes
  uint64_t offset = 0;   // relative to the data section
};

// Limits against hostile files: generous for real models, small enough that a lying count
// cannot make us allocate unboundedly.
struct ParseLimits {
  uint64_t max_string_bytes = 1ull << 30;
  uint64_t max_array_depth = 8;
};

class File {
 public:
  // Maps and validates `path`. Errors name the file, the field and its byte offset.
  static Result<File> open(const std::string& path, const ParseLimits& limits = {});
  // Validates bytes that the caller keeps alive (fuzzing, tests). `name` appears in errors.
  static Result<File> parse(std::span<const uint8_t> bytes, const std::string& name,
                            const ParseLimits& limits = {});

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute offset of the data section
  const std::string& name() const { return name_; }

  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // The map the tensor views borrow (null when parsing caller-owned bytes).
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }

 private:
  std::shared_ptr<const MappedFile> mapping_;  // null when parsing caller-owned bytes
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::map<std::string, size_t, std::less<>> tensor_index_;

  friend class Parser;
};

// Builds a GGUF v3 file: metadata in insertion order, tensors in insertion order, each tensor's
// data aligned to `general.alignment` (32 unless set). Tensor bytes are borrowed until write().
class Writer {
 public:
  void set(std::string key, Value value);  // replaces an existing key in place
  void set_string(std::string key, std::string value) { set(std::move(key), Value{std::move(value)}); }
  void set_u32(std::string key, uint32_t value) { set(std::move(key), Value{value}); }
  void set_f32(std::string key, float value) { set(std::move(key), Value{value}); }
  void set_bool(std::string key, bool value) { set(std::move(key), Value{value}); }
  // Copies every key of `file` (used by quantize and mkmodel to keep tokenizer metadata).
  void copy_metadata(const File& file);
  const std::vector<KeyValue>& metadata() const { return metadata_; }

  // Borrowed bytes: `view.data` must hold exactly the bytes of `view` and outlive write().
  Status add_tensor(std::string name, const TensorView& view);
  // Streamed bytes: `fill` writes row_bytes-many bytes of the tensor into `dst` when write()
  // reaches it, so a multi-GB model is never held in memory whole (mkmodel, quantize).
  using FillFn = std::function<Status(uint8_t* dst)>;
  Status add_tensor(std::string name, const TensorView& shape_and_type, FillFn fill);

  Status write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    TensorView view;  // n_bytes computed from type and shape
    FillFn fill;      // null: copy view.data
  };
  uint64_t alignment() const;

  std::vector<KeyValue> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace hearth::gguf
