// The NATS bus beyond the conformance suite: interest (a node receives only the
// conversations it wants, and a user's joins on the user's subject), control messages,
// losses reported after the server restarts, and the wire format (bus_codec). Each test
// starts its own nats-server; they skip when none is installed.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "bus/bus_codec.hpp"
#include "bus/nats_bus.hpp"
#include "core/codec.hpp"
#include "nats_test_server.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;

committed_event_ptr make_event(conv_id c, seq_t s, std::string type = "message.created",
                               std::string data = "{\"text\":\"hi\"}",
                               std::vector<user_id> recipients = {1, 2}) {
  auto ce = std::make_shared<committed_event>();
  ce->ev.conv = c;
  ce->ev.seq = s;
  ce->ev.id = "0123456789abcdef0123456789abcdef";
  ce->ev.ts_ms = 1'700'000'000'000;
  ce->ev.type = std::move(type);
  ce->ev.sender = 3;
  ce->ev.data = std::move(data);
  ce->frame = std::make_shared<const std::string>(encode_event_frame(ce->ev));
  ce->recipients = std::move(recipients);
  return ce;
}

// What one node's subscribers received: (conv, seq) in arrival order.
class received {
 public:
  explicit received(bus& b) {
    b.subscribe([this](const std::vector<committed_event_ptr>& evs) {
      std::lock_guard lk(mu_);
      for (const auto& e : evs) got_.emplace_back(e->ev.conv, e->ev.seq);
      cv_.notify_all();
    });
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, test::kWaitLimit, [&] { return got_.size() >= n; });
  }
  std::vector<std::pair<conv_id, seq_t>> settle() {
    std::this_thread::sleep_for(100ms);
    std::lock_guard lk(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<conv_id, seq_t>> got_;
};

class NatsBus : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::nats_test_server::available()) GTEST_SKIP() << test::nats_test_server::kMissing;
    server_ = std::make_unique<test::nats_test_server>();
  }
  std::unique_ptr<nats_bus> node(const std::string& name) {
    auto b = std::make_unique<nats_bus>(nats_options{server_->url(), name, 50ms});
    EXPECT_TRUE(b->flush(10s));
    return b;
  }
  std::unique_ptr<test::nats_test_server> server_;
};

TEST_F(NatsBus, ANodeReceivesOnlyTheConversationsItWants) {
  auto a = node("a");
  auto b = node("b");
  received got(*b);
  std::atomic<int> ready{0};
  EXPECT_FALSE(b->want({1}, [&] { ++ready; }));  // not yet subscribed: ready follows
  ASSERT_TRUE(b->flush(10s));
  EXPECT_EQ(ready.load(), 1);
  EXPECT_TRUE(b->want({1}, [&] { ++ready; }));  // already received: no callback
  a->publish({make_event(1, 1), make_event(2, 1), make_event(1, 2)});
  ASSERT_TRUE(got.wait_for(2));
  EXPECT_EQ(got.settle(), (std::vector<std::pair<conv_id, seq_t>>{{1, 1}, {1, 2}}));
  // Two wants, two unwants: only then does the node stop receiving conversation 1.
  b->unwant({1});
  ASSERT_TRUE(b->flush(10s));
  a->publish({make_event(1, 3)});
  ASSERT_TRUE(got.wait_for(3));
  b->unwant({1});
  ASSERT_TRUE(b->flush(10s));
  a->publish({make_event(1, 4)});
  EXPECT_EQ(got.settle().size(), 3u);
  EXPECT_EQ(ready.load(), 1);
}

TEST_F(NatsBus, ThePublishersOwnSubscribersGetEventsOnceAndSynchronously) {
  auto a = node("a");
  received got(*a);
  a->want({1}, [] {});
  ASSERT_TRUE(a->flush(10s));
  a->publish({make_event(1, 1)});
  // Delivered before publish returned, and not echoed back by the server.
  EXPECT_EQ(got.settle(), (std::vector<std::pair<conv_id, seq_t>>{{1, 1}}));
}

TEST_F(NatsBus, JoinedUsersGetTheEventOnTheirOwnSubject) {
  auto a = node("a");
  auto b = node("b");
  received got(*b);
  b->want_user(7);
  b->want_user(9);
  ASSERT_TRUE(b->flush(10s));
  // b wants neither conversation 5 nor 6, but its users are joining them.
  a->publish({make_event(5, 1, "conversation.created", "{\"kind\":\"direct\"}", {7, 8})});
  a->publish({make_event(6, 4, "member.joined",
                         "{\"user\":{\"id\":9,\"handle\":\"ivy\"},\"role\":\"member\",\"by\":3}",
                         {3, 9})});
  a->publish({make_event(6, 5)});  // not a join: conversation 6 is not wanted
  ASSERT_TRUE(got.wait_for(2));
  EXPECT_EQ(got.settle(), (std::vector<std::pair<conv_id, seq_t>>{{5, 1}, {6, 4}}));
}

