#include "server/signed_tokens.hpp"

#include <sodium.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace parley {

namespace {

error bad(const std::string& what) {
  return make_error(errc::invalid, what, "config");
}

result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return bad("jwt.key_file: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

result<std::shared_ptr<const jwt_verifier>> load_jwt_verifier(const server_config& c) {
  if (c.jwt_enabled != "on") return std::shared_ptr<const jwt_verifier>{};
  jwt_settings s;
  s.alg = c.jwt_algorithm == "HS256" ? jwt_alg::hs256 : jwt_alg::eddsa;
  s.issuer = c.jwt_issuer;
  s.audience = c.jwt_audience;
  s.leeway_s = c.jwt_leeway_s;
  if (s.alg == jwt_alg::eddsa) {
    std::string text = c.jwt_public_key;
    std::string origin = "jwt.public_key";
    if (!c.jwt_key_file.empty()) {
      auto f = read_file(c.jwt_key_file);
      if (!f) return f.err();
      text = std::move(*f);
      origin = "jwt.key_file " + c.jwt_key_file;
    }
    auto pk = parse_ed25519_public_key(text);
    if (!pk) return bad(origin + ": " + pk.err().message);
    s.key = std::move(*pk);
  } else {
    std::string origin;
    if (!c.jwt_key_file.empty()) {
      auto f = read_file(c.jwt_key_file);
      if (!f) return f.err();
      s.key = std::move(*f);
      // A file written by `echo` ends in a newline that is not part of the secret.
      if (!s.key.empty() && s.key.back() == '\n') s.key.pop_back();
      if (!s.key.empty() && s.key.back() == '\r') s.key.pop_back();
      origin = "jwt.key_file " + c.jwt_key_file;
    } else {
      const char* v = std::getenv(c.jwt_secret_env.c_str());
      if (!v)
        return bad("jwt.secret_env: the environment variable " + c.jwt_secret_env + " is not set");
      s.key = v;
      origin = "jwt.secret_env " + c.jwt_secret_env;
    }
    if (s.key.size() < 32)
      return bad(origin + ": an HS256 secret must be at least 32 bytes (it has " +
                 std::to_string(s.key.size()) + ")");
  }
  return std::shared_ptr<const jwt_verifier>(std::make_shared<jwt_verifier>(std::move(s)));
}

}  // namespace parley
