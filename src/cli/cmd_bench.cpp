// hearth bench -m MODEL [-p 512] [-n 128] [-d 0] [-t N] [-r 5] [-o md|jsonl]: prompt-processing and
// generation speed with llama-bench's semantics, so the two tools' figures compare directly:
//   ppP: one forward of P random tokens from an empty cache (logits of the last token only);
//   tgN: N tokens decoded one at a time from an empty cache;
//   with -d D, both start from a cache already holding D random tokens (untimed), named
//   "ppP @ dD" and "tgN @ dD" as llama-bench names them;
// one warm-up run of each, then mean ± sample standard deviation of tokens/s over the reps.
// Generation also reports its share of the memory roofline: the bytes a decode step must read
// (every weight matrix, the embedding row aside, plus the KV cache so far) times tokens/s,
// over the read bandwidth measured here by streaming through a buffer far larger than the caches.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include <sys/mman.h>

#include "base/thread_pool.h"
#include "cli/commands.h"
#include "kernels/cpu/dispatch.h"
#include "model/quantize_recipe.h"
#include "model/transformer.h"

namespace hearth::cli {
namespace {

struct BenchArgs {
  std::string model;
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int64_t n_depth = 0;
  int n_threads = default_thread_count();
  int reps = 5;
  std::string output = "md";
  std::string cpu;  // kernel level to force ("" = best this CPU runs)
};

struct Stats {
  double mean = 0, stddev = 0;
};

Stats stats_of(const std::vector<double>& v) {
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double sq = 0;
    for (double x : v) sq += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(sq / static_cast<double>(v.size() - 1));
  }
  return s;
}

// Read bandwidth in bytes/s: the best of a few passes of `pool` threads summing disjoint slices
// of a 256 MiB buffer (touched first so the pages exist). It runs before the model is loaded and
// its buffer is gone by then, so the peak RSS a benchmark reports is the model's (with a 1 GiB
// probe after the load, small models showed the probe's gigabyte). Each thread walks its slice as
// 4 streams at once, as a matrix-vector product walks its rows: one stream per core is
// latency-bound on server parts (two threads on the 2-core Xeon: 17 GB/s with one stream each, 25
// with four, where decode read 26). That Xeon's L3 is 260 MiB, but a 1 GiB buffer measured the
// same (24.5 against 25.1 GB/s).
double measure_read_bandwidth(ThreadPool& pool) {
  constexpr size_t kBytes = size_t{256} << 20;
  // 16-byte vectors (GCC's vector extension: SSE2 / NEON, every build has them) in 8
  // accumulators: with scalar 64-bit sums the loop, not memory, was the limit (9 GB/s on one
  // core that streams 25 GB/s), and the roofline column read over 130%.
  using Words2 = uint64_t __attribute__((vector_size(16)));
  constexpr size_t kLanes = 8, kStep = 2 * kLanes;  // words per iteration
  constexpr size_t kStreams = kLanes / 2;  // per thread (above)
  const size_t n = kBytes / sizeof(uint64_t);
  // On 2 MiB pages, as the packed weights are (kernels/cpu/packed.cpp), so that the probe and
  // decode pay the same for address translation.
  constexpr size_t kHuge = size_t{2} << 20;
  std::unique_ptr<uint64_t[], decltype(&std::free)> mem(static_cast<uint64_t*>(std::aligned_alloc(kHuge, kBytes)),
                                                        &std::free);
  if (mem == nullptr) return 0;  // no roofline column then
  ::madvise(mem.get(), kBytes, MADV_HUGEPAGE);
  uint64_t* const buf = mem.get();
  std::fill(buf, buf + n, uint64_t{1});
  std::vector<uint64_t> sums(static_cast<size_t>(pool.size()), 0);
  double best = 0;
  for (int pass = 0; pass < 4; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(pool.size(), [&](int64_t begin, int64_t end, int) {
      for (int64_t part = begin; part < end; ++part) {
        const size_t lo = n / pool.size() * part, hi = n / pool.size() * (part + 1);
        // kStreams equal stretches of the slice, read side by side (two vectors from each per step).
        const size_t stretch = (hi - lo) / kStreams / kStep * kStep;
        Words2 s[kLanes] = {};
        for (size_t i = 0; i < stretch; i += kStep / kStreams)
          for (size_t k = 0; k < kLanes; ++k) {
            Words2 v;
            std::memcpy(&v, buf + lo + (k / 2) * stretch + i + 2 * (k % 2), sizeof v);
            s[k] += v;
          }
        uint64_t rest = 0;
        for (size_t i = lo + kStreams * stretch; i < hi; ++i) rest += buf[i];
        for (const Words2& v : s) rest += v[0] + v[1];
        sums[part] += rest;
      }
    });
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(kBytes) / secs);
  }
  uint64_t total = 0;
  for (uint64_t s : sums) total += s;
  if (total != 4 * (n / pool.size() * pool.size()))
    fmt::print(stderr, "bench: bandwidth pass read {} of {} words\n", total, 4 * n);
  return best;
}

