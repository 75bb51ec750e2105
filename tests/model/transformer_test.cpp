// The forward pass on its own terms: a model from a Hugging Face folder gives the same logits as
// the same model from GGUF; batched and token-by-token evaluation agree; files that lie about
// their model are refused at load with a clear error. (Agreement with llama.cpp: tests/peers.)
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "model/hf_writer.h"
#include "model/mkmodel.h"
#include "model/quantize.h"
#include "model/transformer.h"

namespace hearth {
namespace {

const std::string kTmp = std::string(HEARTH_TEST_TMP) + "/transformer";
const std::string kShared = HEARTH_SHARED_DIR;

std::string make_model(const std::string& preset, const std::string& type) {
  std::filesystem::create_directories(kTmp);
  std::string path = kTmp + "/" + preset + "-" + type + ".gguf";
  if (!std::filesystem::exists(path)) {
    MkModelOptions o;
    o.preset = preset;
    o.type = type;
    o.output = path;
    o.seed = 11;
    o.vocab_dir = kShared + "/testdata/vocab";
    o.chat_template_dir = "";
    auto r = make_random_model(o);
    EXPECT_TRUE(r.ok()) << r.error().message;
  }
  return path;
}

// Deletes a lying copy once its check is done, however the check ends: each copy is as large as
// the model it lies about (gpt-oss's tiny F32 is 345 MB), and a hundred of them kept filled CI's disk.
struct RemovedAtScopeExit {
  std::string path;
  ~RemovedAtScopeExit() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

std::vector<float> logits_of(const ModelFile& m, const std::vector<int32_t>& tokens, int64_t n_batch,
                             int threads = 2) {
  TransformerOptions opt;
  opt.n_ctx = 64;
  opt.n_batch = n_batch;
  opt.n_threads = threads;
  auto tf = Transformer::create(m, opt);
  EXPECT_TRUE(tf.ok()) << tf.error().message;
  std::vector<float> all, one;
  for (size_t i = 0; i < tokens.size(); i += size_t(n_batch)) {
    size_t n = std::min(tokens.size() - i, size_t(n_batch));
    Status st = (*tf)->forward(std::span(tokens).subspan(i, n), true, one);
    EXPECT_TRUE(st.ok()) << st.message();
    all.insert(all.end(), one.begin(), one.end());
  }
  return all;
}

const std::vector<int32_t> kTokens = {791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13};

TEST(Transformer, HuggingFaceFolderGivesTheSameLogitsAsGguf) {
  const std::vector<int32_t> spm_tokens = {1, 15043, 3186, 29892, 445, 338, 263, 1243, 310, 278};
  // DeepSeek: kv_b_proj split per head into attn_k_b (transposed) and attn_v_b on the way in,
  // merged on the way out; V2-Lite's one query matrix (q_lora_rank null), V3's routing settings.
  for (const char* preset : {"llama-3.2-tiny", "qwen2.5-tiny", "qwen3-tiny", "qwen3-30b-a3b-tiny", "mixtral-8x7b-tiny",
                             "deepseek-v2-lite-tiny", "deepseek-v3-tiny"}) {
    const bool small_vocab = std::string(preset).starts_with("mixtral") || std::string(preset).starts_with("deepseek");
    const std::vector<int32_t>& tokens = small_vocab ? spm_tokens : kTokens;
    auto gguf_model = ModelFile::open(make_model(preset, "f32"));
    ASSERT_TRUE(gguf_model.ok());
    std::string dir = kTmp + "/hf-" + preset;
    std::filesystem::remove_all(dir);
    Status st = write_hf_folder(*gguf_model, dir, "");
    ASSERT_TRUE(st.ok()) << st.message();
    auto hf_model = ModelFile::open(dir);
    ASSERT_TRUE(hf_model.ok()) << hf_model.error().message;
    std::vector<float> a = logits_of(*gguf_model, tokens, 16);
    std::vector<float> b = logits_of(*hf_model, tokens, 16);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << preset;
  }
}

// A sentence-transformers folder says how it pools (modules.json -> 1_Pooling/config.json), as
// llama.cpp's converter reads it; the folder and the GGUF give the same hidden states.
TEST(Transformer, EmbeddingModelFolderKeepsItsPoolingAndHiddenStates) {
  auto gguf_model = ModelFile::open(make_model("qwen3-embedding-tiny", "f32"));
  ASSERT_TRUE(gguf_model.ok());
  const std::string dir = kTmp + "/hf-qwen3-embedding-tiny";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(write_hf_folder(*gguf_model, dir, "").ok());
  ASSERT_TRUE(std::filesystem::exists(dir + "/1_Pooling/config.json"));
  auto hf_model = ModelFile::open(dir);
  ASSERT_TRUE(hf_model.ok()) << hf_model.error().message;
  auto hp = read_hparams(*hf_model);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->pooling, Pooling::kLast);
  std::vector<float> a, b;
  for (auto [m, out] : {std::pair{&*gguf_model, &a}, {&*hf_model, &b}}) {
    TransformerOptions opt;
    opt.n_ctx = 16;
    auto tf = Transformer::create(*m, opt);
    ASSERT_TRUE(tf.ok()) << tf.error().message;
    ASSERT_TRUE((*tf)->forward_hidden(kTokens, true, *out).ok());
  }
  EXPECT_EQ(a, b);
  // A pooling module that points outside the folder, or a mode hearth does not know, is refused.
  std::ofstream(dir + "/modules.json") << R"([{"idx":1,"name":"1","path":"../x","type":"sentence_transformers.models.Pooling"}])";
  auto outside = ModelFile::open(dir);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("inside the model folder"), std::string::npos) << outside.error().message;
  // Nor through a symlink.
  std::filesystem::create_directories(kTmp + "/outside-pooling");
  std::ofstream(kTmp + "/outside-pooling/config.json") << R"({"pooling_mode_lasttoken": true})";
  std::filesystem::remove_all(dir + "/link");
  std::filesystem::create_directory_symlink(kTmp + "/outside-pooling", dir + "/link");
  std::ofstream(dir + "/modules.json") << R"([{"idx":1,"name":"1","path":"link","type":"sentence_transformers.models.Pooling"}])";
  auto linked = ModelFile::open(dir);
  ASSERT_FALSE(linked.ok());
  EXPECT_NE(linked.error().message.find("inside the model folder"), std::string::npos) << linked.error().message;
  std::ofstream(dir + "/modules.json") << R"([{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}])";
  std::ofstream(dir + "/1_Pooling/config.json") << R"({"pooling_mode_max_tokens": true})";
  auto max_pooling = ModelFile::open(dir);
  ASSERT_FALSE(max_pooling.ok());
  EXPECT_NE(max_pooling.error().message.find("only mean, cls and last-token pooling"), std::string::npos);
}

TEST(Transformer, BatchedAndTokenByTokenAgreeForAnyThreadCount) {
  auto m = ModelFile::open(make_model("qwen3-tiny", "q4_k"));
  ASSERT_TRUE(m.ok());
  std::vector<float> batched = logits_of(*m, kTokens, 16, 2);
  std::vector<float> single = logits_of(*m, kTokens, 1, 1);
  std::vector<float> chunks = logits_of(*m, kTokens, 3, 2);
  ASSERT_EQ(batched.size(), single.size());
  EXPECT_EQ(std::memcmp(batched.data(), single.data(), batched.size() * 4), 0);
  EXPECT_EQ(std::memcmp(batched.data(), chunks.data(), batched.size() * 4), 0);
}

// Grouping tokens per expert must not change any token's result: every expert's product is the
// same per-(row, token) sequence whatever else was routed to it.
TEST(Transformer, MixtureOfExpertsIsBatchInvariant) {
    const std::vector<int32_t> spm_tokens = {1, 15043, 3186, 29892, 445, 338, 263, 1243, 310, 278, 6375, 1209};
  // gpt-oss: 40 tokens, so its 16-token windows slide within and across chunks.
  std::vector<int32_t> long_tokens;
  for (int r = 0; r < 4; ++r) long_tokens.insert(long_tokens.end(), kTokens.begin(), kTokens.end());
  for (auto [preset, type] : {std::pair{"qwen3-30b-a3b-tiny", "q4_k"}, {"mixtral-8x7b-tiny", "q8_0"},
                              {"gpt-oss-20b-tiny", "MXFP4_MOE"}, {"gemma-3-1b-tiny", "Q4_K_M"},
                              // Gemma 4 E2B's layout: shared-KV layers read keys written earlier in the pass.
                              {"gemma-4-e2b-tiny", "q4_k"}}) {
    auto m = ModelFile::open(make_model(preset, type));
    ASSERT_TRUE(m.ok());
    // gemma-3 (SentencePiece vocabulary, 16-token windows on five layers of six): long and SPM ids.
    std::vector<int32_t> spm_long;
    for (int r = 0; r < 4; ++r) spm_long.insert(spm_long.end(), spm_tokens.begin(), spm_tokens.end());
    const std::vector<int32_t>& tokens = std::string(preset).starts_with("mixtral") ? spm_tokens
                                         : std::string(preset).starts_with("gpt-oss") ? long_tokens
                                         : std::string(preset).starts_with("gemma")   ? spm_long
                                                                                      : kTokens;
    std::vector<float> batched = logits_of(*m, tokens, 16, 2);
    std::vector<float> single = logits_of(*m, tokens, 1, 1);
    std::vector<float> chunks = logits_of(*m, tokens, 3, 2);
    ASSERT_EQ(batched.size(), single.size());
    EXPECT_EQ(std::memcmp(batched.data(), single.data(), batched.size() * 4), 0) << preset;
    EXPECT_EQ(std::memcmp(batched.data(), chunks.data(), batched.size() * 4), 0) << preset;
  }
}

// Qwen3.5's Gated DeltaNet layers carry a state from token to token: a prompt in one chunk, in
// chunks of 3 and token by token (1 or 2 threads) gives the same bits, since the recurrence runs
// token by token in every case and nothing else depends on the batch. The state cannot be taken
// back (truncate is refused), and a pass that does not continue a sequence's state is refused.
TEST(Transformer, GatedDeltaNetStateIsBatchInvariantAndOnlyMovesForward) {
  auto m = ModelFile::open(make_model("qwen3.5-tiny", "q8_0"));
  ASSERT_TRUE(m.ok());
  std::vector<int32_t> tokens;
  for (int r = 0; r < 3; ++r) tokens.insert(tokens.end(), kTokens.begin(), kTokens.end());
  std::vector<float> batched = logits_of(*m, tokens, 16, 2);
  std::vector<float> single = logits_of(*m, tokens, 1, 1);
  std::vector<float> chunks = logits_of(*m, tokens, 3, 2);
  ASSERT_EQ(batched.size(), single.size());
  EXPECT_EQ(std::memcmp(batched.data(), single.data(), batched.size() * 4), 0);
  EXPECT_EQ(std::memcmp(batched.data(), chunks.data(), batched.size() * 4), 0);

  TransformerOptions opt;
  opt.n_ctx = 64;
  auto tf = Transformer::create(*m, opt);
  ASSERT_TRUE(tf.ok()) << tf.error().message;
  std::vector<float> logits;
  ASSERT_TRUE((*tf)->forward(std::span(tokens).first(10), true, logits).ok());
  const Status back = (*tf)->truncate(5);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.message().find("cannot take back tokens"), std::string::npos) << back.message();
  ASSERT_TRUE((*tf)->truncate(0).ok());  // a restart is always possible: position 0 clears the state
  std::vector<float> again;
  ASSERT_TRUE((*tf)->forward(std::span(tokens).first(10), true, again).ok());
  EXPECT_EQ(std::memcmp(again.data(), batched.data(), again.size() * 4), 0);

