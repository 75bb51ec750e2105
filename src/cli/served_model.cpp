#include "cli/served_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "base/mapped_file.h"
#include "base/progress.h"
#include "base/thread_pool.h"

namespace hearth::cli {
namespace {

std::string default_name(const std::string& path) {
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = p.filename().string();
  if (name.size() > 5 && name.substr(name.size() - 5) == ".gguf") name.resize(name.size() - 5);
  return name.empty() ? "model" : name;
}

// Prints "PREFIX: WHAT (S s)" for each loading stage, so a slow load says where its time goes.
class StageClock {
 public:
  explicit StageClock(const char* prefix) : prefix_(prefix), start_(Clock::now()), stage_(start_) {}
  void done(const std::string& what) {
    const auto now = Clock::now();
    fmt::print(stderr, "{}: {} ({:.2f} s)\n", prefix_, what, std::chrono::duration<double>(now - stage_).count());
    stage_ = now;
  }
  void lap() { stage_ = Clock::now(); }  // the stage reported itself
  double total_s() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  const char* prefix_;
  Clock::time_point start_, stage_;
};

}  // namespace

void add_serving_options(CLI::App* cmd, ServingOptions& o, bool name_option) {
  if (name_option)
    cmd->add_option("--served-model-name", o.served_name, "The model id clients use (default: the file name)");
  cmd->add_option("--chat-template", o.chat_template_file, "Jinja chat template file overriding the model's");
  cmd->add_option("-t,--threads", o.n_threads, "Threads for the forward pass (default: the cores)");
  cmd->add_option("-c,--ctx-size", o.ctx_size, "Most tokens per sequence, prompt + completion (0: the model's)")
      ->capture_default_str();
  cmd->add_option("--kv-cache-mb", o.kv_cache_mb, "KV cache memory, shared by all sequences")->capture_default_str();
  cmd->add_option("--block-size", o.block_size, "Tokens per KV block")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--max-running", o.max_running, "Sequences decoded together at most")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--max-step-tokens", o.max_step_tokens, "Tokens per engine step (prefill chunk + decodes)")
      ->capture_default_str()->check(CLI::Range(1, 65536));
  cmd->add_option("--max-waiting", o.max_waiting, "Queued requests beyond which new ones get 503")->capture_default_str();
  cmd->add_option("--max-n", o.max_n, "Most choices (n) per request")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_flag("--no-prefix-cache", o.no_prefix_cache, "Do not reuse KV blocks of shared prompt prefixes");
  cmd->add_option("--spec", o.spec,
                  "Speculative decoding: ngram (prompt lookup, while at most 4 sequences decode and none wait; "
                  "output unchanged)")
      ->check(CLI::IsMember({"ngram"}));
  cmd->add_option("--draft-max,--spec-draft-n-max", o.draft_max, "Draft tokens per sequence and step at most")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{256}));
}

