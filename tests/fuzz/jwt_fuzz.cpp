// libFuzzer target: signed tokens (core/jwt.hpp). The first byte picks what the rest is:
// - even: a whole token, verified by an EdDSA and an HS256 verifier (almost always
//   refused; never a crash), and a base64url string (what decodes must encode back to the
//   same text: decoding is canonical);
// - odd: "<header JSON>\n<payload JSON>", signed here with the verifiers' keys, so the
//   fuzzer reaches the header and claim checks behind the signature. An accepted token
//   must have what the verifier promises: alg as configured, no crit, iss, aud, sub and an
//   integer exp that has not passed, checked again here with Boost.JSON.
#include <sodium.h>

#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "../support/jwt_mint.hpp"
#include "core/crypto.hpp"
#include "core/jwt.hpp"

namespace {

using namespace parley;
namespace json = boost::json;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "fuzzing secret of at least thirty-two bytes";

void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "jwt_fuzz: broken promise: %s\n", what);
  std::abort();
}

struct fixture {
  test::ed25519_keys keys = test::ed25519_keys::make();
  std::unique_ptr<jwt_verifier> ed, hs;
  fixture() {
    jwt_settings s;
    s.issuer = "https://auth.example.com";
    s.audience = "parley";
    s.leeway_s = 60;
    s.alg = jwt_alg::eddsa;
    s.key = keys.pk;
    ed = std::make_unique<jwt_verifier>(s);
    s.alg = jwt_alg::hs256;
    s.key = kSecret;
    hs = std::make_unique<jwt_verifier>(s);
  }
};

fixture* fx = nullptr;

// What an accepted token must hold, read again independently of the verifier.
void check_accepted(const std::string& header, const std::string& payload, const jwt_identity& id,
                    std::string_view alg) {
  auto h = json::parse(header).as_object();
  expect(h.at("alg").as_string() == alg, "alg is the configured one");
  expect(!h.contains("crit"), "no crit");
  auto p = json::parse(payload).as_object();
  expect(p.at("iss").as_string() == "https://auth.example.com", "iss matches");
  expect(p.at("sub").as_string() == id.subject, "sub is the subject");
  const auto& exp = p.at("exp");
  expect(exp.is_int64() || exp.is_uint64(), "exp is an integer");
  expect(id.valid_until_s > kNow, "not expired");
  const auto& aud = p.at("aud");
  bool found = aud.is_string() && aud.as_string() == "parley";
  if (aud.is_array())
    for (const auto& a : aud.as_array())
      found = found || (a.is_string() && a.as_string() == "parley");
  expect(found, "aud contains the audience");
  expect(id.device.size() <= kMaxSidBytes, "sid within its limit");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_crypto();
  fx = new fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    (void)fx->ed->verify(in, kNow);
    (void)fx->hs->verify(in, kNow);
    if (auto d = base64url_decode(in))
      expect(base64url_encode(*d) == in, "base64url decoding is canonical");
    return 0;
  }
  auto nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  std::string header(in.substr(0, nl)), payload(in.substr(nl + 1));
  auto ed = fx->ed->verify(test::mint_eddsa(payload, fx->keys.sk, header), kNow);
  if (ed) check_accepted(header, payload, *ed, "EdDSA");
  auto hs = fx->hs->verify(test::mint_hs256(payload, kSecret, header), kNow);
  if (hs) check_accepted(header, payload, *hs, "HS256");
  expect(!fx->ed->verify(test::mint_hs256(payload, fx->keys.pk, header), kNow),
         "an HMAC keyed with the public key never passes as an Ed25519 signature");
  return 0;
}
