// The same scenarios over each transport (WebSocket, WebSocket with permessage-deflate,
// Server-Sent Events, long polling):
// chat exactly once and in order, resume after a disconnect without gap or duplicate,
// idempotent retries, and receipts and typing; a group with several devices per user,
// concurrent senders, a kill -9 of the server, bad input, receipts across devices and
// presence. The client under test ("bob") uses the transport; the other users mostly stay on
// a WebSocket.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "chat_helpers.hpp"
#include "http_streams.hpp"
#include "server_process.hpp"

using namespace parley::test;
namespace json = boost::json;

namespace {

enum class kind { websocket, websocket_deflate, sse, poll };

// The reply to bytes sent as they are: the HTTP status (0 on a WebSocket) and the body.
struct raw_reply {
  int status = 0;
  json::object body;
};

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
  // Sends `text` as it is (one WebSocket text message, or the body of POST /v1/rpc) and
  // returns the reply to it. On a WebSocket, pushed frames read meanwhile stay for next().
  virtual raw_reply raw(const std::string& text) = 0;

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
  raw_reply raw(const std::string& text) override {
    c_->send_text(text);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto f = left.count() > 0 ? c_->next_frame(left) : std::nullopt;
      if (!f) throw std::runtime_error("no reply to " + text);
      if (f->contains("id")) return {0, std::move(*f)};
      pending_.push_back(std::move(*f));
    }
  }
  std::optional<json::object> next(std::chrono::milliseconds timeout) override {
    std::optional<json::object> f;
    if (!pending_.empty()) {
      f = std::move(pending_.front());
      pending_.pop_front();
    } else {
      f = c_->next_push(timeout);
    }
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
    if (cursor_.empty()) {  // from now on
      c_->call({{"op", "sync"}});
      return;
    }
    json::object since;
    auto dot = cursor_.find('.');
    since[cursor_.substr(0, dot)] = std::stoll(cursor_.substr(dot + 1));
    c_->call({{"op", "sync"}, {"since", since}});
  }
  std::uint16_t port_;
  std::string token_, cursor_;  // one conversation's position is enough here
  bool deflate_;
  std::unique_ptr<ws_client> c_;
  std::deque<json::object> pending_;  // pushed frames read while waiting for a raw() reply
};

// POST /v1/rpc with `text` as the body, as it is.
raw_reply raw_rpc(std::uint16_t port, const std::string& token, const std::string& text) {
  auto r = http(port, "POST", "/v1/rpc", text, token);
  raw_reply out{r.status, {}};
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object()) out.body = std::move(v.as_object());
  return out;
}

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
  raw_reply raw(const std::string& text) override { return raw_rpc(port_, token_, text); }
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
  raw_reply raw(const std::string& text) override { return raw_rpc(port_, token_, text); }
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

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds until(clock_type::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
}

// The next notice of `kind` on a WebSocket that satisfies `pred` within `timeout`.
std::optional<json::object> await_notice(ws_client& c, const std::string& kind_name,
                                         const std::function<bool(const json::object&)>& pred,
                                         std::chrono::milliseconds timeout = 3s) {
  c.keep_state_notices();
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    auto left = until(deadline);
    if (left.count() <= 0) return std::nullopt;
    auto f = c.next_push(left);
    if (!f) return std::nullopt;
    if (auto* n = f->if_contains("notice");
        n && n->is_string() && n->as_string() == kind_name && pred(*f))
      return *f;
  }
}

// The same on a transport client.
std::optional<json::object> await_notice(transport_client& c, const std::string& kind_name,
                                         const std::function<bool(const json::object&)>& pred,
                                         std::chrono::milliseconds timeout = 3s) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    auto left = until(deadline);
    if (left.count() <= 0) return std::nullopt;
    auto f = c.next(left);
    if (!f) return std::nullopt;
    if (auto* n = f->if_contains("notice");
        n && n->is_string() && n->as_string() == kind_name && pred(*f))
      return *f;
  }
}

// A user's position in a receipts notice's section ("delivered" or "read"), or -1.
std::int64_t position_in(const json::object& o, const char* section, std::int64_t user) {
  auto* s = o.if_contains(section);
  if (!s || !s->is_object()) return -1;
  auto* v = s->as_object().if_contains(std::to_string(user));
  return v && v->is_int64() ? v->as_int64() : -1;
}

