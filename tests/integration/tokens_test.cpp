// Tokens against the real binary: a password change revokes every other device at once
// (their sockets close with 4003 within a second), a refresh replaces the token without
// dropping the device's connections, and an expired token closes its connections.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <chrono>
#include <thread>

#include "chat_helpers.hpp"
#include "http_streams.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

TEST(Tokens, APasswordChangeRevokesEveryOtherDeviceAndClosesItsSockets) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto phone = login(srv.port(), "ann");
  auto laptop = login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto here = connect_live(srv.port(), ann.token);
  auto p = connect_live(srv.port(), phone);
  sse_client s(srv.port(), laptop);
  s.head();
  auto b = connect_live(srv.port(), bob.token);

  auto wrong =
      here->request({{"op", "password"}, {"old", "not my password"}, {"new", "a new password"}});
  EXPECT_EQ(wrong["error"].as_object()["code"], "forbidden") << json::serialize(wrong);
  EXPECT_EQ(wrong["error"].as_object()["field"], "old");
  auto weak =
      here->request({{"op", "password"}, {"old", "correct horse battery"}, {"new", "short"}});
  EXPECT_EQ(weak["error"].as_object()["field"], "new") << json::serialize(weak);
  EXPECT_TRUE(p->request({{"op", "ping"}}).contains("result")) << "nothing changed yet";

  auto t0 = std::chrono::steady_clock::now();
  auto r =
      here->call({{"op", "password"}, {"old", "correct horse battery"}, {"new", "a new password"}});
  EXPECT_EQ(r["revoked"].as_int64(), 2);
  EXPECT_EQ(p->wait_closed(2s), 4003);
  bool stream_closed = false;
  while (auto m = s.next(2s)) {
    if (m->event == "close") {
      stream_closed = m->data.find("4003") != std::string::npos;
      break;
    }
  }
  EXPECT_TRUE(stream_closed) << "the SSE stream ends with 4003";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "within a second or so";
  // Their tokens are gone; this device, the new password and other users are fine.
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", phone).status, 401);
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", laptop).status, 401);
  EXPECT_TRUE(here->request({{"op", "ping"}}).contains("result"));
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", ann.token).status, 200);
  EXPECT_EQ(http(srv.port(), "POST", "/v1/login",
                 R"({"handle":"ann","password":"correct horse battery"})")
                .status,
            401);
  EXPECT_EQ(http(srv.port(), "POST", "/v1/login", R"({"handle":"ann","password":"a new password"})")
                .status,
            200);
  EXPECT_TRUE(b->request({{"op", "ping"}}).contains("result"));
}

TEST(Tokens, ARefreshReplacesTheTokenAndKeepsTheConnections) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto c = connect_live(srv.port(), ann.token);
  auto r = http(srv.port(), "POST", "/v1/token/refresh", "", ann.token);
  ASSERT_EQ(r.status, 200) << r.body;
  auto fresh = std::string(r.json().as_object()["token"].as_string());
  EXPECT_NE(fresh, ann.token);
  EXPECT_GT(r.json().as_object()["expires_ms"].as_int64(), 0);
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", ann.token).status, 401)
      << "the old token stops working at once";
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", fresh).status, 200);
  EXPECT_TRUE(c->request({{"op", "ping"}}).contains("result")) << "the socket stays";
  auto again = c->call({{"op", "token.refresh"}});
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", fresh).status, 401);
  EXPECT_EQ(
      http(srv.port(), "GET", "/v1/conversations", "", std::string(again["token"].as_string()))
          .status,
      200);
}

TEST(Tokens, AnExpiredTokenClosesItsConnectionsUnlessRefreshed) {
  server_process srv({"--set", "auth.token_ttl_s=2"});
  auto ann = register_and_login(srv.port(), "ann");
  auto second = login(srv.port(), "ann");
  auto kept = connect_live(srv.port(), ann.token);
  auto lapsed = connect_live(srv.port(), second);
  auto r = kept->call({{"op", "token.refresh"}});  // now valid for 2 s more
  std::string fresh(r["token"].as_string());
  std::this_thread::sleep_for(1200ms);
  kept->call({{"op", "token.refresh"}});  // and again: the socket keeps going
  EXPECT_EQ(lapsed->wait_closed(4s), 4003) << "closed once its token expired";
  EXPECT_TRUE(kept->request({{"op", "ping"}}).contains("result"));
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", second).status, 401);
}

}  // namespace
