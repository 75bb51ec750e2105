// Streaming safetensors writer: the header is computed from declared shapes, then each tensor's
// bytes are pulled from its callback straight into a buffered FILE, so the whole model is never
// held in memory.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "base/checked_math.h"
#include "safetensors/safetensors.h"

namespace hearth::safetensors {
namespace {

Result<uint64_t> tensor_bytes(const TensorToWrite& t) {
  uint64_t n = dtype_bytes(t.dtype);
  for (uint64_t d : t.shape)
    if (!checked_mul(n, d, &n)) return make_error("tensor '{}': shape overflows", t.name);
  return n;
}

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};

}  // namespace

Result<std::string> build_header(const std::vector<TensorToWrite>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      return make_error("tensor name '{}' is not allowed", t.name);
    if (!seen.insert(t.name).second) return make_error("tensor '{}' declared twice", t.name);
    HEARTH_TRY(uint64_t n_bytes, tensor_bytes(t));
    uint64_t end = 0;
    if (!checked_add(offset, n_bytes, &end))
      return make_error("tensor '{}': offsets overflow", t.name);
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  // The reference writer pads the header with spaces so the data section is 8-byte aligned.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  return text;
}

Status write_file(const std::string& path, const std::vector<TensorToWrite>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  HEARTH_TRY(std::string header, build_header(tensors, metadata));
  const std::string tmp = path + ".tmp";
  std::unique_ptr<std::FILE, FileCloser> out(std::fopen(tmp.c_str(), "wb"));
  if (!out) return make_error("{}: cannot create: {}", tmp, std::strerror(errno));
  std::setvbuf(out.get(), nullptr, _IOFBF, 1 << 20);

  auto fail = [&](Error error) -> Status {
    out.reset();
    std::remove(tmp.c_str());
    return error;
  };
  uint8_t len_bytes[8];
  uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(len >> (8 * i));
  if (std::fwrite(len_bytes, 1, 8, out.get()) != 8 ||
      std::fwrite(header.data(), 1, header.size(), out.get()) != header.size())
    return fail(make_error("{}: write failed: {}", tmp, std::strerror(errno)));

  for (const TensorToWrite& t : tensors) {
    HEARTH_TRY(uint64_t expected, tensor_bytes(t));
    uint64_t written = 0;
    Emit emit = [&](std::span<const uint8_t> bytes) -> Status {
      if (bytes.size() > expected - written)
        return make_error("{}: tensor '{}': more than the {} bytes its shape declares", path,
                          t.name, expected);
      if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), out.get()) != bytes.size())
        return make_error("{}: write failed: {}", tmp, std::strerror(errno));
      written += bytes.size();
      return Status::Ok();
    };
    if (!t.write) return fail(make_error("{}: tensor '{}' has no data source", path, t.name));
    Status status = t.write(emit);
    if (!status.ok()) return fail(status.error());
    if (written != expected)
      return fail(make_error("{}: tensor '{}': wrote {} bytes, its shape declares {}", path, t.name,
                             written, expected));
  }
  if (std::fflush(out.get()) != 0)
    return fail(make_error("{}: write failed: {}", tmp, std::strerror(errno)));
  std::FILE* raw = out.release();
  if (std::fclose(raw) != 0) {
    std::remove(tmp.c_str());
    return make_error("{}: close failed: {}", tmp, std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    return make_error("{}: cannot rename to {}: {}", tmp, path, std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace hearth::safetensors
