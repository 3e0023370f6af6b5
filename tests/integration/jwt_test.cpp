// Signed tokens of an external auth service against the real binary: tokens minted here
// with libsodium (EdDSA and HS256) work like Parley's own on the WebSocket (header and auth
// frame), REST, /v1/rpc, long polling and SSE; users are provisioned on first use when
// jwt.auto_create is on; a socket closes with 4003 when its token's exp passes; refused
// tokens get the same unauthenticated error as an unknown Parley token; the HS256 secret
// never reaches the log; a bad key stops the server at start with a clear message.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "chat_helpers.hpp"
#include "core/crypto.hpp"
#include "http_streams.hpp"
#include "jwt_mint.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

const std::string kIssuer = "https://auth.example.test";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A payload for `sub` expiring at `exp`, with `extra` members appended and `aud` as given.
std::string claims(const std::string& sub, std::int64_t exp, const std::string& extra = {},
                   const std::string& aud = "\"parley\"") {
  return R"({"iss":")" + kIssuer + R"(","aud":)" + aud + R"(,"sub":")" + sub + R"(","exp":)" +
         std::to_string(exp) + extra + "}";
}

std::vector<std::string> eddsa_args(const ed25519_keys& k, bool auto_create) {
  return {"--set", "jwt.enabled=on",
          "--set", "jwt.issuer=" + kIssuer,
          "--set", "jwt.audience=parley",
          "--set", "jwt.public_key=" + parley::base64url_encode(k.pk),
          "--set", "jwt.leeway_s=0",
          "--set", std::string("jwt.auto_create=") + (auto_create ? "on" : "off")};
}

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The next pushed event of this type (earlier ones are skipped), or throws.
json::object next_event(ws_client& c, const std::string& type) {
  for (;;) {
    auto ev = c.events(1)[0];
    if (ev["type"].is_string() && ev["type"].get_string() == type) return ev;
  }
}

const char* kRefused = "the token is unknown, expired or revoked";

