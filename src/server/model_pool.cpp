#include "server/model_pool.h"

#include <fmt/format.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include "api/structured.h"
#include "api/tools.h"

namespace hearth::server {
namespace {

std::string mib(uint64_t bytes) { return fmt::format("{:.0f} MiB", double(bytes) / (1 << 20)); }

// A model's packed weights are many allocations of a few MiB, which glibc serves from its heaps
// (its mmap threshold rises to 32 MiB once large blocks are freed) and keeps when they are freed:
// measured, the server's RSS grew by ~300 MiB with every switch between two 0.5B models. Trimming
// after an unload hands the freed pages back, so the budget holds for the process, not just the
// bookkeeping.
void give_back_freed_memory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace

struct ModelPool::Loaded {
  Model model;
  std::unique_ptr<api::GrammarCache> grammars;  // declared last, freed first: it borrows the tokenizer
};

// --- Lease ------------------------------------------------------------------------------------

ModelPool::Lease::Lease(ModelPool* pool, size_t index, const Loaded* loaded)
    : pool_(pool), index_(index), loaded_(loaded) {}

ModelPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), index_(other.index_), loaded_(std::exchange(other.loaded_, nullptr)) {}

ModelPool::Lease& ModelPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    index_ = other.index_;
    loaded_ = std::exchange(other.loaded_, nullptr);
  }
  return *this;
}

ModelPool::Lease::~Lease() { release(); }

void ModelPool::Lease::release() {
  loaded_ = nullptr;
  if (ModelPool* pool = std::exchange(pool_, nullptr)) pool->release(index_);
}

const api::ModelContext& ModelPool::Lease::context() const { return loaded_->model.context; }
engine::Engine& ModelPool::Lease::engine() const { return *loaded_->model.engine; }

// --- the pool ---------------------------------------------------------------------------------

Result<std::unique_ptr<ModelPool>> ModelPool::create(std::vector<Entry> entries, Options options) {
  if (entries.empty()) return make_error("no model to serve");
  std::set<std::string> names;
  for (const Entry& e : entries) {
    if (!names.insert(e.name).second)
      return make_error("two models are named '{}': give each its own name", e.name);
    if (!e.load) return make_error("model '{}' has no loader", e.name);
  }
  return std::unique_ptr<ModelPool>(new ModelPool(std::move(entries), std::move(options)));
}

ModelPool::ModelPool(std::vector<Entry> entries, Options options)
    : entries_(std::move(entries)), options_(std::move(options)), slots_(entries_.size()) {
  for (const Entry& e : entries_) {
    api::ModelContext naming;
    naming.name = e.name;
    naming.aliases = e.aliases;
    naming_.push_back(std::move(naming));
  }
}

ModelPool::~ModelPool() {
  for (Slot& s : slots_) s.loaded.reset();
}

void ModelPool::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

ModelPool::Lease ModelPool::lease_locked(size_t i) {
  Slot& s = slots_[i];
  ++s.leases;
  s.last_used = ++use_clock_;
  return Lease(this, i, s.loaded.get());
}

void ModelPool::release(size_t i) {
  std::lock_guard lock(mutex_);
  Slot& s = slots_[i];
  --s.leases;
  s.last_used = ++use_clock_;
  if (s.leases == 0) changed_.notify_all();  // a draining model may unload now
}

std::optional<ModelPool::Lease> ModelPool::try_acquire(size_t i) {
  std::lock_guard lock(mutex_);
  if (stopped_ || slots_[i].state != SlotState::kLoaded || slots_[i].draining) return std::nullopt;
  return lease_locked(i);
}