Result<std::unique_ptr<ServedModel>> ServedModel::load(ServingOptions a, const char* log_prefix) {
  std::unique_ptr<ServedModel> s(new ServedModel());
  StageClock clock(log_prefix);
  if (a.n_threads <= 0) a.n_threads = default_thread_count();

  auto model = ModelFile::open(a.model);
  if (!model.ok()) return model.error();
  s->file_ = std::make_unique<ModelFile>(std::move(*model));
  const ModelFile& file = *s->file_;
  clock.done(fmt::format("opened {} ({})", a.model, file.architecture()));

  auto tok = tokenizer::Tokenizer::from_model(file);
  if (!tok.ok()) return tok.error();
  s->tokenizer_ = std::make_unique<tokenizer::Tokenizer>(std::move(*tok));
  const tokenizer::Tokenizer& t = *s->tokenizer_;
  std::string template_source;
  if (!a.chat_template_file.empty()) {
    auto text = read_text_file(a.chat_template_file, size_t{16} << 20);
    if (!text.ok()) return text.error();
    template_source = *text;
  } else {
    // GGUF metadata, else a Hugging Face folder's tokenizer_config.json, else ChatML.
    template_source = file.get_string("tokenizer.chat_template")
                          .value_or(t.chat_template().empty() ? std::string(chat::kChatMlTemplate) : t.chat_template());
  }
  auto tmpl = chat::Template::parse(template_source);
  if (!tmpl.ok()) return make_error("chat template: {}", tmpl.error().message);
  s->template_ = std::make_unique<chat::Template>(std::move(*tmpl));
  clock.done("tokenizer and chat template");

  // An encoder computes each input whole in one step: the step holds the longest input it takes
  // (its context, or --ctx-size), as llama-server's batch must.
  auto file_hp = read_hparams(file);
  if (!file_hp.ok()) return file_hp.error();
  if (!file_hp->causal) {
    const int64_t longest = a.ctx_size > 0 ? std::min(a.ctx_size, file_hp->n_ctx_train) : file_hp->n_ctx_train;
    a.max_step_tokens = std::max(a.max_step_tokens, std::min<int64_t>(longest, 65536));
  }
  TransformerOptions topt;
  topt.n_threads = a.n_threads;
  topt.n_batch = std::max(a.max_step_tokens, a.max_running);
  topt.own_kv_cache = false;
  // A bar while the weights are packed (the longest stage for a large model; drawn on a terminal
  // only), whose closing line is the stage's line.
  std::unique_ptr<ProgressBar> bar;
  topt.on_load_progress = [&bar, log_prefix](int64_t done, int64_t total) {
    if (!bar) bar = std::make_unique<ProgressBar>(fmt::format("{}: weights bound and packed for this CPU", log_prefix),
                                                  static_cast<uint64_t>(total));
    bar->update(static_cast<uint64_t>(done));
  };
  auto tf = Transformer::create(file, topt);
  if (!tf.ok()) return tf.error();
  s->transformer_ = std::move(*tf);
  const HParams& hp = s->transformer_->hparams();
  if (bar) {
    bar->finish();
    clock.lap();
  } else {
    clock.done("weights bound and packed for this CPU");
  }

  engine::EngineOptions eopt;
  eopt.block_size = a.block_size;
  eopt.max_running = a.max_running;
  eopt.max_step_tokens = a.max_step_tokens;
  // Recurrent layers' state is a slot per running sequence plus the prefix snapshots: at most half
  // of the cache budget goes to them, the rest to the attention layers' KV blocks.
  const bool recurrent = hp.has_recurrent_layers();
  if (recurrent) {
    const uint64_t per_slot = KvCache::bytes_per_state_slot(kv_layer_shapes(hp));
    const auto fit = static_cast<int64_t>((uint64_t(a.kv_cache_mb) << 20) / 2 / per_slot);
    if (fit < 1)
      return make_error("--kv-cache-mb {}: half of it holds less than one sequence's recurrent state ({:.1f} MiB)",
                        a.kv_cache_mb, double(per_slot) / (1 << 20));
    eopt.state_snapshots = a.no_prefix_cache ? 0 : std::min<int64_t>(eopt.state_snapshots, fit / 4);
    eopt.max_running = std::max<int64_t>(1, std::min<int64_t>(a.max_running, fit - eopt.state_snapshots));
  }
  eopt.n_blocks = engine::blocks_for_budget(hp, eopt, uint64_t(a.kv_cache_mb) << 20);
  // An encoder writes no keys (each input attends within its own pass): its blocks are only the
  // scheduler's bookkeeping, never touched memory, and a step's worth is all it uses.
  if (!hp.causal)
    eopt.n_blocks = std::min(eopt.n_blocks, (a.max_step_tokens + a.block_size - 1) / a.block_size + a.max_running);
  eopt.max_waiting = a.max_waiting;
  eopt.max_context = a.ctx_size > 0 ? a.ctx_size : hp.n_ctx_train;
  eopt.prefix_caching = !a.no_prefix_cache;
  if (a.spec == "ngram" && recurrent)
    return make_error("--spec ngram: {} has recurrent layers, whose state cannot take rejected drafts back",
                      file.architecture());
  eopt.spec_ngram = a.spec == "ngram" && hp.causal;
  eopt.spec_draft_max = a.draft_max;
  const std::string served_name = a.served_name.empty() ? default_name(a.model) : a.served_name;
  if (a.kv_events && hp.causal && !a.no_prefix_cache) eopt.on_cache_events = a.kv_events->sink(served_name, a.block_size);
  if (eopt.n_blocks < 2) return make_error("--kv-cache-mb {} holds less than two KV blocks of this model", a.kv_cache_mb);
  s->engine_ = std::make_unique<engine::Engine>(*s->transformer_, t.eog_ids(), eopt);
  const engine::Engine& eng = *s->engine_;
  clock.done("KV cache and engine");

  api::ModelContext& ctx = s->context_;
  ctx.name = served_name;
  ctx.aliases = {a.model};
  ctx.tokenizer = s->tokenizer_.get();
  ctx.chat_template = s->template_.get();
  ctx.output_formats = chat::detect_output_formats(template_source);
  if (t.bos() != tokenizer::kNoToken) ctx.chat_defaults.bos_token = t.token_to_piece(t.bos(), true);
  if (t.eos() != tokenizer::kNoToken) ctx.chat_defaults.eos_token = t.token_to_piece(t.eos(), true);
  ctx.max_context = eng.max_context();
  ctx.n_vocab = static_cast<int32_t>(hp.n_vocab);
  ctx.max_n = a.max_n;
  ctx.pooling = hp.pooling;
  ctx.generates = hp.causal;
  ctx.n_embd = hp.n_embd;
  ctx.rerank_template = file.get_string("tokenizer.chat_template.rerank").value_or("");
  if (hp.pooling == Pooling::kRank)
    fmt::print(stderr, "{}: a reranker ({} classes): /v1/rerank scores documents{}\n", log_prefix, hp.n_cls_out,
               ctx.rerank_template.empty() ? "" : " through its rerank template");
  else if (hp.pooling != Pooling::kNone)
    fmt::print(stderr, "{}: an embedding model ({} pooling): /v1/embeddings serves {}-wide vectors\n", log_prefix,
               pooling_name(hp.pooling), hp.n_embd);
  const std::string kv_line =
      !hp.causal ? std::string("no KV cache (an encoder)")
                 : fmt::format("KV cache {} blocks of {}{} ({:.0f} MiB, {} tokens, {} bytes per token)", eopt.n_blocks,
                               eopt.block_size,
                               eng.window_blocks() > 0
                                   ? fmt::format(" + {} for the sliding-window layers", eng.window_blocks())
                                   : "",
                               double(eng.kv_bytes()) / (1 << 20), eng.capacity_tokens(),
                               KvCache::bytes_per_block(kv_layer_shapes(hp), KvGroup::kFull, 1)) +
                       (recurrent ? fmt::format(", recurrent state {} slots + {} prefix snapshots of {:.2f} MiB",
                                                eopt.max_running, eopt.state_snapshots,
                                                double(KvCache::bytes_per_state_slot(kv_layer_shapes(hp))) / (1 << 20))
                                  : std::string());
  fmt::print(stderr, "{}: {} ({}) as '{}': context {} tokens, {}, {} sequences per step, {} threads; loaded in {:.2f} s\n",
             log_prefix, a.model, file.architecture(), ctx.name, ctx.max_context, kv_line, eopt.max_running,
             a.n_threads, clock.total_s());
  // An explicit -c that the cache cannot hold for one sequence is said, not passed over: the
  // context above is what requests get (a sliding-window model's window pool is sized for
  // --max-running sequences' windows, which can leave little for the full layers).
  if (a.ctx_size > 0 && hp.causal && ctx.max_context < std::min(a.ctx_size, hp.n_ctx_train))
    fmt::print(stderr, "{}: warning: -c {} is more than --kv-cache-mb {} holds for one sequence ({} tokens at "
               "--max-running {}); raise --kv-cache-mb or lower --max-running\n",
               log_prefix, a.ctx_size, a.kv_cache_mb, ctx.max_context, eopt.max_running);
  return s;
}

