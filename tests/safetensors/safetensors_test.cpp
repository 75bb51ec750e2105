// safetensors parser, folder loader and writer: valid files parse to the right views; a corpus of
// malformed files (built here, byte by byte) each fails with one line naming the field.
#include "safetensors/safetensors.h"
#include "safetensors/json_strict.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace hearth::safetensors {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> with_length(uint64_t declared_len, const std::string& header,
                                 size_t data_bytes) {
  std::vector<uint8_t> bytes(8);
  for (int i = 0; i < 8; ++i)
    bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(declared_len >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) bytes.push_back(static_cast<uint8_t>(i * 7 + 1));
  return bytes;
}

std::vector<uint8_t> make(const std::string& header, size_t data_bytes) {
  return with_length(header.size(), header, data_bytes);
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto file = File::parse(bytes, "bad.safetensors");
  if (file.ok()) return "(parsed OK)";
  return file.error().message;
}

fs::path tmp_dir(const std::string& name) {
  fs::path dir = fs::path(HEARTH_TEST_TMP) / ("safetensors_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_string(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// ---------------------------------------------------------------------------------------------
// Valid files.

TEST(SafetensorsParse, ReadsTensorsShapesOffsetsAndMetadata) {
  std::string header =
      R"({"__metadata__": {"format": "pt"},
          "b": {"dtype": "F16", "shape": [3], "data_offsets": [24, 30]},
          "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
          "c": {"dtype": "BF16", "shape": [], "data_offsets": [30, 32]},
          "d": {"dtype": "I64", "shape": [1, 1], "data_offsets": [32, 40]}})";
  auto bytes = make(header, 40);
  auto file = File::parse(bytes, "ok.safetensors");
  ASSERT_TRUE(file.ok()) << file.error().message;
  ASSERT_EQ(file->tensors().size(), 4u);
  EXPECT_EQ(file->tensors()[0].name, "a");  // sorted by offset
  EXPECT_EQ(file->tensors()[1].name, "b");
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->data_offset(), 8 + header.size());

  const TensorInfo* a = file->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, Dtype::F32);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(a->data, bytes.data() + 8 + header.size());
  auto view = to_view(*a, "ok.safetensors");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->type, DType::F32);
  EXPECT_EQ(view->n_dims, 2);
  EXPECT_EQ(view->ne[0], 3);  // cols: ggml order is reversed
  EXPECT_EQ(view->ne[1], 2);
  EXPECT_EQ(view->n_bytes, 24u);

  auto c = to_view(*file->find("c"), "ok.safetensors");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->type, DType::BF16);
  EXPECT_EQ(c->n_dims, 1);
  EXPECT_EQ(c->n_elements(), 1);

  auto d = to_view(*file->find("d"), "ok.safetensors");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("'d'"), std::string::npos);
  EXPECT_NE(d.error().message.find("I64"), std::string::npos);
  EXPECT_EQ(file->find("nope"), nullptr);
}

TEST(SafetensorsParse, AllDtypeNamesParse) {
  for (const char* name : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32",
                           "U16", "U8", "BOOL", "F8_E4M3", "F8_E5M2"}) {
    auto type = dtype_from_name(name);
    ASSERT_TRUE(type.has_value()) << name;
    EXPECT_EQ(dtype_name(*type), name);
  }
  EXPECT_FALSE(dtype_from_name("f32").has_value());  // the format is case-sensitive
  EXPECT_TRUE(model_dtype(Dtype::BF16).has_value());
  EXPECT_FALSE(model_dtype(Dtype::I8).has_value());
}

TEST(SafetensorsParse, EmptyTensorsAndHeaderPadding) {
  auto bytes = make(R"({"z": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]}})"
                    "        ",
                    0);
  auto file = File::parse(bytes, "empty.safetensors");
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file->tensors()[0].n_bytes(), 0u);
}

TEST(SafetensorsParse, FiveDimsParseButAreNoTensorView) {
  auto bytes = make(R"({"t": {"dtype": "F32", "shape": [1,1,1,1,2], "data_offsets": [0, 8]}})", 8);
  auto file = File::parse(bytes, "5d.safetensors");
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto view = to_view(file->tensors()[0], "5d.safetensors");
  ASSERT_FALSE(view.ok());
  EXPECT_NE(view.error().message.find("dimensions"), std::string::npos);
}

