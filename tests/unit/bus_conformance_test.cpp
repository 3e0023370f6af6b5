// Conformance suite for parley::bus implementations (the contract is in bus/bus.hpp).
// Written against the abstract interface only; every implementation (the in-process bus
// and NATS) is added to the INSTANTIATE_TEST_SUITE_P list at the bottom. Delivery may be
// asynchronous, so the suite waits (with a limit) for what it expects.
//
// The NATS instantiation is two nodes on one throwaway nats-server: what the suite
// publishes goes out on one node's bus and what it subscribes listens on the other's (which
// wants every conversation the suite uses), so everything crosses the server. It skips
// when no nats-server is installed.
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "bus/bus.hpp"
#include "bus/local_bus.hpp"
#include "bus/nats_bus.hpp"
#include "core/codec.hpp"
#include "nats_test_server.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

struct bus_backend {
  std::string name;
  std::function<std::unique_ptr<bus>()> make;
};

void PrintTo(const bus_backend& b, std::ostream* os) {
  *os << b.name;
}

bus_backend local_backend() {
  return {"Local", [] { return std::unique_ptr<bus>(std::make_unique<local_bus>()); }};
}

// Two nodes of a cluster seen as one bus: publishing on `a`, subscribing on `b`.
class nats_pair final : public bus {
 public:
  nats_pair()
      : a_({server_.url(), "node-a", std::chrono::milliseconds(50)}),
        b_({server_.url(), "node-b", std::chrono::milliseconds(50)}) {
    std::vector<conv_id> convs;
    for (conv_id c = 1; c <= 200; ++c) convs.push_back(c);
    b_.want(convs, [] {});
    if (!b_.flush(std::chrono::seconds(10)) || !a_.flush(std::chrono::seconds(10)))
      throw std::runtime_error("nats: subscriptions not confirmed");
  }
  void publish(std::vector<committed_event_ptr> events) override { a_.publish(std::move(events)); }
  void subscribe(handler h) override { b_.subscribe(std::move(h)); }
  void publish_notice(conv_id conv, std::vector<user_id> users,
                      std::shared_ptr<const std::string> frame) override {
    a_.publish_notice(conv, std::move(users), std::move(frame));
  }
  void subscribe_notices(notice_handler h) override { b_.subscribe_notices(std::move(h)); }
  void publish_control(std::string_view topic, std::string payload) override {
    a_.publish_control(topic, std::move(payload));
  }
  void subscribe_control(std::string topic, control_handler h) override {
    b_.subscribe_control(std::move(topic), std::move(h));
  }

 private:
  test::nats_test_server server_;
  nats_bus a_, b_;
};

bus_backend nats_backend() {
  return {"NATS", []() -> std::unique_ptr<bus> {
            if (!test::nats_test_server::available()) return nullptr;
            return std::make_unique<nats_pair>();
          }};
}

committed_event_ptr make_committed(conv_id c, seq_t s, std::vector<user_id> recipients = {1, 2}) {
  auto ce = std::make_shared<committed_event>();
  ce->ev.conv = c;
  ce->ev.seq = s;
  ce->ev.id = "id-" + std::to_string(c) + "-" + std::to_string(s);
  ce->ev.ts_ms = 1'700'000'000'000 + s;
  ce->ev.type = "message.created";
  ce->ev.sender = 7;
  ce->ev.client_msg_id = "m" + std::to_string(s);
  ce->ev.data = "{\"text\":\"n" + std::to_string(s) + " \\\"quoted\\\" \xC3\xA9\"}";
  ce->frame = std::make_shared<const std::string>(encode_event_frame(ce->ev));
  ce->recipients = std::move(recipients);
  return ce;
}

