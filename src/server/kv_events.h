// KV-cache events on a ZeroMQ publisher, in vLLM's format, so that prefix-aware routers (llm-d's
// KV-cache indexer, Dynamo, SGLang's router) can send a request to the replica that already holds
// its prompt's prefix. What a subscriber receives, per engine step that changed the cache:
//
//   frames:  [topic, sequence number (uint64 big-endian, from 0, one per batch), payload]
//   topic:   "kv@<pod>@<model>" by default (llm-d subscribes to "kv@" and splits on '@')
//   payload: msgpack of vLLM's KVEventBatch, arrays as msgspec's array_like writes them:
//            [ts (float seconds), [event, ...], data_parallel_rank (0)]
//   events:  ["BlockStored", block_hashes, parent_block_hash | nil, token_ids, block_size,
//             lora_id (nil), medium ("CPU"), lora_name (nil)]
//            ["BlockRemoved", block_hashes, medium ("CPU")]
//            ["AllBlocksCleared"]   (the model was unloaded)
//
// as vllm/distributed/kv_events.py defines them (EventBatch, BlockStored, BlockRemoved). Block
// hashes are the engine's chained 64-bit block hashes (engine/block_manager.h), sent as msgpack
// unsigned integers, as vLLM sends its own by default; a consumer re-hashes token_ids itself and
// uses ours only as keys, so they need to be consistent, not equal to vLLM's.
//
// The engine thread only queues a batch; a thread of the publisher encodes and sends it, and a
// PUB socket drops rather than blocks when a subscriber falls behind, so serving never waits on a
// router. No replay socket (vLLM's is optional and off by default).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "engine/block_manager.h"

namespace hearth::server {

// vLLM's KVEventBatch for `events`, as msgpack bytes.
std::string encode_kv_event_batch(double ts, const std::vector<engine::CacheEvent>& events, int64_t block_size);

class KvEventPublisher {
 public:
  struct Options {
    // ZeroMQ endpoint. As vLLM decides: bound when it holds '*' or '::' or is ipc:// or
    // inproc:// (subscribers connect: "tcp://*:5557"), connected otherwise (to a subscriber that
    // bound, as llm-d's indexer does).
    std::string endpoint;
    std::string topic = "kv@{pod}@{model}";  // {pod} and {model} are filled in
    std::string pod;                          // this replica's name (the host name by default)
    int64_t high_water_mark = 100000;         // batches queued per subscriber before dropping
  };
  static Result<std::unique_ptr<KvEventPublisher>> open(Options options);
  ~KvEventPublisher();  // sends what is queued (briefly), then closes
  KvEventPublisher(const KvEventPublisher&) = delete;
  KvEventPublisher& operator=(const KvEventPublisher&) = delete;

  // The engine callback (EngineOptions::on_cache_events) of one model; thread-safe.
  std::function<void(std::vector<engine::CacheEvent>)> sink(const std::string& model, int64_t block_size);

  uint64_t batches_sent() const;
  uint64_t batches_dropped() const;  // the queue to the sending thread was full

 private:
  struct Batch {
    std::string topic;
    double ts = 0;
    int64_t block_size = 0;
    std::vector<engine::CacheEvent> events;
    uint64_t seq = 0;  // given in enqueue: the order the engines handed the batches over
  };
  KvEventPublisher() = default;
  void run();
  void enqueue(Batch batch);

  Options options_;
  void* context_ = nullptr;  // zmq
  void* socket_ = nullptr;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Batch> queue_;
  bool stop_ = false;
  uint64_t next_seq_ = 0;
  uint64_t sent_ = 0, dropped_ = 0;
};

}  // namespace hearth::server
