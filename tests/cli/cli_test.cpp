// The hearth binary end to end: usage errors, mkmodel determinism and weight statistics,
// quantize, inspect --json. (Agreement with llama.cpp is in tests/peers.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "gguf/gguf.h"
#include "model/mkmodel.h"
#include "model/model_file.h"
#include "tensor/quant.h"

namespace hearth {
namespace {

const std::string kBin = HEARTH_BIN;
const std::string kTmp = std::string(HEARTH_TEST_TMP) + "/cli";

struct CmdResult {
  int exit_code;
  std::string out;  // stdout and stderr together
};

CmdResult run(const std::string& args) {
  std::string cmd = kBin + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  CmdResult r{-1, ""};
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::filesystem::create_directories(kTmp); }
  // Makes (once per process) a model and returns its path.
  static std::string model(const std::string& preset, const std::string& type, int seed = 1) {
    std::string path = kTmp + "/" + preset + "-" + type + "-s" + std::to_string(seed) + ".gguf";
    if (!std::filesystem::exists(path)) {
      CmdResult r = run("mkmodel --preset " + preset + " --type " + type + " --seed " +
                  std::to_string(seed) + " -o " + path);
      EXPECT_EQ(r.exit_code, 0) << r.out;
    }
    return path;
  }
};

TEST_F(Cli, BadUsageIsAClearErrorWithNonZeroExit) {
  for (const char* args : {"", "nosuchcommand", "inspect", "quantize a b", "mkmodel --preset x",
                           "inspect --bogus-flag f"}) {
    CmdResult r = run(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_FALSE(r.out.empty()) << args;
  }
  CmdResult r = run("mkmodel --preset no-such-preset -o " + kTmp + "/x.gguf");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("unknown preset"), std::string::npos) << r.out;
  r = run("quantize " + kTmp + "/missing.gguf " + kTmp + "/y.gguf Q4_K_M");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("no such file"), std::string::npos) << r.out;
  r = run("quantize a b NOT_A_TYPE");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("unknown type or recipe"), std::string::npos) << r.out;
}