// Whether a presence notice or a presence.get entry says that `user` is `state` ("": any
// state), as one change ({"user","state"}) or in a list ({"users":[...]}).
bool presence_says(const json::object& o, std::int64_t user, const std::string& state) {
  auto one = [&](const json::object& x) {
    return x.contains("user") && x.at("user").as_int64() == user &&
           (state.empty() || x.at("state").as_string() == state);
  };
  if (one(o)) return true;
  if (auto* us = o.if_contains("users"); us && us->is_array())
    for (const auto& u : us->as_array())
      if (one(u.as_object())) return true;
  return false;
}

// What presence.get says of `user` ("(absent)" if not a contact), and last_seen if given.
std::string presence_for(ws_client& c, std::int64_t user, std::int64_t* last_seen = nullptr) {
  auto r = c.call({{"op", "presence.get"}});
  for (const auto& p : r["presence"].as_array()) {
    const auto& o = p.as_object();
    if (o.at("user").as_int64() != user) continue;
    if (last_seen) {
      auto* l = o.if_contains("last_seen");
      *last_seen = l ? l->as_int64() : 0;
    }
    return std::string(o.at("state").as_string());
  }
  return "(absent)";
}

std::string error_code(const json::object& reply) {
  auto* e = reply.if_contains("error");
  if (!e || !e->is_object()) return "(no error: " + json::serialize(reply) + ")";
  return std::string(e->as_object().at("code").as_string());
}

// A source of pushed frames: a transport client or a plain WebSocket member.
using next_fn = std::function<std::optional<json::object>(std::chrono::milliseconds)>;
next_fn frames_of(transport_client& c) {
  return [&c](std::chrono::milliseconds t) { return c.next(t); };
}
next_fn frames_of(ws_client& c) {
  return [&c](std::chrono::milliseconds t) { return c.next_push(t); };
}

struct received {
  std::vector<json::object> events;
  std::size_t extra = 0;  // events after the expected ones, within the quiet time
  std::string error;
};

// Every source's next `n` events, read concurrently (one thread per source), then the
// events that still come within `quiet` (there should be none).
std::vector<received> read_all(const std::vector<next_fn>& sources, std::size_t n,
                               std::chrono::milliseconds timeout = 10s,
                               std::chrono::milliseconds quiet = 200ms) {
  std::vector<received> out(sources.size());
  std::vector<std::thread> ts;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    ts.emplace_back([&, i] {
      try {
        auto deadline = clock_type::now() + timeout;
        while (out[i].events.size() < n) {
          auto left = until(deadline);
          if (left.count() <= 0) return;
          auto f = sources[i](left);
          if (!f) return;
          if (f->contains("ev")) out[i].events.push_back(f->at("ev").as_object());
        }
        deadline = clock_type::now() + quiet;
        for (auto left = until(deadline); left.count() > 0; left = until(deadline)) {
          auto f = sources[i](left);
          if (!f) break;
          if (f->contains("ev")) ++out[i].extra;
        }
      } catch (const std::exception& e) {
        out[i].error = e.what();
      }
    });
  }
  for (auto& t : ts) t.join();
  return out;
}

