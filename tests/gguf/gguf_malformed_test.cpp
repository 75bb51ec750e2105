// A corpus of hostile GGUF files, each built byte by byte: every one must be refused with a
// one-line error naming the field (and offset), never a crash, hang or huge allocation. The
// sanitizer job (make san-test) runs this suite under ASan+UBSan.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace hearth::gguf {
namespace {

// Emits GGUF fields in order; each test writes a valid prefix and then lies somewhere.
class Bytes {
 public:
  template <typename T>
  Bytes& raw(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    data.insert(data.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    raw<uint64_t>(s.size());
    data.insert(data.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return raw<uint32_t>(0x46554747).raw<uint32_t>(version).raw<uint64_t>(n_tensors).raw<uint64_t>(n_kv);
  }
  Bytes& kv_u32(const std::string& key, uint32_t v) { return str(key).raw<uint32_t>(4).raw<uint32_t>(v); }
  // A tensor info: name, dims, type, offset.
  Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).raw<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) raw<uint64_t>(n);
    return raw<uint32_t>(type).raw<uint64_t>(offset);
  }
  Bytes& pad_to(size_t alignment) {
    while (data.size() % alignment) data.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    data.insert(data.end(), n, 0);
    return *this;
  }
  std::vector<uint8_t> data;
};

struct Case {
  const char* name;
  std::vector<uint8_t> bytes;
  const char* expect;  // a substring of the error
};

std::vector<Case> corpus() {
  std::vector<Case> c;
  auto add = [&](const char* name, Bytes b, const char* expect) {
    c.push_back({name, std::move(b.data), expect});
  };
  add("empty", Bytes(), "magic");
  add("short_magic", Bytes().raw<uint16_t>(0x4747), "magic");
  add("bad_magic", Bytes().raw<uint32_t>(0x12345678).raw<uint32_t>(3), "bad magic");
  add("version_1", Bytes().header(0, 0, 1), "v1");
  add("version_99", Bytes().header(0, 0, 99), "unsupported GGUF version 99");
  add("big_endian", Bytes().header(0, 0, 0x03000000), "big-endian");
  add("truncated_counts", Bytes().raw<uint32_t>(0x46554747).raw<uint32_t>(3).raw<uint32_t>(0), "n_tensors");
  add("huge_n_kv", Bytes().header(0, 1ull << 60), "n_kv");
  add("huge_n_tensors", Bytes().header(1ull << 60, 0), "n_tensors");
  add("n_kv_lies", Bytes().header(0, 3).kv_u32("a", 1), "n_kv");
  add("key_len_huge", Bytes().header(0, 1).raw<uint64_t>(1ull << 63).zeros(8), "key #0");
  add("key_len_past_end", Bytes().header(0, 1).raw<uint64_t>(100).zeros(8), "exceeds");
  add("empty_key", Bytes().header(0, 1).str("").raw<uint32_t>(4).raw<uint32_t>(1), "empty key");
  add("duplicate_key", Bytes().header(0, 2).kv_u32("k", 1).kv_u32("k", 2), "duplicate key");
  add("unknown_value_type", Bytes().header(0, 1).str("k").raw<uint32_t>(99).raw<uint32_t>(0), "unknown value type 99");
  add("bool_not_0_1", Bytes().header(0, 1).str("k").raw<uint32_t>(7).raw<uint8_t>(2).zeros(8), "bool value 2");
  add("truncated_value", Bytes().header(0, 1).str("k").raw<uint32_t>(11).raw<uint32_t>(0), "file truncated");
  add("string_len_huge", Bytes().header(0, 1).str("k").raw<uint32_t>(8).raw<uint64_t>(~0ull), "string length");
  add("array_count_huge", Bytes().header(0, 1).str("k").raw<uint32_t>(9).raw<uint32_t>(4).raw<uint64_t>(1ull << 62), "cannot fit");
  add("string_array_lies", Bytes().header(0, 1).str("k").raw<uint32_t>(9).raw<uint32_t>(8).raw<uint64_t>(1000).str("a"), "cannot fit");
  add("array_unknown_elem", Bytes().header(0, 1).str("k").raw<uint32_t>(9).raw<uint32_t>(13).raw<uint64_t>(0), "unknown array element type");
  {
    Bytes b = Bytes().header(0, 1).str("deep").raw<uint32_t>(9);
    for (int i = 0; i < 100; ++i) b.raw<uint32_t>(9).raw<uint64_t>(1);
    add("array_nesting_bomb", b, "nested deeper");
  }
  add("alignment_zero", Bytes().header(0, 1).kv_u32("general.alignment", 0), "power of two");
  add("alignment_not_pow2", Bytes().header(0, 1).kv_u32("general.alignment", 48), "power of two");
  add("alignment_wrong_type", Bytes().header(0, 1).str("general.alignment").raw<uint32_t>(8).str("32"), "must be uint32");
  // Tensor infos (F32 = 0, Q4_0 = 2). A valid one: 8 floats at offset 0.
  add("tensor_empty_name", Bytes().header(1, 0).tensor("", {8}, 0, 0).pad_to(32).zeros(32), "empty name");
  add("tensor_duplicate", Bytes().header(2, 0).tensor("t", {8}, 0, 0).tensor("t", {8}, 0, 32).pad_to(32).zeros(64), "duplicate name");
  add("tensor_zero_dims", Bytes().header(1, 0).tensor("t", {}, 0, 0).zeros(64), "n_dims 0");
  add("tensor_five_dims", Bytes().header(1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).zeros(64), "n_dims 5");
  add("tensor_dim_overflow", Bytes().header(1, 0).tensor("t", {1ull << 32, 1ull << 32}, 0, 0).zeros(64), "overflows");
  add("tensor_dim_negative", Bytes().header(1, 0).tensor("t", {1ull << 63}, 0, 0).zeros(64), "overflows");
  add("tensor_unknown_type", Bytes().header(1, 0).tensor("t", {8}, 200, 0).zeros(64), "unknown tensor type 200");
  add("tensor_partial_block", Bytes().header(1, 0).tensor("t", {33}, 2, 0).zeros(64), "not a multiple");
  add("tensor_misaligned", Bytes().header(1, 0).tensor("t", {8}, 0, 4).pad_to(32).zeros(64), "not aligned");
  add("tensor_past_end", Bytes().header(1, 0).tensor("t", {8}, 0, 64).pad_to(32).zeros(32), "outside the data section");
  add("tensor_offset_wraps", Bytes().header(1, 0).tensor("t", {8}, 0, ~0ull - 31).pad_to(32).zeros(32), "outside the data section");
  add("tensor_huge_bytes", Bytes().header(1, 0).tensor("t", {1ull << 40}, 0, 0).pad_to(32).zeros(32), "outside the data section");
  add("tensors_overlap", Bytes().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad_to(32).zeros(96), "overlaps");
  add("truncated_tensor_info", Bytes().header(1, 0).str("t").raw<uint32_t>(2).raw<uint64_t>(8), "n_tensors");
  add("truncated_data", Bytes().header(1, 0).tensor("t", {64}, 0, 0).pad_to(32).zeros(100), "outside the data section");
  return c;
}

