// The SDK over each transport (WebSocket, Server-Sent Events, long polling) against the
// real server, and its fallback through a proxy that refuses WebSocket upgrades or
// buffers event streams: chat exactly once and in order, a server killed with kill -9
// mid-burst, a revoked token, and a switch of transport mid-conversation that loses and
// repeats nothing.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "chat_helpers.hpp"
#include "http_proxy.hpp"
#include "parley/sdk/blocking_client.hpp"
#include "sdk_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
using parley::sdk::blocking_client;
using parley::sdk::client_options;
using parley::sdk::transport;

namespace {

// The texts with `prefix`, as numbers, in the order given.
std::vector<int> numbered(const std::vector<parley::sdk::event>& evs, const std::string& prefix) {
  std::vector<int> out;
  for (const auto& e : evs)
    if (e.text.rfind(prefix, 0) == 0) out.push_back(std::stoi(e.text.substr(prefix.size())));
  return out;
}

std::vector<int> first_n(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

// Gapless from seq `from`, each once.
void expect_gapless(const std::vector<parley::sdk::event>& evs, std::int64_t from) {
  for (std::size_t i = 0; i < evs.size(); ++i)
    ASSERT_EQ(evs[i].seq, from + static_cast<std::int64_t>(i)) << "gapless, each once, in order";
}

class SdkTransport : public ::testing::TestWithParam<transport> {};

TEST_P(SdkTransport, TwoClientsChatBothWaysExactlyOnceInOrder) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto dir = temp_dir();
  blocking_client a(options(srv.port(), ann.token, dir + "/a.db", {GetParam()}));
  blocking_client b(options(srv.port(), bob.token, dir + "/b.db", {GetParam()}));
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_TRUE(b.wait_online(5s));
  EXPECT_EQ(a.async().current_transport(), GetParam());
  auto r = a.call("conv.create", {{"kind", "direct"}, {"peer", "bob"}});
  ASSERT_TRUE(r.ok()) << r.err().message;
  auto conv = r.value()["conversation"].as_object()["id"].as_int64();
  for (int i = 0; i < 20; ++i) {
    a.send(conv, "a-" + std::to_string(i));
    b.send(conv, "b-" + std::to_string(i));
  }
  ASSERT_TRUE(a.wait_outbox_empty(10s));
  ASSERT_TRUE(b.wait_outbox_empty(10s));
  for (auto* c : {&a, &b}) {
    auto evs = c->events(41, 10s);
    ASSERT_EQ(evs.size(), 41u);
    expect_gapless(evs, 1);
    EXPECT_EQ(numbered(evs, "a-"), first_n(20));
    EXPECT_EQ(numbered(evs, "b-"), first_n(20));
    EXPECT_FALSE(c->next_event(300ms).has_value()) << "nothing twice";
  }
  EXPECT_EQ(a.acks().size(), 20u);
  std::filesystem::remove_all(dir);
}

TEST_P(SdkTransport, ServerKill9MidBurstLosesAndRepeatsNothing) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  std::int64_t conv;
  {
    ws_client c(srv.port(), ann.token);
    conv = create_group(c, "g", {"bob"});
  }
  auto dir = temp_dir();
  blocking_client a(options(srv.port(), ann.token, dir + "/a.db", {GetParam()}));
  blocking_client b(options(srv.port(), bob.token, dir + "/b.db", {GetParam()}));
  ASSERT_TRUE(a.wait_online(5s) && b.wait_online(5s));
  constexpr int kMessages = 150;
  for (int i = 0; i < kMessages; ++i) a.send(conv, "m-" + std::to_string(i));
  for (int i = 0; i < 1000 && a.acks().size() < 30; ++i) std::this_thread::sleep_for(2ms);
  srv.kill9();
  EXPECT_LT(a.acks().size(), static_cast<std::size_t>(kMessages)) << "the crash hits mid-burst";
  std::this_thread::sleep_for(300ms);
  srv.start();
  ASSERT_TRUE(a.wait_outbox_empty(30s));
  auto evs = b.events(kMessages + 1, 30s);
  ASSERT_EQ(evs.size(), static_cast<std::size_t>(kMessages + 1));
  expect_gapless(evs, 1);
  EXPECT_EQ(numbered(evs, "m-"), first_n(kMessages));
  EXPECT_FALSE(b.next_event(300ms).has_value());
  std::filesystem::remove_all(dir);
}

TEST_P(SdkTransport, ARevokedTokenStopsTheClient) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto dir = temp_dir();
  blocking_client a(options(srv.port(), ann.token, dir + "/a.db", {GetParam()}));
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_EQ(http(srv.port(), "POST", "/v1/logout", "", ann.token).status, 200);
  for (int i = 0; i < 300 && a.current_state() != parley::sdk::state::offline; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(a.current_state(), parley::sdk::state::offline);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Each, SdkTransport,
                         ::testing::Values(transport::websocket, transport::sse,
                                           transport::long_polling),
                         [](const ::testing::TestParamInfo<transport>& i) {
                           return i.param == transport::websocket ? "WebSocket"
                                  : i.param == transport::sse     ? "SSE"
                                                                  : "LongPolling";
                         });

// ann talks to the server directly; bob goes through the proxy with the default transports.
struct fallback_setup {
  server_process srv;
  http_proxy proxy{srv.port()};
  account ann = register_and_login(srv.port(), "ann");
  account bob = register_and_login(srv.port(), "bob");
  std::string dir = temp_dir();
  std::int64_t conv = 0;
  fallback_setup() {
    ws_client c(srv.port(), ann.token);
    conv = create_group(c, "g", {"bob"});
  }
  ~fallback_setup() { std::filesystem::remove_all(dir); }
};

