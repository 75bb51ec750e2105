#include "server/kv_events.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace hearth::server {
namespace {

using json = nlohmann::json;

// The device tier a consumer files these blocks under (llm-d lowercases it): the cache is in host
// memory on the CPU backend.
constexpr const char* kMedium = "CPU";
constexpr size_t kMaxQueued = 4096;  // batches between the engines and the sending thread

std::string fill_topic(std::string topic, const std::string& pod, const std::string& model) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{pod}", pod}, {"{model}", model}})
    for (size_t at = topic.find(key); at != std::string::npos; at = topic.find(key, at + value.size()))
      topic.replace(at, key.size(), value);
  return topic;
}

bool binds(const std::string& endpoint) {
  return endpoint.find('*') != std::string::npos || endpoint.find("::") != std::string::npos ||
         endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://");
}

}  // namespace

std::string encode_kv_event_batch(double ts, const std::vector<engine::CacheEvent>& events, int64_t block_size) {
  // nlohmann's msgpack writer: unsigned hashes go out as msgpack uint64, token ids as ints, nil
  // as nil, the timestamp as a float.
  json list = json::array();
  for (const engine::CacheEvent& ev : events) {
    switch (ev.kind) {
      case engine::CacheEvent::Kind::kStored:
        list.push_back(json::array({"BlockStored", ev.hashes, ev.parent ? json(*ev.parent) : json(nullptr), ev.tokens,
                                    block_size, nullptr, kMedium, nullptr}));
        break;
      case engine::CacheEvent::Kind::kRemoved:
        list.push_back(json::array({"BlockRemoved", ev.hashes, kMedium}));
        break;
      case engine::CacheEvent::Kind::kCleared:
        list.push_back(json::array({"AllBlocksCleared"}));
        break;
    }
  }
  const json batch = json::array({ts, std::move(list), 0});
  std::vector<uint8_t> bytes = json::to_msgpack(batch);
  return std::string(bytes.begin(), bytes.end());
}

Result<std::unique_ptr<KvEventPublisher>> KvEventPublisher::open(Options options) {
  if (options.endpoint.empty()) return make_error("--kv-events-endpoint is empty");
  std::unique_ptr<KvEventPublisher> p(new KvEventPublisher());
  p->options_ = std::move(options);
  p->context_ = zmq_ctx_new();
  if (!p->context_) return make_error("ZeroMQ: {}", zmq_strerror(zmq_errno()));
  p->socket_ = zmq_socket(p->context_, ZMQ_PUB);
  if (!p->socket_) return make_error("ZeroMQ: {}", zmq_strerror(zmq_errno()));
  const int hwm = static_cast<int>(std::clamp<int64_t>(p->options_.high_water_mark, 1, 1 << 30));
  const int linger_ms = 1000;  // at close, a second for what is still queued, never a hang
  zmq_setsockopt(p->socket_, ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(p->socket_, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
  const std::string& ep = p->options_.endpoint;
  const bool bind = binds(ep);
  if ((bind ? zmq_bind(p->socket_, ep.c_str()) : zmq_connect(p->socket_, ep.c_str())) != 0)
    return make_error("--kv-events-endpoint {}: cannot {} ({})", ep, bind ? "bind" : "connect", zmq_strerror(zmq_errno()));
  p->thread_ = std::thread([raw = p.get()] { raw->run(); });
  return p;
}

KvEventPublisher::~KvEventPublisher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (socket_) zmq_close(socket_);
  if (context_) zmq_ctx_term(context_);
}

std::function<void(std::vector<engine::CacheEvent>)> KvEventPublisher::sink(const std::string& model, int64_t block_size) {
  std::string topic = fill_topic(options_.topic, options_.pod, model);
  return [this, topic = std::move(topic), block_size](std::vector<engine::CacheEvent> events) {
    const double ts = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    enqueue(Batch{topic, ts, block_size, std::move(events), 0});
  };
}

void KvEventPublisher::enqueue(Batch batch) {
  {
    std::lock_guard lock(mutex_);
    batch.seq = next_seq_++;
    if (queue_.size() >= kMaxQueued) {
      // A stalled sender must not grow memory without bound; the sequence number's gap tells a
      // subscriber that it missed events.
      queue_.pop_front();
      ++dropped_;
    }
    queue_.push_back(std::move(batch));
  }
  wake_.notify_one();
}

void KvEventPublisher::run() {
  for (;;) {
    Batch batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, all sent
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    const std::string payload = encode_kv_event_batch(batch.ts, batch.events, batch.block_size);
    uint8_t seq[8];
    for (int i = 0; i < 8; ++i) seq[i] = static_cast<uint8_t>(batch.seq >> (8 * (7 - i)));
    // A PUB socket never blocks a send: past the high-water mark a slow subscriber misses messages.
    const bool ok = zmq_send(socket_, batch.topic.data(), batch.topic.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
                    zmq_send(socket_, seq, sizeof seq, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
                    zmq_send(socket_, payload.data(), payload.size(), ZMQ_DONTWAIT) >= 0;
    std::lock_guard lock(mutex_);
    ++(ok ? sent_ : dropped_);
  }
}

uint64_t KvEventPublisher::batches_sent() const {
  std::lock_guard lock(mutex_);
  return sent_;
}

uint64_t KvEventPublisher::batches_dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

}  // namespace hearth::server