TEST_F(NatsBus, ControlMessagesReachTheOtherNodesOnly) {
  auto a = node("a");
  auto b = node("b");
  std::mutex mu;
  std::vector<std::string> at_a, at_b;
  a->subscribe_control("logout", [&](std::string_view p) {
    std::lock_guard lk(mu);
    at_a.emplace_back(p);
  });
  b->subscribe_control("logout", [&](std::string_view p) {
    std::lock_guard lk(mu);
    at_b.emplace_back(p);
  });
  ASSERT_TRUE(a->flush(10s));
  ASSERT_TRUE(b->flush(10s));
  a->publish_control("logout", "42");
  auto deadline = std::chrono::steady_clock::now() + test::kWaitLimit;
  for (;;) {
    {
      std::lock_guard lk(mu);
      if (!at_b.empty() || std::chrono::steady_clock::now() > deadline) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(100ms);
  std::lock_guard lk(mu);
  EXPECT_EQ(at_b, (std::vector<std::string>{"42"}));
  EXPECT_TRUE(at_a.empty());
}

TEST_F(NatsBus, AServerRestartIsReportedAsLostAndSubscriptionsComeBack) {
  auto a = node("a");
  auto b = node("b");
  received got(*b);
  std::atomic<int> lost{0};
  b->on_lost([&] { ++lost; });
  b->want({1}, [] {});
  ASSERT_TRUE(b->flush(10s));
  std::this_thread::sleep_for(600ms);  // past the debounce of the first connect's report
  int before = lost.load();
  auto port = server_->port();
  server_.reset();  // killed
  server_ = std::make_unique<test::nats_test_server>(port);
  auto deadline = std::chrono::steady_clock::now() + test::kWaitLimit;
  while (lost.load() == before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_GT(lost.load(), before);
  ASSERT_TRUE(a->connected() || a->flush(10s));
  // The subscription was made again on reconnect: conversation 1 still arrives.
  for (int i = 0; i < 200 && !b->connected(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(b->flush(10s));
  ASSERT_TRUE(a->flush(10s));
  a->publish({make_event(1, 1)});
  ASSERT_TRUE(got.wait_for(1));
}

TEST(BusCodec, EventsRoundTripAndTheFrameIsRebuilt) {
  auto e1 = make_event(12, 34, "message.created", "{\"text\":\"\\u00e9 \\\"q\\\"\"}", {5, 6, 7});
  auto e2 = make_event(12, 35, "reaction.added", "{\"msg\":34,\"emoji\":\"x\"}", {});
  auto bytes = bus_codec::encode_events({e1, e2});
  auto back = bus_codec::decode_events(bytes);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& want = i == 0 ? *e1 : *e2;
    const auto& got = *(*back)[i];
    EXPECT_EQ(got.ev.conv, want.ev.conv);
    EXPECT_EQ(got.ev.seq, want.ev.seq);
    EXPECT_EQ(got.ev.id, want.ev.id);
    EXPECT_EQ(got.ev.type, want.ev.type);
    EXPECT_EQ(got.ev.data, want.ev.data);
    EXPECT_EQ(got.recipients, want.recipients);
    EXPECT_EQ(*got.frame, *want.frame);
  }
}

TEST(BusCodec, MalformedMessagesAreRejected) {
  auto bytes = bus_codec::encode_events({make_event(1, 1)});
  EXPECT_FALSE(bus_codec::decode_events(""));
  EXPECT_FALSE(bus_codec::decode_events("N"));
  for (std::size_t cut = 1; cut < bytes.size(); ++cut)
    EXPECT_FALSE(bus_codec::decode_events(bytes.substr(0, cut))) << "cut at " << cut;
  EXPECT_FALSE(bus_codec::decode_events(bytes + "x"));  // trailing bytes
  // A count larger than the message could hold does not allocate, it fails.
  std::string huge = "E\xff\xff\xff\x7f";
  EXPECT_FALSE(bus_codec::decode_events(huge));
  auto n = bus_codec::encode_notice({1, 2}, "{\"notice\":\"x\"}");
  auto back = bus_codec::decode_notice(n);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->users, (std::vector<user_id>{1, 2}));
  EXPECT_EQ(*back->frame, "{\"notice\":\"x\"}");
  for (std::size_t cut = 1; cut < n.size(); ++cut)
    EXPECT_FALSE(bus_codec::decode_notice(n.substr(0, cut))) << "cut at " << cut;
}

}  // namespace
}  // namespace parley
