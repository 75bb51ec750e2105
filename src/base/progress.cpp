#include "base/progress.h"

#include <unistd.h>

#include <cstdio>

namespace hearth {

ProgressBar::ProgressBar(std::string label, uint64_t total)
    : label_(std::move(label)),
      total_(total),
      interactive_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::update(uint64_t done, const std::string& detail) {
  if (!interactive_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  double frac = total_ == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total_);
  int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r%s [%s] %3d%% %-40.40s", label_.c_str(), bar.c_str(),
               static_cast<int>(frac * 100), detail.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish(const std::string& summary) {
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (interactive_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s: done in %.1f s%s%s\n", label_.c_str(), seconds,
               summary.empty() ? "" : ", ", summary.c_str());
}

}  // namespace hearth
