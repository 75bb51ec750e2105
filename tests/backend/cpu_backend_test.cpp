// The CPU backend op by op against the scalar reference (kernels/ref), through the interface
// only (backend/backend.h), as llama.cpp's test-backend-ops holds each backend to its CPU: each
// op on random data, with an odd row count, then each row again alone (batch invariance). A later
// backend runs the same cases against the same references.
#include <gtest/gtest.h>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "backend/cpu_backend.h"
#include "base/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/matmul_cases.h"
#include "kernels/ref/delta_net.h"
#include "kernels/ref/matmul.h"
#include "kernels/ref/moe.h"
#include "kernels/ref/ops.h"
#include "tensor/quant.h"

namespace hearth {
namespace {

constexpr int64_t kRows = 5;

struct Host {  // an f32 array and a view of it, for vector weights
  std::vector<float> data;
  TensorView view;
};

Host f32_vector(std::mt19937& rng, std::vector<int64_t> ne, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Host h;
  h.view.ne = {1, 1, 1, 1};
  for (size_t i = 0; i < ne.size(); ++i) h.view.ne[i] = ne[i];
  h.view.n_dims = static_cast<int>(ne.size());
  h.data.resize(static_cast<size_t>(h.view.n_elements()));
  for (float& x : h.data) x = normal(rng) * scale;
  h.view.type = DType::F32;
  h.view.data = h.data.data();
  h.view.n_bytes = h.data.size() * 4;
  return h;
}

class CpuBackendOps : public testing::Test {
 protected:
  std::unique_ptr<Backend> be = make_cpu_backend(2);
  std::mt19937 rng{11};