  // A caller's cache: a sequence's tokens must continue its slot's position.
  KvCache kv(kv_layer_shapes((*tf)->hparams()), 16, 4, 0, (*tf)->backend(), 2);
  std::vector<int32_t> table = {0, 1, 2, 3};
  Batch b;
  b.block_tables.push_back(table);
  b.state_slots.push_back(1);
  b.add(tokens[0], 0, 0, true);
  b.add(tokens[1], 1, 0, true);
  std::vector<float> out(size_t(2 * (*tf)->hparams().n_vocab));
  ASSERT_TRUE((*tf)->forward_batch(b, kv, out.data()).ok());
  EXPECT_EQ(kv.slot_next(1), 2);
  b.clear();
  b.block_tables.push_back(table);
  b.state_slots.push_back(1);
  b.add(tokens[3], 3, 0, true);  // position 2 skipped
  const Status skip = (*tf)->forward_batch(b, kv, out.data());
  ASSERT_FALSE(skip.ok());
  EXPECT_NE(skip.message().find("continues at position 2, not 3"), std::string::npos) << skip.message();
  b.state_slots[0] = 2;
  const Status outside = (*tf)->forward_batch(b, kv, out.data());
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.message().find("state slot 2 is outside the cache (2 slots)"), std::string::npos);
}

// The sliding-window layers of the one-sequence cache keep a ring of blocks (a window and a
// chunk), reused as the sequence grows: 150 tokens over a 16-token window wrap the ring several
// times, and every logit equals that of a cache that keeps every position of every layer.
// gemma-3's windowed layers also rope apart from its global one.
TEST(Transformer, WindowRingGivesTheLogitsOfAFullCache) {
 for (const char* preset : {"gpt-oss-20b-tiny", "gemma-3-1b-tiny"}) {
  auto m = ModelFile::open(make_model(preset, "q8_0"));
  ASSERT_TRUE(m.ok());
  std::vector<int32_t> tokens;
  while (tokens.size() < 150) tokens.insert(tokens.end(), kTokens.begin(), kTokens.end());
  tokens.resize(150);
  for (int32_t& t : tokens) t %= 32000;  // inside both vocabularies
  for (int64_t n_batch : {1, 7}) {
    TransformerOptions ring_opt;
    ring_opt.n_ctx = 160;
    ring_opt.n_batch = n_batch;
    ring_opt.n_threads = 2;
    auto ring = Transformer::create(*m, ring_opt);
    ASSERT_TRUE(ring.ok()) << ring.error().message;
    TransformerOptions full_opt = ring_opt;
    full_opt.own_kv_cache = false;
    auto full = Transformer::create(*m, full_opt);
    ASSERT_TRUE(full.ok()) << full.error().message;
    const HParams& hp = (*full)->hparams();
    std::vector<KvLayerShape> all_full(size_t(hp.n_layer), KvLayerShape{KvGroup::kFull, hp.kv_dim(), hp.kv_dim()});
    KvCache everything(all_full, 16, 10, 0, (*full)->backend());  // every layer in the full group
    EXPECT_LT((*ring)->kv_cache_bytes(), everything.bytes()) << "the window layers keep all positions";
    std::vector<int32_t> table(10);
    std::iota(table.begin(), table.end(), 0);
    std::vector<float> want(hp.n_vocab), got;
    for (size_t i = 0; i < tokens.size(); i += size_t(n_batch)) {
      const size_t n = std::min(tokens.size() - i, size_t(n_batch));
      ASSERT_TRUE((*ring)->forward(std::span(tokens).subspan(i, n), false, got).ok());
      Batch b;
      b.block_tables.push_back(table);
      for (size_t j = 0; j < n; ++j) b.add(tokens[i + j], static_cast<int32_t>(i + j), 0, j + 1 == n);
      ASSERT_TRUE((*full)->forward_batch(b, everything, want.data()).ok());
      ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0)
          << preset << " n_batch " << n_batch << ", tokens up to " << i + n;
    }
  }
 }
}

