// The models one server answers for, loaded on first use within a memory budget, as Ollama does:
// when a model must load and the budget has no room, the least recently used idle model unloads.
// A request holds a Lease for as long as it runs, and a leased model never unloads, so in-flight
// requests are never dropped: when only busy models could make room, they stop taking new requests
// ("draining"), finish what they have, and unload then.
//
// A model's size is its Entry's estimate (the caller's: for `hearth serve`, the weights' size on
// disk plus its KV cache), fixed before it loads, so that the decision to load never depends on
// what a load happens to allocate.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai.h"
#include "base/result.h"
#include "engine/engine.h"

namespace hearth::server {

class ModelPool {
 public:
  // What a loader hands back: the API's view of the model and its engine, both valid while `owner`
  // lives. The pool drops `owner` to unload the model.
  struct Model {
    api::ModelContext context;
    engine::Engine* engine = nullptr;
    std::shared_ptr<void> owner;
  };
  struct Entry {
    std::string name;                  // the id clients use in "model"
    std::vector<std::string> aliases;  // also accepted (the path it was given as)
    uint64_t bytes = 0;                // memory it holds while loaded (estimate)
    std::function<Result<Model>()> load;
  };
  struct Options {
    uint64_t budget_bytes = 0;  // 0: no limit (a model loads on first use and stays)
    std::function<void(const std::string&)> log;  // a line per load and unload
  };

  // A loaded model's state as the pool keeps it (structured outputs' grammar cache included).
  struct Loaded;

  // A request's hold on a loaded model; it cannot unload until every lease on it is gone.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    explicit operator bool() const { return loaded_ != nullptr; }
    const api::ModelContext& context() const;
    engine::Engine& engine() const;

   private:
    friend class ModelPool;
    Lease(ModelPool* pool, size_t index, const Loaded* loaded);
    void release();
    ModelPool* pool_ = nullptr;
    size_t index_ = 0;
    const Loaded* loaded_ = nullptr;  // kept by the pool while any lease is held
  };

  // Entries' names must differ (the caller checks; a duplicate is refused here too).
  static Result<std::unique_ptr<ModelPool>> create(std::vector<Entry> entries, Options options);
  ~ModelPool();  // unloads every model (no lease may be left)
  ModelPool(const ModelPool&) = delete;
  ModelPool& operator=(const ModelPool&) = delete;

  size_t size() const { return entries_.size(); }
  const Entry& entry(size_t i) const { return entries_[i]; }
  // The entry's name and aliases as a ModelContext (for matching a request's "model").
  const api::ModelContext& naming(size_t i) const { return naming_[i]; }
  uint64_t budget_bytes() const { return options_.budget_bytes; }

  // A lease at once if the model is loaded and taking requests; otherwise none (call acquire).
  std::optional<Lease> try_acquire(size_t i);
  // Loads the model if it must (making room as above) and leases it; blocks until then, or until
  // `deadline`, or until stop(). Errors: the model cannot load, is larger than the whole budget,
  // or no room came free in time.
  Result<Lease> acquire(size_t i, std::chrono::steady_clock::time_point deadline);

  // Waiting and later acquire calls fail; loaded models stay until the pool is destroyed.
  void stop();
  // After stop, once nothing runs requests any more (the server's io thread has stopped): unloads
  // every model, leased or not, so that the engines stop while what they call back into still
  // exists. Leases left may then only be released.
  void unload_all();

  struct ModelState {
    bool loaded = false;
    bool in_use = false;
    int64_t max_context = 0;  // 0 until it has loaded once
    uint64_t loads = 0, unloads = 0;
  };
  ModelState state(size_t i) const;
  uint64_t used_bytes() const;  // loaded, loading and unloading models' estimates
  // Would model i load now without anything unloading? (Always, without a budget.)
  bool fits(size_t i) const;
  // Calls fn for each loaded model, under the pool's lock (keep it short: metrics, a drain's list).
  void for_each_loaded(const std::function<void(const api::ModelContext&, engine::Engine&)>& fn) const;

 private:
  enum class SlotState { kUnloaded, kLoading, kLoaded, kUnloading };
  struct Slot {
    SlotState state = SlotState::kUnloaded;
    std::shared_ptr<Loaded> loaded;
    int64_t leases = 0;
    bool draining = false;  // chosen to make room: takes no new leases, unloads when idle
    uint64_t last_used = 0; // the pool's use counter when last leased or released
    uint64_t load_attempts = 0;   // bumps when a load starts
    uint64_t failed_attempt = 0;  // the attempt whose load failed last, and why
    std::string failure;
    int64_t max_context = 0;
    uint64_t loads = 0, unloads = 0;
  };

  ModelPool(std::vector<Entry> entries, Options options);
  void release(size_t i);
  Lease lease_locked(size_t i);
  // Loads slot i, the lock released meanwhile; the loading thread keeps a lease on success.
  Result<Lease> load_locked(std::unique_lock<std::mutex>& lock, size_t i);
  // Unloads idle models `which` together, the lock released while they are destroyed.
  void unload_locked(std::unique_lock<std::mutex>& lock, const std::vector<size_t>& which);
  // Frees `need` bytes for slot i: unloads idle models least recently used first, marks busy ones
  // draining. True when something was unloaded (the caller looks again).
  bool make_room_locked(std::unique_lock<std::mutex>& lock, size_t i, uint64_t need);
  void log(const std::string& line) const;
  bool fits_locked(size_t i) const;

  std::vector<Entry> entries_;
  std::vector<api::ModelContext> naming_;
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Slot> slots_;
  uint64_t used_ = 0;
  uint64_t use_clock_ = 0;
  int64_t room_waiters_ = 0;  // acquire calls waiting for busy models to drain
  bool stopped_ = false;
};

}  // namespace hearth::server