TEST_F(Cli, EverySubcommandHasHelp) {
  for (const char* cmd : {"inspect", "quantize", "mkmodel"}) {
    CmdResult r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
}

TEST_F(Cli, MkmodelIsDeterministicBySeed) {
  std::string a = model("qwen3-tiny", "q8_0", 7);
  std::string b = kTmp + "/qwen3-again.gguf";
  ASSERT_EQ(run("mkmodel --preset qwen3-tiny --type q8_0 --seed 7 -t 1 -o " + b).exit_code, 0);
  std::string c = model("qwen3-tiny", "q8_0", 8);
  auto fa = MappedFile::open(a), fb = MappedFile::open(b), fc = MappedFile::open(c);
  ASSERT_TRUE(fa.ok() && fb.ok() && fc.ok());
  ASSERT_EQ(fa->size(), fb->size());
  EXPECT_EQ(std::memcmp(fa->data(), fb->data(), fa->size()), 0) << "same seed, different bytes";
  ASSERT_EQ(fa->size(), fc->size());
  EXPECT_NE(std::memcmp(fa->data(), fc->data(), fa->size()), 0) << "seed ignored";
}

// The weights have the advertised statistics (N(0, 1/fan_in) matrices, norms near 1), and every
// stored type holds the same underlying weights as F32 of the same seed.
TEST_F(Cli, MkmodelWeightsHaveRealScalesAcrossTypes) {
  auto f32 = ModelFile::open(model("llama-3.2-tiny", "f32"));
  auto q8 = ModelFile::open(model("llama-3.2-tiny", "q8_0"));
  ASSERT_TRUE(f32.ok() && q8.ok());
  for (const char* name : {"blk.0.attn_q.weight", "blk.1.ffn_down.weight"}) {
    const ModelTensor* t = f32->find_tensor(name);
    ASSERT_NE(t, nullptr);
    const float* w = static_cast<const float*>(t->view.data);
    double sum2 = 0;
    for (int64_t i = 0; i < t->view.n_elements(); ++i) sum2 += double(w[i]) * w[i];
    double std = std::sqrt(sum2 / double(t->view.n_elements()));
    EXPECT_NEAR(std * std::sqrt(double(t->view.ne[0])), 1.0, 0.02) << name;

    const ModelTensor* q = q8->find_tensor(name);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->view.type, DType::Q8_0);
    std::vector<float> row(static_cast<size_t>(t->view.ne[0]));
    dequantize_row(DType::Q8_0, q->view.data, row.data(), t->view.ne[0]);
    for (size_t i = 0; i < row.size(); ++i) EXPECT_NEAR(row[i], w[i], 0.02 * std) << name << i;
  }
  const ModelTensor* norm = f32->find_tensor("blk.0.attn_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_NEAR(static_cast<const float*>(norm->view.data)[0], 1.0, 0.5);
  // llama-3 rope scaling is baked in as llama.cpp's converter does.
  const ModelTensor* freqs = f32->find_tensor("rope_freqs.weight");
  ASSERT_NE(freqs, nullptr);
  EXPECT_EQ(freqs->view.ne[0], 32);
  EXPECT_EQ(static_cast<const float*>(freqs->view.data)[0], 1.0f);
  EXPECT_EQ(static_cast<const float*>(freqs->view.data)[31], 32.0f);
}

TEST_F(Cli, MkmodelCopiesARealVocabularyAndTemplate) {
  auto m = ModelFile::open(model("qwen2.5-tiny", "q4_0"));
  ASSERT_TRUE(m.ok());
  auto vocab = gguf::File::open(std::string(HEARTH_SHARED_DIR) + "/testdata/vocab/ggml-vocab-qwen2.gguf");
  ASSERT_TRUE(vocab.ok());
  const gguf::Array* a = m->find("tokenizer.ggml.tokens")->as_array();
  const gguf::Array* b = vocab->find("tokenizer.ggml.tokens")->as_array();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->items.size(), b->items.size());
  EXPECT_EQ(*a->items[1000].as_string(), *b->items[1000].as_string());
  EXPECT_EQ(m->find_tensor("token_embd.weight")->view.ne[1], int64_t(b->items.size()));
  auto tmpl = m->get_string("tokenizer.chat_template");
  ASSERT_TRUE(tmpl.has_value());
  EXPECT_NE(tmpl->find("<|im_start|>"), std::string::npos);
}

TEST_F(Cli, InspectJsonDescribesTheFile) {
  std::string path = model("qwen2.5-tiny", "q8_0");
  CmdResult r = run("inspect --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "qwen2");
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["hparams"]["n_embd"], 256);
  EXPECT_EQ(j["hparams"]["n_head_kv"], 2);
  EXPECT_EQ(j["tokenizer"]["has_chat_template"], true);
  EXPECT_EQ(j["metadata"]["qwen2.block_count"]["value"], 2);
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"]["length"], 151936);
  auto m = ModelFile::open(path);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(j["tensors"].size(), m->tensors().size());
  uint64_t params = 0;
  for (const ModelTensor& t : m->tensors()) params += uint64_t(t.view.n_elements());
  EXPECT_EQ(j["n_params"], params);
  CmdResult text = run("inspect " + path);
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("blk.1.ffn_down.weight"), std::string::npos);
}