TEST(Transformer, RefusesTokensOutsideTheVocabularyAndAFullContext) {
  auto m = ModelFile::open(make_model("llama-3.2-tiny", "q8_0"));
  ASSERT_TRUE(m.ok());
  TransformerOptions opt;
  opt.n_ctx = 4;
  auto tf = Transformer::create(*m, opt);
  ASSERT_TRUE(tf.ok());
  std::vector<float> logits;
  std::vector<int32_t> bad = {1, -5};
  EXPECT_NE((*tf)->forward(bad, false, logits).message().find("outside the vocabulary"), std::string::npos);
  std::vector<int32_t> five = {1, 2, 3, 4, 5};
  EXPECT_NE((*tf)->forward(five, false, logits).message().find("context full"), std::string::npos);
}

// Rewrites `src` with metadata edits and without `drop_tensor`, then expects load to fail with
// `expect` in the message.
void expect_refused(const std::string& src, const std::string& name,
                    const std::vector<std::pair<std::string, gguf::Value>>& edits,
                    const std::string& drop_tensor, const std::string& swap_shape_of,
                    const std::string& expect) {
  auto file = gguf::File::open(src);
  ASSERT_TRUE(file.ok());
  gguf::Writer w;
  w.copy_metadata(*file);
  for (const auto& [k, v] : edits) w.set(k, v);
  std::vector<float> fake;
  for (const gguf::TensorInfo& t : file->tensors()) {
    if (t.name == drop_tensor) continue;
    TensorView v = t.view;
    if (t.name == swap_shape_of && v.n_dims == 1) {  // [n] becomes [1, n]: same bytes, wrong shape
      v.n_dims = 2;
      std::swap(v.ne[0], v.ne[1]);
    } else if (t.name == swap_shape_of) {
      std::swap(v.ne[v.n_dims == 3 ? 1 : 0], v.ne[v.n_dims == 3 ? 2 : 1]);
    }
    ASSERT_TRUE(w.add_tensor(t.name, v).ok());
  }
  std::string out = kTmp + "/lying-" + name + ".gguf";
  RemovedAtScopeExit cleanup{out};
  ASSERT_TRUE(w.write(out).ok());
  auto m = ModelFile::open(out);
  ASSERT_TRUE(m.ok()) << m.error().message;
  TransformerOptions opt;
  opt.n_ctx = 16;
  opt.n_batch = 16;
  auto tf = Transformer::create(*m, opt);
  ASSERT_FALSE(tf.ok()) << name << " was accepted";
  EXPECT_NE(tf.error().message.find(expect), std::string::npos) << name << ": " << tf.error().message;
  std::printf("  %-22s %s\n", name.c_str(), tf.error().message.c_str());
}

TEST(Transformer, ModelsThatLieAreRefusedAtLoad) {
  std::string src = make_model("qwen2.5-tiny", "f32");
  expect_refused(src, "missing-tensor", {}, "blk.1.ffn_down.weight", "", "'blk.1.ffn_down.weight' is missing");
  expect_refused(src, "missing-bias", {}, "blk.0.attn_q.bias", "", "'blk.0.attn_q.bias' is missing");
  expect_refused(src, "wrong-shape", {}, "", "blk.0.ffn_up.weight", "has shape [512, 256], expected [256, 512]");
  expect_refused(src, "head-not-dividing", {{"qwen2.attention.head_count", gguf::Value{uint32_t{3}}},
                                            {"qwen2.attention.head_count_kv", gguf::Value{uint32_t{3}}}},
                 "", "", "not divisible by attention.head_count 3");
  expect_refused(src, "gqa-not-dividing", {{"qwen2.attention.head_count_kv", gguf::Value{uint32_t{3}}}}, "", "",
                 "not a multiple of head_count_kv 3");
  expect_refused(src, "context-zero", {{"qwen2.context_length", gguf::Value{uint32_t{0}}}}, "", "",
                 "context_length = 0 is out of range");
  expect_refused(src, "layers-too-many", {{"qwen2.block_count", gguf::Value{uint32_t{3}}}}, "", "",
                 "'blk.2.attn_norm.weight' is missing");
  expect_refused(src, "embd-wrong-type", {{"qwen2.embedding_length", gguf::Value{std::string("256")}}}, "",
                 "", "must be an integer");
  expect_refused(src, "unknown-arch", {{"general.architecture", gguf::Value{std::string("mamba9")}}}, "", "",
                 "architecture 'mamba9' is not supported");
}

// DeepSeek (deepseek2): the latent's and heads' shapes and the router's groups are checked before
// anything is sized from them (the issue's list of lies, each a clear error).
TEST(Transformer, DeepSeekModelsThatLieAreRefusedAtLoad) {
  const std::string src = make_model("deepseek-v3-tiny", "f32");  // latent 128, heads 64 + 32, 16 experts in 4 groups
  auto u32 = [](uint32_t x) { return gguf::Value{x}; };
  expect_refused(src, "kv-lora-zero", {{"deepseek2.attention.kv_lora_rank", u32(0)}}, "", "",
                 "deepseek2.attention.kv_lora_rank must be in 1..256 (the embedding width)");
  expect_refused(src, "kv-lora-above-width", {{"deepseek2.attention.kv_lora_rank", u32(257)}}, "", "",
                 "deepseek2.attention.kv_lora_rank must be an integer in 0..256");
  expect_refused(src, "rope-above-head", {{"deepseek2.rope.dimension_count", u32(96)}}, "", "",
                 "rope.dimension_count 96 must be even and below attention.key_length_mla 96");
  expect_refused(src, "cache-head-lies", {{"deepseek2.attention.key_length", u32(128)}}, "", "",
                 "must be kv_lora_rank + rope.dimension_count (160)");
  expect_refused(src, "groups-not-dividing", {{"deepseek2.expert_group_count", u32(3)}}, "", "",
                 "expert_group_count 3 must divide expert_count 16");
  expect_refused(src, "groups-used-above", {{"deepseek2.expert_group_used_count", u32(5)}}, "", "",
                 "expert_group_used_count 5 must be in 1..4");
  expect_refused(src, "used-above-groups",
                 {{"deepseek2.expert_group_used_count", u32(1)}, {"deepseek2.expert_used_count", u32(5)}}, "", "",
                 "expert_used_count 5 exceeds the 4 experts of the 1 groups used");
  expect_refused(src, "dense-lead-above", {{"deepseek2.leading_dense_block_count", u32(4)}}, "", "",
                 "leading_dense_block_count must be an integer in 0..3");
  expect_refused(src, "gating-unknown", {{"deepseek2.expert_gating_func", u32(7)}}, "", "",
                 "expert_gating_func = 7 is not a gating hearth knows");
  expect_refused(src, "q-lora-lies", {{"deepseek2.attention.q_lora_rank", u32(0)}}, "", "",
                 "'blk.0.attn_q.weight' is missing");
}