Result<ModelPool::Lease> ModelPool::load_locked(std::unique_lock<std::mutex>& lock, size_t i) {
  Slot& s = slots_[i];
  const Entry& e = entries_[i];
  s.state = SlotState::kLoading;
  const uint64_t attempt = ++s.load_attempts;
  used_ += e.bytes;
  const uint64_t used_now = used_;
  lock.unlock();
  log(fmt::format("loading '{}' ({}; {} of {} in use with it)", e.name, mib(e.bytes), mib(used_now),
                  options_.budget_bytes ? mib(options_.budget_bytes) : std::string("no budget")));
  auto loaded = std::make_shared<Loaded>();
  std::string failure;
  try {
    Result<Model> m = e.load();
    if (m.ok()) {
      loaded->model = std::move(*m);
      api::ModelContext& ctx = loaded->model.context;
      if (ctx.generates && ctx.tokenizer) {
        loaded->grammars = std::make_unique<api::GrammarCache>(*ctx.tokenizer, ctx.n_vocab,
                                                               api::tool_call_markers(ctx.output_formats.tools));
        ctx.grammars = loaded->grammars.get();
      }
    } else {
      failure = m.error().message;
    }
  } catch (const std::exception& ex) {  // std::bad_alloc above all: the model did not fit after all
    failure = ex.what();
  }
  if (!failure.empty()) loaded.reset();  // freed before the lock: it may be large
  lock.lock();
  if (!failure.empty()) {
    s.state = SlotState::kUnloaded;
    used_ -= e.bytes;
    s.failed_attempt = attempt;
    s.failure = fmt::format("model '{}' could not load: {}", e.name, failure);
    changed_.notify_all();
    log(s.failure);
    return Error{s.failure};
  }
  s.loaded = std::move(loaded);
  s.state = SlotState::kLoaded;
  s.draining = false;
  s.max_context = s.loaded->model.context.max_context;
  ++s.loads;
  changed_.notify_all();
  // Loaded while the server stopped: its engine was not among those drained, so it takes nothing
  // (unload_all frees it).
  if (stopped_) return make_error("the server is shutting down");
  return lease_locked(i);  // before anyone could pick it to unload
}

void ModelPool::unload_locked(std::unique_lock<std::mutex>& lock, const std::vector<size_t>& which) {
  // All of them leave kLoaded under this one hold of the lock: none can be leased, picked by
  // another caller making room, or listed for a drain while they are being destroyed.
  std::vector<std::shared_ptr<Loaded>> gone;
  for (size_t j : which) {
    Slot& s = slots_[j];
    s.state = SlotState::kUnloading;  // their bytes stay counted until they are freed
    s.draining = false;
    gone.push_back(std::move(s.loaded));
  }
  lock.unlock();
  for (size_t j : which)
    log(fmt::format("unloading '{}' ({}, idle, least recently used)", entries_[j].name, mib(entries_[j].bytes)));
  gone.clear();  // the engines stop, the weights and KV caches are freed
  give_back_freed_memory();
  lock.lock();
  for (size_t j : which) {
    slots_[j].state = SlotState::kUnloaded;
    used_ -= entries_[j].bytes;
    ++slots_[j].unloads;
  }
  changed_.notify_all();
}

bool ModelPool::make_room_locked(std::unique_lock<std::mutex>& lock, size_t i, uint64_t need) {
  uint64_t freeing = 0;  // bytes already on their way out
  std::vector<size_t> idle, busy;
  for (size_t j = 0; j < slots_.size(); ++j) {
    const Slot& s = slots_[j];
    if (s.state == SlotState::kUnloading || (s.state == SlotState::kLoaded && s.draining && s.leases > 0))
      freeing += entries_[j].bytes;
    else if (j != i && s.state == SlotState::kLoaded)
      (s.leases == 0 ? idle : busy).push_back(j);
  }
  const auto lru = [this](size_t a, size_t b) { return slots_[a].last_used < slots_[b].last_used; };
  std::sort(idle.begin(), idle.end(), lru);
  std::sort(busy.begin(), busy.end(), lru);
  // The plan first: idle models, least recently used first; then, if those are not enough, busy
  // ones, which drain (take no new requests, finish, unload when idle).
  std::vector<size_t> unload, drain;
  for (size_t j : idle) {
    if (freeing >= need) break;
    unload.push_back(j);
    freeing += entries_[j].bytes;
  }
  for (size_t j : busy) {
    if (freeing >= need) break;
    drain.push_back(j);
    freeing += entries_[j].bytes;
  }
  // Loading models hold the rest: wait for them rather than unload or drain what would not be
  // enough.
  if (freeing < need) return false;
  for (size_t j : drain) {
    slots_[j].draining = true;
    log(fmt::format("'{}' drains (its requests finish, new ones wait) to make room for '{}'", entries_[j].name,
                    entries_[i].name));
  }
  if (unload.empty()) return false;
  unload_locked(lock, unload);
  return true;
}