// Reads a transport client's frames on a thread of its own until stopped, as an app does
// (a long-polling client keeps a poll waiting).
class pump {
 public:
  explicit pump(transport_client& c)
      : t_([this, &c] {
          while (!stop_) {
            try {
              auto f = c.next(300ms);
              std::lock_guard l(mu_);
              if (f) frames_.push_back(std::move(*f));
            } catch (const std::exception& e) {
              std::lock_guard l(mu_);
              error_ = e.what();
              return;
            }
          }
        }) {}
  ~pump() { stop(); }
  pump(const pump&) = delete;
  pump& operator=(const pump&) = delete;
  void stop() {
    stop_ = true;
    if (t_.joinable()) t_.join();
  }
  std::vector<json::object> frames() {
    std::lock_guard l(mu_);
    return frames_;
  }
  std::string error() {
    std::lock_guard l(mu_);
    return error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<json::object> frames_;
  std::string error_;
  std::thread t_;  // last: starts once the rest is ready
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

// A group of five where bob has three devices, all on the transport: every device of every
// member gets every event once, without gaps, in the log's order.
TEST_P(Transports, EveryDeviceOfEveryMemberGetsEveryEventOnceInTheSameOrder) {
  server_process srv;
  std::vector<account> others;  // on WebSockets
  for (const char* h : {"ann", "cat", "dan", "eve"})
    others.push_back(register_and_login(srv.port(), h));
  auto bob = register_and_login(srv.port(), "bob");
  std::vector<std::unique_ptr<ws_client>> ws;
  for (const auto& u : others) ws.push_back(connect_live(srv.port(), u.token));
  auto conv = create_group(*ws[0], "five", {"bob", "cat", "dan", "eve"});
  std::vector<std::unique_ptr<transport_client>> bobs;
  for (const auto& token : {bob.token, login(srv.port(), "bob"), login(srv.port(), "bob")})
    bobs.push_back(open(srv.port(), token, std::to_string(conv) + ".0"));
  // Every device sends in turn, five rounds: 35 messages after conversation.created.
  std::map<std::int64_t, std::string> sent;  // seq -> client_msg_id
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < ws.size(); ++i) {
      auto cmid = others[i].handle + "-" + std::to_string(round);
      sent[send_text(*ws[i], conv, cmid, cmid)["seq"].as_int64()] = cmid;
    }
    for (std::size_t i = 0; i < bobs.size(); ++i) {
      auto cmid = "bob" + std::to_string(i) + "-" + std::to_string(round);
      auto ack = bobs[i]->call(
          {{"id", round}, {"op", "send"}, {"conv", conv}, {"client_msg_id", cmid}, {"text", cmid}});
      sent[ack["seq"].as_int64()] = cmid;
    }
  }
  constexpr std::size_t kEvents = 36;
  ASSERT_EQ(sent.size(), kEvents - 1) << "each send acknowledged with its own seq";
  std::vector<next_fn> sources;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < ws.size(); ++i) {
    sources.push_back(frames_of(*ws[i]));
    names.push_back(others[i].handle);
  }
  for (std::size_t i = 0; i < bobs.size(); ++i) {
    sources.push_back(frames_of(*bobs[i]));
    names.push_back("bob's device " + std::to_string(i + 1));
  }
  auto got = read_all(sources, kEvents);
  auto log = full_history(*ws[0], conv);
  ASSERT_EQ(log.size(), kEvents);
  for (std::size_t d = 0; d < got.size(); ++d) {
    SCOPED_TRACE(names[d]);
    EXPECT_EQ(got[d].error, "");
    ASSERT_EQ(got[d].events.size(), kEvents);
    EXPECT_EQ(got[d].extra, 0u) << "nothing twice";
    for (std::size_t i = 0; i < kEvents; ++i) {
      const auto& e = got[d].events[i];
      ASSERT_EQ(e.at("seq").as_int64(), static_cast<std::int64_t>(i + 1)) << "gapless, in order";
      EXPECT_EQ(e.at("id"), log[i].at("id")) << "the same event at the same place";
      if (i > 0) {
        EXPECT_EQ(e.at("client_msg_id").as_string(), sent[static_cast<std::int64_t>(i + 1)]);
      }
    }
  }
}