TEST(SafetensorsParse, WriterRoundTrip) {
  fs::path dir = tmp_dir("writer");
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> b = {0x3c00, 0x4000, 0x4200};
  std::vector<TensorToWrite> tensors;
  tensors.push_back({"a", Dtype::F32, {2, 3}, [&](const Emit& emit) -> Status {
                       // two pieces, to exercise partial emits
                       auto* p = reinterpret_cast<const uint8_t*>(a.data());
                       HEARTH_RETURN_IF_ERROR(emit({p, 8}));
                       return emit({p + 8, 16});
                     }});
  tensors.push_back({"b", Dtype::F16, {3}, [&](const Emit& emit) {
                       return emit({reinterpret_cast<const uint8_t*>(b.data()), 6});
                     }});
  std::string path = (dir / "w.safetensors").string();
  ASSERT_TRUE(write_file(path, tensors, {{"format", "pt"}}).ok());
  auto file = File::open(path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file->data_offset() % 8, 0u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  ASSERT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(std::memcmp(file->find("a")->data, a.data(), 24), 0);
  EXPECT_EQ(std::memcmp(file->find("b")->data, b.data(), 6), 0);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(SafetensorsParse, WriterRefusesShortOrLongTensorsAndDuplicates) {
  fs::path dir = tmp_dir("writer_bad");
  std::string path = (dir / "w.safetensors").string();
  std::vector<uint8_t> data(16);
  std::vector<TensorToWrite> short_tensor = {{"s", Dtype::F32, {4}, [&](const Emit& emit) {
                                                return emit({data.data(), 8});
                                              }}};
  Status status = write_file(path, short_tensor, {});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'s'"), std::string::npos);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  std::vector<TensorToWrite> long_tensor = {{"l", Dtype::F32, {2}, [&](const Emit& emit) {
                                               return emit({data.data(), 16});
                                             }}};
  status = write_file(path, long_tensor, {});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'l'"), std::string::npos);

  std::vector<TensorToWrite> dup = {{"d", Dtype::U8, {1}, nullptr}, {"d", Dtype::U8, {1}, nullptr}};
  status = write_file(path, dup, {});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'d'"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Malformed files: each error is one line and names the field.

struct BadCase {
  const char* label;
  std::vector<uint8_t> bytes;
  std::vector<std::string> must_contain;
};

std::string one_tensor(const std::string& body) { return R"({"w": )" + body + "}"; }