Result<ModelPool::Lease> ModelPool::acquire(size_t i, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  const Entry& e = entries_[i];
  uint64_t waited_for = 0;  // the load attempt this call waited on, whose failure is its answer
  bool room_waiter = false;
  // The last caller that waited for room takes back the draining marks nobody needs any more.
  const auto leave = [&] {
    if (room_waiter && --room_waiters_ == 0)
      for (Slot& s : slots_) s.draining = false;
    room_waiter = false;
    changed_.notify_all();
  };
  for (;;) {
    if (stopped_) {
      leave();
      return make_error("the server is shutting down");
    }
    Slot& s = slots_[i];
    if (s.state == SlotState::kLoaded && !s.draining) {
      Lease lease = lease_locked(i);
      leave();
      return lease;
    }
    if (s.state == SlotState::kLoading) waited_for = s.load_attempts;
    if (s.state == SlotState::kUnloaded) {
      if (waited_for != 0 && s.failed_attempt == waited_for) {
        leave();
        return Error{s.failure};
      }
      const uint64_t budget = options_.budget_bytes;
      if (budget != 0 && e.bytes > budget) {
        leave();
        return make_error("model '{}' needs {}, more than the whole --memory-budget of {}", e.name, mib(e.bytes),
                          mib(budget));
      }
      if (fits_locked(i)) {
        leave();  // this load is no longer waiting for room
        return load_locked(lock, i);
      }
      if (!room_waiter) {
        room_waiter = true;
        ++room_waiters_;
      }
      if (make_room_locked(lock, i, used_ + e.bytes - budget)) continue;
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // It may have become ready just as the time ran out.
      if (!stopped_ && slots_[i].state == SlotState::kLoaded && !slots_[i].draining) {
        Lease lease = lease_locked(i);
        leave();
        return lease;
      }
      const bool loading = slots_[i].state == SlotState::kLoading;
      leave();
      if (loading) return make_error("model '{}' is still loading", e.name);
      return make_error("no room for model '{}' ({}) within the --memory-budget of {}: the loaded models stayed busy",
                        e.name, mib(e.bytes), mib(options_.budget_bytes));
    }
  }
}

void ModelPool::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  changed_.notify_all();
}

void ModelPool::unload_all() {
  std::vector<std::shared_ptr<Loaded>> gone;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].state == SlotState::kLoaded) {
        gone.push_back(std::move(slots_[i].loaded));
        slots_[i].state = SlotState::kUnloaded;
        used_ -= entries_[i].bytes;
      }
  }
  // Outside the lock: each engine cancels what it still runs and stops, then memory is freed.
  for (const auto& loaded : gone)
    if (loaded->model.engine) loaded->model.engine->drain(std::chrono::milliseconds(0));
  gone.clear();
}

ModelPool::ModelState ModelPool::state(size_t i) const {
  std::lock_guard lock(mutex_);
  const Slot& s = slots_[i];
  return {s.state == SlotState::kLoaded, s.leases > 0, s.max_context, s.loads, s.unloads};
}

bool ModelPool::fits_locked(size_t i) const {
  return options_.budget_bytes == 0 || used_ + entries_[i].bytes <= options_.budget_bytes;
}

bool ModelPool::fits(size_t i) const {
  std::lock_guard lock(mutex_);
  return fits_locked(i);
}

uint64_t ModelPool::used_bytes() const {
  std::lock_guard lock(mutex_);
  return used_;
}

void ModelPool::for_each_loaded(const std::function<void(const api::ModelContext&, engine::Engine&)>& fn) const {
  std::lock_guard lock(mutex_);
  for (const Slot& s : slots_)
    if (s.state == SlotState::kLoaded) fn(s.loaded->model.context, *s.loaded->model.engine);
}

}  // namespace hearth::server
