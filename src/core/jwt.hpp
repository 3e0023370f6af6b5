// Signed bearer tokens (compact JWS, RFC 7515/7519) minted by an external auth service,
// accepted beside Parley's own opaque tokens (docs/security.md, "Signed tokens").
//
// The algorithm is pinned by configuration: a token whose header names any other `alg`
// (including "none") is refused, so neither an unsigned token nor one MACed with the
// Ed25519 public key as an HS256 secret gets through. Verification is strict: exactly
// three base64url segments without padding, canonical base64url, a JSON object header and
// payload without duplicate keys, no `crit` header, at most kMaxSignedTokenBytes. The
// signature or MAC is checked in constant time before any claim is looked at.
//
// Thread-safe: a verifier is immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace parley {

enum class jwt_alg { eddsa, hs256 };

// Longest signed token accepted, in bytes (the whole compact form).
inline constexpr std::size_t kMaxSignedTokenBytes = 8192;
// Numeric date claims (exp, nbf, iat) must be integers in [0, this] (year 9999).
inline constexpr std::int64_t kMaxNumericDate = 253402300799;
// Longest `sid` claim (the device name), in bytes.
inline constexpr std::size_t kMaxSidBytes = 64;

struct jwt_settings {
  jwt_alg alg = jwt_alg::eddsa;
  // EdDSA: the 32-byte Ed25519 public key; HS256: the shared secret (>= 32 bytes).
  std::string key;
  std::string issuer;    // `iss` must equal this
  std::string audience;  // `aud` (a string or an array of strings) must contain this
  std::int64_t leeway_s = 60;
};

// Who a valid token names.
struct jwt_identity {
  std::string subject;  // `sub`, as in the token (not yet normalized)
  std::string device;   // `sid`, or "" when the token has none
  // Unix seconds after which this server refuses the token: exp + leeway.
  std::int64_t valid_until_s = 0;
};

class jwt_verifier {
 public:
  explicit jwt_verifier(jwt_settings s);
  ~jwt_verifier();
  jwt_verifier(const jwt_verifier&) = delete;
  jwt_verifier& operator=(const jwt_verifier&) = delete;

  // The identity of `token` at `now_s` (Unix seconds), or errc::unauthenticated whose
  // message says why (for the server's debug log only: never shown to the client, and
  // never containing the token).
  result<jwt_identity> verify(std::string_view token, std::int64_t now_s) const;
  jwt_alg alg() const { return s_.alg; }

 private:
  jwt_settings s_;
};

// Whether a bearer token has the compact JWS shape (two dots); Parley's own tokens
// ("pt_" + base64url) never do.
bool looks_like_jwt(std::string_view token);
// The header `alg` value for an algorithm ("EdDSA", "HS256").
std::string_view jwt_alg_name(jwt_alg a);
// Strict base64url without padding (RFC 7515 section 2): errc::invalid for any character
// outside A-Z a-z 0-9 - _, for padding, and for non-zero trailing bits.
result<std::string> base64url_decode(std::string_view in);
std::string base64url_encode(std::string_view bytes);
// An Ed25519 public key from its text: 64 hex digits, base64 or base64url of the 32 bytes
// (padding optional), or a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block. Errors say what
// is wrong without echoing the text.
result<std::string> parse_ed25519_public_key(std::string_view text);

}  // namespace parley