  std::unique_ptr<Buffer> upload(const std::vector<float>& x, int64_t rows, int64_t cols) {
    auto b = be->buffer(rows, cols);
    be->write(*b, x.data(), rows);
    return b;
  }
  std::vector<float> download(const Buffer& b, int64_t rows) {
    std::vector<float> out(static_cast<size_t>(rows * b.cols()));
    be->read(b, rows, out.data());
    return out;
  }
  Weight load(const TensorView& v, WeightUse use) {
    Weight w(v, use);
    be->load(w, {});
    return w;
  }
};

void expect_bits(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << what;
}

TEST_F(CpuBackendOps, MatmulGivesTheReferenceBitsAtAnyBatch) {
  // Q8_0 and the K types keep ref::vec_dot's sequence in every kernel (kernels/matmul.h).
  for (DType type : {DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t k = 256, rows = 48;
    test::Weights w = test::random_weights(rng, type, k, rows);
    test::Weights w2 = test::random_weights(rng, type, k, rows);
    const std::vector<float> x = test::random_activations(rng, k, kRows);
    auto xb = upload(x, kRows, k);
    for (WeightUse use : {WeightUse::kMatrix, WeightUse::kExpert}) {
      // Dense matrices take kernels::dense_sums' order (the block order where AVX-512 packs them).
      const ref::KSums sums = use == WeightUse::kExpert ? ref::KSums::kSuperBlocks : kernels::dense_sums(type);
      if (type != DType::Q4_K && use == WeightUse::kExpert) continue;  // the order differs for Q4_K only
      const Weight a = load(w.view, use), b = load(w2.view, use);
      auto y = be->buffer(kRows, rows), ya = be->buffer(kRows, rows), yb = be->buffer(kRows, rows);
      be->matmul(a, *xb, kRows, *y);
      const std::vector<float> want = test::reference(w.view, x, kRows, sums);
      expect_bits(download(*y, kRows), want, std::string(dtype_name(type)).c_str());
      be->matmul_pair(a, b, *xb, kRows, *ya, *yb);
      expect_bits(download(*ya, kRows), want, "matmul_pair a");
      expect_bits(download(*yb, kRows), test::reference(w2.view, x, kRows, sums), "matmul_pair b");
      std::vector<float> host(size_t(kRows * rows));
      be->matmul_to_host(a, *xb, kRows, host.data());
      expect_bits(host, want, "matmul_to_host");
      for (int64_t t = 0; t < kRows; ++t) {  // each row alone
        auto one = upload(std::vector<float>(x.begin() + t * k, x.begin() + (t + 1) * k), 1, k);
        be->matmul(a, *one, 1, *y);
        expect_bits(download(*y, 1), std::vector<float>(want.begin() + t * rows, want.begin() + (t + 1) * rows),
                    "one row");
      }
    }
  }
}

// Matrices of fewer rows than a kernel tile (a reranker's two-class head): the same bits.
TEST_F(CpuBackendOps, MatmulOfAFewRowsGivesTheReferenceBits) {
  for (DType type : {DType::Q8_0, DType::Q4_K, DType::Q6_K})
    for (int64_t rows : {1, 2, 5}) {
      const int64_t k = 256;
      test::Weights w = test::random_weights(rng, type, k, rows);
      const std::vector<float> x = test::random_activations(rng, k, kRows);
      auto xb = upload(x, kRows, k);
      const Weight a = load(w.view, WeightUse::kMatrix);
      auto y = be->buffer(kRows, rows);
      const std::string what = fmt::format("{} x {} rows", dtype_name(type), rows);
      // Q4_K with rows not a multiple of 8 is not repacked by llama.cpp: ggml's vec_dot order.
      const ref::KSums sums = type == DType::Q4_K ? ref::KSums::kVecDot : kernels::dense_sums(type);
      be->matmul(a, *xb, kRows, *y);
      expect_bits(download(*y, kRows), test::reference(w.view, x, kRows, sums), what.c_str());
      auto one = upload(std::vector<float>(x.begin(), x.begin() + k), 1, k);
      be->matmul(a, *one, 1, *y);
      const std::vector<float> want = test::reference(w.view, std::vector<float>(x.begin(), x.begin() + k), 1, sums);
      expect_bits(download(*y, 1), want, (what + ", one token").c_str());
    }
}

TEST_F(CpuBackendOps, F32RouterSumsInSixteenLanes) {
  const int64_t k = 96, n_expert = 8;
  Host router = f32_vector(rng, {k, n_expert});
  const std::vector<float> x = test::random_activations(rng, k, kRows);
  auto xb = upload(x, kRows, k);
  auto y = be->buffer(kRows, n_expert);
  be->matmul(load(router.view, WeightUse::kRouter), *xb, kRows, *y);
  std::vector<float> want;
  for (int64_t t = 0; t < kRows; ++t)
    for (int64_t e = 0; e < n_expert; ++e)
      want.push_back(ref::dot_f32_lanes16(router.data.data() + e * k, x.data() + t * k, k));
  expect_bits(download(*y, kRows), want, "router");
}

TEST_F(CpuBackendOps, ElementwiseOpsGiveTheReferenceBits) {
  const int64_t d = 72, head_dim = 24;
  const std::vector<float> x = test::random_activations(rng, d, kRows), u = test::random_activations(rng, d, kRows);
  Host norm = f32_vector(rng, {d}), head_norm = f32_vector(rng, {head_dim}), bias = f32_vector(rng, {d});
  const float eps = 1e-5f;
  std::vector<float> want(x.size());

  auto xb = upload(x, kRows, d), out = be->buffer(kRows, d);
  be->rms_norm(*xb, kRows, load(norm.view, WeightUse::kVector), eps, *out);
  for (int64_t t = 0; t < kRows; ++t) ref::rms_norm(&x[t * d], norm.data.data(), &want[t * d], d, eps);
  expect_bits(download(*out, kRows), want, "rms_norm");

  be->head_rms_norm(*xb, kRows, head_dim, load(head_norm.view, WeightUse::kVector), eps);
  for (int64_t h = 0; h < kRows * d / head_dim; ++h)
    ref::rms_norm(&x[h * head_dim], head_norm.data.data(), &want[h * head_dim], head_dim, eps);
  expect_bits(download(*xb, kRows), want, "head_rms_norm");

  xb = upload(x, kRows, d);
  be->add_bias(*xb, kRows, load(bias.view, WeightUse::kVector));
  be->add_bias(*xb, kRows, Weight());  // absent: nothing
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] + bias.data[i % size_t(d)];
  expect_bits(download(*xb, kRows), want, "add_bias");

  xb = upload(x, kRows, d);
  auto ub = upload(u, kRows, d);
  be->add(*xb, *ub, kRows);
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] + u[i];
  expect_bits(download(*xb, kRows), want, "add");

