// server.allowed_origins against the real binary: a page of another origin cannot open a
// WebSocket or an event stream or call REST (403), the server's own origin and listed ones
// can, CORS preflights are answered, and clients that are not browsers are not affected.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;

namespace {

// Sends `request` on a fresh connection; returns the response head (status line and
// headers), lowercased.
std::string head_of(std::uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  while (out.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  out = out.substr(0, out.find("\r\n\r\n"));
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string upgrade(std::uint16_t port, const std::string& origin, const std::string& token) {
  std::string r = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                  "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  "Authorization: Bearer " +
                  token + "\r\n";
  if (!origin.empty()) r += "Origin: " + origin + "\r\n";
  return head_of(port, r + "\r\n");
}

std::string get(std::uint16_t port, const std::string& target, const std::string& origin,
                const std::string& token, const std::string& method = "GET",
                const std::string& extra = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                  "\r\nConnection: close\r\nAuthorization: Bearer " + token + "\r\n" + extra;
  if (!origin.empty()) r += "Origin: " + origin + "\r\n";
  return head_of(port, r + "\r\n");
}

TEST(Origin, ByDefaultOnlyTheServersOwnOriginAndNonBrowsersGetIn) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  const std::string own = "http://127.0.0.1:" + std::to_string(srv.port());
  EXPECT_EQ(upgrade(srv.port(), "", ann.token).rfind("http/1.1 101", 0), 0u);
  EXPECT_EQ(upgrade(srv.port(), own, ann.token).rfind("http/1.1 101", 0), 0u);
  EXPECT_EQ(upgrade(srv.port(), "http://evil.example", ann.token).rfind("http/1.1 403", 0), 0u)
      << "cross-site WebSocket hijacking";
  EXPECT_EQ(get(srv.port(), "/v1/sse", "http://evil.example", ann.token).rfind("http/1.1 403", 0),
            0u);
  EXPECT_EQ(get(srv.port(), "/v1/conversations", "http://evil.example", ann.token)
                .rfind("http/1.1 403", 0),
            0u);
  auto ok = get(srv.port(), "/v1/conversations", own, ann.token);
  EXPECT_EQ(ok.rfind("http/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("access-control-allow-origin: *"), std::string::npos) << ok;
  // A preflight from another origin is refused; the server still serves everyone else.
  EXPECT_EQ(get(srv.port(), "/v1/conversations", "http://evil.example", ann.token, "OPTIONS",
                "Access-Control-Request-Method: POST\r\n")
                .rfind("http/1.1 403", 0),
            0u);
  EXPECT_EQ(http(srv.port(), "GET", "/healthz").status, 200);
}

TEST(Origin, ListedOriginsGetInAndPreflightsAreAnswered) {
  server_process srv(
      {"--set", "server.allowed_origins=https://app.example, http://localhost:3000"});
  auto ann = register_and_login(srv.port(), "ann");
  EXPECT_EQ(upgrade(srv.port(), "https://app.example", ann.token).rfind("http/1.1 101", 0), 0u);
  EXPECT_EQ(upgrade(srv.port(), "http://localhost:3000", ann.token).rfind("http/1.1 101", 0), 0u);
  EXPECT_EQ(upgrade(srv.port(), "http://app.example", ann.token).rfind("http/1.1 403", 0), 0u);
  auto pre = get(srv.port(), "/v1/messages", "https://app.example", ann.token, "OPTIONS",
                 "Access-Control-Request-Method: POST\r\n"
                 "Access-Control-Request-Headers: authorization, content-type\r\n");
  EXPECT_EQ(pre.rfind("http/1.1 204", 0), 0u) << pre;
  EXPECT_NE(pre.find("access-control-allow-origin: *"), std::string::npos) << pre;
  EXPECT_NE(pre.find("access-control-allow-headers: authorization, content-type"),
            std::string::npos)
      << pre;
  EXPECT_NE(pre.find("access-control-allow-methods: get, head, post"), std::string::npos) << pre;
  auto sse = get(srv.port(), "/v1/sse", "https://app.example", ann.token);
  EXPECT_EQ(sse.rfind("http/1.1 200", 0), 0u) << sse;
  EXPECT_NE(sse.find("access-control-allow-origin: *"), std::string::npos) << sse;
}

TEST(Origin, AStarLetsAnyOriginIn) {
  server_process srv({"--set", "server.allowed_origins=*"});
  auto ann = register_and_login(srv.port(), "ann");
  EXPECT_EQ(upgrade(srv.port(), "http://anything.example", ann.token).rfind("http/1.1 101", 0), 0u);
}

}  // namespace