std::vector<BadCase> malformed_corpus() {
  std::vector<BadCase> cases;
  auto add = [&](const char* label, std::vector<uint8_t> bytes, std::vector<std::string> needles) {
    cases.push_back({label, std::move(bytes), std::move(needles)});
  };
  const std::string ok_w = R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  add("truncated header length", {1, 0, 0, 0, 0}, {"too short", "8-byte header length"});
  add("header length past end", with_length(1000, "{}", 0), {"header length 1000", "past the end"});
  add("header length over cap", with_length(1ull << 40, "{}", 0), {"exceeds the limit"});
  add("header length zero", with_length(0, "", 4), {"header length", "is 0"});
  add("bad json", make(R"({"w": {"dtype": )", 0), {"invalid JSON", "offset"});
  add("trailing garbage json", make(R"({} xx)", 0), {"invalid JSON"});
  add("not an object", make("[1, 2, 3]", 0), {"must be a JSON object", "array"});
  add("entry not an object", make(one_tensor("5"), 0), {"'w'", "entry must be a JSON object"});
  add("missing dtype", make(one_tensor(R"({"shape": [2], "data_offsets": [0, 8]})"), 8),
      {"'w'", "missing field 'dtype'"});
  add("dtype not a string",
      make(one_tensor(R"({"dtype": 7, "shape": [2], "data_offsets": [0, 8]})"), 8),
      {"'w'", "'dtype' must be a string"});
  add("unknown dtype",
      make(one_tensor(R"({"dtype": "F99", "shape": [2], "data_offsets": [0, 8]})"), 8),
      {"'w'", "unknown dtype", "F99"});
  add("missing shape", make(one_tensor(R"({"dtype": "F32", "data_offsets": [0, 8]})"), 8),
      {"'w'", "missing field 'shape'"});
  add("shape not array",
      make(one_tensor(R"({"dtype": "F32", "shape": 2, "data_offsets": [0, 8]})"), 8),
      {"'w'", "'shape' must be an array"});
  add("negative shape",
      make(one_tensor(R"({"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]})"), 8),
      {"'w'", "shape[0]", "-2"});
  add("fractional shape",
      make(one_tensor(R"({"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]})"), 8),
      {"'w'", "shape[0]"});
  add("huge shape dim",
      make(one_tensor(
               R"({"dtype": "F32", "shape": [1, 18446744073709551615], "data_offsets": [0, 8]})"),
           8),
      {"'w'", "shape[1]"});
  add("shape dim beyond u64",
      make(one_tensor(R"({"dtype": "F32", "shape": [1e30], "data_offsets": [0, 8]})"), 8),
      {"'w'", "shape[0]"});
  add("overflowing element count",
      make(one_tensor(
               R"({"dtype": "F32", "shape": [4294967296, 4294967296, 2], "data_offsets": [0, 8]})"),
           8),
      {"'w'", "overflows"});
  add("overflowing byte size",
      make(one_tensor(
               R"({"dtype": "F64", "shape": [4294967296, 1073741824], "data_offsets": [0, 8]})"),
           8),
      {"'w'", "overflows the byte size"});
  add("too many dims",
      make(
          one_tensor(R"({"dtype": "F32", "shape": [1,1,1,1,1,1,1,1,1,2], "data_offsets": [0, 8]})"),
          8),
      {"'w'", "10 dimensions"});
  add("missing data_offsets", make(one_tensor(R"({"dtype": "F32", "shape": [2]})"), 8),
      {"'w'", "missing field 'data_offsets'"});
  add("data_offsets wrong arity",
      make(one_tensor(R"({"dtype": "F32", "shape": [2], "data_offsets": [0]})"), 8),
      {"'w'", "'data_offsets' must be [begin, end]"});
  add("data_offsets negative",
      make(one_tensor(R"({"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]})"), 8),
      {"'w'", "data_offsets", "non-negative"});
  add("offsets past end",
      make(one_tensor(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})"), 4),
      {"'w'", "run past the data section"});
  add("begin after end",
      make(one_tensor(R"({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]})"), 8),
      {"'w'", "begin 8 is after end 0"});
  add("size mismatch",
      make(one_tensor(R"({"dtype": "F32", "shape": [3], "data_offsets": [0, 8]})"), 8),
      {"'w'", "hold 8 bytes", "needs 12"});
  add("overlapping tensors",
      make(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
               "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
           12),
      {"'b'", "overlap", "'a'", "offset"});
  add("hole between tensors",
      make(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
               "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
           12),
      {"'b'", "unused bytes", "offset"});
  add("bytes after last tensor", make(one_tensor(ok_w), 12), {"4 bytes", "after the last tensor"});
  add("duplicate tensor names",
      make(
          R"({"w": )" + ok_w + R"(, "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
          16),
      {"duplicate key 'w'"});
  add("duplicate field inside tensor",
      make(one_tensor(R"({"dtype": "F32", "dtype": "F16", "shape": [2], "data_offsets": [0, 8]})"),
           8),
      {"duplicate key 'dtype'"});
  add("metadata not an object", make(R"({"__metadata__": [1]})", 0), {"__metadata__", "object"});
  add("metadata value not a string", make(R"({"__metadata__": {"format": 1}})", 0),
      {"__metadata__", "'format'", "string"});
  add("empty tensor name", make(R"({"": )" + ok_w + "}", 8), {"empty name"});
  add("deeply nested json",
      make(R"({"w": )" + std::string(200, '[') + std::string(200, ']') + "}", 0),
      {"nested deeper"});
  add("invalid utf-8 in name", make("{\"w\xff\": " + ok_w + "}", 8), {"invalid JSON"});
  return cases;
}

TEST(SafetensorsMalformed, EachCaseFailsWithAClearOneLineError) {
  std::vector<BadCase> cases = malformed_corpus();
  EXPECT_GE(cases.size(), 30u);
  for (const BadCase& c : cases) {
    std::string message = parse_error(c.bytes);
    SCOPED_TRACE(c.label);
    EXPECT_NE(message, "(parsed OK)");
    EXPECT_EQ(message.rfind("bad.safetensors", 0), 0u) << message;  // starts with the file name
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& needle : c.must_contain)
      EXPECT_NE(message.find(needle), std::string::npos)
          << "missing '" << needle << "' in: " << message;
  }
}

