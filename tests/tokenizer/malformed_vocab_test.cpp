// Hostile vocabularies: every malformed case is a clear one-line error naming the field, never a
// crash. Cases come both as plain VocabSpecs and as GGUF files with mistyped metadata.
#include <gtest/gtest.h>

#include <unistd.h>

#include "gguf/gguf.h"
#include "model/model_file.h"
#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {
namespace {

VocabSpec tiny_bpe() {
  VocabSpec spec;
  spec.model = "gpt2";
  spec.pre = "gpt-2";
  spec.tokens = {"a", "b", "ab", "\xC4\xA0", "\xC4\xA0" "a", "<|end|>"};
  spec.token_types = {1, 1, 1, 1, 1, 3};
  spec.merges = {"a b", "\xC4\xA0 a"};
  return spec;
}

VocabSpec tiny_spm() {
  VocabSpec spec;
  spec.model = "llama";
  spec.tokens = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "\xE2\x96\x81" "a"};
  spec.scores = {0, 0, 0, -1, -2, -0.5f};
  spec.token_types = {2, 3, 3, 1, 1, 1};
  return spec;
}

struct BadSpec {
  const char* name;
  VocabSpec spec;
  const char* expected;  // a substring of the error
};

std::vector<BadSpec> bad_specs() {
  std::vector<BadSpec> cases;
  auto add = [&](const char* name, VocabSpec spec, const char* expected) {
    cases.push_back({name, std::move(spec), expected});
  };
  VocabSpec s;
  s = tiny_bpe(); s.model = "wordpiece";                 add("unknown model", s, "unsupported tokenizer.ggml.model");
  s = tiny_bpe(); s.model = "";                          add("empty model", s, "unsupported");
  s = tiny_bpe(); s.tokens.clear();                      add("no tokens", s, "tokens is empty");
  s = tiny_bpe(); s.token_types.pop_back();              add("short token_type", s, "token_type has 5 entries for 6");
  s = tiny_spm(); s.scores.resize(2);                    add("short scores", s, "scores has 2 entries for 6");
  s = tiny_bpe(); s.merges.clear();                      add("no merges", s, "merges is missing");
  s = tiny_bpe(); s.merges.push_back("ab");              add("merge without space", s, "merges[2]");
  s = tiny_bpe(); s.merges.push_back(" a");              add("merge with leading space", s, "merges[2]");
  s = tiny_bpe(); s.merges.push_back("a ");              add("merge with empty right", s, "merges[2]");
  s = tiny_bpe(); s.merges.push_back("a zz");            add("merge of unknown token", s, "not in the vocabulary");
  s = tiny_bpe(); s.pre = "no-such-pre";                 add("unknown pre", s, "unknown pre-tokenizer type 'no-such-pre'");
  s = tiny_bpe(); s.bos_id = 6;                          add("bos past end", s, "bos_token_id = 6");
  s = tiny_bpe(); s.eos_id = -3;                         add("negative eos", s, "eos_token_id = -3");
  s = tiny_bpe(); s.eot_id = 1000000;                    add("eot past end", s, "eot_token_id");
  s = tiny_spm(); s.unk_id = 99;                         add("unk past end", s, "unknown_token_id");
  s = tiny_spm(); s.eom_id = 1LL << 40;                  add("huge eom", s, "eom_token_id");
  return cases;
}

TEST(MalformedVocab, SpecsAreRejectedWithClearErrors) {
  for (BadSpec& c : bad_specs()) {
    Result<Tokenizer> tok = Tokenizer::from_spec(c.spec);
    ASSERT_FALSE(tok.ok()) << c.name;
    EXPECT_NE(tok.error().message.find(c.expected), std::string::npos)
        << c.name << ": " << tok.error().message;
    EXPECT_EQ(tok.error().message.find('\n'), std::string::npos) << c.name;
  }
}

TEST(MalformedVocab, TolerableOddities) {
  // Unknown token_type values, empty and duplicate token strings, missing scores/types and a
  // padding id past the end load as llama.cpp loads them.
  VocabSpec s = tiny_bpe();
  s.token_types[1] = 42;
  s.tokens.push_back("");
  s.tokens.push_back("a");  // duplicate: the later id wins the text lookup
  s.token_types.push_back(1);
  s.token_types.push_back(1);
  s.pad_id = 1000;
  Result<Tokenizer> tok = Tokenizer::from_spec(s);
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  EXPECT_EQ(tok->token_text(6), "[EMPTY_6]");
  EXPECT_EQ(tok->find_token("a"), 7);
  EXPECT_EQ(tok->pad(), kNoToken);
  // Small vocabularies drop the type's default BOS/EOS (11 for gpt2) rather than fail.
  EXPECT_EQ(tok->bos(), kNoToken);
  EXPECT_TRUE(tok->encode("ab", true, true).size() >= 1);

  VocabSpec spm = tiny_spm();
  spm.scores.clear();
  spm.token_types.clear();
  Result<Tokenizer> t2 = Tokenizer::from_spec(spm);
  ASSERT_TRUE(t2.ok()) << t2.error().message;
  // No <0xNN> byte tokens: unknown characters become <unk> instead of aborting.
  EXPECT_FALSE(t2->encode("zz a", true, false).empty());
}

