// Token buckets per key (a user, an address, an account) and class of operation, shared by
// every transport (docs/security.md, "Rate limits"). A bucket holds up to `burst` tokens
// and refills at `per_s`; each operation takes one, and an empty bucket says how long
// until the next token. Thread-safe: the buckets are sharded, each shard under its own
// mutex (a leaf lock; nothing else is locked while it is held).
//
// Memory is bounded: a shard holding more than its share of `max_keys` first forgets the
// buckets that have refilled completely (forgetting them changes nothing), then, if it is
// still full, the oldest half.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace parley {

enum class rate_class : std::uint8_t {
  write,          // send, edit, delete, react, unreact: per user
  typing,         // typing starts and stops: per user
  search,         // per user
  upload,         // per user
  login_account,  // login attempts for one handle, from anywhere
  auth_address,   // login and register from one address
  count_
};
const char* rate_class_name(rate_class c);

struct rate_rule {
  double per_s = 0;  // 0: unlimited
  double burst = 1;
};

class rate_limiter {
 public:
  using rules = std::array<rate_rule, static_cast<std::size_t>(rate_class::count_)>;
  explicit rate_limiter(rules r, std::size_t max_keys = 1 << 20);
  ~rate_limiter();
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  // Takes a token of class `c` for `key`: 0 if one was there, else the milliseconds until
  // one will be (nothing is taken then).
  std::int64_t take(rate_class c, std::string_view key);
  std::int64_t take(rate_class c, std::string_view key, std::chrono::steady_clock::time_point now);

  // Gives a token back (an operation that turned out to cost nothing, such as a retried
  // send answered with its original acknowledgement).
  void refund(rate_class c, std::string_view key);

  // Takes `n` tokens of class `c` for `key` without refusing: what other nodes of a
  // cluster took (server/cluster_rates). A bucket may go down to minus its burst, so a
  // burst spent on several nodes at once is paid back before the next is allowed.
  void debit(rate_class c, std::string_view key, double n);
  void debit(rate_class c, std::string_view key, double n,
             std::chrono::steady_clock::time_point now);

  // Called after every token taken (not for refusals), outside any lock of the limiter.
  // Set before the limiter is used.
  void set_observer(std::function<void(rate_class, std::string_view key)> o) {
    observer_ = std::move(o);
  }

  std::size_t keys() const;  // buckets held (for tests and metrics)

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  rules rules_;
  std::function<void(rate_class, std::string_view)> observer_;
};

// A token bucket owned by one thread (a connection's own, no lock).
class token_bucket {
 public:
  token_bucket(double per_s, double burst) : per_s_(per_s), burst_(burst), tokens_(burst) {}
  // As rate_limiter::take.
  std::int64_t take(std::chrono::steady_clock::time_point now);

 private:
  double per_s_, burst_, tokens_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace parley
