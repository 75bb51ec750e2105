// GGUF v3 writer. Tensors are laid out in insertion order, each padded to the alignment, exactly
// as llama.cpp lays them out (its loader requires offsets to follow each other in that way).
// The file is written under a temporary name and renamed, so a failed write leaves nothing.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <unistd.h>

#include "base/checked_math.h"
#include "gguf/gguf.h"

namespace hearth::gguf {
namespace {

constexpr uint64_t kMaxTensorNameBytes = 63;  // GGML_MAX_NAME - 1: llama.cpp refuses longer

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

class Sink {
 public:
  explicit Sink(std::FILE* f) : f_(f) {}
  bool ok() const { return ok_; }
  uint64_t written() const { return written_; }

  void bytes(const void* data, size_t n) {
    if (ok_ && n > 0 && std::fwrite(data, 1, n, f_) != n) ok_ = false;
    written_ += n;
  }
  template <typename T>
  void raw(T value) { bytes(&value, sizeof(T)); }
  void string(const std::string& s) {
    raw<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    static const uint8_t zeros[256] = {};
    uint64_t aligned = 0;
    checked_align_up(written_, alignment, &aligned);
    while (written_ < aligned) bytes(zeros, std::min<uint64_t>(sizeof(zeros), aligned - written_));
  }
  void value(const Value& v) {
    std::visit(
        [this](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) {
            string(x);
          } else if constexpr (std::is_same_v<T, Array>) {
            raw<uint32_t>(static_cast<uint32_t>(x.elem_type));
            raw<uint64_t>(x.items.size());
            for (const Value& item : x.items) value(item);
          } else if constexpr (std::is_same_v<T, bool>) {
            raw<uint8_t>(x ? 1 : 0);
          } else {
            raw<T>(x);
          }
        },
        v.v);
  }

 private:
  std::FILE* f_;
  bool ok_ = true;
  uint64_t written_ = 0;
};

}  // namespace

void Writer::set(std::string key, Value value) {
  for (KeyValue& kv : metadata_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  metadata_.push_back(KeyValue{std::move(key), std::move(value)});
}

void Writer::copy_metadata(const File& file) {
  for (const KeyValue& kv : file.metadata()) set(kv.key, kv.value);
}

uint64_t Writer::alignment() const {
  for (const KeyValue& kv : metadata_)
    if (kv.key == "general.alignment")
      if (const uint32_t* a = std::get_if<uint32_t>(&kv.value.v)) return *a;
  return 32;
}

static Result<TensorView> checked_shape(const std::string& name, const TensorView& view) {
  if (name.empty() || name.size() > kMaxTensorNameBytes)
    return make_error("tensor '{}': name must be 1..{} bytes", name, kMaxTensorNameBytes);
  if (view.n_dims < 1 || view.n_dims > kMaxDims)
    return make_error("tensor '{}': n_dims {} not in 1..{}", name, view.n_dims, kMaxDims);
  uint64_t n_rows = 1;
  for (int d = 1; d < kMaxDims; ++d) {
    if (view.ne[d] < 1 || (d >= view.n_dims && view.ne[d] != 1))
      return make_error("tensor '{}': bad dimension ne[{}] = {}", name, d, view.ne[d]);
    if (!checked_mul(n_rows, static_cast<uint64_t>(view.ne[d]), &n_rows))
      return make_error("tensor '{}': shape overflows", name);
  }
  if (view.ne[0] < 1) return make_error("tensor '{}': bad row length {}", name, view.ne[0]);
  std::optional<uint64_t> per_row = row_bytes(view.type, static_cast<uint64_t>(view.ne[0]));
  if (!per_row)
    return make_error("tensor '{}': row length {} is not a multiple of the {} block size", name,
                      view.ne[0], dtype_name(view.type));
  TensorView out = view;
  if (!checked_mul(*per_row, n_rows, &out.n_bytes))
    return make_error("tensor '{}': byte size overflows", name);
  return out;
}

Status Writer::add_tensor(std::string name, const TensorView& view) {
  HEARTH_TRY(TensorView checked, checked_shape(name, view));
  if (view.data == nullptr) return make_error("tensor '{}': no data", name);
  if (view.n_bytes != 0 && view.n_bytes != checked.n_bytes)
    return make_error("tensor '{}': {} bytes given, shape needs {}", name, view.n_bytes,
                      checked.n_bytes);
  for (const PendingTensor& t : tensors_)
    if (t.name == name) return make_error("tensor '{}': added twice", name);
  tensors_.push_back(PendingTensor{std::move(name), checked, nullptr});
  return {};
}

Status Writer::add_tensor(std::string name, const TensorView& shape_and_type, FillFn fill) {
  HEARTH_TRY(TensorView checked, checked_shape(name, shape_and_type));
  checked.data = nullptr;
  for (const PendingTensor& t : tensors_)
    if (t.name == name) return make_error("tensor '{}': added twice", name);
  tensors_.push_back(PendingTensor{std::move(name), checked, std::move(fill)});
  return {};
}

Status Writer::write(const std::string& path) const {
  const uint64_t align = alignment();
  // A per-process temporary name: concurrent writers of one path never share a partial file.
  std::string tmp_path = fmt::format("{}.tmp.{}", path, ::getpid());
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(tmp_path.c_str(), "wb"));
  if (!file) return make_error("{}: cannot create: {}", tmp_path, std::strerror(errno));
  Sink sink(file.get());

  sink.raw<uint32_t>(0x46554747);  // "GGUF"
  sink.raw<uint32_t>(3);
  sink.raw<uint64_t>(tensors_.size());
  sink.raw<uint64_t>(metadata_.size());
  for (const KeyValue& kv : metadata_) {
    sink.string(kv.key);
    sink.raw<uint32_t>(static_cast<uint32_t>(kv.value.type()));
    sink.value(kv.value);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    sink.string(t.name);
    sink.raw<uint32_t>(static_cast<uint32_t>(t.view.n_dims));
    for (int d = 0; d < t.view.n_dims; ++d) sink.raw<uint64_t>(static_cast<uint64_t>(t.view.ne[d]));
    sink.raw<uint32_t>(static_cast<uint32_t>(t.view.type));
    sink.raw<uint64_t>(offset);
    checked_align_up(offset + t.view.n_bytes, align, &offset);
  }
  sink.pad_to(align);

  std::vector<uint8_t> scratch;
  const uint64_t data_start = sink.written();
  for (const PendingTensor& t : tensors_) {
    if (t.fill) {
      scratch.assign(t.view.n_bytes, 0);
      HEARTH_RETURN_IF_ERROR(t.fill(scratch.data()));
      sink.bytes(scratch.data(), scratch.size());
    } else {
      sink.bytes(t.view.data, t.view.n_bytes);
    }
    // Pad relative to the data section, which itself starts aligned.
    uint64_t rel = sink.written() - data_start;
    uint64_t aligned = 0;
    checked_align_up(rel, align, &aligned);
    static const uint8_t zeros[256] = {};
    while (rel < aligned) {
      uint64_t n = std::min<uint64_t>(sizeof(zeros), aligned - rel);
      sink.bytes(zeros, n);
      rel += n;
    }
    if (!sink.ok()) break;
  }
  bool closed_ok = std::fclose(file.release()) == 0;
  if (!sink.ok() || !closed_ok) {
    std::remove(tmp_path.c_str());
    return make_error("{}: write failed: {}", tmp_path, std::strerror(errno));
  }
  if (std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    std::remove(tmp_path.c_str());
    return make_error("{}: cannot rename to {}: {}", tmp_path, path, std::strerror(errno));
  }
  return {};
}

}  // namespace hearth::gguf
