// The signed-token verifier (core/jwt.hpp): what it accepts, and each way a token is
// refused. Tokens are minted here with libsodium, as an external auth service would.
#include <gtest/gtest.h>

#include <string>

#include "../support/jwt_mint.hpp"
#include "core/crypto.hpp"
#include "core/json_strict.hpp"
#include "core/jwt.hpp"

namespace parley {
namespace {

using test::mint_eddsa;
using test::mint_hs256;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "a shared secret of more than thirty-two bytes";

std::string claims(const std::string& extra = {}, std::int64_t exp = kNow + 300) {
  return R"({"iss":"https://auth.example.com","aud":"parley","sub":"ann","exp":)" +
         std::to_string(exp) + extra + "}";
}

struct JwtTest : ::testing::Test {
  void SetUp() override { init_crypto(); }
  test::ed25519_keys keys = test::ed25519_keys::make();
  jwt_settings base(jwt_alg alg) {
    jwt_settings s;
    s.alg = alg;
    s.key = alg == jwt_alg::eddsa ? keys.pk : kSecret;
    s.issuer = "https://auth.example.com";
    s.audience = "parley";
    s.leeway_s = 60;
    return s;
  }
  jwt_verifier ed{base(jwt_alg::eddsa)};
  jwt_verifier hs{base(jwt_alg::hs256)};
  bool ed_ok(const std::string& t, std::int64_t now = kNow) { return ed.verify(t, now).ok(); }
};

TEST_F(JwtTest, AValidEdDsaTokenNamesItsSubjectDeviceAndExpiry) {
  auto t = mint_eddsa(claims(R"(,"sid":"phone","iat":1800000000,"nbf":1799999990)"), keys.sk);
  auto id = ed.verify(t, kNow);
  ASSERT_TRUE(id.ok()) << id.err().message;
  EXPECT_EQ(id->subject, "ann");
  EXPECT_EQ(id->device, "phone");
  EXPECT_EQ(id->valid_until_s, kNow + 300 + 60);
  EXPECT_TRUE(looks_like_jwt(t));
  EXPECT_FALSE(looks_like_jwt(new_token()));
}

TEST_F(JwtTest, AValidHs256TokenIsAcceptedAndWithoutSidHasTheDefaultDevice) {
  auto id = hs.verify(mint_hs256(claims(), kSecret), kNow);
  ASSERT_TRUE(id.ok()) << id.err().message;
  EXPECT_EQ(id->subject, "ann");
  EXPECT_EQ(id->device, "");
}

TEST_F(JwtTest, TheAlgorithmIsPinnedByConfiguration) {
  // An HS256 token to the EdDSA verifier and the other way round.
  EXPECT_FALSE(ed_ok(mint_hs256(claims(), kSecret)));
  EXPECT_FALSE(hs.verify(mint_eddsa(claims(), keys.sk), kNow).ok());
  // Algorithm confusion: HS256 "signed" with the Ed25519 public key as the secret.
  auto confused = mint_hs256(claims(), keys.pk);
  EXPECT_FALSE(ed_ok(confused));
  // A verifier that took the public key as its HS256 secret would accept it: the mint is
  // right, and the refusal above is the pin's doing.
  jwt_settings s = base(jwt_alg::hs256);
  s.key = keys.pk;
  EXPECT_TRUE(jwt_verifier(std::move(s)).verify(confused, kNow).ok());
  // alg none, with and without a signature; a missing and a non-string alg.
  auto none = test::signing_input(R"({"alg":"none"})", claims());
  EXPECT_FALSE(ed_ok(none + "."));
  EXPECT_FALSE(ed_ok(none + "." + base64url_encode("x")));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(), keys.sk, R"({"typ":"JWT"})")));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(), keys.sk, R"({"alg":["EdDSA"]})")));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(), keys.sk, R"({"alg":"eddsa"})")));
}