  for (GluKind kind : {GluKind::kSwiGLU, GluKind::kSwiGLUOai, GluKind::kGeGLU}) {
    xb = upload(x, kRows, d);
    be->glu(kind, *xb, *ub, kRows);
    for (int64_t t = 0; t < kRows; ++t) {  // row by row: ref's 16-wide groups restart at each row
      if (kind == GluKind::kSwiGLU) ref::silu_mul(&x[t * d], &u[t * d], &want[t * d], d);
      else if (kind == GluKind::kSwiGLUOai) ref::swiglu_oai(&x[t * d], &u[t * d], &want[t * d], d);
      else ref::geglu(&x[t * d], &u[t * d], &want[t * d], d);
    }
    expect_bits(download(*xb, kRows), want, "glu");
  }

  xb = upload(x, kRows, d);
  be->scale(*xb, kRows, 0.37f);
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * 0.37f;
  expect_bits(download(*xb, kRows), want, "scale");

  xb = upload(x, kRows, d);
  be->mul(*xb, kRows, load(norm.view, WeightUse::kVector));
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * norm.data[i % size_t(d)];
  expect_bits(download(*xb, kRows), want, "mul");

  be->rms_norm(*ub, kRows, Weight(), eps, *out);  // absent weight: the normed values alone
  for (int64_t t = 0; t < kRows; ++t) ref::rms_norm(&u[t * d], nullptr, &want[t * d], d, eps);
  expect_bits(download(*out, kRows), want, "rms_norm without a weight");

  const std::vector<int64_t> rows = {3, 0, 3};
  be->gather(*ub, rows, *out);
  for (size_t r = 0; r < rows.size(); ++r) std::copy(&u[rows[r] * d], &u[(rows[r] + 1) * d], &want[r * d]);
  expect_bits(download(*out, 3), std::vector<float>(want.begin(), want.begin() + 3 * d), "gather");

