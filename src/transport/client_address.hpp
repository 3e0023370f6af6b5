// The address a request comes from, for per-address limits and logs. Behind a load
// balancer every connection's TCP peer is the balancer; when that peer is listed in
// `server.trusted_proxies`, the client is the last address in X-Forwarded-For (the one
// the balancer appended: earlier entries come from the client and prove nothing).
#pragma once

#include <string>
#include <string_view>

namespace parley {

// `trusted`: comma-separated IP addresses (server.trusted_proxies). Returns `peer` unless
// it is trusted and the header's last entry is a valid IPv4 or IPv6 address.
std::string client_address(std::string_view trusted, const std::string& peer,
                           std::string_view forwarded_for);

// Whether every entry of `trusted` is an IP address (config validation).
bool valid_proxy_list(std::string_view trusted);

}  // namespace parley