// Qwen3.5 files that lie about their Gated DeltaNet layers are refused before anything is sized.
TEST(Transformer, Qwen35ModelsThatLieAreRefusedAtLoad) {
  const std::string src = make_model("qwen3.5-tiny", "f32");  // 2 key and 4 value heads of 64, 4 taps
  auto u32 = [](uint32_t x) { return gguf::Value{x}; };
  expect_refused(src, "conv-zero", {{"qwen35.ssm.conv_kernel", u32(0)}}, "", "",
                 "qwen35.ssm.conv_kernel must be in 1..16");
  expect_refused(src, "conv-huge", {{"qwen35.ssm.conv_kernel", u32(1000000)}}, "", "",
                 "qwen35.ssm.conv_kernel must be an integer in 0..16");
  expect_refused(src, "inner-lies", {{"qwen35.ssm.inner_size", u32(512)}}, "", "",
                 "inner_size 512 disagree");
  expect_refused(src, "heads-not-dividing", {{"qwen35.ssm.time_step_rank", u32(3)}}, "", "",
                 "time_step_rank 3 and inner_size 256 disagree");
  expect_refused(src, "state-size-lies", {{"qwen35.ssm.state_size", u32(32)}}, "", "",
                 "ssm.state_size 32, group_count 2, time_step_rank 4 and inner_size 256 disagree");
  expect_refused(src, "state-huge",
                 {{"qwen35.ssm.state_size", u32(1024)}, {"qwen35.ssm.time_step_rank", u32(128)},
                  {"qwen35.ssm.inner_size", u32(131072)}},
                 "", "", "state of 128 value heads of 1024x1024 floats");
  expect_refused(src, "interval-zero", {{"qwen35.full_attention_interval", u32(0)}}, "", "",
                 "qwen35.full_attention_interval must be at least 1");
  gguf::Array sections{gguf::ValueType::INT32, {gguf::Value{int32_t{1}}, gguf::Value{int32_t{1}},
                                                gguf::Value{int32_t{1}}, gguf::Value{int32_t{5}}}};
  expect_refused(src, "rope-sections-image", {{"qwen35.rope.dimension_sections", gguf::Value{sections}}}, "", "",
                 "leaves rotated pair 3 to the image axes");
  expect_refused(src, "conv-taps-shape", {}, "", "blk.0.ssm_conv1d.weight", "'blk.0.ssm_conv1d.weight' has shape");
}

// A V3 file's multi-token-prediction layers (nextn_predict_layers, counted in block_count, after
// the trunk's) are not run: the trunk loads without them, as llama.cpp's n_layer() leaves them out.
TEST(Transformer, DeepSeekMultiTokenPredictionLayersAreSkipped) {
  auto m = ModelFile::open(make_model("deepseek-v3-tiny", "f32"));
  ASSERT_TRUE(m.ok());
  gguf::Writer w;
  auto file = gguf::File::open(m->path());
  ASSERT_TRUE(file.ok());
  w.copy_metadata(*file);
  w.set("deepseek2.nextn_predict_layers", gguf::Value{uint32_t{1}});
  for (const gguf::TensorInfo& t : file->tensors()) ASSERT_TRUE(w.add_tensor(t.name, t.view).ok());
  const std::string out = kTmp + "/deepseek-mtp.gguf";
  ASSERT_TRUE(w.write(out).ok());
  auto mtp = ModelFile::open(out);
  ASSERT_TRUE(mtp.ok());
  TransformerOptions opt;
  opt.n_ctx = 16;
  auto tf = Transformer::create(*mtp, opt);
  ASSERT_TRUE(tf.ok()) << tf.error().message;
  EXPECT_EQ((*tf)->hparams().n_layer, 2);  // the third block is the MTP layer
  std::vector<float> logits;
  EXPECT_TRUE((*tf)->forward(std::vector<int32_t>{1, 2, 3}, false, logits).ok());
}

// A DeepSeek file from a converter before llama.cpp's MLA support (one attn_kv_b per layer, heads
// described uncompressed) is split when opened: in F32 (the split moves the same floats) its logits
// are those of the current layout's file of the same weights, to the bit. `quantize ... COPY`
// writes the split out in the current layout. A combined matrix of the wrong shape is refused.
TEST(Transformer, LegacyDeepSeekKvBIsSplitAtLoad) {
  for (const std::string preset : {"deepseek-v2-lite-tiny", "deepseek-v3-tiny"}) {
    MkModelOptions o;
    o.preset = preset;
    o.type = "f32";
    o.seed = 11;
    o.output = kTmp + "/" + preset + "-legacy.gguf";
    o.vocab_dir = kShared + "/testdata/vocab";
    o.chat_template_dir = "";
    o.legacy_kv_b = true;
    std::filesystem::create_directories(kTmp);
    auto made = make_random_model(o);
    ASSERT_TRUE(made.ok()) << made.error().message;
    auto raw = gguf::File::open(o.output);
    ASSERT_TRUE(raw.ok());
    ASSERT_NE(raw->find_tensor("blk.0.attn_kv_b.weight"), nullptr);  // the file is the old layout
    ASSERT_EQ(raw->find("deepseek2.attention.key_length_mla"), nullptr);

    auto legacy = ModelFile::open(o.output);
    ASSERT_TRUE(legacy.ok()) << legacy.error().message;
    EXPECT_EQ(legacy->find_tensor("blk.0.attn_kv_b.weight"), nullptr);
    ASSERT_NE(legacy->find_tensor("blk.0.attn_k_b.weight"), nullptr);
    EXPECT_EQ(legacy->get_int("deepseek2.attention.head_count_kv"), 1);
    auto current = ModelFile::open(make_model(preset, "f32"));
    ASSERT_TRUE(current.ok());
    EXPECT_EQ(legacy->get_int("deepseek2.attention.key_length"), current->get_int("deepseek2.attention.key_length"));
    EXPECT_EQ(legacy->get_int("deepseek2.attention.key_length_mla"),
              current->get_int("deepseek2.attention.key_length_mla"));
    const std::vector<int32_t> tokens = {1, 400, 1234, 20000, 31000, 5, 77, 900, 15000};  // DeepSeek's 32k vocabulary
    const std::vector<float> want = logits_of(*current, tokens, 4), got = logits_of(*legacy, tokens, 4);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float))) << preset;

    const std::string copy = kTmp + "/" + preset + "-legacy-copy.gguf";
    auto rc = parse_type_or_recipe("COPY");
    ASSERT_TRUE(rc.ok());
    auto report = quantize_model(*legacy, copy, *rc, 2);
    ASSERT_TRUE(report.ok()) << report.error().message;
    auto copied = gguf::File::open(copy);
    ASSERT_TRUE(copied.ok());
    EXPECT_EQ(copied->find_tensor("blk.0.attn_kv_b.weight"), nullptr);
    EXPECT_NE(copied->find("deepseek2.attention.key_length_mla"), nullptr);
    auto reopened = ModelFile::open(copy);
    ASSERT_TRUE(reopened.ok());
    const std::vector<float> again = logits_of(*reopened, tokens, 4);
    EXPECT_EQ(0, std::memcmp(again.data(), want.data(), want.size() * sizeof(float))) << preset;
  }
  // The combined matrix must hold heads * (nope + v) rows of kv_lora_rank.
  const std::string src = kTmp + "/deepseek-v3-tiny-legacy.gguf";
  auto file = gguf::File::open(src);
  ASSERT_TRUE(file.ok());
  gguf::Writer w;
  w.copy_metadata(*file);
  w.set("deepseek2.attention.head_count", gguf::Value{uint32_t{3}});
  for (const gguf::TensorInfo& t : file->tensors()) ASSERT_TRUE(w.add_tensor(t.name, t.view).ok());
  const std::string bad = kTmp + "/deepseek-legacy-lying.gguf";
  ASSERT_TRUE(w.write(bad).ok());
  auto refused = ModelFile::open(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("attn_kv_b.weight: shape [512, 128], expected [384, 128]"), std::string::npos)
      << refused.error().message;
}