// Bytes one decode step reads at cache position `pos`: the weight matrices (all tensors but the
// token embedding, which is read one row at a time, unless it doubles as the output matrix; of
// a stacked expert tensor, the n_expert_used slices a token runs) plus the f16 K and V cache up
// to pos.
double decode_bytes(const ModelFile& model, const HParams& hp, double pos) {
  const bool tied = model.find_tensor("output.weight") == nullptr;
  double bytes = 0;
  for (const ModelTensor& t : model.tensors()) {
    if (t.name == "token_embd.weight" && !tied) continue;
    if (t.name == "per_layer_token_embd.weight") continue;  // Gemma 4 E2B: one row per token is read
    const bool experts = hp.n_expert > 0 && t.view.n_dims == 3 && t.view.ne[2] == hp.n_expert;
    bytes += static_cast<double>(t.view.n_bytes) *
             (experts ? static_cast<double>(hp.n_expert_used) / static_cast<double>(hp.n_expert) : 1.0);
  }
  double kv_width = 0;  // f16 keys and values of every layer (windows taken as whole: an upper bound)
  for (int64_t il = 0; il < hp.n_layer; ++il)
    kv_width += static_cast<double>(hp.layer_kv_dim(il) + hp.layer_cache_v_width(il));
  return bytes + pos * 2.0 * kv_width;
}

std::string type_label(const ModelFile& model) {
  if (auto ft = model.get_int("general.file_type"))
    return std::string(file_type_name(static_cast<FileType>(*ft)));
  return "?";
}

struct Result1 {
  std::string test;
  int64_t n_tokens;
  Stats tps;
};

