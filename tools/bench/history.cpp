// parley-bench history (W7): history page reads on a Parley server.
//
// One user fills C groups with M messages each, then reads pages of L events with K
// requests in flight over a few connections:
//   hot:  the newest page of a random conversation (what a client opening a chat asks);
//   cold: a page at a random point deep in a random conversation's history (scrolling back).
// Every page is checked (L events, consecutive seqs ending just before the cursor, or at the
// newest seq). Reports p50/p99 page latency, pages/s and the server's recent-events cache
// hit rate and size over each phase (from /metrics). Parley only.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cinttypes>
#include <cstdio>
#include <random>

#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

const char* kUsage = R"(usage: parley-bench history --url HOST:PORT [options]

W7: pages of history from hot (newest page) and cold (deep) positions.

  --url HOST:PORT         Parley server address                                   [required]
  --convs C               conversations                                           [20]
  --messages M            messages per conversation                               [2000]
  --requests R            pages read per kind                                     [5000]
  --page L                events per page                                         [50]
  --inflight K            requests in flight (over 4 connections)                 [32]
  --kinds LIST            hot,cold or one of them                                 [hot,cold]
  --server-pid PID        also report the server's CPU use per phase
  --json                  one JSON line per kind
  --quiet                 no progress lines
)";

struct options : common_options {
  int convs = 20, messages = 2000, requests = 5000, page = 50, inflight = 32;
  std::vector<std::string> kinds{"hot", "cold"};
};

options parse(int argc, char** argv) {
  options o;
  arg_reader ar(argc, argv, kUsage);
  while (ar.next()) {
    if (ar.common(o)) continue;
    const auto& a = ar.arg();
    if (a == "--convs")
      o.convs = ar.integer();
    else if (a == "--messages")
      o.messages = ar.integer();
    else if (a == "--requests")
      o.requests = ar.integer();
    else if (a == "--page")
      o.page = ar.integer();
    else if (a == "--inflight")
      o.inflight = ar.integer();
    else if (a == "--kinds") {
      o.kinds = ar.list();
      for (const auto& k : o.kinds)
        if (k != "hot" && k != "cold") ar.error("--kinds takes hot and/or cold");
    } else if (a == "--target") {
      if (ar.value() != "parley") ar.error("--target: this workload is Parley only");
    } else
      ar.unknown();
  }
  ar.require_url(o.ep);
  if (o.convs < 1 || o.convs > 10000) ar.error("--convs is 1..10000");
  if (o.page < 1 || o.page > 200) ar.error("--page is 1..200 (the server's page limit)");
  if (o.messages < 4 * o.page) ar.error("--messages is at least 4 pages");
  if (o.requests < 1) ar.error("--requests is at least 1");
  if (o.inflight < 4) o.inflight = 4;
  return o;
}

struct phase {
  histogram lat;
  std::int64_t pages = 0, bad = 0;
  std::string first_bad;
};

}  // namespace

