#include "core/jwt.hpp"

#include <sodium.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <cctype>
#include <cstring>
#include <optional>

#include "core/json_strict.hpp"

namespace parley {

namespace json = boost::json;

namespace {

error refuse(std::string why) {
  return make_error(errc::unauthenticated, std::move(why));
}

// A numeric date claim: absent (nullopt), or an integer in [0, kMaxNumericDate].
result<std::optional<std::int64_t>> numeric_date(const json::object& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::int64_t>{};
  const auto& v = it->value();
  std::int64_t n = -1;
  if (v.is_int64()) n = v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= std::uint64_t(kMaxNumericDate))
    n = std::int64_t(v.get_uint64());
  if (n < 0 || n > kMaxNumericDate)
    return refuse(std::string(name) + " is not an integer date in range");
  return std::optional<std::int64_t>{n};
}

bool audience_matches(const json::value& aud, const std::string& want) {
  if (aud.is_string()) return aud.get_string() == want;
  if (!aud.is_array() || aud.get_array().empty()) return false;
  bool found = false;
  for (const auto& a : aud.get_array()) {
    if (!a.is_string()) return false;  // a malformed array is refused whole
    if (a.get_string() == want) found = true;
  }
  return found;
}

bool verify_hs256(const std::string& key, std::string_view input, const std::string& mac) {
  if (mac.size() != crypto_auth_hmacsha256_BYTES) return false;
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()),
                                input.size());
  unsigned char want[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, want);
  bool ok = sodium_memcmp(want, mac.data(), sizeof want) == 0;
  sodium_memzero(want, sizeof want);
  sodium_memzero(&st, sizeof st);
  return ok;
}

bool verify_eddsa(const std::string& pk, std::string_view input, const std::string& sig) {
  if (sig.size() != crypto_sign_BYTES || pk.size() != crypto_sign_PUBLICKEYBYTES) return false;
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                     reinterpret_cast<const unsigned char*>(input.data()),
                                     input.size(),
                                     reinterpret_cast<const unsigned char*>(pk.data())) == 0;
}

}  // namespace

std::string_view jwt_alg_name(jwt_alg a) {
  return a == jwt_alg::eddsa ? "EdDSA" : "HS256";
}

bool looks_like_jwt(std::string_view token) {
  return std::count(token.begin(), token.end(), '.') == 2;
}

result<std::string> base64url_decode(std::string_view in) {
  // libsodium 1.0.18 also decodes some bytes >= 0x80 as if they were base64 characters
  // (found by jwt_fuzz), so the alphabet is checked here first.
  for (char c : in)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return make_error(errc::invalid, "not canonical base64url without padding");
  std::string out(in.size() * 3 / 4 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != in.data() + in.size())
    return make_error(errc::invalid, "not canonical base64url without padding");
  out.resize(len);
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

result<std::string> parse_ed25519_public_key(std::string_view text) {
  std::string t;
  bool pem = text.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos;
  if (pem) {
    auto b = text.find("-----BEGIN PUBLIC KEY-----") + 26;
    auto e = text.find("-----END PUBLIC KEY-----", b);
    if (e == std::string_view::npos)
      return make_error(errc::invalid, "the PEM block has no END PUBLIC KEY line");
    text = text.substr(b, e - b);
  }
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) return make_error(errc::invalid, "an Ed25519 public key is ASCII text");
    if (!std::isspace(u)) t += c;
  }
  std::string raw(64, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  bool ok = false;
  if (!pem && t.size() == 64) {
    ok = sodium_hex2bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), t.data(),
                        t.size(), nullptr, &len, &end) == 0 &&
         end == t.data() + t.size();
  }
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    if (ok) break;
    ok = sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), t.data(),
                           t.size(), nullptr, &len, &end, variant) == 0 &&
         end == t.data() + t.size();
  }
  if (!ok) return make_error(errc::invalid, "an Ed25519 public key must be hex, base64 or PEM");
  raw.resize(len);
  // SubjectPublicKeyInfo of an Ed25519 key: this 12-byte prefix, then the 32 bytes.
  static constexpr unsigned char kSpki[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                            0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
  if (pem) {
    if (raw.size() != 44 || std::memcmp(raw.data(), kSpki, sizeof kSpki) != 0)
      return make_error(errc::invalid, "the PEM block is not an Ed25519 public key");
    raw.erase(0, sizeof kSpki);
  }
  if (raw.size() != crypto_sign_PUBLICKEYBYTES)
    return make_error(errc::invalid, "an Ed25519 public key is 32 bytes");
  if (crypto_core_ed25519_is_valid_point(reinterpret_cast<const unsigned char*>(raw.data())) != 1)
    return make_error(errc::invalid, "not a valid Ed25519 public key");
  return raw;
}

