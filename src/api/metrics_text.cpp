#include "api/metrics_text.h"

#include <fmt/format.h>

#include <chrono>
#include <utility>
#include <vector>

namespace hearth::api {
namespace {

// Series are gathered by family, so several models' series of one metric sit under one HELP and
// TYPE header (the text format allows each family once), in the order families first appear.
struct Writer {
  struct Family {
    std::string head;
    std::string lines;
  };
  std::vector<std::pair<std::string, Family>> families;
  std::string labels;  // {model_name="..."}

  std::string& lines(const std::string& name, const char* type, const char* help) {
    for (auto& [n, f] : families)
      if (n == name) return f.lines;
    families.push_back({name, {fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type), {}}});
    return families.back().second.lines;
  }
  void gauge(const std::string& name, const char* help, double v) {
    lines(name, "gauge", help) += fmt::format("{}{} {}\n", name, labels, v);
  }
  void counter(const std::string& name, const char* help, double v) {
    lines(name, "counter", help) += fmt::format("{}{} {}\n", name, labels, v);
  }
  void histogram(const std::string& name, const char* help, const engine::Histogram& h) {
    std::string& out = lines(name, "histogram", help);
    const std::string inner = labels.substr(1, labels.size() - 2);
    for (size_t i = 0; i < h.bounds().size(); ++i)
      out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, inner, h.bounds()[i], h.cumulative_counts()[i]);
    out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, inner, h.count());
    out += fmt::format("{}_sum{} {}\n", name, labels, h.sum());
    out += fmt::format("{}_count{} {}\n", name, labels, h.count());
  }
  std::string text() const {
    std::string out;
    out.reserve(16 << 10);
    for (const auto& [name, f] : families) out += f.head + f.lines;
    return out;
  }
};

std::string escape_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string render_metrics(const std::vector<ModelMetrics>& models, bool loaded) {
  Writer w;
  for (const ModelMetrics& mm : models) {
    const engine::EngineMetrics& m = mm.metrics;
    const std::string name = escape_label(mm.name);
    w.labels = fmt::format("{{model_name=\"{}\"}}", name);
    const double usage = m.kv_blocks_total > 0 ? double(m.kv_blocks_in_use) / double(m.kv_blocks_total) : 0.0;
    w.gauge("vllm:num_requests_running", "Requests in the running batch.", double(m.running));
    w.gauge("vllm:num_requests_waiting", "Requests waiting to be scheduled.", double(m.waiting));
    w.gauge("vllm:kv_cache_usage_perc", "KV-cache usage, 0 to 1 (blocks held by running requests).", usage);
    w.gauge("vllm:gpu_cache_usage_perc", "Older name of vllm:kv_cache_usage_perc.", usage);
    // vLLM's info series have no model label; with several models each needs one to be distinct.
    const std::string model_label = models.size() > 1 ? fmt::format(",model_name=\"{}\"", name) : std::string();
    w.lines("vllm:cache_config_info", "gauge", "KV-cache configuration.") += fmt::format(
        "vllm:cache_config_info{{block_size=\"{}\",num_gpu_blocks=\"{}\",num_cpu_blocks=\"0\",cache_dtype=\"f16\",enable_prefix_caching=\"True\"{}}} 1\n",
        m.block_size, m.kv_blocks_total, model_label);
    if (&mm == &models.front())
      w.lines("vllm:lora_requests_info", "gauge", "LoRA adapters (none are served).") += fmt::format(
          "vllm:lora_requests_info{{max_lora=\"0\",running_lora_adapters=\"\",waiting_lora_adapters=\"\"}} {}\n",
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    w.counter("vllm:prompt_tokens_total", "Prompt tokens processed.", double(m.prompt_tokens));
    w.counter("vllm:generation_tokens_total", "Tokens generated.", double(m.generation_tokens));
    w.counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", double(m.prefix_cache_queries));
    w.counter("vllm:prefix_cache_hits_total", "Prompt tokens whose KV came from the prefix cache.", double(m.prefix_cache_hits));
    w.counter("vllm:num_preemptions_total", "Sequences preempted for lack of KV blocks.", double(m.preemptions));
    w.counter("vllm:spec_decode_num_draft_tokens_total", "Speculative draft tokens checked.", double(m.spec_drafted));
    w.counter("vllm:spec_decode_num_accepted_tokens_total", "Speculative draft tokens accepted.",
              double(m.spec_accepted));
    std::string& success = w.lines("vllm:request_success_total", "counter", "Finished requests by finish reason.");
    const char* reasons[] = {"stop", "length", "abort", "error"};
    for (size_t i = 0; i < 4; ++i)
      success += fmt::format("vllm:request_success_total{{model_name=\"{}\",finished_reason=\"{}\"}} {}\n", name,
                             reasons[i], m.finished[i]);
    w.histogram("vllm:time_to_first_token_seconds", "Time to first token.", m.ttft);
    w.histogram("vllm:inter_token_latency_seconds", "Time between consecutive tokens of a request.", m.itl);
    w.histogram("vllm:time_per_output_token_seconds", "Older name of vllm:inter_token_latency_seconds.", m.itl);
    w.histogram("vllm:e2e_request_latency_seconds", "Request latency, arrival to finish.", m.e2e);
    w.histogram("vllm:request_queue_time_seconds", "Time from arrival to first scheduling.", m.queue_time);
    w.histogram("vllm:request_prompt_tokens", "Prompt length of requests.", m.prompt_len);
    w.histogram("vllm:request_generation_tokens", "Generated length of requests.", m.generation_len);
    w.gauge("hearth_model_loaded", "1 once the model is loaded.", loaded ? 1 : 0);
    w.counter("hearth_engine_steps_total", "Engine steps; each is one forward pass over a batch.", double(m.steps));
    w.counter("hearth_batched_tokens_total", "Tokens run through engine steps.", double(m.batched_tokens));
    w.gauge("hearth_kv_blocks_in_use", "KV blocks held by running requests.", double(m.kv_blocks_in_use));
    w.gauge("hearth_kv_blocks_cached", "KV blocks kept for prefix reuse.", double(m.kv_blocks_cached));
    w.gauge("hearth_kv_blocks_total", "KV blocks in the cache.", double(m.kv_blocks_total));
    if (m.state_slots_total > 0) {
      w.gauge("hearth_state_slots_in_use", "Recurrent-state slots held by running requests (one each).",
              double(m.state_slots_in_use));
      w.gauge("hearth_state_slots_total", "Slots of the recurrent layers' state pool.", double(m.state_slots_total));
      w.gauge("hearth_state_slot_bytes", "Bytes of one request's recurrent state (every recurrent layer).",
              double(m.state_bytes_per_slot));
      w.gauge("hearth_state_snapshots_total", "Recurrent-state slots kept for prefix snapshots.",
              double(m.state_snapshots_total));
      w.gauge("hearth_state_snapshots_cached", "Prefix snapshots of recurrent state held for reuse.",
              double(m.state_snapshots_cached));
    }
    if (m.kv_window_blocks_total > 0) {
      w.gauge("hearth_kv_window_blocks_in_use", "Sliding-window layers' KV blocks held by running requests.",
              double(m.kv_window_blocks_in_use));
      w.gauge("hearth_kv_window_blocks_cached", "Sliding-window layers' KV blocks kept for prefix reuse.",
              double(m.kv_window_blocks_cached));
      w.gauge("hearth_kv_window_blocks_total", "Blocks of the sliding-window layers' KV pool.",
              double(m.kv_window_blocks_total));
    }
  }
  return w.text();
}

}  // namespace hearth::api