TEST_F(JwtTest, TamperingWithAnyPartIsRefused) {
  auto t = mint_eddsa(claims(), keys.sk);
  ASSERT_TRUE(ed_ok(t));
  auto d1 = t.find('.'), d2 = t.rfind('.');
  // Another payload under the original header and signature.
  auto other_payload = base64url_encode(R"({"iss":"https://auth.example.com","aud":"parley",)"
                                        R"("sub":"admin","exp":1800000300})");
  EXPECT_FALSE(ed_ok(t.substr(0, d1 + 1) + other_payload + t.substr(d2)));
  // Another header (same alg) under the original payload and signature.
  auto other_header = base64url_encode(R"({"alg":"EdDSA"})");
  EXPECT_FALSE(ed_ok(other_header + t.substr(d1)));
  // One bit of the signature flipped.
  auto sig = *base64url_decode(t.substr(d2 + 1));
  sig[5] ^= 1;
  EXPECT_FALSE(ed_ok(t.substr(0, d2 + 1) + base64url_encode(sig)));
  // A signature by another key; a truncated signature; none at all.
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(), test::ed25519_keys::make().sk)));
  EXPECT_FALSE(ed_ok(t.substr(0, t.size() - 4)));
  EXPECT_FALSE(ed_ok(t.substr(0, d2 + 1)));
  EXPECT_FALSE(ed_ok(t.substr(0, d2)));
  // HS256 with another secret, or one bit of the MAC flipped.
  EXPECT_FALSE(hs.verify(mint_hs256(claims(), kSecret + "!"), kNow).ok());
  auto h = mint_hs256(claims(), kSecret);
  auto mac = *base64url_decode(h.substr(h.rfind('.') + 1));
  mac[0] ^= 0x80;
  EXPECT_FALSE(hs.verify(h.substr(0, h.rfind('.') + 1) + base64url_encode(mac), kNow).ok());
}

TEST_F(JwtTest, TimeClaimsHonourTheLeeway) {
  auto t = mint_eddsa(claims({}, kNow - 30), keys.sk);  // expired 30 s ago, leeway 60
  EXPECT_TRUE(ed_ok(t));
  EXPECT_FALSE(ed_ok(t, kNow + 30));  // exp + leeway reached
  EXPECT_FALSE(ed_ok(mint_eddsa(claims({}, kNow - 61), keys.sk)));
  auto nbf = mint_eddsa(claims(R"(,"nbf":1800000100)"), keys.sk);
  EXPECT_FALSE(ed_ok(nbf));            // not valid for another 100 s
  EXPECT_TRUE(ed_ok(nbf, kNow + 40));  // within the leeway
  auto iat = mint_eddsa(claims(R"(,"iat":1800000100)"), keys.sk);
  EXPECT_FALSE(ed_ok(iat));  // issued in the future
  EXPECT_TRUE(ed_ok(iat, kNow + 50));
  jwt_settings strict = base(jwt_alg::eddsa);
  strict.leeway_s = 0;
  jwt_verifier v(std::move(strict));
  EXPECT_FALSE(v.verify(mint_eddsa(claims({}, kNow), keys.sk), kNow).ok());
  EXPECT_TRUE(v.verify(mint_eddsa(claims({}, kNow + 1), keys.sk), kNow).ok());
}

TEST_F(JwtTest, ExpIsRequiredAndNumericClaimsAreIntegersInRange) {
  auto no_exp = R"({"iss":"https://auth.example.com","aud":"parley","sub":"ann"})";
  EXPECT_FALSE(ed_ok(mint_eddsa(no_exp, keys.sk)));
  auto with_exp = [&](const std::string& exp) {
    return mint_eddsa(
        R"({"iss":"https://auth.example.com","aud":"parley","sub":"ann","exp":)" + exp + "}",
        keys.sk);
  };
  EXPECT_TRUE(ed_ok(with_exp("1800000300")));
  for (const char* bad : {"1800000300.5", "1.8000003e9", "\"1800000300\"", "null", "true", "-1",
                          "253402300800", "18446744073709551615", "[1800000300]"})
    EXPECT_FALSE(ed_ok(with_exp(bad))) << bad;
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(R"(,"nbf":"soon")"), keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(R"(,"iat":1.5)"), keys.sk)));
}

