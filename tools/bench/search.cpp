// parley-bench search (W8): full-text search latency over a large message store.
//
// Fills C groups (each with M members drawn from U users) with N messages in all, texts of
// W words drawn from a Zipf-distributed vocabulary of V synthetic words, through the
// server (WebSocket sends, acknowledged after commit). Then U users run Q searches with K
// in flight: one word, frequent (vocabulary ranks 10-100), medium (100-2,000) or rare
// (2,000 and beyond), or two words, a third of the time restricted to one of the
// searcher's conversations. Every result is checked: in a conversation the searcher is a
// member of, and with a highlighted match. Reports p50/p99 per query class and overall.
// Parley only.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

const char* kUsage = R"(usage: parley-bench search --url HOST:PORT [options]

W8: full-text search latency over N stored messages.

  --url HOST:PORT         Parley server address                                   [required]
  --messages N            messages stored in all                                  [1000000]
  --convs C               conversations                                           [200]
  --users U               users (searchers)                                       [50]
  --members M             members per conversation                                [5]
  --words W               words per message                                       [8]
  --vocab V               vocabulary size (Zipf, s = 1)                           [20000]
  --queries Q             searches                                                [2000]
  --inflight K            searches in flight (one connection per user each)       [8]
  --server-pid PID        also report the server's CPU use while searching
  --json                  one JSON line
  --quiet                 no progress lines
)";

struct options : common_options {
  int messages = 1000000, convs = 200, users = 50, members = 5, words = 8, vocab = 20000;
  int queries = 2000, inflight = 8;
};

options parse(int argc, char** argv) {
  options o;
  arg_reader ar(argc, argv, kUsage);
  while (ar.next()) {
    if (ar.common(o)) continue;
    const auto& a = ar.arg();
    if (a == "--messages")
      o.messages = ar.integer();
    else if (a == "--convs")
      o.convs = ar.integer();
    else if (a == "--users")
      o.users = ar.integer();
    else if (a == "--members")
      o.members = ar.integer();
    else if (a == "--words")
      o.words = ar.integer();
    else if (a == "--vocab")
      o.vocab = ar.integer();
    else if (a == "--queries")
      o.queries = ar.integer();
    else if (a == "--inflight")
      o.inflight = ar.integer();
    else if (a == "--target") {
      if (ar.value() != "parley") ar.error("--target: this workload is Parley only");
    } else
      ar.unknown();
  }
  ar.require_url(o.ep);
  if (o.convs < 1 || o.users < 2 || o.members < 2 || o.members > o.users)
    ar.error("need convs >= 1 and 2 <= members <= users");
  if (o.messages < o.convs) ar.error("--messages is at least --convs");
  if (o.vocab < 3000) ar.error("--vocab is at least 3000 (the rare class starts at rank 2000)");
  if (o.words < 1 || o.queries < 1) ar.error("--words and --queries are at least 1");
  if (o.inflight < 1) ar.error("--inflight is at least 1");
  return o;
}

// Synthetic word of vocabulary rank r: syllables from r's digits, so words differ and look
// like words to the tokenizer.
std::string word(int r) {
  static const char* syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi",
                              "ze", "po", "da", "fe", "gu", "hi", "jo", "bu"};
  std::string w;
  int x = r + 16;
  while (x > 0) {
    w += syl[x % 16];
    x /= 16;
  }
  return w;
}

