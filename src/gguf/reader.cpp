// GGUF parsing with every count, length and offset checked against the bytes actually present
// before anything is allocated: a hostile file gets a one-line error naming the file, the field
// and its byte offset, never a crash, hang or unbounded allocation.
#include <algorithm>
#include <cstring>

#include "base/checked_math.h"
#include "gguf/gguf.h"

namespace hearth::gguf {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS

// Smallest encoded size of one value of each type: lets us reject a lying element count before
// reserving memory for it (count * min_size must fit in the bytes left).
static uint64_t min_encoded_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL: return 1;
    case ValueType::UINT16:
    case ValueType::INT16: return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32: return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
    case ValueType::STRING: return 8;  // the u64 length of an empty string
    case ValueType::ARRAY: return 12;  // u32 type + u64 count of an empty array
  }
  return 1;
}

static bool is_known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::FLOAT64); }

class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, const std::string& name, const ParseLimits& limits)
      : bytes_(bytes), name_(name), limits_(limits) {}

  Status parse(File* out);

 private:
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename... Args>
  Error fail(uint64_t offset, fmt::format_string<Args...> format, Args&&... args) const {
    return make_error("{}: offset {}: {}", name_, offset,
                      fmt::format(format, std::forward<Args>(args)...));
  }

  template <typename T>
  Result<T> read_raw(std::string_view field) {
    if (remaining() < sizeof(T))
      return fail(pos_, "{}: file truncated (need {} bytes, {} left)", field, sizeof(T), remaining());
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  Result<std::string> read_string(std::string_view field) {
    uint64_t at = pos_;
    HEARTH_TRY(uint64_t length, read_raw<uint64_t>(field));
    if (length > remaining())
      return fail(at, "{}: string length {} exceeds the {} bytes left in the file", field, length,
                  remaining());
    if (length > limits_.max_string_bytes)
      return fail(at, "{}: string length {} exceeds the limit of {}", field, length,
                  limits_.max_string_bytes);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return s;
  }

  Result<Value> read_value(ValueType type, std::string_view field, uint64_t depth);
  Result<Array> read_array(std::string_view field, uint64_t depth);
  Status read_tensor_info(File* out, uint64_t index);
  Status place_tensors(File* out);

  std::span<const uint8_t> bytes_;
  const std::string& name_;
  const ParseLimits& limits_;
  uint64_t pos_ = 0;
};

Result<Value> Parser::read_value(ValueType type, std::string_view field, uint64_t depth) {
  switch (type) {
    case ValueType::UINT8: { HEARTH_TRY(uint8_t x, read_raw<uint8_t>(field)); return Value{x}; }
    case ValueType::INT8: { HEARTH_TRY(int8_t x, read_raw<int8_t>(field)); return Value{x}; }
    case ValueType::UINT16: { HEARTH_TRY(uint16_t x, read_raw<uint16_t>(field)); return Value{x}; }
    case ValueType::INT16: { HEARTH_TRY(int16_t x, read_raw<int16_t>(field)); return Value{x}; }
    case ValueType::UINT32: { HEARTH_TRY(uint32_t x, read_raw<uint32_t>(field)); return Value{x}; }
    case ValueType::INT32: { HEARTH_TRY(int32_t x, read_raw<int32_t>(field)); return Value{x}; }
    case ValueType::FLOAT32: { HEARTH_TRY(float x, read_raw<float>(field)); return Value{x}; }
    case ValueType::UINT64: { HEARTH_TRY(uint64_t x, read_raw<uint64_t>(field)); return Value{x}; }
    case ValueType::INT64: { HEARTH_TRY(int64_t x, read_raw<int64_t>(field)); return Value{x}; }
    case ValueType::FLOAT64: { HEARTH_TRY(double x, read_raw<double>(field)); return Value{x}; }
    case ValueType::BOOL: {
      uint64_t at = pos_;
      HEARTH_TRY(uint8_t x, read_raw<uint8_t>(field));
      if (x > 1) return fail(at, "{}: bool value {} is neither 0 nor 1", field, x);
      return Value{x == 1};
    }
    case ValueType::STRING: { HEARTH_TRY(std::string s, read_string(field)); return Value{std::move(s)}; }
    case ValueType::ARRAY: { HEARTH_TRY(Array a, read_array(field, depth + 1)); return Value{std::move(a)}; }
  }
  return fail(pos_, "{}: unknown value type", field);
}

