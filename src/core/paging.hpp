// The paging arguments shared by history, messages and thread: `before` or `after` (a
// seq cursor, exclusive) and `limit`.
#pragma once

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

}  // namespace parley