TEST(SignedTokens, TwoUsersChatOverWebSocketAndRestAndAreProvisionedOnFirstUse) {
  parley::init_crypto();
  auto keys = ed25519_keys::make();
  server_process srv(eddsa_args(keys, true));
  const auto exp = unix_now() + 3600;
  auto ann_phone = mint_eddsa(claims("Ann", exp, R"(,"sid":"phone")"), keys.sk);
  auto ann_laptop = mint_eddsa(claims("ann", exp, R"(,"sid":"laptop")"), keys.sk);
  auto bob = mint_eddsa(claims("bob", exp), keys.sk);

  // Ann by the Authorization header (her first use creates her), Bob by the auth frame.
  auto a = connect_live(srv.port(), ann_phone);
  ws_client b(srv.port());
  auto hello = b.call({{"op", "auth"}, {"token", bob}});
  EXPECT_EQ(hello["user"].as_object()["handle"], "bob");
  b.call({{"op", "sync"}});
  auto conv = create_group(*a, "signed", {"bob"});
  send_text(*a, conv, "m1", "hello bob");
  auto got = next_event(b, "message.created");
  EXPECT_EQ(got["data"].as_object()["text"], "hello bob") << json::serialize(got);
  EXPECT_NE(got["sender"], hello["user"].as_object()["id"]) << "from Ann, not Bob";

  // REST and /v1/rpc with Bob's signed token; Ann hears his reply live.
  auto list = http(srv.port(), "GET", "/v1/conversations", "", bob);
  ASSERT_EQ(list.status, 200) << list.body;
  auto sent = http(srv.port(), "POST", "/v1/conversations/" + std::to_string(conv) + "/messages",
                   R"({"client_msg_id":"r1","text":"hi ann"})", bob);
  ASSERT_EQ(sent.status, 200) << sent.body;
  auto heard = next_event(*a, "message.created");
  while (heard["data"].as_object()["text"] == "hello bob")
    heard = next_event(*a, "message.created");
  EXPECT_EQ(heard["data"].as_object()["text"], "hi ann") << json::serialize(heard);
  EXPECT_EQ(heard["sender"], hello["user"].as_object()["id"]);
  auto r = rpc(srv.port(), ann_laptop, {{"id", 1}, {"op", "conv.list"}});
  EXPECT_TRUE(r.contains("result")) << json::serialize(r);
  // Long polling and SSE.
  auto polled = events_of(poll_once(srv.port(), bob, "all", 10));
  EXPECT_GE(polled.size(), 3u);
  {
    sse_client s(srv.port(), ann_laptop, {}, std::to_string(conv) + ".0");
    EXPECT_NE(s.head().find("200"), std::string::npos);
    EXPECT_EQ(s.events(3).size(), 3u);
  }

  // Devices: one per sid, the same one again for the same sid.
  ws_client phone_again(srv.port());
  auto again = phone_again.call({{"op", "auth"}, {"token", ann_phone}});
  ws_client laptop_ws(srv.port());
  auto lap = laptop_ws.call({{"op", "auth"}, {"token", ann_laptop}});
  auto first = a->call({{"op", "ping"}});
  EXPECT_EQ(again["user"].as_object()["handle"], "ann");
  EXPECT_EQ(again["user"], lap["user"]);
  EXPECT_NE(again["device"], lap["device"]);
  ws_client phone_third(srv.port());
  EXPECT_EQ(phone_third.call({{"op", "auth"}, {"token", ann_phone}})["device"], again["device"]);

  // Operations on Parley's own tokens are refused for signed-token sessions.
  for (const char* op : {"logout", "token.refresh"}) {
    auto e = a->request({{"op", op}});
    EXPECT_EQ(e["error"].as_object()["code"], "forbidden") << op << json::serialize(e);
  }
  auto pw = a->request({{"op", "password"}, {"old", "x"}, {"new", "a new password"}});
  EXPECT_EQ(pw["error"].as_object()["code"], "forbidden") << json::serialize(pw);
  EXPECT_EQ(http(srv.port(), "POST", "/v1/logout", "", bob).status, 403);
  EXPECT_TRUE(a->request({{"op", "ping"}}).contains("result"));
  // A provisioned user has no password: no login, and the handle is taken for registration.
  EXPECT_EQ(
      http(srv.port(), "POST", "/v1/login", R"({"handle":"ann","password":"any password"})").status,
      401);
  EXPECT_EQ(http(srv.port(), "POST", "/v1/register",
                 R"({"handle":"ann","password":"correct horse battery"})")
                .status,
            409);
}

TEST(SignedTokens, WithoutAutoCreateTheUserMustExistAndBadTokensAreRefusedAlike) {
  parley::init_crypto();
  auto keys = ed25519_keys::make();
  server_process srv(eddsa_args(keys, false));
  const auto exp = unix_now() + 3600;
  auto carol_signed = mint_eddsa(claims("carol", exp), keys.sk);
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", carol_signed).status, 401);
  auto carol = register_and_login(srv.port(), "carol");
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", carol_signed).status, 200);
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", carol.token).status, 200)
      << "Parley's own tokens keep working";

  // Each refused token gets exactly what an unknown Parley token gets.
  const std::vector<std::string> bad = {
      mint_eddsa(claims("carol", exp, {}, R"("another-app")"), keys.sk),
      mint_eddsa(claims("carol", exp, {}, R"(["another-app"])"), keys.sk),
      mint_eddsa(claims("carol", unix_now() - 5), keys.sk),
      mint_eddsa(claims("carol", exp), ed25519_keys::make().sk),
      mint_hs256(claims("carol", exp), keys.pk),  // algorithm confusion
      signing_input(R"({"alg":"none"})", claims("carol", exp)) + ".",
      mint_eddsa(claims("dave", exp), keys.sk),  // no such user
      mint_eddsa(claims("x", exp), keys.sk),     // not a handle
      "pt_" + std::string(43, 'Q'),
  };
  for (const auto& t : bad) {
    auto rest = http(srv.port(), "GET", "/v1/conversations", "", t);
    EXPECT_EQ(rest.status, 401) << rest.body;
    EXPECT_NE(rest.body.find(kRefused), std::string::npos) << rest.body;
    ws_client c(srv.port());
    auto e = c.request({{"op", "auth"}, {"token", t}});
    EXPECT_EQ(e["error"].as_object()["code"], "unauthenticated") << json::serialize(e);
    EXPECT_EQ(e["error"].as_object()["message"], kRefused) << json::serialize(e);
    EXPECT_THROW(ws_client(srv.port(), t), std::exception) << "the upgrade is refused";
  }
}