int run_bench(const BenchArgs& a) {
  using clock = std::chrono::steady_clock;
  double bandwidth = 0;
  {
    ThreadPool bw_pool(a.n_threads);
    bandwidth = measure_read_bandwidth(bw_pool);
  }
  auto model = ModelFile::open(a.model);
  if (!model.ok()) {
    fmt::print(stderr, "hearth bench: {}\n", model.error().message);
    return 1;
  }
  TransformerOptions topt;
  topt.n_ctx = a.n_depth + std::max<int64_t>(a.n_prompt, a.n_gen) + 1;
  topt.n_batch = std::max<int64_t>(1, std::min<int64_t>(std::max(a.n_prompt, a.n_depth), 512));
  topt.n_threads = a.n_threads;
  auto tf = Transformer::create(*model, topt);
  if (!tf.ok()) {
    fmt::print(stderr, "hearth bench: {}\n", tf.error().message);
    return 1;
  }
  Transformer& t = **tf;
  const HParams& hp = t.hparams();
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(hp.n_vocab - 1));
  std::vector<float> logits;

  // An empty cache, then the depth's tokens in it (untimed).
  auto start = [&]() {
    t.reset();
    if (a.n_depth == 0) return;
    std::vector<int32_t> depth(static_cast<size_t>(a.n_depth));
    for (auto& tok : depth) tok = pick(rng);
    Status st = t.forward(depth, false, logits);
    if (!st.ok()) fmt::print(stderr, "hearth bench: {}\n", st.message());
  };
  auto time_pp = [&]() -> double {
    std::vector<int32_t> tokens(static_cast<size_t>(a.n_prompt));
    for (auto& tok : tokens) tok = pick(rng);
    start();
    const auto t0 = clock::now();
    Status st = t.forward(tokens, false, logits);
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (!st.ok()) fmt::print(stderr, "hearth bench: {}\n", st.message());
    return static_cast<double>(a.n_prompt) / s;
  };
  auto time_tg = [&](int64_t n) -> double {
    start();
    int32_t tok = pick(rng);
    const auto t0 = clock::now();
    for (int64_t i = 0; i < n; ++i) {
      const int32_t one[1] = {tok};
      Status st = t.forward(one, false, logits);
      if (!st.ok()) fmt::print(stderr, "hearth bench: {}\n", st.message());
      tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    return static_cast<double>(n) / std::chrono::duration<double>(clock::now() - t0).count();
  };

  const std::string at = a.n_depth > 0 ? fmt::format(" @ d{}", a.n_depth) : "";
  std::vector<Result1> results;
  if (a.n_prompt > 0) {
    time_pp();  // warm-up
    std::vector<double> v;
    for (int r = 0; r < a.reps; ++r) v.push_back(time_pp());
    results.push_back({fmt::format("pp{}{}", a.n_prompt, at), a.n_prompt, stats_of(v)});
  }
  if (a.n_gen > 0) {
    time_tg(std::min<int64_t>(a.n_gen, 8));  // warm-up
    std::vector<double> v;
    for (int r = 0; r < a.reps; ++r) v.push_back(time_tg(a.n_gen));
    results.push_back({fmt::format("tg{}{}", a.n_gen, at), a.n_gen, stats_of(v)});
  }
  const double step_bytes =
      decode_bytes(*model, hp, static_cast<double>(a.n_depth) + static_cast<double>(a.n_gen) / 2.0);

  const std::string type = type_label(*model);
  const std::string name = fmt::format("{} {:.0f}M", model->architecture(),
                                       decode_bytes(*model, hp, 0) / 1e6);
  const char* level = cpu::cpu_level_name(cpu::active_cpu_level());
  if (a.output == "jsonl") {
    for (const Result1& r : results) {
      std::string extra;
      if (r.test.rfind("tg", 0) == 0 && bandwidth > 0)
        extra = fmt::format(", \"bytes_per_token\": {:.0f}, \"read_bandwidth_gbs\": {:.2f}, "
                            "\"roofline_pct\": {:.1f}",
                            step_bytes, bandwidth / 1e9, 100.0 * r.tps.mean * step_bytes / bandwidth);
      fmt::print("{{\"model\": \"{}\", \"type\": \"{}\", \"test\": \"{}\", \"threads\": {}, "
                 "\"tokens_per_second\": {:.3f}, \"stddev\": {:.3f}, \"cpu\": \"{}\"{}}}\n",
                 a.model, type, r.test, a.n_threads, r.tps.mean, r.tps.stddev, level, extra);
    }
  } else {
    fmt::print("| model | type | threads | cpu | test | t/s | roofline |\n");
    fmt::print("| --- | --- | ---: | --- | ---: | ---: | ---: |\n");
    for (const Result1& r : results) {
      std::string roof = "";
      if (r.test.rfind("tg", 0) == 0 && bandwidth > 0)
        roof = fmt::format("{:.0f}% of {:.1f} GB/s", 100.0 * r.tps.mean * step_bytes / bandwidth,
                           bandwidth / 1e9);
      fmt::print("| {} | {} | {} | {} | {} | {:.2f} ± {:.2f} | {} |\n", name, type, a.n_threads,
                 level, r.test, r.tps.mean, r.tps.stddev, roof);
    }
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Prompt (ppN) and generation (tgN) speed, as llama-bench measures them");
  cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face folder")->required();
  cmd->add_option("-p,--n-prompt", a->n_prompt, "Prompt tokens (0: skip pp)")->capture_default_str();
  cmd->add_option("-n,--n-gen", a->n_gen, "Generated tokens (0: skip tg)")->capture_default_str();
  cmd->add_option("-d,--n-depth", a->n_depth, "Tokens already in the cache before each test (llama-bench's -d)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", a->n_threads, "Threads")->capture_default_str();
  cmd->add_option("-r,--repetitions", a->reps, "Repetitions of each test")->capture_default_str();
  cmd->add_option("-o,--output", a->output, "md or jsonl")
      ->check(CLI::IsMember({"md", "jsonl"}))
      ->capture_default_str();
  cmd->add_option("--cpu", a->cpu, "Kernel level: ref, avx2, avx512 or neon (default: the best this CPU runs)");
  cmd->callback([a, &exit_code] {
    if (a->reps < 1 || a->n_prompt < 0 || a->n_gen < 0 || a->n_depth < 0 || a->n_threads < 1) {
      fmt::print(stderr, "hearth bench: -r and -t must be >= 1, -p, -n and -d >= 0\n");
      exit_code = 2;
      return;
    }
    if (!a->cpu.empty()) {
      const auto level = cpu::cpu_level_from_name(a->cpu);
      if (!level || !cpu::cpu_supports(*level)) {
        fmt::print(stderr, "hearth bench: --cpu {}: unknown or not supported by this CPU\n", a->cpu);
        exit_code = 2;
        return;
      }
      cpu::use_cpu_level(*level);
    }
    exit_code = run_bench(*a);
  });
}

}  // namespace hearth::cli
