// The same scenarios over each transport (WebSocket, WebSocket with permessage-deflate,
// Server-Sent Events, long polling):
// chat exactly once and in order, resume after a disconnect without gap or duplicate,
// idempotent retries, and receipts and typing. The client under test ("bob") uses the
// transport; the other user ("ann") stays on a WebSocket.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <functional>
#include <memory>
#include <thread>

#include "chat_helpers.hpp"
#include "http_streams.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

enum class kind { websocket, websocket_deflate, sse, poll };

// One client over one transport: requests, pushed frames, and resuming where it was.
class transport_client {
 public:
  virtual ~transport_client() = default;
  // A request; its result, or a thrown error.
  virtual json::object call(json::object req) = 0;
  // The next pushed frame ({"ev"} or {"notice"}), or nullopt at the timeout.
  virtual std::optional<json::object> next(std::chrono::milliseconds timeout) = 0;
  // Drops the connection (or stops polling) and comes back from the last position seen.
  virtual void reconnect() = 0;
  // A request as sent, returning the whole reply ({"result"} or {"error"}).
  virtual json::object request(json::object req) = 0;
  // Waits for the server to end the stream; the close code (4003 after a logout), or for
  // polling the HTTP status of the next poll.
  virtual int wait_end(std::chrono::milliseconds timeout) = 0;

  std::vector<json::object> events(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::vector<json::object> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto f = next(left);
      if (!f) break;
      if (f->contains("ev")) out.push_back(f->at("ev").as_object());
    }
    return out;
  }
  std::optional<json::object> notice(const std::string& kind_name,
                                     std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto f = next(left);
      if (!f) return std::nullopt;
      if (auto* n = f->if_contains("notice"); n && n->as_string() == kind_name) return *f;
    }
  }
};

json::object result_of(const json::object& reply) {
  if (auto* r = reply.if_contains("result")) return r->as_object();
  throw std::runtime_error("request failed: " + json::serialize(reply));
}

class ws_transport final : public transport_client {
 public:
  ws_transport(std::uint16_t port, std::string token, std::string cursor, bool deflate)
      : port_(port), token_(std::move(token)), cursor_(std::move(cursor)), deflate_(deflate) {
    open();
  }
  json::object call(json::object req) override { return result_of(c_->request(std::move(req))); }
  json::object request(json::object req) override { return c_->request(std::move(req)); }
  int wait_end(std::chrono::milliseconds timeout) override { return c_->wait_closed(timeout); }
  std::optional<json::object> next(std::chrono::milliseconds timeout) override {
    auto f = c_->next_push(timeout);
    if (f && f->contains("ev")) {
      const auto& e = f->at("ev").as_object();
      cursor_ =
          std::to_string(e.at("conv").as_int64()) + "." + std::to_string(e.at("seq").as_int64());
    }
    return f;
  }
  void reconnect() override {
    c_.reset();
    open();
  }

 private:
  void open() {
    c_ = std::make_unique<ws_client>(port_, token_, deflate_);
    if (deflate_ && c_->extensions().find("permessage-deflate") == std::string::npos)
      throw std::runtime_error("permessage-deflate was not agreed");
    c_->keep_state_notices();
    json::object since;
    auto dot = cursor_.find('.');
    since[cursor_.substr(0, dot)] = std::stoll(cursor_.substr(dot + 1));
    c_->call({{"op", "sync"}, {"since", since}});
  }
  std::uint16_t port_;
  std::string token_, cursor_;  // one conversation's position is enough here
  bool deflate_;
  std::unique_ptr<ws_client> c_;
};

class sse_transport final : public transport_client {
 public:
  sse_transport(std::uint16_t port, std::string token, std::string cursor)
      : port_(port), token_(std::move(token)) {
    s_ = std::make_unique<sse_client>(port_, token_, std::string(), cursor);
    s_->head();
  }
  json::object call(json::object req) override {
    return result_of(rpc(port_, token_, std::move(req)));
  }
  json::object request(json::object req) override { return rpc(port_, token_, std::move(req)); }
  int wait_end(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return -1;
      auto m = s_->next(left);
      if (!m) return -1;
      if (m->event == "close") return static_cast<int>(json::parse(m->data).at("code").as_int64());
    }
  }
  std::optional<json::object> next(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto m = s_->next(left);
      if (!m) return std::nullopt;
      if (!m->id.empty()) last_id_ = m->id;
      if (m->event.empty() && !m->data.empty()) return json::parse(m->data).as_object();
    }
  }
  void reconnect() override {
    s_.reset();
    s_ = std::make_unique<sse_client>(port_, token_, last_id_);  // as EventSource does
    s_->head();
  }

 private:
  std::uint16_t port_;
  std::string token_, last_id_;
  std::unique_ptr<sse_client> s_;
};

