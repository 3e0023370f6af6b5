// The [jwt] configuration: validate() checks the enumerations and that an enabled
// configuration has an issuer, an audience and one key source fitting its algorithm;
// load_jwt_verifier() reads the key and refuses malformed or short ones without echoing
// them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../support/jwt_mint.hpp"
#include "core/crypto.hpp"
#include "server/config.hpp"
#include "server/signed_tokens.hpp"

namespace parley {
namespace {

server_config enabled(const std::string& alg) {
  server_config c;
  c.jwt_enabled = "on";
  c.jwt_algorithm = alg;
  c.jwt_issuer = "https://auth.example.com";
  c.jwt_audience = "parley";
  return c;
}

std::string message_of(const result<unit>& r) {
  return r ? "" : r.err().message;
}

TEST(SignedTokenConfig, ValidateNeedsIssuerAudienceAndOneKeySource) {
  server_config off;
  EXPECT_TRUE(validate(off).ok()) << "off by default, with nothing set";
  auto c = enabled("EdDSA");
  EXPECT_NE(message_of(validate(c)).find("exactly one of jwt.public_key and jwt.key_file"),
            std::string::npos);
  c.jwt_public_key = "k";
  EXPECT_TRUE(validate(c).ok());
  c.jwt_key_file = "/k";
  EXPECT_FALSE(validate(c).ok());
  c.jwt_key_file.clear();
  c.jwt_secret_env = "S";
  EXPECT_NE(message_of(validate(c)).find("secret_env is for HS256"), std::string::npos);
  auto h = enabled("HS256");
  h.jwt_secret_env = "S";
  EXPECT_TRUE(validate(h).ok());
  h.jwt_public_key = "k";
  EXPECT_NE(message_of(validate(h)).find("public_key is for EdDSA"), std::string::npos);
  for (auto f : {&server_config::jwt_issuer, &server_config::jwt_audience}) {
    auto m = enabled("EdDSA");
    m.jwt_public_key = "k";
    m.*f = "";
    EXPECT_NE(message_of(validate(m)).find("must be set"), std::string::npos);
  }
  auto bad = enabled("EdDSA");
  bad.jwt_public_key = "k";
  bad.jwt_algorithm = "none";
  EXPECT_NE(message_of(validate(bad)).find("jwt.algorithm"), std::string::npos);
  bad.jwt_algorithm = "EdDSA";
  bad.jwt_leeway_s = 601;
  EXPECT_NE(message_of(validate(bad)).find("jwt.leeway_s"), std::string::npos);
  bad.jwt_leeway_s = 0;
  bad.jwt_auto_create = "yes";
  EXPECT_NE(message_of(validate(bad)).find("jwt.auto_create"), std::string::npos);
}

TEST(SignedTokenConfig, KeysLoadFromTheConfigAFileOrTheEnvironment) {
  init_crypto();
  server_config off;
  auto none = load_jwt_verifier(off);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);

  auto keys = test::ed25519_keys::make();
  auto ed = enabled("EdDSA");
  ed.jwt_public_key = base64url_encode(keys.pk);
  auto v = load_jwt_verifier(ed);
  ASSERT_TRUE(v.ok()) << v.err().message;
  auto tok = test::mint_eddsa(
      R"({"iss":"https://auth.example.com","aud":"parley","sub":"ann","exp":4000000000})", keys.sk);
  EXPECT_TRUE((*v)->verify(tok, 1'800'000'000).ok());
  ed.jwt_public_key = "AAAA";
  auto short_key = load_jwt_verifier(ed);
  ASSERT_FALSE(short_key.ok());
  EXPECT_NE(short_key.err().message.find("jwt.public_key"), std::string::npos);

  // HS256 from a file (one trailing newline dropped) and from the environment.
  const std::string secret = "0123456789abcdef0123456789abcdef!";
  auto path = std::filesystem::temp_directory_path() / ("parley-hs-" + random_hex_id());
  std::ofstream(path) << secret << "\n";
  auto hs = enabled("HS256");
  hs.jwt_key_file = path.string();
  auto fv = load_jwt_verifier(hs);
  ASSERT_TRUE(fv.ok()) << fv.err().message;
  auto htok = test::mint_hs256(
      R"({"iss":"https://auth.example.com","aud":"parley","sub":"ann","exp":4000000000})", secret);
  EXPECT_TRUE((*fv)->verify(htok, 1'800'000'000).ok());
  std::ofstream(path) << "short secret";
  auto sv = load_jwt_verifier(hs);
  ASSERT_FALSE(sv.ok());
  EXPECT_NE(sv.err().message.find("at least 32 bytes"), std::string::npos);
  EXPECT_EQ(sv.err().message.find("short secret"), std::string::npos) << "not echoed";
  std::filesystem::remove(path);
  auto gone = load_jwt_verifier(hs);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.err().message.find("cannot read"), std::string::npos);

  hs.jwt_key_file.clear();
  hs.jwt_secret_env = "PARLEY_UNIT_JWT_SECRET";
  ::unsetenv("PARLEY_UNIT_JWT_SECRET");
  auto unset = load_jwt_verifier(hs);
  ASSERT_FALSE(unset.ok());
  EXPECT_NE(unset.err().message.find("PARLEY_UNIT_JWT_SECRET is not set"), std::string::npos);
  ::setenv("PARLEY_UNIT_JWT_SECRET", secret.c_str(), 1);
  auto ev = load_jwt_verifier(hs);
  ::unsetenv("PARLEY_UNIT_JWT_SECRET");
  ASSERT_TRUE(ev.ok()) << ev.err().message;
  EXPECT_TRUE((*ev)->verify(htok, 1'800'000'000).ok());
}

}  // namespace
}  // namespace parley