Result<Array> Parser::read_array(std::string_view field, uint64_t depth) {
  uint64_t at = pos_;
  if (depth > limits_.max_array_depth)
    return fail(at, "{}: arrays nested deeper than {}", field, limits_.max_array_depth);
  HEARTH_TRY(uint32_t elem_type, read_raw<uint32_t>(field));
  if (!is_known_value_type(elem_type))
    return fail(at, "{}: unknown array element type {}", field, elem_type);
  uint64_t count_at = pos_;
  HEARTH_TRY(uint64_t count, read_raw<uint64_t>(field));
  Array array;
  array.elem_type = static_cast<ValueType>(elem_type);
  uint64_t min_bytes = 0;
  if (!checked_mul(count, min_encoded_size(array.elem_type), &min_bytes) || min_bytes > remaining())
    return fail(count_at, "{}: array of {} {} elements cannot fit in the {} bytes left", field, count,
                value_type_name(array.elem_type), remaining());
  array.items.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    HEARTH_TRY(Value item, read_value(array.elem_type, field, depth));
    array.items.push_back(std::move(item));
  }
  return array;
}

Status Parser::read_tensor_info(File* out, uint64_t index) {
  uint64_t at = pos_;
  HEARTH_TRY(std::string name, read_string(fmt::format("tensor #{} name", index)));
  if (name.empty()) return fail(at, "tensor #{}: empty name", index);
  if (out->tensor_index_.count(name)) return fail(at, "tensor '{}': duplicate name", name);
  uint64_t dims_at = pos_;
  HEARTH_TRY(uint32_t n_dims, read_raw<uint32_t>(fmt::format("tensor '{}' n_dims", name)));
  if (n_dims == 0 || n_dims > kMaxDims)
    return fail(dims_at, "tensor '{}': n_dims {} is not in 1..{}", name, n_dims, kMaxDims);
  TensorInfo info;
  info.name = std::move(name);
  info.view.n_dims = static_cast<int>(n_dims);
  uint64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t dim_at = pos_;
    HEARTH_TRY(uint64_t ne, read_raw<uint64_t>(fmt::format("tensor '{}' ne[{}]", info.name, d)));
    // ggml keeps dimensions in int64_t: anything above INT64_MAX would turn negative.
    if (ne > static_cast<uint64_t>(INT64_MAX) || !checked_mul(n_elements, ne, &n_elements) ||
        n_elements > static_cast<uint64_t>(INT64_MAX))
      return fail(dim_at, "tensor '{}': dimension ne[{}] = {} overflows the element count",
                  info.name, d, ne);
    info.view.ne[d] = static_cast<int64_t>(ne);
  }
  uint64_t type_at = pos_;
  HEARTH_TRY(uint32_t type_id, read_raw<uint32_t>(fmt::format("tensor '{}' type", info.name)));
  std::optional<DTypeInfo> type = dtype_info(type_id);
  if (!type) return fail(type_at, "tensor '{}': unknown tensor type {}", info.name, type_id);
  info.view.type = type->type;
  if (info.view.ne[0] % type->block_elems != 0)
    return fail(type_at, "tensor '{}': row length {} is not a multiple of the {} block size {}",
                info.name, info.view.ne[0], type->name, type->block_elems);
  uint64_t bytes_per_row = *row_bytes(type->type, static_cast<uint64_t>(info.view.ne[0]));
  uint64_t n_rows = n_elements / std::max<uint64_t>(1, static_cast<uint64_t>(info.view.ne[0]));
  if (info.view.ne[0] == 0) n_rows = 0;
  if (!checked_mul(bytes_per_row, n_rows, &info.view.n_bytes))
    return fail(type_at, "tensor '{}': byte size overflows", info.name);
  uint64_t offset_at = pos_;
  HEARTH_TRY(info.offset, read_raw<uint64_t>(fmt::format("tensor '{}' offset", info.name)));
  if (info.offset % out->alignment_ != 0)
    return fail(offset_at, "tensor '{}': data offset {} is not aligned to {}", info.name,
                info.offset, out->alignment_);
  out->tensor_index_.emplace(info.name, out->tensors_.size());
  out->tensors_.push_back(std::move(info));
  return {};
}

// Checks each tensor's bytes lie inside the data section without overlapping another's, then
// points the views into the mapping.
Status Parser::place_tensors(File* out) {
  uint64_t data_size = bytes_.size() >= out->data_offset_ ? bytes_.size() - out->data_offset_ : 0;
  std::vector<const TensorInfo*> by_offset;
  for (TensorInfo& t : out->tensors_) {
    uint64_t end = 0;
    if (!checked_add(t.offset, t.view.n_bytes, &end) || end > data_size)
      return make_error("{}: tensor '{}': data [{}, +{}) lies outside the data section of {} bytes "
                        "at offset {}",
                        name_, t.name, t.offset, t.view.n_bytes, data_size, out->data_offset_);
    t.view.data = bytes_.data() + out->data_offset_ + t.offset;
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo* prev = by_offset[i - 1];
    const TensorInfo* cur = by_offset[i];
    if (prev->offset + prev->view.n_bytes > cur->offset && cur->view.n_bytes > 0 &&
        prev->view.n_bytes > 0)
      return make_error("{}: tensor '{}' at data offset {} overlaps tensor '{}' [{}, +{})", name_,
                        cur->name, cur->offset, prev->name, prev->offset, prev->view.n_bytes);
  }
  return {};
}

