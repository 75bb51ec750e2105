// The safetensors header parser and validator. Everything here reads hostile bytes: every size
// goes through checked math, every JSON field is type-checked, nlohmann exceptions stop at this
// boundary, and each error is one line naming the file, the tensor and the byte offset.
#include "safetensors/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "base/checked_math.h"
#include "safetensors/json_strict.h"

namespace hearth::safetensors {
namespace {

struct DtypeRow {
  Dtype type;
  std::string_view name;
  uint32_t bytes;
};

constexpr std::array kDtypes = {
    DtypeRow{Dtype::F64, "F64", 8},         DtypeRow{Dtype::F32, "F32", 4},
    DtypeRow{Dtype::F16, "F16", 2},         DtypeRow{Dtype::BF16, "BF16", 2},
    DtypeRow{Dtype::I64, "I64", 8},         DtypeRow{Dtype::I32, "I32", 4},
    DtypeRow{Dtype::I16, "I16", 2},         DtypeRow{Dtype::I8, "I8", 1},
    DtypeRow{Dtype::U64, "U64", 8},         DtypeRow{Dtype::U32, "U32", 4},
    DtypeRow{Dtype::U16, "U16", 2},         DtypeRow{Dtype::U8, "U8", 1},
    DtypeRow{Dtype::BOOL, "BOOL", 1},       DtypeRow{Dtype::F8_E4M3, "F8_E4M3", 1},
    DtypeRow{Dtype::F8_E5M2, "F8_E5M2", 1},
};

const DtypeRow& row(Dtype type) {
  for (const DtypeRow& r : kDtypes)
    if (r.type == type) return r;
  HEARTH_CHECK(false, "unknown safetensors Dtype");
}

using Json = nlohmann::ordered_json;

// A JSON number that is a non-negative integer (nlohmann parses those as number_unsigned).
std::optional<uint64_t> as_u64(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    int64_t v = value.get<int64_t>();
    if (v >= 0) return static_cast<uint64_t>(v);
  }
  return std::nullopt;
}

std::string describe(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

}  // namespace

std::string_view dtype_name(Dtype type) { return row(type).name; }
uint32_t dtype_bytes(Dtype type) { return row(type).bytes; }

std::optional<Dtype> dtype_from_name(std::string_view name) {
  for (const DtypeRow& r : kDtypes)
    if (r.name == name) return r.type;
  return std::nullopt;
}

std::optional<DType> model_dtype(Dtype type) {
  switch (type) {
    case Dtype::F32:
      return DType::F32;
    case Dtype::F16:
      return DType::F16;
    case Dtype::BF16:
      return DType::BF16;
    default:
      return std::nullopt;
  }
}

std::optional<Dtype> from_model_dtype(DType type) {
  switch (type) {
    case DType::F32:
      return Dtype::F32;
    case DType::F16:
      return Dtype::F16;
    case DType::BF16:
      return Dtype::BF16;
    default:
      return std::nullopt;
  }
}

uint64_t TensorInfo::n_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // validated at parse time
  return n;
}

Result<TensorView> to_view(const TensorInfo& info, const std::string& file_name) {
  std::optional<DType> type = model_dtype(info.dtype);
  if (!type)
    return make_error(
        "{}: tensor '{}': dtype {} is not supported for model weights (F32, F16, BF16 are)",
        file_name, info.name, dtype_name(info.dtype));
  if (info.shape.size() > static_cast<size_t>(kMaxDims))
    return make_error("{}: tensor '{}': {} dimensions, at most {} are supported", file_name,
                      info.name, info.shape.size(), kMaxDims);
  TensorView view;
  view.type = *type;
  view.n_dims = std::max<int>(1, static_cast<int>(info.shape.size()));
  // Row-major [.., rows, cols] -> ggml ne[0] = cols, ne[1] = rows, ...
  for (size_t i = 0; i < info.shape.size(); ++i)
    view.ne[i] = static_cast<int64_t>(info.shape[info.shape.size() - 1 - i]);
  view.data = info.data;
  view.n_bytes = info.n_bytes();
  return view;
}

