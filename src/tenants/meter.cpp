#include "tenants/meter.h"

#include <algorithm>

namespace hearth::tenants {

Meter::Meter(Store& store, int64_t run_id, std::chrono::milliseconds window, Log log)
    : store_(store), run_id_(run_id), window_(window), log_(std::move(log)) {
  writer_ = std::thread([this] { run(); });
}

Meter::~Meter() { stop(); }

void Meter::record(const std::string& key_id, const std::string& model, int64_t unix_s, const UsageCounts& counts) {
  bool late;
  {
    std::lock_guard lock(mutex_);
    pending_[Slot{key_id, model, unix_s / 3600}] += counts;
    late = stopping_;
  }
  // A request torn down after the stop (its connection's frame destroyed with the server): no
  // writer is left to write it, so write it now.
  if (late) flush();
}

Status Meter::write(const std::map<Slot, UsageCounts>& batch, int64_t seq) {
  std::vector<UsageRow> rows;
  rows.reserve(batch.size());
  for (const auto& [slot, counts] : batch) rows.push_back({std::get<0>(slot), "", std::get<1>(slot), std::get<2>(slot), counts});
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  return store_.add_usage(rows, run_id_, seq, now_ms);
}

void Meter::note(const Status& st) {
  std::string report;
  {
    std::lock_guard lock(mutex_);
    if (!st) {
      ++health_.write_errors;
      if (!health_.degraded || health_.last_error != st.message())
        report = "metering: cannot write usage to the database (kept in memory, retrying): " + st.message();
      health_.degraded = true;
      health_.last_error = st.message();
    } else if (health_.degraded) {
      health_.degraded = false;
      report = "metering: usage is being written again";
    }
  }
  if (!report.empty() && log_) log_(report);
}

bool Meter::settle_unconfirmed() {
  if (unconfirmed_.empty()) return true;
  const Status st = write(unconfirmed_, unconfirmed_seq_);
  note(st);
  if (!st) return false;
  std::lock_guard lock(mutex_);
  writing_ -= std::min(writing_, unconfirmed_.size());
  unconfirmed_.clear();
  return true;
}

bool Meter::flush() {
  std::lock_guard flush_lock(flush_mutex_);
  // What failed before goes first, unchanged, under its own sequence number.
  if (!settle_unconfirmed()) return false;
  std::map<Slot, UsageCounts> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(pending_);
    writing_ += batch.size();
  }
  if (batch.empty()) return true;
  const int64_t seq = next_seq_++;
  const Status st = write(batch, seq);
  {
    std::lock_guard lock(mutex_);
    if (st) {
      writing_ -= std::min(writing_, batch.size());
    } else {
      unconfirmed_ = std::move(batch);  // still counted in writing_
      unconfirmed_seq_ = seq;
    }
  }
  note(st);
  return bool(st);
}

void Meter::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, window_, [this] { return stopping_; });
    lock.unlock();
    flush();
    lock.lock();
  }
}

void Meter::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  flush();
}

Result<std::vector<UsageRow>> Meter::usage(const std::string& key_id, const std::string& key_name, int64_t from_hour,
                                           int64_t to_hour) {
  std::lock_guard flush_lock(flush_mutex_);
  // A batch in doubt is settled first when the store answers, so that it is counted exactly once.
  (void)settle_unconfirmed();
  Result<std::vector<UsageRow>> stored = store_.usage(key_name, from_hour, to_hour);
  if (!stored) return stored;
  std::vector<UsageRow>& rows = *stored;
  std::map<Slot, size_t> index;
  for (size_t i = 0; i < rows.size(); ++i) index.emplace(Slot{rows[i].key_id, rows[i].model, rows[i].hour}, i);
  std::lock_guard lock(mutex_);
  for (const auto* table : {&unconfirmed_, &pending_}) {
    for (const auto& [slot, counts] : *table) {
      const auto& [id, model, hour] = slot;
      if ((!key_id.empty() && id != key_id) || hour < from_hour || hour >= to_hour) continue;
      if (auto it = index.find(slot); it != index.end()) {
        rows[it->second].counts += counts;
      } else {
        index.emplace(slot, rows.size());
        rows.push_back({id, "", model, hour, counts});
      }
    }
  }
  return stored;
}

MeterHealth Meter::health() {
  std::lock_guard lock(mutex_);
  MeterHealth h = health_;
  h.pending_rows = static_cast<int64_t>(pending_.size() + writing_);
  return h;
}

}  // namespace hearth::tenants