class poll_transport final : public transport_client {
 public:
  poll_transport(std::uint16_t port, std::string token, std::string cursor)
      : port_(port), token_(std::move(token)), cursor_(std::move(cursor)) {}
  json::object call(json::object req) override {
    return result_of(rpc(port_, token_, std::move(req)));
  }
  json::object request(json::object req) override { return rpc(port_, token_, std::move(req)); }
  int wait_end(std::chrono::milliseconds) override {
    return http(port_, "GET", "/v1/poll?timeout_ms=0&cursor=" + cursor_, "", token_).status;
  }
  std::optional<json::object> next(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (queue_.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto r = poll_once(port_, token_, cursor_,
                         static_cast<int>(std::min<std::int64_t>(left.count(), 5000)), first_);
      first_ = false;
      cursor_ = std::string(r.at("cursor").as_string());
      for (const auto& f : r.at("frames").as_array()) queue_.push_back(f.as_object());
    }
    auto f = std::move(queue_.front());
    queue_.erase(queue_.begin());
    return f;
  }
  void reconnect() override {
    // No connection to drop: the next poll starts from the cursor of the last response
    // (everything in it was handed out), asking for the current state as a returning
    // client does.
    first_ = true;
  }

 private:
  std::uint16_t port_;
  std::string token_, cursor_;
  bool first_ = true;
  std::vector<json::object> queue_;
};

class Transports : public ::testing::TestWithParam<kind> {
 protected:
  std::unique_ptr<transport_client> open(std::uint16_t port, const std::string& token,
                                         const std::string& cursor) {
    switch (GetParam()) {
      case kind::websocket:
      case kind::websocket_deflate:
        return std::make_unique<ws_transport>(port, token, cursor,
                                              GetParam() == kind::websocket_deflate);
      case kind::sse:
        return std::make_unique<sse_transport>(port, token, cursor);
      case kind::poll:
        return std::make_unique<poll_transport>(port, token, cursor);
    }
    return nullptr;
  }
};

TEST_P(Transports, ChatArrivesExactlyOnceInOrderBothWays) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto b = open(srv.port(), bob.token, std::to_string(conv) + ".0");
  for (int i = 0; i < 20; ++i)
    send_text(*a, conv, "a" + std::to_string(i), "m" + std::to_string(i));
  auto evs = b->events(21);
  ASSERT_EQ(evs.size(), 21u);
  for (std::size_t i = 0; i < evs.size(); ++i)
    EXPECT_EQ(evs[i]["seq"].as_int64(), static_cast<std::int64_t>(i + 1));
  auto ack = b->call(
      {{"id", 1}, {"op", "send"}, {"conv", conv}, {"client_msg_id", "b1"}, {"text", "hi ann"}});
  EXPECT_EQ(ack["seq"].as_int64(), 22);
  // A retry with the same key is answered with the original acknowledgement.
  auto again = b->call(
      {{"id", 2}, {"op", "send"}, {"conv", conv}, {"client_msg_id", "b1"}, {"text", "hi ann"}});
  EXPECT_TRUE(again["duplicate"].as_bool());
  EXPECT_EQ(again["seq"].as_int64(), 22);
  auto own = b->events(1);
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0]["client_msg_id"].as_string(), "b1");
  EXPECT_EQ(a->events(22).back()["client_msg_id"].as_string(), "b1");
  EXPECT_TRUE(b->events(1, 300ms).empty()) << "nothing twice";
}

TEST_P(Transports, ResumeAfterADisconnectHasNoGapAndNoDuplicate) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto b = open(srv.port(), bob.token, std::to_string(conv) + ".0");
  for (int i = 0; i < 5; ++i) send_text(*a, conv, "x" + std::to_string(i), "before");
  auto first = b->events(6);
  ASSERT_EQ(first.size(), 6u);
  b->reconnect();
  for (int i = 0; i < 5; ++i) send_text(*a, conv, "y" + std::to_string(i), "after");
  auto rest = b->events(5);
  ASSERT_EQ(rest.size(), 5u);
  for (std::size_t i = 0; i < rest.size(); ++i)
    EXPECT_EQ(rest[i]["seq"].as_int64(), static_cast<std::int64_t>(7 + i));
  EXPECT_TRUE(b->events(1, 300ms).empty());
}

