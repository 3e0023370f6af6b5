#include "transport/client_address.hpp"

#include <arpa/inet.h>

namespace parley {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_ip(std::string_view s) {
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN] = {};
  s.copy(buf, s.size());
  unsigned char out[16];
  return inet_pton(AF_INET, buf, out) == 1 || inet_pton(AF_INET6, buf, out) == 1;
}

template <typename F>
void each_entry(std::string_view list, F f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    f(trim(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

std::string client_address(std::string_view trusted, const std::string& peer,
                           std::string_view forwarded_for) {
  if (trusted.empty() || forwarded_for.empty()) return peer;
  bool is_trusted = false;
  each_entry(trusted, [&](std::string_view e) { is_trusted = is_trusted || e == peer; });
  if (!is_trusted) return peer;
  auto comma = forwarded_for.rfind(',');
  auto last =
      trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
  return is_ip(last) ? std::string(last) : peer;
}

bool valid_proxy_list(std::string_view trusted) {
  bool ok = true;
  each_entry(trusted, [&](std::string_view e) { ok = ok && is_ip(e); });
  return ok;
}

}  // namespace parley