// Both directions, n messages each, arrive exactly once and in order at both ends.
void chat_both_ways(blocking_client& a, blocking_client& b, std::int64_t conv, int n,
                    std::int64_t first_seq) {
  for (int i = 0; i < n; ++i) {
    a.send(conv, "a-" + std::to_string(i));
    b.send(conv, "b-" + std::to_string(i));
  }
  ASSERT_TRUE(a.wait_outbox_empty(10s));
  ASSERT_TRUE(b.wait_outbox_empty(10s));
  for (auto* c : {&a, &b}) {
    auto evs = c->events(static_cast<std::size_t>(2 * n), 10s);
    ASSERT_EQ(evs.size(), static_cast<std::size_t>(2 * n));
    expect_gapless(evs, first_seq);
    EXPECT_EQ(numbered(evs, "a-"), first_n(n));
    EXPECT_EQ(numbered(evs, "b-"), first_n(n));
  }
}

TEST(SdkFallback, AProxyRefusingWebSocketsLeavesTheClientOnSse) {
  fallback_setup s;
  s.proxy.refuse("/v1/ws");
  blocking_client a(options(s.srv.port(), s.ann.token, s.dir + "/a.db"));
  blocking_client b(options(s.proxy.port(), s.bob.token, s.dir + "/b.db"));
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_TRUE(b.wait_online(10s));
  EXPECT_EQ(b.async().current_transport(), transport::sse);
  EXPECT_EQ(s.proxy.requests_to("/v1/ws"), 2) << "two refused upgrades, then the next transport";
  ASSERT_EQ(a.events(1, 5s).size(), 1u);  // conversation.created
  ASSERT_EQ(b.events(1, 5s).size(), 1u);
  chat_both_ways(a, b, s.conv, 15, 2);
}

TEST(SdkFallback, AProxyBufferingEventStreamsTooLeavesTheClientOnLongPolling) {
  fallback_setup s;
  s.proxy.refuse("/v1/ws");
  s.proxy.buffer("/v1/sse");
  blocking_client a(options(s.srv.port(), s.ann.token, s.dir + "/a.db"));
  blocking_client b(options(s.proxy.port(), s.bob.token, s.dir + "/b.db"));
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_TRUE(b.wait_online(15s));
  EXPECT_EQ(b.async().current_transport(), transport::long_polling);
  EXPECT_EQ(s.proxy.requests_to("/v1/sse"), 2);
  ASSERT_EQ(a.events(1, 5s).size(), 1u);
  ASSERT_EQ(b.events(1, 5s).size(), 1u);
  chat_both_ways(a, b, s.conv, 15, 2);
}

TEST(SdkFallback, SwitchingTransportMidConversationLosesAndRepeatsNothing) {
  fallback_setup s;
  blocking_client a(options(s.srv.port(), s.ann.token, s.dir + "/a.db"));
  auto bo = options(s.proxy.port(), s.bob.token, s.dir + "/b.db");
  bo.transport_retry = std::chrono::milliseconds(1500);
  blocking_client b(bo);
  ASSERT_TRUE(a.wait_online(5s));
  ASSERT_TRUE(b.wait_online(5s));
  EXPECT_EQ(b.async().current_transport(), transport::websocket);
  ASSERT_EQ(a.events(1, 5s).size(), 1u);  // conversation.created
  ASSERT_EQ(b.events(1, 5s).size(), 1u);
  // ann keeps sending while bob's WebSocket is cut and refused: bob moves to SSE, keeps
  // sending through his outbox, and goes back to the WebSocket once it is allowed again.
  constexpr int kEach = 60;
  std::atomic<bool> go{true};
  std::thread sender([&] {
    for (int i = 0; i < kEach && go; ++i) {
      a.send(s.conv, "a-" + std::to_string(i));
      std::this_thread::sleep_for(40ms);
    }
  });
  auto on_transport = [&](transport want, std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
      if (b.current_state() == parley::sdk::state::online && b.async().current_transport() == want)
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  for (int i = 0; i < kEach; ++i) {
    if (i == 10) {
      s.proxy.refuse("/v1/ws");
      s.proxy.cut_all();
    }
    if (i == 30) {
      EXPECT_TRUE(on_transport(transport::sse, 5s));
      s.proxy.allow_all();
    }
    b.send(s.conv, "b-" + std::to_string(i));
    std::this_thread::sleep_for(40ms);
  }
  sender.join();
  EXPECT_TRUE(on_transport(transport::websocket, 10s)) << "back on the preferred transport";
  EXPECT_GE(s.proxy.requests_to("/v1/sse"), 1) << "the switch went through SSE";
  ASSERT_TRUE(a.wait_outbox_empty(15s));
  ASSERT_TRUE(b.wait_outbox_empty(15s));
  for (auto* c : {&a, &b}) {
    auto evs = c->events(2 * kEach, 15s);
    ASSERT_EQ(evs.size(), static_cast<std::size_t>(2 * kEach));
    expect_gapless(evs, 2);
    EXPECT_EQ(numbered(evs, "a-"), first_n(kEach));
    EXPECT_EQ(numbered(evs, "b-"), first_n(kEach));
    EXPECT_FALSE(c->next_event(300ms).has_value()) << "nothing twice";
  }
}

TEST(SdkFallback, AServerThatIsDownDoesNotPushTheClientOffWebSockets) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  srv.kill9();
  auto dir = temp_dir();
  blocking_client a(options(srv.port(), ann.token, dir + "/a.db"));
  std::this_thread::sleep_for(1500ms);  // several refused connects
  EXPECT_NE(a.current_state(), parley::sdk::state::online);
  srv.start();
  ASSERT_TRUE(a.wait_online(10s));
  EXPECT_EQ(a.async().current_transport(), transport::websocket);
  std::filesystem::remove_all(dir);
}

}  // namespace