Result<std::vector<std::string>> models_in_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return make_error("--models-dir {}: not a directory", dir);
  std::vector<std::string> found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string file = p.filename().string();
    if (file.empty() || file[0] == '.') continue;
    std::error_code e2;
    if (it->is_regular_file(e2) && p.extension() == ".gguf")
      found.push_back(p.string());
    else if (it->is_directory(e2) && fs::is_regular_file(p / "config.json", e2))
      found.push_back(p.string());
  }
  if (ec) return make_error("--models-dir {}: {}", dir, ec.message());
  std::sort(found.begin(), found.end());
  return found;
}

Result<uint64_t> model_memory_estimate(const std::string& path, const ServingOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  uint64_t weights = 0;
  if (fs::is_directory(path, ec)) {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code e2;
      if (it->path().extension() == ".safetensors" && it->is_regular_file(e2)) weights += it->file_size(e2);
    }
  } else {
    weights = fs::file_size(path, ec);
  }
  if (ec) return make_error("{}: {}", path, ec.message());
  return weights + (uint64_t(o.kv_cache_mb) << 20);
}

Result<std::unique_ptr<server::ModelPool>> make_model_pool(const std::vector<ModelSource>& sources,
                                                           const ServingOptions& o, uint64_t budget_bytes) {
  std::vector<server::ModelPool::Entry> entries;
  for (const ModelSource& src : sources) {
    server::ModelPool::Entry e;
    e.name = src.name.empty() ? default_name(src.path) : src.name;
    e.aliases = {src.path};
    auto bytes = model_memory_estimate(src.path, o);
    if (!bytes.ok()) return bytes.error();
    e.bytes = *bytes;
    ServingOptions mo = o;
    mo.model = src.path;
    mo.served_name = e.name;
    e.load = [mo]() -> Result<server::ModelPool::Model> {
      auto m = ServedModel::load(mo, "serve");
      if (!m.ok()) return m.error();
      std::shared_ptr<ServedModel> owner = std::move(*m);
      return server::ModelPool::Model{owner->context(), &owner->engine(), owner};
    };
    entries.push_back(std::move(e));
  }
  server::ModelPool::Options po;
  po.budget_bytes = budget_bytes;
  po.log = [](const std::string& line) { fmt::print(stderr, "serve: {}\n", line); };
  auto pool = server::ModelPool::create(std::move(entries), std::move(po));
  if (!pool.ok() && pool.error().message.starts_with("two models are named"))
    return make_error("{} (--served-model-name)", pool.error().message);
  return pool;
}

}  // namespace hearth::cli