// Records what one subscriber receives.
class collector {
 public:
  bus::handler handler() {
    return [this](const std::vector<committed_event_ptr>& evs) {
      std::lock_guard lk(mu_);
      for (const auto& e : evs) got_.push_back(e);
      cv_.notify_all();
    };
  }
  // Waits until at least n events arrived; returns them.
  std::vector<committed_event_ptr> wait_for(std::size_t n) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, test::kWaitLimit, [&] { return got_.size() >= n; });
    return got_;
  }
  // A short pause to catch events that should not arrive (duplicates).
  std::vector<committed_event_ptr> settle() {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::lock_guard lk(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<committed_event_ptr> got_;
};

// Per conversation, the seqs in the order received.
std::map<conv_id, std::vector<seq_t>> by_conv(const std::vector<committed_event_ptr>& evs) {
  std::map<conv_id, std::vector<seq_t>> out;
  for (const auto& e : evs) out[e->ev.conv].push_back(e->ev.seq);
  return out;
}

std::vector<seq_t> range(seq_t from, seq_t to) {
  std::vector<seq_t> out;
  for (seq_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

class BusConformance : public ::testing::TestWithParam<bus_backend> {
 protected:
  void SetUp() override {
    b_ = GetParam().make();
    if (!b_) GTEST_SKIP() << test::nats_test_server::kMissing;
  }
  bus& b() { return *b_; }
  std::unique_ptr<bus> b_;
};

TEST_P(BusConformance, SubscriberReceivesPublishedEventsIntact) {
  collector col;
  b().subscribe(col.handler());
  std::vector<committed_event_ptr> batch1{make_committed(1, 1, {3, 4, 9}), make_committed(2, 1),
                                          make_committed(1, 2)};
  std::vector<committed_event_ptr> batch2{make_committed(1, 3, {4})};
  b().publish(batch1);
  b().publish(batch2);
  auto got = col.wait_for(4);
  ASSERT_EQ(got.size(), 4u);

  std::map<std::pair<conv_id, seq_t>, committed_event_ptr> sent;
  for (const auto& e : batch1) sent[{e->ev.conv, e->ev.seq}] = e;
  for (const auto& e : batch2) sent[{e->ev.conv, e->ev.seq}] = e;
  for (const auto& g : got) {
    auto it = sent.find({g->ev.conv, g->ev.seq});
    ASSERT_NE(it, sent.end());
    const auto& want = *it->second;
    EXPECT_EQ(g->ev.id, want.ev.id);
    EXPECT_EQ(g->ev.ts_ms, want.ev.ts_ms);
    EXPECT_EQ(g->ev.type, want.ev.type);
    EXPECT_EQ(g->ev.sender, want.ev.sender);
    EXPECT_EQ(g->ev.client_msg_id, want.ev.client_msg_id);
    EXPECT_EQ(g->ev.data, want.ev.data);
    ASSERT_TRUE(g->frame);
    EXPECT_EQ(*g->frame, *want.frame);
    EXPECT_EQ(g->recipients, want.recipients);
  }
  EXPECT_EQ(by_conv(got)[1], range(1, 3));
  EXPECT_EQ(by_conv(got)[2], range(1, 1));
  EXPECT_EQ(col.settle().size(), 4u);  // nothing twice
}

TEST_P(BusConformance, PerConversationPublishOrderIsPreserved) {
  collector col;
  b().subscribe(col.handler());
  constexpr int convs = 5, per_conv = 200;
  std::mt19937 rng(12345);
  std::vector<seq_t> next(convs + 1, 1);
  int published = 0;
  while (published < convs * per_conv) {
    std::vector<committed_event_ptr> batch;
    int size = std::uniform_int_distribution<int>(1, 10)(rng);
    for (int k = 0; k < size && published < convs * per_conv; ++k) {
      conv_id c;
      do {
        c = std::uniform_int_distribution<conv_id>(1, convs)(rng);
      } while (next[c] > per_conv);
      batch.push_back(make_committed(c, next[c]++));
      ++published;
    }
    b().publish(std::move(batch));
  }
  auto got = col.wait_for(convs * per_conv);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(convs * per_conv));
  auto per = by_conv(got);
  for (conv_id c = 1; c <= convs; ++c)
    EXPECT_EQ(per[c], range(1, per_conv)) << "conversation " << c;
}

TEST_P(BusConformance, EverySubscriberGetsEveryEvent) {
  collector a, b2, c;
  b().subscribe(a.handler());
  b().subscribe(b2.handler());
  b().subscribe(c.handler());
  for (seq_t s = 1; s <= 100; s += 2) b().publish({make_committed(9, s), make_committed(9, s + 1)});
  for (auto* col : {&a, &b2, &c}) {
    auto got = col->wait_for(100);
    ASSERT_EQ(got.size(), 100u);
    EXPECT_EQ(by_conv(got)[9], range(1, 100));
  }
  EXPECT_EQ(a.settle().size(), 100u);
}

TEST_P(BusConformance, EventsPublishedFromSeveralThreadsAreAllDelivered) {
  collector col;
  b().subscribe(col.handler());
  constexpr int threads = 4, per_thread = 250, batch = 5;
  std::vector<std::thread> ts;
  for (int th = 0; th < threads; ++th) {
    ts.emplace_back([&, th] {
      conv_id c = 100 + th;  // each conversation is published from one thread, in order
      for (seq_t s = 1; s <= per_thread; s += batch) {
        std::vector<committed_event_ptr> evs;
        for (int k = 0; k < batch; ++k) evs.push_back(make_committed(c, s + k));
        b().publish(std::move(evs));
      }
    });
  }
  for (auto& t : ts) t.join();
  auto got = col.wait_for(threads * per_thread);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(threads * per_thread));
  std::set<std::pair<conv_id, seq_t>> unique;
  for (const auto& e : got) unique.insert({e->ev.conv, e->ev.seq});
  EXPECT_EQ(unique.size(), got.size());
  auto per = by_conv(got);
  for (int th = 0; th < threads; ++th) EXPECT_EQ(per[100 + th], range(1, per_thread));
  EXPECT_EQ(col.settle().size(), got.size());
}

TEST_P(BusConformance, NoticesReachNoticeSubscribersIntact) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::vector<user_id>, std::string>> got;
  b().subscribe_notices(
      [&](const std::vector<user_id>& users, const std::shared_ptr<const std::string>& frame) {
        std::lock_guard lk(mu);
        got.emplace_back(users, *frame);
        cv.notify_all();
      });
  const std::string f1 = "{\"notice\":\"typing\",\"conv\":3,\"user\":4,\"typing\":true}";
  const std::string f2 = "{\"notice\":\"presence\",\"user\":9,\"state\":\"online\"}";
  b().publish_notice(3, {4, 5, 6}, std::make_shared<const std::string>(f1));
  b().publish_notice(0, {1, 2}, std::make_shared<const std::string>(f2));
  std::unique_lock lk(mu);
  cv.wait_for(lk, test::kWaitLimit, [&] { return got.size() >= 2; });
  ASSERT_EQ(got.size(), 2u);
  // Different subjects may arrive in either order.
  if (got[0].second != f1) std::swap(got[0], got[1]);
  EXPECT_EQ(got[0].first, (std::vector<user_id>{4, 5, 6}));
  EXPECT_EQ(got[0].second, f1);
  EXPECT_EQ(got[1].first, (std::vector<user_id>{1, 2}));
  EXPECT_EQ(got[1].second, f2);
}

INSTANTIATE_TEST_SUITE_P(Buses, BusConformance, ::testing::Values(local_backend(), nats_backend()),
                         [](const ::testing::TestParamInfo<bus_backend>& i) {
                           return i.param.name;
                         });

}  // namespace
}  // namespace parley