// Turns the header JSON into validated TensorInfos. A class so File can befriend it.
class HeaderParser {
 public:
  HeaderParser(std::span<const uint8_t> bytes, const std::string& name, const ParseLimits& limits)
      : bytes_(bytes), name_(name), limits_(limits) {}

  Result<File> run() {
    if (bytes_.size() < 8)
      return make_error("{}: file is {} bytes, too short for the 8-byte header length", name_,
                        bytes_.size());
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes_[static_cast<size_t>(i)];
    if (header_len > limits_.max_header_bytes)
      return make_error("{}: header length {} at offset 0 exceeds the limit of {} bytes", name_,
                        header_len, limits_.max_header_bytes);
    if (header_len > bytes_.size() - 8)
      return make_error("{}: header length {} at offset 0 runs past the end of the file ({} bytes)",
                        name_, header_len, bytes_.size());
    if (header_len == 0) return make_error("{}: header length at offset 0 is 0", name_);

    File file;
    file.name_ = name_;
    file.data_offset_ = 8 + header_len;
    data_ = bytes_.subspan(static_cast<size_t>(file.data_offset_));

    std::string_view text(reinterpret_cast<const char*>(bytes_.data() + 8),
                          static_cast<size_t>(header_len));
    auto parsed = parse_json_strict(text, name_ + ": header", 8, limits_.max_json_depth);
    if (!parsed.ok()) return parsed.error();
    const Json& root = parsed.value();
    if (!root.is_object())
      return make_error("{}: header at offset 8 must be a JSON object, got {}", name_,
                        root.type_name());

    for (const auto& [key, value] : root.items()) {
      if (key == "__metadata__") {
        HEARTH_RETURN_IF_ERROR(read_metadata(value, &file));
        continue;
      }
      auto info = read_tensor(key, value);
      if (!info.ok()) return info.error();
      file.tensors_.push_back(std::move(info).value());
    }

    HEARTH_RETURN_IF_ERROR(check_layout(&file));
    for (size_t i = 0; i < file.tensors_.size(); ++i) {
      TensorInfo& t = file.tensors_[i];
      t.data = data_.data() + t.begin;
      file.index_.emplace(t.name, i);
    }
    return file;
  }

 private:
  Status read_metadata(const Json& value, File* file) const {
    if (!value.is_object())
      return make_error("{}: __metadata__ must be an object of strings, got {}", name_,
                        value.type_name());
    for (const auto& [key, v] : value.items()) {
      if (!v.is_string())
        return make_error("{}: __metadata__ field '{}' must be a string, got {}", name_, key,
                          v.type_name());
      file->metadata_[key] = v.get<std::string>();
    }
    return Status::Ok();
  }

