// /metrics in Prometheus' text format, named as vLLM names them (so tools built for vLLM, such as
// the Gateway API Inference Extension's endpoint picker, read hearth unchanged), plus hearth_*
// series for what vLLM does not count (engine steps, weight passes).
#pragma once

#include <string>
#include <vector>

#include "engine/metrics.h"

namespace hearth::api {

struct ModelMetrics {
  std::string name;
  engine::EngineMetrics metrics;
};

// One family per metric, a series per served model (labelled model_name).
std::string render_metrics(const std::vector<ModelMetrics>& models, bool loaded);

}  // namespace hearth::api
