// Rate limits shared by the nodes of a cluster (server/cluster_rates over the NATS bus):
// what one node's limiter lets through is taken from the others' buckets too.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "bus/nats_bus.hpp"
#include "core/rate_limiter.hpp"
#include "nats_test_server.hpp"
#include "server/cluster_rates.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;

rate_limiter::rules login_rules() {
  rate_limiter::rules r{};
  r[static_cast<std::size_t>(rate_class::login_account)] = {1.0 / 60, 3};  // 1/min, burst 3
  return r;
}

TEST(RateLimiterDebit, TakesWithoutRefusingDownToMinusTheBurst) {
  rate_limiter l(login_rules());
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> seen;
  l.set_observer([&](rate_class c, std::string_view k) {
    EXPECT_EQ(c, rate_class::login_account);
    seen.emplace_back(k);
  });
  l.debit(rate_class::login_account, "eve", 10, t0);  // floors at -3
  EXPECT_GT(l.take(rate_class::login_account, "eve", t0), 0);
  // 4 tokens to earn back before the next take: 4 minutes at 1/min.
  EXPECT_GT(l.take(rate_class::login_account, "eve", t0 + 239s), 0);
  EXPECT_EQ(l.take(rate_class::login_account, "eve", t0 + 241s), 0);
  EXPECT_EQ(seen, (std::vector<std::string>{"eve"}));  // refusals and debits are not observed
  EXPECT_EQ(l.take(rate_class::login_account, "bob", t0), 0);
}

TEST(ClusterRates, ABurstSpentOnOneNodeIsSpentOnTheOthers) {
  if (!test::nats_test_server::available()) GTEST_SKIP() << test::nats_test_server::kMissing;
  test::nats_test_server server;
  nats_bus a({server.url(), "a", 50ms}), b({server.url(), "b", 50ms});
  boost::asio::io_context io;  // never run: the test flushes by hand
  auto la = std::make_shared<rate_limiter>(login_rules());
  auto lb = std::make_shared<rate_limiter>(login_rules());
  auto ra = std::make_shared<cluster_rates>(io, a, la);
  auto rb = std::make_shared<cluster_rates>(io, b, lb);
  ra->start();
  rb->start();
  ASSERT_TRUE(a.flush(10s));
  ASSERT_TRUE(b.flush(10s));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(la->take(rate_class::login_account, "mallory"), 0);
  EXPECT_GT(la->take(rate_class::login_account, "mallory"), 0);  // a's burst is spent
  ra->flush();
  // b hears of it within the bus's latency and refuses as well.
  auto deadline = std::chrono::steady_clock::now() + test::kWaitLimit;
  std::int64_t wait = 0;
  while ((wait = lb->take(rate_class::login_account, "mallory")) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    lb->refund(rate_class::login_account, "mallory");  // a probe, not an attempt
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GT(wait, 0);
  // Another account is untouched on both.
  EXPECT_EQ(lb->take(rate_class::login_account, "alice"), 0);
  EXPECT_EQ(la->take(rate_class::login_account, "alice"), 0);
  a.close();
  b.close();
}

TEST(ClusterRates, MalformedBatchesAreIgnored) {
  boost::asio::io_context io;
  struct null_bus final : bus {
    void publish(std::vector<committed_event_ptr>) override {}
    void subscribe(handler) override {}
    void publish_notice(conv_id, std::vector<user_id>,
                        std::shared_ptr<const std::string>) override {}
    void subscribe_notices(notice_handler) override {}
    void publish_control(std::string_view, std::string) override {}
    void subscribe_control(std::string, control_handler) override {}
  } nb;
  auto l = std::make_shared<rate_limiter>(login_rules());
  auto r = std::make_shared<cluster_rates>(io, nb, l);
  r->apply("4\tbob\n99\tbob\t5\n-1\tbob\t5\nx\tbob\t5\n4\tbob\t-5\n4\tbob\tzz\n\n\t\t\n");
  EXPECT_EQ(l->take(rate_class::login_account, "bob"), 0);  // nothing above was applied
  r->apply("4\tcarol\t3\n");                                // class 4 is login_account
  EXPECT_GT(l->take(rate_class::login_account, "carol"), 0);
}

}  // namespace
}  // namespace parley
