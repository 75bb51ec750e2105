// GGUF reader/writer against files written by llama.cpp (shared/testdata) and round trips.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "base/mapped_file.h"
#include "gguf/gguf.h"

namespace hearth::gguf {
namespace {

const std::string kShared = HEARTH_SHARED_DIR;
const std::string kTmp = HEARTH_TEST_TMP;

TEST(GgufReader, ReadsLlamaCppQuantFiles) {
  for (const char* name : {"f32.gguf", "Q4_K.gguf", "Q8_0.gguf", "MXFP4.gguf", "BF16.gguf"}) {
    auto file = File::open(kShared + "/testdata/quants/" + name);
    ASSERT_TRUE(file.ok()) << file.error().message;
    EXPECT_EQ(file->version(), 3u) << name;
    EXPECT_EQ(file->get_string("general.architecture"), "llama") << name;
    EXPECT_GT(file->tensors().size(), 5u) << name;
    for (const TensorInfo& t : file->tensors()) {
      EXPECT_NE(t.view.data, nullptr) << t.name;
      EXPECT_EQ(t.offset % file->alignment(), 0u) << t.name;
    }
  }
}

TEST(GgufReader, ReadsVocabOnlyFiles) {
  for (const auto& entry : std::filesystem::directory_iterator(kShared + "/testdata/vocab")) {
    if (entry.path().extension() != ".gguf") continue;
    auto file = File::open(entry.path().string());
    ASSERT_TRUE(file.ok()) << file.error().message;
    const Value* tokens = file->find("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr) << entry.path();
    ASSERT_NE(tokens->as_array(), nullptr);
    EXPECT_GT(tokens->as_array()->items.size(), 1000u);
    EXPECT_EQ(tokens->as_array()->elem_type, ValueType::STRING);
  }
}

// Rewriting a llama.cpp file through our writer reproduces it byte for byte: same metadata
// order and encoding, same tensor layout and padding.
TEST(GgufWriter, RewriteIsByteIdentical) {
  for (const char* name : {"Q4_K.gguf", "f32.gguf", "IQ4_XS.gguf"}) {
    std::string src = kShared + "/testdata/quants/" + name;
    auto file = File::open(src);
    ASSERT_TRUE(file.ok()) << file.error().message;
    Writer writer;
    writer.copy_metadata(*file);
    for (const TensorInfo& t : file->tensors()) ASSERT_TRUE(writer.add_tensor(t.name, t.view).ok());
    std::string out = kTmp + "/rewrite-" + name;
    Status st = writer.write(out);
    ASSERT_TRUE(st.ok()) << st.message();
    auto a = MappedFile::open(src);
    auto b = MappedFile::open(out);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size()) << name;
    EXPECT_EQ(std::memcmp(a->data(), b->data(), a->size()), 0) << name;
  }
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
  Writer w;
  w.set("u8", Value{uint8_t{200}});
  w.set("i8", Value{int8_t{-100}});
  w.set("u16", Value{uint16_t{60000}});
  w.set("i16", Value{int16_t{-30000}});
  w.set("u32", Value{uint32_t{4000000000u}});
  w.set("i32", Value{int32_t{-2000000000}});
  w.set("f32", Value{1.5f});
  w.set("b", Value{true});
  w.set("s", Value{std::string("héllo\0x", 8)});
  w.set("u64", Value{uint64_t{18000000000000000000ull}});
  w.set("i64", Value{int64_t{-9000000000000000000ll}});
  w.set("f64", Value{-2.25});
  Array inner{ValueType::INT32, {Value{int32_t{1}}, Value{int32_t{2}}}};
  Array nested{ValueType::ARRAY, {Value{inner}, Value{Array{ValueType::STRING, {}}}}};
  w.set("nested", Value{nested});
  std::vector<float> data(64, 0.25f);
  TensorView view;
  view.type = DType::F32;
  view.n_dims = 2;
  view.ne = {16, 4, 1, 1};
  view.data = data.data();
  ASSERT_TRUE(w.add_tensor("t", view).ok());
  std::string out = kTmp + "/all-types.gguf";
  ASSERT_TRUE(w.write(out).ok());

  auto f = File::open(out);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->get_int("u8"), 200);
  EXPECT_EQ(f->get_int("i8"), -100);
  EXPECT_EQ(f->get_int("u16"), 60000);
  EXPECT_EQ(f->get_int("i16"), -30000);
  EXPECT_EQ(f->get_int("u32"), 4000000000ll);
  EXPECT_EQ(f->get_int("i32"), -2000000000);
  EXPECT_EQ(f->get_float("f32"), 1.5);
  EXPECT_EQ(f->find("b")->as_bool(), true);
  EXPECT_EQ(f->get_string("s"), std::string("héllo\0x", 8));
  EXPECT_EQ(f->get_int("u64"), std::nullopt);  // above INT64_MAX
  EXPECT_EQ(std::get<uint64_t>(f->find("u64")->v), 18000000000000000000ull);
  EXPECT_EQ(f->get_int("i64"), -9000000000000000000ll);
  EXPECT_EQ(f->get_float("f64"), -2.25);
  const Array* arr = f->find("nested")->as_array();
  ASSERT_NE(arr, nullptr);
  ASSERT_EQ(arr->items.size(), 2u);
  EXPECT_EQ(arr->items[0].as_array()->items[1].as_int(), 2);
  EXPECT_EQ(arr->items[1].as_array()->elem_type, ValueType::STRING);
  const TensorInfo* t = f->find_tensor("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->view.ne[0], 16);
  EXPECT_EQ(t->view.ne[1], 4);
  EXPECT_EQ(std::memcmp(t->view.data, data.data(), 256), 0);
}

}  // namespace
}  // namespace hearth::gguf