jwt_verifier::jwt_verifier(jwt_settings s) : s_(std::move(s)) {}

jwt_verifier::~jwt_verifier() {
  sodium_memzero(s_.key.data(), s_.key.size());
}

result<jwt_identity> jwt_verifier::verify(std::string_view token, std::int64_t now_s) const {
  if (token.size() > kMaxSignedTokenBytes) return refuse("the token is too long");
  auto d1 = token.find('.');
  auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return refuse("not three dot-separated segments");
  auto h64 = token.substr(0, d1), p64 = token.substr(d1 + 1, d2 - d1 - 1),
       s64 = token.substr(d2 + 1);
  if (s64.empty()) return refuse("no signature");
  auto header_text = base64url_decode(h64);
  if (!header_text) return refuse("header: " + header_text.err().message);
  auto header = parse_strict_object(*header_text);
  if (!header) return refuse("header: " + header.err().message);
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->value().is_string() ||
      alg->value().get_string() != jwt_alg_name(s_.alg))
    return refuse("header alg is not the configured " + std::string(jwt_alg_name(s_.alg)));
  if (header->contains("crit")) return refuse("header has crit");
  auto sig = base64url_decode(s64);
  if (!sig) return refuse("signature: " + sig.err().message);
  auto input = token.substr(0, d2);
  bool good = s_.alg == jwt_alg::eddsa ? verify_eddsa(s_.key, input, *sig)
                                       : verify_hs256(s_.key, input, *sig);
  if (!good) return refuse("bad signature");

  // Signed by the configured key from here on: the claims.
  auto payload_text = base64url_decode(p64);
  if (!payload_text) return refuse("payload: " + payload_text.err().message);
  auto claims = parse_strict_object(*payload_text);
  if (!claims) return refuse("payload: " + claims.err().message);
  auto exp = numeric_date(*claims, "exp");
  if (!exp) return exp.err();
  if (!*exp) return refuse("no exp claim");
  auto nbf = numeric_date(*claims, "nbf");
  if (!nbf) return nbf.err();
  auto iat = numeric_date(*claims, "iat");
  if (!iat) return iat.err();
  if (now_s >= **exp + s_.leeway_s) return refuse("expired");
  if (*nbf && now_s + s_.leeway_s < **nbf) return refuse("not valid yet (nbf)");
  if (*iat && now_s + s_.leeway_s < **iat) return refuse("issued in the future (iat)");
  auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->value().is_string() || iss->value().get_string() != s_.issuer)
    return refuse("wrong or missing iss");
  auto aud = claims->find("aud");
  if (aud == claims->end() || !audience_matches(aud->value(), s_.audience))
    return refuse("wrong or missing aud");
  auto sub = claims->find("sub");
  if (sub == claims->end() || !sub->value().is_string() || sub->value().get_string().empty())
    return refuse("no sub claim");
  jwt_identity id;
  id.subject = std::string(sub->value().get_string());
  if (auto sid = claims->find("sid"); sid != claims->end()) {
    if (!sid->value().is_string() || sid->value().get_string().empty() ||
        sid->value().get_string().size() > kMaxSidBytes)
      return refuse("sid is not a string of 1 to 64 bytes");
    id.device = std::string(sid->value().get_string());
  }
  id.valid_until_s = **exp + s_.leeway_s;
  return id;
}

}  // namespace parley
