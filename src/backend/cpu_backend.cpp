#include "backend/cpu_backend.h"

#include <algorithm>
#include <cmath>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/delta_net.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/ref/delta_net.h"
#include "kernels/ref/matmul.h"
#include "kernels/ref/moe.h"
#include "kernels/ref/ops.h"

namespace hearth {
namespace {

class CpuBuffer final : public Buffer {
 public:
  CpuBuffer(int64_t rows, int64_t cols) : Buffer(rows, cols), data(static_cast<size_t>(rows * cols)) {}
  std::vector<float> data;
};

float* host(Buffer& b) { return static_cast<CpuBuffer&>(b).data.data(); }
const float* host(const Buffer& b) { return static_cast<const CpuBuffer&>(b).data.data(); }

class CpuKvPool final : public KvPool {
 public:
  CpuKvPool(int64_t n_layers, int64_t n_blocks, int64_t block_size, int64_t k_width, int64_t v_width)
      : KvPool(n_layers, n_blocks, block_size, k_width, v_width),
        // Not zero-filled: pages are committed only when a block is first written.
        k_(std::make_unique_for_overwrite<uint16_t[]>(cells() * uint64_t(k_width))),
        v_(std::make_unique_for_overwrite<uint16_t[]>(cells() * uint64_t(v_width))) {}

  // [block_size, k_width] and [block_size, v_width] of one layer of one block.
  uint16_t* k(int64_t layer, int64_t block) const { return k_.get() + first_cell(layer, block) * k_width(); }
  uint16_t* v(int64_t layer, int64_t block) const { return v_.get() + first_cell(layer, block) * v_width(); }

 private:
  uint64_t cells() const { return uint64_t(n_layers() * n_blocks() * block_size()); }
  uint64_t first_cell(int64_t layer, int64_t block) const { return uint64_t((layer * n_blocks() + block) * block_size()); }
  std::unique_ptr<uint16_t[]> k_, v_;
};

// Not zero-filled (pages are committed when a slot is first used): a sequence's first token,
// at position 0, clears its slot (Transformer::prepare_states).
class CpuStatePool final : public StatePool {
 public:
  CpuStatePool(int64_t n_layers, int64_t n_slots, int64_t conv_width, int64_t state_width)
      : StatePool(n_layers, n_slots, conv_width, state_width),
        data_(std::make_unique_for_overwrite<float[]>(static_cast<size_t>(n_layers * n_slots * stride()))) {}

  float* conv(int64_t layer, int64_t slot) { return data_.get() + (layer * n_slots() + slot) * stride(); }
  float* state(int64_t layer, int64_t slot) { return conv(layer, slot) + conv_width(); }
  void clear(int64_t slot) {
    for (int64_t l = 0; l < n_layers(); ++l) std::fill(conv(l, slot), conv(l, slot) + stride(), 0.0f);
  }
  void copy(int64_t from, int64_t slot) {
    for (int64_t l = 0; l < n_layers(); ++l) std::copy(conv(l, from), conv(l, from) + stride(), conv(l, slot));
  }

 private:
  int64_t stride() const { return conv_width() + state_width(); }
  std::unique_ptr<float[]> data_;
};

const float* f32(const Weight& w) { return static_cast<const float*>(w.source().data); }

const kernels::Matrix& matrix(const Weight& w) { return *static_cast<const kernels::Matrix*>(w.resident().get()); }

// Expert e's row of a [dim, n_expert] bias (ggml_add_id), added to each of `rows` outputs.
void add_expert_bias(float* y, const Weight* bias, int64_t e, int64_t rows) {
  if (bias == nullptr || !bias->present()) return;
  const int64_t dim = bias->ne(0);
  for (int64_t r = 0; r < rows; ++r) kernels::add_inplace(y + r * dim, f32(*bias) + e * dim, dim);
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads) : pool_(n_threads), attn_scratch_(static_cast<size_t>(pool_.size())) {}

