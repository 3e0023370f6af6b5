// The Prometheus text rendering of parley::metrics.
#include "server/metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <thread>
#include <vector>

namespace parley {
namespace {

// Sample lines ("name{labels} value") by their name-with-labels.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

TEST(Metrics, RendersEveryCounterWithHelpAndType) {
  metrics m;
  m.connections = 2;
  m.connections_total = 5;
  m.http_requests_total = 7;
  m.frames_in_total = 11;
  m.sends_total = 3;
  m.sends_duplicate_total = 1;
  m.events_committed_total = 13;
  m.deliveries_total = 17;
  m.replayed_total = 19;
  m.slow_consumer_closes_total = 23;
  auto text = m.render();
  auto s = samples(text);
  EXPECT_EQ(s["parley_connections"], "2");
  EXPECT_EQ(s["parley_connections_total"], "5");
  EXPECT_EQ(s["parley_http_requests_total"], "7");
  EXPECT_EQ(s["parley_frames_in_total"], "11");
  EXPECT_EQ(s["parley_sends_total"], "3");
  EXPECT_EQ(s["parley_sends_duplicate_total"], "1");
  EXPECT_EQ(s["parley_events_committed_total"], "13");
  EXPECT_EQ(s["parley_deliveries_total"], "17");
  EXPECT_EQ(s["parley_replayed_total"], "19");
  EXPECT_EQ(s["parley_slow_consumer_closes_total"], "23");
  EXPECT_EQ(s["parley_commit_writes_total"], "0");
  EXPECT_NE(text.find("# TYPE parley_connections gauge\n"), std::string::npos);
  for (const char* name : {"parley_connections_total", "parley_sends_total", "parley_errors_total",
                           "parley_commit_writes_total"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " counter\n"), std::string::npos) << name;
  }
  EXPECT_NE(text.find("# TYPE parley_commit_seconds histogram\n"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, ErrorsAreCountedByCode) {
  metrics m;
  m.count_error(errc::not_found);
  m.count_error(errc::not_found);
  m.count_error(errc::rate_limited);
  auto s = samples(m.render());
  EXPECT_EQ(s["parley_errors_total{code=\"not_found\"}"], "2");
  EXPECT_EQ(s["parley_errors_total{code=\"rate_limited\"}"], "1");
  for (errc c : {errc::unauthenticated, errc::forbidden, errc::invalid, errc::too_large,
                 errc::conflict, errc::internal})
    EXPECT_EQ(s["parley_errors_total{code=\"" + std::string(errc_name(c)) + "\"}"], "0")
        << errc_name(c);
  EXPECT_EQ(s.count("parley_errors_total{code=\"ok\"}"), 0u);
}

TEST(Metrics, CommitHistogramIsCumulative) {
  metrics m;
  m.observe_commit(1, 0.00005);  // first bucket
  m.observe_commit(2, 0.0001);   // exactly on a bound: counted in it (le)
  m.observe_commit(3, 0.003);    // le 0.005
  m.observe_commit(4, 0.3);      // le 1
  m.observe_commit(5, 2.0);      // only +Inf
  EXPECT_EQ(m.commits_total.load(), 5u);
  auto s = samples(m.render());
  auto bucket = [&](const std::string& le) {
    auto it = s.find("parley_commit_seconds_bucket{le=\"" + le + "\"}");
    return it == s.end() ? std::string("missing") : it->second;
  };
  EXPECT_EQ(bucket("0.0001"), "2");
  EXPECT_EQ(bucket("0.00025"), "2");
  EXPECT_EQ(bucket("0.0025"), "2");
  EXPECT_EQ(bucket("0.005"), "3");
  EXPECT_EQ(bucket("0.25"), "3");
  EXPECT_EQ(bucket("1"), "4");
  EXPECT_EQ(bucket("+Inf"), "5");
  EXPECT_EQ(s["parley_commit_seconds_count"], "5");
  EXPECT_EQ(std::stoull(bucket("+Inf")), m.commits_total.load());
  EXPECT_NEAR(std::stod(s["parley_commit_seconds_sum"]), 2.30315, 1e-4);
  EXPECT_EQ(s["parley_commit_writes_total"], "15");

  // Every bucket is present and none decreases.
  std::uint64_t prev = 0;
  std::size_t n = 0;
  std::istringstream in(m.render());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("parley_commit_seconds_bucket{", 0) != 0) continue;
    auto v = std::stoull(line.substr(line.rfind(' ') + 1));
    EXPECT_GE(v, prev) << line;
    prev = v;
    ++n;
  }
  EXPECT_EQ(n, metrics::kBuckets.size() + 1);
}

TEST(Metrics, ConcurrentObservationsAreAllCounted) {
  metrics m;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&m, t] {
      for (int i = 0; i < 1000; ++i) {
        m.observe_commit(1, 0.0001 * (i % 50) + 0.00001 * t);
        m.count_error(errc::invalid);
      }
    });
  for (auto& t : ts) t.join();
  auto s = samples(m.render());
  EXPECT_EQ(s["parley_commit_seconds_bucket{le=\"+Inf\"}"], "4000");
  EXPECT_EQ(s["parley_commit_seconds_count"], "4000");
  EXPECT_EQ(s["parley_commit_writes_total"], "4000");
  EXPECT_EQ(s["parley_errors_total{code=\"invalid\"}"], "4000");
  EXPECT_EQ(m.commits_total.load(), 4000u);
}

}  // namespace
}  // namespace parley
