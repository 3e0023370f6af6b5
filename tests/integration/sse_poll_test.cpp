// Server-Sent Events, long polling and commands over POST against the real binary: the
// same frames as the WebSocket, ids and cursors that resume exactly (Last-Event-ID), and a
// client that switches transports mid-conversation and misses nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>
#include <thread>

#include "chat_helpers.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

// A minimal EventSource: GET /v1/sse over a plain socket, parsing "id:", "event:" and
// "data:" lines into messages.
class sse_client {
 public:
  struct message {
    std::string id, event, data;
  };
  sse_client(std::uint16_t port, const std::string& token, const std::string& last_event_id = {},
             const std::string& cursor = {}) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect failed");
    std::string req = "GET /v1/sse" + (cursor.empty() ? "" : "?cursor=" + cursor) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                      "Authorization: Bearer " +
                      token + "\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    req += "\r\n";
    ::send(fd_, req.data(), req.size(), 0);
  }
  ~sse_client() { ::close(fd_); }

  // The status line and headers, once.
  std::string head(std::chrono::milliseconds timeout = 5s) {
    while (buf_.find("\r\n\r\n") == std::string::npos)
      if (!fill(timeout)) return {};
    auto end = buf_.find("\r\n\r\n");
    auto h = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    return h;
  }
  // The next message (comments and retry lines skipped), or nullopt at the timeout.
  std::optional<message> next(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto end = buf_.find("\n\n");
      if (end != std::string::npos) {
        auto block = buf_.substr(0, end);
        buf_.erase(0, end + 2);
        message m;
        bool any = false;
        std::size_t i = 0;
        while (i <= block.size()) {
          auto j = block.find('\n', i);
          if (j == std::string::npos) j = block.size();
          auto line = block.substr(i, j - i);
          i = j + 1;
          auto field = [&](const char* f, std::string& into) {
            std::string p = std::string(f) + ": ";
            if (line.rfind(p, 0) == 0) {
              into = line.substr(p.size());
              any = true;
            }
          };
          field("id", m.id);
          field("event", m.event);
          field("data", m.data);
        }
        if (any && (!m.data.empty() || !m.event.empty())) return m;
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !fill(left)) return std::nullopt;
    }
  }
  // Messages until `n` events ({"ev"} data) arrived; returns them with their ids.
  std::vector<std::pair<std::string, json::object>> events(std::size_t n,
                                                           std::chrono::milliseconds timeout = 5s) {
    std::vector<std::pair<std::string, json::object>> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto m = next(std::max(left, std::chrono::milliseconds(1)));
      if (!m) break;
      if (m->data.empty() || m->event != "") continue;
      auto v = json::parse(m->data).as_object();
      if (v.contains("ev")) out.emplace_back(m->id, v["ev"].as_object());
    }
    return out;
  }

 private:
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char b[65536];
    auto n = ::recv(fd_, b, sizeof b, 0);
    if (n <= 0) return false;
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

json::object poll_once(std::uint16_t port, const std::string& token, const std::string& cursor,
                       int timeout_ms) {
  auto r = http(port, "GET",
                "/v1/poll?timeout_ms=" + std::to_string(timeout_ms) +
                    (cursor.empty() ? "" : "&cursor=" + cursor),
                "", token);
  if (r.status != 200) throw std::runtime_error("poll: " + std::to_string(r.status) + " " + r.body);
  return r.json().as_object();
}

std::vector<json::object> events_of(const json::object& poll) {
  std::vector<json::object> out;
  for (const auto& f : poll.at("frames").as_array())
    if (f.as_object().contains("ev")) out.push_back(f.as_object().at("ev").as_object());
  return out;
}

json::object rpc(std::uint16_t port, const std::string& token, json::object req) {
  auto r = http(port, "POST", "/v1/rpc", json::serialize(req), token);
  if (r.status != 200) throw std::runtime_error("rpc: " + r.body);
  return r.json().as_object();
}

}  // namespace

