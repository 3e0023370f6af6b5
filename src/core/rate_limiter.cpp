#include "core/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley {

const char* rate_class_name(rate_class c) {
  switch (c) {
    case rate_class::write:
      return "write";
    case rate_class::typing:
      return "typing";
    case rate_class::search:
      return "search";
    case rate_class::upload:
      return "upload";
    case rate_class::login_account:
      return "login_account";
    case rate_class::auth_address:
      return "auth_address";
    case rate_class::count_:
      break;
  }
  return "unknown";
}

namespace {

constexpr std::size_t kShards = 16;
using clock_type = std::chrono::steady_clock;

// Refills `tokens` for the time since `last`, then takes one if it can.
std::int64_t take_token(double per_s, double burst, double& tokens, clock_type::time_point& last,
                        clock_type::time_point now) {
  if (last != clock_type::time_point{}) {
    double dt = std::chrono::duration<double>(now - last).count();
    if (dt > 0) tokens = std::min(burst, tokens + dt * per_s);
  }
  last = now;
  if (tokens >= 1) {
    tokens -= 1;
    return 0;
  }
  return std::max<std::int64_t>(1,
                                static_cast<std::int64_t>(std::ceil((1 - tokens) / per_s * 1000)));
}

}  // namespace

std::int64_t token_bucket::take(clock_type::time_point now) {
  if (per_s_ <= 0) return 0;
  return take_token(per_s_, burst_, tokens_, last_, now);
}

struct rate_limiter::impl {
  struct bucket {
    double tokens;
    clock_type::time_point last;
  };
  struct shard {
    std::mutex mu;
    std::unordered_map<std::string, bucket> m;
  };
  std::array<shard, kShards> shards;
  std::size_t per_shard_max;
  bucket& find_or_add(shard& sh, std::string k, const rate_rule& rule, const rules& rules_,
                      clock_type::time_point now);
};

rate_limiter::rate_limiter(rules r, std::size_t max_keys)
    : impl_(std::make_unique<impl>()), rules_(r) {
  impl_->per_shard_max = std::max<std::size_t>(16, max_keys / kShards);
}

rate_limiter::~rate_limiter() = default;

std::int64_t rate_limiter::take(rate_class c, std::string_view key) {
  return take(c, key, clock_type::now());
}

namespace {
std::string bucket_key(rate_class c, std::string_view key) {
  std::string k;
  k.reserve(key.size() + 1);
  k += static_cast<char>('a' + static_cast<int>(c));
  k += key;
  return k;
}
}  // namespace

rate_limiter::impl::bucket& rate_limiter::impl::find_or_add(shard& sh, std::string k,
                                                            const rate_rule& rule,
                                                            const rules& rules_,
                                                            clock_type::time_point now) {
  auto it = sh.m.find(k);
  if (it != sh.m.end()) return it->second;
  if (sh.m.size() >= per_shard_max) {
    // Forget buckets that are full again: a fresh bucket is the same.
    std::erase_if(sh.m, [&](const auto& kv) {
      const auto& r = rules_[static_cast<std::size_t>(kv.first[0] - 'a')];
      double dt = std::chrono::duration<double>(now - kv.second.last).count();
      return kv.second.tokens + dt * r.per_s >= r.burst;
    });
    if (sh.m.size() >= per_shard_max) {  // still full: the oldest half goes
      std::vector<clock_type::time_point> ts;
      ts.reserve(sh.m.size());
      for (const auto& [_, b] : sh.m) ts.push_back(b.last);
      auto mid = ts.begin() + static_cast<std::ptrdiff_t>(ts.size() / 2);
      std::nth_element(ts.begin(), mid, ts.end());
      auto cut = *mid;
      std::erase_if(sh.m, [&](const auto& kv) { return kv.second.last <= cut; });
    }
  }
  return sh.m.emplace(std::move(k), impl::bucket{rule.burst, now}).first->second;
}

std::int64_t rate_limiter::take(rate_class c, std::string_view key, clock_type::time_point now) {
  const auto& rule = rules_[static_cast<std::size_t>(c)];
  if (rule.per_s <= 0) return 0;
  auto k = bucket_key(c, key);
  auto& sh = impl_->shards[std::hash<std::string>{}(k) % kShards];
  std::int64_t wait;
  {
    std::lock_guard lk(sh.mu);
    auto& b = impl_->find_or_add(sh, std::move(k), rule, rules_, now);
    wait = take_token(rule.per_s, rule.burst, b.tokens, b.last, now);
  }
  if (wait == 0 && observer_) observer_(c, key);
  return wait;
}

void rate_limiter::debit(rate_class c, std::string_view key, double n) {
  debit(c, key, n, clock_type::now());
}

void rate_limiter::debit(rate_class c, std::string_view key, double n, clock_type::time_point now) {
  const auto& rule = rules_[static_cast<std::size_t>(c)];
  if (rule.per_s <= 0 || n <= 0) return;
  auto k = bucket_key(c, key);
  auto& sh = impl_->shards[std::hash<std::string>{}(k) % kShards];
  std::lock_guard lk(sh.mu);
  auto& b = impl_->find_or_add(sh, std::move(k), rule, rules_, now);
  double dt = std::chrono::duration<double>(now - b.last).count();
  if (dt > 0) b.tokens = std::min(rule.burst, b.tokens + dt * rule.per_s);
  b.last = now;
  b.tokens = std::max(-rule.burst, b.tokens - n);
}

void rate_limiter::refund(rate_class c, std::string_view key) {
  const auto& rule = rules_[static_cast<std::size_t>(c)];
  if (rule.per_s <= 0) return;
  auto k = bucket_key(c, key);
  auto& sh = impl_->shards[std::hash<std::string>{}(k) % kShards];
  std::lock_guard lk(sh.mu);
  if (auto it = sh.m.find(k); it != sh.m.end())
    it->second.tokens = std::min(rule.burst, it->second.tokens + 1);
}

std::size_t rate_limiter::keys() const {
  std::size_t n = 0;
  for (auto& sh : impl_->shards) {
    std::lock_guard lk(sh.mu);
    n += sh.m.size();
  }
  return n;
}

}  // namespace parley