// Zipf(s = 1) over ranks 0..n-1 by inverse transform on the harmonic CDF.
class zipf {
 public:
  explicit zipf(int n) : cdf_(static_cast<std::size_t>(n)) {
    double sum = 0;
    for (int i = 0; i < n; ++i) cdf_[static_cast<std::size_t>(i)] = sum += 1.0 / (i + 1);
    for (auto& c : cdf_) c /= sum;
  }
  int operator()(std::mt19937_64& rng) const {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

const char* kClasses[] = {"frequent", "medium", "rare", "two_words"};

struct query {
  int cls;
  std::string text;
  std::int64_t conv = 0;  // 0: all the searcher's conversations
  std::size_t user;
};

}  // namespace

int search_main(int argc, char** argv) {
  auto o = parse(argc, argv);
  io_pool pool(1);
  std::string fatal, tag = random_tag();
  std::vector<bench_user> us;
  std::vector<std::int64_t> convs;
  std::vector<std::set<std::int64_t>> member_of;  // per user: conversation ids
  std::mt19937_64 rng(7);
  zipf z(o.vocab);
  histogram all;
  std::array<histogram, 4> by_class;
  std::int64_t bad = 0, results = 0, empty = 0;
  std::string first_bad;
  double fill_s = 0, search_s = 0;
  std::optional<cpu_sample> c0, c1;
  int rc = 0;
  try {
    std::vector<std::shared_ptr<ws_stream>> ws(4);
    pool.block([&]() -> asio::awaitable<void> {
      us = co_await register_users(o.ep, tag, 0, o.users, 8);
      member_of.resize(us.size());
      for (std::size_t i = 0; i < ws.size(); ++i) {
        ws[i] = std::make_shared<ws_stream>(pool.io(0).get_executor());
        co_await ws_connect_auth(*ws[i], o.ep, 0, us[0].token);
      }
      // Conversations: user 0 (the writer) and M-1 others.
      for (int c = 0; c < o.convs; ++c) {
        std::set<std::size_t> ms{0};
        while (static_cast<int>(ms.size()) < o.members)
          ms.insert(1 + static_cast<std::size_t>(rng() % (us.size() - 1)));
        std::vector<std::string> hs;
        for (auto m : ms)
          if (m != 0) hs.push_back(us[m].handle);
        auto id = co_await create_group(*ws[0], hs, "search " + std::to_string(c));
        convs.push_back(id);
        for (auto m : ms) member_of[m].insert(id);
      }
      if (!o.quiet)
        std::fprintf(stderr, "parley-bench search: storing %d messages in %d conversations\n",
                     o.messages, o.convs);
      auto t0 = now_ns();
      // Four connections, each filling a quarter of the conversations in turn.
      auto tg = std::make_shared<task_group>();
      for (std::size_t k = 0; k < ws.size(); ++k) {
        spawn(pool.io(0), tg, [&, k]() -> asio::awaitable<void> {
          std::mt19937_64 r(100 + k);
          for (std::size_t c = k; c < convs.size(); c += ws.size()) {
            int n = o.messages / o.convs + (static_cast<int>(c) < o.messages % o.convs ? 1 : 0);
            // Named first: GCC 12 mishandles some temporaries inside a co_await expression.
            std::function<std::string(int)> text = [&](int) {
              std::string t;
              for (int w = 0; w < o.words; ++w) {
                if (w) t += ' ';
                t += word(z(r));
              }
              return t;
            };
            std::string prefix = tag + "-c" + std::to_string(c);
            co_await post_messages(*ws[k], convs[c], n, 128, prefix, std::move(text));
          }
        });
      }
      co_await wait_all(tg, static_cast<int>(ws.size()), "storing messages", 3600);
      fill_s = static_cast<double>(now_ns() - t0) / 1e9;
      for (auto& s : ws) s->abort();
    });
    if (!o.quiet)
      std::fprintf(stderr, "parley-bench search: stored in %.1f s (%.0f messages/s); searching\n",
                   fill_s, o.messages / fill_s);
    // The queries, fixed up front.
    std::vector<query> qs;
    auto in = [&](int lo, int hi) {
      return lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo));
    };
    for (int i = 0; i < o.queries; ++i) {
      query q;
      q.cls = static_cast<int>(rng() % 4);
      q.user = 1 + static_cast<std::size_t>(rng() % (us.size() - 1));
      if (q.cls == 0) q.text = word(in(10, 100));
      if (q.cls == 1) q.text = word(in(100, 2000));
      if (q.cls == 2) q.text = word(in(2000, o.vocab));
      if (q.cls == 3) q.text = word(in(10, 500)) + " " + word(in(10, 2000));
      if (rng() % 3 == 0 && !member_of[q.user].empty()) {
        auto it = member_of[q.user].begin();
        std::advance(it, static_cast<long>(rng() % member_of[q.user].size()));
        q.conv = *it;
      }
      qs.push_back(std::move(q));
    }
    // K searchers, each with its own connection per user it searches as (users are split
    // among them), one search at a time per connection.
    std::vector<std::map<std::size_t, std::shared_ptr<ws_stream>>> conns(
        static_cast<std::size_t>(o.inflight));
    pool.block([&]() -> asio::awaitable<void> {
      for (const auto& q : qs) {
        auto& mine = conns[q.user % conns.size()];
        if (!mine.count(q.user)) {
          auto s = std::make_shared<ws_stream>(pool.io(0).get_executor());
          co_await ws_connect_auth(*s, o.ep, 0, us[q.user].token);
          mine[q.user] = s;
        }
      }
      c0 = proc_cpu(o.server_pid);
      auto t0 = now_ns();
      auto tg = std::make_shared<task_group>();
      for (std::size_t k = 0; k < conns.size(); ++k) {
        spawn(pool.io(0), tg, [&, k]() -> asio::awaitable<void> {
          for (std::size_t i = 0; i < qs.size(); ++i) {
            const auto& q = qs[i];
            if (q.user % conns.size() != k) continue;
            auto& s = *conns[k][q.user];
            json::object req{{"op", "search"}, {"query", q.text}, {"limit", 20}};
            if (q.conv) req["conv"] = q.conv;
            std::string id = "q" + std::to_string(i);
            req["id"] = id;
            auto t = now_ns();
            auto r = co_await ws_call(s, req, id);
            auto lat = now_ns() - t;
            all.record(lat);
            by_class[static_cast<std::size_t>(q.cls)].record(lat);
            auto& hits = r["results"].as_array();
            if (hits.empty()) ++empty;
            for (auto& h : hits) {
              ++results;
              auto& ho = h.as_object();
              bool member = member_of[q.user].count(ho["conv"].as_int64()) > 0;
              bool in_conv = !q.conv || ho["conv"].as_int64() == q.conv;
              bool marked = false;
              for (auto& seg : ho["snippet"].as_array())
                marked = marked || seg.as_object().contains("hit");
              if (!member || !in_conv || !marked) {
                ++bad;
                if (first_bad.empty())
                  first_bad = std::string(member ? (in_conv ? "no highlight" : "wrong conversation")
                                                 : "not a member") +
                              ": " + json::serialize(h).substr(0, 200);
              }
            }
          }
        });
      }
      co_await wait_all(tg, static_cast<int>(conns.size()), "searching", 3600);
      search_s = static_cast<double>(now_ns() - t0) / 1e9;
      c1 = proc_cpu(o.server_pid);
      for (auto& m : conns)
        for (auto& [u, s] : m) s->abort();
    });
  } catch (const std::exception& e) {
    fatal = e.what();
  }
  if (!fatal.empty()) {
    std::fprintf(stderr, "parley-bench search: failed: %s\n", fatal.c_str());
    return 2;
  }
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  bool ok = bad == 0;
  if (!ok) rc = 1;
  json::object j{{"workload", "w8_search"},
                 {"target", "parley"},
                 {"messages", o.messages},
                 {"convs", o.convs},
                 {"users", o.users},
                 {"members", o.members},
                 {"queries", o.queries},
                 {"inflight", o.inflight},
                 {"fill_s", fill_s},
                 {"fill_messages_per_s", o.messages / fill_s},
                 {"searches_per_s", o.queries / search_s},
                 {"search_p50_ms", ms(all.quantile(0.5))},
                 {"search_p99_ms", ms(all.quantile(0.99))},
                 {"search_max_ms", ms(all.max())},
                 {"results", results},
                 {"empty_results", empty},
                 {"bad_results", bad},
                 {"ok", ok}};
  for (std::size_t k = 0; k < 4; ++k) {
    j[std::string(kClasses[k]) + "_p50_ms"] = ms(by_class[k].quantile(0.5));
    j[std::string(kClasses[k]) + "_p99_ms"] = ms(by_class[k].quantile(0.99));
  }
  if (c0 && c1) j["server_cpu_pct"] = 100.0 * (c1->total() - c0->total()) / search_s;
  std::printf(
      "parley-bench search: %d messages stored in %.1f s (%.0f/s); %d searches in %.2f s "
      "= %.0f/s; p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
      o.messages, fill_s, o.messages / fill_s, o.queries, search_s, o.queries / search_s,
      ms(all.quantile(0.5)), ms(all.quantile(0.99)), ms(all.max()));
  for (std::size_t k = 0; k < 4; ++k)
    std::printf("  %-10s p50 %7.2f ms  p99 %7.2f ms  (n=%" PRIu64 ")\n", kClasses[k],
                ms(by_class[k].quantile(0.5)), ms(by_class[k].quantile(0.99)), by_class[k].count());
  std::printf("checks: %" PRId64 " results, %" PRId64 " empty result lists, %" PRId64
              " bad results%s%s => %s\n",
              results, empty, bad, first_bad.empty() ? "" : ", first: ", first_bad.c_str(),
              ok ? "OK" : "FAILED");
  std::printf("result: %s\n", ok ? "OK" : "FAILED");
  if (o.json_line) std::printf("%s\n", json::serialize(j).c_str());
  return rc;
}

}  // namespace bench