TEST(SignedTokens, ASocketClosesWith4003WhenItsTokenExpires) {
  parley::init_crypto();
  auto keys = ed25519_keys::make();
  server_process srv(eddsa_args(keys, true));
  const auto exp = unix_now() + 3;
  auto brief = mint_eddsa(claims("ann", exp, R"(,"sid":"brief")"), keys.sk);
  auto lasting = mint_eddsa(claims("ann", unix_now() + 3600, R"(,"sid":"lasting")"), keys.sk);
  auto c = connect_live(srv.port(), brief);
  auto d = connect_live(srv.port(), lasting);
  sse_client s(srv.port(), brief);
  s.head();
  EXPECT_EQ(c->wait_closed(5s), 4003);
  auto lateness = std::chrono::system_clock::now() -
                  std::chrono::system_clock::time_point(std::chrono::seconds(exp));
  EXPECT_LT(lateness, 2s) << "closed within about a second of exp";
  bool stream_closed = false;
  while (auto m = s.next(3s)) {
    if (m->event == "close") {
      stream_closed = m->data.find("4003") != std::string::npos;
      break;
    }
  }
  EXPECT_TRUE(stream_closed) << "the SSE stream ends with 4003";
  EXPECT_TRUE(d->request({{"op", "ping"}}).contains("result")) << "other devices stay";
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", brief).status, 401);
}

TEST(SignedTokens, Hs256FromAnEnvironmentVariableAndTheSecretNeverLogged) {
  parley::init_crypto();
  const std::string secret = "hs256-secret-" + parley::random_hex_id();  // 45 bytes
  ::setenv("PARLEY_TEST_JWT_SECRET", secret.c_str(), 1);
  std::string log;
  std::vector<std::string> tokens;
  {
    server_process srv({"--set", "server.log_level=trace", "--set", "jwt.enabled=on", "--set",
                        "jwt.algorithm=HS256", "--set", "jwt.secret_env=PARLEY_TEST_JWT_SECRET",
                        "--set", "jwt.issuer=" + kIssuer, "--set", "jwt.audience=parley", "--set",
                        "jwt.auto_create=on"});
    const auto exp = unix_now() + 3600;
    tokens.push_back(mint_hs256(claims("ann", exp), secret));
    tokens.push_back(mint_hs256(claims("bob", exp), secret));
    tokens.push_back(mint_hs256(claims("bob", exp), secret + "x"));
    tokens.push_back(mint_hs256(claims("bob", exp, {}, R"("elsewhere")"), secret));
    auto a = connect_live(srv.port(), tokens[0]);
    // Bob's first request provisions him, so that Ann can add him.
    EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", tokens[1]).status, 200);
    auto conv = create_group(*a, "hs", {"bob"});
    auto sent = http(srv.port(), "POST", "/v1/conversations/" + std::to_string(conv) + "/messages",
                     R"({"client_msg_id":"h1","text":"over hs256"})", tokens[1]);
    EXPECT_EQ(sent.status, 200) << sent.body;
    EXPECT_EQ(next_event(*a, "message.created")["data"].as_object()["text"], "over hs256");
    EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", tokens[2]).status, 401);
    EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", tokens[3]).status, 401);
    auto metrics = http(srv.port(), "GET", "/metrics").body;
    EXPECT_EQ(metrics.find(secret), std::string::npos);
    EXPECT_EQ(srv.stop(), 0);
    log = slurp(srv.log_path());
  }
  ::unsetenv("PARLEY_TEST_JWT_SECRET");
  EXPECT_NE(log.find("event=signed_tokens"), std::string::npos) << log;
  EXPECT_NE(log.find("event=signed_token_refused"), std::string::npos) << "reasons at debug";
  EXPECT_EQ(log.find(secret), std::string::npos) << "the secret is not in the log";
  for (const auto& t : tokens) {
    EXPECT_EQ(log.find(t), std::string::npos) << "no token in the log";
    EXPECT_EQ(log.find(t.substr(t.rfind('.') + 1)), std::string::npos) << "nor its signature";
  }
}