// The KV cache a model needs: f16 K and V of every full-attention layer per token, and of the
// windowed layers (gemma-3: five of six, 16-token window) only their window's.
TEST_F(Cli, InspectReportsTheKvCacheOfFullAndWindowedLayers) {
  CmdResult r = run("inspect --json " + model("gemma-3-1b-tiny", "q8_0"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto hp = nlohmann::json::parse(r.out)["hparams"];
  const int64_t kv_dim = 1 * 128;  // one KV head of 128
  EXPECT_EQ(hp["kv_bytes_per_token"], 2 * 2 * kv_dim * 1);         // layer 5
  EXPECT_EQ(hp["kv_bytes_per_window_token"], 2 * 2 * kv_dim * 5);  // layers 0-4
  EXPECT_EQ(hp["kv_window"], 16);
  CmdResult text = run("inspect " + model("gemma-3-1b-tiny", "q8_0"));
  EXPECT_NE(text.out.find("kv cache (f16): 512 bytes per token + windowed layers 2560 bytes per token of their "
                          "16-token window; 1.0 MiB at 2048 tokens, 16.0 MiB at 32768 tokens"),
            std::string::npos)
      << text.out;
  r = run("inspect --json " + model("qwen2.5-tiny", "q8_0"));
  hp = nlohmann::json::parse(r.out)["hparams"];
  EXPECT_EQ(hp["kv_bytes_per_token"], 2 * 2 * 2 * 64 * 2);  // 2 layers, 2 KV heads of 64
  EXPECT_FALSE(hp.contains("kv_window"));
}

TEST_F(Cli, QuantizeRoundTripStaysCloseToTheSource) {
  std::string src = model("qwen2.5-tiny", "f32");
  std::string out = kTmp + "/quantized-q6k.gguf";
  CmdResult r = run("quantize " + src + " " + out + " Q6_K");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto a = ModelFile::open(src);
  auto b = ModelFile::open(out);
  ASSERT_TRUE(a.ok() && b.ok()) << (b.ok() ? "" : b.error().message);
  EXPECT_EQ(b->get_int("general.file_type"), 18);
  const ModelTensor* w = b->find_tensor("blk.0.ffn_up.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->view.type, DType::Q6_K);
  std::vector<float> row(256);
  dequantize_row(DType::Q6_K, w->view.data, row.data(), 256);
  const float* ref = static_cast<const float*>(a->find_tensor("blk.0.ffn_up.weight")->view.data);
  double err = 0, mag = 0;
  for (int i = 0; i < 256; ++i) {
    err += (row[i] - ref[i]) * (row[i] - ref[i]);
    mag += ref[i] * ref[i];
  }
  EXPECT_LT(std::sqrt(err / mag), 0.02);
}

// A Hugging Face folder whose tokenizer.json came in with mkmodel --tokenizer-dir: `tokenize -m`
// and `template -m` read the folder's tokenizer files, and --tokenizer reads them directly.
TEST_F(Cli, TokenizeAndTemplateReadHuggingFaceTokenizerFiles) {
  const std::string tok_dir = kTmp + "/hf-tokenizer-src";
  std::filesystem::create_directories(tok_dir);
  std::ofstream(tok_dir + "/tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<|im_end|>": 3}, "merges": ["a b"]},
             "added_tokens": [{"id": 3, "content": "<|im_end|>", "special": true}]})";
  std::ofstream(tok_dir + "/tokenizer_config.json") << R"({"eos_token": "<|im_end|>", "chat_template": "{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}"})";
  const std::string folder = kTmp + "/hf-with-tokenizer";
  std::filesystem::remove_all(folder);
  CmdResult made = run("mkmodel --preset qwen3-tiny --format hf --tokenizer-dir " + tok_dir + " -o " + folder);
  ASSERT_EQ(made.exit_code, 0) << made.out;

  CmdResult ids = run("tokenize -m " + folder + " --ids 'abab<|im_end|>'");
  EXPECT_EQ(ids.exit_code, 0) << ids.out;
  EXPECT_EQ(ids.out, "2 2 3\n");
  CmdResult direct = run("tokenize --tokenizer " + tok_dir + "/tokenizer.json --ids ab");
  EXPECT_EQ(direct.out, "2\n");

  std::ofstream(kTmp + "/hf-request.json") << R"({"messages": [{"role": "user", "content": "hi"}]})";
  CmdResult prompt = run("template -m " + folder + " --request " + kTmp + "/hf-request.json");
  EXPECT_EQ(prompt.exit_code, 0) << prompt.out;
  EXPECT_EQ(prompt.out, "[hi]<|im_end|>");
  CmdResult prompt2 = run("template --tokenizer " + tok_dir + " --request " + kTmp + "/hf-request.json");
  EXPECT_EQ(prompt2.out, "[hi]<|im_end|>");

  std::ofstream(tok_dir + "/broken.json") << R"({"model": {"type": "WordPiece", "vocab": {}}})";
  CmdResult broken = run("tokenize --tokenizer " + tok_dir + "/broken.json hi");
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.out.find("model type 'WordPiece' is not supported"), std::string::npos) << broken.out;
}

}  // namespace
}  // namespace hearth