TEST_P(Transports, ReceiptsAndTypingTravelBothWays) {
  server_process srv({"--set", "presence.receipts_flush_ms=50", "--set", "presence.flush_ms=100"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  a->keep_state_notices();
  auto conv = create_group(*a, "g", {"bob"});
  auto b = open(srv.port(), bob.token, std::to_string(conv) + ".0");
  send_text(*a, conv, "m", "hello");
  ASSERT_EQ(b->events(2).size(), 2u);
  b->call({{"id", 3}, {"op", "ack"}, {"positions", since(conv, 2)}});
  b->call({{"id", 4}, {"op", "read"}, {"conv", conv}, {"seq", 2}});
  bool heard = false;
  for (int i = 0; i < 10 && !heard; ++i) {
    auto f = a->next_push(1s);
    if (!f || !f->contains("notice") || f->at("notice").as_string() != "receipts") continue;
    auto* r = f->at("read").as_object().if_contains(std::to_string(bob.id));
    heard = r && r->as_int64() == 2;
  }
  EXPECT_TRUE(heard) << "ann hears bob's read receipt";
  // ann keeps typing, as a client repeats the start while its user types: a long-polling
  // client hears it during a poll (typing between two polls is not kept for it).
  std::atomic<bool> typing{true};
  std::thread keep_typing([&] {
    ws_client t(srv.port(), ann.token);
    while (typing) {
      t.call({{"op", "typing"}, {"conv", conv}});
      std::this_thread::sleep_for(300ms);
    }
  });
  auto t = b->notice("typing", 8s);
  typing = false;
  keep_typing.join();
  ASSERT_TRUE(t) << "bob hears ann typing";
  EXPECT_EQ(t->at("user").as_int64(), ann.id);
}

TEST_P(Transports, ErrorsAreTypedAndNothingIsWritten) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto b = open(srv.port(), bob.token, std::to_string(conv) + ".0");
  ASSERT_EQ(b->events(1).size(), 1u);
  auto r = b->request(
      {{"id", "e1"}, {"op", "send"}, {"conv", conv}, {"client_msg_id", "k"}, {"text", ""}});
  if (GetParam() == kind::sse || GetParam() == kind::poll) {
    EXPECT_EQ(r["id"].as_string(), "e1");  // (the WebSocket test client numbers its requests)
  }
  EXPECT_EQ(r["error"].as_object()["code"].as_string(), "invalid");
  EXPECT_EQ(r["error"].as_object()["field"].as_string(), "text");
  r = b->request(
      {{"id", "e2"}, {"op", "send"}, {"conv", 4242}, {"client_msg_id", "k"}, {"text", "x"}});
  EXPECT_EQ(r["error"].as_object()["code"].as_string(), "not_found");
  r = b->request({{"id", "e3"}, {"op", "no.such.op"}});
  EXPECT_EQ(r["error"].as_object()["code"].as_string(), "invalid");
  EXPECT_TRUE(b->events(1, 300ms).empty()) << "nothing was written";
}

TEST_P(Transports, LogoutEndsTheStream) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {});
  auto b = open(srv.port(), ann.token, std::to_string(conv) + ".0");
  ASSERT_EQ(b->events(1).size(), 1u);
  ASSERT_EQ(http(srv.port(), "POST", "/v1/logout", "", ann.token).status, 200);
  auto end = b->wait_end(5s);
  EXPECT_EQ(end, GetParam() == kind::poll ? 401 : 4003);
}

INSTANTIATE_TEST_SUITE_P(Each, Transports,
                         ::testing::Values(kind::websocket, kind::websocket_deflate, kind::sse,
                                           kind::poll),
                         [](const ::testing::TestParamInfo<kind>& i) {
                           return i.param == kind::websocket           ? "WebSocket"
                                  : i.param == kind::websocket_deflate ? "WebSocketDeflate"
                                  : i.param == kind::sse               ? "SSE"
                                                                       : "LongPolling";
                         });

}  // namespace
