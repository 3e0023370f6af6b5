// Server-Sent Events, long polling and commands over POST against the real binary: the
// same frames as the WebSocket, ids and cursors that resume exactly (Last-Event-ID), and a
// client that switches transports mid-conversation and misses nothing.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>
#include <thread>

#include "chat_helpers.hpp"
#include "http_streams.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

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
  // "all": every conversation from the join, as sync's `since: {}`; empty: from now on.
  auto all = events_of(poll_once(srv.port(), bob.token, "all", 2000));
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0]["type"].as_string(), "conversation.created");
  EXPECT_TRUE(events_of(poll_once(srv.port(), bob.token, "", 200)).empty());
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

// A client that drops a waiting poll is gone at once: its session ends, and its contacts
// hear it go offline at the next presence flush, not when the poll would have timed out.
TEST(LongPoll, ADroppedWaitingPollEndsItsSessionAtOnce) {
  server_process srv({"--set", "presence.flush_ms=100"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  a->keep_state_notices();
  auto conv = create_group(*a, "g", {"bob"});
  auto presence = [&](const std::string& state, std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
      auto f = a->next_push(100ms);
      if (!f) continue;
      auto* n = f->if_contains("notice");
      if (!n || n->as_string() != "presence") continue;
      json::array one{*f};  // a change names one user; the state after sync lists them
      const auto* us = f->if_contains("users");
      for (const auto& u : us ? us->as_array() : one)
        if (u.as_object().at("user").as_int64() == bob.id &&
            u.as_object().at("state").as_string() == state)
          return true;
    }
    return false;
  };
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(srv.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET /v1/poll?timeout_ms=30000&cursor=" + std::to_string(conv) +
                    ".1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bob.token + "\r\n\r\n";
  // Poll on one keep-alive connection until a poll is left waiting (a notice, such as
  // ann's presence, may answer the first ones at once).
  bool waiting = false;
  for (int i = 0; i < 10 && !waiting; ++i) {
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 500) == 0) {
      waiting = true;
      break;
    }
    char buf[65536];
    ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);  // the answer (small: one read)
  }
  ASSERT_TRUE(waiting);
  ASSERT_TRUE(eventually([&] {
    auto r = rpc(srv.port(), ann.token, {{"id", 1}, {"op", "presence.get"}});
    for (const auto& u : r["result"].as_object()["presence"].as_array())
      if (u.as_object().at("user").as_int64() == bob.id)
        return u.as_object().at("state").as_string() == "online";
    return false;
  })) << "bob is online while his poll waits";
  while (a->next_push(200ms)) {
  }
  ::close(fd);
  EXPECT_TRUE(presence("offline", 2s)) << "and offline once he dropped it, not after 30 s";
}

// A request id over POST /v1/rpc is what a WebSocket id may be: a string of at most 64
// characters or an integer. Anything else (a number with no JSON form to echo, such as
// 8102E555, an object, a fraction) is refused before anything runs.
TEST(Rpc, IdsThatCannotBeEchoedAreRefused) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  for (const char* body : {R"({"id":8102E555,"op":"ping"})", R"({"id":{"a":1},"op":"ping"})",
                           R"({"id":1.5,"op":"ping"})", R"({"id":[1],"op":"ping"})"}) {
    auto r = http(srv.port(), "POST", "/v1/rpc", body, ann.token);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.json().as_object()["error"].as_object()["field"], "id") << body;
  }
  auto ok = http(srv.port(), "POST", "/v1/rpc", R"({"id":"x","op":"ping"})", ann.token);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.json().as_object()["id"], "x");
}
