// A read-only, move-only memory map of a whole file: the owner of model bytes that tensor views
// borrow (zero-copy loading).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"

namespace hearth {

class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

  // Drops this process's pages of [p, p + n) ∩ the map (whole pages only) from its resident set:
  // for bytes already copied elsewhere (packed weights). They stay readable; a later read faults
  // them back in from the file. No-op for ranges outside the map.
  void release(const void* p, size_t n) const;

 private:
  void reset();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file, e.g. config.json. Refuses files larger than max_bytes.
Result<std::string> read_text_file(const std::string& path, size_t max_bytes);

}  // namespace hearth