int history_main(int argc, char** argv) {
  auto o = parse(argc, argv);
  io_pool pool(1);
  std::vector<std::int64_t> convs, tops;
  std::vector<std::shared_ptr<ws_stream>> ws(4);
  std::vector<json::object> out;
  std::string fatal, tag = random_tag();
  int rc = 0;
  try {
    std::vector<bench_user> us;
    pool.block([&]() -> asio::awaitable<void> {
      us = co_await register_users(o.ep, tag, 0, 2, 2);
      for (auto& s : ws) {
        s = std::make_shared<ws_stream>(pool.io(0).get_executor());
        co_await ws_connect_auth(*s, o.ep, 0, us[0].token);
      }
      if (!o.quiet)
        std::fprintf(stderr, "parley-bench history: writing %d x %d messages\n", o.convs,
                     o.messages);
      for (int c = 0; c < o.convs; ++c) {
        std::vector<std::string> hs{us[1].handle};
        std::string title = "history " + std::to_string(c);
        auto conv = co_await create_group(*ws[0], hs, title);
        convs.push_back(conv);
        tops.push_back(
            co_await post_messages(*ws[0], conv, o.messages, 64, tag + "-c" + std::to_string(c)));
      }
    });
    std::mt19937_64 rng(42);
    for (const auto& kind : o.kinds) {
      phase ph;
      std::map<std::string, double> m0, m1;
      std::optional<cpu_sample> c0, c1;
      double secs = 0;
      pool.block([&]() -> asio::awaitable<void> {
        m0 = co_await fetch_metrics(o.ep);
        c0 = proc_cpu(o.server_pid);
        auto t0 = now_ns();
        // K requests in flight: each connection pipelines K/4 with integer ids, and its
        // reader matches replies by id.
        int per = o.inflight / 4;
        auto next = std::make_shared<int>(0);
        auto tg = std::make_shared<task_group>();
        for (auto& sp : ws) {
          auto* s = sp.get();
          spawn(pool.io(0), tg, [&, s, per, next]() -> asio::awaitable<void> {
            struct req {
              std::int64_t sent_ns, conv, before, top;
            };
            std::map<int, req> pending;
            int id = 0;
            auto issue = [&] {
              auto k = static_cast<std::size_t>(rng() % convs.size());
              req r{now_ns(), convs[k], 0, tops[k]};
              std::string f = "{\"id\":" + std::to_string(id) +
                              ",\"op\":\"history\",\"conv\":" + std::to_string(r.conv) +
                              ",\"limit\":" + std::to_string(o.page);
              if (kind == "cold") {
                // Deep: at least 4 pages below the newest, anywhere above the first page.
                auto span = static_cast<std::uint64_t>(r.top - 5 * o.page);
                r.before = o.page + 1 +
                           static_cast<std::int64_t>(rng() % std::max<std::uint64_t>(1, span));
                f += ",\"before\":" + std::to_string(r.before);
              }
              f += "}";
              pending[id++] = r;
              ++*next;
              s->send(std::move(f));
            };
            while (static_cast<int>(pending.size()) < per && *next < o.requests) issue();
            while (!pending.empty()) {
              std::string_view m = co_await s->read();
              auto now = now_ns();
              std::size_t i = 0;
              while (i < m.size()) {
                auto j = m.find('\n', i);
                if (j == std::string_view::npos) j = m.size();
                auto f = m.substr(i, j - i);
                i = j + 1;
                if (f.empty()) continue;
                auto v = json::parse(json::string_view(f.data(), f.size())).as_object();
                if (!v.contains("id") || !v["id"].is_int64()) continue;
                auto it = pending.find(static_cast<int>(v["id"].as_int64()));
                if (it == pending.end()) continue;
                auto r = it->second;
                pending.erase(it);
                ph.lat.record(now - r.sent_ns);
                ++ph.pages;
                // Check the page: L consecutive seqs ending at before-1 (or the top).
                std::string why;
                auto* res = v.if_contains("result");
                if (!res) {
                  why = "error reply";
                } else {
                  auto& evs = res->as_object().at("events").as_array();
                  std::int64_t end = r.before > 0 ? r.before - 1 : r.top;
                  if (static_cast<int>(evs.size()) != o.page) why = "page size";
                  for (std::size_t k = 0; why.empty() && k < evs.size(); ++k)
                    if (evs[k].as_object().at("seq").as_int64() !=
                        end - static_cast<std::int64_t>(evs.size()) + 1 +
                            static_cast<std::int64_t>(k))
                      why = "seqs";
                }
                if (!why.empty()) {
                  ++ph.bad;
                  if (ph.first_bad.empty())
                    ph.first_bad = why + ": " + std::string(f.substr(0, 200));
                }
                if (*next < o.requests) issue();
              }
            }
          });
        }
        co_await wait_all(tg, static_cast<int>(ws.size()), "history", 600);
        secs = static_cast<double>(now_ns() - t0) / 1e9;
        c1 = proc_cpu(o.server_pid);
        m1 = co_await fetch_metrics(o.ep);
      });
      auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
      bool ok = ph.bad == 0;
      if (!ok) rc = 1;
      json::object j{{"workload", "w7_history"},
                     {"target", "parley"},
                     {"kind", kind},
                     {"convs", o.convs},
                     {"messages", o.messages},
                     {"page", o.page},
                     {"inflight", o.inflight},
                     {"pages", ph.pages},
                     {"pages_per_s", static_cast<double>(ph.pages) / secs},
                     {"page_p50_ms", ms(ph.lat.quantile(0.5))},
                     {"page_p99_ms", ms(ph.lat.quantile(0.99))},
                     {"page_max_ms", ms(ph.lat.max())},
                     {"bad_pages", ph.bad},
                     {"ok", ok}};
      cache_stats(m0, m1, j);
      if (c0 && c1) j["server_cpu_pct"] = 100.0 * (c1->total() - c0->total()) / secs;
      std::printf("parley-bench history %s: %" PRId64
                  " pages of %d in %.2f s = %.0f pages/s; p50 %.2f ms  p99 %.2f ms  max %.2f ms",
                  kind.c_str(), ph.pages, o.page, secs, static_cast<double>(ph.pages) / secs,
                  ms(ph.lat.quantile(0.5)), ms(ph.lat.quantile(0.99)), ms(ph.lat.max()));
      if (j.contains("cache_hit_rate"))
        std::printf("; cache hit rate %.3f, %.1f MiB", j["cache_hit_rate"].to_number<double>(),
                    j["cache_bytes"].to_number<double>() / 1048576.0);
      std::printf("\nchecks: %" PRId64 " bad pages%s%s => %s\n", ph.bad,
                  ph.first_bad.empty() ? "" : ", first: ", ph.first_bad.c_str(),
                  ok ? "OK" : "FAILED");
      out.push_back(std::move(j));
    }
    pool.block([&]() -> asio::awaitable<void> {
      for (auto& s : ws) s->abort();
      co_return;
    });
  } catch (const std::exception& e) {
    fatal = e.what();
  }
  ws.clear();
  if (!fatal.empty()) {
    std::fprintf(stderr, "parley-bench history: failed: %s\n", fatal.c_str());
    return 2;
  }
  std::printf("result: %s\n", rc == 0 ? "OK" : "FAILED");
  if (o.json_line)
    for (auto& j : out) std::printf("%s\n", json::serialize(j).c_str());
  return rc;
}

}  // namespace bench