TEST_F(JwtTest, AudienceAndIssuerMustMatch) {
  auto with = [&](const std::string& iss, const std::string& aud) {
    return mint_eddsa(R"({"iss":)" + iss + R"(,"aud":)" + aud + R"(,"sub":"ann","exp":1800000300})",
                      keys.sk);
  };
  const std::string iss = R"("https://auth.example.com")";
  EXPECT_TRUE(ed_ok(with(iss, R"("parley")")));
  EXPECT_TRUE(ed_ok(with(iss, R"(["other","parley"])")));
  EXPECT_FALSE(ed_ok(with(iss, R"("other")")));
  EXPECT_FALSE(ed_ok(with(iss, R"(["other"])")));
  EXPECT_FALSE(ed_ok(with(iss, R"([])")));
  EXPECT_FALSE(ed_ok(with(iss, R"(["parley",7])")));
  EXPECT_FALSE(ed_ok(with(iss, R"("Parley")")));
  EXPECT_FALSE(ed_ok(with(R"("https://evil.example.com")", R"("parley")")));
  EXPECT_FALSE(ed_ok(with(R"("https://auth.example.com/")", R"("parley")")));
  EXPECT_FALSE(ed_ok(with(R"(["https://auth.example.com"])", R"("parley")")));
  EXPECT_FALSE(ed_ok(mint_eddsa(R"({"aud":"parley","sub":"ann","exp":1800000300})", keys.sk)));
  EXPECT_FALSE(ed_ok(
      mint_eddsa(R"({"iss":"https://auth.example.com","sub":"ann","exp":1800000300})", keys.sk)));
}

TEST_F(JwtTest, SubjectAndSidMustBeStrings) {
  EXPECT_FALSE(ed_ok(mint_eddsa(
      R"({"iss":"https://auth.example.com","aud":"parley","exp":1800000300})", keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(
      R"({"iss":"https://auth.example.com","aud":"parley","sub":7,"exp":1800000300})", keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(R"(,"sid":7)"), keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(R"(,"sid":"")"), keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(",\"sid\":\"" + std::string(65, 'd') + "\""), keys.sk)));
  EXPECT_TRUE(ed_ok(mint_eddsa(claims(",\"sid\":\"" + std::string(64, 'd') + "\""), keys.sk)));
}

TEST_F(JwtTest, Base64urlIsStrict) {
  auto t = mint_eddsa(claims(), keys.sk);
  auto d1 = t.find('.'), d2 = t.rfind('.');
  // The same bytes with padding, with standard-alphabet characters, with whitespace.
  auto padded_sig = t.substr(d2 + 1) + "==";
  EXPECT_FALSE(ed_ok(t.substr(0, d2 + 1) + padded_sig));
  // A header of 28 bytes, whose base64url would need one "=".
  const std::string h28 = R"({"alg":"EdDSA","typ":"JWT" })";
  ASSERT_EQ(h28.size() % 3, 1u);
  auto t28 = mint_eddsa(claims(), keys.sk, h28);
  ASSERT_TRUE(ed_ok(t28));
  auto h28_64 = t28.substr(0, t28.find('.'));
  EXPECT_FALSE(ed_ok(h28_64 + "==" + t28.substr(t28.find('.'))));
  // A token with '-' or '_' in it (the sid varies the signature until one has), written in
  // the standard alphabet instead.
  std::string dashed;
  for (int i = 0; i < 200 && dashed.find_first_of("-_") == std::string::npos; ++i)
    dashed = mint_eddsa(claims(",\"sid\":\"d" + std::to_string(i) + "\""), keys.sk);
  ASSERT_NE(dashed.find_first_of("-_"), std::string::npos);
  ASSERT_TRUE(ed_ok(dashed));
  for (auto& c : dashed) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  EXPECT_FALSE(ed_ok(dashed));
  EXPECT_FALSE(ed_ok(t.substr(0, d1) + " " + t.substr(d1)));
  EXPECT_FALSE(ed_ok("e30." + t.substr(d1 + 1)));  // "{}" header: no alg
  // Non-canonical trailing bits: "e30" is "{}", "e31" decodes to the same with a stray bit.
  EXPECT_TRUE(base64url_decode("e30").ok());
  EXPECT_FALSE(base64url_decode("e31").ok());
  EXPECT_FALSE(base64url_decode("e30=").ok());
  EXPECT_FALSE(base64url_decode("e3+").ok());
  // libsodium alone decodes these bytes >= 0x80 as base64 characters (found by jwt_fuzz).
  EXPECT_FALSE(base64url_decode("ey\xac\x80\x97\x9dGO").ok());
  EXPECT_FALSE(ed_ok(t.substr(0, d2 + 1) + "\x80" + t.substr(d2 + 1)));
  EXPECT_EQ(*base64url_decode(base64url_encode("\xff\xfe\x00 ok")), std::string("\xff\xfe\x00 ok"));
  // Wrong segment counts.
  EXPECT_FALSE(ed_ok(t + "." + t.substr(d2 + 1)));
  EXPECT_FALSE(ed_ok(t.substr(d1 + 1)));
  EXPECT_FALSE(ed_ok(""));
  EXPECT_FALSE(ed_ok(".."));
}

TEST_F(JwtTest, HeaderAndPayloadMustBeSingleObjectsWithoutDuplicateKeysOrCrit) {
  // Duplicate keys: a second sub, a second alg, a duplicate inside a nested object.
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(R"(,"sub":"admin")"), keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(), keys.sk, R"({"alg":"EdDSA","alg":"EdDSA"})")));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(R"(,"x":{"a":1,"a":2})"), keys.sk)));
  EXPECT_TRUE(ed_ok(mint_eddsa(claims(R"(,"x":{"a":1},"y":{"a":2})"), keys.sk)));
  // crit is refused whatever it lists.
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(), keys.sk, R"({"alg":"EdDSA","crit":["exp"]})")));
  // Non-objects, trailing data, comments, bad JSON.
  EXPECT_FALSE(ed_ok(mint_eddsa(R"(["exp",1800000300])", keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(R"("claims")", keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims() + "{}", keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims() + " // c", keys.sk)));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(), keys.sk, R"(["EdDSA"])")));
  EXPECT_FALSE(ed_ok(mint_eddsa(claims(), keys.sk, R"({"alg":"EdDSA",})")));
  EXPECT_FALSE(parse_strict_object(R"({"a":1,"a":1})").ok());
  EXPECT_FALSE(parse_strict_object("").ok());
  EXPECT_TRUE(parse_strict_object(R"({"a":[{"b":1},{"b":2}]})").ok());
}

TEST_F(JwtTest, OversizedTokensAreRefused) {
  std::string pad(kMaxSignedTokenBytes, 'x');
  auto big = mint_eddsa(claims(",\"pad\":\"" + pad + "\""), keys.sk);
  ASSERT_GT(big.size(), kMaxSignedTokenBytes);
  EXPECT_FALSE(ed_ok(big));
  auto fits = mint_eddsa(claims(",\"pad\":\"" + std::string(5000, 'x') + "\""), keys.sk);
  ASSERT_LE(fits.size(), kMaxSignedTokenBytes);
  EXPECT_TRUE(ed_ok(fits));
}

TEST_F(JwtTest, Ed25519PublicKeysParseFromHexBase64AndPem) {
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, reinterpret_cast<const unsigned char*>(keys.pk.data()), 32);
  EXPECT_EQ(*parse_ed25519_public_key(hex), keys.pk);
  EXPECT_EQ(*parse_ed25519_public_key(base64url_encode(keys.pk) + "\n"), keys.pk);
  char b64[64];
  sodium_bin2base64(b64, sizeof b64, reinterpret_cast<const unsigned char*>(keys.pk.data()), 32,
                    sodium_base64_VARIANT_ORIGINAL);
  EXPECT_EQ(*parse_ed25519_public_key(b64), keys.pk);
  std::string spki = std::string("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12) + keys.pk;
  char pem_body[100];
  sodium_bin2base64(pem_body, sizeof pem_body, reinterpret_cast<const unsigned char*>(spki.data()),
                    spki.size(), sodium_base64_VARIANT_ORIGINAL);
  auto pem =
      std::string("-----BEGIN PUBLIC KEY-----\n") + pem_body + "\n-----END PUBLIC KEY-----\n";
  EXPECT_EQ(*parse_ed25519_public_key(pem), keys.pk);
  EXPECT_FALSE(parse_ed25519_public_key("").ok());
  EXPECT_FALSE(parse_ed25519_public_key(std::string(hex).substr(2)).ok());
  EXPECT_FALSE(parse_ed25519_public_key(base64url_encode(keys.pk + "x")).ok());
  EXPECT_FALSE(parse_ed25519_public_key(std::string(64, '0')).ok()) << "a small-order point";
  auto err = parse_ed25519_public_key("not a key at all");
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.err().message.find("not a key"), std::string::npos) << "the text is not echoed";
}

}  // namespace
}  // namespace parley