  void load(Weight& w, const std::function<void(const TensorView&)>& release) override {
    // llama.cpp multiplies MLA's per-head slices through tinyBLAS, unrepacked: the unpacked
    // kernels sum them in its order (kernels/matmul.h). (Dense Q5_0 matrices, which it also
    // leaves to tinyBLAS, are packed: every Q5_0 kernel sums in tinyBLAS's 8 lanes.) Nor does it
    // repack a matrix whose rows are not a multiple of its repacked kernels' 8
    // (Qwen3.5's 4- and 16-row decay and strength projections of tiny models): those go through
    // tinyBLAS or vec_dot as well.
    const bool unrepacked_rows = w.ne(1) % 8 != 0 && (w.type() == DType::Q4_0 || w.type() == DType::Q4_K ||
                                                      w.type() == DType::Q2_K || w.type() == DType::IQ4_NL ||
                                                      w.type() == DType::MXFP4);
    const bool tinyblas =
        w.use() == WeightUse::kHeadMatrix ||
        (w.use() == WeightUse::kMatrix && unrepacked_rows);
    // tinyBLAS takes f32 matrices only in multiples of 4 rows: Qwen3.5-MoE's one-row shared
    // expert gate goes through ggml_vec_dot_f32 (its 16-lane order flipped routing choices
    // downstream now and then: mean KL 1.5e-4 on a Q4_K_M file).
    const bool vec_dot_router = w.use() == WeightUse::kRouter && w.type() == DType::F32 && w.ne(1) % 4 != 0;
    if (w.present() && (tinyblas || vec_dot_router)) {  // Q4_K and F32 head slices go through ggml's vec_dot there
      w.set_resident(std::make_shared<kernels::Matrix>(w.source(), ref::KSums::kVecDot));
      return;
    }
    if (w.present() && w.use() == WeightUse::kConvTaps) {  // [channels][kernel] -> [kernel][channels]
      const int64_t width = w.ne(0), channels = w.ne(1);
      std::shared_ptr<float[]> taps(new float[size_t(width * channels)]);
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < width; ++i) taps[size_t(i * channels + c)] = f32(w)[c * width + i];
      w.set_resident(std::move(taps));
      return;
    }
    if (!w.present() || (w.use() != WeightUse::kMatrix && w.use() != WeightUse::kExpert)) return;
    // llama.cpp's MUL_MAT_ID sums Q4_K in its GEMV order at every batch size (ref/vec_dot.h).
    // Dense matrices of the 32-element types sum in hearth's block order where it runs packed
    // (kernels::dense_sums).
    const ref::KSums sums = w.use() == WeightUse::kExpert ? ref::KSums::kSuperBlocks : kernels::dense_sums(w.type());
    auto m = std::make_shared<kernels::Matrix>(kernels::Matrix::prepare(w.source(), pool_, sums));
    if (m->packed() != nullptr && release) release(w.source());
    w.set_resident(std::move(m));
  }

  std::unique_ptr<Buffer> buffer(int64_t rows, int64_t cols) override {
    return std::make_unique<CpuBuffer>(rows, cols);
  }

  std::unique_ptr<KvPool> kv_pool(int64_t n_layers, int64_t n_blocks, int64_t block_size, int64_t k_width,
                                  int64_t v_width) override {
    return std::make_unique<CpuKvPool>(n_layers, n_blocks, block_size, k_width, v_width);
  }

  std::unique_ptr<StatePool> state_pool(int64_t n_layers, int64_t n_slots, int64_t conv_width,
                                        int64_t state_width) override {
    return std::make_unique<CpuStatePool>(n_layers, n_slots, conv_width, state_width);
  }

  void read(const Buffer& b, int64_t rows, float* out) override {
    std::copy(host(b), host(b) + rows * b.cols(), out);
  }

  void write(Buffer& b, const float* in, int64_t rows) override {
    std::copy(in, in + rows * b.cols(), host(b));
  }

  void embed(const Weight& table, std::span<const int32_t> ids, Buffer& out) override {
    for (size_t t = 0; t < ids.size(); ++t) ref::get_row(table.source(), ids[t], host(out) + int64_t(t) * out.cols());
  }

  void gather(const Buffer& x, std::span<const int64_t> rows, Buffer& out) override {
    const int64_t d = x.cols();
    for (size_t r = 0; r < rows.size(); ++r)
      std::copy(host(x) + rows[r] * d, host(x) + (rows[r] + 1) * d, host(out) + int64_t(r) * d);
  }