TEST(Transformer, MixtureOfExpertsModelsThatLieAreRefusedAtLoad) {
  const std::string src = make_model("qwen3-30b-a3b-tiny", "f32");  // 16 experts, 4 used
  auto u32 = [](uint32_t x) { return gguf::Value{x}; };
  expect_refused(src, "experts-zero", {{"qwen3moe.expert_count", u32(0)}}, "", "",
                 "expert_count = 0 is out of range");
  expect_refused(src, "experts-absurd", {{"qwen3moe.expert_count", u32(1u << 20)}}, "", "",
                 "expert_count = 1048576 is out of range 1..512");
  expect_refused(src, "used-above-count", {{"qwen3moe.expert_used_count", u32(17)}}, "", "",
                 "expert_used_count 17 exceeds expert_count 16");
  expect_refused(src, "used-zero", {{"qwen3moe.expert_used_count", u32(0)}}, "", "",
                 "expert_used_count = 0 is out of range");
  expect_refused(src, "count-disagrees", {{"qwen3moe.expert_count", u32(8)}}, "", "",
                 "'blk.0.ffn_gate_inp.weight' has shape [256, 16], expected [256, 8]");
  expect_refused(src, "experts-third-dim", {}, "", "blk.1.ffn_up_exps.weight",
                 "'blk.1.ffn_up_exps.weight' has shape [256, 16, 256], expected [256, 256, 16]");
  expect_refused(src, "missing-router", {}, "blk.1.ffn_gate_inp.weight", "",
                 "'blk.1.ffn_gate_inp.weight' is missing");
  expect_refused(src, "dense-lead-too-many", {{"qwen3moe.leading_dense_block_count", u32(3)}}, "", "",
                 "leading_dense_block_count must be an integer in 0..2");
  // A dense layer where the file has experts: its dense FFN is missing.
  expect_refused(src, "dense-lead-lies", {{"qwen3moe.leading_dense_block_count", u32(1)}}, "", "",
                 "'blk.0.ffn_gate.weight' is missing");
  // A Mixture-of-Experts architecture without an expert count.
  expect_refused(make_model("qwen3-tiny", "f32"), "moe-arch-no-experts",
                 {{"general.architecture", gguf::Value{std::string("qwen3moe")}},
                  {"qwen3moe.context_length", u32(2048)}, {"qwen3moe.embedding_length", u32(256)},
                  {"qwen3moe.block_count", u32(2)}, {"qwen3moe.feed_forward_length", u32(512)},
                  {"qwen3moe.attention.head_count", u32(4)}},
                 "", "", "qwen3moe.expert_count is missing");
}

TEST(Transformer, GptOssModelsThatLieAreRefusedAtLoad) {
  const std::string src = make_model("gpt-oss-20b-tiny", "f32");
  auto u32 = [](uint32_t x) { return gguf::Value{x}; };
  expect_refused(src, "window-zero", {{"gpt-oss.attention.sliding_window", u32(0)}}, "", "",
                 "gpt-oss.attention.sliding_window = 0 is out of range");
  expect_refused(src, "window-pattern-short",
                 {{"gpt-oss.attention.sliding_window_pattern",
                   gguf::Value{gguf::Array{gguf::ValueType::BOOL, {gguf::Value{true}}}}}},
                 "", "", "sliding_window_pattern has 1 flags for 2 layers");
  expect_refused(src, "sinks-missing", {}, "blk.1.attn_sinks.weight", "", "'blk.1.attn_sinks.weight' is missing");
  expect_refused(src, "sinks-wrong-length", {}, "", "blk.0.attn_sinks.weight",
                 "'blk.0.attn_sinks.weight' has shape [1, 8], expected [8, 1]");
  expect_refused(src, "expert-bias-count", {}, "", "blk.0.ffn_up_exps.bias",
                 "'blk.0.ffn_up_exps.bias' has shape [16, 256], expected [256, 16]");
  expect_refused(src, "router-bias-missing", {}, "blk.0.ffn_gate_inp.bias", "",
                 "'blk.0.ffn_gate_inp.bias' is missing");
  expect_refused(src, "used-above-count", {{"gpt-oss.expert_used_count", u32(17)}}, "", "",
                 "expert_used_count 17 exceeds expert_count 16");
}

TEST(Transformer, GemmaModelsThatLieAreRefusedAtLoad) {
  const std::string src = make_model("gemma-3-1b-tiny", "f32");
  auto f32 = [](float x) { return gguf::Value{x}; };
  expect_refused(src, "gemma-swa-base", {{"gemma3.rope.freq_base_swa", f32(-1.0f)}}, "", "",
                 "rope.freq_base_swa must be positive");
  expect_refused(src, "gemma-softcap", {{"gemma3.final_logit_softcapping", f32(-30.0f)}}, "", "",
                 "final_logit_softcapping and attn_logit_softcapping finite and not negative");
  const std::string src2 = make_model("gemma-2-2b-tiny", "f32");
  expect_refused(src2, "gemma2-attn-softcap", {{"gemma2.attn_logit_softcapping", f32(-50.0f)}}, "", "",
                 "attn_logit_softcapping finite and not negative");
  expect_refused(src2, "gemma2-attn-softcap-nan", {{"gemma2.attn_logit_softcapping", f32(NAN)}}, "", "",
                 "attn_logit_softcapping finite and not negative");
  expect_refused(src2, "gemma2-post-norm", {}, "blk.2.post_attention_norm.weight", "",
                 "'blk.2.post_attention_norm.weight' is missing");
  // Phi-3's fused matrices must have the rows the split expects.
  const std::string src3 = make_model("phi-3-mini-tiny", "f32");
  expect_refused(src3, "phi3-qkv-shape", {}, "", "blk.1.attn_qkv.weight",
                 "'blk.1.attn_qkv.weight' has shape [768, 256], expected [256, 768]");
  expect_refused(src3, "phi3-gate-up-missing", {}, "blk.0.ffn_up.weight", "", "'blk.0.ffn_up.weight' is missing");
  expect_refused(src, "gemma-post-norm", {}, "blk.5.post_ffw_norm.weight", "", "'blk.5.post_ffw_norm.weight' is missing");
  expect_refused(src, "gemma-window-zero", {{"gemma3.attention.sliding_window", gguf::Value{uint32_t{0}}}}, "", "",
                 "gemma3.attention.sliding_window = 0 is out of range");
}

