// Helpers shared by the unit tests: temporary database files, reading one number or the
// integrity check from a SQLite database, and waiting for callbacks that run on other threads
// (store writer/readers, bus threads) without hanging forever.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_db.hpp"

namespace parley::test {

// The first column of the first row of `sql` (throws when there is no row).
inline std::int64_t scalar(sqlite::db& d, const std::string& sql) {
  auto& q = d.prepare(sql);
  if (!q.step()) throw std::runtime_error("no row: " + sql);
  auto v = q.i64(0);
  q.reset();
  return v;
}

// What PRAGMA integrity_check says of the database ("ok" when it is intact).
inline std::string integrity_check(sqlite::db& d) {
  auto& q = d.prepare("PRAGMA integrity_check");
  if (!q.step()) throw std::runtime_error("integrity_check returned no row");
  auto v = q.text(0);
  q.reset();
  return v;
}

// Generous: nothing in the unit tests should take more than a fraction of it.
constexpr auto kWaitLimit = std::chrono::seconds(20);

// A fresh path for a SQLite database in the temp directory; removes the database and its
// WAL/SHM companions when destroyed.
class temp_db {
 public:
  temp_db() {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() / ("parley-unit-" + std::to_string(::getpid()) +
                                                       "-" + std::to_string(counter++) + ".db"))
                .string();
    remove();
  }
  ~temp_db() { remove(); }
  temp_db(const temp_db&) = delete;
  temp_db& operator=(const temp_db&) = delete;
  const std::string& path() const { return path_; }

  void remove() const {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(path_ + suffix, ec);
  }

 private:
  std::string path_;
};

// Waits for a future, throwing (which fails the test) instead of hanging.
template <class T>
T get_or_throw(std::future<T>& f, const char* what = "callback") {
  if (f.wait_for(kWaitLimit) != std::future_status::ready)
    throw std::runtime_error(std::string("timed out waiting for ") + what);
  return f.get();
}

// Counts callbacks down to zero; wait() fails instead of hanging.
class countdown {
 public:
  explicit countdown(std::size_t n) : n_(n) {}
  void hit() {
    std::lock_guard lk(mu_);
    if (n_ > 0 && --n_ == 0) cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, kWaitLimit, [&] { return n_ == 0; });
  }
  std::size_t remaining() {
    std::lock_guard lk(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t n_;
};

// Notes what callbacks on other threads did, in order; wait_for(n) returns the first n
// notes once there are n (more notes than that fail the comparison a test makes), and
// throws instead of hanging.
class ordered_notes {
 public:
  void note(std::string what) {
    std::lock_guard lk(mu_);
    notes_.push_back(std::move(what));
    cv_.notify_all();
  }
  std::vector<std::string> wait_for(std::size_t n) {
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, kWaitLimit, [&] { return notes_.size() >= n; }))
      throw std::runtime_error("timed out waiting for " + std::to_string(n) + " notes");
    return notes_;
  }
  std::vector<std::string> now() {
    std::lock_guard lk(mu_);
    return notes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> notes_;
};

}  // namespace parley::test
