// Mints signed tokens (compact JWS) the way an external auth service would, with
// libsodium, for the unit and integration tests of signed-token authentication. The JSON
// texts are used as given, so tests can write malformed or tricky headers and payloads.
#pragma once

#include <sodium.h>

#include <string>

#include "core/jwt.hpp"

namespace parley::test {

struct ed25519_keys {
  std::string pk, sk;  // 32-byte public key, 64-byte secret key
  static ed25519_keys make() {
    ed25519_keys k;
    k.pk.resize(crypto_sign_PUBLICKEYBYTES);
    k.sk.resize(crypto_sign_SECRETKEYBYTES);
    crypto_sign_keypair(reinterpret_cast<unsigned char*>(k.pk.data()),
                        reinterpret_cast<unsigned char*>(k.sk.data()));
    return k;
  }
};

inline std::string signing_input(const std::string& header_json, const std::string& payload_json) {
  return base64url_encode(header_json) + "." + base64url_encode(payload_json);
}

inline std::string ed25519_sign(const std::string& input, const std::string& sk) {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                       reinterpret_cast<const unsigned char*>(sk.data()));
  return sig;
}

inline std::string hmac_sha256(const std::string& input, const std::string& key) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()),
                                input.size());
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&st, reinterpret_cast<unsigned char*>(mac.data()));
  return mac;
}

// header.payload.signature with an Ed25519 signature by `sk`.
inline std::string mint_eddsa(const std::string& payload_json, const std::string& sk,
                              const std::string& header_json = R"({"alg":"EdDSA","typ":"JWT"})") {
  auto in = signing_input(header_json, payload_json);
  return in + "." + base64url_encode(ed25519_sign(in, sk));
}

// header.payload.signature with an HMAC-SHA-256 by `secret`.
inline std::string mint_hs256(const std::string& payload_json, const std::string& secret,
                              const std::string& header_json = R"({"alg":"HS256","typ":"JWT"})") {
  auto in = signing_input(header_json, payload_json);
  return in + "." + base64url_encode(hmac_sha256(in, secret));
}

}  // namespace parley::test