// --experts keeps fewer routed experts (DeepSeek V3 on a small machine): its expert groups shrink
// so that each still holds two experts and the groups a token chooses from hold the experts it
// uses, and the result loads and runs; counts below the experts a token uses are refused.
TEST(Transformer, FewerExpertsOfADeepSeekModelLoad) {
  MkModelOptions o;
  o.preset = "deepseek-v3-tiny";  // 16 experts in 4 groups, 2 groups chosen, 4 experts per token
  o.type = "f32";
  o.output = kTmp + "/deepseek-v3-tiny-8-experts.gguf";
  o.n_expert = 8;
  o.vocab_dir = kShared + "/testdata/vocab";
  o.chat_template_dir = "";
  std::filesystem::create_directories(kTmp);
  auto r = make_random_model(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto m = ModelFile::open(o.output);
  ASSERT_TRUE(m.ok());
  auto hp = read_hparams(*m);
  ASSERT_TRUE(hp.ok()) << hp.error().message;
  EXPECT_EQ(hp->n_expert, 8);
  EXPECT_EQ(hp->n_expert_groups, 4);  // 4 groups of 2
  EXPECT_EQ(hp->n_group_used, 2);     // 2 groups of 2 hold the 4 experts a token uses
  TransformerOptions opt;
  opt.n_ctx = 16;
  auto tf = Transformer::create(*m, opt);
  ASSERT_TRUE(tf.ok()) << tf.error().message;
  std::vector<float> logits;
  EXPECT_TRUE((*tf)->forward(std::vector<int32_t>{1, 2, 3}, false, logits).ok());
  o.n_expert = 3;
  EXPECT_FALSE(make_random_model(o).ok());
}

// --layers keeps a per-layer model's first layers whole: their window flags and KV head counts
// shrink with the layer count, and the result loads (Gemma 4: four windowed layers here).
TEST(Transformer, FewerLayersOfAPerLayerModelLoad) {
  MkModelOptions o;
  o.preset = "gemma-4-tiny";
  o.type = "f32";
  o.output = kTmp + "/gemma-4-tiny-4-layers.gguf";
  o.n_layer = 4;
  o.vocab_dir = kShared + "/testdata/vocab";
  o.chat_template_dir = "";
  std::filesystem::create_directories(kTmp);
  auto r = make_random_model(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto m = ModelFile::open(o.output);
  ASSERT_TRUE(m.ok());
  auto hp = read_hparams(*m);
  ASSERT_TRUE(hp.ok()) << hp.error().message;
  EXPECT_EQ(hp->n_layer, 4);
  EXPECT_EQ(hp->n_head_kv_arr.size(), 4u);
  EXPECT_EQ(std::count(hp->swa_layers.begin(), hp->swa_layers.end(), 1), 4);
  TransformerOptions opt;
  opt.n_ctx = 16;
  EXPECT_TRUE(Transformer::create(*m, opt).ok());
}

// Gemma 4: per-layer KV head counts of the wrong length or value, a head size its tensors do not
// have, the variants not built yet (per-layer embeddings, shared-KV layers) and MoE layers
// missing their parts are refused by name.
TEST(Transformer, Gemma4ModelsThatLieOrNeedWhatIsMissingAreRefused) {
  const std::string src = make_model("gemma-4-tiny", "f32");
  auto u32s = [](std::vector<uint32_t> xs) {
    gguf::Array a{gguf::ValueType::UINT32, {}};
    for (uint32_t x : xs) a.items.push_back(gguf::Value{x});
    return gguf::Value{std::move(a)};
  };
  expect_refused(src, "g4-kv-short", {{"gemma4.attention.head_count_kv", u32s({2, 2, 2})}}, "", "",
                 "head_count_kv has 3 entries for 6 layers");
  expect_refused(src, "g4-kv-zero", {{"gemma4.attention.head_count_kv", u32s({2, 2, 2, 2, 2, 0})}}, "", "",
                 "head_count_kv entries must be integers in 1..4096");
  expect_refused(src, "g4-kv-3", {{"gemma4.attention.head_count_kv", u32s({2, 2, 2, 2, 2, 3})}}, "", "",
                 "attention.head_count 4 is not a multiple of head_count_kv 3");
  expect_refused(src, "g4-kv-wrong", {{"gemma4.attention.head_count_kv", u32s({2, 2, 2, 2, 2, 2})}}, "", "",
                 "'blk.5.attn_k.weight' has shape [256, 128], expected [256, 256]");
  expect_refused(src, "g4-head-swa",
                 {{"gemma4.attention.key_length_swa", gguf::Value{uint32_t{32}}},
                  {"gemma4.attention.value_length_swa", gguf::Value{uint32_t{32}}},
                  {"gemma4.rope.dimension_count_swa", gguf::Value{uint32_t{32}}}},
                 "", "", "'blk.0.attn_q.weight' has shape [256, 256], expected [256, 128]");
  expect_refused(src, "g4-rot-swa", {{"gemma4.rope.dimension_count_swa", gguf::Value{uint32_t{128}}}}, "", "",
                 "rope.dimension_count_swa = 128 is out of range 1..64");
  expect_refused(src, "g4-value-swa", {{"gemma4.attention.value_length_swa", gguf::Value{uint32_t{32}}}}, "", "",
                 "value_length_swa 32 differs from key_length_swa 64");
  // Per-layer embeddings need their tables; a shared-KV layer must find a layer of its own kind
  // (layer 5 is full, and would read layer 3, which is windowed).
  expect_refused(src, "g4-ple", {{"gemma4.embedding_length_per_layer_input", gguf::Value{uint32_t{256}}}}, "", "",
                 "tensor 'per_layer_token_embd.weight' is missing");
  expect_refused(src, "g4-shared-kv", {{"gemma4.attention.shared_kv_layers", gguf::Value{uint32_t{2}}}}, "", "",
                 "shared-KV layer 5 (full) would read layer 3's cache, which is windowed");
  expect_refused(src, "g4-moe", {{"gemma4.expert_count", gguf::Value{uint32_t{8}}},
                                  {"gemma4.expert_used_count", gguf::Value{uint32_t{2}}}}, "", "",
                 "tensor 'blk.0.ffn_gate_inp.weight' is missing");
  // The MoE variant: experts need their gate and up rows one way or the other, and the router
  // its input scale.
  const std::string moe = make_model("gemma-4-a4b-tiny", "f32");
  expect_refused(moe, "g4-moe-no-gate-up", {}, "blk.2.ffn_gate_up_exps.weight", "",
                 "layer 2 needs ffn_gate_up_exps.weight, or ffn_gate_exps.weight and ffn_up_exps.weight");
  expect_refused(moe, "g4-moe-router-scale", {}, "blk.0.ffn_gate_inp.scale", "",
                 "tensor 'blk.0.ffn_gate_inp.scale' is missing");
  expect_refused(moe, "g4-moe-gate-up-shape", {}, "", "blk.1.ffn_gate_up_exps.weight",
                 "'blk.1.ffn_gate_up_exps.weight' has shape");
  expect_refused(src, "g4-no-pattern", {{"gemma4.attention.sliding_window", gguf::Value{uint32_t{0}}}}, "", "",
                 "gemma4.attention.sliding_window = 0 is out of range");
}

// Gemma 4 E2B/E4B files that lie: more shared-KV layers than leave two with keys, per-layer
// widths of the wrong count, per-layer embeddings of another width than the tables, tables
// missing, and the keys set in another family.
TEST(Transformer, Gemma4PerLayerEmbeddingFilesThatLieAreRefused) {
  const std::string src = make_model("gemma-4-e2b-tiny", "f32");
  auto u32s = [](std::vector<uint32_t> xs) {
    gguf::Array a{gguf::ValueType::UINT32, {}};
    for (uint32_t x : xs) a.items.push_back(gguf::Value{x});
    return gguf::Value{std::move(a)};
  };
  expect_refused(src, "e2b-shared-9", {{"gemma4.attention.shared_kv_layers", gguf::Value{uint32_t{9}}}}, "", "",
                 "gemma4.attention.shared_kv_layers must be an integer in 0..8");
  expect_refused(src, "e2b-ff-short", {{"gemma4.feed_forward_length", u32s({512, 512})}}, "", "",
                 "feed_forward_length has 2 entries for 10 layers");
  expect_refused(src, "e2b-ff-zero", {{"gemma4.feed_forward_length", u32s({512, 512, 512, 512, 512, 0, 1, 1, 1, 1})}},
                 "", "", "feed_forward_length entries must be integers");
  expect_refused(src, "e2b-ff-wrong",
                 {{"gemma4.feed_forward_length", u32s({512, 512, 512, 512, 512, 512, 512, 512, 512, 512})}}, "", "",
                 "'blk.5.ffn_gate.weight' has shape [256, 1024], expected [256, 512]");
  expect_refused(src, "e2b-ple-width", {{"gemma4.embedding_length_per_layer_input", gguf::Value{uint32_t{16}}}}, "",
                 "", "'per_layer_token_embd.weight' has shape [320, ");
  expect_refused(src, "e2b-no-table", {}, "per_layer_token_embd.weight", "",
                 "tensor 'per_layer_token_embd.weight' is missing");
  expect_refused(src, "e2b-no-gate", {}, "blk.7.inp_gate.weight", "", "tensor 'blk.7.inp_gate.weight' is missing");
  expect_refused(src, "e2b-proj-shape", {}, "", "per_layer_model_proj.weight", "'per_layer_model_proj.weight' has shape");
  const std::string qwen = make_model("qwen3-tiny", "f32");
  expect_refused(qwen, "qwen-ple", {{"qwen3.embedding_length_per_layer_input", gguf::Value{uint32_t{32}}}}, "", "",
                 "supported for gemma4 only, not qwen3");
  // The file as written: the last five layers read layers 3 (windowed) and 4 (full), twice as wide.
  auto m = ModelFile::open(src);
  ASSERT_TRUE(m.ok());
  auto hp = read_hparams(*m);
  ASSERT_TRUE(hp.ok()) << hp.error().message;
  EXPECT_EQ(hp->n_embd_per_layer, 32);
  EXPECT_EQ(hp->n_kv_shared, 5);
  for (int64_t il = 0; il < 10; ++il) {
    EXPECT_EQ(hp->layer_kv_source(il), il < 5 ? il : hp->layer_is_swa(il) ? 3 : 4) << il;
    EXPECT_EQ(hp->layer_n_ff(il), il < 5 ? 512 : 1024) << il;
  }
}

// A shared-KV layer keeps nothing: the cache holds the first five layers' keys and values only,
// and `--layers` keeps the shared layers the tail after the same layers with keys.
TEST(Transformer, Gemma4SharedKvLayersCostNoCache) {
  auto m = ModelFile::open(make_model("gemma-4-e2b-tiny", "f32"));
  ASSERT_TRUE(m.ok());
  auto hp = read_hparams(*m);
  ASSERT_TRUE(hp.ok());
  const std::vector<KvLayerShape> layers = kv_layer_shapes(*hp);
  uint64_t full = 0, window = 0;
  for (int64_t il = 0; il < 5; ++il)
    (hp->layer_is_swa(il) ? window : full) += 2 * 2 * uint64_t(hp->layer_kv_dim(il));
  EXPECT_EQ(KvCache::bytes_per_block(layers, KvGroup::kFull, 1), full);
  EXPECT_EQ(KvCache::bytes_per_block(layers, KvGroup::kWindow, 1), window);
  for (int64_t il = 5; il < 10; ++il) EXPECT_EQ(layers[size_t(il)].shared_from, hp->layer_kv_source(il));

  MkModelOptions o;
  o.preset = "gemma-4-e2b-tiny";
  o.type = "f32";
  o.output = kTmp + "/gemma-4-e2b-tiny-7-layers.gguf";
  o.n_layer = 7;
  o.vocab_dir = kShared + "/testdata/vocab";
  o.chat_template_dir = "";
  ASSERT_TRUE(make_random_model(o).ok());
  auto m7 = ModelFile::open(o.output);
  ASSERT_TRUE(m7.ok());
  auto hp7 = read_hparams(*m7);
  ASSERT_TRUE(hp7.ok()) << hp7.error().message;
  EXPECT_EQ(hp7->n_kv_shared, 2);
  EXPECT_EQ(hp7->n_ff_arr.size(), 7u);
  TransformerOptions opt;
  opt.n_ctx = 32;
  auto t = Transformer::create(*m7, opt);
  ASSERT_TRUE(t.ok()) << t.error().message;
  std::vector<float> logits;
  EXPECT_TRUE((*t)->forward(std::vector<int32_t>{1, 2, 3, 4}, false, logits).ok());
}

// Embedding models and rerankers: a pooling type outside llama.cpp's, rank pooling without a
// head (or in a family without one), a head of the wrong shape and a bidirectional encoder are
// refused by name, not run as a generator.
TEST(Transformer, EmbeddingModelsThatLieOrNeedWhatIsMissingAreRefused) {
  const std::string src = make_model("qwen3-embedding-tiny", "f32");
  expect_refused(src, "pooling-9", {{"qwen3.pooling_type", gguf::Value{uint32_t{9}}}}, "", "",
                 "qwen3.pooling_type must be an integer in -1..4");
  expect_refused(src, "pooling-string", {{"qwen3.pooling_type", gguf::Value{std::string("last")}}}, "", "",
                 "qwen3.pooling_type must be an integer");
  expect_refused(src, "pooling-rank", {{"qwen3.pooling_type", gguf::Value{uint32_t{4}}}}, "", "",
                 "pooling_type = 4 (rank");
  const std::string llama = make_model("llama-3.2-tiny", "f32");
  expect_refused(llama, "rank-llama", {{"llama.pooling_type", gguf::Value{uint32_t{4}}}}, "", "",
                 "supported for qwen3 and BERT rerankers only");
  const std::string reranker = make_model("qwen3-reranker-tiny", "f32");
  expect_refused(reranker, "rank-no-head", {}, "cls.output.weight", "", "cls.output.weight is missing");
  expect_refused(reranker, "rank-head-shape", {}, "", "cls.output.weight", "'cls.output.weight' has shape");
  expect_refused(reranker, "rank-labels", {{"qwen3.classifier.output_labels", gguf::Value{uint32_t{2}}}}, "", "",
                 "classifier.output_labels must be an array");
  expect_refused(src, "encoder", {{"qwen3.attention.causal", gguf::Value{false}}}, "", "",
                 "qwen3.attention.causal = false (a bidirectional encoder) is supported for BERT-family encoders only");
  auto m = ModelFile::open(src);
  ASSERT_TRUE(m.ok());
  auto hp = read_hparams(*m);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->pooling, Pooling::kLast);
}

// A tiny BERT (bge-small-tiny's shape) over a stand-in WordPiece vocabulary: the forward pass
// does not care which strings its ids spell, and BERT's own vocabulary is in llama.cpp's sources,
// not in shared/ (the peer tests use it).
std::string make_bert(const std::string& type) {
  const std::string vocab_dir = kTmp + "/bert-vocab";
  std::filesystem::create_directories(vocab_dir);
  const std::string vocab = vocab_dir + "/ggml-vocab-bert-bge.gguf";
  if (!std::filesystem::exists(vocab)) {
    gguf::Writer w;
    w.set_string("general.architecture", "bert");
    w.set_string("tokenizer.ggml.model", "bert");
    gguf::Array tokens, types;
    tokens.elem_type = gguf::ValueType::STRING;
    types.elem_type = gguf::ValueType::INT32;
    for (const char* t : {"[PAD]", "[UNK]", "[CLS]", "[SEP]"}) {
      tokens.items.push_back(gguf::Value{std::string(t)});
      types.items.push_back(gguf::Value{int32_t{3}});
    }
    for (int i = 4; i < 1000; ++i) {
      tokens.items.push_back(gguf::Value{"w" + std::to_string(i)});
      types.items.push_back(gguf::Value{int32_t{1}});
    }
    w.set("tokenizer.ggml.tokens", gguf::Value{std::move(tokens)});
    w.set("tokenizer.ggml.token_type", gguf::Value{std::move(types)});
    w.set_u32("tokenizer.ggml.unknown_token_id", 1);
    w.set_u32("tokenizer.ggml.cls_token_id", 2);
    w.set_u32("tokenizer.ggml.seperator_token_id", 3);
    EXPECT_TRUE(w.write(vocab).ok());
  }
  const std::string path = kTmp + "/bge-small-tiny-" + type + ".gguf";
  if (!std::filesystem::exists(path)) {
    MkModelOptions o;
    o.preset = "bge-small-tiny";
    o.type = type;
    o.output = path;
    o.seed = 5;
    o.vocab_dir = vocab_dir;
    o.chat_template_dir = "";
    auto r = make_random_model(o);
    EXPECT_TRUE(r.ok()) << r.error().message;
  }
  return path;
}

// The final hidden states of every token of `seqs`, run as one batch of sequences in a fresh
// cache (n_batch 64).
std::vector<float> encoder_states(Transformer& tf, const std::vector<std::vector<int32_t>>& seqs, Status* status = nullptr) {
  KvCache kv(kv_layer_shapes(tf.hparams()), 16, 64, 0, tf.backend());
  std::vector<std::vector<int32_t>> tables(seqs.size());
  Batch b;
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (int32_t blk = 0; blk < 8; ++blk) tables[s].push_back(int32_t(s) * 8 + blk);
    b.block_tables.push_back(tables[s]);
    for (size_t i = 0; i < seqs[s].size(); ++i) b.add(seqs[s][i], int32_t(i), int32_t(s), TokenOutput::kHidden);
  }
  std::vector<float> hidden(b.size() * size_t(tf.hparams().n_embd));
  Status st = tf.forward_batch(b, kv, nullptr, hidden.data());
  if (status) *status = st;
  else EXPECT_TRUE(st.ok()) << st.message();
  return hidden;
}