// Eight senders at once, each with its own client on the transport: one gapless order that
// every member sees alike, and every acknowledged seq in it exactly once.
TEST_P(Transports, ConcurrentSendersGetOneGaplessOrderSeenAlikeByEveryMember) {
  server_process srv;
  constexpr std::size_t kSenders = 8;
  constexpr int kEach = 25;
  auto ann = register_and_login(srv.port(), "ann");
  std::vector<account> users;
  std::vector<std::string> handles;
  for (std::size_t i = 0; i < kSenders; ++i) {
    users.push_back(register_and_login(srv.port(), "sender" + std::to_string(i)));
    handles.push_back(users.back().handle);
  }
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "busy", handles);
  std::vector<std::unique_ptr<transport_client>> cs;
  for (const auto& u : users) cs.push_back(open(srv.port(), u.token, std::to_string(conv) + ".0"));
  std::vector<std::map<std::string, std::int64_t>> acks(kSenders);  // client_msg_id -> seq
  std::vector<std::string> errors(kSenders);
  std::vector<std::thread> ts;
  for (std::size_t i = 0; i < kSenders; ++i)
    ts.emplace_back([&, i] {
      try {
        for (int k = 0; k < kEach; ++k) {
          auto cmid = "s" + std::to_string(i) + "-" + std::to_string(k);
          auto r = cs[i]->call({{"id", k},
                                {"op", "send"},
                                {"conv", conv},
                                {"client_msg_id", cmid},
                                {"text", "from " + std::to_string(i)}});
          acks[i][cmid] = r.at("seq").as_int64();
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  for (auto& t : ts) t.join();
  std::map<std::int64_t, std::pair<std::size_t, std::string>> by_seq;  // seq -> sender, cmid
  for (std::size_t i = 0; i < kSenders; ++i) {
    EXPECT_EQ(errors[i], "") << "sender " << i;
    for (const auto& [cmid, seq] : acks[i])
      EXPECT_TRUE(by_seq.emplace(seq, std::pair{i, cmid}).second)
          << "seq " << seq << " acked twice";
  }
  constexpr std::size_t kEvents = 1 + kSenders * kEach;
  ASSERT_EQ(by_seq.size(), kEvents - 1);
  EXPECT_EQ(by_seq.begin()->first, 2);
  EXPECT_EQ(by_seq.rbegin()->first, static_cast<std::int64_t>(kEvents));
  std::vector<next_fn> sources{frames_of(*a)};
  for (auto& c : cs) sources.push_back(frames_of(*c));
  auto got = read_all(sources, kEvents);
  ASSERT_EQ(got[0].events.size(), kEvents) << got[0].error;
  for (std::size_t m = 0; m < got.size(); ++m) {
    SCOPED_TRACE(m == 0 ? std::string("ann") : handles[m - 1]);
    EXPECT_EQ(got[m].error, "");
    ASSERT_EQ(got[m].events.size(), kEvents);
    EXPECT_EQ(got[m].extra, 0u) << "nothing twice";
    for (std::size_t j = 0; j < kEvents; ++j) {
      const auto& e = got[m].events[j];
      auto seq = static_cast<std::int64_t>(j + 1);
      ASSERT_EQ(e.at("seq").as_int64(), seq) << "gapless, in order";
      EXPECT_EQ(e.at("id"), got[0].events[j].at("id")) << "the same order for everyone";
      if (j == 0) continue;
      const auto& [sender, cmid] = by_seq.at(seq);
      EXPECT_EQ(e.at("client_msg_id").as_string(), cmid) << "the acknowledged message at its seq";
      EXPECT_EQ(e.at("sender").as_int64(), users[sender].id);
    }
  }
}

// A burst of sends acknowledged over the transport, kill -9 while more are in flight,
// restart on the same data: a fresh client resuming from 0 finds every acknowledged message
// exactly once, at its seq, and retries of them are duplicates.
TEST_P(Transports, AcknowledgedSendsSurviveAKill9AndResumeExactlyOnce) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  std::int64_t conv = 0;
  {
    auto a = connect_live(srv.port(), ann.token);
    conv = create_group(*a, "g", {});
  }
  const auto from_start = std::to_string(conv) + ".0";
  constexpr std::size_t kSenders = 4;
  constexpr std::size_t kAcked = 100;  // at least this many acknowledged before the kill
  std::vector<std::unique_ptr<transport_client>> cs;
  for (std::size_t i = 0; i < kSenders; ++i) cs.push_back(open(srv.port(), ann.token, from_start));
  std::mutex mu;
  std::map<std::string, std::int64_t> acked;  // client_msg_id -> seq
  std::atomic<bool> killing{false};
  std::vector<std::string> errors(kSenders);
  std::vector<std::thread> ts;
  for (std::size_t i = 0; i < kSenders; ++i)
    ts.emplace_back([&, i] {
      for (int k = 0; !killing; ++k) {
        auto cmid = "t" + std::to_string(i) + "-" + std::to_string(k);
        try {
          auto r = cs[i]->call(
              {{"id", k}, {"op", "send"}, {"conv", conv}, {"client_msg_id", cmid}, {"text", cmid}});
          std::lock_guard l(mu);
          acked[cmid] = r.at("seq").as_int64();
        } catch (const std::exception& e) {
          if (!killing) errors[i] = e.what();  // after the kill, failures are expected
          return;
        }
      }
    });
  bool enough = eventually(
      [&] {
        std::lock_guard l(mu);
        return acked.size() >= kAcked;
      },
      10s);
  killing = true;
  srv.kill9();  // with sends in flight
  for (auto& t : ts) t.join();
  cs.clear();
  ASSERT_TRUE(enough) << "acknowledged before the kill: " << acked.size();
  for (std::size_t i = 0; i < kSenders; ++i) EXPECT_EQ(errors[i], "") << "sender " << i;

  srv.start();
  auto c = open(srv.port(), ann.token, from_start);
  auto last = c->call({{"id", "g"}, {"op", "conv.get"}, {"conv", conv}})["conversation"]
                  .as_object()
                  .at("last_seq")
                  .as_int64();
  ASSERT_GE(last, static_cast<std::int64_t>(acked.size() + 1));
  auto evs = c->events(static_cast<std::size_t>(last));
  ASSERT_EQ(evs.size(), static_cast<std::size_t>(last));
  std::set<std::string> seen;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    ASSERT_EQ(evs[i].at("seq").as_int64(), static_cast<std::int64_t>(i + 1)) << "gapless";
    if (i == 0) continue;
    std::string cmid(evs[i].at("client_msg_id").as_string());
    EXPECT_TRUE(seen.insert(cmid).second) << "stored twice: " << cmid;
  }
  for (const auto& [cmid, seq] : acked) {
    ASSERT_TRUE(seen.count(cmid)) << "acknowledged message lost: " << cmid;
    EXPECT_EQ(evs[static_cast<std::size_t>(seq - 1)].at("client_msg_id").as_string(), cmid);
  }
  EXPECT_TRUE(c->events(1, 200ms).empty()) << "nothing twice";
  // Retrying an acknowledged message after the restart stores nothing.
  int n = 0;
  for (const auto& [cmid, seq] : acked) {
    if (n++ % 10) continue;
    auto r = c->call(
        {{"id", n}, {"op", "send"}, {"conv", conv}, {"client_msg_id", cmid}, {"text", cmid}});
    EXPECT_TRUE(r.at("duplicate").as_bool()) << cmid;
    EXPECT_EQ(r.at("seq").as_int64(), seq) << cmid;
  }
  EXPECT_TRUE(c->events(1, 200ms).empty()) << "retries store nothing";
}

// Bad input gets a typed error, a wrong token is refused, a non-member's send is not_found,
// and the transport (and the server) keep working afterwards.
TEST_P(Transports, BadInputGetsTypedErrorsAndTheTransportStaysHealthy) {
  server_process srv;
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  auto conv = create_group(*a, "g", {"bob"});
  auto solo = create_group(*a, "ann only", {});
  const auto cursor = std::to_string(conv) + ".0";
  auto b = open(srv.port(), bob.token, cursor);
  ASSERT_EQ(b->events(1).size(), 1u);
  const bool over_http = GetParam() == kind::sse || GetParam() == kind::poll;

  // Not a request at all: a WebSocket answers with id null, POST /v1/rpc with 400.
  for (std::string bad : {"{not json", "[1,2,3]", "\"str\"", "42", "{\"id\":1,"}) {
    auto r = b->raw(bad);
    EXPECT_EQ(error_code(r.body), "invalid") << bad;
    if (over_http) {
      EXPECT_EQ(r.status, 400) << bad;
    } else {
      EXPECT_TRUE(r.body.contains("id") && r.body.at("id").is_null()) << bad;
    }
  }
  // A request without an op: invalid, naming the field.
  auto r = b->raw(R"({"id":"e1"})");
  EXPECT_EQ(error_code(r.body), "invalid");
  EXPECT_EQ(r.body.at("error").as_object().at("field").as_string(), "op");
  if (over_http) {
    EXPECT_EQ(r.status, 400);
  }
  // An unknown op: invalid, in a reply to the request (its id echoed).
  r = b->raw(R"({"id":"e2","op":"launch.rockets"})");
  EXPECT_EQ(error_code(r.body), "invalid");
  EXPECT_EQ(r.body.at("error").as_object().at("field").as_string(), "op");
  EXPECT_EQ(r.body.at("id"), json::value("e2"));
  if (over_http) {
    EXPECT_EQ(r.status, 200);
  }

  // A conversation bob is not in, and one that does not exist: not_found alike.
  for (auto id : {solo, solo + 1000}) {
    auto nf = b->request({{"id", "nf"},
                          {"op", "send"},
                          {"conv", id},
                          {"client_msg_id", "x" + std::to_string(id)},
                          {"text", "let me in"}});
    EXPECT_EQ(error_code(nf), "not_found") << id;
  }

  // A wrong token is refused before anything else.
  const std::string wrong = "pt_" + std::string(43, 'A');
  switch (GetParam()) {
    case kind::websocket:
    case kind::websocket_deflate:
      EXPECT_THROW(ws_client(srv.port(), wrong, GetParam() == kind::websocket_deflate),
                   std::exception)
          << "the handshake is refused";
      {
        auto h = http_raw(srv.port(), "GET", "/v1/ws", "", wrong,
                          {{"Upgrade", "websocket"},
                           {"Connection", "Upgrade"},
                           {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                           {"Sec-WebSocket-Version", "13"}});
        EXPECT_EQ(h.status, 401) << "no upgrade";
        EXPECT_EQ(error_code(h.json().as_object()), "unauthenticated");
      }
      break;
    case kind::sse: {
      sse_client s(srv.port(), wrong, {}, cursor);
      auto h = s.head();
      EXPECT_EQ(h.rfind("HTTP/1.1 401", 0), 0u) << h;
      break;
    }
    case kind::poll: {
      auto p = http(srv.port(), "GET", "/v1/poll?timeout_ms=0&cursor=" + cursor, "", wrong);
      EXPECT_EQ(p.status, 401);
      EXPECT_EQ(error_code(p.json().as_object()), "unauthenticated");
      break;
    }
  }
  if (over_http) {
    auto u = raw_rpc(srv.port(), wrong, R"({"id":1,"op":"ping"})");
    EXPECT_EQ(u.status, 401);
    EXPECT_EQ(error_code(u.body), "unauthenticated");
  }

  // Still healthy: a request works, and the next message is seq 2 (nothing was written).
  EXPECT_TRUE(b->call({{"id", "p"}, {"op", "ping"}}).contains("ts"));
  auto ack = b->call(
      {{"id", "ok"}, {"op", "send"}, {"conv", conv}, {"client_msg_id", "fine"}, {"text", "ok"}});
  EXPECT_EQ(ack.at("seq").as_int64(), 2);
  auto evs = b->events(1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].at("seq").as_int64(), 2);
  EXPECT_EQ(evs[0].at("client_msg_id").as_string(), "fine");
  auto for_ann = a->events(3);  // both conversation.created, then bob's message
  EXPECT_EQ(for_ann[2].at("conv").as_int64(), conv);
  EXPECT_EQ(for_ann[2].at("seq").as_int64(), 2);
  EXPECT_EQ(a->call({{"op", "conv.get"}, {"conv", solo}})["conversation"]
                .as_object()
                .at("last_seq")
                .as_int64(),
            1)
      << "the refused send wrote nothing";
  EXPECT_TRUE(b->events(1, 200ms).empty());
}

// Receipts with two devices per user: bob acks and reads on the transport, ann's devices
// hear it, bob's other device gets his read position, receipts beyond what bob can see
// are refused, and positions never move back.
TEST_P(Transports, ReceiptsReachTheOtherDevicesAndNeverGoBack) {
  server_process srv({"--set", "presence.receipts_flush_ms=50", "--set", "presence.flush_ms=100"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a1 = connect_live(srv.port(), ann.token);
  auto a2 = connect_live(srv.port(), login(srv.port(), "ann"));
  a1->keep_state_notices();
  a2->keep_state_notices();
  auto conv = create_group(*a1, "g", {"bob"});
  auto solo = create_group(*a1, "ann only", {});
  constexpr std::int64_t kLast = 11;
  for (int i = 2; i <= kLast; ++i) send_text(*a1, conv, "m" + std::to_string(i), "hello");
  const auto key = std::to_string(conv);
  auto b1 = open(srv.port(), bob.token, key + ".0");
  auto b2 = open(srv.port(), login(srv.port(), "bob"), key + ".0");
  ASSERT_EQ(b1->events(kLast).size(), static_cast<std::size_t>(kLast));
  ASSERT_EQ(b2->events(kLast).size(), static_cast<std::size_t>(kLast));
  auto bobs_receipt = [&](ws_client& c, const char* field) -> std::int64_t {
    auto rs = c.call({{"op", "receipts"}, {"conv", conv}});
    for (const auto& x : rs["receipts"].as_array())
      if (x.as_object().at("user").as_int64() == bob.id) {
        auto* v = x.as_object().if_contains(field);
        return v ? v->as_int64() : 0;
      }
    return -1;
  };

  // Refused: a conversation bob was never in (the whole ack), a seq past the end.
  auto r = b1->request(
      {{"id", 1}, {"op", "ack"}, {"positions", json::object{{key, 3}, {std::to_string(solo), 1}}}});
  EXPECT_EQ(error_code(r), "not_found");
  r = b1->request({{"id", 2}, {"op", "ack"}, {"positions", since(conv, kLast + 1)}});
  EXPECT_EQ(error_code(r), "invalid");
  r = b1->request({{"id", 3}, {"op", "read"}, {"conv", conv}, {"seq", kLast + 5}});
  EXPECT_EQ(error_code(r), "invalid");
  r = b1->request({{"id", 4}, {"op", "read"}, {"conv", solo}, {"seq", 1}});
  EXPECT_EQ(error_code(r), "not_found");
  r = b1->request({{"id", 5}, {"op", "receipts"}, {"conv", solo}});
  EXPECT_EQ(error_code(r), "not_found");
  EXPECT_LT(bobs_receipt(*a1, "delivered"), 3) << "a refused ack records nothing";

  // Delivered: ann's devices hear it.
  auto acked = b1->call({{"id", 6}, {"op", "ack"}, {"positions", since(conv, 3)}});
  EXPECT_EQ(acked["positions"].as_object()[key].as_int64(), 3);
  for (auto* a : {a1.get(), a2.get()})
    EXPECT_TRUE(await_notice(*a, "receipts", [&](const json::object& o) {
      return position_in(o, "delivered", bob.id) == 3;
    })) << "ann's devices hear that bob has seq 3";

  // Read on device 1; device 2 gets the read position. A long-polling device hears a notice
  // only while a poll waits (docs: notices between polls are not kept), so device 1 keeps
  // reading further, as a user scrolling does, until device 2 has heard one; on the other
  // transports the first one must arrive.
  const bool polling = GetParam() == kind::poll;
  std::atomic<bool> heard{false};
  std::atomic<std::int64_t> last_read{0};
  std::string reader_error;
  std::thread reader([&] {
    try {
      for (std::int64_t seq = 4; seq <= kLast && !heard; ++seq) {
        auto rr = b1->call({{"id", seq}, {"op", "read"}, {"conv", conv}, {"seq", seq}});
        if (!rr.at("changed").as_bool() || rr.at("seq").as_int64() != seq)
          throw std::runtime_error("read did not move: " + json::serialize(rr));
        last_read = seq;
        if (!polling) return;
        for (int i = 0; i < 25 && !heard; ++i) std::this_thread::sleep_for(10ms);
      }
    } catch (const std::exception& e) {
      reader_error = e.what();
    }
  });
  auto note = await_notice(
      *b2, "read", [&](const json::object& o) { return o.at("conv").as_int64() == conv; }, 5s);
  heard = true;
  reader.join();
  EXPECT_EQ(reader_error, "");
  const std::int64_t final_read = last_read;
  ASSERT_TRUE(note) << "bob's other device gets his read position";
  auto s = note->at("seq").as_int64();
  if (polling) {
    EXPECT_GE(s, 4);
    EXPECT_LE(s, final_read);
  } else {
    EXPECT_EQ(s, 4);
  }
  EXPECT_EQ(note->at("thread").as_int64(), 0);
  EXPECT_EQ(note->at("unread").as_int64(), kLast - s) << "ann's messages after it";
  EXPECT_EQ(note->at("mentions").as_int64(), 0);
  for (auto* a : {a1.get(), a2.get()})
    EXPECT_TRUE(await_notice(
        *a, "receipts",
        [&](const json::object& o) { return position_in(o, "read", bob.id) == final_read; }))
        << "ann's devices hear that bob read up to " << final_read;

  // Never back: an older read and a lower ack change nothing.
  auto back = b1->call({{"id", 20}, {"op", "read"}, {"conv", conv}, {"seq", 3}});
  EXPECT_FALSE(back.at("changed").as_bool());
  EXPECT_EQ(back.at("seq").as_int64(), final_read);
  auto low = b1->call({{"id", 21}, {"op", "ack"}, {"positions", since(conv, 2)}});
  EXPECT_EQ(low["positions"].as_object()[key].as_int64(), final_read) << "read moved delivered";
  EXPECT_EQ(bobs_receipt(*a1, "read"), final_read);
  EXPECT_EQ(bobs_receipt(*a1, "delivered"), final_read);
  bool listed = false;
  auto convs = b2->call({{"id", 22}, {"op", "conv.list"}});
  for (const auto& c : convs["conversations"].as_array())
    if (c.as_object().at("id").as_int64() == conv) {
      listed = true;
      EXPECT_EQ(c.as_object().at("read_seq").as_int64(), final_read);
    }
  EXPECT_TRUE(listed);
  EXPECT_FALSE(await_notice(
      *a1, "receipts",
      [&](const json::object& o) {
        auto rd = position_in(o, "read", bob.id);
        return rd >= 0 && rd < final_read;
      },
      200ms))
      << "no receipt moves back";
  EXPECT_FALSE(await_notice(
      *b2, "read", [&](const json::object& o) { return o.at("seq").as_int64() <= 3; }, 200ms))
      << "no read position moves back";
}

// Presence over the transport: ann sees bob online while he is connected (for long
// polling: while a poll waits, as a polling app keeps one waiting); bob gets his contacts'
// presence; a stranger learns nothing about bob.
TEST_P(Transports, PresenceIsSeenByContactsOnly) {
  server_process srv({"--set", "presence.flush_ms=100", "--set", "presence.receipts_flush_ms=50"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto eve = register_and_login(srv.port(), "eve");
  auto a = connect_live(srv.port(), ann.token);
  a->keep_state_notices();
  auto conv = create_group(*a, "g", {"bob"});
  auto e = open(srv.port(), eve.token, "");  // shares no conversation with bob
  auto b = open(srv.port(), bob.token, std::to_string(conv) + ".0");

  // Asked over the transport: bob's contact is ann, online; eve has no contacts.
  auto mine = b->call({{"id", 1}, {"op", "presence.get"}});
  ASSERT_EQ(mine["presence"].as_array().size(), 1u);
  EXPECT_TRUE(presence_says(mine["presence"].as_array()[0].as_object(), ann.id, "online"));
  auto eves = e->call({{"id", 1}, {"op", "presence.get"}});
  EXPECT_TRUE(eves["presence"].as_array().empty());
  {
    pump bob_app(*b), eve_app(*e);
    EXPECT_TRUE(await_notice(*a, "presence", [&](const json::object& o) {
      return presence_says(o, bob.id, "online");
    })) << "ann hears bob come online";
    EXPECT_TRUE(eventually([&] { return presence_for(*a, bob.id) == "online"; }))
        << "presence.get: " << presence_for(*a, bob.id);
    // Once live, bob's stream says which of his contacts are there (after sync; for long
    // polling, on the first poll, with state=1).
    EXPECT_TRUE(eventually([&] {
      for (const auto& f : bob_app.frames())
        if (auto* n = f.if_contains("notice");
            n && n->as_string() == "presence" && presence_says(f, ann.id, "online"))
          return true;
      return false;
    })) << "bob's stream has ann's presence";
    bob_app.stop();
    eve_app.stop();
    EXPECT_EQ(bob_app.error(), "");
    EXPECT_EQ(eve_app.error(), "");
    for (const auto& f : eve_app.frames()) {
      auto* n = f.if_contains("notice");
      EXPECT_FALSE(n && n->as_string() == "presence" && presence_says(f, bob.id, ""))
          << "eve learns nothing about bob: " << json::serialize(f);
    }
  }
  eves = e->call({{"id", 2}, {"op", "presence.get"}});
  EXPECT_TRUE(eves["presence"].as_array().empty());
}

// When bob's transport goes (the connection closes; a polling client stops polling), his
// contacts hear that he is offline, with when he was last seen, at the next presence flush
// (docs: "A killed client counts until the server drops its connection: at once if the
// connection closes"). The HTTP streams watch the client's side of the connection for
// this (before, an SSE session lived on until a keep-alive write failed, about 30 s).
TEST_P(Transports, PresenceGoesOfflineWhenTheConnectionCloses) {
  server_process srv({"--set", "presence.flush_ms=100"});
  auto ann = register_and_login(srv.port(), "ann");
  auto bob = register_and_login(srv.port(), "bob");
  auto a = connect_live(srv.port(), ann.token);
  a->keep_state_notices();
  auto conv = create_group(*a, "g", {"bob"});
  auto b = open(srv.port(), bob.token, std::to_string(conv) + ".0");
  {
    pump bob_app(*b);
    ASSERT_TRUE(await_notice(*a, "presence", [&](const json::object& o) {
      return presence_says(o, bob.id, "online");
    })) << "ann hears bob come online";
    bob_app.stop();
  }
  b.reset();
  auto off = await_notice(
      *a, "presence", [&](const json::object& o) { return presence_says(o, bob.id, "offline"); },
      2s);
  ASSERT_TRUE(off) << "ann hears bob go offline";
  EXPECT_GT(off->at("last_seen").as_int64(), 0);
  // presence.get agrees; last_seen is there once recorded ("when known").
  std::int64_t last_seen = 0;
  EXPECT_TRUE(eventually([&] {
    return presence_for(*a, bob.id, &last_seen) == "offline" && last_seen > 0;
  })) << "presence.get: "
      << presence_for(*a, bob.id);
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