TEST(Sse, StreamsEventsWithResumableIdsAndHonoursLastEventId) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});  // seq 1
  std::string last_id;
  {
    sse_client s(srv.port(), bob.token, {}, std::to_string(conv) + ".0");
    auto h = s.head();
    EXPECT_NE(h.find("200"), std::string::npos) << h;
    EXPECT_NE(h.find("text/event-stream"), std::string::npos) << h;
    auto first = s.events(1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].second["seq"].as_int64(), 1);
    for (int i = 0; i < 3; ++i)
      send_text(*a, conv, "s" + std::to_string(i), "m" + std::to_string(i));
    auto live = s.events(3);
    ASSERT_EQ(live.size(), 3u);
    EXPECT_EQ(live[2].second["seq"].as_int64(), 4);
    EXPECT_EQ(live[2].first, std::to_string(conv) + ".4") << "the id is the position after it";
    last_id = live[1].first;  // pretend the last one was lost with the connection
  }
  send_text(*a, conv, "s3", "while away");  // seq 5
  sse_client again(srv.port(), bob.token, last_id);
  again.head();
  auto resumed = again.events(2);
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].second["seq"].as_int64(), 4);
  EXPECT_EQ(resumed[1].second["seq"].as_int64(), 5);
  // Commands go over POST in the WebSocket's shapes.
  auto r = rpc(
      srv.port(), bob.token,
      {{"id", 7}, {"op", "send"}, {"conv", conv}, {"client_msg_id", "b1"}, {"text", "via rpc"}});
  EXPECT_EQ(r["id"].as_int64(), 7);
  EXPECT_EQ(r["result"].as_object()["seq"].as_int64(), 6);
  auto own = again.events(1);
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].second["client_msg_id"].as_string(), "b1");
  auto bad =
      rpc(srv.port(), bob.token,
          {{"id", "x"}, {"op", "send"}, {"conv", 999}, {"client_msg_id", "b2"}, {"text", "?"}});
  EXPECT_EQ(bad["error"].as_object()["code"].as_string(), "not_found");
  EXPECT_EQ(http(srv.port(), "GET", "/v1/sse", "", "").status, 401);
  EXPECT_EQ(http(srv.port(), "GET", "/v1/sse?cursor=nonsense", "", bob.token).status, 400);
}

TEST(LongPoll, ReturnsAtOnceOrWaitsAndResumesFromTheCursor) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  for (int i = 0; i < 3; ++i) send_text(*a, conv, "p" + std::to_string(i), "m" + std::to_string(i));
  auto p1 = poll_once(srv.port(), bob.token, std::to_string(conv) + ".0", 5000);
  auto evs = events_of(p1);
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[3]["seq"].as_int64(), 4);
  std::string cursor(p1["cursor"].as_string());
  EXPECT_EQ(cursor, std::to_string(conv) + ".4");
  // Nothing new: the poll waits, then returns empty with the same cursor.
  auto t0 = std::chrono::steady_clock::now();
  auto empty = poll_once(srv.port(), bob.token, cursor, 300);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  EXPECT_TRUE(events_of(empty).empty());
  EXPECT_EQ(empty["cursor"].as_string(), cursor);
  // A message sent while a poll waits ends the wait at once.
  std::thread later([&] {
    std::this_thread::sleep_for(200ms);
    send_text(*a, conv, "p3", "wake up");
  });
  t0 = std::chrono::steady_clock::now();
  auto woke = poll_once(srv.port(), bob.token, cursor, 10000);
  later.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  auto w = events_of(woke);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0]["seq"].as_int64(), 5);
  EXPECT_EQ(http(srv.port(), "GET", "/v1/poll?cursor=1.x", "", bob.token).status, 400);
  // state=1 (a client's first poll): the current presence and receipts come along.
  auto r =
      http(srv.port(), "GET",
           "/v1/poll?timeout_ms=2000&state=1&cursor=" + std::string(woke["cursor"].as_string()), "",
           bob.token);
  ASSERT_EQ(r.status, 200) << r.body;
  bool presence = false;
  auto body = r.json();
  for (const auto& f : body.as_object()["frames"].as_array())
    if (auto* n = f.as_object().if_contains("notice"); n && n->as_string() == "presence")
      presence = true;
  EXPECT_TRUE(presence) << r.body;
}

TEST(Transports, AClientSwitchingBetweenWebSocketSseAndPollingMissesNothing) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  std::vector<std::int64_t> seen;
  std::string cursor = std::to_string(conv) + ".0";
  int n = 0;
  auto burst = [&] {
    for (int i = 0; i < 5; ++i) send_text(*a, conv, "x" + std::to_string(n++), "m");
  };
  // 1. Long polling.
  burst();
  auto p = poll_once(srv.port(), bob.token, cursor, 2000);
  for (auto& e : events_of(p)) seen.push_back(e["seq"].as_int64());
  cursor = std::string(p["cursor"].as_string());
  // 2. SSE from the poll's cursor.
  burst();
  {
    sse_client s(srv.port(), bob.token, {}, cursor);
    s.head();
    for (auto& [id, e] : s.events(5)) {
      seen.push_back(e["seq"].as_int64());
      cursor = id;
    }
  }
  // 3. WebSocket from the SSE id (the same positions as sync's `since`).
  burst();
  {
    json::object since;
    auto dot = cursor.find('.');
    since[cursor.substr(0, dot)] = std::stoll(cursor.substr(dot + 1));
    ws_client w(srv.port(), bob.token);
    w.call({{"op", "sync"}, {"since", since}});
    for (auto& e : w.events(5)) seen.push_back(e["seq"].as_int64());
    cursor = std::to_string(conv) + "." + std::to_string(seen.back());
  }
  // 4. Polling again.
  burst();
  p = poll_once(srv.port(), bob.token, cursor, 2000);
  for (auto& e : events_of(p)) seen.push_back(e["seq"].as_int64());
  ASSERT_EQ(seen.size(), 1u + 20u) << "conversation.created and 20 messages";
  for (std::size_t i = 0; i < seen.size(); ++i)
    EXPECT_EQ(seen[i], static_cast<std::int64_t>(i + 1)) << "each event once, in order";
}