TEST(GgufMalformed, EveryCaseIsRefusedWithAClearError) {
  std::vector<Case> cases = corpus();
  ASSERT_GE(cases.size(), 30u);
  for (const Case& c : cases) {
    auto file = File::parse(c.bytes, c.name);
    ASSERT_FALSE(file.ok()) << c.name << " was accepted";
    const std::string& msg = file.error().message;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.name << ": multi-line error";
    EXPECT_EQ(msg.rfind(c.name, 0), 0u) << c.name << ": error does not name the file: " << msg;
    std::printf("  %-24s %s\n", c.name, msg.c_str());
  }
}

// Every prefix of a real llama.cpp file that cuts into the header or tensor data is refused; only
// prefixes that lose nothing but the final padding are accepted.
TEST(GgufMalformed, EveryTruncationOfARealFileIsRefused) {
  auto full = File::open(std::string(HEARTH_SHARED_DIR) + "/testdata/quants/Q4_K.gguf");
  ASSERT_TRUE(full.ok()) << full.error().message;
  std::ifstream in(std::string(HEARTH_SHARED_DIR) + "/testdata/quants/Q4_K.gguf", std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The last tensor ends exactly at the end of the file minus its padding.
  uint64_t data_end = 0;
  for (const TensorInfo& t : full->tensors())
    data_end = std::max<uint64_t>(data_end, full->data_offset() + t.offset + t.view.n_bytes);
  size_t step = 1;
  for (size_t n = 0; n < bytes.size(); n += step) {
    if (n > 4096) step = 997;  // every byte through the header, then a sample of the data
    auto file = File::parse(std::span<const uint8_t>(bytes.data(), n), "cut");
    if (n >= data_end) {
      EXPECT_TRUE(file.ok()) << n;
    } else {
      EXPECT_FALSE(file.ok()) << "prefix of " << n << " bytes accepted";
    }
  }
}

// Single-byte corruptions of the header never crash (results may be accepted or refused).
TEST(GgufMalformed, ByteFlipsInTheHeaderNeverCrash) {
  std::ifstream in(std::string(HEARTH_SHARED_DIR) + "/testdata/quants/Q8_0.gguf", std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto clean = File::parse(bytes, "clean");
  ASSERT_TRUE(clean.ok());
  const size_t header = std::min<size_t>(clean->data_offset(), 20000);
  int refused = 0;
  for (size_t i = 0; i < header; i += 3) {
    std::vector<uint8_t> copy = bytes;
    copy[i] ^= 0xA5;
    auto file = File::parse(copy, "flip");
    refused += file.ok() ? 0 : 1;
  }
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace hearth::gguf
