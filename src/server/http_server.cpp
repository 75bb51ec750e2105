#include "server/http_server.h"
#include "server/model_pool.h"
#include "server/web_assets.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "sampling/stop_filter.h"
#include "api/anthropic.h"
#include "api/embeddings.h"
#include "api/responses.h"
#include "api/rerank.h"
#include "api/metrics_text.h"
#include "tenants/tenancy.h"
#include "tenants/usage_report.h"

namespace hearth::server {
using namespace hearth::api;
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using Request = http::request<http::string_body>;
using Clock = std::chrono::steady_clock;

// Compares without an early exit, so the time taken does not reveal how much of a key matched;
// every configured key is compared.
bool key_matches(const std::string& given, const std::vector<std::string>& keys) {
  bool ok = false;
  for (const std::string& k : keys) {
    unsigned diff = given.size() == k.size() ? 0u : 1u;
    for (size_t i = 0; i < given.size(); ++i) diff |= unsigned(uint8_t(given[i]) ^ uint8_t(k[i % std::max<size_t>(k.size(), 1)]));
    ok |= diff == 0 && !k.empty();
  }
  return ok;
}

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

// The key a request presents: Bearer (OpenAI's clients) or x-api-key (Anthropic's).
std::string presented_key(const Request& req) {
  const std::string_view auth = req[http::field::authorization];
  constexpr std::string_view prefix = "Bearer ";
  if (auth.size() > prefix.size() && auth.substr(0, prefix.size()) == prefix) return std::string(auth.substr(prefix.size()));
  return std::string(req["x-api-key"]);
}

// "?a=1&b=two" as a map (values as sent: the parameters read here are names, dates and words).
std::map<std::string, std::string> query_params(std::string_view target) {
  std::map<std::string, std::string> out;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    out[std::string(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return out;
}

// One JSON line per API request on stderr when it ends (--log-requests): who asked, for what, how
// much it used and how long it took. Filled in as the request goes; written by the destructor, so
// every way out of a request (answer, error, cancel, timeout) leaves its line.
struct RequestLog {
  bool on = false;
  std::string id, route, key, model;
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> first_token;
  int status = 0;  // 499: the client went away
  bool stream = false;
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;

  ~RequestLog() {
    if (!on) return;
    const auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    json line = {{"time", unix_now()}, {"request_id", id}, {"route", route}, {"key", key.empty() ? json(nullptr) : json(key)},
                 {"model", model.empty() ? json(nullptr) : json(model)}, {"status", status}, {"stream", stream},
                 {"prompt_tokens", prompt_tokens}, {"cached_tokens", cached_tokens},
                 {"completion_tokens", completion_tokens},
                 {"ttft_ms", first_token ? json(std::round(ms(*first_token - start) * 10) / 10) : json(nullptr)},
                 {"duration_ms", std::round(ms(Clock::now() - start) * 10) / 10}};
    fmt::print(stderr, "{}\n", line.dump(-1, ' ', false, json::error_handler_t::replace));
  }
};

// A Prometheus label value, escaped as the exposition format requires: key names made by hearth
// are [A-Za-z0-9._-], but a database edited by hand, or a model's file name, could hold anything.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) out += c == '\\' ? std::string("\\\\") : c == '"' ? std::string("\\\"") : c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

// Which models are loaded and the memory they take against --memory-budget.
std::string pool_metrics(const ModelPool& pool) {
  std::string loaded = "# HELP hearth_model_loaded 1 while the model is loaded.\n# TYPE hearth_model_loaded gauge\n";
  std::string loads = "# HELP hearth_model_loads_total Times the model was loaded.\n# TYPE hearth_model_loads_total counter\n";
  std::string unloads =
      "# HELP hearth_model_unloads_total Times the model was unloaded to make room for another.\n"
      "# TYPE hearth_model_unloads_total counter\n";
  for (size_t i = 0; i < pool.size(); ++i) {
    const ModelPool::ModelState st = pool.state(i);
    const std::string name = label(pool.entry(i).name);
    loaded += fmt::format("hearth_model_loaded{{model_name=\"{}\"}} {}\n", name, st.loaded ? 1 : 0);
    loads += fmt::format("hearth_model_loads_total{{model_name=\"{}\"}} {}\n", name, st.loads);
    unloads += fmt::format("hearth_model_unloads_total{{model_name=\"{}\"}} {}\n", name, st.unloads);
  }
  return loaded + loads + unloads +
         fmt::format("# HELP hearth_models_memory_bytes Estimated memory of the loaded models (weights and KV cache).\n"
                     "# TYPE hearth_models_memory_bytes gauge\nhearth_models_memory_bytes {}\n"
                     "# HELP hearth_memory_budget_bytes --memory-budget (0: none).\n"
                     "# TYPE hearth_memory_budget_bytes gauge\nhearth_memory_budget_bytes {}\n",
                     pool.used_bytes(), pool.budget_bytes());
}

std::string metering_metrics(const tenants::MeterHealth& h,
                             const std::vector<std::pair<std::string, tenants::UsageCounts>>& keys) {
  std::string per_key;
  const auto family = [&](const char* name, const char* help, int64_t tenants::UsageCounts::*field) {
    per_key += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    for (const auto& [key, c] : keys) per_key += fmt::format("{}{{key=\"{}\"}} {}\n", name, label(key), c.*field);
  };
  family("hearth_key_requests_total", "Requests per named key since start (keys past the first 500 share key=\"_other\").",
         &tenants::UsageCounts::requests);
  family("hearth_key_prompt_tokens_total", "Prompt tokens per named key since start.", &tenants::UsageCounts::prompt_tokens);
  family("hearth_key_cached_tokens_total", "Prompt tokens per named key that came from the prefix cache.",
         &tenants::UsageCounts::cached_tokens);
  family("hearth_key_completion_tokens_total", "Completion tokens per named key since start.",
         &tenants::UsageCounts::completion_tokens);
  family("hearth_key_errors_total", "Failed requests per named key since start.", &tenants::UsageCounts::errors);
  return per_key + fmt::format(
      "# HELP hearth_metering_write_errors_total Failed writes of usage to the database (the counts are kept and retried).\n"
      "# TYPE hearth_metering_write_errors_total counter\nhearth_metering_write_errors_total {}\n"
      "# HELP hearth_metering_pending_rows Usage rows counted in memory and not yet written.\n"
      "# TYPE hearth_metering_pending_rows gauge\nhearth_metering_pending_rows {}\n"
      "# HELP hearth_metering_degraded 1 while usage cannot be written to the database.\n"
      "# TYPE hearth_metering_degraded gauge\nhearth_metering_degraded {}\n",
      h.write_errors, h.pending_rows, h.degraded ? 1 : 0);
}

// A key as the admin routes show it (never its secret or hash).
json key_json(const tenants::KeyRecord& k) {
  const auto when = [](int64_t t) { return t ? json(tenants::utc_time_text(t)) : json(nullptr); };
  return {{"name", k.name},
          {"id", k.id},
          {"created_at", when(k.created_at)},
          {"revoked_at", when(k.revoked_at)},
          {"rpm", k.limits.rpm},
          {"tpm", k.limits.tpm},
          {"tokens_per_day", k.limits.tokens_per_day},
          {"max_concurrent", k.limits.max_concurrent},
          {"models", k.limits.models},
          {"expires_at", when(k.limits.expires_at)}};
}

// The limit fields of an admin request's body laid over `limits`; an error names what is wrong.
std::optional<ApiError> read_limits(const ojson& body, tenants::KeyLimitsPatch& patch, bool allow_name) {
  if (!body.is_object()) return bad_request("the body must be a JSON object");
  for (const auto& [field, value] : body.items()) {
    std::optional<int64_t>* target = field == "rpm" ? &patch.rpm
                                     : field == "tpm" ? &patch.tpm
                                     : field == "tokens_per_day" ? &patch.tokens_per_day
                                     : field == "max_concurrent" ? &patch.max_concurrent
                                                                 : nullptr;
    if (target) {
      if (!value.is_number_integer() || value.get<int64_t>() < 0)
        return bad_request(fmt::format("'{}' must be an integer >= 0 (0: no limit)", field), field);
      *target = value.get<int64_t>();
    } else if (field == "models") {
      if (!value.is_array()) return bad_request("'models' must be an array of model names", "models");
      patch.models.emplace();
      for (const auto& m : value) {
        if (!m.is_string()) return bad_request("'models' must be an array of model names", "models");
        patch.models->push_back(m.get<std::string>());
      }
    } else if (field == "expires_at") {
      if (value.is_null()) {
        patch.expires_at = 0;
        continue;
      }
      std::optional<int64_t> t = value.is_string() ? tenants::parse_utc_time(value.get<std::string>()) : std::nullopt;
      if (!t) return bad_request("'expires_at' must be \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\" (UTC), or null", "expires_at");
      patch.expires_at = *t;
    } else if (!(allow_name && field == "name")) {
      return bad_request(fmt::format("unknown field '{}' (known: {}rpm, tpm, tokens_per_day, max_concurrent, models, expires_at)",
                                     field, allow_name ? "name, " : ""),
                         field);
    }
  }
  return std::nullopt;
}

// What the engine thread hands a waiting connection for one choice.
struct ChoiceEvent {
  int choice = 0;
  std::string text;
  json logprobs = json::array();  // chat: entries; completions: [{id, logprob, top}] raw
  bool finished = false;
  engine::FinishEvent finish;
  std::string stop_sequence;  // the stop string that ended the choice, if one did
};

// One generation request: its choices' text state (touched on the engine thread only) and the
// queue of events for the connection (under the mutex).
struct Job : std::enable_shared_from_this<Job> {
  explicit Job(asio::any_io_executor ex) : signal(ex) {}

  struct ChoiceState {
    std::unique_ptr<tokenizer::StreamDecoder> decoder;
    std::unique_ptr<StopFilter> filter;
  };

  asio::steady_timer signal;
  std::mutex mutex;
  std::deque<ChoiceEvent> events;
  std::vector<ChoiceState> choices;
  std::vector<uint64_t> engine_ids;
  const tokenizer::Tokenizer* tok = nullptr;
  bool chat = false;
  bool tokens_as_ids = false;
  bool client_gone = false;
  std::array<char, 512> read_buffer{};
  std::shared_ptr<tenants::Lease> lease;  // a named key's request: quotas and metering
  std::vector<char> quota_cut;             // [choice] stopped because the key's day was spent (engine thread)

  void push(ChoiceEvent ev) {
    {
      std::lock_guard lock(mutex);
      events.push_back(std::move(ev));
    }
    // Timers are not thread-safe: wake the connection from its own executor.
    asio::post(signal.get_executor(), [self = shared_from_this()] { self->signal.cancel(); });
  }

  json logprob_json(const engine::TokenEvent& ev) const {
    std::vector<std::pair<int32_t, float>> top;
    for (const auto& t : ev.top) top.emplace_back(t.token, t.logprob);
    if (chat) return logprob_entry_chat(*tok, ev.token, ev.logprob, top, tokens_as_ids);
    json raw = {{"token", token_name(*tok, ev.token, tokens_as_ids)}, {"logprob", ev.logprob}, {"top", json::object()}};
    for (const auto& [id, lp] : top) raw["top"][token_name(*tok, id, tokens_as_ids)] = lp;
    return raw;
  }

  // Engine thread.
  bool on_token(int choice, const engine::TokenEvent& ev, bool want_logprobs) {
    ChoiceState& c = choices[size_t(choice)];
    ChoiceEvent out;
    out.choice = choice;
    out.text = c.filter->push(c.decoder->push(ev.token));
    if (want_logprobs) out.logprobs.push_back(logprob_json(ev));
    bool go_on = !c.filter->stopped();
    if (lease && !lease->on_token()) {
      quota_cut[size_t(choice)] = 1;
      go_on = false;
    }
    push(std::move(out));
    return go_on;
  }
  void on_finish(int choice, const engine::FinishEvent& fin) {
    ChoiceState& c = choices[size_t(choice)];
    ChoiceEvent out;
    out.choice = choice;
    if (!c.filter->stopped()) {
      out.text = c.filter->push(c.decoder->flush());
      if (!c.filter->stopped()) out.text += c.filter->flush();
    }
    out.finished = true;
    out.finish = fin;
    out.stop_sequence = c.filter->matched();
    if (c.filter->stopped() && fin.reason == engine::FinishReason::kLength) out.finish.reason = engine::FinishReason::kStop;
    if (quota_cut[size_t(choice)]) out.finish.reason = engine::FinishReason::kLength;
    // Metered before the client can see the end, so a usage read after a response includes it.
    if (lease)
      lease->finish_choice(fin.prompt_tokens, fin.cached_tokens, fin.completion_tokens,
                           fin.reason == engine::FinishReason::kError);
    push(std::move(out));
  }
};

// One embeddings request: the engine thread fills in each input's finish; the connection waits.
struct EmbedJob : std::enable_shared_from_this<EmbedJob> {
  EmbedJob(asio::any_io_executor ex, size_t n) : signal(ex), finishes(n) {}

  asio::steady_timer signal;
  std::mutex mutex;
  std::vector<engine::FinishEvent> finishes;  // by input
  size_t finished = 0;
  std::vector<uint64_t> engine_ids;
  bool client_gone = false;
  std::array<char, 512> read_buffer{};
  std::shared_ptr<tenants::Lease> lease;  // a named key's request: quotas and metering

  // Engine thread.
  void on_finish(size_t input, const engine::FinishEvent& fin) {
    if (lease) lease->finish_choice(fin.prompt_tokens, fin.cached_tokens, 0, fin.reason == engine::FinishReason::kError);
    {
      std::lock_guard lock(mutex);
      finishes[input] = fin;
      ++finished;
    }
    asio::post(signal.get_executor(), [self = shared_from_this()] { self->signal.cancel(); });
  }
  bool all_finished() {
    std::lock_guard lock(mutex);
    return finished == finishes.size();
  }
  size_t finished_count() {
    std::lock_guard lock(mutex);
    return finished;
  }
};

const char* finish_reason_text(engine::FinishReason r) {
  return r == engine::FinishReason::kLength ? "length" : "stop";
}

// The OpenAI response of one generation request, built from the engine's events: stream chunks as
// they come, or the whole body at the end. (Kept out of the coroutines: plain functions.)
// The API a generation answers in.
enum class Shape { kCompletions, kChat, kAnthropic, kResponses };

class Response {
 public:
  Response(GenerationPlan plan, Shape shape, std::string model, ojson echo = {})
      : plan(std::move(plan)), shape_(shape), chat_(shape != Shape::kCompletions), model_(std::move(model)),
        id_(shape == Shape::kAnthropic ? anthropic::random_message_id()
            : shape == Shape::kResponses ? random_id("resp_")
            : random_id(shape == Shape::kChat ? "chatcmpl-" : "cmpl-")),
        created_(unix_now()), echo_(std::move(echo)) {
    const size_t n = this->plan.prompts.size() * size_t(this->plan.n);
    texts_.resize(n);
    logprobs_.assign(n, json::array());
    reasons_.resize(n);
    started_.assign(n, false);
    parsed_.resize(n);
    calls_sent_.assign(n, 0);
    stop_sequences_.resize(n);
    if (chat_ && this->plan.output) {
      chat::OutputParserOptions options;
      for (const auto& [name, schema] : this->plan.tool_schemas) options.parameter_schemas.emplace(name, schema);
      for (size_t c = 0; c < n; ++c)
        parsers_.push_back(std::make_unique<chat::OutputParser>(*this->plan.output, this->plan.tool_names,
                                                                this->plan.starts_in_reasoning, options));
    }
  }

  const GenerationPlan plan;

  bool all_finished() const { return finished_ == texts_.size(); }
  const std::string& id() const { return id_; }
  // The token counts of the choices finished so far (what the usage field reports).
  void usage_into(int64_t& prompt, int64_t& cached, int64_t& completion) const {
    prompt = prompt_tokens_;
    cached = cached_tokens_;
    completion = completion_tokens_;
  }

  // Takes one event; returns the SSE text it produces when streaming ("" otherwise).
  std::string add(ChoiceEvent& ev) {
    const auto c = size_t(ev.choice);
    if (ev.finished) {
      ++finished_;
      reasons_[c] = ev.finish.reason == engine::FinishReason::kError ? "error" : finish_reason_text(ev.finish.reason);
      prompt_tokens_ += ev.finish.prompt_tokens;
      completion_tokens_ += ev.finish.completion_tokens;
      cached_tokens_ += ev.finish.cached_tokens;
    }
    // A chat answer read by its model's output parser: content, reasoning and tool calls apart.
    chat::OutputDelta parsed;
    if (!parsers_.empty()) {
      parsed = parsers_[c]->feed(ev.text);
      if (ev.finished) {
        chat::OutputDelta rest = parsers_[c]->finish();
        parsed.content += rest.content;
        parsed.reasoning += rest.reasoning;
        for (auto& call : rest.calls) parsed.calls.push_back(std::move(call));
      }
      if (ev.finished && reasons_[c] == "stop" && (calls_sent_[c] > 0 || !parsed.calls.empty() ||
                                                   !parsed_[c].calls.empty()))
        reasons_[c] = "tool_calls";
    }
    if (ev.finished) stop_sequences_[c] = ev.stop_sequence;
    if (shape_ == Shape::kAnthropic || shape_ == Shape::kResponses) {
      parsed_[c].content += parsed.content;
      parsed_[c].reasoning += parsed.reasoning;
      for (const auto& call : parsed.calls) parsed_[c].calls.push_back(call);
      if (!plan.stream) return {};
      std::string out = stream_head();
      if (shape_ == Shape::kAnthropic) {
        out += anthropic_stream_->add(parsed);
        if (ev.finished) out += anthropic_stream_->finish(reasons_[c], ev.stop_sequence, anthropic_usage());
      } else {
        out += responses_stream_->add(parsed);
        if (ev.finished) out += responses_stream_->finish(reasons_[c], responses_usage());
      }
      return out;
    }
    if (!plan.stream) {
      texts_[c] += ev.text;
      for (auto& e : ev.logprobs) logprobs_[c].push_back(std::move(e));
      if (!parsers_.empty()) {
        parsed_[c].content += parsed.content;
        parsed_[c].reasoning += parsed.reasoning;
        for (auto& call : parsed.calls) parsed_[c].calls.push_back(std::move(call));
      }
      return {};
    }
    std::string out;
    auto emit = [&](json chunk) {
      if (plan.include_usage) chunk["usage"] = nullptr;
      out += "data: " + dump(chunk) + "\n\n";
    };
    if (chat_) {
      if (!started_[c]) {
        started_[c] = true;
        emit(chunk({{"index", ev.choice}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                    {"finish_reason", nullptr}}));
      }
      const std::string& content = parsers_.empty() ? ev.text : parsed.content;
      if (!parsed.reasoning.empty())
        emit(chunk({{"index", ev.choice},
                    {"delta", {{"reasoning_content", parsed.reasoning}, {"reasoning", parsed.reasoning}}},
                    {"logprobs", nullptr}, {"finish_reason", nullptr}}));
      if (!content.empty() || !ev.logprobs.empty()) {
        json choice = {{"index", ev.choice}, {"delta", {{"content", content}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
        if (plan.top_logprobs >= 0) choice["logprobs"] = {{"content", ev.logprobs}};
        emit(chunk(choice));
      }
      // OpenAI's tool-call deltas: the call's index, id, type and name first, then its arguments.
      for (const chat::ToolCall& call : parsed.calls) {
        const int index = calls_sent_[c]++;
        emit(chunk({{"index", ev.choice},
                    {"delta", {{"tool_calls", json::array({{{"index", index}, {"id", call.id}, {"type", "function"},
                                                            {"function", {{"name", call.name}, {"arguments", ""}}}}})}}},
                    {"logprobs", nullptr}, {"finish_reason", nullptr}}));
        emit(chunk({{"index", ev.choice},
                    {"delta", {{"tool_calls", json::array({{{"index", index}, {"function", {{"arguments", call.arguments}}}}})}}},
                    {"logprobs", nullptr}, {"finish_reason", nullptr}}));
      }
      if (ev.finished)
        emit(chunk({{"index", ev.choice}, {"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", reasons_[c]}}));
      return out;
    }
    std::string text = ev.text;
    if (plan.echo && !started_[c]) text = plan.prompts[c / size_t(plan.n)].text + text;
    started_[c] = true;
    if (!text.empty() || !ev.logprobs.empty() || ev.finished) {
      json choice = {{"index", ev.choice}, {"text", text}, {"logprobs", nullptr},
                     {"finish_reason", ev.finished ? json(reasons_[c]) : json(nullptr)}};
      if (plan.top_logprobs >= 0) choice["logprobs"] = completion_logprobs(ev.logprobs, texts_[c].size());
      texts_[c] += text;
      emit(chunk(choice));
    }
    return out;
  }

  // What a stream opens with, once (Anthropic's message_start; nothing for OpenAI's chunks).
  std::string stream_head() {
    if (head_sent_) return {};
    head_sent_ = true;
    if (shape_ == Shape::kAnthropic) {
      anthropic_stream_ = std::make_unique<anthropic::MessageStream>(id_, model_, prompt_tokens_of_plan());
      return anthropic_stream_->start();
    }
    if (shape_ == Shape::kResponses) {
      responses_stream_ = std::make_unique<responses::ResponseStream>(id_, created_, model_, echo_);
      return responses_stream_->start();
    }
    return {};
  }

  // After the last event when streaming: the usage chunk when asked, and [DONE].
  std::string stream_tail() const {
    if (shape_ == Shape::kAnthropic || shape_ == Shape::kResponses) return {};
    std::string out;
    if (plan.include_usage) {
      json c = base();
      c["choices"] = json::array();
      c["usage"] = usage();
      out += "data: " + dump(c) + "\n\n";
    }
    return out + "data: [DONE]\n\n";
  }

  // The whole response when not streaming.
  std::string body() const {
    if (shape_ == Shape::kAnthropic)
      return dump(anthropic::message(id_, model_, parsed_[0].reasoning, parsed_[0].content, parsed_[0].calls,
                                     reasons_[0], stop_sequences_[0], anthropic_usage()));
    if (shape_ == Shape::kResponses)
      return responses::dump(responses::response_object(id_, created_, model_, echo_, parsed_[0].reasoning,
                                                        parsed_[0].content, parsed_[0].calls, reasons_[0],
                                                        responses_usage()));
    json choices = json::array();
    for (size_t c = 0; c < texts_.size(); ++c) {
      if (chat_) {
        json message = {{"role", "assistant"}, {"content", texts_[c]}};
        if (!parsers_.empty()) {
          const chat::OutputDelta& p = parsed_[c];
          message["content"] = p.content.empty() && !p.calls.empty() ? json(nullptr) : json(p.content);
          if (!p.reasoning.empty()) {
            message["reasoning_content"] = p.reasoning;
            message["reasoning"] = p.reasoning;
          }
          if (!p.calls.empty()) {
            json calls = json::array();
            for (const chat::ToolCall& call : p.calls)
              calls.push_back({{"id", call.id}, {"type", "function"},
                               {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
            message["tool_calls"] = calls;
          }
        }
        json choice = {{"index", c}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", reasons_[c]}};
        if (plan.top_logprobs >= 0) choice["logprobs"] = {{"content", logprobs_[c]}};
        choices.push_back(choice);
      } else {
        std::string text = texts_[c];
        if (plan.echo) text = plan.prompts[c / size_t(plan.n)].text + text;
        json choice = {{"index", c}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", reasons_[c]}};
        if (plan.top_logprobs >= 0) choice["logprobs"] = completion_logprobs(logprobs_[c], 0);
        choices.push_back(choice);
      }
    }
    json r = base();
    r["object"] = chat_ ? "chat.completion" : "text_completion";
    r["choices"] = choices;
    r["usage"] = usage();
    return dump(r);
  }

 private:
  json base() const {
    return {{"id", id_}, {"object", chat_ ? "chat.completion.chunk" : "text_completion"}, {"created", created_},
            {"model", model_}};
  }
  json chunk(const json& choice) const {
    json c = base();
    c["choices"] = json::array({choice});
    return c;
  }
  json usage() const {
    return {{"prompt_tokens", prompt_tokens_}, {"completion_tokens", completion_tokens_},
            {"total_tokens", prompt_tokens_ + completion_tokens_},
            {"prompt_tokens_details", {{"cached_tokens", cached_tokens_}}}};
  }
  // Completions' logprobs: parallel arrays, offsets into the choice's text.
  static json completion_logprobs(const json& raw, size_t text_offset) {
    json lp = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
               {"text_offset", json::array()}};
    size_t offset = text_offset;
    for (const auto& r : raw) {
      lp["tokens"].push_back(r["token"]);
      lp["token_logprobs"].push_back(r["logprob"]);
      lp["top_logprobs"].push_back(r["top"]);
      lp["text_offset"].push_back(offset);
      offset += r["token"].get<std::string>().size();
    }
    return lp;
  }

  int64_t prompt_tokens_of_plan() const { return plan.prompts.empty() ? 0 : int64_t(plan.prompts[0].tokens.size()); }
  anthropic::Usage anthropic_usage() const {
    return {prompt_tokens_ ? prompt_tokens_ : prompt_tokens_of_plan(), completion_tokens_, cached_tokens_};
  }

  responses::Usage responses_usage() const {
    responses::Usage u;
    u.input_tokens = prompt_tokens_ ? prompt_tokens_ : prompt_tokens_of_plan();
    u.output_tokens = completion_tokens_;
    u.cached_tokens = cached_tokens_;
    return u;
  }

  Shape shape_;
  bool chat_;
  std::string model_;
  std::string id_;
  int64_t created_;
  std::vector<std::string> texts_;
  std::vector<json> logprobs_;
  std::vector<std::string> reasons_;
  std::vector<bool> started_;
  std::vector<std::unique_ptr<chat::OutputParser>> parsers_;  // [choice], chat answers with an output format
  std::vector<chat::OutputDelta> parsed_;                      // [choice], the parsed answer (not streaming)
  std::vector<int> calls_sent_;                                // [choice], tool calls streamed so far
  std::vector<std::string> stop_sequences_;                    // [choice], the stop string that ended it
  ojson echo_;                                                 // the Responses API's echoed request fields
  bool head_sent_ = false;
  std::unique_ptr<anthropic::MessageStream> anthropic_stream_;
  std::unique_ptr<responses::ResponseStream> responses_stream_;
  size_t finished_ = 0;
  int64_t prompt_tokens_ = 0, completion_tokens_ = 0, cached_tokens_ = 0;
};

}  // namespace

// The model a request runs on: what the API layer needs of it, and its engine (both held by the
// request's lease).
struct Served {
  const ModelContext& model;
  engine::Engine* engine = nullptr;
};

struct Server::Impl {
  ServerOptions options;
  // The models, set once before ready; the first is the default. Declared before io: a request
  // torn down with io (at destruction) gives its lease back to a pool that still exists.
  std::shared_ptr<ModelPool> pool;
  asio::io_context io{1};
  // io.run() must not return when the last connection closes: only the shutdown path stops it.
  asio::executor_work_guard<asio::io_context::executor_type> keep_running = asio::make_work_guard(io);
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io};  // SIGINT and SIGTERM, when options.handle_signals
  std::thread io_thread;
  std::thread drain_thread;
  std::atomic<bool> ready{false};
  std::atomic<bool> shutting_down{false};
  std::atomic<int> active_generations{0};
  // The key and usage store's reads and writes for /v1/usage and /admin/* run here, so that a slow
  // disk or a PostgreSQL server that stopped answering holds those requests, not the io thread.
  asio::thread_pool store_calls{1};
  // A request holds a lease on its model while it runs; one that must wait for a load waits on
  // model_loads, not the io thread. Waiting for room can take up to the request timeout, so there
  // are enough threads that such waits do not hold up a model that would load at once.
  asio::thread_pool model_loads{16};
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;

  // --- plumbing -----------------------------------------------------------------------------

  http::response<http::string_body> make_response(const Request& req, http::status status, std::string body,
                                                  const char* content_type = "application/json") {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "hearth");
    res.set(http::field::content_type, content_type);
    add_cors(req, res);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  template <class Res>
  void add_cors(const Request& req, Res& res) {
    if (options.cors_origins.empty()) return;
    const std::string origin(req[http::field::origin]);
    for (const std::string& allowed : options.cors_origins)
      if (allowed == "*" || allowed == origin) {
        res.set(http::field::access_control_allow_origin, allowed == "*" ? "*" : origin);
        res.set(http::field::vary, "Origin");
        return;
      }
  }

  http::response<http::string_body> error_response(const Request& req, const ApiError& e) {
    // Anthropic's routes answer in Anthropic's error shape, so its SDK raises its own classes.
    const bool anthropic_route = req.target().starts_with("/v1/messages");
    auto res = make_response(req, static_cast<http::status>(e.status),
                             dump(anthropic_route ? anthropic::error_body(e) : e.body()));
    if (e.retry_after > 0) res.set(http::field::retry_after, std::to_string(e.retry_after));
    return res;
  }

  // Runs `fn` (which may block on the store) on store_calls; the coroutine resumes on the io
  // thread with its answer.
  template <class Fn>
  awaitable<http::response<http::string_body>> off_io(Fn fn) {
    co_return co_await asio::co_spawn(
        store_calls, [&fn]() -> awaitable<http::response<http::string_body>> { co_return fn(); }, use_awaitable);
  }

  // Waits on model_loads for model i to load (making room within the budget), at most the request
  // timeout; the coroutine resumes on the io thread with the lease or why there is none.
  awaitable<Result<ModelPool::Lease>> acquire_model(size_t i) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(options.request_timeout_s * 1000));
    // A shared_ptr carries the move-only answer through co_spawn's completion.
    auto answer = co_await asio::co_spawn(
        model_loads,
        [this, i, deadline]() -> awaitable<std::shared_ptr<Result<ModelPool::Lease>>> {
          co_return std::make_shared<Result<ModelPool::Lease>>(pool->acquire(i, deadline));
        },
        use_awaitable);
    co_return std::move(*answer);
  }

  // OpenAI's x-ratelimit-* headers, for a named key with per-minute limits.
  template <class Res>
  void add_rate_headers(Res& res, const tenants::Caller* caller) {
    if (!caller || !options.tenancy) return;
    const tenants::RateHeaders h = options.tenancy->headers(*caller);
    if (h.has_requests) {
      res.set("x-ratelimit-limit-requests", std::to_string(h.limit_requests));
      res.set("x-ratelimit-remaining-requests", std::to_string(h.remaining_requests));
      res.set("x-ratelimit-reset-requests", tenants::reset_text(h.reset_requests_s));
    }
    if (h.has_tokens) {
      res.set("x-ratelimit-limit-tokens", std::to_string(h.limit_tokens));
      res.set("x-ratelimit-remaining-tokens", std::to_string(h.remaining_tokens));
      res.set("x-ratelimit-reset-tokens", tenants::reset_text(h.reset_tokens_s));
    }
  }

  http::response<http::string_body> rate_limited(const Request& req, const tenants::Caller& caller,
                                                 const tenants::Refusal& r) {
    ApiError e = api_error(429, r.message, r.type, "rate_limit_exceeded");
    e.retry_after = static_cast<int>(std::min<int64_t>(r.retry_after, 86400));
    auto res = error_response(req, e);
    add_rate_headers(res, &caller);
    return res;
  }

  // The hours a usage query covers: ?from=YYYY-MM-DD&to=YYYY-MM-DD (both days included).
  static std::optional<ApiError> usage_range(const std::map<std::string, std::string>& params, int64_t& from, int64_t& to) {
    from = 0;
    to = int64_t{1} << 40;
    for (const char* name : {"from", "to"}) {
      auto it = params.find(name);
      if (it == params.end()) continue;
      const std::optional<int64_t> h = tenants::day_start_hour(it->second);
      if (!h) return bad_request(fmt::format("'{}' must be a date, YYYY-MM-DD (UTC)", name), name);
      (std::string_view(name) == "from" ? from : to) = std::string_view(name) == "from" ? *h : *h + 24;
    }
    return std::nullopt;
  }

  http::response<http::string_body> usage_response(const Request& req, const std::string& key_name) {
    const auto params = query_params(req.target());
    int64_t from = 0, to = 0;
    if (auto e = usage_range(params, from, to)) return error_response(req, *e);
    const auto format = params.find("format");
    const bool csv = format != params.end() && format->second == "csv";
    if (format != params.end() && !csv && format->second != "json")
      return error_response(req, bad_request("'format' is json or csv", "format"));
    auto rows = options.tenancy->usage(key_name, from, to);
    if (!rows) return error_response(req, api_error(503, "usage cannot be read now: " + rows.error().message, "server_error"));
    if (csv) return make_response(req, http::status::ok, tenants::usage_csv(*rows), "text/csv; charset=utf-8");
    return make_response(req, http::status::ok, dump(tenants::usage_json(*rows)));
  }

  // GET /v1/usage: what the calling key used.
  http::response<http::string_body> own_usage(const Request& req, const std::optional<tenants::Caller>& caller) {
    if (!options.tenancy)
      return error_response(req, api_error(404, "usage is recorded when the server runs with --db", "invalid_request_error", "not_found"));
    if (!caller)
      return error_response(req, bad_request("usage is kept per named key (hearth keys create); this request used a --api-key"));
    return usage_response(req, caller->key_name);
  }

  // /admin/keys (GET list, POST create), /admin/keys/NAME (GET, POST to change limits, DELETE to
  // revoke), /admin/usage (GET, ?key=NAME&from=&to=&format=json|csv). Guarded by --admin-key.
  http::response<http::string_body> admin_route(const Request& req, const std::string& path, const std::string& given) {
    if (options.admin_keys.empty())
      return error_response(req, api_error(404, "the admin routes are off: start the server with --admin-key",
                                           "invalid_request_error", "not_found"));
    if (given.empty() || !key_matches(given, options.admin_keys))
      return error_response(req, api_error(401, "this route needs the admin key (--admin-key)", "invalid_request_error",
                                           "invalid_api_key"));
    if (!options.tenancy)
      return error_response(req, bad_request("keys and usage need a store: start the server with --db PATH"));
    tenants::Store& store = options.tenancy->store();
    const auto method = req.method();
    if (path == "/admin/usage") {
      if (method != http::verb::get) return method_not_allowed(req);
      const auto params = query_params(req.target());
      const auto key = params.find("key");
      return usage_response(req, key == params.end() ? std::string() : key->second);
    }
    if (path == "/admin/keys" && method == http::verb::get) {
      auto keys = store.list_keys();
      if (!keys) return error_response(req, api_error(503, keys.error().message, "server_error"));
      json data = json::array();
      for (const auto& k : *keys) data.push_back(key_json(k));
      return make_response(req, http::status::ok, dump({{"object", "list"}, {"data", data}}));
    }
    if (path == "/admin/keys" && method == http::verb::post) {
      ApiResult<ojson> parsed = parse_json_body(req.body());
      if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(req, *e);
      const ojson& body = std::get<ojson>(parsed);
      tenants::KeyLimitsPatch given;
      if (auto e = read_limits(body, given, true)) return error_response(req, *e);
      const tenants::KeyLimits limits = tenants::patched({}, given);
      if (!body.contains("name") || !body["name"].is_string()) return error_response(req, bad_request("'name' is required", "name"));
      const tenants::NewSecret secret = tenants::make_secret();
      auto created = store.create_key(body["name"].get<std::string>(), limits, secret, unix_now());
      if (!created) return error_response(req, bad_request(created.error().message, "name"));
      options.tenancy->reload_keys();
      json out = key_json(*created);
      out["secret"] = secret.secret;  // shown this once
      return make_response(req, http::status::created, dump(out));
    }
    if (path.rfind("/admin/keys/", 0) == 0) {
      const std::string name = path.substr(std::string("/admin/keys/").size());
      if (Status st = tenants::check_key_name(name); !st) return error_response(req, bad_request(st.message()));
      auto keys = store.list_keys();
      if (!keys) return error_response(req, api_error(503, keys.error().message, "server_error"));
      const tenants::KeyRecord* found = nullptr;
      for (const auto& k : *keys)
        if (k.name == name) found = &k;
      if (!found) return not_found(req, path);
      if (method == http::verb::get) return make_response(req, http::status::ok, dump(key_json(*found)));
      if (method == http::verb::delete_) {
        if (Status st = store.revoke_key(name, unix_now()); !st) return error_response(req, bad_request(st.message()));
        options.tenancy->reload_keys();
        return make_response(req, http::status::ok, dump({{"name", name}, {"revoked", true}}));
      }
      if (method == http::verb::post || method == http::verb::patch) {
        ApiResult<ojson> parsed = parse_json_body(req.body());
        if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(req, *e);
        tenants::KeyLimitsPatch patch;
        if (auto e = read_limits(std::get<ojson>(parsed), patch, false)) return error_response(req, *e);
        if (Status st = store.update_key(name, patch); !st) return error_response(req, bad_request(st.message()));
        options.tenancy->reload_keys();
        tenants::KeyRecord updated = *found;  // as read, with this update (another made meanwhile is not shown)
        updated.limits = tenants::patched(found->limits, patch);
        return make_response(req, http::status::ok, dump(key_json(updated)));
      }
      return method_not_allowed(req);
    }
    if (path == "/admin/keys") return method_not_allowed(req);
    return not_found(req, path);
  }

  // send(), noting the status in the request's log line.
  static awaitable<bool> send(beast::tcp_stream& stream, RequestLog& log, http::response<http::string_body> res,
                              bool keep_alive) {
    log.status = res.result_int();
    co_return co_await send(stream, std::move(res), keep_alive);
  }

  static awaitable<bool> send(beast::tcp_stream& stream, http::response<http::string_body> res, bool keep_alive) {
    res.keep_alive(keep_alive);
    beast::error_code ec;
    stream.expires_after(std::chrono::seconds(30));
    co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    stream.expires_never();
    co_return !ec && keep_alive;
  }

  // --- accept loop and sessions ---------------------------------------------------------------

  awaitable<void> accept_loop() {
    while (acceptor.is_open()) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
        continue;  // e.g. too many open files: keep serving the connections we have
      }
      asio::co_spawn(io, session(std::move(socket)), asio::detached);
    }
  }

  awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(options.max_body_bytes);
      stream.expires_after(std::chrono::seconds(60));  // idle keep-alive and slow senders
      beast::error_code ec;
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
        break;
      if (ec) {
        Request dummy;
        dummy.version(11);
        ApiError e = ec == http::error::body_limit
                         ? api_error(413, fmt::format("the request body is larger than {} bytes", options.max_body_bytes),
                                     "invalid_request_error", "request_too_large")
                     : ec == http::error::header_limit
                         ? api_error(431, "the request headers are too large")
                         : bad_request(fmt::format("malformed HTTP request: {}", ec.message()));
        co_await send(stream, error_response(dummy, e), false);
        co_await discard_rest(stream);
        break;
      }
      stream.expires_never();
      Request req = parser.release();
      const bool keep = co_await handle(stream, req);
      if (!keep) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // After refusing a request whose body we did not read, read (and drop) what the client is still
  // sending for a while, so it sees our answer instead of a connection reset.
  static awaitable<void> discard_rest(beast::tcp_stream& stream) {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    std::array<char, 64 * 1024> sink;
    uint64_t total = 0;
    stream.expires_after(std::chrono::seconds(10));
    while (!ec && total < (uint64_t{1} << 30)) {
      const size_t n = co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(use_awaitable, ec));
      total += n;
    }
  }

  // --- routing ------------------------------------------------------------------------------

  awaitable<bool> handle(beast::tcp_stream& stream, Request& req) {
    const bool keep = req.keep_alive() && !shutting_down;
    std::string path(req.target());
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    RequestLog rlog;  // written for API routes only (below)
    const auto method = req.method();

    if (method == http::verb::options && !options.cors_origins.empty()) {
      auto res = make_response(req, http::status::no_content, "");
      res.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
      res.set(http::field::access_control_allow_headers, "Authorization, Content-Type, x-api-key, anthropic-version");
      res.set(http::field::access_control_max_age, "600");
      co_return co_await send(stream, rlog, std::move(res), keep);
    }
    if (path == "/health") {
      if (method != http::verb::get) co_return co_await send(stream, rlog, method_not_allowed(req), keep);
      const bool ok = ready && !shutting_down;
      json status = {{"status", ok ? "ok" : "loading"}};
      if (options.tenancy) {
        // Serving goes on when usage cannot be written; the operator reads why here.
        const tenants::MeterHealth h = options.tenancy->health();
        status["metering"] = h.degraded ? "degraded" : "ok";
        if (h.degraded) status["metering_error"] = h.last_error;
      }
      co_return co_await send(stream, rlog, make_response(req, ok ? http::status::ok : http::status::service_unavailable,
                                                    dump(status)),
                              keep);
    }
    if (path == "/metrics") {
      if (method != http::verb::get) co_return co_await send(stream, rlog, method_not_allowed(req), keep);
      std::vector<ModelMetrics> all;
      if (ready)
        pool->for_each_loaded([&](const ModelContext& m, engine::Engine& e) { all.push_back({m.name, e.metrics()}); });
      if (all.empty()) all.push_back({});
      std::string text = render_metrics(all, ready.load());
      if (ready) text += pool_metrics(*pool);
      if (options.kv_events)
        text += fmt::format(
            "# HELP hearth_kv_events_batches_total KV-cache event batches published.\n"
            "# TYPE hearth_kv_events_batches_total counter\nhearth_kv_events_batches_total {}\n"
            "# HELP hearth_kv_events_dropped_total KV-cache event batches dropped (the sender fell behind).\n"
            "# TYPE hearth_kv_events_dropped_total counter\nhearth_kv_events_dropped_total {}\n",
            options.kv_events->batches_sent(), options.kv_events->batches_dropped());
      if (options.tenancy) text += metering_metrics(options.tenancy->health(), options.tenancy->key_totals());
      co_return co_await send(stream, rlog, make_response(req, http::status::ok, text, "text/plain; version=0.0.4; charset=utf-8"),
                              keep);
    }
    const bool rerank_path = path == "/v1/rerank" || path == "/rerank" || path == "/v1/reranking" || path == "/reranking";
    const bool admin = path.rfind("/admin/", 0) == 0;
    const bool api = path.rfind("/v1/", 0) == 0 || path == "/tokenize" || path == "/detokenize" ||
                     path == "/apply-template" || rerank_path || admin;
    if (!api && path == "/" && method == http::verb::head && !options.web_ui)
      co_return co_await send(stream, rlog, make_response(req, http::status::ok, ""), keep);  // a client's liveness probe
    if (!api) {
      // The pages carry no secret (the API key stays in the browser), so they need none.
      const WebAsset* asset = options.web_ui ? find_web_asset(path == "/index.html" ? "/" : path) : nullptr;
      if (!asset) co_return co_await send(stream, rlog, not_found(req, path), keep);
      if (method != http::verb::get && method != http::verb::head)
        co_return co_await send(stream, rlog, method_not_allowed(req), keep);
      co_return co_await send(stream, rlog, web_response(req, *asset), keep);
    }
    rlog.on = options.log_requests;
    rlog.route = path;
    if (rlog.on) rlog.id = random_id("req-");
    const std::string given = presented_key(req);
    if (admin) co_return co_await send(stream, rlog, co_await off_io([&] { return admin_route(req, path, given); }), keep);
    // Who is calling: nobody asked (no keys configured), a --api-key (no limits), or a named key.
    std::optional<tenants::Caller> caller;
    if (!options.api_keys.empty() || options.tenancy) {
      bool ok = !given.empty() && key_matches(given, options.api_keys);
      std::string why = "Incorrect or missing API key (send 'Authorization: Bearer KEY' or 'x-api-key: KEY').";
      if (!ok && options.tenancy && !given.empty()) {
        auto found = options.tenancy->authenticate(given);
        if (auto* c = std::get_if<tenants::Caller>(&found)) {
          caller = std::move(*c);
          rlog.key = caller->key_name;
          ok = true;
        } else {
          why = std::get<tenants::Rejected>(found).message;
        }
      }
      if (!ok)
        co_return co_await send(stream, rlog, error_response(req, api_error(401, why, "invalid_request_error", "invalid_api_key")),
                                keep);
    }
    if (path == "/v1/usage") {
      if (method != http::verb::get) co_return co_await send(stream, rlog, method_not_allowed(req), keep);
      co_return co_await send(stream, rlog, co_await off_io([&] { return own_usage(req, caller); }), keep);
    }
    if (!ready || shutting_down) {
      ApiError e = api_error(503, shutting_down ? std::string("the server is shutting down")
                                                : std::string("the model is still loading"),
                             "server_error");
      e.retry_after = 1;
      co_return co_await send(stream, rlog, error_response(req, e), keep);
    }

    if (path == "/v1/models" || path.rfind("/v1/models/", 0) == 0) {
      if (method != http::verb::get) co_return co_await send(stream, rlog, method_not_allowed(req), keep);
      co_return co_await send(stream, rlog, models(req, path, caller), keep);
    }
    const bool known_post = path == "/v1/chat/completions" || path == "/v1/completions" || path == "/tokenize" ||
                            path == "/detokenize" || path == "/apply-template" || path == "/v1/embeddings" ||
                            path == "/v1/messages" || path == "/v1/messages/count_tokens" || path == "/v1/responses" ||
                            rerank_path;
    if (!known_post) co_return co_await send(stream, rlog, not_found(req, path), keep);
    if (method != http::verb::post) co_return co_await send(stream, rlog, method_not_allowed(req), keep);

    ApiResult<ojson> parsed = parse_json_body(req.body());
    if (auto* e = std::get_if<ApiError>(&parsed)) co_return co_await send(stream, rlog, error_response(req, *e), keep);
    const ojson& body = std::get<ojson>(parsed);
    // The request's "model" picks one of the served models (none given: the first).
    size_t chosen = pool->size();
    for (size_t i = 0; i < pool->size() && chosen == pool->size(); ++i)
      if (!check_model(body, pool->naming(i))) chosen = i;
    if (chosen == pool->size()) {
      std::optional<ApiError> e = check_model(body, pool->naming(0));
      if (e->code == "model_not_found" && pool->size() > 1) {
        std::vector<std::string> names;
        for (size_t i = 0; i < pool->size(); ++i) names.push_back("'" + pool->entry(i).name + "'");
        e->message = fmt::format("The model '{}' does not exist. This server serves {}.",
                                 body["model"].get<std::string>(), fmt::join(names, ", "));
      }
      co_return co_await send(stream, rlog, error_response(req, *e), keep);
    }
    const std::string& model_name = pool->entry(chosen).name;
    rlog.model = model_name;
    if (caller && !tenants::Tenancy::allows_model(*caller, model_name))
      co_return co_await send(stream, rlog,
                              error_response(req, api_error(403, fmt::format("The API key '{}' may not use the model '{}'.",
                                                                             caller->key_name, model_name),
                                                            "permission_error", "model_not_allowed")),
                              keep);
    // The model loads now if it must (the client waits, as Ollama's do); the lease keeps it loaded
    // until this request is answered.
    ModelPool::Lease lease;
    if (std::optional<ModelPool::Lease> ready_now = pool->try_acquire(chosen)) {
      lease = std::move(*ready_now);
    } else {
      Result<ModelPool::Lease> waited = co_await acquire_model(chosen);
      if (!waited.ok()) {
        ApiError e = api_error(503, waited.error().message, "server_error", "model_unavailable");
        e.retry_after = 1;
        co_return co_await send(stream, rlog, error_response(req, e), keep);
      }
      lease = std::move(*waited);
    }
    const Served s{lease.context(), &lease.engine()};
    const tenants::Caller* who = caller ? &*caller : nullptr;

    if (path == "/tokenize") co_return co_await send(stream, rlog, tokenize(s, req, body), keep);
    if (path == "/detokenize") co_return co_await send(stream, rlog, detokenize(s, req, body), keep);
    if (path == "/apply-template") co_return co_await send(stream, rlog, apply_template(s, req, body), keep);
    if (path == "/v1/embeddings") co_return co_await embeddings(s, stream, req, body, who, rlog);
    if (rerank_path) co_return co_await rerank(s, stream, req, body, who, rlog);
    if (path == "/v1/messages/count_tokens") co_return co_await send(stream, rlog, count_tokens(s, req, body), keep);
    const Shape shape = path == "/v1/chat/completions" ? Shape::kChat
                        : path == "/v1/messages"       ? Shape::kAnthropic
                        : path == "/v1/responses"      ? Shape::kResponses
                                                       : Shape::kCompletions;
    co_return co_await generate(s, stream, req, body, shape, who, rlog);
  }

  // Anthropic's /v1/messages/count_tokens: the prompt's tokens as the chat template renders it.
  http::response<http::string_body> count_tokens(const Served& s, const Request& req, const ojson& body) {
    auto translated = anthropic::to_chat_request_for_count(body);
    if (auto* e = std::get_if<ApiError>(&translated)) return error_response(req, *e);
    auto plan = parse_chat_request(std::get<anthropic::Translated>(translated).chat_body, s.model);
    if (auto* e = std::get_if<ApiError>(&plan)) return error_response(req, *e);
    const auto n = static_cast<int64_t>(std::get<GenerationPlan>(plan).prompts[0].tokens.size());
    return make_response(req, http::status::ok, dump(anthropic::count_tokens_body(n)));
  }

  http::response<http::string_body> models(const Request& req, const std::string& path,
                                           const std::optional<tenants::Caller>& caller) {
    const auto visible = [&](size_t i) { return !caller || tenants::Tenancy::allows_model(*caller, pool->entry(i).name); };
    // vLLM's card, and whether the model is loaded now (a model not loaded yet has no known length).
    const auto card = [this](size_t i) {
      const std::string& name = pool->entry(i).name;
      const ModelPool::ModelState st = pool->state(i);
      return json{{"id", name},   {"object", "model"},  {"created", unix_now()},
                  {"owned_by", "hearth"}, {"root", name}, {"parent", nullptr},
                  {"max_model_len", st.max_context > 0 ? json(st.max_context) : json(nullptr)},
                  {"loaded", st.loaded}};
    };
    if (path == "/v1/models") {
      json data = json::array();
      for (size_t i = 0; i < pool->size(); ++i)
        if (visible(i)) data.push_back(card(i));
      return make_response(req, http::status::ok, dump({{"object", "list"}, {"data", data}}));
    }
    const std::string id = path.substr(std::string("/v1/models/").size());
    for (size_t i = 0; i < pool->size(); ++i)
      if (pool->entry(i).name == id && visible(i)) return make_response(req, http::status::ok, dump(card(i)));
    return not_found(req, path);
  }

  http::response<http::string_body> not_found(const Request& req, const std::string& path) {
    return error_response(req, api_error(404, fmt::format("no route for {} {}", std::string(req.method_string()), path),
                                         "invalid_request_error", "not_found"));
  }
  http::response<http::string_body> method_not_allowed(const Request& req) {
    return error_response(req, api_error(405, "method not allowed"));
  }

  // llama-server's /apply-template: the prompt a chat request renders to, without generating.
  http::response<http::string_body> apply_template(const Served& s, const Request& req, const ojson& body) {
    const ModelContext& model = s.model;
    if (!model.generates)
      return error_response(req, bad_request("this model is an encoder: it has no chat template to apply"));
    if (auto e = check_model(body, model)) return error_response(req, *e);
    auto plan = parse_chat_request(body, model);
    if (auto* e = std::get_if<ApiError>(&plan)) return error_response(req, *e);
    return make_response(req, http::status::ok, dump({{"prompt", std::get<GenerationPlan>(plan).prompts[0].text}}));
  }

  // An embedded page or asset. The policy allows only the server's own scripts, styles and
  // connections, so model output that slips into the page as markup still cannot run or load
  // anything (the page itself renders it as text; see web/markdown.js).
  http::response<http::string_body> web_response(const Request& req, const WebAsset& asset) {
    const std::string type = asset.content_type.rfind("text/", 0) == 0 ? std::string(asset.content_type) + "; charset=utf-8"
                                                                      : std::string(asset.content_type);
    auto res = make_response(req, http::status::ok, std::string(asset.body), type.c_str());
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set(http::field::cache_control, "no-cache");
    if (req.method() == http::verb::head) {
      res.body().clear();
      res.content_length(asset.body.size());
    }
    return res;
  }

  http::response<http::string_body> tokenize(const Served& s, const Request& req, const ojson& body) {
    const ModelContext& model = s.model;
    std::vector<int32_t> ids;
    if (body.contains("messages")) {
      auto plan = parse_chat_request(body, model);
      if (auto* e = std::get_if<ApiError>(&plan)) return error_response(req, *e);
      ids = std::get<GenerationPlan>(plan).prompts[0].tokens;
    } else {
      auto it = body.find("prompt");
      if (it == body.end() || !it->is_string()) return error_response(req, bad_request("'prompt' must be a string", "prompt"));
      bool add_special = true;
      if (auto a = body.find("add_special_tokens"); a != body.end()) {
        if (!a->is_boolean()) return error_response(req, bad_request("'add_special_tokens' must be a boolean", "add_special_tokens"));
        add_special = a->get<bool>();
      }
      ids = model.tokenizer->encode(it->get<std::string>(), add_special, /*parse_special=*/true);
    }
    json out = {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", model.max_context}};
    return make_response(req, http::status::ok, dump(out));
  }

  http::response<http::string_body> detokenize(const Served& s, const Request& req, const ojson& body) {
    const ModelContext& model = s.model;
    auto it = body.find("tokens");
    if (it == body.end() || !it->is_array()) return error_response(req, bad_request("'tokens' must be an array of token ids", "tokens"));
    std::vector<int32_t> ids;
    for (const auto& v : *it) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= model.n_vocab)
        return error_response(req, bad_request("'tokens' must hold token ids of this model", "tokens"));
      ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    return make_response(req, http::status::ok, dump({{"prompt", model.tokenizer->decode(ids)}}));
  }

  // A request the shutdown path waits for (it lets in-flight responses be written) while it lives.
  struct InFlight {
    std::atomic<int>& n;
    explicit InFlight(std::atomic<int>& count) : n(count) { ++n; }
    ~InFlight() { --n; }
  };

  // Notices a client that goes away while its request waits: a read on the socket completes
  // with an error, and the job's engine requests are cancelled. (Job and EmbedJob alike.)
  template <class J>
  void watch_client(beast::tcp_stream& stream, const std::shared_ptr<J>& job, engine::Engine* engine) {
    stream.socket().async_read_some(asio::buffer(job->read_buffer), [job, engine](beast::error_code ec, size_t) {
      if (!ec || ec == asio::error::operation_aborted) return;
      job->client_gone = true;
      for (uint64_t id : job->engine_ids) engine->cancel(id);
      job->signal.cancel();
    });
  }

  // Why the engine refused a submission, as the client is told: a full queue or shutdown is a 503
  // to retry; a prompt that cannot fit is a 400 naming `param`.
  static ApiError refusal(engine::SubmitError error, std::string too_long, const char* param) {
    ApiError e = error == engine::SubmitError::kQueueFull
                     ? api_error(503, "the server is at capacity: too many requests are waiting", "server_error", "overloaded")
                 : error == engine::SubmitError::kStopped ? api_error(503, "the server is shutting down", "server_error")
                                                          : bad_request(std::move(too_long), param);
    if (e.status == 503) e.retry_after = 1;
    return e;
  }

  // --- generation ---------------------------------------------------------------------------

  // `s` lives as long as the server (coroutines may hold it across suspensions).
  awaitable<bool> generate(const Served& s, beast::tcp_stream& stream, Request& req, const ojson& body, Shape shape,
                           const tenants::Caller* caller, RequestLog& rlog) {
    const ModelContext& model = s.model;
    engine::Engine* engine = s.engine;
    // Anthropic's and the Responses API's requests are translated into a chat request.
    ojson chat_body;
    if (shape == Shape::kAnthropic) {
      auto translated = anthropic::to_chat_request(body);
      if (auto* e = std::get_if<ApiError>(&translated)) co_return co_await send(stream, rlog, error_response(req, *e), req.keep_alive());
      anthropic::Translated& t = std::get<anthropic::Translated>(translated);
      chat_body = std::move(t.chat_body);
      // thinking.budget_tokens, where the model thinks in <think> tags hearth can close.
      if (t.thinking_budget_tokens && model.output_formats.reasoning == chat::ReasoningFormat::kThinkTags)
        chat_body["reasoning_budget"] = *t.thinking_budget_tokens;
    }
    ojson echo;
    if (shape == Shape::kResponses) {
      auto translated = responses::to_chat_request(body);
      if (auto* e = std::get_if<ApiError>(&translated)) co_return co_await send(stream, rlog, error_response(req, *e), req.keep_alive());
      responses::Translated& t = std::get<responses::Translated>(translated);
      chat_body = std::move(t.chat_body);
      echo = std::move(t.echo);
    }
    // Errors about the translated chat request are told in the caller's API's terms.
    auto fail = [&](const ApiError& e) { return shape == Shape::kResponses ? responses::to_responses_error(e) : e; };
    const ojson& request = shape == Shape::kAnthropic || shape == Shape::kResponses ? chat_body : body;
    auto parsed = shape == Shape::kCompletions ? parse_completion_request(request, model) : parse_chat_request(request, model);
    if (auto* e = std::get_if<ApiError>(&parsed)) co_return co_await send(stream, rlog, error_response(req, fail(*e)), req.keep_alive());
    if (shape == Shape::kAnthropic || shape == Shape::kResponses) {
      // These shapes carry content, reasoning and calls apart: always read the answer.
      GenerationPlan& p = std::get<GenerationPlan>(parsed);
      if (!p.output) p.output = chat::OutputFormats{chat::ToolCallFormat::kNone, model.output_formats.reasoning};
    }
    auto lengths = resolve_lengths(std::get<GenerationPlan>(parsed), model);
    if (auto* e = std::get_if<ApiError>(&lengths)) co_return co_await send(stream, rlog, error_response(req, fail(*e)), req.keep_alive());

    auto job = std::make_shared<Job>(stream.get_executor());
    if (caller) {
      const GenerationPlan& p = std::get<GenerationPlan>(parsed);
      int64_t prompt_tokens = 0;
      for (const auto& prompt : p.prompts) prompt_tokens += static_cast<int64_t>(prompt.tokens.size()) * p.n;
      auto admitted = options.tenancy->admit(*caller, model.name, prompt_tokens, static_cast<int>(p.prompts.size()) * p.n);
      if (auto* refused = std::get_if<tenants::Refusal>(&admitted))
        co_return co_await send(stream, rlog, rate_limited(req, *caller, *refused), req.keep_alive());
      job->lease = std::get<std::shared_ptr<tenants::Lease>>(std::move(admitted));
    }
    Response out(std::move(std::get<GenerationPlan>(parsed)), shape, model.name, std::move(echo));
    const GenerationPlan& plan = out.plan;
    rlog.stream = plan.stream;
    rlog.id = out.id();
    if (std::optional<ApiError> e = submit_all(s, *job, plan, std::get<std::vector<int64_t>>(lengths))) {
      // The choices that started were cancelled: they finish (and are metered) on their own.
      if (job->lease) job->lease->unstarted(static_cast<int>(job->choices.size() - job->engine_ids.size()));
      co_return co_await send(stream, rlog, error_response(req, *e), false);
    }
    const InFlight in_flight(active_generations);
    watch_client(stream, job, engine);

    const auto deadline = Clock::now() + std::chrono::milliseconds(int64_t(options.request_timeout_s * 1000));
    bool timed_out = false;
    beast::error_code ec;
    if (plan.stream) {
      const std::string head = sse_head(req, caller) + out.stream_head();
      rlog.status = 200;
      co_await asio::async_write(stream, asio::buffer(head), asio::redirect_error(use_awaitable, ec));
    }
    while (!out.all_finished() && !ec) {
      std::deque<ChoiceEvent> events;
      {
        std::lock_guard lock(job->mutex);
        events.swap(job->events);
      }
      if (events.empty()) {
        if (job->client_gone) break;
        if (Clock::now() >= deadline && !timed_out) {
          timed_out = true;
          // Keep draining for a moment: every choice still reports its finish.
          for (uint64_t eid : job->engine_ids) engine->cancel(eid);
        }
        job->signal.expires_at(timed_out ? Clock::now() + std::chrono::seconds(5) : deadline);
        beast::error_code wait_ec;
        co_await job->signal.async_wait(asio::redirect_error(use_awaitable, wait_ec));
        if (!wait_ec && timed_out) break;  // the engine did not answer the cancel in time
        continue;
      }
      std::string text;
      for (ChoiceEvent& ev : events) {
        if (!rlog.first_token && !ev.text.empty()) rlog.first_token = Clock::now();
        text += out.add(ev);
      }
      if (plan.stream && !timed_out && !text.empty())
        co_await asio::async_write(stream, asio::buffer(text), asio::redirect_error(use_awaitable, ec));
    }
    out.usage_into(rlog.prompt_tokens, rlog.cached_tokens, rlog.completion_tokens);
    if (ec || job->client_gone) {
      rlog.status = 499;
      for (uint64_t eid : job->engine_ids) engine->cancel(eid);
      co_return false;
    }
    if (timed_out) {
      ApiError e = api_error(504, fmt::format("the request did not finish within {} s", options.request_timeout_s),
                             "timeout_error", "timeout");
      if (!plan.stream) co_return co_await send(stream, rlog, error_response(req, e), false);
      rlog.status = 504;
      const std::string tail = shape == Shape::kAnthropic   ? anthropic::error_event(e)
                               : shape == Shape::kResponses ? "event: error\ndata: " + dump(json{{"type", "error"},
                                                                  {"code", "timeout"}, {"message", e.message}}) + "\n\n"
                                                            : "data: " + dump(e.body()) + "\n\ndata: [DONE]\n\n";
      co_await asio::async_write(stream, asio::buffer(tail), asio::redirect_error(use_awaitable, ec));
      co_return false;
    }
    if (plan.stream) {
      const std::string tail = out.stream_tail();
      co_await asio::async_write(stream, asio::buffer(tail), asio::redirect_error(use_awaitable, ec));
      co_return false;
    }
    auto res = make_response(req, http::status::ok, out.body());
    add_rate_headers(res, caller);
    co_return co_await send(stream, rlog, std::move(res), false);
  }

  // --- embeddings and reranking ---------------------------------------------------------------

  // What run_pooled() gives back: the vectors, or (answered false) that it already answered
  // with an error and whether the connection stays open.
  struct Pooled {
    bool answered = false;
    bool keep = false;
    std::vector<std::vector<float>> vectors;
  };

  // Each input is a prefill-only engine request pooled the model's way, batched with whatever
  // else is running; resolves once every input is pooled (or answers the error itself).
  awaitable<Pooled> run_pooled(const Served& s, beast::tcp_stream& stream, Request& req, const std::vector<std::vector<int32_t>>& inputs,
                               const char* param, const tenants::Caller* caller, RequestLog& rlog) {
    const ModelContext& model = s.model;
    engine::Engine* engine = s.engine;
    Pooled out;
    auto job = std::make_shared<EmbedJob>(stream.get_executor(), inputs.size());
    for (const auto& input : inputs) rlog.prompt_tokens += static_cast<int64_t>(input.size());
    if (caller) {
      int64_t prompt_tokens = 0;
      for (const auto& input : inputs) prompt_tokens += static_cast<int64_t>(input.size());
      auto admitted = options.tenancy->admit(*caller, model.name, prompt_tokens, static_cast<int>(inputs.size()));
      if (auto* refused = std::get_if<tenants::Refusal>(&admitted)) {
        out.answered = true;
        out.keep = co_await send(stream, rlog, rate_limited(req, *caller, *refused), req.keep_alive());
        co_return out;
      }
      job->lease = std::get<std::shared_ptr<tenants::Lease>>(std::move(admitted));
    }
    const InFlight in_flight(active_generations);
    watch_client(stream, job, engine);
    // The inputs go to the engine a window at a time, so that a request of 2048 inputs neither
    // overflows the wait queue (--max-waiting) nor takes all of it from other clients.
    const size_t window = std::max<size_t>(1, static_cast<size_t>(engine->options().max_waiting) / 2);
    size_t next = 0;
    const auto deadline = Clock::now() + std::chrono::milliseconds(int64_t(options.request_timeout_s * 1000));
    bool timed_out = false;
    while (!job->all_finished() && !job->client_gone) {
      if (Clock::now() >= deadline && !timed_out) {
        timed_out = true;
        for (uint64_t id : job->engine_ids) engine->cancel(id);
        if (next < inputs.size()) break;  // the rest was never submitted: nothing more will finish
      }
      std::optional<ApiError> refused;
      while (!timed_out && next < inputs.size() && next - job->finished_count() < window) {
        engine::RequestSpec spec;
        spec.prompt = inputs[next];
        spec.pooling = model.pooling;
        spec.max_tokens = 0;
        spec.on_finish = [job, i = next](const engine::FinishEvent& fin) { job->on_finish(i, fin); };
        const engine::Engine::Submitted sub = engine->submit(std::move(spec));
        if (sub.error == engine::SubmitError::kNone) {
          job->engine_ids.push_back(sub.id);
          ++next;
          continue;
        }
        // A full queue while some of ours are in it: wait for them to finish, then go on.
        if (sub.error == engine::SubmitError::kQueueFull && next > job->finished_count()) break;
        refused = refusal(sub.error, fmt::format("input {} does not fit the context", next), param);
        break;
      }
      if (refused) {
        for (uint64_t id : job->engine_ids) engine->cancel(id);
        out.answered = true;
        out.keep = co_await send(stream, rlog, error_response(req, *refused), false);
        co_return out;
      }
      job->signal.expires_at(timed_out ? Clock::now() + std::chrono::seconds(5) : deadline);
      beast::error_code wait_ec;
      co_await job->signal.async_wait(asio::redirect_error(use_awaitable, wait_ec));
      if (!wait_ec && timed_out) break;  // the engine did not answer the cancel in time
    }
    out.answered = true;
    if (job->client_gone) {
      rlog.status = 499;
      co_return out;
    }
    if (timed_out) {
      out.keep = co_await send(stream, rlog, error_response(req, api_error(504, fmt::format("the request did not finish within {} s",
                                                                                        options.request_timeout_s),
                                                                     "timeout_error", "timeout")),
                               false);
      co_return out;
    }
    std::vector<engine::FinishEvent> finishes;
    {
      std::lock_guard lock(job->mutex);
      finishes.swap(job->finishes);
    }
    for (engine::FinishEvent& fin : finishes) {
      if (fin.reason == engine::FinishReason::kStop && !fin.embedding.empty()) {
        out.vectors.push_back(std::move(fin.embedding));
        continue;
      }
      // Not the client's fault: the server could not run it now (KV cache full, shutting down).
      ApiError e = api_error(503, fin.error.empty() ? std::string("the request was aborted") : fin.error,
                             "server_error", "overloaded");
      e.retry_after = 1;
      out.keep = co_await send(stream, rlog, error_response(req, e), false);
      co_return out;
    }
    out.answered = false;
    co_return out;
  }

  // The connection closes after these, as after a generation: the read that watches for the
  // client going away may have taken bytes of a next request.
  awaitable<bool> embeddings(const Served& s, beast::tcp_stream& stream, Request& req, const ojson& body,
                             const tenants::Caller* caller, RequestLog& rlog) {
    const ModelContext& model = s.model;
    auto parsed = parse_embeddings_request(body, model);
    if (auto* e = std::get_if<ApiError>(&parsed)) co_return co_await send(stream, rlog, error_response(req, *e), req.keep_alive());
    const EmbeddingPlan plan = std::move(std::get<EmbeddingPlan>(parsed));
    Pooled pooled = co_await run_pooled(s, stream, req, plan.inputs, "input", caller, rlog);
    if (pooled.answered) co_return pooled.keep;
    auto res = make_response(req, http::status::ok, embeddings_response(plan, std::move(pooled.vectors), model.name));
    add_rate_headers(res, caller);
    co_return co_await send(stream, rlog, std::move(res), false);
  }

  awaitable<bool> rerank(const Served& s, beast::tcp_stream& stream, Request& req, const ojson& body,
                         const tenants::Caller* caller, RequestLog& rlog) {
    const ModelContext& model = s.model;
    auto parsed = parse_rerank_request(body, model);
    if (auto* e = std::get_if<ApiError>(&parsed)) co_return co_await send(stream, rlog, error_response(req, *e), req.keep_alive());
    const RerankPlan plan = std::move(std::get<RerankPlan>(parsed));
    Pooled pooled = co_await run_pooled(s, stream, req, plan.inputs, "documents", caller, rlog);
    if (pooled.answered) co_return pooled.keep;
    std::vector<float> scores;
    for (const std::vector<float>& probs : pooled.vectors) scores.push_back(probs[0]);  // the first class's ("yes")
    auto res = make_response(req, http::status::ok, rerank_response(plan, scores, model.name));
    add_rate_headers(res, caller);
    co_return co_await send(stream, rlog, std::move(res), false);
  }

  // Queues one engine request per choice; on failure cancels those already queued.
  std::optional<ApiError> submit_all(const Served& s, Job& job, const GenerationPlan& plan,
                                     const std::vector<int64_t>& max_tokens) {
    const ModelContext& model = s.model;
    engine::Engine* engine = s.engine;
    job.tok = model.tokenizer;
    job.chat = plan.chat;
    job.tokens_as_ids = plan.tokens_as_ids;
    const int n_choices = static_cast<int>(plan.prompts.size()) * plan.n;
    job.choices.resize(size_t(n_choices));
    job.quota_cut.assign(size_t(n_choices), 0);
    const uint64_t base_seed = plan.seeded ? plan.sampling.seed : std::random_device{}();
    auto self = job.shared_from_this();
    for (int c = 0; c < n_choices; ++c) {
      // Formats written in special tokens need their text to be parsed (Mistral's [TOOL_CALLS],
      // harmony's channels); other answers show no special tokens.
      const bool render_special =
          plan.output && (plan.output->tools == chat::ToolCallFormat::kMistral ||
                          plan.output->tools == chat::ToolCallFormat::kDeepSeekV3 ||
                          plan.output->tools == chat::ToolCallFormat::kGptOss ||
                          plan.output->tools == chat::ToolCallFormat::kLlama3Json ||
                          plan.output->reasoning == chat::ReasoningFormat::kGptOss);
      job.choices[size_t(c)].decoder = std::make_unique<tokenizer::StreamDecoder>(*model.tokenizer, render_special);
      job.choices[size_t(c)].filter = std::make_unique<StopFilter>(plan.stop);
      engine::RequestSpec spec;
      spec.prompt = plan.prompts[size_t(c / plan.n)].tokens;
      spec.sampling = plan.sampling;
      spec.sampling.seed = base_seed + uint64_t(c);
      spec.max_tokens = max_tokens[size_t(c / plan.n)];
      spec.ignore_eos = plan.ignore_eos;
      spec.grammar = plan.grammar;
      spec.grammar_after = plan.grammar_after;
      spec.reasoning_budget = plan.reasoning_budget;
      spec.reasoning_open = plan.reasoning_open;
      spec.reasoning_close = plan.reasoning_close;
      spec.reasoning_at_start = plan.starts_in_reasoning;
      spec.top_logprobs = plan.top_logprobs;
      const bool want_logprobs = plan.top_logprobs >= 0;
      spec.on_token = [self, c, want_logprobs](const engine::TokenEvent& ev) { return self->on_token(c, ev, want_logprobs); };
      spec.on_finish = [self, c](const engine::FinishEvent& fin) { self->on_finish(c, fin); };
      const engine::Engine::Submitted sub = engine->submit(std::move(spec));
      if (sub.error == engine::SubmitError::kNone) {
        job.engine_ids.push_back(sub.id);
        continue;
      }
      for (uint64_t id : job.engine_ids) engine->cancel(id);
      return refusal(sub.error, "the prompt does not fit the context", plan.chat ? "messages" : "prompt");
    }
    return std::nullopt;
  }

  std::string sse_head(const Request& req, const tenants::Caller* caller) {
    std::string head = "HTTP/1.1 200 OK\r\nServer: hearth\r\nContent-Type: text/event-stream\r\n"
                       "Cache-Control: no-cache\r\nConnection: close\r\n";
    http::response<http::empty_body> cors;
    add_cors(req, cors);
    add_rate_headers(cors, caller);
    for (const auto& f : cors) head += fmt::format("{}: {}\r\n", std::string(f.name_string()), std::string(f.value()));
    return head + "\r\n";
  }

  // --- shutdown -----------------------------------------------------------------------------

  void on_signal() {
    if (shutting_down.exchange(true)) return;
    beast::error_code ec;
    acceptor.close(ec);
    drain_thread = std::thread([this] {
      // The engines drain together: each gets the whole grace period.
      std::vector<std::thread> drains;
      // The pool stops first: no model loads or unloads under the drains.
      std::vector<engine::Engine*> engines;
      if (pool) {
        pool->stop();
        pool->for_each_loaded([&](const ModelContext&, engine::Engine& e) { engines.push_back(&e); });
      }
      for (engine::Engine* e : engines)
        drains.emplace_back([this, e] { e->drain(std::chrono::milliseconds(int64_t(options.shutdown_grace_s * 1000))); });
      for (std::thread& t : drains) t.join();
      // Let the connections write what the engine finished, then stop.
      for (int i = 0; i < 200 && active_generations > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      io.stop();
    });
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) { impl_->options = std::move(options); }

Server::~Server() {
  if (impl_->pool) impl_->pool->stop();  // requests waiting for a model give up
  impl_->model_loads.join();
  impl_->io.stop();
  if (impl_->io_thread.joinable()) impl_->io_thread.join();
  if (impl_->drain_thread.joinable()) impl_->drain_thread.join();
  // The engines stop (their last callbacks queue on the stopped io) before io and its requests go.
  if (impl_->pool) impl_->pool->unload_all();
}

Status Server::start() {
  Impl& s = *impl_;
  beast::error_code ec;
  const auto address = asio::ip::make_address(s.options.host, ec);
  if (ec) return make_error("--host {}: not an IP address ({})", s.options.host, ec.message());
  if (s.options.port < 0 || s.options.port > 65535) return make_error("--port {} is out of range", s.options.port);
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(s.options.port));
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error("cannot listen on {}:{}: {}", s.options.host, s.options.port, ec.message());
  if (s.options.handle_signals) {
    s.signals.add(SIGINT);
    s.signals.add(SIGTERM);
    s.signals.async_wait([&s](beast::error_code e, int) {
      if (!e) s.on_signal();
    });
  }
  asio::co_spawn(s.io, s.accept_loop(), asio::detached);
  s.io_thread = std::thread([&s] {
    s.io.run();
    std::lock_guard lock(s.done_mutex);
    s.done = true;
    s.done_cv.notify_all();
  });
  return {};
}

int Server::port() const { return impl_->acceptor.is_open() ? impl_->acceptor.local_endpoint().port() : -1; }

void Server::set_model(api::ModelContext model, engine::Engine* engine) {
  ModelPool::Entry entry;
  entry.name = model.name;
  entry.aliases = model.aliases;
  entry.load = [model, engine]() -> Result<ModelPool::Model> { return ModelPool::Model{model, engine, nullptr}; };
  std::vector<ModelPool::Entry> entries;
  entries.push_back(std::move(entry));
  auto pool = ModelPool::create(std::move(entries), {});
  if (pool.ok()) {
    (void)(*pool)->acquire(0, std::chrono::steady_clock::now());  // the engine exists: this "load" is immediate
    set_models(std::move(*pool));
  }
}

void Server::set_models(std::unique_ptr<ModelPool> pool) {
  asio::post(impl_->io, [this, p = std::shared_ptr<ModelPool>(std::move(pool))]() mutable {
    impl_->pool = std::move(p);
    impl_->ready = true;
  });
}

int Server::wait() {
  std::unique_lock lock(impl_->done_mutex);
  impl_->done_cv.wait(lock, [&] { return impl_->done; });
  return 0;
}

}  // namespace hearth::server