  Result<TensorInfo> read_tensor(const std::string& key, const Json& value) const {
    if (key.empty()) return make_error("{}: a tensor has an empty name", name_);
    if (!value.is_object())
      return make_error("{}: tensor '{}': entry must be a JSON object, got {}", name_, key,
                        value.type_name());
    TensorInfo info;
    info.name = key;

    auto dtype_it = value.find("dtype");
    if (dtype_it == value.end())
      return make_error("{}: tensor '{}': missing field 'dtype'", name_, key);
    if (!dtype_it->is_string())
      return make_error("{}: tensor '{}': field 'dtype' must be a string, got {}", name_, key,
                        dtype_it->type_name());
    std::string dtype_text = dtype_it->get<std::string>();
    std::optional<Dtype> dtype = dtype_from_name(dtype_text);
    if (!dtype)
      return make_error("{}: tensor '{}': unknown dtype {}", name_, key, describe(*dtype_it));
    info.dtype = *dtype;

    auto shape_it = value.find("shape");
    if (shape_it == value.end())
      return make_error("{}: tensor '{}': missing field 'shape'", name_, key);
    if (!shape_it->is_array())
      return make_error("{}: tensor '{}': field 'shape' must be an array, got {}", name_, key,
                        shape_it->type_name());
    if (shape_it->size() > static_cast<size_t>(limits_.max_dims))
      return make_error("{}: tensor '{}': shape has {} dimensions, the limit is {}", name_, key,
                        shape_it->size(), limits_.max_dims);
    uint64_t n_elements = 1;
    for (size_t i = 0; i < shape_it->size(); ++i) {
      const Json& dim = (*shape_it)[i];
      std::optional<uint64_t> d = as_u64(dim);
      if (!d || *d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return make_error("{}: tensor '{}': shape[{}] = {} is not a non-negative integer", name_,
                          key, i, describe(dim));
      if (!checked_mul(n_elements, *d, &n_elements))
        return make_error("{}: tensor '{}': shape {} overflows the element count", name_, key,
                          describe(*shape_it));
      info.shape.push_back(*d);
    }
    uint64_t expected_bytes = 0;
    if (!checked_mul(n_elements, dtype_bytes(info.dtype), &expected_bytes))
      return make_error("{}: tensor '{}': shape {} x {} bytes overflows the byte size", name_, key,
                        describe(*shape_it), dtype_bytes(info.dtype));

    auto off_it = value.find("data_offsets");
    if (off_it == value.end())
      return make_error("{}: tensor '{}': missing field 'data_offsets'", name_, key);
    if (!off_it->is_array() || off_it->size() != 2)
      return make_error("{}: tensor '{}': field 'data_offsets' must be [begin, end], got {}", name_,
                        key, describe(*off_it));
    std::optional<uint64_t> begin = as_u64((*off_it)[0]);
    std::optional<uint64_t> end = as_u64((*off_it)[1]);
    if (!begin || !end)
      return make_error("{}: tensor '{}': data_offsets {} must be non-negative integers", name_,
                        key, describe(*off_it));
    if (*begin > *end)
      return make_error("{}: tensor '{}': data_offsets begin {} is after end {}", name_, key,
                        *begin, *end);
    if (*end > data_.size())
      return make_error(
          "{}: tensor '{}': data_offsets [{}, {}] run past the data section ({} bytes at offset "
          "{})",
          name_, key, *begin, *end, data_.size(), bytes_.size() - data_.size());
    if (*end - *begin != expected_bytes)
      return make_error(
          "{}: tensor '{}': data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}", name_,
          key, *begin, *end, *end - *begin, describe(*shape_it), dtype_text, expected_bytes);
    info.begin = *begin;
    info.end = *end;
    return info;
  }

  // The tensors must tile the data section: sorted by offset, each begins where the previous
  // ended, and the last ends at the end of the file.
  Status check_layout(File* file) const {
    std::vector<TensorInfo>& ts = file->tensors_;
    std::sort(ts.begin(), ts.end(), [](const TensorInfo& a, const TensorInfo& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    uint64_t base = file->data_offset_;
    uint64_t expected = 0;
    const TensorInfo* previous = nullptr;  // last tensor with bytes
    for (const TensorInfo& t : ts) {
      if (t.begin < expected)
        return make_error("{}: tensor '{}': bytes [{}, {}) at offset {} overlap tensor '{}'", name_,
                          t.name, t.begin, t.end, base + t.begin,
                          previous != nullptr ? previous->name : "?");
      if (t.begin > expected)
        return make_error(
            "{}: tensor '{}': {} unused bytes before it at offset {} (holes are not "
            "allowed)",
            name_, t.name, t.begin - expected, base + expected);
      expected = t.end;
      if (t.end > t.begin) previous = &t;
    }
    if (expected != data_.size())
      return make_error("{}: {} bytes at offset {} after the last tensor belong to no tensor",
                        name_, data_.size() - expected, base + expected);
    return Status::Ok();
  }

  std::span<const uint8_t> bytes_;
  std::span<const uint8_t> data_;
  const std::string& name_;
  const ParseLimits& limits_;
};

Result<File> File::parse(std::span<const uint8_t> bytes, const std::string& name,
                         const ParseLimits& limits) {
  return HeaderParser(bytes, name, limits).run();
}

Result<File> File::open(const std::string& path, const ParseLimits& limits) {
  HEARTH_TRY(MappedFile mapped, MappedFile::open(path));
  auto mapping = std::make_shared<const MappedFile>(std::move(mapped));
  HEARTH_TRY(File file, parse(mapping->bytes(), path, limits));
  file.mapping_ = std::move(mapping);
  return file;
}

const TensorInfo* File::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace hearth::safetensors
