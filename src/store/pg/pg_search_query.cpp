#include "store/pg/pg_search_query.hpp"

namespace parley::pg {

namespace {

// A tsquery quoted value: quote and backslash escaped.
void append_quoted(std::string& out, std::string_view term) {
  out += '\'';
  for (char ch : term) {
    if (ch == '\'') out += '\'';
    if (ch == '\\') out += '\\';
    out += ch;
  }
  out += '\'';
}

}  // namespace

std::string to_tsquery_text(std::string_view m) {
  std::string out;
  std::size_t i = 0;
  for (;;) {
    while (i < m.size() && m[i] == ' ') ++i;
    if (i == m.size()) break;
    if (m[i] != '"') throw bad_search_query("search query: terms are quoted");
    std::string term;
    for (++i;;) {
      if (i == m.size()) throw bad_search_query("search query: unclosed quote");
      if (m[i] == '"') {
        if (i + 1 < m.size() && m[i + 1] == '"') {
          term += '"';
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      term += m[i++];
    }
    if (term.empty()) throw bad_search_query("search query: empty term");
    bool prefix = i < m.size() && m[i] == '*';
    if (prefix) ++i;
    if (i < m.size() && m[i] != ' ')
      throw bad_search_query("search query: terms are separated by spaces");
    if (!out.empty()) out += " & ";
    append_quoted(out, term);
    if (prefix) out += ":*";
  }
  if (out.empty()) throw bad_search_query("search query: no terms");
  return out;
}

}  // namespace parley::pg
