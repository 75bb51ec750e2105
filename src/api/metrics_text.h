// /metrics in Prometheus' text format, named as vLLM names them (so tools built for vLLM, such as
// the Gateway API Inference Extension's endpoint picker, read hearth unchanged), plus hearth_*
// series for what vLLM does not count (engine steps, weight passes).
#pragma once

#include <string>

#include "engine/metrics.h"

namespace hearth::api {

std::string render_metrics(const engine::EngineMetrics& m, const std::string& model_name, bool loaded);

}  // namespace hearth::api