Status Parser::parse(File* out) {
  HEARTH_TRY(uint32_t magic, read_raw<uint32_t>("magic"));
  if (magic != kMagic) return fail(0, "magic: not a GGUF file (bad magic 0x{:08x})", magic);
  HEARTH_TRY(uint32_t version, read_raw<uint32_t>("version"));
  if (version == 1) return fail(4, "version: GGUF v1 is obsolete and not supported");
  if (version != 2 && version != 3) {
    // A big-endian file shows its version byte-swapped.
    if (__builtin_bswap32(version) == 2 || __builtin_bswap32(version) == 3)
      return fail(4, "version: big-endian GGUF files are not supported");
    return fail(4, "version: unsupported GGUF version {}", version);
  }
  out->version_ = version;
  HEARTH_TRY(uint64_t n_tensors, read_raw<uint64_t>("n_tensors"));
  HEARTH_TRY(uint64_t n_kv, read_raw<uint64_t>("n_kv"));
  // Each key/value needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least
  // 8 (name length) + 4 (n_dims) + 8 (ne[0]) + 4 (type) + 8 (offset).
  uint64_t min_bytes = 0;
  if (!checked_mul(n_kv, 13, &min_bytes) || min_bytes > remaining())
    return fail(16, "n_kv: {} key/value pairs cannot fit in the {} bytes left", n_kv, remaining());
  if (!checked_mul(n_tensors, 32, &min_bytes) || min_bytes > remaining())
    return fail(8, "n_tensors: {} tensor infos cannot fit in the {} bytes left", n_tensors,
                remaining());

  out->metadata_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    uint64_t at = pos_;
    HEARTH_TRY(std::string key, read_string(fmt::format("key #{}", i)));
    if (key.empty()) return fail(at, "key #{}: empty key", i);
    if (out->metadata_index_.count(key)) return fail(at, "key '{}': duplicate key", key);
    uint64_t type_at = pos_;
    HEARTH_TRY(uint32_t type, read_raw<uint32_t>(key));
    if (!is_known_value_type(type)) return fail(type_at, "key '{}': unknown value type {}", key, type);
    HEARTH_TRY(Value value, read_value(static_cast<ValueType>(type), key, 0));
    if (key == "general.alignment") {
      const uint32_t* a = std::get_if<uint32_t>(&value.v);
      if (a == nullptr) return fail(type_at, "general.alignment: must be uint32, got {}",
                                    value_type_name(value.type()));
      if (*a == 0 || (*a & (*a - 1)) != 0)
        return fail(type_at, "general.alignment: {} is not a power of two", *a);
      out->alignment_ = *a;
    }
    out->metadata_index_.emplace(key, out->metadata_.size());
    out->metadata_.push_back(KeyValue{std::move(key), std::move(value)});
  }

  out->tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) HEARTH_RETURN_IF_ERROR(read_tensor_info(out, i));

  if (!checked_align_up(pos_, out->alignment_, &out->data_offset_))
    return fail(pos_, "data section offset overflows");
  if (n_tensors > 0 && out->data_offset_ > bytes_.size())
    return fail(pos_, "data section starts at {} beyond the end of the file ({} bytes)",
                out->data_offset_, bytes_.size());
  return place_tensors(out);
}

Result<File> File::parse(std::span<const uint8_t> bytes, const std::string& name,
                         const ParseLimits& limits) {
  File file;
  file.name_ = name;
  Parser parser(bytes, name, limits);
  HEARTH_RETURN_IF_ERROR(parser.parse(&file));
  return file;
}

Result<File> File::open(const std::string& path, const ParseLimits& limits) {
  HEARTH_TRY(MappedFile mapped, MappedFile::open(path));
  auto mapping = std::make_shared<const MappedFile>(std::move(mapped));
  HEARTH_TRY(File file, parse(mapping->bytes(), path, limits));
  file.mapping_ = std::move(mapping);
  return file;
}

const Value* File::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_int() : std::nullopt;
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_float() : std::nullopt;
}

std::optional<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  const std::string* s = v ? v->as_string() : nullptr;
  return s ? std::optional<std::string>(*s) : std::nullopt;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace hearth::gguf
