// Open connections per address and per user (limits.max_connections_per_*): the one over
// the limit is refused (429 before the upgrade, or close 4006 when it authenticates with a
// frame), and a closed connection frees its place.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "chat_helpers.hpp"
#include "http_streams.hpp"
#include "server_process.hpp"

using namespace parley::test;

namespace {

bool refused_with_429(std::uint16_t port, const std::string& token) {
  try {
    ws_client c(port, token);
    return false;
  } catch (const std::exception& e) {
    return std::string(e.what()).find("429") != std::string::npos ||
           std::string(e.what()).find("Too Many") != std::string::npos ||
           std::string(e.what()).find("declined") != std::string::npos;
  }
}

TEST(ConnectionLimits, PerUserOverAllDevicesAndTransports) {
  server_process srv({"--set", "limits.max_connections_per_user=3"});
  auto ann = register_and_login(srv.port(), "ann");
  auto phone = login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  std::vector<std::unique_ptr<ws_client>> open;
  open.push_back(std::make_unique<ws_client>(srv.port(), ann.token));
  open.push_back(std::make_unique<ws_client>(srv.port(), phone));
  sse_client stream(srv.port(), ann.token);
  ASSERT_NE(stream.head().find("200"), std::string::npos) << "the third place";
  EXPECT_TRUE(refused_with_429(srv.port(), phone)) << "a fourth is refused, whichever device";
  auto over = http(srv.port(), "GET", "/v1/sse", "", ann.token);
  EXPECT_EQ(over.status, 429) << over.body;
  // Authenticating with a frame: the reply says so, then close 4006.
  ws_client late(srv.port());
  auto r = late.request({{"op", "auth"}, {"token", ann.token}});
  EXPECT_EQ(r["error"].as_object()["code"], "rate_limited");
  EXPECT_EQ(late.wait_closed(5s), 4006);
  // Other users are not affected; a closed connection frees its place.
  ws_client b(srv.port(), bob.token);
  open.pop_back();
  EXPECT_TRUE(eventually([&] {
    try {
      ws_client again(srv.port(), phone);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

TEST(ConnectionLimits, PerAddress) {
  server_process srv({"--set", "limits.max_connections_per_address=2"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = std::make_unique<ws_client>(srv.port(), ann.token);
  ws_client b(srv.port(), bob.token);
  EXPECT_TRUE(refused_with_429(srv.port(), bob.token));
  EXPECT_EQ(http(srv.port(), "GET", "/v1/conversations", "", ann.token).status, 200)
      << "plain requests are not connections";
  a.reset();
  EXPECT_TRUE(eventually([&] {
    try {
      ws_client again(srv.port(), bob.token);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

}  // namespace
