#include "transport/origin.hpp"

#include <boost/beast/core/string.hpp>
#include <cctype>

namespace parley {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '/')) s.remove_suffix(1);
  return s;
}

// "scheme://host[:port]" without the default port of the scheme.
std::string_view authority_of(std::string_view origin, std::string_view& scheme) {
  auto sep = origin.find("://");
  if (sep == std::string_view::npos) return {};
  scheme = origin.substr(0, sep);
  return origin.substr(sep + 3);
}

// host[:port] with the port dropped when it is the scheme's default.
std::string_view without_default_port(std::string_view authority, std::string_view scheme) {
  if (authority.ends_with(":80") && boost::beast::iequals(scheme, "http"))
    authority.remove_suffix(3);
  if (authority.ends_with(":443") && boost::beast::iequals(scheme, "https"))
    authority.remove_suffix(4);
  return authority;
}

}  // namespace

bool origin_allowed(std::string_view allowed, std::string_view origin, std::string_view host) {
  origin = trim(origin);
  if (origin.empty()) return true;  // not a browser's cross-origin request
  allowed = trim(allowed);
  if (allowed == "*") return true;
  while (!allowed.empty()) {
    auto comma = allowed.find(',');
    auto one = trim(allowed.substr(0, comma));
    if (!one.empty() && boost::beast::iequals(one, origin)) return true;
    if (comma == std::string_view::npos) break;
    allowed.remove_prefix(comma + 1);
  }
  // The server's own origin: the authority the browser connected to.
  std::string_view scheme;
  auto authority = authority_of(origin, scheme);
  if (authority.empty() || host.empty()) return false;
  auto a = without_default_port(authority, scheme);
  host = trim(host);
  return boost::beast::iequals(a, host) ||
         boost::beast::iequals(a, without_default_port(host, scheme));
}

}  // namespace parley