// An encoder's tokens see their whole sequence (a later token changes an earlier one's state) and
// nothing else (a sequence's states are the same bits alone and beside others, in any order).
TEST(Transformer, AnEncoderAttendsBothWaysWithinEachSequenceOnly) {
  auto m = ModelFile::open(make_bert("q8_0"));
  ASSERT_TRUE(m.ok());
  TransformerOptions opt;
  opt.n_batch = 64;
  opt.n_threads = 2;
  auto tf = Transformer::create(*m, opt);
  ASSERT_TRUE(tf.ok()) << tf.error().message;
  EXPECT_FALSE((*tf)->hparams().causal);
  const int64_t d = (*tf)->hparams().n_embd;
  const std::vector<int32_t> a = {2, 17, 400, 33, 3}, a2 = {2, 17, 400, 34, 3}, b = {2, 900, 3};
  const std::vector<float> alone = encoder_states(**tf, {a});
  const std::vector<float> changed = encoder_states(**tf, {a2});
  EXPECT_NE(std::memcmp(alone.data(), changed.data(), size_t(d) * 4), 0) << "token 0 did not see token 3";
  const std::vector<float> pair = encoder_states(**tf, {b, a});
  EXPECT_EQ(std::memcmp(pair.data() + 3 * d, alone.data(), alone.size() * 4), 0);
  // The one-sequence path (hearth embed) gives the same states.
  std::vector<float> own;
  (*tf)->reset();
  ASSERT_TRUE((*tf)->forward_hidden(a, true, own).ok());
  EXPECT_EQ(std::memcmp(own.data(), alone.data(), alone.size() * 4), 0);
  // An encoder has no logits to give.
  std::vector<float> logits;
  (*tf)->reset();
  EXPECT_NE((*tf)->forward(a, false, logits).message().find("encoder"), std::string::npos);
}

