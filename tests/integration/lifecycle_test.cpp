// Connection lifecycle: authentication timeout, dead-peer detection, slow consumers,
// logout closing a device's sockets, graceful shutdown.
#include <gtest/gtest.h>

#include <thread>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;

TEST(Lifecycle, UnauthenticatedSocketIsClosedAfterTimeout) {
  server_process srv({"--set", "websocket.auth_timeout_ms=300"});
  ws_client c(srv.port());
  EXPECT_EQ(c.wait_closed(5s), 4001);
}

TEST(Lifecycle, DeadPeerIsClosedAfterHeartbeatTimeout) {
  server_process srv({"--set", "websocket.heartbeat_timeout_ms=600"});
  auto ann = register_and_login(srv.port(), "ann");
  ws_client silent(srv.port(), ann.token);  // never reads, so never answers pings
  ASSERT_TRUE(eventually([&] { return metric(srv.port(), "parley_connections") == 1; }));
  EXPECT_TRUE(eventually([&] { return metric(srv.port(), "parley_connections") == 0; }, 5s));
  // A peer that answers pings stays connected past the timeout.
  auto alive = connect_live(srv.port(), ann.token);
  for (int i = 0; i < 6; ++i) alive->next_push(250ms);  // reading answers pings
  EXPECT_EQ(metric(srv.port(), "parley_connections"), 1);
  alive->call({{"op", "ping"}});
}

TEST(Lifecycle, ARequestFollowedByAHangUpIsServedAndTheConnectionEnds) {
  // The server reads a socket until a short read, and treats a hang-up edge as a reason to
  // read on to the end of stream: a request and a FIN that arrive together (or one after
  // the other) must both be seen, with no wait for the heartbeat to find the dead peer.
  server_process srv({"--set", "websocket.heartbeat_timeout_ms=60000"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto b = connect_live(srv.port(), bob.token);
  std::int64_t conv = 0;
  {
    ws_client a(srv.port(), ann.token);
    conv = create_group(a, "g", {"bob"});
  }
  ASSERT_EQ(b->events(1)[0]["type"].as_string(), "conversation.created");
  constexpr int kTimes = 20;
  for (int i = 0; i < kTimes; ++i) {
    ws_client a(srv.port(), ann.token);
    a.send_text_then_hang_up(
        boost::json::serialize(boost::json::object{{"id", 1},
                                                   {"op", "send"},
                                                   {"conv", conv},
                                                   {"client_msg_id", "m" + std::to_string(i)},
                                                   {"text", "bye " + std::to_string(i)}}));
    auto ev = b->events(1)[0];
    EXPECT_EQ(ev["data"].as_object()["text"].as_string(), "bye " + std::to_string(i));
    // Only bob's connection is left, long before any heartbeat could have ended ann's.
    EXPECT_TRUE(eventually([&] { return metric(srv.port(), "parley_connections") == 1; }, 3s))
        << "round " << i;
  }
}

TEST(Lifecycle, SlowConsumerIsDisconnectedAndRecoversByResume) {
  // (ann floods on purpose: rate limits are off here; rate_test.cpp tests them)
  server_process srv({"--set", "limits.outbound_queue_bytes=65536", "--set",
                      "limits.max_inflight_requests=1000", "--set", "rate.enabled=off"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  ws_client a(srv.port(), ann.token);
  auto conv = create_group(a, "g", {"bob"});
  ws_client slow(srv.port(), bob.token);
  slow.call({{"op", "sync"}, {"since", boost::json::object{{std::to_string(conv), 1}}}});
  // bob stops reading; ann sends far more than the socket buffers and the queue hold.
  const std::string text(16000, 'z');
  constexpr int kMessages = 800;
  for (int i = 0; i < kMessages; ++i)
    a.send_request({{"op", "send"},
                    {"conv", conv},
                    {"client_msg_id", "z" + std::to_string(i)},
                    {"text", text}});
  for (int acks = 0; acks < kMessages;) {
    auto f = a.next_frame(20s);
    ASSERT_TRUE(f.has_value());
    if (f->contains("result")) ++acks;
  }
  EXPECT_EQ(slow.wait_closed(20s), 4002);
  EXPECT_GE(metric(srv.port(), "parley_slow_consumer_closes_total"), 1);
  // Resume from the last position bob processed: everything arrives, once, in order.
  ws_client again(srv.port(), bob.token);
  again.send_request({{"op", "sync"}, {"since", boost::json::object{{std::to_string(conv), 1}}}});
  auto evs = again.events(kMessages, 30s);
  for (int i = 0; i < kMessages; ++i)
    ASSERT_EQ(evs[static_cast<std::size_t>(i)]["seq"].as_int64(), i + 2);
}

TEST(Lifecycle, LogoutClosesThatDevicesSocketsOnly) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto second = login(srv.port(), "ann");
  ws_client one(srv.port(), ann.token);
  ws_client two(srv.port(), second);
  auto r = http(srv.port(), "POST", "/v1/logout", "", ann.token);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(one.wait_closed(3s), 4003);
  two.call({{"op", "ping"}});
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", ann.token).status, 401);
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", second).status, 200);
}

TEST(Lifecycle, ALogoutOverTheSocketIsAnsweredBeforeTheSocketCloses) {
  // The reply and the close are queued for the socket's thread by the same storage done
  // call, one after the other: they must reach the client in that order, every time.
  server_process srv({"--set", "rate.enabled=off"});  // 21 logins of one account
  register_and_login(srv.port(), "ann");
  for (int i = 0; i < 20; ++i) {
    ws_client c(srv.port(), login(srv.port(), "ann"));
    EXPECT_NO_THROW(c.call({{"op", "logout"}})) << "round " << i;
    EXPECT_EQ(c.wait_closed(3s), 4003) << "round " << i;
  }
}

TEST(Lifecycle, GracefulShutdownClosesWith1001AndExitsZero) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  ws_client c(srv.port(), ann.token);
  auto conv = create_group(c, "g", {});
  std::thread stopper([&] { EXPECT_EQ(srv.stop(), 0); });
  EXPECT_EQ(c.wait_closed(10s), 1001);
  stopper.join();
  srv.start();  // the data is intact
  ws_client d(srv.port(), ann.token);
  EXPECT_EQ(
      d.call({{"op", "conv.get"}, {"conv", conv}})["conversation"].as_object()["title"].as_string(),
      "g");
}
