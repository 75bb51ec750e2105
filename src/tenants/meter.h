// Usage metering with group commit: requests add their counts to an in-memory table (per key,
// model and hour) and return at once; a writer thread moves that table into the store in one
// transaction every `window` (200 ms by default), so the request path never waits on a disk
// flush. A clean stop writes what is left; a crash loses at most one window. When the store
// cannot be written (read-only, full, gone) the counts stay pending and are retried each window,
// the error is logged once per change and counted, and health() says metering is degraded.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tenants/store.h"

namespace hearth::tenants {

struct MeterHealth {
  bool degraded = false;
  std::string last_error;
  int64_t write_errors = 0;  // failed flushes since start
  int64_t pending_rows = 0;
};

class Meter {
 public:
  using Log = std::function<void(const std::string&)>;
  Meter(Store& store, int64_t run_id, std::chrono::milliseconds window, Log log);
  ~Meter();  // stops (flushing)
  Meter(const Meter&) = delete;
  Meter& operator=(const Meter&) = delete;

  void record(const std::string& key_id, const std::string& model, int64_t unix_s, const UsageCounts& counts);
  // Writes what is pending now; false (and kept pending) when the store refused.
  bool flush();
  // Stops the writer after a last flush.
  void stop();
  // The store's rows with from_hour <= hour < to_hour (of one key, or of all when key_id is
  // empty) with the counts not yet written added in, read so that none is missed or counted
  // twice (a flush under way is waited for). Rows only pending have an empty key_name.
  Result<std::vector<UsageRow>> usage(const std::string& key_id, const std::string& key_name, int64_t from_hour,
                                      int64_t to_hour);
  MeterHealth health();

 private:
  using Slot = std::tuple<std::string, std::string, int64_t>;  // key id, model, hour
  void run();
  Status write(const std::map<Slot, UsageCounts>& batch, int64_t seq);
  // Writes the unconfirmed batch again, if any (flush_mutex_ held); false while it still fails.
  bool settle_unconfirmed();
  // After a write: health and its log line.
  void note(const Status& st);

  Store& store_;
  const int64_t run_id_;
  const std::chrono::milliseconds window_;
  Log log_;
  std::mutex mutex_;  // pending_ and health_
  std::map<Slot, UsageCounts> pending_;
  size_t writing_ = 0;  // rows of the flush under way, and unconfirmed ones
  // A batch whose write failed, kept whole under its sequence number and written again as it is
  // before anything newer (flush_mutex_): the store applies a (run, sequence) once, so a COMMIT
  // that landed although its answer was lost is not counted twice.
  std::map<Slot, UsageCounts> unconfirmed_;
  int64_t unconfirmed_seq_ = 0;
  int64_t next_seq_ = 1;
  MeterHealth health_;
  std::mutex flush_mutex_;  // one flush at a time
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace hearth::tenants
