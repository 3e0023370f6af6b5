// The [jwt] configuration turned into a verifier of signed bearer tokens (core/jwt.hpp):
// reads the Ed25519 public key (inline or from a file) or the HS256 secret (from a file
// or an environment variable). The secret is held only by the verifier: it is never part
// of server_config, so `parley config`, logs and errors never show it.
#pragma once

#include <memory>

#include "core/error.hpp"
#include "core/jwt.hpp"
#include "server/config.hpp"

namespace parley {

// The verifier for `c`, null when jwt.enabled is "off", or errc::invalid naming the
// option at fault (a missing or unreadable file, an unset variable, a malformed or short
// key) without the key's contents. `c` must have passed validate().
result<std::shared_ptr<const jwt_verifier>> load_jwt_verifier(const server_config& c);

}  // namespace parley
