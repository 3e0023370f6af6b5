#include "core/paging.hpp"

#include "core/args.hpp"

namespace parley {

result<page_request> parse_page(const boost::json::object& a, std::size_t default_limit,
                                std::size_t max_limit) {
  page_request p;
  auto before = args::opt_i64(a, "before");
  if (!before) return before.err();
  auto after = args::opt_i64(a, "after");
  if (!after) return after.err();
  if (*before && *after)
    return make_error(errc::invalid, "give before or after, not both", "before");
  constexpr std::int64_t kMaxSeq = std::int64_t{1} << 53;
  if (*after && (**after < 0 || **after > kMaxSeq))
    return make_error(errc::invalid, "after is a seq from 0 to 2^53", "after");
  if (*before && (**before < 1 || **before > kMaxSeq))
    return make_error(errc::invalid, "before is a seq from 1 to 2^53", "before");
  auto limit = args::opt_i64(a, "limit");
  if (!limit) return limit.err();
  auto n = limit->value_or(static_cast<std::int64_t>(default_limit));
  if (n < 1 || n > static_cast<std::int64_t>(max_limit))
    return make_error(errc::invalid, "limit is 1 to " + std::to_string(max_limit), "limit");
  p.before = *before;
  p.after = *after;
  p.limit = static_cast<std::size_t>(n);
  return p;
}

}  // namespace parley