// An encoder's sequence is computed whole: split across a batch, starting past position 0 or
// longer than a pass, it is refused, never attended in part.
TEST(Transformer, AnEncoderRefusesSequencesItCannotComputeWhole) {
  auto m = ModelFile::open(make_bert("f32"));
  ASSERT_TRUE(m.ok());
  TransformerOptions opt;
  opt.n_batch = 8;
  opt.own_kv_cache = false;
  auto tf = Transformer::create(*m, opt);
  ASSERT_TRUE(tf.ok()) << tf.error().message;
  KvCache kv(kv_layer_shapes((*tf)->hparams()), 16, 8, 0, (*tf)->backend());
  std::vector<int32_t> t0 = {0, 1}, t1 = {2, 3};
  std::vector<float> hidden(64 * 256);
  auto run = [&](const std::vector<std::tuple<int32_t, int32_t>>& tokens) {  // (position, sequence)
    Batch b;
    b.block_tables = {t0, t1};
    for (auto [pos, seq] : tokens) b.add(5, pos, seq, TokenOutput::kHidden);
    return (*tf)->forward_batch(b, kv, nullptr, hidden.data()).message();
  };
  EXPECT_EQ(run({{0, 0}, {1, 0}, {0, 1}, {1, 1}}), "");
  EXPECT_NE(run({{0, 0}, {0, 1}, {1, 0}}).find("not contiguous"), std::string::npos);
  EXPECT_NE(run({{1, 0}, {2, 0}}).find("computed whole from position 0"), std::string::npos);
  EXPECT_NE(run({{0, 0}, {2, 0}}).find("computed whole from position 0"), std::string::npos);
  std::vector<std::tuple<int32_t, int32_t>> nine;
  for (int32_t i = 0; i < 9; ++i) nine.emplace_back(i, 0);
  EXPECT_NE(run(nine).find("does not fit in one pass"), std::string::npos);
  // Two sequences of 5 in a pass of 8: each is computed in a pass of its own, whole.
  std::vector<std::tuple<int32_t, int32_t>> two;
  for (int32_t s = 0; s < 2; ++s)
    for (int32_t i = 0; i < 5; ++i) two.emplace_back(i, s);
  EXPECT_EQ(run(two), "");
  const std::vector<float> first(hidden.begin(), hidden.begin() + 5 * 256);
  EXPECT_EQ(std::memcmp(first.data(), hidden.data() + 5 * 256, first.size() * 4), 0) << "the same tokens differ";
}

TEST(Transformer, BertModelsThatLieAreRefusedAtLoad) {
  const std::string src = make_bert("f32");
  expect_refused(src, "bert-no-types", {{"tokenizer.ggml.token_type_count", gguf::Value{uint32_t{0}}}}, "", "",
                 "tokenizer.ggml.token_type_count must be present");
  expect_refused(src, "bert-eps", {{"bert.attention.layer_norm_epsilon", gguf::Value{std::string("x")}}}, "", "",
                 "bert.attention.layer_norm_epsilon must be present");
  expect_refused(src, "bert-no-positions", {}, "position_embd.weight", "", "'position_embd.weight' is missing");
  expect_refused(src, "bert-norm-bias", {}, "", "blk.1.layer_output_norm.bias", "layer_output_norm.bias' has shape");
  expect_refused(src, "bert-rank-no-head", {{"bert.pooling_type", gguf::Value{uint32_t{4}}}}, "", "",
                 "cls.output.weight is missing");
}

// A copy of the tiny gpt-oss file without one key and with one tensor renamed must be refused
// with `expect`.
void expect_gpt_oss_copy_refused(const std::string& name, const std::string& drop_key,
                                 const std::string& rename_from, const std::string& rename_to,
                                 const std::string& expect) {
  auto file = gguf::File::open(make_model("gpt-oss-20b-tiny", "f32"));
  ASSERT_TRUE(file.ok());
  gguf::Writer w;
  for (const gguf::KeyValue& kv : file->metadata())
    if (kv.key != drop_key) w.set(kv.key, kv.value);
  for (const gguf::TensorInfo& t : file->tensors())
    ASSERT_TRUE(w.add_tensor(t.name == rename_from ? rename_to : t.name, t.view).ok());
  const std::string out = kTmp + "/lying-" + name + ".gguf";
  RemovedAtScopeExit cleanup{out};
  ASSERT_TRUE(w.write(out).ok());
  auto m = ModelFile::open(out);
  ASSERT_TRUE(m.ok());
  TransformerOptions opt;
  opt.n_ctx = 16;
  auto tf = Transformer::create(*m, opt);
  ASSERT_FALSE(tf.ok()) << name << " was accepted";
  EXPECT_NE(tf.error().message.find(expect), std::string::npos) << tf.error().message;
}

// Without its window a gpt-oss file is refused (every other layer needs it); Ollama's merged
// gate/up experts are named as unsupported, not reported as a missing tensor.
TEST(Transformer, GptOssWithoutAWindowOrInOllamasLayoutIsRefused) {
  expect_gpt_oss_copy_refused("no-window", "gpt-oss.attention.sliding_window", "", "",
                              "gpt-oss.attention.sliding_window is missing");
  expect_gpt_oss_copy_refused("merged-gate-up", "", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_gate_up_exps.weight",
                              "Ollama's gptoss layout");
}

}  // namespace
}  // namespace hearth
