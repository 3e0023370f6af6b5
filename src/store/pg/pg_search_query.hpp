// Translates the store's search syntax (search_query::match: FTS5 terms, as
// service_search.cpp's fts_query writes them) into PostgreSQL tsquery text.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace parley::pg {

class bad_search_query : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Accepts terms separated by spaces, each a double-quoted string ("" inside is one
// quote), followed by '*' for a prefix match. Every term must match (AND). Returns the input of
// to_tsquery('simple', ...): each term quoted, so the text search parser splits it as it
// splits indexed text (several words in one term become a phrase), ':*' for a prefix.
// Throws bad_search_query for anything else (bare words, which FTS5 would read as
// operators when they are AND, OR, NOT or NEAR; parentheses; an empty term; an unclosed
// quote; no terms at all).
std::string to_tsquery_text(std::string_view match);

}  // namespace parley::pg
