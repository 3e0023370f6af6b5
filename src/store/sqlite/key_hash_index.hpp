// A multimap from 64-bit hashes to 64-bit values in one flat array (open addressing,
// linear probing, backward-shift deletion): the send_key_buffer's index, which every send
// probes once and usually misses. A node-based std::unordered_multimap spent several
// cache misses per probe there (5% of the writer under W4).
//
// Thread-safety: none; one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace parley::sqlite {

class key_hash_index {
 public:
  // A value may be anything but this one.
  static constexpr std::int64_t kEmpty = std::numeric_limits<std::int64_t>::min();

  std::size_t size() const { return size_; }

  void clear() {
    slots_.clear();
    size_ = 0;
  }

  void insert(std::uint64_t h, std::int64_t value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    place(slot{h, value});
    ++size_;
  }

  // Removes one entry (h, value); false when there is none.
  bool erase(std::uint64_t h, std::int64_t value) {
    if (slots_.empty()) return false;
    for (auto i = home(h); slots_[i].value != kEmpty; i = next(i)) {
      if (slots_[i].h == h && slots_[i].value == value) {
        shift_back(i);
        --size_;
        return true;
      }
    }
    return false;
  }

  // Calls f(value) for each entry with hash h until f returns true.
  template <class F>
  void find(std::uint64_t h, F f) const {
    if (slots_.empty()) return;
    for (auto i = home(h); slots_[i].value != kEmpty; i = next(i))
      if (slots_[i].h == h && f(slots_[i].value)) return;
  }

 private:
  struct slot {
    std::uint64_t h = 0;
    std::int64_t value = kEmpty;
  };

  std::size_t home(std::uint64_t h) const {
    return static_cast<std::size_t>((h * 0x9e3779b97f4a7c15ULL) >> shift_);
  }
  std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }

  void place(slot s) {
    auto i = home(s.h);
    while (slots_[i].value != kEmpty) i = next(i);
    slots_[i] = s;
  }

  // Empties slot i, moving later entries of its probe run back so that every entry stays
  // reachable from its home slot.
  void shift_back(std::size_t i) {
    for (auto j = next(i);; j = next(j)) {
      if (slots_[j].value == kEmpty) break;
      auto k = home(slots_[j].h);
      // Entry j may move to i when i lies cyclically in [k, j).
      bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
      if (movable) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = slot{};
  }

  void grow() {
    auto old = std::move(slots_);
    std::size_t n = old.empty() ? 64 : old.size() * 2;
    slots_.assign(n, slot{});
    shift_ = 64;
    for (auto m = n; m > 1; m >>= 1) --shift_;
    for (const auto& s : old)
      if (s.value != kEmpty) place(s);
  }

  std::vector<slot> slots_;  // a power of two, at most half full
  std::size_t size_ = 0;
  int shift_ = 64;
};

}  // namespace parley::sqlite