TEST(MalformedVocab, TinyVocabulariesEncode) {
  Result<Tokenizer> bpe = Tokenizer::from_spec(tiny_bpe());
  ASSERT_TRUE(bpe.ok()) << bpe.error().message;
  EXPECT_EQ(bpe->encode("ab a", false, false), (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(bpe->encode("ab<|end|>", false, true), (std::vector<int32_t>{2, 5}));
  Result<Tokenizer> spm = Tokenizer::from_spec(tiny_spm());
  ASSERT_TRUE(spm.ok()) << spm.error().message;
  EXPECT_EQ(spm->encode("a a", true, false), (std::vector<int32_t>{1, 5, 5}));
  EXPECT_EQ(spm->decode(std::vector<int32_t>{5, 5}), "a a");
}

// ---- GGUF files with mistyped tokenizer metadata ----

gguf::Value string_array(std::vector<std::string> items) {
  gguf::Array a;
  a.elem_type = gguf::ValueType::STRING;
  for (auto& s : items) a.items.push_back(gguf::Value{std::move(s)});
  return gguf::Value{std::move(a)};
}

template <typename T>
gguf::Value array_of(gguf::ValueType type, std::vector<T> items) {
  gguf::Array a;
  a.elem_type = type;
  for (T v : items) a.items.push_back(gguf::Value{v});
  return gguf::Value{std::move(a)};
}

gguf::Writer base_writer() {
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  w.set("tokenizer.ggml.tokens", string_array({"a", "b", "ab"}));
  w.set("tokenizer.ggml.token_type", array_of<int32_t>(gguf::ValueType::INT32, {1, 1, 1}));
  w.set("tokenizer.ggml.merges", string_array({"a b"}));
  return w;
}

std::string load_error(gguf::Writer& w, const std::string& name) {
  const std::string path = fmt::format("{}/tok-malformed-{}-{}.gguf", HEARTH_TEST_TMP, getpid(), name);
  EXPECT_TRUE(w.write(path).ok());
  Result<ModelFile> model = ModelFile::open(path);
  std::remove(path.c_str());
  if (!model.ok()) return "open: " + model.error().message;
  Result<Tokenizer> tok = Tokenizer::from_model(*model);
  return tok.ok() ? "" : tok.error().message;
}

TEST(MalformedVocab, GgufMetadataTypes) {
  {
    gguf::Writer w = base_writer();
    EXPECT_EQ(load_error(w, "good"), "");
  }
  struct Case {
    const char* name;
    std::function<void(gguf::Writer&)> edit;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"no-model", [](gguf::Writer& w) { w.set_string("tokenizer.ggml.model", "x"); }, "unsupported"},
      {"tokens-scalar", [](gguf::Writer& w) { w.set_string("tokenizer.ggml.tokens", "abc"); }, "expected an array"},
      {"tokens-ints", [](gguf::Writer& w) { w.set("tokenizer.ggml.tokens", array_of<int32_t>(gguf::ValueType::INT32, {1, 2})); },
       "tokens has elements of type"},
      {"types-float", [](gguf::Writer& w) { w.set("tokenizer.ggml.token_type", array_of<float>(gguf::ValueType::FLOAT32, {1, 1, 1})); },
       "token_type has elements of type"},
      {"types-short", [](gguf::Writer& w) { w.set("tokenizer.ggml.token_type", array_of<int32_t>(gguf::ValueType::INT32, {1})); },
       "token_type has 1 entries for 3"},
      {"scores-strings", [](gguf::Writer& w) { w.set("tokenizer.ggml.scores", string_array({"1", "2", "3"})); },
       "scores has elements of type"},
      {"merges-ints", [](gguf::Writer& w) { w.set("tokenizer.ggml.merges", array_of<int32_t>(gguf::ValueType::INT32, {1})); },
       "merges has elements of type"},
      {"merges-unknown", [](gguf::Writer& w) { w.set("tokenizer.ggml.merges", string_array({"a c"})); },
       "not in the vocabulary"},
      {"bos-string", [](gguf::Writer& w) { w.set_string("tokenizer.ggml.bos_token_id", "1"); }, "bos_token_id is not an integer"},
      {"bos-range", [](gguf::Writer& w) { w.set_u32("tokenizer.ggml.bos_token_id", 3); }, "bos_token_id = 3"},
      {"add-bos-string", [](gguf::Writer& w) { w.set_string("tokenizer.ggml.add_bos_token", "yes"); }, "add_bos_token is not a bool"},
  };
  for (const Case& c : cases) {
    gguf::Writer w = base_writer();
    c.edit(w);
    const std::string error = load_error(w, c.name);
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.name << ": '" << error << "'";
  }
  // A model file without any tokenizer metadata.
  gguf::Writer bare;
  bare.set_string("general.architecture", "llama");
  EXPECT_NE(load_error(bare, "bare").find("missing tokenizer.ggml.model"), std::string::npos);
}

}  // namespace
}  // namespace hearth::tokenizer