TEST(SafetensorsMalformed, OpenFromDiskNamesThePath) {
  fs::path dir = tmp_dir("malformed_disk");
  fs::path path = dir / "short.safetensors";
  write_bytes(path, {1, 2, 3});
  auto file = File::open(path.string());
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.error().message.find(path.string()), std::string::npos);
  auto missing = File::open((dir / "missing.safetensors").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("missing.safetensors"), std::string::npos);
}

// Random corruption of a valid file must give an error or a valid parse, never a crash (the
// fuzz target does this at scale; this keeps a cheap version in the ASan test run).
TEST(SafetensorsMalformed, RandomMutationsNeverCrash) {
  std::string header =
      R"({"__metadata__": {"format": "pt"},
          "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
          "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]}})";
  const std::vector<uint8_t> valid = make(header, 32);
  ASSERT_TRUE(File::parse(valid, "valid").ok());
  std::mt19937 rng(1234);
  int parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> bytes = valid;
    int n_mut = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < n_mut; ++m) {
      size_t pos = rng() % bytes.size();
      switch (rng() % 3) {
        case 0:
          bytes[pos] = static_cast<uint8_t>(rng());
          break;
        case 1:
          bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(pos));
          break;
        default:
          bytes.resize(pos);
          break;
      }
      if (bytes.empty()) break;
    }
    auto file = File::parse(bytes, "mutant");
    if (file.ok()) {
      ++parsed;
      for (const TensorInfo& t : file->tensors()) {
        ASSERT_GE(t.data, bytes.data());
        ASSERT_LE(t.data + t.n_bytes(), bytes.data() + bytes.size());
      }
    }
  }
  EXPECT_LT(parsed, 3000);
}

// ---------------------------------------------------------------------------------------------
// Folders.

std::vector<uint8_t> tensor_file(const std::vector<std::string>& names) {
  std::string header = "{";
  uint64_t offset = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) header += ", ";
    header += "\"" + names[i] + R"(": {"dtype": "F32", "shape": [2], "data_offsets": [)" +
              std::to_string(offset) + ", " + std::to_string(offset + 8) + "]}";
    offset += 8;
  }
  header += "}";
  return make(header, static_cast<size_t>(offset));
}

TEST(SafetensorsFolder, SingleFile) {
  fs::path dir = tmp_dir("folder_single");
  write_bytes(dir / "model.safetensors", tensor_file({"x", "y"}));
  auto folder = Folder::open(dir.string());
  ASSERT_TRUE(folder.ok()) << folder.error().message;
  ASSERT_EQ(folder->entries().size(), 2u);
  ASSERT_NE(folder->find("y"), nullptr);
  EXPECT_EQ(folder->info(*folder->find("y")).name, "y");
  EXPECT_EQ(folder->find("z"), nullptr);
}

TEST(SafetensorsFolder, Sharded) {
  fs::path dir = tmp_dir("folder_sharded");
  write_bytes(dir / "model-00001-of-00002.safetensors", tensor_file({"a", "b"}));
  write_bytes(dir / "model-00002-of-00002.safetensors", tensor_file({"c"}));
  write_string(dir / "model.safetensors.index.json",
               R"({"metadata": {"total_size": 24}, "weight_map": {
                    "c": "model-00002-of-00002.safetensors",
                    "a": "model-00001-of-00002.safetensors",
                    "b": "model-00001-of-00002.safetensors"}})");
  auto folder = Folder::open(dir.string());
  ASSERT_TRUE(folder.ok()) << folder.error().message;
  EXPECT_EQ(folder->shards().size(), 2u);
  ASSERT_EQ(folder->entries().size(), 3u);
  EXPECT_EQ(folder->find("c")->shard, 1u);
  EXPECT_NE(folder->shards()[0].mapping(), nullptr);
}

struct IndexCase {
  const char* label;
  std::string index;
  std::vector<std::string> must_contain;
};

