// A log-linear latency histogram (HdrHistogram-like): exact below 128 ns, then 128 linear
// buckets per power of two, so a reported percentile is within 0.8% of the true value.
// Recording is O(1) with no allocation; histograms merge by adding counts.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace bench {

class histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr std::uint64_t kSub = 1u << kSubBits;

  histogram() : counts_((64 - kSubBits + 1) * kSub, 0) {}

  void record(std::int64_t v) {
    if (v < 0) v = 0;  // clock skew cannot happen (one steady clock), but stay safe
    auto u = static_cast<std::uint64_t>(v);
    ++counts_[index(u)];
    ++n_;
    max_ = std::max(max_, u);
    sum_ += static_cast<double>(u);
  }

  void merge(const histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    max_ = std::max(max_, o.max_);
    sum_ += o.sum_;
  }

  // Raw access, to move histograms between processes (common.cpp).
  const std::vector<std::uint64_t>& raw_counts() const { return counts_; }
  void add_raw(std::size_t bucket, std::uint64_t n) {
    if (bucket < counts_.size()) {
      counts_[bucket] += n;
      n_ += n;
    }
  }
  void set_max_sum(std::uint64_t max, double sum) {
    max_ = max;
    sum_ = sum;
  }
  double sum() const { return sum_; }

  std::uint64_t count() const { return n_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return n_ ? sum_ / static_cast<double>(n_) : 0.0; }

  // The value at quantile q (0..1): the midpoint of the bucket holding that rank, capped at max.
  std::uint64_t quantile(double q) const {
    if (n_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(mid(i), max_);
    }
    return max_;
  }

 private:
  static std::size_t index(std::uint64_t v) {
    if (v < kSub) return static_cast<std::size_t>(v);
    int msb = 63 - std::countl_zero(v);
    int shift = msb - kSubBits;
    return (static_cast<std::size_t>(shift + 1) << kSubBits) +
           static_cast<std::size_t>((v >> shift) - kSub);
  }
  static std::uint64_t mid(std::size_t i) {
    if (i < kSub) return i;
    int shift = static_cast<int>(i >> kSubBits) - 1;
    std::uint64_t lower = ((i & (kSub - 1)) + kSub) << shift;
    return lower + ((std::uint64_t{1} << shift) >> 1);
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t n_ = 0;
  std::uint64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace bench
