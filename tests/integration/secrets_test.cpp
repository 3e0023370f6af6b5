// Secrets stay secret: after exercising every way a token or password reaches the server
// (register, login, WebSocket header and auth frame, SSE, long polling, rpc, REST, uploads,
// wrong tokens, token refresh, password change, logout) with the most verbose log level,
// none of the tokens or passwords appears in the server's log, in /metrics, in any reply
// that is not the login or refresh that issued it, or in the database files (tokens are
// stored as hashes).
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat_helpers.hpp"
#include "http_streams.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(Secrets, NoTokenOrPasswordInLogsMetricsRepliesOrTheDatabase) {
  server_process srv({"--set", "server.log_level=trace"});
  std::vector<std::string> secrets;  // tokens and passwords
  std::vector<std::string> replies;  // everything the server said that may not hold one
  const std::string pw = "correct horse battery";
  secrets.push_back(pw);
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  secrets.push_back(ann.token);
  secrets.push_back(bob.token);
  auto phone = login(srv.port(), "ann");
  secrets.push_back(phone);

  // WebSocket: header and frame authentication, a wrong token in both.
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  replies.push_back(json::serialize(send_text(*a, conv, "m1", "hello")));
  ws_client framed(srv.port());
  replies.push_back(json::serialize(framed.request({{"op", "auth"}, {"token", phone}})));
  const std::string forged = "pt_" + std::string(43, 'Q');
  ws_client wrong(srv.port());
  replies.push_back(json::serialize(wrong.request({{"op", "auth"}, {"token", forged}})));
  secrets.push_back(forged);
  try {
    ws_client refused(srv.port(), forged);
  } catch (const std::exception& e) {
    replies.push_back(e.what());
  }
  // SSE, long polling, rpc, REST, uploads, with good and bad tokens.
  {
    sse_client s(srv.port(), bob.token, {}, std::to_string(conv) + ".0");
    replies.push_back(s.head());
    ASSERT_EQ(s.events(2).size(), 2u);
  }
  replies.push_back(
      http(srv.port(), "GET", "/v1/poll?timeout_ms=10&cursor=all", "", bob.token).body);
  replies.push_back(http(srv.port(), "GET", "/v1/poll?timeout_ms=10", "", forged).body);
  replies.push_back(
      http(srv.port(), "POST", "/v1/rpc", R"({"id":1,"op":"conv.list"})", bob.token).body);
  replies.push_back(http(srv.port(), "POST", "/v1/rpc", R"({"id":1,"op":"ping"})", forged).body);
  replies.push_back(http(srv.port(), "GET", "/v1/conversations", "", ann.token).body);
  replies.push_back(http(srv.port(), "GET", "/v1/conversations", "", "pt_short").body);
  replies.push_back(http_raw(srv.port(), "POST", "/v1/uploads", "file bytes", ann.token, {}).body);
  replies.push_back(
      http(srv.port(), "POST", "/v1/login", R"({"handle":"ann","password":"wrong one!"})").body);
  // A refresh, a password change, a logout.
  auto refreshed = http(srv.port(), "POST", "/v1/token/refresh", "", ann.token);
  ASSERT_EQ(refreshed.status, 200);
  std::string fresh(refreshed.json().as_object()["token"].as_string());
  secrets.push_back(fresh);
  const std::string pw2 = "a brand new password";
  secrets.push_back(pw2);
  replies.push_back(http(srv.port(), "POST", "/v1/password",
                         R"({"old":")" + pw + R"(","new":")" + pw2 + R"("})", fresh)
                        .body);
  replies.push_back(http(srv.port(), "POST", "/v1/password",
                         R"({"old":"not it at all","new":")" + pw2 + R"(x"})", fresh)
                        .body);
  replies.push_back(http(srv.port(), "POST", "/v1/logout", "", bob.token).body);
  replies.push_back(http(srv.port(), "GET", "/metrics").body);

  srv.stop();  // the log is complete and the database checkpointed
  const std::string log = slurp(srv.log_path());
  ASSERT_NE(log.find("event="), std::string::npos) << "the log has lines";
  std::string db;
  for (const auto& e : std::filesystem::recursive_directory_iterator(srv.data_dir()))
    if (e.is_regular_file() && e.path().filename().string().rfind("parley.db", 0) == 0)
      db += slurp(e.path());
  ASSERT_FALSE(db.empty());
  for (const auto& s : secrets) {
    EXPECT_EQ(log.find(s), std::string::npos) << "in the log: " << s.substr(0, 6) << "...";
    EXPECT_EQ(db.find(s), std::string::npos) << "in the database: " << s.substr(0, 6) << "...";
    for (const auto& r : replies)
      EXPECT_EQ(r.find(s), std::string::npos) << "in a reply: " << r.substr(0, 200);
  }
}

}  // namespace