  Host table = f32_vector(rng, {d, 10});
  const std::vector<int32_t> ids = {9, 0, 4};
  be->embed(load(table.view, WeightUse::kRows), ids, *out);
  for (size_t r = 0; r < ids.size(); ++r) std::copy(&table.data[ids[r] * d], &table.data[(ids[r] + 1) * d], &want[r * d]);
  expect_bits(download(*out, 3), std::vector<float>(want.begin(), want.begin() + 3 * d), "embed");
}

// Gated DeltaNet: two sequences' tokens interleaved in one chunk (slots 1 and 0), the convolution
// and the delta rule against ref's token-by-token steps over each sequence's own state; then the
// next chunk continues both states; sigmoid_mul and state_clear.
TEST_F(CpuBackendOps, DeltaNetOpsGiveTheReferenceBits) {
  const DeltaNetShape shape{2, 4, 64, 4, 1e-6f};  // 2 key heads, 4 value heads of 64 (SIMD), 4 taps
  const int64_t ch = shape.channels(), d = shape.head_dim, hv = shape.n_v_heads, hk = shape.n_k_heads;
  const int64_t keep = shape.conv_kernel - 1, value = hv * d;
  auto pool = be->state_pool(1, 2, keep * ch, hv * d * d);
  be->state_clear(*pool, 0);
  be->state_clear(*pool, 1);
  Host taps = f32_vector(rng, {shape.conv_kernel, ch}, 0.5f), dt = f32_vector(rng, {hv}), a = f32_vector(rng, {hv});
  for (float& x : a.data) x = -std::fabs(x);
  const Weight w_taps = load(taps.view, WeightUse::kConvTaps), w_dt = load(dt.view, WeightUse::kVector),
               w_a = load(a.view, WeightUse::kVector);
  std::vector<std::vector<float>> windows(2, std::vector<float>(size_t(keep * ch), 0.0f));
  std::vector<std::vector<float>> states(2, std::vector<float>(size_t(hv * d * d), 0.0f));
  const std::vector<int32_t> slots = {1, 0, 1, 1, 0};
  for (int chunk = 0; chunk < 2; ++chunk) {
    const std::vector<float> x = test::random_activations(rng, ch, kRows);
    const std::vector<float> alpha = test::random_activations(rng, hv, kRows), beta = test::random_activations(rng, hv, kRows);
    auto xb = upload(x, kRows, ch), conv = be->buffer(kRows, ch), ab = upload(alpha, kRows, hv),
         bb = upload(beta, kRows, hv), out = be->buffer(kRows, value);
    be->delta_conv(*xb, kRows, w_taps, *pool, 0, {slots, {}}, shape, *conv);
    std::vector<float> want_conv(x.size()), want_out(size_t(kRows * value)), ones(size_t(ch), 1.0f);
    for (int64_t t = 0; t < kRows; ++t) {
      ref::conv_step(windows[size_t(slots[size_t(t)])].data(), &x[t * ch], taps.data.data(), ch, shape.conv_kernel,
                     &want_conv[t * ch]);
      ref::silu_mul(&want_conv[t * ch], ones.data(), &want_conv[t * ch], ch);
    }
    expect_bits(download(*conv, kRows), want_conv, "delta_conv");
    be->delta_rule(*conv, *ab, *bb, w_dt, w_a, kRows, *pool, 0, {slots, {}}, shape, *out);
    std::vector<float> scratch(static_cast<size_t>(d));
    for (int64_t t = 0; t < kRows; ++t) {
      float* row = &want_conv[t * ch];
      for (int64_t h = 0; h < 2 * hk; ++h) ref::l2_norm(row + h * d, d, shape.eps);
      for (int64_t h = 0; h < hv; ++h)
        ref::delta_rule_step(states[size_t(slots[size_t(t)])].data() + h * d * d, row + (h % hk) * d,
                             row + (hk + h % hk) * d, row + (2 * hk + h) * d,
                             ref::delta_gate(alpha[t * hv + h], dt.data[h], a.data[h]), ref::sigmoid(beta[t * hv + h]),
                             d, &want_out[t * value + h * d], scratch.data());
    }
    expect_bits(download(*conv, kRows), want_conv, "delta_rule's l2-normed q and k");
    expect_bits(download(*out, kRows), want_out, fmt::format("delta_rule, chunk {}", chunk).c_str());
  }
  const std::vector<float> x = test::random_activations(rng, 8, kRows), g = test::random_activations(rng, 8, kRows);
  auto xb = upload(x, kRows, 8), gb = upload(g, kRows, 8);
  be->sigmoid_mul(*xb, *gb, kRows);
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * ref::sigmoid(g[i]);
  expect_bits(download(*xb, kRows), want, "sigmoid_mul");
}

TEST_F(CpuBackendOps, RopeGivesTheReferenceBits) {
  const int64_t head_dim = 32, n_heads = 3, n_rot = 32;
  Host factors = f32_vector(rng, {n_rot / 2});
  for (float& f : factors.data) f = 1.0f + std::fabs(f);
  for (bool neox : {false, true}) {
    for (bool with_factors : {false, true}) {
      ref::RopeParams p;
      p.n_rot = n_rot;
      p.neox = neox;
      p.freq_base = 500000.0f;
      const Weight fw = with_factors ? load(factors.view, WeightUse::kVector) : Weight();
      const std::vector<int32_t> positions = {0, 7, 4095, 1, 70000};
      auto table = be->buffer(kRows, n_rot);
      be->rope_table(p, fw, positions, *table);
      const std::vector<float> x = test::random_activations(rng, n_heads * head_dim, kRows);
      auto xb = upload(x, kRows, n_heads * head_dim);
      be->rope(p, fw, *table, *xb, kRows, n_heads, head_dim);
      ref::RopeParams rp = p;
      rp.freq_factors = with_factors ? factors.data.data() : nullptr;
      std::vector<float> want = x, cache(static_cast<size_t>(n_rot));
      for (int64_t t = 0; t < kRows; ++t) {
        ref::rope_cache(rp, float(positions[size_t(t)]), cache.data());
        ref::rope_apply(rp, cache.data(), &want[t * n_heads * head_dim], n_heads, head_dim);
      }
      expect_bits(download(*xb, kRows), want, "rope");
    }
  }
}

// Keys and values stored through a shuffled block table, then attention over a full range, a
// sliding window's range and with sinks, against ref::attention over the same f16 rows.
TEST_F(CpuBackendOps, PagedAttentionGivesTheReferenceBits) {
  const int64_t head_dim = 64, n_head = 4, n_head_kv = 2, kv_dim = n_head_kv * head_dim, bs = 16, n_blocks = 6;
  const int64_t n_pos = 70;
  std::vector<int32_t> table = {4, 1, 5, 0, 2};  // positions 0..79
  auto pool = be->kv_pool(2, n_blocks, bs, kv_dim, kv_dim);
  const std::vector<float> k = test::random_activations(rng, kv_dim, n_pos), v = test::random_activations(rng, kv_dim, n_pos);
  std::vector<int64_t> cells;
  for (int64_t p = 0; p < n_pos; ++p) cells.push_back(int64_t{table[size_t(p / bs)]} * bs + p % bs);
  auto kb = upload(k, n_pos, kv_dim), vb = upload(v, n_pos, kv_dim);
  be->kv_store(*kb, *vb, *pool, 1, cells);  // layer 1 of the pool
  // The reference's cache: the same rows in f16, contiguous.
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  for (size_t i = 0; i < k.size(); ++i) k16[i] = fp32_to_fp16(k[i]), v16[i] = fp32_to_fp16(v[i]);

  Host sinks = f32_vector(rng, {n_head}, 2.0f);
  const std::vector<int64_t> positions = {69, 0, 33, 50, 17};
  const std::vector<float> q = test::random_activations(rng, n_head * head_dim, kRows);
  auto qb = upload(q, kRows, n_head * head_dim);
  AttentionShape shape{n_head, n_head_kv, head_dim, 0.125f};
  for (int64_t window : {int64_t{0}, int64_t{20}}) {
    for (bool with_sinks : {false, true}) {
      std::vector<AttentionRange> ranges;
      for (int64_t pos : positions) {
        const int64_t visible = window > 0 ? std::max<int64_t>(0, pos + 1 - window) : 0;
        const int64_t first = window > 0 ? visible - visible % 16 : 0;
        ranges.push_back({table, first, pos + 1 - first, visible - first});
      }
      auto out = be->buffer(kRows, n_head * head_dim);
      const Weight sw = with_sinks ? load(sinks.view, WeightUse::kVector) : Weight();
      be->attention(*qb, *pool, 1, ranges, shape, sw, *out);
      std::vector<float> want(q.size());
      kernels::AttentionScratch scratch;
      for (int64_t t = 0; t < kRows; ++t) {
        const AttentionRange& r = ranges[size_t(t)];
        for (int64_t h = 0; h < n_head_kv; ++h) {
          std::vector<const uint16_t*> kp, vp;  // one "block" per position: the contiguous rows
          const int64_t group = n_head / n_head_kv;
          kernels::AttentionArgs a;
          const uint16_t* k0 = k16.data() + r.first * kv_dim + h * head_dim;
          const uint16_t* v0 = v16.data() + r.first * kv_dim + h * head_dim;
          a.q = &q[size_t(t * n_head * head_dim + h * group * head_dim)];
          a.group = group;
          a.head_dim = head_dim;
          a.k_blocks = &k0;
          a.v_blocks = &v0;
          a.block_size = r.n_kv;
          a.row_stride = kv_dim;
          a.n_kv = r.n_kv;
          a.n_masked = r.n_masked;
          a.sinks = with_sinks ? sinks.data.data() + h * group : nullptr;
          a.scale = shape.scale;
          a.out = &want[size_t(t * n_head * head_dim + h * group * head_dim)];
          ref::attention(a, scratch);
        }
      }
      expect_bits(download(*out, kRows), want, window ? "windowed attention" : "attention");
    }
  }
}

// Router choice and the expert mixture, against the reference router and a token-by-token sum
// of each chosen expert's GLU through ref::vec_dot.
TEST_F(CpuBackendOps, ExpertsGiveTheReferenceBits) {
  const int64_t d = 64, n_ff = 32, n_expert = 6, k = 3;
  std::vector<test::Weights> gate, up, down;
  std::vector<Weight> gw, uw, dw;
  for (int64_t e = 0; e < n_expert; ++e) {
    gate.push_back(test::random_weights(rng, DType::Q8_0, d, n_ff));
    up.push_back(test::random_weights(rng, DType::Q8_0, d, n_ff));
    down.push_back(test::random_weights(rng, DType::Q8_0, n_ff, d));
  }
  for (int64_t e = 0; e < n_expert; ++e) {
    gw.push_back(load(gate[size_t(e)].view, WeightUse::kExpert));
    uw.push_back(load(up[size_t(e)].view, WeightUse::kExpert));
    dw.push_back(load(down[size_t(e)].view, WeightUse::kExpert));
  }
  Host down_bias = f32_vector(rng, {d, n_expert});
  const Weight down_bias_w = load(down_bias.view, WeightUse::kVector);
  Host down_scale = f32_vector(rng, {n_expert});  // Gemma 4's per-expert scale, before the bias
  const Weight down_scale_w = load(down_scale.view, WeightUse::kVector);
  const std::vector<float> x = test::random_activations(rng, d, kRows);
  const std::vector<float> logits = test::random_activations(rng, n_expert, kRows);
  for (ExpertGating gating : {ExpertGating::kSoftmax, ExpertGating::kSoftmaxWeight}) {
    auto lb = upload(logits, kRows, n_expert);
    ExpertChoice choice;
    Routing routing;
    routing.gating = gating;
    routing.k = k;
    routing.normalize = gating == ExpertGating::kSoftmax;
    be->select_experts(*lb, kRows, routing, choice);
    std::vector<int32_t> ids(size_t(kRows * k));
    std::vector<float> weights(ids.size()), probs = logits;
    for (int64_t t = 0; t < kRows; ++t) {
      float* p = &probs[size_t(t * n_expert)];
      if (gating == ExpertGating::kSoftmax) {
        ref::soft_max_row(p, n_expert);
        ref::select_experts(p, n_expert, k, true, &ids[size_t(t * k)], &weights[size_t(t * k)]);
      } else {
        ref::select_experts(p, n_expert, k, false, &ids[size_t(t * k)], &weights[size_t(t * k)]);
        ref::soft_max_row(&weights[size_t(t * k)], k);
      }
    }
    EXPECT_EQ(choice.ids, ids);
    expect_bits(choice.weights, weights, "expert weights");
    expect_bits(download(*lb, kRows), probs, "router probabilities");

    ExpertWeights ew;
    ew.gate = gw;
    ew.up = uw;
    ew.down = dw;
    ew.down_bias = &down_bias_w;
    const bool scaled = gating == ExpertGating::kSoftmax;
    if (scaled) ew.down_scale = &down_scale_w;
    ew.glu = gating == ExpertGating::kSoftmax ? GluKind::kSwiGLU : GluKind::kSwiGLUOai;
    auto xb = upload(x, kRows, d), out = be->buffer(kRows, d);
    be->experts(ew, *xb, kRows, choice, *out);
    std::vector<float> want(x.size());
    for (int64_t t = 0; t < kRows; ++t) {
      const std::vector<float> xt(x.begin() + t * d, x.begin() + (t + 1) * d);
      for (int64_t s = 0; s < k; ++s) {
        const auto e = size_t(ids[size_t(t * k + s)]);
        std::vector<float> g = test::reference(gate[e].view, xt, 1), u = test::reference(up[e].view, xt, 1);
        if (ew.glu == GluKind::kSwiGLU) ref::silu_mul(g.data(), u.data(), g.data(), n_ff);
        else ref::swiglu_oai(g.data(), u.data(), g.data(), n_ff);
        std::vector<float> y = test::reference(down[e].view, g, 1);
        for (int64_t i = 0; i < d; ++i) {
          const float yi = scaled ? y[size_t(i)] * down_scale.data[e] : y[size_t(i)];
          const float o = (yi + down_bias.data[e * size_t(d) + size_t(i)]) * weights[size_t(t * k + s)];
          want[size_t(t * d + i)] = s == 0 ? o : want[size_t(t * d + i)] + o;
        }
      }
    }
    expect_bits(download(*out, kRows), want, "experts");
  }
}

}  // namespace
}  // namespace hearth
