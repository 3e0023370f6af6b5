// Which web origins may use the server from a browser (server.allowed_origins): the
// defence against cross-site WebSocket hijacking and cross-site requests. Requests without
// an Origin header (anything that is not a browser) are not affected.
#pragma once

#include <string_view>

namespace parley {

// Whether a request carrying `origin` (the Origin header; empty: none) to `host` (its Host
// header) may proceed under `allowed` (the setting: "" = the server's own origin only,
// "*" = any origin, else a comma-separated list of origins such as
// "https://chat.example.com"). The own origin is the one whose host and port are the Host
// header's, whatever the scheme (TLS may end at a proxy in front).
bool origin_allowed(std::string_view allowed, std::string_view origin, std::string_view host);

}  // namespace parley
