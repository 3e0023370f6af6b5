// The paging arguments shared by history, messages and thread: `before` or `after` (a
// seq cursor, exclusive) and `limit`.
#pragma once

#include <algorithm>
#include <boost/json/object.hpp>
#include <optional>

#include "core/error.hpp"
#include "core/model.hpp"

namespace parley {

struct page_request {
  std::optional<seq_t> before;  // the page just before this seq (1 or more)
  std::optional<seq_t> after;   // the page just after this seq (0 or more)
  std::size_t limit = 50;
};

// Reads and checks before/after/limit: at most one cursor, cursors within 0..2^53 (so
// cursor +1 and -1 cannot overflow), limit 1..max_limit (default_limit when absent).
result<page_request> parse_page(const boost::json::object& a, std::size_t default_limit,
                                std::size_t max_limit);

// One page within [bottom, top], oldest first: fetch(from, to, n, descending) returns at
// most n items of that range in the given order. `more` says whether items lie beyond the
// page in the paging direction.
template <class Fetch>
auto read_page(const page_request& p, seq_t bottom, seq_t top, Fetch fetch, bool& more) {
  auto n = p.limit;
  bool desc = !p.after;
  auto items = desc ? fetch(bottom, p.before ? std::min(*p.before - 1, top) : top, n + 1, true)
                    : fetch(std::max(*p.after + 1, bottom), top, n + 1, false);
  more = items.size() > n;
  if (more) items.pop_back();
  if (desc) std::reverse(items.begin(), items.end());
  return items;
}

}  // namespace parley