  // Norms row by row, the rows split across the threads (a row's bits do not depend on it).
  void rms_norm(const Buffer& x, int64_t n, const Weight& w, float eps, Buffer& out) override {
    const int64_t d = x.cols();
    pool_.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      kernels::rms_norm_rows(host(x) + begin * d, d, f32(w), host(out) + begin * d, d, end - begin, d, eps);
    });
  }

  void layer_norm(const Buffer& x, int64_t n, const Weight& w, const Weight& b, float eps, Buffer& out) override {
    const int64_t d = x.cols();
    const float* bias = b.present() ? f32(b) : nullptr;
    pool_.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      kernels::layer_norm_rows(host(x) + begin * d, d, f32(w), bias, host(out) + begin * d, d, end - begin, d, eps);
    });
  }

  void head_rms_norm(Buffer& x, int64_t n, int64_t head_dim, const Weight& w, float eps, int64_t n_heads) override {
    const int64_t heads = n_heads > 0 ? n_heads : x.cols() / head_dim;
    pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) {
        float* row = host(x) + t * x.cols();
        kernels::rms_norm_rows(row, head_dim, f32(w), row, head_dim, heads, head_dim, eps);
      }
    });
  }

  void matmul(const Weight& w, const Buffer& x, int64_t n, Buffer& y) override {
    matmul_into(w, host(x), n, host(y));
  }

  void matmul_pair(const Weight& a, const Weight& b, const Buffer& x, int64_t n, Buffer& ya, Buffer& yb) override {
    kernels::matmul_pair(matrix(a), matrix(b), host(x), n, host(ya), host(yb), pool_, matmul_scratch_);
  }

  void matmul_to_host(const Weight& w, const Buffer& x, int64_t n, float* out) override {
    matmul_into(w, host(x), n, out);
  }

  void add_bias(Buffer& y, int64_t n, const Weight& bias) override {
    if (!bias.present()) return;
    pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) kernels::add_inplace(host(y) + t * y.cols(), f32(bias), y.cols());
    });
  }

  void scale(Buffer& x, int64_t n, float s) override { ref::scale(host(x), n * x.cols(), s); }

  void mul(Buffer& x, int64_t n, const Weight& w) override {
    const float* v = f32(w);
    for (int64_t t = 0; t < n; ++t) {
      float* row = host(x) + t * x.cols();
      for (int64_t i = 0; i < x.cols(); ++i) row[i] *= v[i];
    }
  }

  void add(Buffer& x, const Buffer& y, int64_t n) override {
    pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) kernels::add_inplace(host(x) + t * x.cols(), host(y) + t * x.cols(), x.cols());
    });
  }

  void gelu(Buffer& x, int64_t n) override { kernels::gelu(host(x), host(x), n * x.cols()); }

  // Rows split across the threads (each row's bits do not depend on the split): an encoder's
  // one long sequence otherwise spends a seventh of its time here on one core.
  void glu(GluKind kind, Buffer& gate, const Buffer& up, int64_t n) override {
    const int64_t d = gate.cols();
    pool_.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      glu_rows(kind, host(gate) + begin * d, host(up) + begin * d, end - begin, d);
    });
  }

  void rope_table(const ref::RopeParams& p, const Weight& freq_factors, std::span<const int32_t> positions,
                  Buffer& table) override {
    ref::RopeParams params = p;
    params.freq_factors = freq_factors.present() ? f32(freq_factors) : nullptr;
    for (size_t t = 0; t < positions.size(); ++t)
      ref::rope_cache(params, static_cast<float>(positions[t]), host(table) + int64_t(t) * table.cols());
  }

  void rope(const ref::RopeParams& p, const Weight& freq_factors, const Buffer& table, Buffer& x, int64_t n,
            int64_t n_heads, int64_t head_dim, int64_t offset) override {
    ref::RopeParams params = p;
    params.freq_factors = freq_factors.present() ? f32(freq_factors) : nullptr;
    for (int64_t t = 0; t < n; ++t)
      kernels::rope_apply(params, host(table) + t * table.cols(), host(x) + t * x.cols() + offset, n_heads, head_dim);
  }

  // Each head's slice gathered into a contiguous block, multiplied, and scattered back: the
  // products are the plain matmul's (a row's bits do not depend on its neighbours).
  void matmul_heads(std::span<const Weight> w, const Buffer& x, HeadSlice xs, int64_t n, Buffer& y,
                    HeadSlice ys) override {
    for (size_t h = 0; h < w.size(); ++h) {
      const int64_t in = w[h].ne(0), out = w[h].ne(1);
      grow(head_in_, n * in);
      grow(head_out_, n * out);
      for (int64_t t = 0; t < n; ++t) {
        const float* src = host(x) + t * x.cols() + int64_t(h) * xs.stride + xs.offset;
        std::copy(src, src + in, head_in_.data() + t * in);
      }
      kernels::matmul(matrix(w[h]), head_in_.data(), n, head_out_.data(), pool_, matmul_scratch_);
      for (int64_t t = 0; t < n; ++t)
        std::copy(head_out_.data() + t * out, head_out_.data() + (t + 1) * out,
                  host(y) + t * y.cols() + int64_t(h) * ys.stride + ys.offset);
    }
  }

  void copy_heads(const Buffer& x, HeadSlice xs, int64_t n, int64_t n_heads, int64_t width, Buffer& y,
                  HeadSlice ys) override {
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < n_heads; ++h) {
        const float* src = host(x) + t * x.cols() + h * xs.stride + xs.offset;
        std::copy(src, src + width, host(y) + t * y.cols() + h * ys.stride + ys.offset);
      }
  }

  void kv_store(const Buffer& k, const Buffer& v, KvPool& pool, int64_t layer, std::span<const int64_t> cells) override {
    auto& kv = static_cast<CpuKvPool&>(pool);
    const int64_t bs = kv.block_size();
    for (size_t t = 0; t < cells.size(); ++t) {
      const int64_t block = cells[t] / bs, slot = cells[t] % bs;
      kernels::store_f16(host(k) + int64_t(t) * k.cols(), kv.k(layer, block) + slot * kv.k_width(), kv.k_width());
      if (kv.v_width() > 0)
        kernels::store_f16(host(v) + int64_t(t) * v.cols(), kv.v(layer, block) + slot * kv.v_width(), kv.v_width());
    }
  }

  void sigmoid_mul(Buffer& x, const Buffer& gate, int64_t n) override {
    const float* g = host(gate);
    float* y = host(x);
    if (gate.cols() == 1) {
      for (int64_t t = 0; t < n; ++t) {
        const float s = ref::sigmoid(g[t]);
        for (int64_t i = 0; i < x.cols(); ++i) y[t * x.cols() + i] *= s;
      }
      return;
    }
    for (int64_t i = 0; i < n * x.cols(); ++i) y[i] *= ref::sigmoid(g[i]);
  }

  void state_clear(StatePool& pool, int64_t slot) override { static_cast<CpuStatePool&>(pool).clear(slot); }
  void state_copy(StatePool& pool, int64_t from, int64_t slot) override {
    static_cast<CpuStatePool&>(pool).copy(from, slot);
  }

  // Channels are independent: each thread runs its channels (in sixteens, the vector width) through
  // every token in order. A window is tap-major ([kernel - 1][channels]), as the taps are at load.
  void delta_conv(const Buffer& x, int64_t n, const Weight& w, StatePool& pool, int64_t layer,
                  const StateRoute& route, const DeltaNetShape& shape, Buffer& out) override {
    HEARTH_CHECK(w.use() == WeightUse::kConvTaps && w.resident(), "delta_conv: taps not loaded as kConvTaps");
    auto& states = static_cast<CpuStatePool&>(pool);
    const int64_t channels = shape.channels(), width = shape.conv_kernel, keep = width - 1;
    const float* taps = static_cast<const float*>(w.resident().get());
    pool_.parallel_for((channels + 15) / 16, [&](int64_t b0, int64_t b1, int) {
      const int64_t c0 = 16 * b0, c1 = std::min(16 * b1, channels);
      for (int64_t t = 0; t < n; ++t) {
        float* window = states.conv(layer, route.slots[size_t(t)]);
        kernels::conv_step(window + c0, channels, host(x) + t * x.cols() + c0, taps + c0, channels, c1 - c0, width,
                           host(out) + t * out.cols() + c0);
        if (const int32_t snap = route.snapshot(size_t(t)); snap >= 0)
          for (int64_t i = 0; i < keep; ++i)
            std::copy(window + i * channels + c0, window + i * channels + c1, states.conv(layer, snap) + i * channels + c0);
      }
    });
    grow(ones_, channels);
    std::fill(ones_.begin(), ones_.begin() + channels, 1.0f);
    pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {  // SiLU = silu(x) * 1, ggml's row by row
      for (int64_t t = t0; t < t1; ++t)
        kernels::silu_mul(host(out) + t * out.cols(), ones_.data(), host(out) + t * out.cols(), channels);
    });
  }

  // One job per (slot, value head): its tokens in order through the head's state.
  void delta_rule(Buffer& qkv, const Buffer& alpha, const Buffer& beta, const Weight& dt_bias, const Weight& a,
                  int64_t n, StatePool& pool, int64_t layer, const StateRoute& route,
                  const DeltaNetShape& shape, Buffer& out) override {
    const std::span<const int32_t> slots = route.slots;
    auto& states = static_cast<CpuStatePool&>(pool);
    const int64_t d = shape.head_dim, hk = shape.n_k_heads, hv = shape.n_v_heads, cols = qkv.cols();
    pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) {  // ref::l2_norm of each q and k head: an RMS norm, then a scale
        float* row = host(qkv) + t * cols;
        const float fn = static_cast<float>(d);
        kernels::rms_norm_rows(row, d, nullptr, row, d, 2 * hk, d, shape.eps / fn);
        ref::scale(row, 2 * hk * d, 1.0f / std::sqrt(fn));
      }
    });
    gates_.resize(size_t(n * hv));
    strengths_.resize(size_t(n * hv));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < hv; ++h) {
        gates_[size_t(t * hv + h)] = ref::delta_gate(host(alpha)[t * hv + h], f32(dt_bias)[h], f32(a)[h]);
        strengths_[size_t(t * hv + h)] = ref::sigmoid(host(beta)[t * hv + h]);
      }
    // The chunk's tokens grouped by slot, in order.
    slot_ids_.clear();
    for (int64_t t = 0; t < n; ++t)
      if (std::find(slot_ids_.begin(), slot_ids_.end(), slots[size_t(t)]) == slot_ids_.end())
        slot_ids_.push_back(slots[size_t(t)]);
    const int64_t jobs = int64_t(slot_ids_.size()) * hv;
    delta_scratch_.resize(size_t(pool_.size()));
    pool_.parallel_for(jobs, [&](int64_t j0, int64_t j1, int thread) {
      std::vector<float>& scratch = delta_scratch_[size_t(thread)];
      scratch.resize(size_t(d));
      for (int64_t job = j0; job < j1; ++job) {
        const int32_t slot = slot_ids_[size_t(job / hv)];
        const int64_t h = job % hv, hq = h % hk;
        float* state = states.state(layer, slot) + h * d * d;
        for (int64_t t = 0; t < n; ++t) {
          if (slots[size_t(t)] != slot) continue;
          const float* row = host(qkv) + t * cols;
          kernels::delta_rule_step(state, row + hq * d, row + (hk + hq) * d, row + (2 * hk + h) * d,
                               gates_[size_t(t * hv + h)], strengths_[size_t(t * hv + h)], d,
                               host(out) + t * out.cols() + h * d, scratch.data());
          if (const int32_t snap = route.snapshot(size_t(t)); snap >= 0)
            std::copy(state, state + d * d, states.state(layer, snap) + h * d * d);
        }
      }
    });
  }

  // One job per (token, KV head), so a GQA group shares its K/V loads (kernels/attention.h). With
  // fewer jobs than threads (one decoding sequence of an MQA model: MLA's 16 or 128 heads share
  // one latent), split_attention divides each job's work; where the kernel has no split build, a
  // group is split into parts of heads instead. A head's bits do not depend on either split.
  void attention(const Buffer& q, const KvPool& pool, int64_t layer, std::span<const AttentionRange> ranges,
                 const AttentionShape& shape, const Weight& sinks, Buffer& out) override {
    const auto& kv = static_cast<const CpuKvPool&>(pool);
    // A latent cache (v_width 0) reads its values from the keys' leading v_dim columns.
    HEARTH_CHECK(kv.v_width() == 0 || kv.k_width() == kv.v_width(),
                 "attention: K and V rows of different widths need their own kernel");
    const int64_t n_kv_head = shape.n_head_kv, group = shape.n_head / shape.n_head_kv;
    const int64_t n = static_cast<int64_t>(ranges.size());
    if (n * n_kv_head < pool_.size() && split_attention(q, kv, layer, ranges, shape, sinks, out)) return;
    if (prompt_runs(ranges, shape)) return run_attention(q, kv, layer, ranges, shape, sinks, out);
    const int64_t parts = std::clamp<int64_t>(pool_.size() / std::max<int64_t>(1, n * n_kv_head), 1, group);
    pool_.parallel_for(n * n_kv_head * parts, [&](int64_t job_begin, int64_t job_end, int thread) {
      AttentionScratch& s = attn_scratch_[static_cast<size_t>(thread)];
      for (int64_t job = job_begin; job < job_end; ++job) {
        const int64_t part = job % parts, t = job / parts / n_kv_head, kvh = job / parts % n_kv_head;
        const int64_t g0 = group * part / parts, g1 = group * (part + 1) / parts;
        if (g1 == g0) continue;
        const kernels::AttentionArgs a = attention_args(q, kv, layer, ranges[size_t(t)], shape, sinks, out, t, kvh,
                                                        g0, g1, s.k_blocks, s.v_blocks);
        kernels::attention(a, s.kernel);
      }
    });
  }

  // A prompt's tokens of one sequence, each seeing one more cached position than the token before
  // it and nothing masked, form a run whose queries share the cache's rows. Fills runs_ with
  // (first token, length) for every token (runs of one included); true when some run is longer.
  // A run's converted rows (f32 keys and values, per thread) are capped at 32 MiB: past that
  // (contexts beyond 32k at head size 128) its tokens go one by one.
  bool prompt_runs(std::span<const AttentionRange> ranges, const AttentionShape& shape) {
    constexpr int64_t kMaxRunFloats = int64_t{8} << 20;
    const int64_t row_floats = shape.head_dim + (shape.v_dim > 0 ? shape.v_dim : shape.head_dim) + 16;
    runs_.clear();
    bool any = false;
    for (size_t t = 0; t < ranges.size();) {
      size_t len = 1;
      const auto continues = [&](const AttentionRange& prev, const AttentionRange& next) {
        return next.table.data() == prev.table.data() && next.first == prev.first && next.n_kv == prev.n_kv + 1 &&
               prev.n_masked == 0 && next.n_masked == 0 && next.n_kv <= kMaxRunFloats / row_floats;
      };
      while (t + len < ranges.size() && continues(ranges[t + len - 1], ranges[t + len])) ++len;
      runs_.emplace_back(int64_t(t), int64_t(len));
      any = any || len > 1;
      t += len;
    }
    return any;
  }

  // One job per (run, KV head): a run's queries over the cache rows converted once
  // (kernels::attention_queries_cached: per query, attention()'s bits). With fewer jobs than
  // threads (one prompt of a model with few KV heads) each run is split into parts of equal work
  // (query t costs ~t: part boundaries at len * sqrt(i / parts)).
  void run_attention(const Buffer& q, const CpuKvPool& kv, int64_t layer, std::span<const AttentionRange> ranges,
                     const AttentionShape& shape, const Weight& sinks, Buffer& out) {
    const int64_t n_kv_head = shape.n_head_kv, group = shape.n_head / shape.n_head_kv;
    const int64_t n_runs = int64_t(runs_.size());
    const int64_t parts = n_runs * n_kv_head >= pool_.size() ? 1 : pool_.size();
    pool_.parallel_for(n_runs * n_kv_head * parts, [&](int64_t job_begin, int64_t job_end, int thread) {
      AttentionScratch& s = attn_scratch_[static_cast<size_t>(thread)];
      for (int64_t job = job_begin; job < job_end; ++job) {
        const int64_t part = job % parts, run = job / parts / n_kv_head, kvh = job / parts % n_kv_head;
        const int64_t t0 = runs_[size_t(run)].first, len = runs_[size_t(run)].second;
        const auto bound = [&](int64_t i) {
          return i == parts ? len : int64_t(double(len) * std::sqrt(double(i) / double(parts)));
        };
        const int64_t first = t0 + bound(part), count = t0 + bound(part + 1) - first;
        if (count == 0) continue;
        const int64_t last = first + count - 1;
        // The last query's range (its cache blocks and n_kv), the first query's rows of q and out.
        const kernels::AttentionArgs a = attention_args(q, kv, layer, ranges[size_t(last)], shape, sinks, out, first,
                                                        kvh, 0, group, s.k_blocks, s.v_blocks);
        if (count == 1)
          kernels::attention(a, s.kernel);
        else
          kernels::attention_queries_cached(a, count, q.cols(), out.cols(), s.kernel);
      }
    });
  }

  // The kernel's arguments for query heads [g0, g1) of KV head kvh's group of token t, whose
  // range's cache blocks (offset to the KV head) are gathered into k_blocks and v_blocks (a latent
  // cache: the values are the keys' rows).
  static kernels::AttentionArgs attention_args(const Buffer& q, const CpuKvPool& kv, int64_t layer,
                                               const AttentionRange& r, const AttentionShape& shape,
                                               const Weight& sinks, Buffer& out, int64_t t, int64_t kvh, int64_t g0,
                                               int64_t g1, std::vector<const uint16_t*>& k_blocks,
                                               std::vector<const uint16_t*>& v_blocks) {
    const bool latent = kv.v_width() == 0;
    const int64_t hd = shape.head_dim, vd = shape.v_dim > 0 ? shape.v_dim : hd, bs = kv.block_size();
    const int64_t n_blocks = (r.n_kv + bs - 1) / bs;
    k_blocks.resize(static_cast<size_t>(n_blocks));
    v_blocks.resize(static_cast<size_t>(n_blocks));
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int32_t block = r.table[size_t(r.first / bs + b)];
      k_blocks[size_t(b)] = kv.k(layer, block) + kvh * hd;
      v_blocks[size_t(b)] = latent ? k_blocks[size_t(b)] : kv.v(layer, block) + kvh * hd;
    }
    const int64_t head0 = kvh * (shape.n_head / shape.n_head_kv) + g0;
    kernels::AttentionArgs a;
    a.q = host(q) + t * q.cols() + head0 * hd;
    a.group = g1 - g0;
    a.head_dim = hd;
    a.v_dim = vd;
    a.k_blocks = k_blocks.data();
    a.v_blocks = v_blocks.data();
    a.block_size = bs;
    a.row_stride = kv.k_width();  // = v_width, or the keys' rows for a latent cache
    a.n_kv = r.n_kv;
    a.n_masked = r.n_masked;
    a.sinks = sinks.present() ? f32(sinks) + head0 : nullptr;
    a.scale = shape.scale;
    a.softcap = shape.softcap;
    a.out = host(out) + t * out.cols() + head0 * vd;
    return a;
  }

  // Fewer (token, KV head) jobs than threads (decoding one sequence of an MQA model): each job's
  // scores split by position, its probabilities by head and its outputs by column among the
  // threads, so the cache is read once, not once per thread (kernels::attention_split_*: the
  // same bits). False where the kernel has no such build.
  bool split_attention(const Buffer& q, const CpuKvPool& kv, int64_t layer, std::span<const AttentionRange> ranges,
                       const AttentionShape& shape, const Weight& sinks, Buffer& out) {
    const int64_t vd = shape.v_dim > 0 ? shape.v_dim : shape.head_dim;
    const int64_t n_kv_head = shape.n_head_kv, group = shape.n_head / shape.n_head_kv;
    for (size_t t = 0; t < ranges.size(); ++t)
      for (int64_t kvh = 0; kvh < n_kv_head; ++kvh) {
        const AttentionRange& r = ranges[t];
        const kernels::AttentionArgs a =
            attention_args(q, kv, layer, r, shape, sinks, out, int64_t(t), kvh, 0, group, split_k_, split_v_);
        if (!kernels::attention_split_supported(a)) return false;
        split_scores_.resize(size_t(group * r.n_kv));
        pool_.parallel_for(r.n_kv, [&](int64_t j0, int64_t j1, int thread) {
          kernels::attention_split_scores(a, j0, j1, split_scores_.data(), attn_scratch_[size_t(thread)].kernel);
        });
        pool_.parallel_for(group, [&](int64_t g0, int64_t g1, int) {
          kernels::attention_split_probabilities(a, g0, g1, split_scores_.data());
        });
        pool_.parallel_for(vd / 16, [&](int64_t c0, int64_t c1, int thread) {
          kernels::attention_split_values(a, split_scores_.data(), c0 * 16, c1 * 16, attn_scratch_[size_t(thread)].kernel);
        });
      }
    return true;
  }

  // One job per (sequence, KV head): the sequence's queries share its keys, transposed once
  // (kernels::attention_queries_f32). A sequence is a run of tokens with the same span.
  void self_attention(const Buffer& q, const Buffer& k, const Buffer& v, std::span<const RowSpan> spans,
                      const AttentionShape& shape, Buffer& out) override {
    const int64_t hd = shape.head_dim, n_kv_head = shape.n_head_kv, group = shape.n_head / shape.n_head_kv;
    seq_starts_.clear();
    for (size_t t = 0; t < spans.size(); ++t)
      if (t == 0 || spans[t].first != spans[t - 1].first || spans[t].n != spans[t - 1].n)
        seq_starts_.push_back(int64_t(t));
    seq_starts_.push_back(int64_t(spans.size()));
    const int64_t n_seqs = int64_t(seq_starts_.size()) - 1;
    // Fewer (sequence, KV head) jobs than threads (one long input): each job's queries are split
    // too; a query's result does not depend on which others share its call.
    const int64_t parts = n_seqs * n_kv_head >= pool_.size() ? 1 : pool_.size();
    pool_.parallel_for(n_seqs * n_kv_head * parts, [&](int64_t job_begin, int64_t job_end, int thread) {
      AttentionScratch& s = attn_scratch_[static_cast<size_t>(thread)];
      for (int64_t job = job_begin; job < job_end; ++job) {
        const int64_t part = job % parts, seq = job / parts / n_kv_head, kvh = job / parts % n_kv_head;
        const int64_t s0 = seq_starts_[size_t(seq)], len = seq_starts_[size_t(seq + 1)] - s0;
        const int64_t first = len * part / parts, t0 = s0 + first, n_queries = len * (part + 1) / parts - first;
        if (n_queries == 0) continue;
        const RowSpan& span = spans[size_t(t0)];
        kernels::AttentionArgs a;
        a.q = host(q) + t0 * q.cols() + kvh * group * hd;
        a.group = group;
        a.head_dim = hd;
        a.k_f32 = host(k) + span.first * k.cols() + kvh * hd;
        a.v_f32 = host(v) + span.first * v.cols() + kvh * hd;
        a.row_stride = k.cols();
        a.n_kv = span.n;
        a.scale = shape.scale;
        a.softcap = shape.softcap;
        a.symmetric_window = shape.symmetric_window;
        a.first_query = first;
        a.out = host(out) + t0 * out.cols() + kvh * group * hd;
        kernels::attention_queries_f32(a, n_queries, q.cols(), out.cols(), s.kernel);
      }
    });
  }

  void select_experts(Buffer& logits, int64_t n, const Routing& r, ExpertChoice& c) override {
    const int64_t n_expert = logits.cols(), k = r.k;
    const float* bias = r.selection_bias && r.selection_bias->present() ? f32(*r.selection_bias) : nullptr;
    c.k = k;
    c.ids.resize(size_t(n * k));
    c.weights.resize(size_t(n * k));
    c.per_expert.resize(size_t(n_expert));
    for (auto& rows : c.per_expert) rows.clear();
    selection_.resize(size_t(n_expert));
    for (int64_t t = 0; t < n; ++t) {
      float* probs = host(logits) + t * n_expert;
      int32_t* ids = c.ids.data() + t * k;
      float* weights = c.weights.data() + t * k;
      if (r.gating == ExpertGating::kSoftmax) ref::soft_max_row(probs, n_expert);
      if (r.gating == ExpertGating::kSigmoid) ref::sigmoid_row(probs, n_expert);
      // The choice is made on the probabilities plus the selection bias, group-limited; the weights
      // are the unbiased probabilities of the chosen (llama.cpp's build_moe_ffn).
      const float* selection = probs;
      if (bias != nullptr || r.n_groups > 1) {
        for (int64_t e = 0; e < n_expert; ++e) selection_[size_t(e)] = bias ? probs[e] + bias[e] : probs[e];
        if (r.n_groups > 1) ref::mask_expert_groups(selection_.data(), n_expert, r.n_groups, r.n_groups_used);
        selection = selection_.data();
      }
      ref::top_k(selection, n_expert, k, ids);
      for (int64_t s = 0; s < k; ++s) weights[s] = probs[ids[s]];
      if (r.gating == ExpertGating::kSoftmaxWeight) ref::soft_max_row(weights, k);
      if (r.normalize) {  // ggml_sum_rows (in double), clamped below at 2^-14, then ggml_div
        double sum = 0.0;
        for (int64_t s = 0; s < k; ++s) sum += weights[s];
        const float total = std::max(static_cast<float>(sum), 6.103515625e-5f);
        for (int64_t s = 0; s < k; ++s) weights[s] /= total;
      }
      if (r.scale != 1.0f)
        for (int64_t s = 0; s < k; ++s) weights[s] *= r.scale;
      for (int64_t s = 0; s < k; ++s) c.per_expert[size_t(ids[s])].push_back(static_cast<int32_t>(t * k + s));
    }
  }

  // Each expert once, over the tokens routed to it: gather, GLU, scatter weighted outputs; then
  // each token's k outputs summed in slot order (descending probability), as ggml adds them.
  void experts(const ExpertWeights& w, const Buffer& x, int64_t n, const ExpertChoice& c, Buffer& out) override {
    const int64_t d = x.cols(), k = c.k;
    const int64_t n_ff = w.gate.empty() ? 0 : w.gate[0].ne(1);
    grow(expert_in_, n * d);
    grow(expert_gate_, n * n_ff);
    grow(expert_up_, n * n_ff);
    grow(expert_down_, n * d);
    grow(expert_out_, n * k * d);
    for (size_t e = 0; e < c.per_expert.size(); ++e) {
      const std::vector<int32_t>& rows = c.per_expert[e];
      const int64_t m = static_cast<int64_t>(rows.size());
      if (m == 0) continue;
      for (int64_t r = 0; r < m; ++r) {
        const float* src = host(x) + (rows[size_t(r)] / k) * d;
        std::copy(src, src + d, expert_in_.data() + r * d);
      }
      kernels::matmul_pair(matrix(w.gate[e]), matrix(w.up[e]), expert_in_.data(), m, expert_gate_.data(),
                           expert_up_.data(), pool_, matmul_scratch_);
      add_expert_bias(expert_gate_.data(), w.gate_bias, int64_t(e), m);
      add_expert_bias(expert_up_.data(), w.up_bias, int64_t(e), m);
      glu_rows(w.glu, expert_gate_.data(), expert_up_.data(), m, n_ff);
      kernels::matmul(matrix(w.down[e]), expert_gate_.data(), m, expert_down_.data(), pool_, matmul_scratch_);
      if (w.down_scale != nullptr && w.down_scale->present()) {  // ggml_mul by the expert's scale, before its weight
        const float s = f32(*w.down_scale)[e];
        for (int64_t i = 0; i < m * d; ++i) expert_down_[size_t(i)] *= s;
      }
      add_expert_bias(expert_down_.data(), w.down_bias, int64_t(e), m);
      for (int64_t r = 0; r < m; ++r) {
        const int32_t slot = rows[size_t(r)];
        const float weight = c.weights[size_t(slot)];
        const float* down = expert_down_.data() + r * d;
        float* o = expert_out_.data() + int64_t{slot} * d;
        for (int64_t i = 0; i < d; ++i) o[i] = down[i] * weight;
      }
    }
    for (int64_t t = 0; t < n; ++t) {
      float* o = host(out) + t * d;
      const float* first = expert_out_.data() + t * k * d;
      std::copy(first, first + d, o);
      for (int64_t s = 1; s < k; ++s) kernels::add_inplace(o, first + s * d, d);
    }
  }

 private:
  struct AttentionScratch {
    kernels::AttentionScratch kernel;
    std::vector<const uint16_t*> k_blocks, v_blocks;  // the sequence's blocks, offset to the KV head
  };

  static void grow(std::vector<float>& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  }

  void matmul_into(const Weight& w, const float* x, int64_t n, float* y) {
    if (w.use() == WeightUse::kRouter && !w.resident()) {
      if (w.type() == DType::F32) {  // llama.cpp's f32 GEMM order (kernels/elementwise.h)
        const int64_t rows = w.ne(1), k = w.ne(0);
        if (n >= 4 * int64_t(pool_.size())) {  // tokens to every thread, four at a time
          pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
            kernels::matmul_f32_lanes16(f32(w), rows, k, x + t0 * k, t1 - t0, y + t0 * rows);
          });
        } else {  // a few tokens (decode): rows to every thread
          pool_.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
            kernels::matmul_f32_lanes16(f32(w) + r0 * k, r1 - r0, k, x, n, y + r0, rows);
          });
        }
      } else {
        kernels::matmul(w.source(), x, n, y, pool_, matmul_scratch_);
      }
      return;
    }
    kernels::matmul(matrix(w), x, n, y, pool_, matmul_scratch_);
  }

  static void glu_rows(GluKind kind, float* gate, const float* up, int64_t rows, int64_t n_ff) {
    for (int64_t r = 0; r < rows; ++r) {
      float* g = gate + r * n_ff;
      if (kind == GluKind::kSwiGLUOai) {
        ref::swiglu_oai(g, up + r * n_ff, g, n_ff);
      } else if (kind == GluKind::kGeGLU) {
        kernels::geglu(g, up + r * n_ff, g, n_ff);
      } else {
        kernels::silu_mul(g, up + r * n_ff, g, n_ff);
      }
    }
  }

  ThreadPool pool_;
  ref::MatmulScratch matmul_scratch_;
  std::vector<AttentionScratch> attn_scratch_;  // one per thread
  std::vector<int64_t> seq_starts_;
  std::vector<std::pair<int64_t, int64_t>> runs_;  // (first token, length): prompt_runs
  std::vector<float> selection_;         // one token's router scores as the choice sees them
  std::vector<const uint16_t*> split_k_, split_v_;  // split_attention's blocks of one (token, KV head)
  std::vector<float> split_scores_;                 // and its scores, then probabilities [group, n_kv]
  std::vector<float> head_in_, head_out_;  // one head's slice of a chunk, and its product
  // Gated DeltaNet, for one chunk: ones for SiLU as a product, each (token, head)'s decay and
  // strength, the slots in the chunk, and a value row per thread.
  std::vector<float> ones_, gates_, strengths_;
  std::vector<int32_t> slot_ids_;
  std::vector<std::vector<float>> delta_scratch_;
  // Mixture of Experts, for one chunk: the rows routed to one expert, its gate/up/down outputs,
  // and every (token, slot)'s weighted output.
  std::vector<float> expert_in_, expert_gate_, expert_up_, expert_down_, expert_out_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace hearth