// Runs `parley serve` with these settings; returns its exit status and what it printed.
std::pair<int, std::string> serve_once(const std::vector<std::string>& sets) {
  auto dir = std::filesystem::temp_directory_path() / ("parley-jwt-" + parley::random_hex_id());
  // `timeout`: a server that wrongly starts is stopped instead of hanging the test.
  std::string cmd = "timeout 20 " + parley_bin() + " serve --port 0 --data-dir " + dir.string();
  for (const auto& s : sets) cmd += " --set '" + s + "'";
  auto out = dir.string() + ".out";
  int rc = std::system((cmd + " >" + out + " 2>&1 </dev/null").c_str());
  auto text = slurp(out);
  std::filesystem::remove_all(dir);
  std::filesystem::remove(out);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, text};
}

TEST(SignedTokens, ABadKeyOrMissingSettingStopsTheServerAtStart) {
  const std::vector<std::string> on = {"jwt.enabled=on", "jwt.issuer=" + kIssuer,
                                       "jwt.audience=parley"};
  auto with = [&](std::vector<std::string> extra) {
    auto v = on;
    v.insert(v.end(), extra.begin(), extra.end());
    return serve_once(v);
  };
  auto [rc1, out1] = with({"jwt.public_key=not-a-key"});
  EXPECT_EQ(rc1, 2) << out1;
  EXPECT_NE(out1.find("jwt.public_key"), std::string::npos) << out1;
  auto [rc2, out2] = with({"jwt.algorithm=HS256", "jwt.secret_env=PARLEY_TEST_UNSET_SECRET"});
  EXPECT_EQ(rc2, 2) << out2;
  EXPECT_NE(out2.find("PARLEY_TEST_UNSET_SECRET is not set"), std::string::npos) << out2;
  auto short_file = std::filesystem::temp_directory_path() / ("jwt-" + parley::random_hex_id());
  std::ofstream(short_file) << "too-short-secret\n";
  auto [rc3, out3] = with({"jwt.algorithm=HS256", "jwt.key_file=" + short_file.string()});
  std::filesystem::remove(short_file);
  EXPECT_EQ(rc3, 2) << out3;
  EXPECT_NE(out3.find("at least 32 bytes"), std::string::npos) << out3;
  EXPECT_EQ(out3.find("too-short-secret"), std::string::npos) << "the secret is not echoed";
  auto [rc4, out4] = serve_once({"jwt.enabled=on", "jwt.audience=parley", "jwt.public_key=x"});
  EXPECT_EQ(rc4, 2) << out4;
  EXPECT_NE(out4.find("jwt.issuer must be set"), std::string::npos) << out4;
  auto [rc5, out5] = with({"jwt.algorithm=RS256"});
  EXPECT_EQ(rc5, 2) << out5;
  EXPECT_NE(out5.find("jwt.algorithm"), std::string::npos) << out5;
}

}  // namespace
