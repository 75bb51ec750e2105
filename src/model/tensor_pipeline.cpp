#include "model/tensor_pipeline.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "base/progress.h"
#include "tensor/quant.h"

namespace hearth {

Result<PipelineStats> write_tensor_pipeline(gguf::Writer& writer,
                                            const std::vector<OutputTensor>& tensors,
                                            const std::string& path, int n_threads,
                                            const std::string& progress_label) {
  PipelineStats stats;
  for (const OutputTensor& t : tensors) stats.n_params += static_cast<uint64_t>(t.shape.n_elements());
  ProgressBar progress(progress_label, stats.n_params);
  uint64_t done_params = 0;  // fill callbacks run inside writer.write() below
  const int threads = std::max(1, n_threads);

  for (const OutputTensor& t : tensors) {
    if (!t.rows) {
      TensorView view = t.shape;
      view.data = t.passthrough;
      view.n_bytes = 0;  // computed and checked by the writer
      HEARTH_RETURN_IF_ERROR(writer.add_tensor(t.name, view));
      done_params += static_cast<uint64_t>(t.shape.n_elements());
      continue;
    }
    auto fill = [&t, threads, &done_params, &progress](uint8_t* dst) -> Status {
      const int64_t ne0 = t.shape.ne[0];
      const int64_t n_rows = t.shape.n_rows();
      const uint64_t bytes_per_row = *row_bytes(t.shape.type, static_cast<uint64_t>(ne0));
      std::atomic<int64_t> next_row{0};
      auto worker = [&] {
        std::vector<float> row(static_cast<size_t>(ne0));
        constexpr int64_t kChunk = 16;  // rows claimed at a time: cheap atomics, balanced end
        for (;;) {
          int64_t begin = next_row.fetch_add(kChunk);
          if (begin >= n_rows) break;
          int64_t end = std::min(n_rows, begin + kChunk);
          for (int64_t r = begin; r < end; ++r) {
            t.rows(r, row.data());
            quantize_row(t.shape.type, row.data(), dst + static_cast<uint64_t>(r) * bytes_per_row,
                         ne0);
          }
        }
      };
      int use = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(1, n_rows / 64)));
      std::vector<std::thread> pool;
      for (int i = 1; i < use; ++i) pool.emplace_back(worker);
      worker();
      for (std::thread& th : pool) th.join();
      done_params += static_cast<uint64_t>(t.shape.n_elements());
      progress.update(done_params, t.name);
      return {};
    };
    HEARTH_RETURN_IF_ERROR(writer.add_tensor(t.name, t.shape, fill));
  }
  HEARTH_RETURN_IF_ERROR(writer.write(path));
  for (const OutputTensor& t : tensors)
    stats.n_bytes += *row_bytes(t.shape.type, static_cast<uint64_t>(t.shape.ne[0])) *
                     static_cast<uint64_t>(t.shape.n_rows());
  progress.finish();
  return stats;
}

}  // namespace hearth