namespace hearth {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `logits --dump` writes each layer's activations under llama.cpp's names, [n_tokens, dim] f32,
// and dumping changes no logit.
// `run --spec ngram` and `run --draft` (a Q4_0 draft of the same weights) print the text plain
// decoding prints, greedy and sampled with a seed, and report how many drafts stood.
TEST_F(Cli, SpeculativeRunPrintsWhatPlainDecodingPrints) {
  const std::string target = model("qwen2.5-tiny", "f16"), draft = model("qwen2.5-tiny", "q4_0");
  const auto text_of = [](const std::string& out) {  // the generation, without the stderr report
    std::string text, line;
    std::istringstream in(out);
    while (std::getline(in, line))
      if (!line.starts_with("run:") && !line.starts_with("prompt:") && !line.starts_with("generated:") &&
          !line.starts_with("speculative")) text += line + "\n";
    return text;
  };
  for (const std::string sampling : {"--temp 0", "--temp 0.8 -s 7"}) {
    const std::string base = "run -m " + target + " -p 'one two three four. one two three four. one two' -n 48 " + sampling;
    const CmdResult plain = run(base);
    ASSERT_EQ(plain.exit_code, 0) << plain.out;
    for (const std::string& spec : {std::string("--spec ngram"), "--draft " + draft + " --draft-p-min 0 --draft-max 4"}) {
      const CmdResult r = run(base + " " + spec);
      ASSERT_EQ(r.exit_code, 0) << r.out;
      EXPECT_EQ(text_of(r.out), text_of(plain.out)) << spec << " " << sampling;
      EXPECT_NE(r.out.find("accepted"), std::string::npos) << r.out;
    }
  }
  CmdResult bad = run("run -m " + target + " -p hi --spec draft");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("--spec draft needs --draft MODEL"), std::string::npos) << bad.out;
  bad = run("run -m " + target + " -p hi --draft " + model("llama-3.2-tiny", "q4_0"));  // another vocabulary
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("the draft model's vocabulary"), std::string::npos) << bad.out;
}

TEST_F(Cli, LogitsDumpWritesEachActivationWithoutChangingTheLogits) {
  const std::string m = model("qwen3-tiny", "q8_0");
  const std::string dir = kTmp + "/dump";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  CmdResult plain = run("logits -m " + m + " --tokens \"1 2 3 4 5\" -t 1 -o " + kTmp + "/plain.f32");
  ASSERT_EQ(plain.exit_code, 0) << plain.out;
  CmdResult dumped = run("logits -m " + m + " --tokens \"1 2 3 4 5\" -t 1 -o " + kTmp + "/dumped.f32 --dump " + dir);
  ASSERT_EQ(dumped.exit_code, 0) << dumped.out;
  EXPECT_EQ(read_file(kTmp + "/plain.f32"), read_file(kTmp + "/dumped.f32"));

  auto file = ModelFile::open(m);
  ASSERT_TRUE(file.ok());
  const int64_t n_embd = *file->get_int("qwen3.embedding_length");
  const int64_t n_layer = *file->get_int("qwen3.block_count");
  for (int64_t il = 0; il < n_layer; ++il)
    for (const char* name : {"attn_norm", "Qcur", "Kcur", "Vcur", "kqv_out", "attn_out", "ffn_inp", "ffn_norm",
                             "ffn_gate", "ffn_up", "ffn_swiglu", "ffn_out", "l_out"})
      EXPECT_TRUE(std::filesystem::exists(dir + "/" + name + "-" + std::to_string(il) + ".f32")) << name << il;
  EXPECT_EQ(std::filesystem::file_size(dir + "/l_out-0.f32"), uint64_t(5 * n_embd * 4));
  EXPECT_EQ(std::filesystem::file_size(dir + "/result_norm.f32"), uint64_t(5 * n_embd * 4));
  CmdResult bad = run("logits -m " + m + " --tokens \"1 2\" -o " + kTmp + "/x.f32 --dump " + kTmp + "/no/such/dir");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("cannot write into"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace hearth