TEST(SafetensorsFolder, BadIndexFiles) {
  const std::vector<IndexCase> cases = {
      {"parent dir",
       R"({"weight_map": {"a": "../model-00001-of-00002.safetensors"}})",
       {"weight_map['a']", "plain file name"}},
      {"subdir",
       R"({"weight_map": {"a": "sub/x.safetensors"}})",
       {"weight_map['a']", "plain file name"}},
      {"absolute",
       R"({"weight_map": {"a": "/etc/passwd"}})",
       {"weight_map['a']", "plain file name"}},
      {"dotdot", R"({"weight_map": {"a": ".."}})", {"weight_map['a']", "plain file name"}},
      {"not safetensors",
       R"({"weight_map": {"a": "model.bin"}})",
       {"weight_map['a']", ".safetensors"}},
      {"missing shard",
       R"({"weight_map": {"a": "model-00009-of-00009.safetensors"}})",
       {"model-00009-of-00009.safetensors", "does not exist", "'a'"}},
      {"tensor not in shard",
       R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                          "zz": "model-00001-of-00002.safetensors"}})",
       {"weight_map['zz']", "no such tensor"}},
      {"shard tensor not mapped",
       R"({"weight_map": {"a": "model-00001-of-00002.safetensors"}})",
       {"'b'", "does not map it"}},
      {"shard value not string", R"({"weight_map": {"a": 3}})", {"weight_map['a']", "string"}},
      {"weight_map missing", R"({"metadata": {}})", {"missing field 'weight_map'"}},
      {"weight_map not object", R"({"weight_map": []})", {"'weight_map' must be an object"}},
      {"weight_map empty", R"({"weight_map": {}})", {"'weight_map' is empty"}},
      {"bad json", R"({"weight_map": )", {"invalid JSON"}},
      {"duplicate tensor",
       R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "a": "x.safetensors"}})",
       {"duplicate key 'a'"}},
  };
  for (const IndexCase& c : cases) {
    SCOPED_TRACE(c.label);
    fs::path dir = tmp_dir("folder_bad_index");
    write_bytes(dir / "model-00001-of-00002.safetensors", tensor_file({"a", "b"}));
    write_string(dir / "model.safetensors.index.json", c.index);
    auto folder = Folder::open(dir.string());
    ASSERT_FALSE(folder.ok());
    const std::string& message = folder.error().message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& needle : c.must_contain)
      EXPECT_NE(message.find(needle), std::string::npos)
          << "missing '" << needle << "' in: " << message;
  }
}

// Both strict parsers refuse the same things (the unordered one reads tokenizer vocabularies):
// duplicate keys at any depth, nesting past the cap, broken syntax; and read the same values.
TEST(SafetensorsJsonStrict, OrderedAndUnorderedRefuseTheSame) {
  const struct {
    std::string text, expect;
  } bad[] = {{R"({"a": 1, "a": 2})", "duplicate key 'a'"},
             {R"({"m": {"v": {"x": 0, "x": 1}}})", "duplicate key 'x'"},
             {R"([[[[[[1]]]]]])", "nested deeper than 4"},
             {R"({"a": )", "invalid JSON"}};
  for (const auto& c : bad) {
    auto ordered = parse_json_strict(c.text, "t", 0, 4);
    auto unordered = parse_json_strict_unordered(c.text, "t", 0, 4);
    ASSERT_FALSE(ordered.ok()) << c.text;
    ASSERT_FALSE(unordered.ok()) << c.text;
    EXPECT_NE(ordered.error().message.find(c.expect), std::string::npos) << ordered.error().message;
    EXPECT_NE(unordered.error().message.find(c.expect), std::string::npos) << unordered.error().message;
  }
  auto a = parse_json_strict(R"({"z": [1, {"y": "b"}], "a": 2})", "t", 0, 4);
  auto b = parse_json_strict_unordered(R"({"z": [1, {"y": "b"}], "a": 2})", "t", 0, 4);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(nlohmann::json::parse(a->dump()), *b);
}

TEST(SafetensorsFolder, MissingWeightsAndBadShard) {
  fs::path dir = tmp_dir("folder_empty");
  auto empty = Folder::open(dir.string());
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("no model.safetensors"), std::string::npos);

  auto not_dir = Folder::open((dir / "nope").string());
  ASSERT_FALSE(not_dir.ok());
  EXPECT_NE(not_dir.error().message.find("not a directory"), std::string::npos);

  write_bytes(dir / "model.safetensors", {8, 0, 0, 0, 0, 0, 0, 0, '{', '}'});
  auto bad = Folder::open(dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("model.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace hearth::safetensors
